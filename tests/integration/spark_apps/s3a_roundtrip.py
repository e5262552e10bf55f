"""A spark-submit application for tests/integration/test_spark_s3a.py: writes Parquet to a path
(an s3a:// URL), reads it back from there and writes what it read to a local JSON file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--error-file")  # added by SparkJobOperator
    args = parser.parse_args()
    spark = SparkSession.builder.getOrCreate()
    frame = spark.range(args.rows).select(F.col("id"), F.concat(F.lit("row-"), F.col("id")).alias("text"))
    frame.repartition(3).write.mode("overwrite").parquet(args.out)
    back = spark.read.parquet(args.out)
    row = back.agg(F.count("*").alias("rows"), F.sum("id").alias("id_sum"),
                   F.countDistinct("text").alias("texts")).first()  # fmt: skip
    Path(args.result).write_text(json.dumps({**row.asDict(), "scheme": back.inputFiles()[0].split(":")[0]}))
    spark.stop()


if __name__ == "__main__":
    main()
