"""The Cassandra sink's writer without a server: retries, refusals, the driver's configuration.

`execute_concurrent_with_args` is replaced by a function returning scripted outcomes, and the session
by a stub that only prepares statement names; nothing here claims to test Cassandra
(tests/integration/test_cassandra_sink.py does, against a real server).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk import Connection
from cassandra import (
    ConsistencyLevel,
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    WriteTimeout,
)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, NoHostAvailable
from cassandra.connection import ConnectionShutdown
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    RetryPolicy,
    TokenAwarePolicy,
    WhiteListRoundRobinPolicy,
)
from cassandra.protocol import OverloadedErrorMessage
from cassandra.query import SimpleStatement, tuple_factory

from analytics_etl.cassandra import settings as cs
from analytics_etl.cassandra import tables, writer
from analytics_etl.cassandra.errors import SinkRefusedRow, SinkUnavailable

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 17)


def _timeout() -> WriteTimeout:
    return WriteTimeout("timed out", consistency=ConsistencyLevel.LOCAL_QUORUM, write_type=0)


class StubSession:
    """Prepares statement names into plain objects; `execute` replays scripted results. Not a Cassandra."""

    def __init__(self, reads: list | None = None) -> None:
        self.reads = list(reads or [])
        self.cluster = SimpleNamespace(
            metadata=SimpleNamespace(
                all_hosts=lambda: [SimpleNamespace(endpoint="10.0.0.7:9042", is_up=False)]
            ),
            contact_points=["10.0.0.7"],
            port=9042,
        )

    def prepare(self, cql: str) -> SimpleNamespace:
        return SimpleNamespace(cql=cql, bind=lambda params: SimpleNamespace(params=params, fetch_size=None))

    def execute(self, bound):
        outcome = self.reads.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class ScriptedRounds:
    """Stands in for execute_concurrent_with_args: fails each parameter as often as scripted."""

    def __init__(self, failures: dict) -> None:
        self.failures = failures  # params[0] -> list of errors still to come
        self.rounds: list[list] = []
        self.consumed = 0

    def __call__(self, session, stmt, params, *, concurrency, raise_on_first_error, results_generator):
        assert raise_on_first_error is False and results_generator is False
        self.rounds.append(list(params))

        outcomes = []
        for p in params:
            self.consumed += 1
            errors = self.failures.get(p[0], [])
            outcomes.append((False, errors.pop(0)) if errors else (True, None))
        return outcomes


@pytest.fixture
def scripted(monkeypatch):
    def install(failures: dict) -> ScriptedRounds:
        rounds = ScriptedRounds(failures)
        monkeypatch.setattr(writer, "execute_concurrent_with_args", rounds)
        return rounds

    return install


def _writer(session=None, **settings) -> tuple[writer.Writer, list[float]]:
    sleeps: list[float] = []
    w = writer.Writer(session or StubSession(), cs.parse_settings(**settings), "ks", sleep=sleeps.append)
    return w, sleeps


# -- writes -------------------------------------------------------------------------------------------
def test_only_the_failed_statements_run_again_after_a_growing_backoff(scripted):
    rounds = scripted({"b": [_timeout(), Unavailable("down")], "c": [OperationTimedOut()]})
    w, sleeps = _writer(max_retries=3)
    w.write("page_view_stats_insert", [("a",), ("b",), ("c",)], label="page_view_stats")
    assert rounds.rounds == [[("a",), ("b",), ("c",)], [("b",), ("c",)], [("b",)]]
    assert sleeps == [writer.backoff_seconds(0), writer.backoff_seconds(1)]
    assert sleeps[1] > sleeps[0]
    assert w.progress == {"page_view_stats": 3}


def test_prepared_statements_are_idempotent_and_prepared_once(scripted):
    scripted({})
    w, _ = _writer()
    w.write("page_view_stats_insert", [("a",)])
    w.write("page_view_stats_insert", [("b",)])
    stmt = w.prepared("page_view_stats_insert")
    assert stmt is w.prepared("page_view_stats_insert")
    assert stmt.is_idempotent is True
    assert stmt.cql.startswith("INSERT INTO ks.page_view_stats")


def test_transient_errors_end_in_sink_unavailable_naming_hosts_and_progress(scripted):
    down = NoHostAvailable("Unable to complete the operation", {"10.0.0.1:9042": ConnectionShutdown("gone")})
    scripted({"b": [down] * 10})
    w, sleeps = _writer(max_retries=2)
    w.progress["page_view_stats"] = 40
    with pytest.raises(SinkUnavailable) as err:
        w.write("user_engagement_insert", [("a",), ("b",)], label="user_engagement")
    assert len(sleeps) == 2
    assert err.value.hosts == ["10.0.0.1:9042"]
    assert err.value.written == {"page_view_stats": 40, "user_engagement": 1}
    message = str(err.value)
    assert "10.0.0.1:9042" in message and "after 2 retries" in message
    assert "page_view_stats=40, user_engagement=1" in message and "NoHostAvailable" in message
    assert isinstance(err.value, RuntimeError)


def test_without_a_host_in_the_error_the_clusters_hosts_are_named(scripted):
    scripted({"a": [_timeout()] * 5})
    w, _ = _writer(max_retries=1)
    with pytest.raises(SinkUnavailable, match=r"10\.0\.0\.7:9042 \(down\)"):
        w.write("page_view_stats_insert", [("a",)])


def test_a_refused_row_is_not_retried_and_names_the_table_and_key(monkeypatch):
    page = "/p" + "x" * 70_003
    refusal = InvalidRequest(
        'Error from server: code=2200 [Invalid query] message="Key length of 70005 is longer than '
        'maximum of 65535"'
    )
    rounds: list[list] = []

    def refuse_the_long_page(session, stmt, params, **kwargs):
        rounds.append(list(params))
        return iter([(False, refusal) if p[2] == page else (True, None) for p in params])

    monkeypatch.setattr(writer, "execute_concurrent_with_args", refuse_the_long_page)
    sink = next(s for s in tables.SINKS if s.table == "page_view_stats")
    w, sleeps = _writer()
    with pytest.raises(SinkRefusedRow) as err:
        w.write(sink.insert, [(D, 1, "/ok", 1), (D, 2, page, 1), (D, 3, "/ok", 1)], refused=sink.refused)
    assert sleeps == [] and len(rounds) == 1
    message = str(err.value)
    assert message.startswith(
        "Cassandra refuses the row of page_view_stats with key (date=2024-01-17, hour=2, "
    )
    assert "page='/pxxxxxxx" in message and "... (70005 bytes)" in message
    assert message.endswith("Key length of 70005 is longer than maximum of 65535")
    assert len(message) < 300
    assert err.value.table == "page_view_stats" and err.value.key["hour"] == 2
    assert isinstance(err.value, ValueError)


def test_other_errors_are_raised_at_once_after_the_round_drains(scripted):
    rounds = scripted({"b": [Unauthorized("no")], "c": [_timeout()]})
    w, sleeps = _writer()
    with pytest.raises(Unauthorized):
        w.write("page_view_stats_insert", [("a",), ("b",), ("c",), ("d",)])
    assert sleeps == [] and rounds.consumed == 4


def test_invalid_request_without_a_row_to_blame_is_raised_as_it_is(scripted):
    scripted({"a": [InvalidRequest("unconfigured table")]})
    w, _ = _writer()
    with pytest.raises(InvalidRequest):
        w.write("page_view_stats_delete", [("a",)])


def test_nothing_to_write_sends_nothing(scripted):
    rounds = scripted({})
    w, _ = _writer()
    w.write("page_view_stats_insert", [], label="page_view_stats")
    assert rounds.rounds == [] and w.progress == {"page_view_stats": 0}


def test_backoff_is_capped():
    assert writer.backoff_seconds(0) == writer.BACKOFF_BASE_SECONDS
    assert writer.backoff_seconds(50) == writer.BACKOFF_CAP_SECONDS


@pytest.mark.parametrize(
    "error",
    [
        _timeout(),
        ReadTimeout("slow"),
        Unavailable("down"),
        OperationTimedOut(),
        NoHostAvailable("none", {}),
        ConnectionShutdown("gone"),
        OverloadedErrorMessage(code=0x1001, message="busy", info=None),
    ],
)
def test_transient_errors(error):
    assert isinstance(error, writer.TRANSIENT_ERRORS)


def test_a_refusal_is_not_transient():
    assert not isinstance(InvalidRequest("bad"), writer.TRANSIENT_ERRORS)
    assert not isinstance(Unauthorized("no"), writer.TRANSIENT_ERRORS)


# -- reads --------------------------------------------------------------------------------------------
def test_a_read_restarts_after_a_transient_error_then_gives_up():
    w, sleeps = _writer(StubSession([ReadTimeout("slow"), [(1, "/a"), (2, "/b")]]), max_retries=1)
    assert w.read("page_view_stats_select_keys", (D,), list, fetch_size=10) == [(1, "/a"), (2, "/b")]
    assert sleeps == [writer.backoff_seconds(0)]

    w, _ = _writer(StubSession([OperationTimedOut(last_host="10.0.0.2:9042")] * 3), max_retries=2)
    with pytest.raises(SinkUnavailable, match=r"10\.0\.0\.2:9042 is unavailable after 2 retries"):
        w.read("page_view_stats_select_keys", (D,), list, fetch_size=10)


# -- the driver's own machinery -----------------------------------------------------------------------
def test_retry_policy_is_bounded_and_retries_idempotent_writes_only():
    policy = writer.IdempotentRetryPolicy(max_retries=2)
    idempotent = SimpleStatement("x", is_idempotent=True)
    other = SimpleStatement("x")
    cl = ConsistencyLevel.LOCAL_QUORUM
    assert policy.on_write_timeout(idempotent, cl, "SIMPLE", 2, 1, retry_num=0) == (RetryPolicy.RETRY, cl)
    assert policy.on_write_timeout(idempotent, cl, "SIMPLE", 2, 1, retry_num=2) == (RetryPolicy.RETHROW, None)
    assert policy.on_write_timeout(other, cl, "SIMPLE", 2, 1, retry_num=0) == (RetryPolicy.RETHROW, None)
    assert policy.on_read_timeout(idempotent, cl, 2, 1, False, retry_num=1) == (RetryPolicy.RETRY, cl)
    assert policy.on_unavailable(idempotent, cl, 2, 1, retry_num=0)[0] == RetryPolicy.RETRY_NEXT_HOST
    assert policy.on_unavailable(idempotent, cl, 2, 1, retry_num=2)[0] == RetryPolicy.RETHROW
    assert policy.on_request_error(idempotent, cl, OSError(), retry_num=1)[0] == RetryPolicy.RETRY_NEXT_HOST
    assert policy.on_request_error(idempotent, cl, OSError(), retry_num=2)[0] == RetryPolicy.RETHROW


def test_cluster_from_the_airflow_connection_uses_an_execution_profile():
    conn = Connection(
        conn_id="cassandra_default",
        conn_type="cassandra",
        host="127.0.0.10, 127.0.0.11",
        port=9043,
        login="etl",
        password="secret",
        schema="analytics",
        extra='{"protocol_version": 4}',
    )
    settings = cs.parse_settings(consistency="local_one", request_timeout="45")
    cluster = writer.cluster_for(conn, settings)
    try:
        assert cluster.contact_points == ["127.0.0.10", "127.0.0.11"] and cluster.port == 9043
        assert cluster.protocol_version == 4
        assert isinstance(cluster.auth_provider, PlainTextAuthProvider)
        assert isinstance(cluster.reconnection_policy, ExponentialReconnectionPolicy)
        profile = cluster.profile_manager.profiles[EXEC_PROFILE_DEFAULT]
        assert profile.consistency_level == ConsistencyLevel.LOCAL_ONE
        assert profile.request_timeout == 45.0
        assert isinstance(profile.retry_policy, writer.IdempotentRetryPolicy)
        assert profile.row_factory is tuple_factory
        assert isinstance(profile.load_balancing_policy, TokenAwarePolicy)
        assert isinstance(profile.load_balancing_policy._child_policy, DCAwareRoundRobinPolicy)
    finally:
        cluster.shutdown()


def test_a_host_name_that_does_not_resolve_is_named():
    conn = Connection(conn_id="c", conn_type="cassandra", host="cassandra.invalid", port=9042)
    with pytest.raises(SinkUnavailable, match=r"cassandra\.invalid.*none of the hosts resolves"):
        writer.cluster_for(conn, cs.parse_settings())


def test_a_load_balancing_policy_named_in_the_extras_is_the_providers():
    extras = {
        "load_balancing_policy": "WhiteListRoundRobinPolicy",
        "load_balancing_policy_args": {"hosts": ["127.0.0.1"]},
    }
    assert isinstance(writer.load_balancing_policy(extras), WhiteListRoundRobinPolicy)


def test_hosts_named_by_driver_errors():
    assert writer.error_hosts(
        NoHostAvailable("x", {"10.0.0.1:9042": OSError(), "10.0.0.2:9042": OSError()})
    ) == [
        "10.0.0.1:9042",
        "10.0.0.2:9042",
    ]
    assert writer.error_hosts(OperationTimedOut(last_host="10.0.0.3:9042")) == ["10.0.0.3:9042"]
    assert writer.error_hosts(_timeout()) == []


def test_connecting_is_retried_with_a_new_cluster_each_time(monkeypatch):
    built: list[SimpleNamespace] = []

    def failing_cluster(conn, settings):
        def connect():
            raise NoHostAvailable("Unable to connect to any servers", {"10.0.0.9:9042": OSError("refused")})

        cluster = SimpleNamespace(connect=connect, shutdown=lambda: None, contact_points=["10.0.0.9"])
        built.append(cluster)
        return cluster

    monkeypatch.setattr(writer, "cluster_for", failing_cluster)
    sleeps: list[float] = []
    with pytest.raises(SinkUnavailable, match=r"10\.0\.0\.9:9042 is unavailable after 2 retries") as err:
        writer.open_session(None, cs.parse_settings(max_retries=2), sleep=sleeps.append)
    assert len(built) == 3 and sleeps == [writer.backoff_seconds(0), writer.backoff_seconds(1)]
    assert "rows written so far: nothing" in str(err.value)
