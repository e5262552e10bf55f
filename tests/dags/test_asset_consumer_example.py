"""The consumer DAG of docs/assets.md imports, and is scheduled per day (partition) on the very Asset
load_postgres updates."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_the_example_consumer_is_scheduled_on_what_load_postgres_emits():
    from airflow.dag_processing.dagbag import DagBag

    from analytics_etl.assets import DAILY_USER_STATS

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    consumer = bag.dags["daily_user_stats_consumer"]
    # Airflow matches an event to a schedule by the Asset's name and URI; one run per partition key.
    condition = consumer.timetable.asset_condition
    assert (condition.name, condition.uri) == (DAILY_USER_STATS.name, DAILY_USER_STATS.uri)
    assert type(consumer.timetable).__name__ == "PartitionedAssetTimetable"
    producer = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags")).dags[
        "daily_analytics_etl"
    ]
    assert DAILY_USER_STATS in producer.get_task("load_postgres").outlets
