"""Prometheus, its Pushgateway and Alertmanager from Debian's packages, configured from the repository.

    python scripts/monitoring_servers.py render --out DIR [ports, targets]   write the three configurations

- `prometheus_config` scrapes the Pushgateway (with `honor_labels`, so each group keeps its `job` and
  `date`), the Spark master (`/metrics/master/prometheus`) and workers (`/metrics/prometheus`, Spark's
  PrometheusServlet, enabled by monitoring/spark-metrics.properties), loads monitoring/alerts.yml and
  sends alerts to Alertmanager.
- `alertmanager_config` mails through the SMTP server of `smtp_default` to `etl_alert_to`, except the
  alerts labelled `mailed_by="airflow"` (what the platform already mailed), which go to a receiver
  that sends nothing; and a failed run's alert inhibits every other alert of its date.
- `Server` runs one of the binaries on 127.0.0.1 as `cassandra_node.Node` runs Cassandra: the pid in
  its folder, `start` waits until `/-/ready` answers, `stop` stops exactly that pid.

Both configurations are JSON, which YAML reads as it is: no YAML writer needed. The stack
(scripts/stack.py) and the test session use this module; docker-compose.airflow.yml mounts the same
rules. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "monitoring" / "alerts.yml"
SPARK_METRICS = REPO / "monitoring" / "spark-metrics.properties"
BINARIES = {"pushgateway": "prometheus-pushgateway", "prometheus": "prometheus",
            "alertmanager": "prometheus-alertmanager"}  # fmt: skip
MAIL_RECEIVER = "etl-mail"
SILENT_RECEIVER = "mailed-by-airflow"  # shown in Alertmanager, mailed by nobody
# A warning of monitoring/alerts.yml holds for a day after its date's push, then resolves. Repeating
# only after three days, a firing warning is mailed once: a rerun of the date is a new alert (new
# mail). Under Alertmanager's notification log retention (--data.retention, 120h by default): a
# longer interval would outlive the log's record of the mail and repeat it anyway.
REPEAT_INTERVAL = "72h"


def prometheus_config(pushgateway: str, alertmanager: str, spark_master: str | None, spark_workers: list[str],
                      rules: str = str(RULES), interval: str = "15s") -> dict:  # fmt: skip
    """Targets are host:port; `interval` is the scrape and rule evaluation interval."""
    scrape = [
        {"job_name": "pushgateway", "honor_labels": True, "static_configs": [{"targets": [pushgateway]}]}
    ]
    if spark_master:
        scrape.append({"job_name": "spark-master", "metrics_path": "/metrics/master/prometheus",
                       "static_configs": [{"targets": [spark_master]}]})  # fmt: skip
    if spark_workers:
        scrape.append({"job_name": "spark-worker", "metrics_path": "/metrics/prometheus",
                       "static_configs": [{"targets": spark_workers}]})  # fmt: skip
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [rules],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": scrape,
    }


def smtp_settings(conn: dict | None, recipients: list[str]) -> dict | None:
    """Alertmanager's `global` SMTP settings from an `smtp_default` connection (the fields of
    `airflow connections get -o json`); None when there is no connection or no recipient."""
    if not conn or not conn.get("host") or not recipients:
        return None
    extra = conn.get("extra_dejson") or conn.get("extra") or {}
    extra = json.loads(extra) if isinstance(extra, str) else extra
    port = int(conn.get("port") or 25)
    settings = {
        "smtp_smarthost": f"{conn['host']}:{port}",
        "smtp_from": extra.get("from_email") or "airflow@localhost",
        # The provider's STARTTLS unless disable_tls (the CLI prints booleans as "True"); port 465 is
        # implicit TLS in Alertmanager too.
        "smtp_require_tls": str(extra.get("disable_tls", False)).lower() not in ("true", "1") and port != 465,
    }
    if conn.get("login"):
        settings["smtp_auth_username"] = conn["login"]
        settings["smtp_auth_password"] = conn.get("password") or ""
    return settings


def alertmanager_config(smtp: dict | None, recipients: list[str]) -> dict:
    mail = {"name": MAIL_RECEIVER}
    if smtp:
        mail["email_configs"] = [{"to": ", ".join(recipients), "send_resolved": False}]
    return {
        "global": {"resolve_timeout": "5m", **(smtp or {})},
        "route": {
            "receiver": MAIL_RECEIVER,
            "group_by": ["alertname", "job", "date"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": REPEAT_INTERVAL,
            # A failed run, a failed gate, a day not loaded by etl_deadline: Airflow's own alerts mail
            # them (docs/alerts.md); a second mail would say the same thing later.
            "routes": [{"matchers": ['mailed_by="airflow"'], "receiver": SILENT_RECEIVER}],
        },
        "receivers": [mail, {"name": SILENT_RECEIVER}],
        # The failed run of a date was mailed: its other alerts (reject ratio, Spark, Cassandra) are
        # part of that failure, not news.
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="EtlRunFailed"'],
                "target_matchers": ['mailed_by!="airflow"'],
                "equal": ["job", "date"],
            }
        ],  # fmt: skip
    }


def argv(name: str, root: Path, port: int) -> list[str]:
    """The command line of one server, its data and configuration under `root`, on 127.0.0.1:port."""
    listen = f"--web.listen-address=127.0.0.1:{port}"
    if name == "pushgateway":  # groups survive a restart; each push prunes those past etl_metrics_keep_days
        return [BINARIES[name], listen, f"--persistence.file={root / 'pushgateway.db'}"]
    if name == "prometheus":
        return [BINARIES[name], listen, f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'prometheus-data'}", "--web.enable-lifecycle"]  # fmt: skip
    # --cluster.listen-address= : no gossip port (a single Alertmanager; it would bind every interface).
    return [BINARIES[name], listen, f"--config.file={root / 'alertmanager.yml'}",
            f"--storage.path={root / 'alertmanager-data'}", "--cluster.listen-address="]  # fmt: skip


def write_configs(root: Path, prometheus: dict, alertmanager: dict) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "prometheus.yml").write_text(json.dumps(prometheus, indent=2))
    (root / "alertmanager.yml").write_text(json.dumps(alertmanager, indent=2))


def ready(port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass(frozen=True)
class Server:
    """One of the three servers, run by this process tree (the test session), stopped by its pid."""

    name: str
    root: Path
    port: int

    @property
    def pid_file(self) -> Path:
        return self.root / f"{self.name}.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        return (
            pid if BINARIES[self.name].encode() in cmdline and f":{self.port}".encode() in cmdline else None
        )

    def start(self, timeout: float = 60.0) -> int:
        if pid := self.pid():
            return pid
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{self.name}.log", "ab") as log:
            proc = subprocess.Popen(argv(self.name, self.root, self.port), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.root)  # fmt: skip
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while not ready(self.port):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / f"{self.name}.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"{self.name} did not become ready on port {self.port}:\n{tail}")
            time.sleep(0.2)
        return proc.pid

    def stop(self, timeout: float = 30.0) -> None:
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)  # our child: reap it
            except ChildProcessError:
                pass
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["render"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pushgateway", default="127.0.0.1:9091")
    parser.add_argument("--alertmanager", default="127.0.0.1:9093")
    parser.add_argument("--spark-master")
    parser.add_argument("--spark-worker", action="append", default=[])
    parser.add_argument("--rules", default=str(RULES), help="the rules' path as Prometheus sees it")
    args = parser.parse_args(argv_)
    prometheus = prometheus_config(args.pushgateway, args.alertmanager, args.spark_master, args.spark_worker,
                                   rules=args.rules)  # fmt: skip
    write_configs(args.out, prometheus, alertmanager_config(None, []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
