"""The SparkSession every job uses, so all of them agree on time zone and output layout; and
settings changed for one query only (`session_conf`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

# Every job's session settings; the tests' session uses them too.
SESSION_CONF = {
    # The contract's days are UTC days: timestamps are read and written in UTC whatever the machine's zone.
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # lower() through ICU cost 5% of the ingest's executor time (fifth round's profile), where the
    # JVM's has a fast path for ASCII. The jobs only lower user ids, and a user id is kept only if
    # it is an ASCII uuid, which both lower alike.
    "spark.sql.icu.caseMappings.enabled": "false",
}


def build_session(app_name: str) -> SparkSession:
    """The master and resources come from spark-submit (the `spark_default` connection), not from here."""
    builder = SparkSession.builder.appName(app_name)
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # Spark's INFO lines would bury the job's own lines in the Airflow task log.
    spark.sparkContext.setLogLevel("WARN")
    return spark


@contextmanager
def session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """The session's SQL settings changed for one query, restored after it."""
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
