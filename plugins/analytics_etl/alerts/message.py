"""What an alert says: one `Alert` per event, rendered from the templates beside this module.

Rendering is pure (no Airflow, no network) so that the text is tested on its own. The body is HTML
with every value escaped: an error message is arbitrary text and must not become markup.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_ERROR_CHARS = 4000  # a Spark traceback can run to megabytes; the task log has all of it

FAILED = "failed"
LATE = "late"


@dataclass(frozen=True)
class Alert:
    """One event worth a mail: a failed run (`FAILED`) or a run past its deadline (`LATE`)."""

    kind: str
    dag_id: str
    run_id: str
    day: str  # the processed date D, or what was asked for when it is not a date
    url: str  # the run in the Airflow UI
    failed_task: str | None = None
    error: str | None = None
    task_url: str | None = None
    deadline: dt.datetime | None = None
    late_by: dt.timedelta | None = None
    state: str | None = None  # the run's state when a deadline passed

    @property
    def subject(self) -> str:
        if self.kind == FAILED:
            task = f" at {self.failed_task}" if self.failed_task else ""
            return f"[Airflow] {self.dag_id} failed for {self.day}{task} (run {self.run_id})"
        return (
            f"[Airflow] {self.dag_id} for {self.day} is late: not finished by "
            f"{format_moment(self.deadline)} (late by {format_delay(self.late_by)}, run {self.run_id})"
        )

    @property
    def short_error(self) -> str | None:
        if self.error is None or len(self.error) <= MAX_ERROR_CHARS:
            return self.error
        return (
            self.error[:MAX_ERROR_CHARS]
            + f"\n... ({len(self.error) - MAX_ERROR_CHARS} more characters in the task log)"
        )


def run_url(base_url: str, dag_id: str, run_id: str, task_id: str | None = None) -> str:
    """The run (or one of its tasks) in the Airflow 3 UI, as Airflow builds its own log links."""
    url = f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return f"{url}/tasks/{quote(task_id, safe='')}" if task_id else url


def format_moment(moment: dt.datetime | None) -> str:
    if moment is None:
        return "unknown"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_delay(delay: dt.timedelta | None) -> str:
    if delay is None:
        return "unknown"
    minutes = max(int(delay.total_seconds()) // 60, 0)
    if minutes < 1:
        return "less than a minute"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p)


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
_ENV.filters["moment"] = format_moment
_ENV.filters["delay"] = format_delay


def render_html(alert: Alert) -> str:
    """The mail body."""
    return _ENV.get_template(f"{alert.kind}.html").render(alert=alert)


def render_text(alert: Alert) -> str:
    """The same facts as plain text, for the log when the alert cannot be mailed."""
    lines = [alert.subject, f"run: {alert.url}"]
    if alert.kind == FAILED:
        lines += [
            f"failed task: {alert.failed_task or 'unknown'}",
            f"error: {alert.short_error or 'unknown'}",
        ]
    else:
        lines += [f"deadline: {format_moment(alert.deadline)}", f"state then: {alert.state or 'unknown'}"]
    return "\n".join(lines)
