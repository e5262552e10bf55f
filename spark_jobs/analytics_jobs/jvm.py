"""The ingest's Java functions (`spark_jobs/jvm`, built into `analytics-jobs.jar` by
`scripts/build_jar.sh`), registered when that jar is on the classpath.

They are an accelerator, never a requirement: without the jar every JSON line is read by Spark's
own `from_json`, with the same result (tests/spark/test_fast_json.py holds both paths equal).
"""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession
from pyspark.sql import types as T

log = logging.getLogger(__name__)

FAST_JSON_EVENT = "analytics_fast_json_event"
_FAST_JSON_CLASS = "analytics_jobs.FastJsonEvent"
FAST_JSON_FIELDS = ("event_id", "event_type", "user_id", "timestamp", "page", "duration_ms", "device")
FAST_JSON_SCHEMA = T.StructType([T.StructField(name, T.StringType()) for name in FAST_JSON_FIELDS])


def register_fast_json(spark: SparkSession) -> bool:
    """Register `FAST_JSON_EVENT` in the session; False (and a warning) when the jar is not there."""
    if spark.catalog.functionExists(FAST_JSON_EVENT):
        return True
    try:
        spark.udf.registerJavaFunction(FAST_JSON_EVENT, _FAST_JSON_CLASS, FAST_JSON_SCHEMA)
    except Exception as err:  # the class is not on the classpath: AnalysisException, or Py4J's
        log.warning(
            "%s not found (%s): every JSON line is read with from_json, slower, same result; "
            "build spark_jobs/jvm with scripts/build_jar.sh",
            _FAST_JSON_CLASS,
            str(err).splitlines()[0][:200],
        )
        return False
    return True
