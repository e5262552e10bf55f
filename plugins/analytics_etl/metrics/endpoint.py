"""An HTTP endpoint named by an Airflow connection (conn type `http`): the Pushgateway the runs push
to, the Prometheus the UI's monitoring page reads.

The host may carry a scheme (`https://prom.example.com`); without one it is `http`. The port follows,
then `schema` as a path prefix. A login adds basic authentication; the `timeout` extra bounds each
request (seconds, default 10).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Endpoint:
    base: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT


def endpoint(conn_id: str) -> Endpoint | None:
    """The endpoint of connection `conn_id`; None when the connection does not exist."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    host = (conn.host or "").rstrip("/")
    base = host if "://" in host else f"http://{host}"
    if conn.port:
        base = f"{base}:{conn.port}"
    if conn.schema:
        base = f"{base}/{conn.schema.strip('/')}"
    headers = {}
    if conn.login:
        token = base64.b64encode(f"{conn.login}:{conn.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return Endpoint(base, headers, float((conn.extra_dejson or {}).get("timeout", DEFAULT_TIMEOUT)))
