"""The alert rules and the servers' configurations, checked by the tools of the installed releases:
`promtool check rules`, `promtool test rules` (every rule firing, and not firing, in
monitoring/tests/alerts_test.yml), `promtool check config`, `amtool check-config`; and compose's copy
of the configuration agreeing with what the stack renders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import monitoring_servers as ms  # noqa: E402

pytestmark = pytest.mark.unit
RULES = REPO / "monitoring" / "alerts.yml"


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_every_rule_is_valid_and_carries_a_runbook():
    checked = run("promtool", "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert len(rules) == 7 and all(r["annotations"]["runbook"].strip() for r in rules)


def test_promtool_unit_tests_cover_every_rule_firing_and_not():
    tests = REPO / "monitoring" / "tests" / "alerts_test.yml"
    result = run("promtool", "test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr
    text = tests.read_text()
    for rule in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]:
        assert f"alertname: {rule['alert']}" in text, rule["alert"]
    assert "exp_alerts: []" in text  # the deadline rule's not-yet and loaded-in-time cases


def test_a_rule_that_cannot_fire_is_caught(tmp_path):
    """The unit tests fail when a threshold moves: the suite's promtool run is not decoration."""
    broken = tmp_path / "alerts.yml"
    broken.write_text(RULES.read_text().replace("> 300", "> 3000"))
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(
        (REPO / "monitoring" / "tests" / "alerts_test.yml").read_text().replace("../alerts.yml", str(broken))
    )
    result = run("promtool", "test", "rules", str(tests))
    assert result.returncode != 0 and "EtlSparkProcessingSlow" in result.stdout + result.stderr


def test_the_rendered_configurations_are_valid_and_route_as_docs_say(tmp_path):
    smtp = ms.smtp_settings({"host": "127.0.0.1", "port": "2525", "extra_dejson": {"from_email": "etl@example.com",
                            "disable_ssl": "True", "disable_tls": "True"}}, ["a@example.com"])  # fmt: skip
    assert smtp == {
        "smtp_smarthost": "127.0.0.1:2525",
        "smtp_from": "etl@example.com",
        "smtp_require_tls": False,
    }
    assert ms.smtp_settings(None, ["a@example.com"]) is None and ms.smtp_settings({"host": "h"}, []) is None
    am = ms.alertmanager_config(smtp, ["a@example.com", "b@example.com"])
    prom = ms.prometheus_config("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", ["127.0.0.1:4"])
    ms.write_configs(tmp_path, prom, am)
    checked = run("promtool", "check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    checked = run("amtool", "check-config", str(tmp_path / "alertmanager.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert am["route"]["routes"] == [{"matchers": ['mailed_by="airflow"'], "receiver": ms.SILENT_RECEIVER}]
    assert am["receivers"][0]["email_configs"][0]["to"] == "a@example.com, b@example.com"
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    silent = {r["alert"] for r in rules if r["labels"].get("mailed_by") == "airflow"}
    assert silent == {"EtlRunFailed", "EtlGateFailed", "EtlDayNotLoadedByDeadline"}
    jobs = {c["job_name"]: c.get("metrics_path", "/metrics") for c in prom["scrape_configs"]}
    assert jobs == {"pushgateway": "/metrics", "spark-master": "/metrics/master/prometheus",
                    "spark-worker": "/metrics/prometheus"}  # fmt: skip


def test_compose_runs_the_releases_the_stack_runs_with_the_rendered_configuration(tmp_path):
    compose = yaml.safe_load((REPO / "docker-compose.airflow.yml").read_text())["services"]
    for name, binary in ms.BINARIES.items():
        version = re.search(
            r"version (\d+\.\d+\.\d+)", run(binary, "--version").stdout + run(binary, "--version").stderr
        )
        assert compose[name]["image"].endswith(f":v{version.group(1)}"), (name, version)
    ms.main(["render", "--out", str(tmp_path), "--pushgateway", "pushgateway:9091", "--alertmanager",
             "alertmanager:9093", "--spark-master", "spark-master:8081", "--spark-worker", "spark-worker-1:8081",
             "--spark-worker", "spark-worker-2:8081", "--rules", "/etc/prometheus/alerts.yml"])  # fmt: skip
    for name in ("prometheus.yml", "alertmanager.yml"):
        assert (REPO / "monitoring" / "compose" / name).read_text() == (tmp_path / name).read_text(), name


def seconds(duration: str) -> int:
    """An Alertmanager duration such as `30s`, `5m`, `72h`."""
    return sum(
        int(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[u]
        for n, u in re.findall(r"(\d+)([smhd])", duration)
    )


def test_each_warning_holds_a_day_after_its_push_and_is_mailed_once():
    """Every warning is about the run that pushed it (a day after its group's push_time_seconds), so it
    resolves before Alertmanager's repeat_interval could mail it again, and that interval stays under
    the notification log's retention (Alertmanager's --data.retention, 120h by default), past which it
    would forget the mail and send it again."""
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    warnings = [r for r in rules if r["labels"]["severity"] == "warning"]
    assert {r["alert"] for r in warnings} == {"EtlRejectRatioNearLimit", "EtlSparkProcessingSlow",
                                              "EtlSparkBatchFailed", "EtlCassandraWriteLatencyHigh"}  # fmt: skip
    windows = set()
    for rule in warnings:
        found = re.search(r"and on \(job, date\) \(time\(\) - push_time_seconds < (\d+)\)\s*$", rule["expr"])
        assert found, rule["alert"]
        windows.add(int(found.group(1)))
    assert windows == {86400}
    route = ms.alertmanager_config(None, [])["route"]
    assert route["receiver"] == ms.MAIL_RECEIVER and "mailed_by" not in str(warnings)
    latest_mail = seconds(route["group_wait"]) + seconds(route["group_interval"])  # from the alert's start
    assert 86400 + latest_mail < seconds(route["repeat_interval"]) < seconds("120h")
    help_text = run(ms.BINARIES["alertmanager"], "--help")
    assert re.search(r"--data\.retention=120h", help_text.stdout + help_text.stderr)
