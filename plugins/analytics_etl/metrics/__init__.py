"""Each run's figures in Prometheus, through a Pushgateway (contract 6, "Metrics"; docs/monitoring.md).

  exposition  Prometheus's text format, rendered by hand (no client library in the pinned environment)
  figures     a run's figures -> metric families: names, units, labels (pure, unit-tested)
  latency     the Cassandra load's write latency histogram, timed by the sink's own session
  push        the `prometheus_pushgateway` connection, the PUT of the date's group, the pruning of old ones
  callbacks   task timings kept as XCom; the DAG-level callback that pushes when the run ends

The alert rules on these metrics, and Prometheus's and Alertmanager's configurations, are in
`monitoring/` at the repository root.
"""

from __future__ import annotations

from analytics_etl.metrics.callbacks import (
    LATENCY_XCOM,
    SPARK_SECONDS_XCOM,
    keep_xcom,
    publish_run_metrics,
    timing_on_failure,
    timing_on_skipped,
    timing_on_success,
    with_timings,
)
from analytics_etl.metrics.latency import LatencyHistogram

__all__ = [
    "LATENCY_XCOM",
    "SPARK_SECONDS_XCOM",
    "LatencyHistogram",
    "keep_xcom",
    "publish_run_metrics",
    "timing_on_failure",
    "timing_on_skipped",
    "timing_on_success",
    "with_timings",
]
