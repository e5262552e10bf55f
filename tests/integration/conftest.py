"""Real parts for the integration tests: the project's own PostgreSQL server, an Airflow home with a
migrated SQLite metadata database, and a runner of `airflow dags test` in a subprocess (each run in
a fresh process, configured only through AIRFLOW_CONN_* / AIRFLOW_VAR_* as a deployment would be).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
LOCAL = Path(os.environ.get("ETL_LOCAL_DIR", REPO / ".local"))
sys.path.insert(0, str(REPO / "scripts"))  # monitoring_servers
PG_DATA = LOCAL / "postgres-test"
SPARK_CDS_DIR = LOCAL / "spark-cds"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int

    def url(self, dbname: str) -> str:
        return f"postgresql://etl@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres"):
        return psycopg2.connect(host=self.host, port=self.port, user="etl", dbname=dbname)

    def fresh_database(self, prefix: str) -> str:
        """A new, empty database with a unique name (tests never share a database)."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        admin = self.connect()
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        admin.close()
        return name


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The project's own server for this test session, on a free port (another checkout's server,
    or the demo's, may hold any fixed one), stopped when the session ends."""
    script = str(REPO / "scripts" / "postgres.sh")
    port = int(os.environ.get("ETL_TEST_PG_PORT") or free_port())
    subprocess.run([script, "stop", str(PG_DATA)], check=True)  # a server left by a killed session
    subprocess.run([script, "start", str(PG_DATA), str(port)], check=True)
    yield PostgresServer("127.0.0.1", port)
    subprocess.run([script, "stop", str(PG_DATA)], check=True)


def airflow_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        {
            "PATH": f"{venv_bin}:{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "GX_ANALYTICS_ENABLED": "false",
        }
    )
    if "SPARK_HOME" not in env:
        import pyspark

        env["SPARK_HOME"] = str(Path(pyspark.__file__).parent)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    return env


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    subprocess.run(["airflow", "db", "migrate"], env=airflow_env(home), check=True, capture_output=True)
    return home


@dataclass
class Deployment:
    """One deployment of the platform: its databases, directories and Airflow settings."""

    postgres: PostgresServer
    home: Path
    source_db: str
    analytics_db: str
    data_dir: Path
    drop_dir: Path
    variables: dict[str, str]
    spark_connection: bool = True  # False: no spark_default at all (the platform then runs local[*])
    cassandra_url: str | None = None  # cassandra_default; None: no connection (the load is skipped)
    connections: dict[str, str] = field(default_factory=dict)  # any other: conn id -> URI or JSON

    def env(self) -> dict[str, str]:
        env = airflow_env(self.home)
        env["AIRFLOW_CONN_SOURCE_POSTGRES"] = self.postgres.url(self.source_db)
        env["AIRFLOW_CONN_ANALYTICS_POSTGRES"] = self.postgres.url(self.analytics_db)
        if self.spark_connection:
            env["AIRFLOW_CONN_SPARK_DEFAULT"] = json.dumps({"conn_type": "spark", "host": "local[2]"})
        if self.cassandra_url:
            env["AIRFLOW_CONN_CASSANDRA_DEFAULT"] = self.cassandra_url
        env.update({f"AIRFLOW_CONN_{k.upper()}": v for k, v in self.connections.items()})
        env["AIRFLOW_VAR_ETL_DATA_DIR"] = str(self.data_dir)
        env["AIRFLOW_VAR_ETL_DROP_DIR"] = str(self.drop_dir)
        env.update({f"AIRFLOW_VAR_{k.upper()}": v for k, v in self.variables.items()})
        return env

    def trigger(self, conf: dict) -> subprocess.CompletedProcess:
        """`airflow dags test daily_analytics_etl --conf ...`: a real DAG run, all tasks in-process."""
        return subprocess.run(
            ["airflow", "dags", "test", "daily_analytics_etl", "--conf", json.dumps(conf)],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=900,
        )

    def source(self):
        return self.postgres.connect(self.source_db)

    def analytics(self):
        return self.postgres.connect(self.analytics_db)


@pytest.fixture
def deployment(postgres: PostgresServer, airflow_home: Path, tmp_path: Path) -> Deployment:
    source_db = postgres.fresh_database("source")
    conn = postgres.connect(source_db)
    with conn, conn.cursor() as cur:
        cur.execute((REPO / "sql" / "demo" / "source_schema.sql").read_text())
    conn.close()
    return Deployment(
        postgres=postgres,
        home=airflow_home,
        source_db=source_db,
        analytics_db=postgres.fresh_database("analytics"),
        data_dir=tmp_path / "data",
        drop_dir=tmp_path / "drops",
        variables={
            "etl_drop_poke_seconds": "1",
            "etl_drop_timeout_seconds": "60",
            # One class-data archive for the session's Spark drivers, as a deployment sets one: the
            # first run writes it, the others map it (~5-7 s less each; docs/performance.md).
            "etl_spark_cds_dir": str(SPARK_CDS_DIR),
        },
    )


@pytest.fixture(scope="module")
def prometheus():
    """A Pushgateway and a Prometheus scraping it every second and evaluating the platform's alert
    rules (Debian's binaries, on free ports of 127.0.0.1, stopped by their pids); yields Prometheus's
    query function, with the servers' ports as attributes."""
    import monitoring_servers as ms

    root = LOCAL / "monitoring-test"
    gateway = ms.Server("pushgateway", root, free_port())
    server = ms.Server("prometheus", root, free_port())
    for s in (server, gateway):
        s.stop()  # what a killed session left
    (root / "pushgateway.db").unlink(missing_ok=True)
    shutil.rmtree(root / "prometheus-data", ignore_errors=True)  # each module sees its own series only
    config = ms.prometheus_config(f"127.0.0.1:{gateway.port}", "127.0.0.1:9", None, [], interval="1s")
    ms.write_configs(root, config, ms.alertmanager_config(None, []))
    gateway.start()
    server.start()

    def query(expr: str) -> dict[tuple, float]:
        url = f"http://127.0.0.1:{server.port}/api/v1/query?query={urllib.parse.quote(expr)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            result = json.load(response)["data"]["result"]
        return {tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("instance",))):
                float(r["value"][1]) for r in result}  # fmt: skip

    query.gateway_port, query.port = gateway.port, server.port
    yield query
    server.stop()
    gateway.stop()


@pytest.fixture
def analytics_conn(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh analytics database named by `analytics_postgres` (AIRFLOW_CONN_ANALYTICS_POSTGRES) for
    the test and its child processes: the platform's locks and records live there."""
    url = postgres.url(postgres.fresh_database("analytics"))
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_POSTGRES", url)
    return url
