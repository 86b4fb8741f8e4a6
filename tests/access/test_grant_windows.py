"""Grant windows: the rows the rules compiler reads are rewritten with every consent and
birth-date change, equal a rebuild from scratch, and are neither read nor written while
they were computed for another zone or majority policy."""

from __future__ import annotations

import json
import random
import threading
import time as pytime
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from consent.access import grant_windows
from consent.access.bundle import compile_rules
from consent.access.cache import rules_for
from consent.access.facts import rules_version
from consent.models import Consent, GrantWindow, GrantWindowBasis, Organization, Student
from consent.roster import parse_roster
from consent.roster.importer import import_roster
from consent.services import consents as service
from consent.services.actors import actor_for
from consent.timeutil import utcnow
from tests.access.test_compile import _consent
from tests.api.helpers import make_partnership
from tests.consents.test_consent_semantics import _birthday_in, _open_agreement
from tests.factories import district_today
from tests.roster.helpers import demo, write

ZONE = ZoneInfo("America/Los_Angeles")  # DISTRICT_TIMEZONE in tests/conftest.py
PURPOSE = "academic_support"


def _midnight(day: date) -> datetime:
    """The first instant of `day` in the district, worked out here with zoneinfo."""
    return datetime.combine(day, time.min, tzinfo=ZONE).astimezone(UTC)


def _stored(db) -> list[tuple]:
    """Every stored row as (recipient, agreement, student, start, first id, terms)."""
    w = GrantWindow
    return sorted(tuple(row) for row in db.session.execute(sa.select(
        w.recipient_id, w.agreement_id, w.student_id, w.starts_at, w.first_consent_id,
        w.terms)))


def _rebuilt(db) -> list[tuple]:
    """The rows a rebuild from scratch writes (rolled back afterwards)."""
    with db.engine.connect() as connection:
        transaction = connection.begin()
        grant_windows.rebuild(connection)
        w = GrantWindow.__table__.c
        rows = connection.execute(sa.select(w.recipient_id, w.agreement_id, w.student_id,
                                            w.starts_at, w.first_consent_id, w.terms)).all()
        transaction.rollback()
    return sorted(tuple(row) for row in rows)


def _terms(row) -> tuple:
    purpose, until, codes, offsets = json.loads(row[-1])
    return purpose, datetime.fromisoformat(until), codes, [row[4] + d for d in offsets]


def _turns_18_in(db, student, days: int) -> date:
    """Give `student` a birth date whose 18th birthday is about `days` from today (never
    29 February); return that birthday."""
    birth = _birthday_in(days)
    student.birth_date = birth
    db.session.commit()
    return birth.replace(year=birth.year + 18)


def _grant(db, p, agreement, categories, **kw) -> list[Consent]:
    rows = service.decide(p.student, p.guardian_user, actor_for(p.guardian_user),
                          agreement_id=agreement.id, recipient_slug="promise",
                          purposes=[PURPOSE], categories=list(categories), **kw)
    db.session.commit()
    return rows


def test_a_grant_writes_its_window_and_a_revocation_takes_its_category_out(db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    attendance, behavior = _grant(db, p, agreement, ["attendance", "behavior"])

    (row,) = _stored(db)
    assert row[:3] == (p.partner.id, agreement.id, p.student.id)
    assert row[3] == attendance.granted_at
    # Valid through the agreement's end date: until the next midnight in the district.
    assert _terms(row) == (PURPOSE, _midnight(agreement.end_date + timedelta(days=1)),
                           ["attendance", "behavior"], [attendance.id, behavior.id])

    service.revoke(attendance, p.guardian_user, actor_for(p.guardian_user))
    db.session.commit()
    (row,) = _stored(db)
    assert _terms(row)[2:] == (["behavior"], [behavior.id])
    service.revoke(behavior, p.guardian_user, actor_for(p.guardian_user))
    db.session.commit()
    assert _stored(db) == []


def test_a_guardians_consent_ends_at_the_18th_birthday_and_follows_a_new_birth_date(db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    birthday = _turns_18_in(db, p.student, 40)
    _grant(db, p, agreement, ["attendance"])
    (row,) = _stored(db)
    assert _terms(row)[1] == _midnight(birthday)

    later = _turns_18_in(db, db.session.get(Student, p.student.id), 60)  # nothing else
    (row,) = _stored(db)
    assert _terms(row)[1] == _midnight(later)
    assert _stored(db) == _rebuilt(db)


def test_a_roster_import_that_changes_a_birth_date_rewrites_the_window(db, make, tmp_path):
    make.categories()
    first, moved = _birthday_in(100), _birthday_in(50)  # 18 in 100 days, then in 50
    import_roster(parse_roster(write(tmp_path / "first", demographics=[
        demo("stu-1", first.isoformat()), demo("stu-2", "2017-10-30")])), session=db.session)
    db.session.commit()
    student = db.session.scalar(sa.select(Student).where(Student.sourced_id == "stu-1"))
    district = db.session.scalar(sa.select(Organization).where(Organization.kind == "district"))
    partner = make.org()
    today, now = district_today(), utcnow()
    agreement = make.agreement(district, [partner], state="active", start=today,
                               end=today + timedelta(days=3000),
                               executed_at=now - timedelta(hours=1))
    _consent(db, student, agreement, partner, "attendance", given_as="guardian",
             valid_from=today, valid_through=agreement.end_date,
             granted_at=now - timedelta(minutes=5))
    db.session.commit()
    (row,) = _stored(db)
    assert _terms(row)[1] == _midnight(first.replace(year=first.year + 18))

    import_roster(parse_roster(write(tmp_path / "second", demographics=[
        demo("stu-1", moved.isoformat()), demo("stu-2", "2017-10-30")])), session=db.session)
    db.session.commit()
    (row,) = _stored(db)
    assert _terms(row)[1] == _midnight(moved.replace(year=moved.year + 18))
    assert _stored(db) == _rebuilt(db)


def test_many_changes_leave_the_rows_a_rebuild_would_write(db, make):
    make.categories()
    rng = random.Random(7)
    today, now = district_today(), utcnow()
    district, partners = make.org(kind="district"), [make.org(), make.org()]
    agreements = [make.agreement(district, [partner], state="active",
                                 start=today - timedelta(days=20), end=today + timedelta(days=400),
                                 executed_at=now - timedelta(days=20),
                                 categories=("attendance", "behavior", "quarterly_grades"))
                  for partner in partners]
    students = [make.student(sourced_id=f"S-{n}", birth_date=today - timedelta(
        days=rng.randint(16 * 365, 19 * 365))) for n in range(12)]
    live = []
    for _ in range(120):
        roll = rng.random()
        if roll < 0.5 or not live:
            k = rng.randrange(len(partners))
            live.append(_consent(
                db, rng.choice(students), agreements[k], partners[k],
                rng.choice(["attendance", "behavior", "quarterly_grades"]),
                given_as=rng.choice(["guardian", "student"]),
                valid_from=today - timedelta(days=rng.randint(0, 10)),
                valid_through=today + timedelta(days=rng.randint(1, 300)),
                granted_at=now - timedelta(minutes=rng.randint(1, 3) * 60)))
        elif roll < 0.75:
            consent = live.pop(rng.randrange(len(live)))
            consent.state, consent.ended_at = "revoked", now - timedelta(minutes=1)
        elif roll < 0.9:
            rng.choice(live).ended_at = now + timedelta(days=rng.randint(1, 30))
        else:
            rng.choice(students).birth_date = today - timedelta(days=rng.randint(16 * 365,
                                                                                 19 * 365))
        if rng.random() < 0.3:
            db.session.commit()
    db.session.commit()

    stored = _stored(db)
    assert len(stored) > 20
    assert stored == _rebuilt(db)


def test_rows_of_another_majority_policy_are_not_used_or_written_until_rebuilt(db, make,
                                                                               runner):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    birthday = _turns_18_in(db, p.student, 40)
    _grant(db, p, agreement, ["attendance"])
    now = utcnow()
    before = _stored(db)

    def ends():
        compiled = compile_rules(p.partner, 1, now)
        return [g["valid_until"] for g in compiled.published(now)]

    assert ends() == [_midnight(birthday).isoformat().replace("+00:00", "Z")]
    current_app.config["MAJORITY_GRACE_DAYS"] = 30
    with db.engine.connect() as connection:
        assert not grant_windows.is_current(connection)
    # The compiler works the windows out from the consents meanwhile.
    grace_end = _midnight(birthday + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    assert ends() == [grace_end]
    _grant(db, p, agreement, ["behavior"])
    assert _stored(db) == before  # not written: the rebuild writes them all

    with db.engine.begin() as connection:
        written = grant_windows.ensure_current(connection)
    assert written == 2  # the two grants, given at different times
    assert [_terms(row)[1:3] for row in _stored(db)] == [
        (_midnight(birthday + timedelta(days=30)), ["attendance"]),
        (_midnight(birthday + timedelta(days=30)), ["behavior"])]
    assert ends() == [grace_end, grace_end]
    basis = json.loads(db.session.scalar(sa.select(GrantWindowBasis.basis)))
    assert basis == {"zone": "America/Los_Angeles", "lapse": True, "grace_days": 30,
                     "format": grant_windows.FORMAT}


def test_the_rebuild_command_says_what_it_did(db, make, runner):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    _grant(db, p, agreement, ["attendance", "behavior"])
    result = runner.invoke(args=["rules", "rebuild"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "grant windows already current"
    result = runner.invoke(args=["rules", "rebuild", "--force"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "grant windows rebuilt: 1 rows"
    assert len(_stored(db)) == 1


def test_compiling_from_stored_rows_equals_compiling_from_the_consents(db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    _grant(db, p, agreement, ["attendance", "behavior"])
    other = _consent(db, p.other_student, agreement, p.partner, "quarterly_grades",
                     valid_from=district_today(), valid_through=agreement.end_date,
                     granted_at=utcnow() - timedelta(minutes=3))
    db.session.commit()
    now = utcnow()
    stored = compile_rules(p.partner, 1, now).published(now)
    db.session.execute(sa.delete(GrantWindowBasis))
    db.session.commit()
    computed = compile_rules(p.partner, 1, now).published(now)
    assert stored == computed
    assert sorted(c for g in stored for c in g["consents"])[-1] == other.id


def test_two_consent_changes_at_once_leave_no_window_behind(db, make):
    """Two transactions each end one of the two categories of one grant at the same time.
    The second refresh waits for the first transaction's commit and then reads it:
    without that wait, the row the first wrote (the other category, still granted when
    it looked) would outlive both changes. (The consent services also queue on the audit
    chain; these writes go around it, as a job that only sets `ended_at` might.)"""
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    attendance, behavior = _grant(db, p, agreement, ["attendance", "behavior"])
    app = current_app._get_current_object()
    first_flushed, second_started = threading.Event(), threading.Event()
    failures = []

    def end(consent_id: int) -> None:
        consent = db.session.get(Consent, consent_id)
        consent.state, consent.ended_at = "revoked", utcnow()
        db.session.flush()

    def first():
        try:
            with app.app_context():
                end(attendance.id)  # its windows rewritten, not yet committed
                first_flushed.set()
                second_started.wait(10)
                pytime.sleep(0.5)  # the second is waiting on us by now
                db.session.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
            first_flushed.set()

    worker = threading.Thread(target=first)
    worker.start()
    assert first_flushed.wait(10)
    second_started.set()
    end(behavior.id)
    db.session.commit()
    worker.join(10)
    assert not failures
    assert _stored(db) == [] == _rebuilt(db)


def test_a_forced_rebuild_reaches_rules_already_cached(db, make, runner):
    """A consent revoked in SQL, around the application, is not seen until a forced
    rebuild; the rebuild is a new rules version, so cached rules are compiled again."""
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    (consent,) = _grant(db, p, agreement, ["attendance"])
    now = utcnow()

    def consents_listed() -> list[int]:
        compiled = rules_for(p.partner, now)
        return [c for g in compiled.published(now) for c in g["consents"]]

    assert consents_listed() == [consent.id]
    version = rules_version(p.partner.id)
    db.session.execute(sa.update(Consent.__table__).where(Consent.__table__.c.id == consent.id)
                       .values(state="revoked", ended_at=now))
    db.session.commit()
    assert consents_listed() == [consent.id]  # nothing told the application
    assert runner.invoke(args=["rules", "rebuild"]).output.strip() == (
        "grant windows already current")
    result = runner.invoke(args=["rules", "rebuild", "--force"])
    assert result.output.strip() == "grant windows rebuilt: 0 rows"
    assert rules_version(p.partner.id) == version + 1
    assert consents_listed() == []
