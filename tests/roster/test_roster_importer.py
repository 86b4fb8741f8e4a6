"""Importing a parsed roster into the models."""

from __future__ import annotations

import csv
import re
import shutil
from datetime import date

import pytest
import sqlalchemy as sa

from consent.demo.roster_generator import SHIPPED_DIR, write_roster
from consent.models import Guardian, Organization, Student, StudentGuardian
from consent.roster import RosterError, parse_roster
from consent.roster.importer import import_roster
from tests.roster.helpers import DISTRICT, NORTH, base_orgs, base_users, demo, org, user, write

GUARDIAN_ROLES = {"parent", "guardian", "relative"}


def count_csv(directory):
    """Count what the roster holds straight from the CSV files, independently of the parser."""
    def rows(name):
        with (directory / name).open(encoding="utf-8-sig", newline="") as fh:
            return [r for r in csv.DictReader(fh) if r["status"] != "tobedeleted"]

    orgs, users = rows("orgs.csv"), rows("users.csv")
    roles = {u["sourcedId"]: u["role"] for u in users}
    pairs = set()
    for u in users:
        for agent in filter(None, (a.strip() for a in u["agentSourcedIds"].split(","))):
            if u["role"] == "student" and roles.get(agent) in GUARDIAN_ROLES:
                pairs.add((u["sourcedId"], agent))
            elif u["role"] in GUARDIAN_ROLES and roles.get(agent) == "student":
                pairs.add((agent, u["sourcedId"]))
    return {
        "district": sum(o["type"] == "district" for o in orgs),
        "school": sum(o["type"] == "school" for o in orgs),
        "student": sum(u["role"] == "student" for u in users),
        "guardian": sum(u["role"] in GUARDIAN_ROLES for u in users),
        "link": len(pairs),
    }


def count_db(db):
    def n(model, *where):
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    return {
        "district": n(Organization, Organization.kind == "district"),
        "school": n(Organization, Organization.kind == "school"),
        "student": n(Student),
        "guardian": n(Guardian),
        "link": n(StudentGuardian),
    }


def do_import(db, source):
    roster = parse_roster(source)
    report = import_roster(roster, session=db.session)
    db.session.commit()
    return report


def test_imports_the_shipped_demo_roster(db):
    expected = count_csv(SHIPPED_DIR)
    assert expected["student"] >= 290
    assert expected["school"] == 3

    report = do_import(db, SHIPPED_DIR)

    assert {kind: c.created for kind, c in report.counts.items()} == expected
    assert count_db(db) == expected
    district = db.session.scalar(sa.select(Organization).where(Organization.kind == "district"))
    assert district.name == "Riverside Unified School District"
    schools = db.session.scalars(sa.select(Organization).where(Organization.kind == "school"))
    for school in schools:
        assert school.parent_id == district.id
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", school.slug)
    assert district.slug == "riverside-unified-school-district"
    assert all(db.session.scalars(sa.select(StudentGuardian.has_educational_rights)))
    # The senior who turns 18 on the reference date (random families may reuse the name).
    jose = db.session.execute(sa.select(Student).where(
        Student.family_name == "Núñez", Student.given_name == "José",
        Student.birth_date == date(2008, 12, 3))).scalar_one()
    assert jose.school.name == "Riverside High School"
    assert jose.grade == "12"
    emails = list(db.session.scalars(sa.select(Guardian.email).where(Guardian.email.is_not(None))))
    assert emails
    assert all(e == e.lower() for e in emails)


def test_reimport_updates_instead_of_duplicating(db, tmp_path):
    source = shutil.copytree(SHIPPED_DIR, tmp_path / "roster")
    do_import(db, source)
    before = count_db(db)

    again = do_import(db, source)

    assert count_db(db) == before
    assert all(c.created == 0 and c.updated == 0 for c in again.counts.values())
    assert again.counts["student"].unchanged == before["student"]

    users = source / "users.csv"
    users.write_text(users.read_text(encoding="utf-8").replace(",Liam,O'Brien,", ",Liam,O'Brian,"),
                     encoding="utf-8")
    changed = do_import(db, source)

    assert count_db(db) == before
    assert changed.updated("student") == 1
    assert changed.created("student") == 0
    assert db.session.scalar(sa.select(Student.family_name).where(Student.given_name == "Liam",
                                                                  Student.grade == "04")) \
        == "O'Brian"


def test_reimport_keeps_a_links_educational_rights(db, tmp_path):
    write(tmp_path)
    do_import(db, tmp_path)
    link = db.session.scalar(sa.select(StudentGuardian))
    link.has_educational_rights = False  # e.g. a court order recorded in the application
    db.session.commit()

    do_import(db, tmp_path)

    assert db.session.scalar(sa.select(StudentGuardian.has_educational_rights).where(
        StudentGuardian.student_id == link.student_id,
        StudentGuardian.guardian_id == link.guardian_id)) is False


def test_a_changed_relationship_is_updated(db, tmp_path):
    write(tmp_path)
    do_import(db, tmp_path)
    users = base_users()
    users[3]["role"] = "relative"
    write(tmp_path, users=users)

    report = do_import(db, tmp_path)

    assert report.updated("guardian") == 0
    assert report.updated("link") == 1
    assert set(db.session.scalars(sa.select(StudentGuardian.relationship_kind))) == {
        "parent", "relative"}


def test_email_case_changes_are_not_changes(db, tmp_path):
    write(tmp_path)
    do_import(db, tmp_path)
    users = base_users()
    users[2]["email"] = "MARIA@Example.org"
    write(tmp_path, users=users)

    report = do_import(db, tmp_path)

    assert report.updated("guardian") == 0
    assert db.session.scalar(sa.select(Guardian.email).where(Guardian.sourced_id == "gdn-1")) \
        == "maria@example.org"


def test_a_blank_birth_date_keeps_the_stored_one(db, tmp_path):
    write(tmp_path)
    do_import(db, tmp_path)
    write(tmp_path, demographics=[])

    do_import(db, tmp_path)

    assert db.session.scalar(sa.select(Student.birth_date).where(Student.sourced_id == "stu-1")) \
        == date(2011, 4, 5)


def test_a_roster_with_one_bad_row_writes_nothing(db, tmp_path):
    source = shutil.copytree(SHIPPED_DIR, tmp_path / "roster")
    demographics = source / "demographics.csv"
    lines = demographics.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[40] = re.sub(r",\d{4}-\d{2}-\d{2},", ",2027-02-30,", lines[40])
    demographics.write_text("".join(lines), encoding="utf-8")
    roster = parse_roster(source)

    with pytest.raises(RosterError) as caught:
        import_roster(roster, session=db.session)
    db.session.commit()

    assert [(e.file, e.row, e.column) for e in caught.value.errors] == [
        ("demographics.csv", 41, "birthDate")]
    assert set(count_db(db).values()) == {0}


def test_import_flushes_but_does_not_commit(db, tmp_path):
    write(tmp_path)
    import_roster(parse_roster(tmp_path), session=db.session)
    assert count_db(db)["student"] == 2  # visible inside the transaction

    db.session.rollback()

    assert set(count_db(db).values()) == {0}


def test_slugs_stay_unique_and_are_kept_on_rename(db, make, tmp_path):
    make.org(name="Someone else", slug="north-high-school")
    write(tmp_path)
    do_import(db, tmp_path)
    north = db.session.scalar(sa.select(Organization).where(Organization.sourced_id == "sch-north"))
    assert north.slug == "north-high-school-2"

    roster = parse_roster(tmp_path)
    roster.schools[0] = type(roster.schools[0])("sch-north", "Northern High School", 3)
    report = import_roster(roster, session=db.session)
    db.session.commit()

    assert report.updated("school") == 1
    assert [str(n) for n in report.notices] == [
        "orgs.csv row 3, column name: the school sch-north was renamed from 'North High "
        "School' to 'Northern High School'"]
    db.session.refresh(north)
    assert (north.name, north.slug) == ("Northern High School", "north-high-school-2")


def test_a_sourced_id_owned_by_another_kind_of_org_is_refused(db, tmp_path):
    db.session.add(Organization(name="Partner", slug="partner", kind="nonprofit",
                                sourced_id="sch-north"))
    db.session.commit()
    write(tmp_path)

    with pytest.raises(RosterError) as caught:
        import_roster(parse_roster(tmp_path), session=db.session)
    db.session.rollback()

    assert "nonprofit" in caught.value.errors[0].reason
    assert count_db(db)["student"] == 0


def test_queries_do_not_grow_with_the_roster(db, tmp_path):
    """Import 3,000 students in a bounded number of statements (no query per row)."""
    write_roster(tmp_path, date(2026, 12, 3), students=3000)
    roster = parse_roster(tmp_path)
    assert roster.errors == []
    statements = []

    def count(*_args):
        statements.append(1)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        report = import_roster(roster, session=db.session)
        db.session.commit()
        first = len(statements)
        statements.clear()
        again = import_roster(roster, session=db.session)
        db.session.commit()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)

    assert report.created("student") == 3000
    assert again.created("student") == 0
    assert again.updated("student") == 0
    assert first < 150, first
    assert len(statements) < 100, len(statements)


def _refused(db, tmp_path, before, **files):
    """Import files that must be refused; nothing may be written, even after a commit."""
    roster = parse_roster(write(tmp_path, **files))
    assert roster.errors == []
    with pytest.raises(RosterError) as caught:
        import_roster(roster, session=db.session)
    db.session.commit()  # a refusal leaves nothing in the session to commit
    assert count_db(db) == before
    return [str(e) for e in caught.value.errors]


def test_an_existing_district_keeps_its_name_and_the_report_says_so(db, tmp_path):
    do_import(db, write(tmp_path))
    orgs = base_orgs()
    orgs[0]["name"] = "Riverside"

    report = do_import(db, write(tmp_path, orgs=orgs))

    assert db.session.scalar(sa.select(Organization.name).where(
        Organization.sourced_id == DISTRICT)) == "Test Unified"
    assert report.updated("district") == 0
    assert [str(n) for n in report.notices] == [
        "orgs.csv row 2, column name: 'Riverside' differs from the district's name on record, "
        "'Test Unified'; the name on record was kept (an import does not rename the district)"]


def test_a_new_school_id_with_the_name_of_a_school_on_record_is_refused(db, tmp_path):
    do_import(db, write(tmp_path))
    before = count_db(db)
    orgs = base_orgs()
    orgs[1]["sourcedId"] = "sch-north-high"
    users = base_users()
    users[0]["orgSourcedIds"] = "sch-north-high"

    errors = _refused(db, tmp_path, before, orgs=orgs, users=users)

    assert errors == [
        "orgs.csv row 3, column sourcedId: sch-north-high is not a school on record, but the "
        "school sch-north already has the name 'North High School'; use sch-north if it is "
        "that school, or give the new school a name of its own"]


def test_two_new_schools_of_one_name_are_refused(db, tmp_path):
    orgs = [*base_orgs(), org("sch-north-2", "north  high SCHOOL", "school", DISTRICT)]

    errors = _refused(db, tmp_path, count_db(db), orgs=orgs)

    assert errors == [
        "orgs.csv row 5, column sourcedId: sch-north-2 is not a school on record, but the "
        "school sch-north on row 3 already has the name 'north  high SCHOOL'; use sch-north if "
        "it is that school, or give the new school a name of its own"]


def test_a_school_renamed_to_another_schools_name_is_refused(db, tmp_path):
    do_import(db, write(tmp_path))
    orgs = base_orgs()
    orgs[2]["name"] = "North High School"

    errors = _refused(db, tmp_path, count_db(db), orgs=orgs)

    assert errors == ["orgs.csv row 4, column name: 'North High School' is already the name of "
                      "the school sch-north on row 3; two schools of one district cannot share "
                      "a name"]


def test_schools_may_swap_names_and_a_rename_is_reported(db, tmp_path):
    do_import(db, write(tmp_path))
    orgs = base_orgs()
    orgs[1]["name"], orgs[2]["name"] = "South Elementary", "North High School"

    report = do_import(db, write(tmp_path, orgs=orgs))

    assert report.updated("school") == 2
    assert [str(n) for n in report.notices] == [
        "orgs.csv row 3, column name: the school sch-north was renamed from 'North High "
        "School' to 'South Elementary'",
        "orgs.csv row 4, column name: the school sch-south was renamed from 'South "
        "Elementary' to 'North High School'"]


def test_a_new_guardian_id_with_a_stored_email_in_another_case_is_refused(db, tmp_path):
    db.session.add(Guardian(sourced_id="gdn-77", given_name="Siobhan", family_name="O'Brien",
                            email="Siobhan.OBrien64@Example.net"))  # stored before lower-casing
    db.session.commit()
    before = count_db(db)
    users = [*base_users(), user("gdn-78", "parent", "Siobhan", "O'Brien", org=DISTRICT,
                                 email="SIOBHAN.OBRIEN64@example.net", agents="stu-2")]

    errors = _refused(db, tmp_path, before, users=users)

    assert errors == [
        "users.csv row 6, column sourcedId: gdn-78 is not a guardian on record, but "
        "siobhan.obrien64@example.net is already the email of guardian gdn-77; one email "
        "belongs to one guardian, or signing in by email is ambiguous: use gdn-77 if this is "
        "the same person, otherwise give this guardian another email or none"]


def test_two_guardian_ids_with_one_email_in_a_file_are_refused(db, tmp_path):
    users = base_users()
    users[3]["email"] = "Maria@Example.org"

    errors = _refused(db, tmp_path, count_db(db), users=users)

    assert errors == [
        "users.csv row 5, column sourcedId: gdn-2 is not a guardian on record, but "
        "maria@example.org is already the email of guardian gdn-1 on row 4; one email belongs "
        "to one guardian, or signing in by email is ambiguous: use gdn-1 if this is the same "
        "person, otherwise give this guardian another email or none"]


def test_a_guardian_taking_another_guardians_email_is_refused(db, tmp_path):
    do_import(db, write(tmp_path))
    users = base_users()
    users[3]["email"] = "maria@example.org"

    errors = _refused(db, tmp_path, count_db(db), users=users)

    assert errors == [
        "users.csv row 5, column email: maria@example.org is already the email of guardian "
        "gdn-1 on row 4; one email belongs to one guardian, or signing in by email is "
        "ambiguous: use gdn-1 if this is the same person, otherwise give this guardian another "
        "email or none"]


def test_an_email_may_move_from_one_guardian_to_another(db, tmp_path):
    do_import(db, write(tmp_path))
    users = base_users()
    users[2]["email"], users[3]["email"] = "", "maria@example.org"

    report = do_import(db, write(tmp_path, users=users))

    assert report.updated("guardian") == 2
    assert dict(db.session.execute(sa.select(Guardian.sourced_id, Guardian.email)).all()) == {
        "gdn-1": None, "gdn-2": "maria@example.org"}


def test_a_school_of_another_district_is_not_moved_by_an_import(db, tmp_path):
    do_import(db, write(tmp_path / "first"))
    north = db.session.scalar(sa.select(Organization).where(Organization.sourced_id == NORTH))
    before = count_db(db)
    orgs = [org("d-2", "Lakeside Unified", "district"),
            org(NORTH, "North High School", "school", "d-2")]
    users = [user("stu-9", "student", "Eve", "Adams", grades="09")]

    errors = _refused(db, tmp_path / "second", before, orgs=orgs, users=users,
                      demographics=[demo("stu-9", "2011-01-02")])

    assert errors == [
        f"orgs.csv row 3, column sourcedId: {NORTH} is the school {north.slug!r} of another "
        "district (Test Unified); a roster cannot move a school between districts"]
    db.session.expire_all()
    assert db.session.get(Organization, north.id).parent.sourced_id == DISTRICT
