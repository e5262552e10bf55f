"""The Pushgateway named by the `prometheus_pushgateway` connection, and one PUT per run.

PUT (not POST) to `/metrics/job/daily_analytics_etl/date/<D>`: the gateway replaces the whole group,
so the group always holds exactly the latest run of D (a figure an earlier run had and this one lacks,
such as the Cassandra latency of a run that now fails at the gate, does not linger), while other dates'
groups are untouched. A push never fails the run: no connection means the figures are logged, an
unreachable or refusing gateway a warning.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request

from analytics_etl.metrics.endpoint import endpoint

log = logging.getLogger(__name__)

PUSHGATEWAY_CONN_ID = "prometheus_pushgateway"
JOB = "daily_analytics_etl"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def gateway() -> tuple[str, dict[str, str], float] | None:
    """(base URL, headers, timeout) of the connection (`endpoint`); None when it does not exist."""
    found = endpoint(PUSHGATEWAY_CONN_ID)
    if found is None:
        return None
    return found.base, {**found.headers, "Content-Type": CONTENT_TYPE}, found.timeout


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
