"""Sending an alert: the SMTP provider's notifier over `smtp_default` to `etl_alert_to`.

An alert is never lost: without the connection or the recipients, or when the server refuses it,
the whole alert is written to the log at ERROR instead, with the reason.
"""

from __future__ import annotations

import logging

from analytics_etl import settings
from analytics_etl.alerts.message import Alert, render_html, render_text

log = logging.getLogger(__name__)


def _smtp_connection_exists() -> bool:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(settings.SMTP_CONN_ID)
    except AirflowNotFoundException:
        return False
    return True


def _from_email() -> str | None:
    """`[email] from_email` if set; else None, and the notifier takes the connection's `from_email`."""
    from airflow.sdk.configuration import conf

    return conf.get("email", "from_email", fallback=None) or None


def deliver(alert: Alert) -> bool:
    """Mail the alert (True), or log it when it cannot be mailed (False). Never raises."""
    try:
        recipients = settings.alert_recipients()
        connected = _smtp_connection_exists()
    except Exception as err:  # a settings lookup that fails must not swallow the alert
        recipients, connected = [], False
        log.exception("could not read the alert settings: %s", err)
    if not connected or not recipients:
        reason = (
            f"no connection {settings.SMTP_CONN_ID!r}"
            if not connected
            else f"variable {settings.VAR_ALERT_TO!r} names no address"
        )
        log.error("ALERT (not mailed: %s)\n%s", reason, render_text(alert))
        return False
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    notifier = SmtpNotifier(
        to=recipients,
        from_email=_from_email(),
        subject=alert.subject,
        html_content=render_html(alert),
        smtp_conn_id=settings.SMTP_CONN_ID,
    )
    try:
        # notify(), not __call__: the text is rendered already (escaped, from our templates), and
        # __call__ would render it again as a Jinja template, so an error containing "{{" would
        # break the mail.
        notifier.notify({})
    except Exception:
        log.exception("ALERT (not mailed: the SMTP server refused it)\n%s", render_text(alert))
        return False
    log.info("alert mailed to %s: %s", ", ".join(recipients), alert.subject)
    return True
