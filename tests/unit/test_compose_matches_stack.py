"""docker-compose.airflow.yml and scripts/stack.sh describe one deployment: no Docker engine runs here,
so this keeps the compose file from drifting away from the stack that the integration tests run."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from airflow.models.connection import Connection

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from stack_config import AIRFLOW_SERVICES, SPARK_POOL, StackConfig, default_parallelism  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.airflow.yml").read_text())


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> StackConfig:
    root = tmp_path_factory.mktemp("stack")
    # The stack's own Cassandra node, as compose runs its own Cassandra service.
    return StackConfig(root=root, pg_data=root / "pg", pg_port=54329, api_port=8080, spark_port=7077,
                       spark_ui_port=8081, spark_workers=2, worker_cores=1, worker_memory="2g",
                       spark_slots=1, cassandra_host=None)  # fmt: skip


def airflow_env(compose: dict) -> dict[str, str]:
    return compose["x-airflow"]["environment"]


def parse_connection(conn_id: str, value: str) -> Connection:
    if value.lstrip().startswith("{"):
        return Connection.from_json(value, conn_id=conn_id)
    return Connection(conn_id=conn_id, uri=value)


def test_the_same_services(compose, stack):
    services = compose["services"]
    expected = {s.name for s in stack.services("/spark")}
    assert expected <= set(services)
    for name in AIRFLOW_SERVICES:
        assert services[name]["command"][0] == name
    # One database per role in the stack, one server per role in compose.
    assert set(stack.databases()) <= set(services)


def test_the_same_spark_cluster(compose, stack):
    services = compose["services"]
    spark = {s.name: s.argv for s in stack.services("/spark") if s.name.startswith("spark-")}
    for name, argv in spark.items():
        command = services[name]["command"]
        assert command[0] == argv[1]  # the same deploy class
        for flag in ("--cores", "--memory", "--port"):
            if flag in argv:
                assert command[command.index(flag) + 1] == argv[argv.index(flag) + 1], (name, flag)
        if "Worker" in argv[1]:
            assert command[-1] == f"spark://spark-master:{stack.spark_port}"


def test_the_same_connections(compose, stack):
    env = airflow_env(compose)
    declared = {
        k.removeprefix("AIRFLOW_CONN_").lower(): v for k, v in env.items() if k.startswith("AIRFLOW_CONN_")
    }
    assert set(declared) == set(stack.connections())
    for conn_id, wanted in stack.connections().items():
        conn = parse_connection(conn_id, declared[conn_id])
        assert conn.conn_type == wanted["conn_type"], conn_id
        if conn.conn_type not in ("postgres", "cassandra", "aws"):  # compose: default ports; aws: an endpoint
            assert conn.port == wanted["port"], conn_id
        extra = json.loads(wanted.get("extra", "{}"))
        if conn_id == "aws_default":  # the store's address is its service's; its keys are compose's own
            ours, theirs = urlsplit(extra.pop("endpoint_url")), urlsplit(conn.extra_dejson["endpoint_url"])
            assert (theirs.scheme, theirs.hostname, theirs.port) == (ours.scheme, "s3", stack.s3_port)
            assert conn.login and conn.password
            extra["endpoint_url"] = conn.extra_dejson["endpoint_url"]
        assert conn.extra_dejson == extra, conn_id
        if "schema" in wanted and conn_id != "source_postgres":  # compose's source database is `app`
            assert conn.schema == wanted["schema"], conn_id
    spark = parse_connection("spark_default", declared["spark_default"])
    assert spark.host.startswith("spark://")


def test_the_same_variables_and_settings(compose, stack):
    env = airflow_env(compose)
    declared = {
        k.removeprefix("AIRFLOW_VAR_").lower(): v for k, v in env.items() if k.startswith("AIRFLOW_VAR_")
    }
    assert set(declared) == set(stack.variables())
    assert declared["etl_max_reject_ratio"] == stack.variables()["etl_max_reject_ratio"]
    # Both roots local by default, each movable into the store as ETL_STACK_ROOTS=store moves the stack's.
    assert declared["etl_drop_dir"].startswith("${ETL_DROP_DIR:-/") and declared["etl_data_dir"].startswith(
        "${ETL_DATA_DIR:-/"
    )
    ours = stack.airflow_env()
    for key in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CORE__LOAD_EXAMPLES"):  # fmt: skip
        assert env[key] == ours[key], key
    for key in ("AIRFLOW__API__BASE_URL", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):  # fmt: skip
        assert env[key] and ours[key], key
    assert ours["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")  # never SQLite


def pinned_version(server: str, artifact: str) -> str:
    """The version of `artifact` that scripts/<server>/pom.xml pins (what the scripts resolve)."""
    import xml.etree.ElementTree as ET

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = ET.parse(REPO / "scripts" / server / "pom.xml").getroot()
    [dep] = [
        d
        for d in pom.iterfind(".//m:dependency", ns)
        if d.findtext("m:artifactId", namespaces=ns) == artifact
    ]
    return dep.findtext("m:version", namespaces=ns)


def test_the_same_cassandra_release_and_heap(compose, stack):
    """Compose's image is the release scripts/cassandra.sh resolves from Maven, with the node's heap."""
    service = compose["services"]["cassandra"]
    assert service["image"] == f"cassandra:{pinned_version('cassandra_server', 'cassandra-all')}"
    assert service["environment"]["MAX_HEAP_SIZE"] == stack.cassandra_node().heap
    assert stack.connections()["cassandra_default"]["port"] == stack.cassandra_port


def test_the_same_spark_pool(compose, stack):
    init = " ".join(compose["services"]["airflow-init"]["command"])
    [(pool, slots)] = stack.pools().items()
    assert pool == SPARK_POOL
    assert f"pools set {pool} {slots} " in init


def test_the_pool_is_the_one_the_dag_uses():
    sys.path.insert(0, str(REPO / "plugins"))
    from analytics_etl.spark import SPARK_POOL as dag_pool

    assert dag_pool == SPARK_POOL


def test_airflow_is_sized_to_the_machine_not_to_its_default_of_32(compose, stack, monkeypatch, tmp_path):
    """LocalExecutor forks `parallelism` workers: on two cores, 4, not 32; ETL_STACK_PARALLELISM sets it."""
    assert [default_parallelism(n) for n in (1, 2, 4, 16)] == [4, 4, 8, 32]
    assert stack.airflow_env()["AIRFLOW__CORE__PARALLELISM"] == str(default_parallelism(2))
    monkeypatch.delenv("ETL_STACK_PARALLELISM", raising=False)
    monkeypatch.setenv("ETL_STACK_DIR", str(tmp_path))  # its secrets are generated there
    assert StackConfig.from_env().airflow_env()["AIRFLOW__CORE__PARALLELISM"] == str(default_parallelism())
    monkeypatch.setenv("ETL_STACK_PARALLELISM", "6")
    assert StackConfig.from_env().parallelism == 6
    # compose: the same knob, with the two-core default.
    assert (
        airflow_env(compose)["AIRFLOW__CORE__PARALLELISM"]
        == f"${{ETL_STACK_PARALLELISM:-{default_parallelism(2)}}}"
    )


def test_the_same_object_store(compose, stack):
    """Compose's S3 service is the S3Proxy release scripts/s3.sh runs, on the stack's port, with the
    bucket the stack's roots use; ETL_STACK_ROOTS=store puts both roots in it."""
    from stack_config import STORE_BUCKET

    service = compose["services"]["s3"]
    assert service["image"] == f"andrewgaul/s3proxy:s3proxy-{pinned_version('s3_server', 's3proxy')}"
    assert service["environment"]["S3PROXY_ENDPOINT"] == f"http://0.0.0.0:{stack.s3_port}"
    assert service["environment"]["JCLOUDS_PROVIDER"] == "filesystem"  # as scripts/s3_server.py runs it
    assert f"create_bucket('{STORE_BUCKET}')" in " ".join(compose["services"]["airflow-init"]["command"])
    on_store = dataclasses.replace(stack, roots_on_store=True)
    assert on_store.variables()["etl_drop_dir"] == f"s3://{STORE_BUCKET}/drops"
    assert on_store.variables()["etl_data_dir"] == f"s3://{STORE_BUCKET}/data"
    assert stack.variables()["etl_drop_dir"] == str(stack.drop_dir)
