"""Agreement end reminders: the right local day and hour, exactly once each.

Every instant below is worked out by hand for Los Angeles; the jobs run through the
scheduler's runner with the clock the test gives them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from consent.models import Agreement
from tests.scheduling.helpers import days, la, notices, outbox, sent, sweep


@pytest.fixture
def app_config(app_config):
    app_config["DISTRICT_TIMEZONE"] = "America/Los_Angeles"
    return app_config


@pytest.fixture
def ending(make):
    """An active agreement ending on 29 February 2028, its owner and two signers."""

    def build(end=date(2028, 2, 29), executed=datetime(2027, 6, 1, 17, tzinfo=UTC), **fields):
        district, partner = make.org(kind="district"), make.org()
        owner = make.user("legal", org=district, email="owner@district.example")
        agreement = make.agreement(district, [partner], state="active", created_by=owner,
                                   start=date(2027, 7, 1), end=end, executed_at=executed,
                                   **fields)
        make.user("signatory", org=district, email="sign@district.example")
        make.user("signatory", org=partner, email="sign@partner.example")
        return agreement

    return build


def test_reminders_go_90_60_30_and_7_days_before_a_29_february_end_once_each(app, db, ending):
    agreement = ending()
    # Twice a day (08:59 and 09:00 local) on every day from late November to April.
    for day in days(date(2027, 11, 25), date(2028, 4, 5)):
        sweep(app, la(day, 8, 59))
        sweep(app, la(day, 9, 0))
    reminders = sent(db, "agreement_ending")
    # 29 Feb 2028 minus 90, 60, 30 and 7 days, counted on a calendar by hand.
    assert [n.due_on for n in reminders] == [date(2027, 12, 1), date(2027, 12, 31),
                                             date(2028, 1, 30), date(2028, 2, 22)]
    assert all(n.sent_at == la(n.due_on) and n.lateness_seconds == 0 for n in reminders)
    # Nothing else was ever planned for this agreement's end.
    assert len(notices(db, "agreement_ending")) == 4
    # Three people each time: the legal owner and both parties' signatories.
    ending_mail = [m for m in outbox(db) if m.subject.startswith("Agreement ending")]
    assert len(ending_mail) == 12
    assert sorted({m.to_address for m in ending_mail}) == [
        "owner@district.example", "sign@district.example", "sign@partner.example"]
    assert {m.subject for m in ending_mail} == {
        f"Agreement ending in {d} days: {agreement.title}" for d in (90, 60, 30, 7)}
    # In force through 29 February: expired on 1 March, not before.
    db.session.expire_all()
    assert db.session.get(Agreement, agreement.id).state == "expired"
    follow_up = sent(db, "destruction_followup")
    # The factory's destruction period is 30 days: due 30 March 2028.
    assert [n.due_on for n in follow_up] == [date(2028, 3, 30)]
    assert [m.to_address for m in outbox(db) if m.subject.startswith("Certificate")] == [
        "owner@district.example", "sign@partner.example"]


def test_per_agreement_days_replace_the_defaults(app, db, ending):
    from consent.services import reminders

    agreement = ending(end=date(2028, 1, 31))
    with app.app_context():
        from consent.extensions import db as app_db
        reminders.set_end_reminder_days(app_db.session.get(Agreement, agreement.id), [45, 1])
        app_db.session.commit()
    for day in days(date(2027, 12, 1), date(2028, 1, 31)):
        sweep(app, la(day, 9, 30))
    assert [n.due_on for n in sent(db, "agreement_ending")] == [date(2027, 12, 17),
                                                                 date(2028, 1, 30)]


@pytest.mark.parametrize("bad", [[], [0], [5, 5], ["7"], [True], list(range(1, 14))])
def test_bad_reminder_days_are_refused_naming_the_field(app, db, ending, bad):
    from consent.errors import ValidationFailed
    from consent.services import reminders

    agreement = ending()
    with pytest.raises(ValidationFailed) as caught:
        reminders.set_end_reminder_days(agreement, bad)
    assert caught.value.field.startswith("end_reminder_days")


def test_downtime_across_the_due_time_sends_once_late_with_the_lateness(app, db, ending):
    ending()
    sweep(app, la(date(2027, 11, 30), 9, 0))
    # Down from then until 14:00 on 3 December: the 1 December 09:00 reminder is late.
    sweep(app, la(date(2027, 12, 3), 14, 0))
    for day in days(date(2027, 12, 3), date(2027, 12, 20)):
        sweep(app, la(day, 15, 0))
    [reminder] = sent(db, "agreement_ending")
    assert reminder.due_on == date(2027, 12, 1)
    assert reminder.sent_at == la(date(2027, 12, 3), 14, 0)
    assert reminder.lateness_seconds == 2 * 86400 + 5 * 3600


def test_a_long_outage_sends_only_the_latest_of_the_missed_reminders(app, db, ending):
    ending()
    sweep(app, la(date(2027, 11, 1)))
    sweep(app, la(date(2028, 1, 31)))  # down across 1 Dec, 31 Dec and 30 Jan
    by_day = {n.due_on: n.status for n in notices(db, "agreement_ending")}
    assert by_day == {date(2027, 12, 1): "skipped", date(2027, 12, 31): "skipped",
                      date(2028, 1, 30): "sent"}
    assert len([m for m in outbox(db) if m.subject.startswith("Agreement ending")]) == 3


def test_reminders_that_fell_before_execution_are_not_sent(app, db, ending):
    # Executed 20 days before its end: only the 7-day reminder applies.
    ending(executed=datetime(2028, 2, 9, 18, tzinfo=UTC))
    for day in days(date(2028, 2, 9), date(2028, 2, 29)):
        sweep(app, la(day, 10))
    assert [n.due_on for n in notices(db, "agreement_ending")] == [date(2028, 2, 22)]


def test_a_terminated_agreement_gets_no_more_end_reminders(app, db, ending):
    agreement = ending()
    sweep(app, la(date(2027, 12, 1)))
    row = db.session.get(Agreement, agreement.id)
    row.ended_on, row.end_reason = date(2028, 1, 15), "program closed"
    db.session.commit()
    for day in days(date(2027, 12, 2), date(2028, 1, 14)):
        sweep(app, la(day, 9))
    assert [n.due_on for n in sent(db, "agreement_ending")] == [date(2027, 12, 1)]


def test_spring_forward_gap_local_hour_that_does_not_exist(app, app_config, db, ending):
    # 12 March 2028: Los Angeles clocks jump from 02:00 PST to 03:00 PDT.
    app.config["REMINDER_LOCAL_HOUR"] = 2
    ending(end=date(2028, 3, 19))
    app.config["END_REMINDER_DAYS"] = [7]
    sweep(app, datetime(2028, 3, 12, 9, 59, 59, tzinfo=UTC))  # 01:59:59 PST
    assert sent(db) == []
    # 02:00 never shows on the wall; the reminder goes at the first instant after the
    # jump: 10:00 UTC, which reads 03:00 PDT.
    sweep(app, datetime(2028, 3, 12, 10, 0, tzinfo=UTC))
    for hour in range(11, 24):
        sweep(app, datetime(2028, 3, 12, hour, tzinfo=UTC))
    [reminder] = sent(db)
    assert reminder.due_at == datetime(2028, 3, 12, 10, 0, tzinfo=UTC)
    assert reminder.sent_at == reminder.due_at


def test_fall_back_overlap_local_hour_that_occurs_twice(app, db, ending):
    # 5 November 2028: 01:00-01:59 happens twice (PDT, then PST).
    app.config["REMINDER_LOCAL_HOUR"] = 1
    app.config["END_REMINDER_DAYS"] = [7]
    ending(end=date(2028, 11, 12))
    sweep(app, datetime(2028, 11, 5, 7, 59, tzinfo=UTC))  # 00:59 PDT
    assert sent(db) == []
    sweep(app, datetime(2028, 11, 5, 8, 0, tzinfo=UTC))  # 01:00 PDT, the first time
    sweep(app, datetime(2028, 11, 5, 9, 0, tzinfo=UTC))  # 01:00 PST, the second time
    sweep(app, datetime(2028, 11, 5, 9, 30, tzinfo=UTC))
    [reminder] = sent(db)
    assert reminder.sent_at == datetime(2028, 11, 5, 8, 0, tzinfo=UTC)
    assert len(outbox(db)) == 3


@pytest.mark.parametrize(("end", "due_utc"), [
    (date(2028, 3, 19), datetime(2028, 3, 12, 16, tzinfo=UTC)),  # 09:00 PDT
    (date(2028, 11, 12), datetime(2028, 11, 5, 17, tzinfo=UTC)),  # 09:00 PST
])
def test_nine_in_the_morning_on_the_days_the_clocks_change(app, db, ending, end, due_utc):
    app.config["END_REMINDER_DAYS"] = [7]
    ending(end=end)
    sweep(app, due_utc - timedelta(seconds=1))
    assert sent(db) == []
    sweep(app, due_utc)
    sweep(app, due_utc + timedelta(hours=12))
    [reminder] = sent(db)
    assert reminder.sent_at == due_utc
