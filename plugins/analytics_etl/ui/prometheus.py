"""Reading Prometheus's HTTP API for the monitoring page: instant queries and the active alerts.

Prometheus is named by the `prometheus_default` connection (conn type `http`, see
`analytics_etl.metrics.endpoint`). Each run's figures sit in the Pushgateway's group of its date, so an
instant query gives one sample per date (the latest run of each): the page plots them by their `date`
label, not by scrape time (docs/monitoring.md).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from analytics_etl.metrics.endpoint import Endpoint, endpoint

PROMETHEUS_CONN_ID = "prometheus_default"


class Unavailable(Exception):
    """Prometheus could not be asked (no connection, down, an error): the page says which."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float

    @property
    def date(self) -> dt.date | None:
        try:
            return dt.date.fromisoformat(self.labels.get("date", ""))
        except ValueError:
            return None


def server() -> Endpoint:
    found = endpoint(PROMETHEUS_CONN_ID)
    if found is None:
        raise Unavailable(
            f"no {PROMETHEUS_CONN_ID} connection: add one (conn type http, Prometheus's host and port) "
            "to see the platform's metrics here"
        )
    return found


def _get(where: Endpoint, path: str, **params: str) -> object:
    url = f"{where.base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    request = urllib.request.Request(url, headers=where.headers)
    try:
        with urllib.request.urlopen(request, timeout=where.timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as err:  # a bad query: Prometheus says why in its JSON
        detail = err.read().decode(errors="replace")[:300]
        raise Unavailable(f"Prometheus at {where.base} answered {err.code}: {detail}") from None
    except (OSError, ValueError) as err:
        raise Unavailable(f"Prometheus at {where.base} could not be read: {err}") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        raise Unavailable(f"Prometheus at {where.base} answered {str(body)[:300]}")
    return body["data"]


def query(where: Endpoint, expr: str) -> list[Sample]:
    """The instant vector of `expr` now."""
    data = _get(where, "/api/v1/query", query=expr)
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise Unavailable(f"{expr!r} is not an instant vector")
    return [Sample(r["metric"], float(r["value"][1])) for r in data["result"]]


def alerts(where: Endpoint) -> list[dict]:
    """The rules' active alerts (pending and firing), newest first."""
    data = _get(where, "/api/v1/alerts")
    found = list(data.get("alerts", [])) if isinstance(data, dict) else []
    return sorted(found, key=lambda a: str(a.get("activeAt", "")), reverse=True)
