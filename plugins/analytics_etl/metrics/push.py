"""The Pushgateway named by the `prometheus_pushgateway` connection: one PUT per run, then pruning.

PUT (not POST) to `/metrics/job/daily_analytics_etl/date/<D>`: the gateway replaces the whole group,
so the group always holds exactly the latest run of D (a figure an earlier run had and this one lacks,
such as the Cassandra latency of a run that now fails at the gate, does not linger), while other dates'
groups are untouched.

The gateway keeps a group until it is deleted, so each push then deletes this job's groups pushed more
than `etl_metrics_keep_days` days ago (`prune`): the series Prometheus scrapes stay bounded, and it
keeps their history. The newest date with a successful run is never pruned: the deadline rule reads it.

A push never fails the run: no connection means the figures are logged, an unreachable or refusing
gateway a warning.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from analytics_etl.metrics.endpoint import endpoint

log = logging.getLogger(__name__)

PUSHGATEWAY_CONN_ID = "prometheus_pushgateway"
JOB = "daily_analytics_etl"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Pushed by every successful run of a date: the group the deadline rule (EtlDayNotLoadedByDeadline) reads.
SUCCESS_METRIC = "etl_last_success_timestamp_seconds"

Target = tuple[str, dict[str, str], float]


def gateway() -> Target | None:
    """(base URL, headers, timeout) of the connection (`endpoint`); None when it does not exist."""
    found = endpoint(PUSHGATEWAY_CONN_ID)
    if found is None:
        return None
    return found.base, {**found.headers, "Content-Type": CONTENT_TYPE}, found.timeout


def group_url(base: str, date: str, job: str = JOB) -> str:
    quote = urllib.parse.quote
    return f"{base}/metrics/job/{quote(job, safe='')}/date/{quote(date, safe='')}"


def keep_days() -> int | None:
    """`etl_metrics_keep_days` (settings.metrics_keep_days); None, logged, when it is not a whole number
    of days of at least 1: a mistyped setting must not delete groups."""
    from analytics_etl import settings

    try:
        return settings.metrics_keep_days()
    except ValueError as err:
        log.warning("%s: no group pruned", err)
        return None


def publish(body: str, date: str, days: int | None) -> bool:
    """Push the group of `date` and prune the gateway to `days` days (None: no pruning); without the
    connection only log the figures. True when the gateway took the group. Never raises for the
    gateway's faults."""
    target = gateway()
    if target is None:
        log.info("no %s connection: metrics not pushed; they were:\n%s", PUSHGATEWAY_CONN_ID, body)
        return False
    if not push(body, date, target):
        return False
    if days is not None:
        prune(target, days)
    return True


def push(body: str, date: str, target: Target) -> bool:
    """PUT the group of `date`; True when the gateway took it. Never raises for the gateway's faults."""
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


def stale_dates(groups: list[dict], days: int, now: float) -> list[str]:
    """The dates of this job's groups (the gateway's `/api/v1/metrics` answer) last pushed more than
    `days` days before `now`, except the newest date with a successful run."""
    ours: dict[str, tuple[float, bool]] = {}
    for group in groups:
        labels = group.get("labels") or {}
        if labels.get("job") != JOB or not labels.get("date") or set(labels) - {"job", "date", "instance"}:
            continue  # another job's, or a group this module never pushes
        samples = (group.get("push_time_seconds") or {}).get("metrics") or [{}]
        try:
            pushed = float(samples[0].get("value"))
        except (TypeError, ValueError):
            continue  # no push time (a failed push only): not ours to judge
        ours[labels["date"]] = (pushed, SUCCESS_METRIC in group)
    loaded = max((d for d, (_, success) in ours.items() if success), default=None)
    cutoff = now - days * 86400
    return sorted(d for d, (pushed, _) in ours.items() if pushed < cutoff and d != loaded)


def prune(target: Target, days: int, now: float | None = None) -> list[str]:
    """Delete this job's groups pushed more than `days` days ago (`stale_dates`); the dates deleted.
    The gateway down or refusing is a warning: the groups wait for the next run's push."""
    base, headers, timeout = target
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    deleted: list[str] = []
    try:
        request = urllib.request.Request(f"{base}/api/v1/metrics", headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            groups = json.load(response).get("data") or []
        for date in stale_dates(groups, days, time.time() if now is None else now):
            delete = urllib.request.Request(group_url(base, date), headers=headers, method="DELETE")
            with urllib.request.urlopen(delete, timeout=timeout):
                deleted.append(date)
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:300]
        log.warning("the Pushgateway at %s refused the pruning (HTTP %d: %s); deleted before: %s", base,
                    err.code, detail, ", ".join(deleted) or "none")  # fmt: skip
    except (OSError, ValueError, AttributeError) as err:  # down, timed out, not the Pushgateway's JSON
        log.warning("could not prune the Pushgateway at %s: %s; deleted before: %s", base, err,
                    ", ".join(deleted) or "none")  # fmt: skip
    else:
        log.info("groups of %s pushed more than %d days ago, deleted: %s", JOB, days,
                 ", ".join(deleted) or "none")  # fmt: skip
    return deleted
