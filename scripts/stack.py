"""A local production deployment on one machine, without Docker: `up`, `down`, `status`, `env`, `airflow`.

`up` starts (or reuses) the project's PostgreSQL with the Airflow metadata, source and analytics
databases, the stack's own Cassandra node (scripts/cassandra_node.py; unless CASSANDRA_HOST names
one), a Spark standalone cluster from the installed pyspark (a master and two workers), and the
Airflow api-server, scheduler, dag-processor and triggerer with LocalExecutor; it sets the
connections, variables and the Spark pool, and waits until Cassandra answers and the DAG is served. Each process runs in a
session of its own, its pid and start time under `<root>/pids`, its output under `<root>/logs`.
`down` stops exactly those process groups (and PostgreSQL only if `up` started it). What the stack is
made of is in `stack_config.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import psycopg2
from psycopg2 import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cassandra_node import NodeError, cql_answers
from monitoring_servers import alertmanager_config, prometheus_config, ready, smtp_settings, write_configs
from s3_server import StoreError
from s3_server import answers as s3_answers
from stack_config import ADMIN_USER, REPO, STORE_BUCKET, StackConfig

DAG_ID = "daily_analytics_etl"
STATE = "state.json"


def say(message: str) -> None:
    print(f"[stack] {message}", flush=True)


# -- processes ------------------------------------------------------------------------------------
def _pid_file(cfg: StackConfig, name: str) -> Path:
    return cfg.pids / f"{name}.pid"


def running(cfg: StackConfig, name: str) -> psutil.Process | None:
    """The live process `up` started as `name` (pid and start time must both match: pids are reused)."""
    try:
        pid, created = _pid_file(cfg, name).read_text().split()
        proc = psutil.Process(int(pid))
        if abs(proc.create_time() - float(created)) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except (FileNotFoundError, ValueError, psutil.Error):
        pass
    return None


def start(cfg: StackConfig, name: str, argv: list[str], env: dict[str, str]) -> None:
    if (proc := running(cfg, name)) is not None:
        say(f"{name}: already running (pid {proc.pid})")
        return
    cfg.logs.mkdir(parents=True, exist_ok=True)
    cfg.pids.mkdir(parents=True, exist_ok=True)
    with open(cfg.logs / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=cfg.root,
        )  # fmt: skip
    _pid_file(cfg, name).write_text(f"{proc.pid} {psutil.Process(proc.pid).create_time()}")
    say(f"{name}: started (pid {proc.pid}, log {cfg.logs / f'{name}.log'})")


def stop(cfg: StackConfig, name: str, grace: float = 30.0) -> None:
    """SIGTERM to the service's process group, SIGKILL to what is left after `grace` seconds."""
    proc = running(cfg, name)
    _pid_file(cfg, name).unlink(missing_ok=True)
    if proc is None:
        return
    group = [p for p in psutil.process_iter() if _pgid(p) == proc.pid]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in group:
            try:
                p.send_signal(sig)
            except psutil.Error:
                pass
        _, group = psutil.wait_procs(group, timeout=grace if sig == signal.SIGTERM else 10)
        if not group:
            break
    say(f"{name}: stopped (pid {proc.pid})")


def _pgid(proc: psutil.Process) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except OSError:
        return None


def stragglers(cfg: StackConfig) -> list[psutil.Process]:
    """Processes of this stack (they carry ETL_STACK_DIR) outside every service's group: e.g. a task
    process that started a session of its own."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and p.environ().get("ETL_STACK_DIR") == str(cfg.root):
                found.append(p)
        except psutil.Error:
            pass
    return found


# -- PostgreSQL -----------------------------------------------------------------------------------
def postgres_up(cfg: StackConfig, state: dict) -> None:
    pid_file = cfg.pg_data / "postmaster.pid"
    if pid_file.exists() and psutil.pid_exists(int(pid_file.read_text().split()[0])):
        port = int(pid_file.read_text().splitlines()[3])
        if port != cfg.pg_port:
            raise SystemExit(f"the project's PostgreSQL in {cfg.pg_data} runs on port {port}, not {cfg.pg_port}:"
                             f" set ETL_PG_PORT={port}")  # fmt: skip
        say(f"postgres: reusing the server on 127.0.0.1:{port} ({cfg.pg_data})")
        state.setdefault("postgres_started", False)
    else:
        # Not marked as the stack's: `down` stops the server with pg_ctl, never by a signal to a straggler.
        env = {k: v for k, v in os.environ.items() if k != "ETL_STACK_DIR"}
        subprocess.run([str(REPO / "scripts" / "postgres.sh"), "start", str(cfg.pg_data), str(cfg.pg_port)],
                       check=True, env=env)  # fmt: skip
        state["postgres_started"] = True
    admin = psycopg2.connect(host="127.0.0.1", port=cfg.pg_port, user="etl", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        for name in cfg.databases().values():
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                say(f"postgres: created database {name}")
    admin.close()


# -- Airflow settings -----------------------------------------------------------------------------
def airflow(
    cfg: StackConfig, *args: str, check: bool = True, quiet: bool = True
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["airflow", *args], env=cfg.process_env(), check=check, text=True,
        stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None,
    )  # fmt: skip


BACKFILL_BUSY = """\
{dag_id}: Airflow runs one backfill per DAG at a time, and another one is still open: it is running,
or its last run ended less than about 30 s ago (the scheduler marks a backfill complete on a check
every 30 s after none of its runs is queued or running). Its runs are in the UI (run type backfill).
Start this backfill again once they have all ended and that check has passed. To stop the open one:
GET /api/v2/backfills?dag_id={dag_id} gives its id, PUT /api/v2/backfills/<id>/cancel cancels it."""


def airflow_cli(cfg: StackConfig, args: list[str]) -> int:
    """The Airflow CLI against the deployment. A `backfill create` that Airflow refuses because the
    DAG's previous backfill is still open says so and when to retry, instead of a raw traceback."""
    if args[:2] != ["backfill", "create"]:
        return airflow(cfg, *args, check=False, quiet=False).returncode
    done = subprocess.run(["airflow", *args], env=cfg.process_env(), text=True, capture_output=True)
    if done.returncode != 0 and "AlreadyRunningBackfill" in done.stdout + done.stderr:
        dag_id = args[args.index("--dag-id") + 1] if "--dag-id" in args[:-1] else DAG_ID
        print(BACKFILL_BUSY.format(dag_id=dag_id), file=sys.stderr)
        return done.returncode
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


def configure_airflow(cfg: StackConfig) -> None:
    say("airflow: migrating the metadata database")
    airflow(cfg, "db", "migrate")
    files = cfg.root / "settings"
    files.mkdir(parents=True, exist_ok=True)
    connections = files / "connections.json"  # holds the store's keys: 0600, and gone once imported
    connections.touch(mode=0o600)
    connections.chmod(0o600)
    connections.write_text(json.dumps(cfg.connections(), indent=2))
    (files / "variables.json").write_text(json.dumps(cfg.variables(), indent=2))
    # The stack owns the connections (they point at its services); variables are the operator's.
    try:
        airflow(cfg, "connections", "import", str(connections), "--overwrite")
    finally:
        connections.unlink()
    airflow(cfg, "variables", "import", str(files / "variables.json"), "--action-on-existing-key", "skip")
    if os.environ.get("ETL_STACK_ROOTS"):  # asked for: the roots move (local <-> the store's bucket)
        for key, value in cfg.roots.items():
            airflow(cfg, "variables", "set", key, value)
    # Variables are encrypted with the Fernet key of <root>/secrets.json: a metadata database kept
    # from a stack whose root was deleted cannot be read any more. Say so rather than fail every run.
    if airflow(cfg, "variables", "get", "etl_data_dir", check=False).returncode != 0:
        raise SystemExit(
            f"the variables in the metadata database cannot be read with the key in {cfg.root / 'secrets.json'}"
            " (it was made anew?): restore that file, or drop the `airflow` database and run `up` again"
        )
    for pool, slots in cfg.pools().items():
        if airflow(cfg, "pools", "get", pool, check=False).returncode != 0:
            airflow(
                cfg, "pools", "set", pool, str(slots), "Spark applications at once (issue 7: size = cores)"
            )
    say(
        f"airflow: connections {', '.join(cfg.connections())}; variables and pool {', '.join(cfg.pools())} set"
    )


def configure_monitoring(cfg: StackConfig) -> None:
    """Prometheus's and Alertmanager's configurations; Alertmanager mails through `smtp_default` to
    `etl_alert_to` as they are in Airflow now (run `up` again after changing them: it reloads)."""
    got = airflow(cfg, "connections", "get", "smtp_default", "-o", "json", check=False)
    conn = json.loads(got.stdout[got.stdout.find("[") :])[0] if got.returncode == 0 else None
    to = airflow(cfg, "variables", "get", "etl_alert_to", check=False)
    recipients = [a.strip() for a in to.stdout.strip().split(",") if a.strip()] if to.returncode == 0 else []
    smtp = smtp_settings(conn, recipients)
    workers = [f"127.0.0.1:{cfg.spark_ui_port + n}" for n in range(1, cfg.spark_workers + 1)]
    prometheus = prometheus_config(f"127.0.0.1:{cfg.pushgateway_port}", f"127.0.0.1:{cfg.alertmanager_port}",
                                   f"127.0.0.1:{cfg.spark_ui_port}", workers)  # fmt: skip
    write_configs(cfg.monitoring, prometheus, alertmanager_config(smtp, recipients))
    for name in ("alertmanager", "prometheus"):  # running ones read their new configuration
        if running(cfg, name) is not None:
            urllib.request.urlopen(urllib.request.Request(f"{cfg.monitoring_url(name)}/-/reload", method="POST"),
                                   timeout=10).close()  # fmt: skip
    say(f"alertmanager: mails {', '.join(recipients)} through {smtp['smtp_smarthost']}" if smtp else
        "alertmanager: mails nothing (set smtp_default and etl_alert_to, then run up again)")  # fmt: skip


# -- waiting --------------------------------------------------------------------------------------
def _get_json(url: str, token: str | None = None) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_for(what: str, probe, timeout: float, cfg: StackConfig, log: str) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except (OSError, ValueError, KeyError, urllib.error.URLError) as err:
            last = err
        time.sleep(2)
    raise SystemExit(f"{what} not ready after {timeout:.0f} s (last error: {last}); see {cfg.logs / log}")


def token(cfg: StackConfig) -> str:
    """A JWT for the admin user, as any REST client gets one (`POST /auth/token`)."""
    password = json.loads(cfg.password_file.read_text())[ADMIN_USER]
    request = urllib.request.Request(
        f"{cfg.api_url}/auth/token", data=json.dumps({"username": ADMIN_USER, "password": password}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def wait_until_ready(cfg: StackConfig) -> None:
    def spark_ready() -> bool:
        return _get_json(f"{cfg.spark_ui_url}/json/")["aliveworkers"] >= cfg.spark_workers

    def airflow_healthy() -> bool:
        health = _get_json(f"{cfg.api_url}/api/v2/monitor/health")
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all(health[p]["status"] == "healthy" for p in parts)

    def dag_served() -> bool:
        return _get_json(f"{cfg.api_url}/api/v2/dags/{DAG_ID}", token(cfg))["dag_id"] == DAG_ID

    wait_for("Spark workers", spark_ready, 90, cfg, "spark-master.log")
    for name in ("pushgateway", "alertmanager", "prometheus"):
        wait_for(name, lambda name=name: ready(getattr(cfg, f"{name}_port")), 60, cfg, f"{name}.log")
    wait_for("Airflow services", airflow_healthy, 240, cfg, "api-server.log")
    wait_for(f"DAG {DAG_ID}", dag_served, 240, cfg, "dag-processor.log")


# -- commands -------------------------------------------------------------------------------------
def _load_state(cfg: StackConfig) -> dict:
    try:
        return json.loads((cfg.root / STATE).read_text())
    except FileNotFoundError:
        return {}


def cassandra_up(cfg: StackConfig) -> Callable[[], None]:
    """Start the stack's node without waiting (it boots beside the rest); returns the wait."""
    node = cfg.cassandra_node()
    if node is None:
        say(f"cassandra: using {cfg.cassandra_host} (CASSANDRA_HOST)")
        return lambda: None
    started = time.monotonic()
    try:
        pid = node.start(wait=False)
    except NodeError as err:
        raise SystemExit(f"cassandra: {err}") from None
    say(f"cassandra: starting on {node.host} (pid {pid}, log {node.log})")

    def wait() -> None:
        try:
            node.wait_ready(pid, started)
        except NodeError as err:
            raise SystemExit(f"cassandra: {err}") from None

    return wait


def store_up(cfg: StackConfig) -> Callable[[], None]:
    """Start the stack's S3 store without waiting (it boots beside the rest); returns the wait."""
    store = cfg.store()
    started = time.monotonic()
    try:
        pid = store.start(wait=False)
    except StoreError as err:
        raise SystemExit(f"s3: {err}") from None
    say(f"s3: starting on {store.endpoint} (pid {pid}, log {store.log})")

    def wait() -> None:
        if not s3_answers(store.port):
            try:
                store.wait_ready(pid, started)
            except StoreError as err:
                raise SystemExit(f"s3: {err}") from None

    return wait


def up(cfg: StackConfig) -> None:
    started = time.monotonic()
    for folder in (cfg.root, cfg.data_dir, cfg.drop_dir):
        folder.mkdir(parents=True, exist_ok=True)
    state = _load_state(cfg)
    cassandra_ready = cassandra_up(cfg)
    store_ready = store_up(cfg)
    postgres_up(cfg, state)
    (cfg.root / STATE).write_text(json.dumps(state))
    env = cfg.process_env()
    services = cfg.services(env["SPARK_HOME"])
    for service in services[: cfg.spark_workers + 1]:
        start(cfg, service.name, service.argv, env)
    store_ready()  # the connection holds the store's keys, generated by its first start
    configure_airflow(cfg)
    if os.environ.get("ETL_STACK_ROOTS") or "roots" not in state:  # what the variables were set to
        state["roots"] = cfg.roots
        (cfg.root / STATE).write_text(json.dumps(state))
    configure_monitoring(cfg)
    for service in services[cfg.spark_workers + 1 :]:
        start(cfg, service.name, service.argv, env)
    cassandra_ready()
    wait_until_ready(cfg)
    say(f"up in {time.monotonic() - started:.0f} s")
    summary(cfg)


def down(cfg: StackConfig) -> None:
    for service in reversed(cfg.services(os.environ.get("SPARK_HOME", ""))):
        stop(cfg, service.name)
    if (node := cfg.cassandra_node()) is not None:
        node.stop()  # by its recorded pid, waiting while it flushes
    cfg.store().stop()  # by its recorded pid
    state = _load_state(cfg)
    if state.pop("postgres_started", False):
        subprocess.run([str(REPO / "scripts" / "postgres.sh"), "stop", str(cfg.pg_data)], check=True)
        say("postgres: stopped (up had started it)")
    if cfg.root.exists():
        (cfg.root / STATE).write_text(json.dumps(state))
    left = stragglers(cfg)
    for p in left:
        say(f"stopping a leftover process of the stack: pid {p.pid} {' '.join(p.cmdline()[:3])}")
        p.kill()
    psutil.wait_procs(left, timeout=10)


def status(cfg: StackConfig) -> int:
    services = cfg.services(os.environ.get("SPARK_HOME", ""))
    down_count = 0
    for service in services:
        proc = running(cfg, service.name)
        down_count += proc is None
        say(f"{service.name:<15} {'running, pid ' + str(proc.pid) if proc else 'stopped'}")
    pg_pid = cfg.pg_data / "postmaster.pid"
    pg_up = pg_pid.exists() and psutil.pid_exists(int(pg_pid.read_text().split()[0]))
    say(f"{'postgres':<15} {'running on 127.0.0.1:' + str(cfg.pg_port) if pg_up else 'stopped'}")
    host, port = cfg.cassandra_address
    cassandra_ok = cql_answers(host, port)
    owner = "external, CASSANDRA_HOST" if cfg.cassandra_host else f"pid {(cfg.cassandra_node().pid() or '-')}"
    say(f"{'cassandra':<15} {'answering' if cassandra_ok else 'not answering'} on {host}:{port} ({owner})")
    store = cfg.store()
    store_ok = store.pid() is not None and s3_answers(store.port)
    say(
        f"{'s3':<15} {'answering' if store_ok else 'not answering'} on {store.endpoint} (pid {store.pid() or '-'})"
    )
    if down_count == 0:
        summary(cfg)
    return 0 if down_count == 0 and pg_up and cassandra_ok and store_ok else 3


def generate_day(cfg: StackConfig, args: list[str]) -> int:
    """scripts/generate_day.py into the stack's source database and its etl_drop_dir as `up` set it
    (the store's bucket included: the keys go to the child's environment, never its command line)."""
    drop_dir = _load_state(cfg).get("roots", cfg.roots)["etl_drop_dir"]
    env = dict(os.environ)
    if drop_dir.startswith("s3://"):
        creds = cfg.store().credentials()
        env.update(AWS_ENDPOINT_URL=cfg.store().endpoint, AWS_ACCESS_KEY_ID=creds.access_key,
                   AWS_SECRET_ACCESS_KEY=creds.secret_key, AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
    argv = [sys.executable, str(REPO / "scripts" / "generate_day.py"), "--source-dsn", cfg.pg_url("source"),
            "--drop-dir", drop_dir, *args]  # fmt: skip
    return subprocess.run(argv, env=env, check=False).returncode


def summary(cfg: StackConfig) -> None:
    roots = _load_state(cfg).get("roots", cfg.roots)
    password = json.loads(cfg.password_file.read_text())[ADMIN_USER] if cfg.password_file.exists() else "?"
    print(
        f"""
  Airflow UI      {cfg.api_url}   login {ADMIN_USER} / {password}  (from {cfg.password_file})
  Spark master    {cfg.spark_master}   web UI {cfg.spark_ui_url}
  PostgreSQL      127.0.0.1:{cfg.pg_port}  databases {", ".join(cfg.databases().values())} (user etl)
  Cassandra       {":".join(map(str, cfg.cassandra_address))}  keyspace analytics (cassandra_default)
  Prometheus      {cfg.monitoring_url("prometheus")}   Pushgateway {cfg.monitoring_url("pushgateway")}
  Alertmanager    {cfg.monitoring_url("alertmanager")}  (configurations in {cfg.monitoring})
  S3 store        {cfg.store().endpoint}  bucket {STORE_BUCKET}  (aws_default; keys in {cfg.store().credentials_file})
  drops / data    {roots["etl_drop_dir"]}  /  {roots["etl_data_dir"]}  (ETL_STACK_ROOTS=store|local moves them)
  logs            {cfg.logs}  (task logs under {cfg.logs / "airflow"})
  CLI             scripts/stack.sh airflow dags trigger {DAG_ID} --conf '{{"date": "2024-01-15"}}'
  a day of data   scripts/stack.sh generate-day --date 2024-01-15   (into the source and etl_drop_dir)
""",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "env", "airflow", "generate-day"])
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="for `airflow`: the CLI's arguments; for `generate-day`: scripts/generate_day.py's")  # fmt: skip
    args = parser.parse_args(argv)
    cfg = StackConfig.from_env()
    if args.command == "up":
        up(cfg)
    elif args.command == "down":
        down(cfg)
    elif args.command == "status":
        return status(cfg)
    elif args.command == "generate-day":
        return generate_day(cfg, args.args)
    elif args.command == "env":  # `eval "$(scripts/stack.sh env)"` points a shell's CLI at the stack
        print("\n".join(cfg.shell_env()))
    else:
        return airflow_cli(cfg, args.args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
