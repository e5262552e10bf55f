"""What the local production deployment of `scripts/stack.sh` is made of: services, ports, settings.

Data only, no side effects, so `scripts/stack.py` runs it and a test compares it with
`docker-compose.airflow.yml` (the same deployment for machines with Docker). Every knob is an
environment variable with a default; everything binds to 127.0.0.1 and lives under `ETL_STACK_DIR`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Warnings every CLI call printed that say nothing about the deployment: the optional graphviz
# package (only `airflow dags show` renders with it) and pathspec's deprecation of the pattern class
# Airflow 3.3 itself uses. Matched by message start and category, so every other warning still shows.
QUIET_WARNINGS = "ignore:Could not import graphviz:UserWarning,ignore:GitWildMatchPattern:DeprecationWarning"

SPARK_METRICS = f"-Dspark.metrics.conf={REPO / 'monitoring' / 'spark-metrics.properties'}"
SPARK_POOL = "analytics_spark"  # plugins/analytics_etl/spark.py: the pool every Spark task runs in
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
MONITORING_SERVICES = ("pushgateway", "alertmanager", "prometheus")  # scripts/monitoring_servers.py
STORE_BUCKET = "etl"
ADMIN_USER = "admin"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def default_parallelism(cpus: int | None = None) -> int:
    """LocalExecutor worker processes (`[core] parallelism`) for a machine of `cpus` cores: two per
    core, at least 4 (a run's extract, package and load tasks side by side; the sensors wait on the
    triggerer and Spark is one pool slot). Airflow's default of 32 forks 32 workers (4.6 GB RSS on
    two cores) that can never run at once there."""
    return max(4, 2 * (cpus or os.cpu_count() or 1))


def _roots_on_store(value: str) -> bool:
    if value not in ("local", "store"):
        raise SystemExit(f"ETL_STACK_ROOTS must be `local` or `store`, not {value!r}")
    return value == "store"


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackConfig:
    root: Path
    pg_data: Path
    pg_port: int
    api_port: int
    spark_port: int
    spark_ui_port: int
    spark_workers: int
    worker_cores: int
    worker_memory: str
    spark_slots: int
    cassandra_host: str | None  # an external Cassandra (CASSANDRA_HOST); None: the stack's own node
    cassandra_port: int = 19142
    cassandra_storage_port: int = 17100
    cassandra_jmx_port: int = 17299
    parallelism: int = 4  # Airflow's task slots, and so LocalExecutor's worker processes
    # Monitoring (docs/monitoring.md): Prometheus's, the Pushgateway's and Alertmanager's own defaults.
    prometheus_port: int = 9090
    pushgateway_port: int = 9091
    alertmanager_port: int = 9093
    # The stack's S3-compatible store (scripts/s3_server.py) with its bucket `etl`, always running;
    # `roots_on_store` puts etl_drop_dir and etl_data_dir in it (ETL_STACK_ROOTS=store).
    s3_port: int = 19310
    roots_on_store: bool = False

    @classmethod
    def from_env(cls) -> StackConfig:
        local = Path(os.environ.get("ETL_LOCAL_DIR") or REPO / ".local")
        return cls(
            root=Path(os.environ.get("ETL_STACK_DIR") or local / "stack"),
            # The project's own PostgreSQL server (scripts/postgres.sh), reused if already running.
            pg_data=Path(os.environ.get("ETL_PG_DATA") or local / "postgres"),
            pg_port=_env_int("ETL_PG_PORT", 54329),
            api_port=_env_int("ETL_STACK_API_PORT", 8080),
            spark_port=_env_int("ETL_STACK_SPARK_PORT", 7077),
            spark_ui_port=_env_int("ETL_STACK_SPARK_UI_PORT", 8081),
            spark_workers=_env_int("ETL_STACK_SPARK_WORKERS", 2),
            worker_cores=_env_int("ETL_STACK_WORKER_CORES", 1),
            worker_memory=os.environ.get("ETL_STACK_WORKER_MEMORY") or "2g",
            # What two cores carry: one Spark application at a time (it takes every worker core).
            spark_slots=_env_int("ETL_STACK_SPARK_SLOTS", 1),
            cassandra_host=os.environ.get("CASSANDRA_HOST") or None,
            # The stack's own node (scripts/cassandra_node.py), beside the demo's (19042/17000/17199).
            cassandra_port=_env_int("ETL_STACK_CASSANDRA_PORT", 19142),
            cassandra_storage_port=_env_int("ETL_STACK_CASSANDRA_STORAGE_PORT", 17100),
            cassandra_jmx_port=_env_int("ETL_STACK_CASSANDRA_JMX_PORT", 17299),
            parallelism=_env_int("ETL_STACK_PARALLELISM", default_parallelism()),
            prometheus_port=_env_int("ETL_STACK_PROMETHEUS_PORT", 9090),
            pushgateway_port=_env_int("ETL_STACK_PUSHGATEWAY_PORT", 9091),
            alertmanager_port=_env_int("ETL_STACK_ALERTMANAGER_PORT", 9093),
            s3_port=_env_int("ETL_STACK_S3_PORT", 19310),
            roots_on_store=_roots_on_store(os.environ.get("ETL_STACK_ROOTS") or "local"),
        )

    # -- where things are -------------------------------------------------------------------------
    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def drop_dir(self) -> Path:
        return self.root / "drops"

    def store(self):
        """The stack's S3 store (`s3_server.Store`): data and generated keys under <root>/s3."""
        from s3_server import Store

        return Store(root=self.root / "s3", port=self.s3_port, buckets=(STORE_BUCKET,))

    @property
    def roots(self) -> dict[str, str]:
        """etl_drop_dir and etl_data_dir: folders under the root, or prefixes of the store's bucket."""
        if self.roots_on_store:
            return {"etl_drop_dir": f"s3://{STORE_BUCKET}/drops", "etl_data_dir": f"s3://{STORE_BUCKET}/data"}
        return {"etl_drop_dir": str(self.drop_dir), "etl_data_dir": str(self.data_dir)}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def spark_master(self) -> str:
        return f"spark://127.0.0.1:{self.spark_port}"

    @property
    def spark_ui_url(self) -> str:
        return f"http://127.0.0.1:{self.spark_ui_port}"

    @property
    def monitoring(self) -> Path:
        return self.root / "monitoring"

    def monitoring_url(self, name: str) -> str:
        return f"http://127.0.0.1:{getattr(self, f'{name}_port')}"

    @property
    def cassandra_address(self) -> tuple[str, int]:
        if self.cassandra_host:
            host, _, port = self.cassandra_host.partition(":")
            return host, int(port or 9042)
        return "127.0.0.1", self.cassandra_port

    def cassandra_node(self):
        """The stack's own Cassandra node (`cassandra_node.Node`), or None when CASSANDRA_HOST names one."""
        if self.cassandra_host:
            return None
        from cassandra_node import Node

        return Node(root=self.root / "cassandra", cql_port=self.cassandra_port,
                    storage_port=self.cassandra_storage_port, jmx_port=self.cassandra_jmx_port,
                    heap=os.environ.get("ETL_CASSANDRA_HEAP") or "1G")  # fmt: skip

    @property
    def password_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json.generated"

    def pg_url(self, dbname: str) -> str:
        return f"postgresql://etl@127.0.0.1:{self.pg_port}/{dbname}"

    # -- what Airflow is told ---------------------------------------------------------------------
    def databases(self) -> dict[str, str]:
        """Role -> database on the project's server (compose runs one server per role)."""
        return {"metadata": "airflow", "source": "source", "analytics": "analytics"}

    def connections(self) -> dict[str, dict]:
        conns = {
            "source_postgres": {"conn_type": "postgres", "host": "127.0.0.1", "port": self.pg_port,
                                "login": "etl", "schema": "source"},
            "analytics_postgres": {"conn_type": "postgres", "host": "127.0.0.1", "port": self.pg_port,
                                   "login": "etl", "schema": "analytics"},
            "spark_default": {"conn_type": "spark", "host": "spark://127.0.0.1", "port": self.spark_port},
        }  # fmt: skip
        host, port = self.cassandra_address
        conns["cassandra_default"] = {
            "conn_type": "cassandra",
            "host": host,
            "port": port,
            "schema": "analytics",
        }
        if not self.cassandra_host:  # the stack's own 5.0 node speaks v5: no downgrade warnings in the logs
            conns["cassandra_default"]["extra"] = json.dumps({"protocol_version": 5})
        # Each run pushes its metrics here when it ends (docs/monitoring.md).
        conns["prometheus_pushgateway"] = {
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": self.pushgateway_port,
        }
        # The UI's monitoring page reads the metrics back from here.
        conns["prometheus_default"] = {"conn_type": "http", "host": "127.0.0.1", "port": self.prometheus_port}
        # The object store (docs/deployment.md): the Amazon provider's connection, its keys generated
        # by the store's first start and kept 0600 under <root>/s3.
        store = self.store().connection()
        conns["aws_default"] = {**store, "extra": json.dumps(store["extra"])}
        return conns

    def variables(self) -> dict[str, str]:
        """Set when missing only: an operator's later change in the UI survives `up`."""
        return {
            **self.roots,
            "etl_max_reject_ratio": "0.05",
            # The Spark driver's class-data archive: the first run writes it, later ones map it.
            "etl_spark_cds_dir": str(self.root / "spark-cds"),
        }

    def pools(self) -> dict[str, int]:
        return {SPARK_POOL: self.spark_slots}

    def secrets(self) -> dict[str, str]:
        """JWT and session secrets and the Fernet key: generated once per stack, kept under its root."""
        path = self.root / "secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        import secrets

        from cryptography.fernet import Fernet

        values = {
            "jwt_secret": secrets.token_urlsafe(32),
            "secret_key": secrets.token_urlsafe(32),
            "fernet_key": Fernet.generate_key().decode(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(values))
        return values

    def airflow_env(self) -> dict[str, str]:
        """The [section] settings every Airflow process and CLI call of this deployment shares."""
        secrets = self.secrets()
        return {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Like production: the schedule runs once the DAG is deployed (pausing it in the UI sticks).
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": secrets["fernet_key"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://etl@127.0.0.1:"
            f"{self.pg_port}/{self.databases()['metadata']}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__SECRET_KEY": secrets["secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets["jwt_secret"],
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "airflow"),
            "GX_ANALYTICS_ENABLED": "false",
        }

    def process_env(self) -> dict[str, str]:
        """The environment of every process `up` starts (and of CLI calls against the deployment)."""
        venv_bin = str(Path(sys.executable).parent)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
        env.update(self.airflow_env())
        env.update(
            {
                "ETL_STACK_DIR": str(self.root),  # every process of the stack carries it: `down` checks
                "PATH": f"{venv_bin}:{env.get('PATH', '')}",
                "SPARK_LOCAL_IP": "127.0.0.1",  # Spark's ports and web UIs bind to loopback only
                # The master's REST submission server would take the fixed port 6066: nothing here
                # submits through it (spark-submit speaks to the master's own port).
                "SPARK_MASTER_OPTS": f"{env.get('SPARK_MASTER_OPTS', '')} -Dspark.master.rest.enabled=false"
                f" {SPARK_METRICS}".strip(),
                # Spark's own metrics in Prometheus's format on the daemons' web UIs (monitoring/).
                "SPARK_WORKER_OPTS": f"{env.get('SPARK_WORKER_OPTS', '')} {SPARK_METRICS}".strip(),
                "PYSPARK_PYTHON": sys.executable,
                "PYSPARK_DRIVER_PYTHON": sys.executable,
                "PYTHONWARNINGS": ",".join(filter(None, [QUIET_WARNINGS, env.get("PYTHONWARNINGS")])),
            }
        )
        return env

    def shell_env(self) -> list[str]:
        """`export` lines for `eval "$(scripts/stack.sh env)"`: the deployment's settings, and the
        venv's `airflow` first on the PATH. Not ETL_STACK_DIR: `down` would take the shell for one of
        the stack's processes."""
        venv_bin = str(Path(sys.executable).parent)
        env = {**self.airflow_env(), "PYTHONWARNINGS": QUIET_WARNINGS}
        lines = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
        return [*lines, f'export PATH={shlex.quote(venv_bin)}:"$PATH"']

    # -- the processes ----------------------------------------------------------------------------
    def services(self, spark_home: str) -> list[Service]:
        spark_class = str(Path(spark_home) / "bin" / "spark-class")
        deploy = "org.apache.spark.deploy"
        spark = [
            Service("spark-master", [spark_class, f"{deploy}.master.Master", "--host", "127.0.0.1",
                                     "--port", str(self.spark_port), "--webui-port", str(self.spark_ui_port)]),
        ]  # fmt: skip
        for n in range(1, self.spark_workers + 1):
            spark.append(
                Service(f"spark-worker-{n}", [spark_class, f"{deploy}.worker.Worker", "--host", "127.0.0.1",
                        "--cores", str(self.worker_cores), "--memory", self.worker_memory,
                        "--webui-port", str(self.spark_ui_port + n),
                        "--work-dir", str(self.root / "spark" / f"worker-{n}"), self.spark_master])
            )  # fmt: skip
        # The scheduler's and triggerer's log servers would bind every interface; the api-server reads
        # the task logs from the shared folder instead.
        extra = {"scheduler": ["--skip-serve-logs"], "triggerer": ["--skip-serve-logs"]}
        airflow = [Service(name, ["airflow", name, *extra.get(name, [])]) for name in AIRFLOW_SERVICES]
        from monitoring_servers import argv as monitoring_argv

        monitoring = [Service(name, monitoring_argv(name, self.monitoring, getattr(self, f"{name}_port")))
                      for name in MONITORING_SERVICES]  # fmt: skip
        return spark + airflow + monitoring
