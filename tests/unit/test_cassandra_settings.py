"""Settings of the Cassandra sink: variables, keyspace name, the connection check. No server."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from cassandra import ConsistencyLevel

from analytics_etl.cassandra import settings as cs

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 17)  # a Wednesday
MONDAY = dt.date(2024, 1, 15)
U1 = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
U2 = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


# -- settings ---------------------------------------------------------------------------------------
def test_defaults_when_no_variable_is_set():
    settings = cs.read_settings(lambda key: None)
    assert settings == cs.CassandraSettings(
        replication={"class": "SimpleStrategy", "replication_factor": "1"},
        consistency="LOCAL_QUORUM",
        concurrency=100,
        batch_size=5_000,
        max_retries=5,
    )


def test_settings_from_variable_strings():
    values = {
        cs.VAR_REPLICATION: '{"class": "NetworkTopologyStrategy", "dc1": 3, "dc-2": "2"}',
        cs.VAR_CONSISTENCY: "local_one",
        cs.VAR_CONCURRENCY: " 128 ",
        cs.VAR_BATCH_SIZE: "1000",
        cs.VAR_MAX_RETRIES: "0",
    }
    settings = cs.read_settings(values.get)
    assert settings.replication == {"class": "NetworkTopologyStrategy", "dc1": "3", "dc-2": "2"}
    assert settings.consistency == "LOCAL_ONE"
    assert (settings.concurrency, settings.batch_size, settings.max_retries) == (128, 1000, 0)


def test_empty_string_variable_means_default():
    assert cs.parse_settings(concurrency="", consistency="").concurrency == cs.DEFAULT_CONCURRENCY


def test_every_allowed_consistency_level_is_a_driver_level():
    for name in cs.CONSISTENCY_LEVELS:
        assert name in ConsistencyLevel.name_to_value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "must be a JSON object"),
        ("[1, 2]", "must be a JSON object"),
        ({"class": "LocalStrategy"}, "'class' must be one of"),
        ({"replication_factor": 1}, "'class' must be one of"),
        ({"class": "SimpleStrategy"}, "takes exactly 'replication_factor'"),
        ({"class": "SimpleStrategy", "replication_factor": 1, "dc1": 3}, "takes exactly"),
        ({"class": "SimpleStrategy", "replication_factor": 0}, "between 1 and 100"),
        ({"class": "SimpleStrategy", "replication_factor": "three"}, "whole number"),
        ({"class": "SimpleStrategy", "replication_factor": True}, "whole number"),
        ({"class": "SimpleStrategy", "replication_factor": 1.5}, "whole number"),
        ({"class": "NetworkTopologyStrategy"}, "at least one data centre"),
        ({"class": "NetworkTopologyStrategy", "dc1'}; DROP": 3}, "invalid data centre name"),
        ({"class": "NetworkTopologyStrategy", "dc1": -1}, "between 1 and 100"),
    ],
)
def test_bad_replication_is_refused_naming_the_variable(raw, message):
    with pytest.raises(ValueError, match=message) as err:
        cs.parse_replication(raw)
    assert cs.VAR_REPLICATION in str(err.value)


def test_replication_accepts_the_fully_qualified_class_and_renders_a_cql_map():
    replication = cs.parse_replication(
        {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "eu_west": 3, "us": 2}
    )
    assert cs.render_replication(replication) == (
        "{'class': 'NetworkTopologyStrategy', 'eu_west': '3', 'us': '2'}"
    )


@pytest.mark.parametrize("raw", ["SERIAL", "local_serial", "ANY", "quorumm", ""])
def test_bad_consistency_is_refused(raw):
    with pytest.raises(ValueError, match=cs.VAR_CONSISTENCY):
        cs.parse_consistency(raw)


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({"concurrency": "0"}, cs.VAR_CONCURRENCY),
        ({"concurrency": "-4"}, cs.VAR_CONCURRENCY),
        ({"concurrency": "many"}, cs.VAR_CONCURRENCY),
        ({"concurrency": 10_000}, cs.VAR_CONCURRENCY),
        ({"concurrency": True}, cs.VAR_CONCURRENCY),
        ({"batch_size": "0"}, cs.VAR_BATCH_SIZE),
        ({"batch_size": 1_000_000}, cs.VAR_BATCH_SIZE),
        ({"max_retries": "-1"}, cs.VAR_MAX_RETRIES),
        ({"max_retries": 1000}, cs.VAR_MAX_RETRIES),
    ],
)
def test_bad_numbers_are_refused_naming_the_variable(kwargs, variable):
    with pytest.raises(ValueError, match=variable):
        cs.parse_settings(**kwargs)


@pytest.mark.parametrize(
    ("schema", "keyspace"),
    [
        (None, "analytics"),
        ("", "analytics"),
        ("  ", "analytics"),
        ("it_analytics_1", "it_analytics_1"),
        ("Analytics", "analytics"),
    ],
)
def test_keyspace_name(schema, keyspace):
    assert cs.keyspace_name(schema) == keyspace


@pytest.mark.parametrize("schema", ["1abc", "bad-name", "ks; DROP KEYSPACE x", '"quoted"', "a" * 49])
def test_bad_keyspace_name_is_refused(schema):
    with pytest.raises(ValueError, match="invalid keyspace"):
        cs.keyspace_name(schema)


def test_cassandra_configured_follows_the_airflow_connection(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CASSANDRA_UNIT_PROBE", raising=False)
    assert cs.cassandra_configured("cassandra_unit_probe") is False
    monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_UNIT_PROBE", "cassandra://db.example:9042/analytics")
    assert cs.cassandra_configured("cassandra_unit_probe") is True


def test_request_timeout_is_a_variable_in_seconds():
    assert cs.read_settings(lambda key: None).request_timeout == cs.DEFAULT_REQUEST_TIMEOUT
    assert cs.read_settings({cs.VAR_REQUEST_TIMEOUT: "120"}.get).request_timeout == 120
    for bad in ("0", "601", "soon"):
        with pytest.raises(ValueError, match=cs.VAR_REQUEST_TIMEOUT):
            cs.parse_settings(request_timeout=bad)
