"""The SparkSession every job uses, so all of them agree on time zone and output layout."""

from __future__ import annotations

from pyspark.sql import SparkSession


def build_session(app_name: str) -> SparkSession:
    """The master and resources come from spark-submit (the `spark_default` connection), not from here.

    Timestamps are interpreted and rendered in UTC whatever the machine's zone, as the contract's
    days are UTC days.
    """
    spark = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
    # Spark's INFO lines would bury the job's own lines in the Airflow task log.
    spark.sparkContext.setLogLevel("WARN")
    return spark
