"""Notifications: what reaches e-mail and the webhook, what a bad setting says, and which
week a run triggered by late items rebuilds. The DAG-level paths (a failing task, a
published report) run through `airflow dags test` in test_dags.py."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from helpers import free_port
from receivers import mail_text, notify_env, smtp_server, webhook_server

from pipeline.jobs.assets import ITEMS, weeks_in
from pipeline.jobs.notify import Channels, StyleCastNotifier


def test_a_missed_deadline_is_announced_through_airflows_callback_trigger(monkeypatch):
    """The triggerer runs a DeadlineAlert's AsyncCallback with a small context: the run as
    the API describes it and the deadline."""
    from airflow.triggers.callback import CallbackTrigger

    context = {"dag_run": {"dag_id": "stylecast_weekly_report", "dag_run_id": "scheduled__x",
                           "state": "running"},
               "deadline": {"id": "d1", "deadline_time": "2026-02-09T12:00:00+00:00"}}
    with smtp_server() as smtp, webhook_server() as hook:
        for name, value in notify_env(smtp, hook).items():
            monkeypatch.setenv(name, value)
        trigger = CallbackTrigger("pipeline.jobs.notify.StyleCastNotifier",
                                  {"event": "deadline", "expected": "Look at its tasks.",
                                   "context": context})

        async def outcomes():
            return [event.payload async for event in trigger.run()]

        states = [p["state"] for p in asyncio.run(outcomes())]
    assert states[-1] == "success", states
    assert [c["event"] for c in hook.received] == ["deadline"]
    assert hook.received[0]["run_id"] == "scheduled__x"
    assert "2026-02-09T12:00" in hook.received[0]["text"]
    assert "late: stylecast_weekly_report" in smtp.received[0]["Subject"]
    assert "Look at its tasks." in mail_text(smtp.received[0])


def test_one_broken_channel_does_not_silence_the_other(monkeypatch):
    closed = f"http://127.0.0.1:{free_port()}/nobody-listens"
    context = {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id="r", try_number=3),
               "exception": RuntimeError("disk full")}
    with smtp_server() as smtp, webhook_server() as hook:
        for name, value in {**notify_env(smtp, hook), "STYLECAST_NOTIFY_WEBHOOK": closed}.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(RuntimeError, match="not delivered: webhook: ConnectionError"):
            StyleCastNotifier("failure")(context)
    assert len(smtp.received) == 1 and "disk full" in mail_text(smtp.received[0])
    assert "(try 3)" in mail_text(smtp.received[0])


def test_nothing_configured_sends_nothing_and_bad_settings_say_what_is_wrong(monkeypatch):
    for name in ("STYLECAST_NOTIFY_EMAIL", "STYLECAST_NOTIFY_WEBHOOK"):
        monkeypatch.delenv(name, raising=False)
    assert not Channels.from_env().configured
    StyleCastNotifier("failure")({"ti": SimpleNamespace(dag_id="d", task_id="t")})

    monkeypatch.setenv("STYLECAST_NOTIFY_WEBHOOK", "hooks.example.org/x")
    with pytest.raises(ValueError, match="not an http"):
        Channels.from_env()
    monkeypatch.delenv("STYLECAST_NOTIFY_WEBHOOK")
    monkeypatch.setenv("STYLECAST_NOTIFY_EMAIL", "analyst@example.org; team")
    with pytest.raises(ValueError, match="team is not an e-mail address"):
        Channels.from_env()
    with pytest.raises(ValueError, match="not one of failure, deadline, report"):
        StyleCastNotifier("success")


def test_a_run_triggered_by_late_items_rebuilds_the_newest_week_already_reported(
        tmp_path, monkeypatch):
    from airflow.sdk.exceptions import AirflowSkipException

    from pipeline.jobs.tasks import report_week

    monkeypatch.setenv("STYLECAST_HOME", str(tmp_path))
    for week in ("2026-W03", "2026-W04"):
        (tmp_path / "reports" / week).mkdir(parents=True)
    events = {ITEMS: [SimpleNamespace(extra={"weeks": ["2026-W02", "2026-W04"]}),
                      SimpleNamespace(extra={"weeks": ["2026-W05"]})]}
    assert weeks_in(events) == ["2026-W02", "2026-W04", "2026-W05"]
    assert weeks_in(None) is None, "a scheduled or manual run is not asset-triggered"
    assert report_week("2026-02-09T06:00:00+00:00", None, weeks_in(events)) == "2026-W04"
    assert report_week(None, "2026-W01", weeks_in(events)) == "2026-W01", "a request wins"
    with pytest.raises(AirflowSkipException, match="the Monday run reports them"):
        report_week("2026-02-09T06:00:00+00:00", None, ["2026-W05", "2026-W06"])
