"""The Pushgateway named by the `prometheus_pushgateway` connection, and one PUT per run.

PUT (not POST) to `/metrics/job/daily_analytics_etl/date/<D>`: the gateway replaces the whole group,
so the group always holds exactly the latest run of D (a figure an earlier run had and this one lacks,
such as the Cassandra latency of a run that now fails at the gate, does not linger), while other dates'
groups are untouched. A push never fails the run: no connection means the figures are logged, an
unreachable or refusing gateway a warning.
"""

from __future__ import annotations

import base64
import logging
import urllib.error
import urllib.parse
import urllib.request

log = logging.getLogger(__name__)

PUSHGATEWAY_CONN_ID = "prometheus_pushgateway"
JOB = "daily_analytics_etl"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_TIMEOUT = 10.0


def gateway() -> tuple[str, dict[str, str], float] | None:
    """(base URL, headers, timeout) of the connection; None when it does not exist.

    The host may carry a scheme (`https://gw.example.com`); without one it is `http`. A login adds
    basic authentication; the `timeout` extra bounds the push (seconds, default 10)."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(PUSHGATEWAY_CONN_ID)
    except AirflowNotFoundException:
        return None
    host = (conn.host or "").rstrip("/")
    base = host if "://" in host else f"http://{host}"
    if conn.port:
        base = f"{base}:{conn.port}"
    if conn.schema:
        base = f"{base}/{conn.schema.strip('/')}"
    headers = {"Content-Type": CONTENT_TYPE}
    if conn.login:
        token = base64.b64encode(f"{conn.login}:{conn.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    timeout = float((conn.extra_dejson or {}).get("timeout", DEFAULT_TIMEOUT))
    return base, headers, timeout


def group_url(base: str, date: str, job: str = JOB) -> str:
    quote = urllib.parse.quote
    return f"{base}/metrics/job/{quote(job, safe='')}/date/{quote(date, safe='')}"


def push(body: str, date: str, target: tuple[str, dict[str, str], float] | None = None) -> bool:
    """PUT the group of `date`; True when the gateway took it. Never raises for the gateway's faults."""
    target = target or gateway()
    if target is None:
        log.info("no %s connection: metrics not pushed; they were:\n%s", PUSHGATEWAY_CONN_ID, body)
        return False
    base, headers, timeout = target
    url = group_url(base, date)
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            log.info("metrics of %s pushed to %s (HTTP %d)", date, url, response.status)
            return True
    except urllib.error.HTTPError as err:  # the gateway refused the body: say what it said
        detail = err.read().decode(errors="replace")[:500]
        log.warning("the Pushgateway refused the metrics of %s (HTTP %d): %s", date, err.code, detail)
    except (OSError, ValueError) as err:  # down, unreachable, timed out, a bad URL
        log.warning("could not push the metrics of %s to %s: %s; the run is not affected", date, url, err)
    return False
