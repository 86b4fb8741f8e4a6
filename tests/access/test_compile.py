"""The compiler's grouping: rows that end up with the same window make one grant, the
population filter matches `covers`, and the cache's incremental path agrees."""

from __future__ import annotations

from datetime import timedelta

from consent.access.bundle import Students, compile_all, compile_rules
from consent.access.cache import rules_for
from consent.access.decisions import decide, decide_current
from consent.access.facts import covers
from consent.models import Consent, RulesChange
from consent.timeutil import utcnow
from tests.factories import district_today


def _consent(db, student, agreement, recipient, category, **fields):
    row = Consent(student_id=student.id, agreement_id=agreement.id, recipient_id=recipient.id,
                  purpose="academic_support", category=category, state="granted",
                  given_as=fields.pop("given_as", "student"), **fields)
    db.session.add(row)
    db.session.flush()
    db.session.add(RulesChange(at=utcnow(), recipient_id=recipient.id, subject_type="consent",
                               subject_id=row.id, reason="consent_granted"))
    return row


def test_rows_with_the_same_window_make_one_grant_naming_the_newest_consent(db, make):
    make.categories()
    today, now = district_today(), utcnow()
    district, partner = make.org(kind="district"), make.org()
    student = make.student(sourced_id="S-1")
    earlier = make.agreement(district, [partner], state="active",
                             start=today - timedelta(days=40), end=today + timedelta(days=300),
                             executed_at=now - timedelta(days=40),
                             categories=("attendance", "behavior", "quarterly_grades"))
    # An amendment in force since yesterday; consents under the original carry on.
    amendment = make.agreement(district, [partner], state="active", predecessor_id=earlier.id,
                               start=today - timedelta(days=1), end=earlier.end_date,
                               executed_at=now - timedelta(days=2), successor_kind="amendment",
                               categories=("attendance", "behavior", "quarterly_grades"))
    earlier.superseded_at = now - timedelta(hours=30)
    earlier.state = "superseded"
    common = dict(valid_from=today - timedelta(days=30), valid_through=earlier.end_date)
    # Two grants at different times (different rows in SQL), both cut to the
    # amendment's window: one grant of three categories. Attendance twice: the newer.
    _consent(db, student, earlier, partner, "attendance", granted_at=now - timedelta(days=30),
             **common)
    _consent(db, student, earlier, partner, "behavior", granted_at=now - timedelta(days=30),
             **common)
    _consent(db, student, amendment, partner, "quarterly_grades",
             granted_at=now - timedelta(days=20), **common)
    newest = _consent(db, student, amendment, partner, "attendance",
                      granted_at=now - timedelta(days=20), **common)
    db.session.commit()

    compiled = compile_rules(partner, 1, now)
    grants = [g.as_dict() for g in compiled.grants(now)]
    assert compiled.published(now) == grants
    assert [(g["agreement"], list(g["categories"])) for g in grants] == [
        (amendment.id, ["attendance", "behavior", "quarterly_grades"])]
    assert newest.id in grants[0]["consents"] and len(grants[0]["consents"]) == 3
    for category in ("attendance", "behavior", "quarterly_grades"):
        fast = decide_current(partner, "S-1", category, "academic_support", now, compiled)
        slow = decide(partner, student, "S-1", category, "academic_support", now)
        assert (fast.decision, fast.agreement, fast.consent) == (
            slow.decision, slow.agreement, slow.consent), category
    assert compiled.grant_count() == 1


def test_population_filter_matches_covers(db, make):
    make.categories()
    today, now = district_today(), utcnow()
    district, partner = make.org(kind="district"), make.org()
    school = make.org(kind="school", parent=district)
    students = [make.student(sourced_id="S-a", school=school, grade="09"),
                make.student(sourced_id="S-b", grade="10"),  # no school
                make.student(sourced_id="S-c", school=school, grade=None)]
    # Odd but storable lists: a null, a float id, a number among the grades.
    population = {"schools": [float(school.id), None], "grades": ["09", 10, None]}
    agreement = make.agreement(district, [partner], basis="school_official", state="active",
                               start=today, executed_at=now - timedelta(hours=1),
                               population=population)
    compiled = compile_rules(partner, 1, now)
    expected = [s.sourced_id for s in students if covers(agreement, s.school_id, s.grade)]
    assert expected == ["S-a", "S-c"]
    assert [g.students for g in compiled.grants(now)] == [expected]
    assert compiled.published(now) == [g.as_dict() for g in compiled.grants(now)]


def test_incremental_update_replaces_only_the_changed_students(db, make):
    make.categories()
    today, now = district_today(), utcnow()
    district, partner = make.org(kind="district"), make.org()
    agreement = make.agreement(district, [partner], state="active", start=today,
                               executed_at=now - timedelta(hours=1))
    one, two = make.student(sourced_id="S-1"), make.student(sourced_id="S-2")
    common = dict(valid_from=today, valid_through=agreement.end_date,
                  granted_at=now - timedelta(minutes=30))
    _consent(db, one, agreement, partner, "attendance", **common)
    _consent(db, two, agreement, partner, "attendance", **common)
    db.session.commit()
    first = rules_for(partner, utcnow())
    assert [g["students"] for g in first.published(utcnow())] == [["S-1"], ["S-2"]]
    later = _consent(db, two, agreement, partner, "quarterly_grades", **common)
    db.session.commit()
    second = rules_for(partner, utcnow())
    assert second.version > first.version
    assert second.exception_grants is first.exception_grants  # the incremental path ran
    held = {cg.agreement: cg.by_student for cg in second.consent_grants}[agreement.id]
    before = {cg.agreement: cg.by_student for cg in first.consent_grants}[agreement.id]
    assert held["S-1"] is before["S-1"]
    assert [(g.students, list(g.categories), g.consent_by_category.get("quarterly_grades"))
            for g in second.grants(utcnow())] == [
        (["S-1"], ["attendance"], None), (["S-2"], ["attendance", "quarterly_grades"], later.id)]
    assert second.published(utcnow()) == [g.as_dict() for g in second.grants(utcnow())]


def test_compiling_every_recipient_together_gives_each_its_own_rules(db, make):
    make.categories()
    today, now = district_today(), utcnow()
    district = make.org(kind="district")
    school = make.org(kind="school", parent=district)
    partners = [make.org(), make.org(), make.org()]
    students = [make.student(sourced_id="S-1", school=school),
                make.student(sourced_id="S-2"), make.student(sourced_id="S-3", school=school)]
    students[2].directory_opt_out = True
    for partner, basis in zip(partners[:2], ("school_official", "directory_information"),
                              strict=True):
        make.agreement(district, [partner], basis=basis, state="active", start=today,
                       executed_at=now - timedelta(hours=1), population={"schools": [school.id]})
    consented = make.agreement(district, [partners[2]], state="active", start=today,
                               executed_at=now - timedelta(hours=1))
    _consent(db, students[1], consented, partners[2], "attendance", valid_from=today,
             valid_through=consented.end_date, granted_at=now - timedelta(minutes=5))
    db.session.commit()

    together = compile_all(partners, {p.id: 1 for p in partners}, now)

    assert [c.published(now) for c in together] == [
        compile_rules(p, 1, now).published(now) for p in partners]
    assert [[g["students"] for g in c.published(now)] for c in together] == [
        [["S-1", "S-3"]], [["S-1"]], [["S-2"]]]  # S-3 opted out of directory information


def test_a_student_added_after_the_students_were_read_still_gets_their_grant(db, make):
    make.categories()
    today, now = district_today(), utcnow()
    district, partner = make.org(kind="district"), make.org()
    agreement = make.agreement(district, [partner], state="active", start=today,
                               executed_at=now - timedelta(hours=1))
    make.student(sourced_id="S-1")
    students = Students()
    assert list(students.sourced.values()) == ["S-1"]
    late = make.student(sourced_id="S-2")  # e.g. a roster import committed in between
    _consent(db, late, agreement, partner, "attendance", valid_from=today,
             valid_through=agreement.end_date, granted_at=now - timedelta(minutes=5))
    db.session.commit()
    compiled = compile_rules(partner, 1, now, students)
    assert [g["students"] for g in compiled.published(now)] == [["S-2"]]
