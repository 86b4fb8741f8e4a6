"""The destruction follow-up goes only to recipients that have not certified destruction,
and not at all once every recipient has."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from consent.services import destruction
from consent.services.actors import actor_for
from tests.scheduling.helpers import la, notices, outbox, sent, sweep


@pytest.fixture
def app_config(app_config):
    app_config["DISTRICT_TIMEZONE"] = "America/Los_Angeles"
    return app_config


@pytest.fixture
def ended(make):
    """An agreement with two recipients that expired after 30 June 2026; with the
    factory's 30 destruction days its certificates are due on 30 July 2026."""
    district, first, second = make.org(kind="district"), make.org(), make.org()
    owner = make.user("legal", org=district, email="owner@district.example")
    agreement = make.agreement(district, [first, second], state="expired", created_by=owner,
                               start=date(2025, 7, 1), end=date(2026, 6, 30),
                               executed_at=datetime(2025, 6, 1, 17, tzinfo=UTC))
    signers = [make.user("signatory", org=org, email=f"sign@{n}.example")
               for n, org in (("first", first), ("second", second))]
    return agreement, signers


def _certify(db, agreement, user):
    destruction.record(agreement, actor_for(user), destroyed_on=date(2026, 7, 10),
                       method="Secure erase")
    db.session.commit()


def _followup_mail(db) -> list[str]:
    return sorted(m.to_address for m in outbox(db) if m.subject.startswith("Certificate"))


def test_without_certificates_every_recipient_is_told(app, db, ended):
    sweep(app, la(date(2026, 7, 30)))
    assert [n.due_on for n in sent(db, "destruction_followup")] == [date(2026, 7, 30)]
    assert _followup_mail(db) == ["owner@district.example", "sign@first.example",
                                  "sign@second.example"]


def test_a_certified_recipient_is_no_longer_told(app, db, ended):
    agreement, (first_signer, _second) = ended
    _certify(db, agreement, first_signer)
    sweep(app, la(date(2026, 7, 30)))
    assert len(sent(db, "destruction_followup")) == 1
    assert _followup_mail(db) == ["owner@district.example", "sign@second.example"]


def test_no_follow_up_is_planned_once_every_recipient_certified(app, db, ended):
    agreement, signers = ended
    for signer in signers:
        _certify(db, agreement, signer)
    sweep(app, la(date(2026, 7, 30)))
    sweep(app, la(date(2026, 7, 31)))
    assert notices(db, "destruction_followup") == []
    assert _followup_mail(db) == []


def test_a_planned_follow_up_is_cancelled_when_the_last_certificate_arrives(app, db, ended):
    from consent.services import reminders

    agreement, signers = ended
    # Planned at its due instant (as the job plans before it sends), not sent yet.
    reminders.plan(la(date(2026, 7, 30)))
    db.session.commit()
    assert [n.status for n in notices(db, "destruction_followup")] == ["pending"]
    for signer in signers:
        _certify(db, agreement, signer)
    sweep(app, la(date(2026, 7, 30)))
    assert [n.status for n in notices(db, "destruction_followup")] == ["cancelled"]
    assert _followup_mail(db) == []
