"""Telling people about a Monday: failed tasks, a missed deadline, a published report.

One Airflow notifier (``StyleCastNotifier``) for the three events, sent to whichever
channels are configured in the environment (``docker/.env`` in a deployment, the shell
locally):

- e-mail through Airflow's SMTP provider: ``STYLECAST_NOTIFY_EMAIL`` (comma-separated
  recipients), the server in the Airflow connection ``STYLECAST_SMTP_CONN_ID`` (default
  ``smtp_default``, e.g. ``AIRFLOW_CONN_SMTP_DEFAULT=smtp://user:pass@mail:587``), the
  sender in ``STYLECAST_NOTIFY_FROM`` or the connection's ``from_email``;
- a generic webhook: ``STYLECAST_NOTIFY_WEBHOOK``, which receives one JSON object per event
  whose ``text`` field is Markdown (what Slack, Mattermost and Teams' incoming webhooks read).

Where to open the report is its location in the home, the MLflow run holding a copy, and
``STYLECAST_REPORT_URL/<week>/index.html`` when the reports folder is served somewhere.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseNotifier

EVENTS = ("failure", "deadline", "report")
WEBHOOK_TIMEOUT_S = 10
WEBHOOK_RETRIES = 3
log = logging.getLogger("stylecast")


@dataclass(frozen=True)
class Channels:
    email_to: tuple[str, ...] = ()
    email_from: str | None = None
    smtp_conn_id: str = "smtp_default"
    webhook_url: str | None = None
    report_url: str | None = None

    @classmethod
    def from_env(cls) -> Channels:
        env = os.environ
        recipients = tuple(a.strip() for a in env.get("STYLECAST_NOTIFY_EMAIL", "")
                           .replace(";", ",").split(",") if a.strip())
        bad = [a for a in recipients if "@" not in a]
        if bad:
            raise ValueError(f"STYLECAST_NOTIFY_EMAIL: {', '.join(bad)} is not an e-mail "
                             "address (a comma-separated list, e.g. a@x.org,b@x.org)")
        webhook = env.get("STYLECAST_NOTIFY_WEBHOOK") or None
        if webhook and not webhook.startswith(("http://", "https://")):
            raise ValueError(f"STYLECAST_NOTIFY_WEBHOOK={webhook!r} is not an http(s) URL")
        return cls(email_to=recipients, email_from=env.get("STYLECAST_NOTIFY_FROM") or None,
                   smtp_conn_id=env.get("STYLECAST_SMTP_CONN_ID") or "smtp_default",
                   webhook_url=webhook,
                   report_url=(env.get("STYLECAST_REPORT_URL") or "").rstrip("/") or None)

    @property
    def configured(self) -> bool:
        return bool(self.email_to or self.webhook_url)


@dataclass(frozen=True)
class Message:
    event: str
    title: str
    text: str                      # Markdown
    fields: dict[str, Any]         # what a machine reading the webhook may want

    def payload(self) -> dict[str, Any]:
        return {"event": self.event, "title": self.title, "text": self.text, **self.fields}

    def html(self) -> str:
        body = html.escape(self.text)
        return (f"<h3>{html.escape(self.title)}</h3>"
                f'<pre style="font-family: inherit; white-space: pre-wrap">{body}</pre>')


def send(message: Message, channels: Channels) -> list[str]:
    """Send to every configured channel; the names of those reached. A channel that fails
    raises after the others were tried, so one broken channel does not silence the rest."""
    reached, errors = [], []
    for name, deliver, wanted in (("email", _email, channels.email_to),
                                  ("webhook", _webhook, channels.webhook_url)):
        if not wanted:
            continue
        try:
            deliver(message, channels)
            reached.append(name)
        except Exception as err:
            errors.append(f"{name}: {type(err).__name__}: {err}")
    if not channels.configured:
        log.info("no notification channel configured (STYLECAST_NOTIFY_EMAIL, "
                 "STYLECAST_NOTIFY_WEBHOOK): %s not sent", message.title)
    if errors:
        raise RuntimeError(f"notification {message.title!r} not delivered: {'; '.join(errors)}")
    return reached


def _email(message: Message, channels: Channels) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=channels.smtp_conn_id) as hook:
        hook.send_email_smtp(to=list(channels.email_to), subject=message.title,
                             html_content=message.html(), from_email=channels.email_from)


def _webhook(message: Message, channels: Channels) -> None:
    from pipeline.core.http import retrying_session

    with retrying_session(WEBHOOK_RETRIES, ("POST",)) as session:
        response = session.post(str(channels.webhook_url), json=message.payload(),
                                timeout=WEBHOOK_TIMEOUT_S, allow_redirects=False)
        response.raise_for_status()


# --- the messages -------------------------------------------------------------------------

def failure_message(context: Mapping[str, Any]) -> Message:
    ti = context.get("ti") or context.get("task_instance")
    dag_id, task_id = getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?")
    run_id, tries = getattr(ti, "run_id", "?"), getattr(ti, "try_number", None)
    error = context.get("exception")
    cause = getattr(error, "__cause__", None) or error  # StyleCast's error, not Airflow's wrap
    reason = f"{type(cause).__name__}: {error}" if error else "see the task's log"
    log_url = _safe(lambda: ti.log_url)
    text = "\n".join([f"**{dag_id}.{task_id}** failed in run `{run_id}`"
                      + (f" (try {tries})" if tries else "") + ".", "",
                      f"Reason: {reason}", *([f"Log: {log_url}"] if log_url else [])])
    return Message("failure", f"[StyleCast] failed: {dag_id}.{task_id}", text,
                   {"dag_id": dag_id, "task_id": task_id, "run_id": run_id,
                    "try_number": tries, "reason": reason, "log_url": log_url})


def deadline_message(context: Mapping[str, Any], expected: str) -> Message:
    run = context.get("dag_run") or {}
    dag_id, run_id = run.get("dag_id", "?"), run.get("dag_run_id") or run.get("run_id", "?")
    deadline = (context.get("deadline") or {}).get("deadline_time")
    text = (f"**{dag_id}** run `{run_id}` was not done by {deadline or 'its deadline'} "
            f"(state: {run.get('state', '?')}). {expected}")
    return Message("deadline", f"[StyleCast] late: {dag_id}", text,
                   {"dag_id": dag_id, "run_id": run_id, "deadline": str(deadline),
                    "state": run.get("state")})


def report_message(result: Mapping[str, Any], summary_md: str, channels: Channels,
                   mlflow_link: str | None) -> Message:
    week = str(result.get("week"))
    where = {"page": str(result.get("html")),
             "url": f"{channels.report_url}/{week}/index.html" if channels.report_url else None,
             "mlflow": mlflow_link}
    opens = [f"- {label}: {where[key]}" for key, label in
             (("url", "open"), ("page", "in the home"), ("mlflow", "MLflow run")) if where[key]]
    text = "\n".join([summary_md.strip(), "", "**Where to open the report**", *opens])
    return Message("report", f"[StyleCast] weekly trend report {week}", text,
                   {"week": week, "links": where, "rising": result.get("rising"),
                    "declining": result.get("declining")})


def _safe(value):
    try:
        return value()
    except Exception:  # a link is a courtesy: never the reason a notification fails
        return None


class StyleCastNotifier(BaseNotifier):
    """``on_failure_callback`` / ``on_success_callback`` (a task's context) and a
    ``DeadlineAlert``'s ``AsyncCallback`` (the triggerer's small context)."""

    def __init__(self, event: str, expected: str = "", context: Mapping | None = None):
        if event not in EVENTS:
            raise ValueError(f"event {event!r} is not one of {', '.join(EVENTS)}")
        super().__init__(context=dict(context or {}))  # type: ignore[arg-type]
        self.event, self.expected = event, expected

    def notify(self, context) -> None:
        channels = Channels.from_env()
        reached = send(self.message(context, channels), channels)
        log.info("%s notification sent to %s", self.event, ", ".join(reached) or "nobody")

    async def async_notify(self, context) -> None:
        import asyncio

        await asyncio.to_thread(self.notify, context)

    def message(self, context: Mapping[str, Any], channels: Channels) -> Message:
        if self.event == "failure":
            return failure_message(context)
        if self.event == "deadline":
            return deadline_message(context, self.expected)
        ti = context["ti"]
        result = ti.xcom_pull(task_ids=ti.task_id) or {}
        return report_message(result, _summary(result), channels,
                              _safe(lambda: _mlflow_link(result.get("mlflow_run_id"))))


def _summary(result: Mapping[str, Any]) -> str:
    from pipeline.core.settings import Settings
    from pipeline.report.run import summary_markdown

    return summary_markdown(Settings.from_env(), str(result["week"]))


def _mlflow_link(run_id: str | None) -> str | None:
    uri = os.environ.get("STYLECAST_MLFLOW_UI_URL") or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not run_id or not uri.startswith(("http://", "https://")):
        return None
    from mlflow.tracking import MlflowClient

    experiment = MlflowClient().get_run(run_id).info.experiment_id
    return f"{uri.rstrip('/')}/#/experiments/{experiment}/runs/{run_id}"
