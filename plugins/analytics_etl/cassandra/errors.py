"""The two ways a Cassandra load fails, for the caller to tell a retry from a dead end.

- `SinkRefusedRow` (a ValueError): a row that Cassandra refuses, or would refuse, whatever the number
  of attempts: a key longer than 65,535 bytes, a value out of range, a row of another date. It is
  deterministic: fail the task at once, without retries.
- `SinkUnavailable` (a RuntimeError): the cluster did not answer in time or at all, and still did
  not after the sink's bounded retries. The task's own retries may help; the next load of the date
  completes the partial one and cleans up after it.

This module imports nothing heavy, so a DAG's task module may import it at parse time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

SHOWN_CHARS = 80


def show_value(value: Any) -> str:
    """A value for a message: long text cut to 80 characters, with its length in bytes."""
    if value is None:
        return "null"
    if isinstance(value, UUID | dt.date):
        return str(value)
    if isinstance(value, bytes):
        return f"{value[:SHOWN_CHARS]!r}... ({len(value)} bytes)" if len(value) > SHOWN_CHARS else repr(value)
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return f"{value[:SHOWN_CHARS]!r}... ({len(value.encode('utf-8', 'surrogatepass'))} bytes)"
    return repr(value)


class SinkRefusedRow(ValueError):
    """A row Cassandra refuses (or would refuse) on every attempt; retrying cannot help."""

    def __init__(self, table: str, key: Mapping[str, Any], reason: str) -> None:
        self.table = table
        self.key = dict(key)
        self.reason = reason
        shown = ", ".join(f"{column}={show_value(value)}" for column, value in self.key.items())
        super().__init__(f"Cassandra refuses the row of {table} with key ({shown}): {reason}")


class SinkUnavailable(RuntimeError):
    """Cassandra still failed with transient errors after the sink's bounded retries."""

    def __init__(
        self, hosts: Iterable[str], written: Mapping[str, int], retries: int | None, cause: str
    ) -> None:
        self.hosts = list(hosts)
        self.written = dict(written)
        self.retries = retries
        done = ", ".join(f"{what}={count}" for what, count in self.written.items()) or "nothing"
        after = f" after {retries} retries" if retries else ""
        super().__init__(
            f"Cassandra at {', '.join(self.hosts) or 'the configured hosts'} is unavailable{after} "
            f"({cause}); rows written so far: {done}. The next load of the date completes this one "
            "and deletes whatever it left behind."
        )
