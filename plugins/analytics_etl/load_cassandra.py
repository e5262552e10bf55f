"""The Cassandra sink as the DAG's tasks call it; the code lives in `analytics_etl.cassandra`."""

from __future__ import annotations

from analytics_etl.cassandra.load import load_day
from analytics_etl.cassandra.outputs import count_output_rows
from analytics_etl.cassandra.settings import cassandra_configured

__all__ = ["cassandra_configured", "count_output_rows", "load_day"]
