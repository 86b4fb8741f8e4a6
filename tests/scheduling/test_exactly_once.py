"""Two schedulers at once, and a scheduler that dies mid-run, send each notice once.

The schedulers are real threads, each with its own app context, session and
database connection, released together by a barrier (on PostgreSQL too when
DATABASE_URL is set).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from consent import jobs
from consent.extensions import db as app_db
from consent.services import reminders
from tests.scheduling.helpers import la, notices, outbox, sent, sweep

AGREEMENTS = 12


@pytest.fixture
def app_config(app_config):
    app_config["DISTRICT_TIMEZONE"] = "America/Los_Angeles"
    return app_config


@pytest.fixture
def many_due(make):
    """Agreements whose 30-day reminder is due at 09:00 on 1 December 2027."""
    district, partner = make.org(kind="district"), make.org()
    owner = make.user("legal", org=district, email="owner@district.example")
    make.user("signatory", org=partner, email="sign@partner.example")
    return [make.agreement(district, [partner], state="active", created_by=owner,
                           title=f"Agreement {i}", start=date(2027, 7, 1),
                           end=date(2027, 12, 31), executed_at=datetime(2027, 6, 1, tzinfo=UTC))
            for i in range(AGREEMENTS)]


def _two_schedulers(app, now, rounds=1):
    barrier = threading.Barrier(2)
    results, errors = [], []

    def scheduler():
        try:
            for _ in range(rounds):
                with app.app_context():
                    barrier.wait(timeout=30)
                    results.append(jobs.send_due_reminders(now))
                    app_db.session.commit()
                    app_db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def test_two_schedulers_at_once_send_each_reminder_once(app, db, many_due):
    now = la(date(2027, 12, 1), 9, 0)
    results = _two_schedulers(app, now, rounds=3)
    assert sum(results) == AGREEMENTS
    reminders_sent = sent(db, "agreement_ending")
    assert sorted(n.subject_id for n in reminders_sent) == sorted(a.id for a in many_due)
    # The 90- and 60-day reminders fell before the first run: recorded once, skipped.
    assert Counter(n.status for n in notices(db)) == {"sent": AGREEMENTS,
                                                      "skipped": 2 * AGREEMENTS}
    per_title = Counter((m.to_address, m.subject) for m in outbox(db))
    assert len(per_title) == 2 * AGREEMENTS
    assert set(per_title.values()) == {1}


class Crash(BaseException):
    """Stands in for the process being killed: nothing catches it."""


def test_a_restart_in_the_middle_of_a_run_sends_the_rest_once(app, db, many_due, monkeypatch):
    now = la(date(2027, 12, 1), 9, 0)
    real_deliver, calls = reminders._deliver, []

    def deliver_then_die(notice, message):
        calls.append(notice.id)
        real_deliver(notice, message)  # the emails are written...
        if len(calls) == 5:
            raise Crash  # ...and the process dies before this notice's commit

    monkeypatch.setattr(reminders, "_deliver", deliver_then_die)
    with pytest.raises(Crash):
        sweep(app, now, [jobs.send_due_reminders])
    assert len(sent(db)) == 4  # committed before the crash
    assert len(outbox(db)) == 8
    monkeypatch.setattr(reminders, "_deliver", real_deliver)
    sweep(app, now, [jobs.send_due_reminders])  # the restarted scheduler
    sweep(app, la(date(2027, 12, 1), 9, 5), [jobs.send_due_reminders])
    assert len(sent(db)) == AGREEMENTS
    per_message = Counter((m.to_address, m.subject) for m in outbox(db))
    assert len(per_message) == 2 * AGREEMENTS and set(per_message.values()) == {1}
    # Sent by the second run a moment after the due time, recorded as such.
    assert {n.sent_at for n in sent(db)} == {now}


def test_a_failing_notice_does_not_stop_the_others(app, db, many_due, monkeypatch):
    now = la(date(2027, 12, 1), 9, 0)
    real_deliver = reminders._deliver
    broken = many_due[3].id

    def deliver(notice, message):
        if notice.subject_id == broken:
            raise RuntimeError("template missing")
        real_deliver(notice, message)

    monkeypatch.setattr(reminders, "_deliver", deliver)
    sweep(app, now, [jobs.send_due_reminders])
    statuses = {n.subject_id: n.status for n in notices(db) if n.status != "skipped"}
    assert statuses.pop(broken) == "pending"
    assert set(statuses.values()) == {"sent"}
    monkeypatch.setattr(reminders, "_deliver", real_deliver)
    sweep(app, la(date(2027, 12, 1), 9, 5), [jobs.send_due_reminders])
    assert len(sent(db)) == AGREEMENTS
