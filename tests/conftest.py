"""Suite-wide rules: every test is marked unit, spark or integration (an unmarked test is an error);
every test marked `cassandra` gets a real Cassandra node (CASSANDRA_HOST when set, otherwise one
started for the session by the project's own scripts/cassandra_node.py)."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

KINDS = ("unit", "spark", "integration")
REPO = Path(__file__).resolve().parents[1]
LOCAL = Path(os.environ.get("ETL_LOCAL_DIR", REPO / ".local"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items if not any(item.get_closest_marker(k) for k in KINDS)]
    if unmarked:
        raise pytest.UsageError(
            f"tests without one of the markers {KINDS} (add pytestmark = pytest.mark.<kind>):\n  "
            + "\n  ".join(unmarked)
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class CassandraServer:
    host: str
    port: int
    node: object | None  # the session's own cassandra_node.Node; None for an external CASSANDRA_HOST

    def url(self, keyspace: str, port: int | None = None) -> str:
        """The cassandra_default connection URL of `keyspace` on this server (or on a proxy's port)."""
        user = os.environ.get("CASSANDRA_USERNAME")
        credentials = f"{user}:{os.environ.get('CASSANDRA_PASSWORD', '')}@" if user else ""
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        return f"cassandra://{credentials}{netloc}:{port or self.port}/{keyspace}"


@dataclass(frozen=True)
class CassandraKeyspace:
    name: str
    url: str  # for AIRFLOW_CONN_CASSANDRA_DEFAULT
    session: object  # a plain driver session, to read what the platform wrote

    def rows(self, table: str, columns: str = "*") -> list[tuple]:
        cql = f"SELECT {columns} FROM {self.name}.{table}"  # noqa: S608 (identifiers of the test's own)
        return sorted(tuple(r) for r in self.session.execute(cql))


def _parse_host(value: str) -> tuple[str, int]:
    value = value.strip()
    if value.startswith("["):  # [ipv6]:port
        host, _, port = value[1:].partition("]")
        return host, int(port.lstrip(":") or 9042)
    host, _, port = value.partition(":")
    return host, int(port or 9042)


@pytest.fixture(scope="session")
def cassandra_server() -> Iterator[CassandraServer]:
    """An external node named by CASSANDRA_HOST (`host` or `host:port`), or a fresh one-node Cassandra
    for this session on free ports, stopped by its pid when the session ends. CASSANDRA_HOST is set
    for the session either way, so every Cassandra test and child process finds it."""
    if os.environ.get("CASSANDRA_HOST"):
        yield CassandraServer(*_parse_host(os.environ["CASSANDRA_HOST"]), node=None)
        return
    from cassandra_node import Node

    node = Node(root=LOCAL / "cassandra-test", cql_port=free_port(), storage_port=free_port(),
                jmx_port=free_port(), heap="1G")  # fmt: skip
    node.stop()  # a node left by a killed session
    shutil.rmtree(node.root / "data", ignore_errors=True)
    node.start()
    os.environ["CASSANDRA_HOST"] = node.host
    try:
        yield CassandraServer("127.0.0.1", node.cql_port, node=node)
    finally:
        os.environ.pop("CASSANDRA_HOST", None)
        node.stop()


@pytest.fixture(autouse=True)
def _cassandra_for_marked_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("cassandra"):
        request.getfixturevalue("cassandra_server")


@pytest.fixture(scope="session")
def cassandra_session(cassandra_server: CassandraServer) -> Iterator[object]:
    """A plain driver session on the server, to check what the platform wrote."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster

    auth = None
    if os.environ.get("CASSANDRA_USERNAME"):
        auth = PlainTextAuthProvider(
            os.environ["CASSANDRA_USERNAME"], os.environ.get("CASSANDRA_PASSWORD", "")
        )
    cluster = Cluster([cassandra_server.host], port=cassandra_server.port, auth_provider=auth)
    session = cluster.connect()
    yield session
    cluster.shutdown()


@pytest.fixture
def cassandra_keyspace(cassandra_server: CassandraServer, cassandra_session) -> Iterator[CassandraKeyspace]:
    """A throwaway keyspace (the platform creates its tables); dropped afterwards."""
    import uuid

    name = f"it_analytics_{uuid.uuid4().hex[:12]}"
    yield CassandraKeyspace(name, cassandra_server.url(name), cassandra_session)
    cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)


@dataclass(frozen=True)
class S3Server:
    """The session's S3-compatible store (S3Proxy, scripts/s3_server.py) and one bucket of it."""

    store: object  # s3_server.Store
    bucket: str

    @property
    def endpoint(self) -> str:
        return self.store.endpoint

    @property
    def secret_key(self) -> str:
        return self.store.credentials().secret_key

    def connection_json(self) -> str:
        """The `aws_default` connection of this store, for AIRFLOW_CONN_AWS_DEFAULT."""
        import json

        return json.dumps(self.store.connection())

    def client(self):
        """A plain boto3 client, to check what the platform wrote without its code."""
        import boto3

        creds = self.store.credentials()
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key)  # fmt: skip

    def keys(self, prefix: str = "") -> list[str]:
        """The objects under `prefix`, without directory markers (empty objects named `folder/`, which
        S3A writes and this server's filesystem backend lists for every folder it holds)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        keys = (obj["Key"] for page in pages for obj in page.get("Contents", []))
        return sorted(key for key in keys if not key.endswith("/"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A fresh S3-compatible store for this session (the project's own, scripts/s3_server.py) on a
    free port of 127.0.0.1, with new credentials and one bucket; stopped by its pid at the end."""
    from s3_server import Store

    store = Store(root=LOCAL / "s3-test", port=free_port(), buckets=("etl-test",))
    store.stop()  # a store left by a killed session
    shutil.rmtree(store.root, ignore_errors=True)  # its data and its credentials
    store.start()
    try:
        yield S3Server(store, "etl-test")
    finally:
        store.stop()


@pytest.fixture
def s3_root(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh `s3://` root in the session's bucket, with `aws_default` naming the store."""
    import uuid

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", s3_server.connection_json())
    return f"s3://{s3_server.bucket}/t-{uuid.uuid4().hex[:12]}"
