"""The Cassandra load's write latency, timed by the sink itself: one observation per write request.

The driver calls a *request init listener* for every request a session sends; the listener starts a
clock and adds a callback to the request's future that stops it. Only writes are timed (INSERT,
DELETE, UPDATE): the load's few paged reads of its key manifests are not write latency. The
histogram's fixed buckets (0.5 ms to 5 s) let Prometheus compute a p99 (`histogram_quantile`), which
the alert rule `EtlCassandraWriteLatencyHigh` compares with 100 ms.
"""

from __future__ import annotations

import bisect
import threading
import time
from typing import Any

# Seconds. Dense around the rule's 100 ms so a p99 near the threshold is read with little error.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
_WRITES = ("INSERT", "DELETE", "UPDATE")


class LatencyHistogram:
    """Counts per bucket (not cumulative), the sum and the count of the observed latencies."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0
        self._lock = threading.Lock()
        self._is_write: dict[str, bool] = {}

    def observe(self, seconds: float) -> None:
        with self._lock:
            self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.sum += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def as_xcom(self) -> dict[str, Any]:
        """Cumulative buckets as Prometheus draws them, keyed by `le`."""
        cumulative, running = {}, 0
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], self.counts, strict=True):
            running += count
            cumulative[bound] = running
        return {"buckets": cumulative, "sum": self.sum, "count": running}

    def listen(self, session: Any) -> None:
        """Time every write request `session` sends from now on."""
        session.add_request_init_listener(self._on_request)

    def _writes(self, future: Any) -> bool:
        query = future.query
        text = getattr(getattr(query, "prepared_statement", None), "query_string", None)
        text = text or getattr(query, "query_string", None) or str(query)
        if text not in self._is_write:  # a string caches its hash: cheap per request
            self._is_write[text] = text.lstrip().upper().startswith(_WRITES)
        return self._is_write[text]

    def _on_request(self, future: Any, *_: Any) -> None:
        if not self._writes(future):
            return
        started = time.perf_counter()

        def done(*_: Any) -> None:
            self.observe(time.perf_counter() - started)

        future.add_callbacks(callback=done, errback=done)
