"""The OneRoster 1.1 CSV parser: pure, no database."""

from __future__ import annotations

import codecs
import unicodedata
import zipfile
from datetime import date

import pytest

from consent.demo.roster_generator import DEMOGRAPHICS_HEADER, USERS_HEADER
from consent.roster import RosterError, RosterIssue, parse_files, parse_roster, read_source
from tests.roster.helpers import (
    DISTRICT,
    NORTH,
    SOUTH,
    base_demographics,
    base_orgs,
    base_users,
    demo,
    org,
    to_csv,
    user,
    write,
)


def issues(roster):
    return [(e.file, e.row, e.column) for e in roster.errors]


def test_parses_a_small_roster(tmp_path):
    roster = parse_roster(write(tmp_path))

    assert roster.errors == []
    assert roster.is_valid
    assert (roster.district.sourced_id, roster.district.name) == (DISTRICT, "Test Unified")
    assert [(s.sourced_id, s.name) for s in roster.schools] == [
        (NORTH, "North High School"), (SOUTH, "South Elementary")]
    ana, ben = roster.students
    assert (ana.sourced_id, ana.given_name, ana.family_name, ana.birth_date, ana.grade,
            ana.school_sourced_id) == ("stu-1", "Ana", "Lopez", date(2011, 4, 5), "09", NORTH)
    assert ben.school_sourced_id == SOUTH
    assert [(g.sourced_id, g.email, g.relationship) for g in roster.guardians] == [
        ("gdn-1", "maria@example.org", "parent"), ("gdn-2", None, "guardian")]
    # One link declared by the student, the other by the guardian.
    assert {(k.student_sourced_id, k.guardian_sourced_id, k.relationship)
            for k in roster.links} == {("stu-1", "gdn-1", "parent"),
                                       ("stu-2", "gdn-2", "guardian")}


def test_a_link_declared_on_both_sides_counts_once(tmp_path):
    users = base_users()
    users[2]["agentSourcedIds"] = "stu-1, stu-2"  # gdn-1; stu-1 also names gdn-1
    roster = parse_roster(write(tmp_path, users=users))

    assert roster.errors == []
    assert sorted((k.student_sourced_id, k.guardian_sourced_id) for k in roster.links) == [
        ("stu-1", "gdn-1"), ("stu-2", "gdn-1"), ("stu-2", "gdn-2")]


def test_reads_a_zip_with_or_without_a_folder(tmp_path):
    source = write(tmp_path / "dir")
    for name, prefix in (("flat.zip", ""), ("nested.zip", "export/")):
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            for path in sorted(source.iterdir()):
                archive.write(path, prefix + path.name)
            archive.writestr(prefix + "enrollments.csv", "sourcedId\n")  # ignored
        roster = parse_roster(tmp_path / name)
        assert roster.errors == []
        assert len(roster.students) == 2


def test_utf8_with_byte_order_mark_is_accepted(tmp_path):
    source = write(tmp_path)
    for name in ("orgs.csv", "users.csv", "demographics.csv"):
        path = source / name
        path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())

    roster = parse_roster(source)

    assert roster.errors == []
    assert roster.students[0].sourced_id == "stu-1"  # not "\ufeffstu-1" nor a missing column


def test_a_latin1_file_is_refused_naming_the_line(tmp_path):
    users = base_users()
    users[1]["givenName"] = "José"  # row 3 of users.csv
    source = write(tmp_path, users=users, encoding="latin-1")

    roster = parse_roster(source)

    assert issues(roster) == [("users.csv", 3, None)]
    error = roster.errors[0]
    assert "line 3" in error.reason
    assert "UTF-8" in error.reason
    assert "0xE9" in error.reason
    assert roster.students == []  # never stored garbled


def test_utf16_is_refused(tmp_path):
    source = write(tmp_path)
    (source / "orgs.csv").write_bytes((source / "orgs.csv").read_text().encode("utf-16"))

    roster = parse_roster(source)

    assert issues(roster) == [("orgs.csv", 1, None)]
    assert "UTF-16" in roster.errors[0].reason


@pytest.mark.parametrize("value", ["2027-02-30", "2026-13-01", "0000-01-01"])
def test_an_impossible_date_is_refused_with_row_and_column(tmp_path, value):
    demographics = base_demographics()
    demographics[1]["birthDate"] = value
    roster = parse_roster(write(tmp_path, demographics=demographics))

    assert issues(roster) == [("demographics.csv", 3, "birthDate")]
    assert str(roster.errors[0]) == (
        f"demographics.csv row 3, column birthDate: {value} is not a real date")


def test_a_birth_date_in_the_future_is_refused(tmp_path):
    demographics = base_demographics()
    demographics[1]["birthDate"] = "2099-01-01"
    roster = parse_roster(write(tmp_path, demographics=demographics))

    assert issues(roster) == [("demographics.csv", 3, "birthDate")]
    assert "in the future" in roster.errors[0].reason


@pytest.mark.parametrize("value", ["20270203", "2027-2-3", "03/02/2027", "2027-02-03T00:00:00",
                                   "2027-W05-3", "２０２７-０２-０３"])
def test_dates_must_be_written_yyyy_mm_dd(tmp_path, value):
    demographics = base_demographics()
    demographics[0]["birthDate"] = value
    roster = parse_roster(write(tmp_path, demographics=demographics))

    assert issues(roster) == [("demographics.csv", 2, "birthDate")]
    assert "YYYY-MM-DD" in roster.errors[0].reason


def test_a_missing_column_names_the_file_and_column(tmp_path):
    header = [c for c in USERS_HEADER if c != "familyName"]
    roster = parse_roster(write(tmp_path, headers={"users.csv": header}))

    assert issues(roster) == [("users.csv", 1, "familyName")]
    assert "missing" in roster.errors[0].reason
    # Demographics rows are not also reported as unknown users.
    assert roster.students == []


def test_a_missing_file_is_an_error(tmp_path):
    source = write(tmp_path)
    (source / "demographics.csv").unlink()

    roster = parse_roster(source)

    assert issues(roster) == [("demographics.csv", None, None)]


def test_a_link_to_an_unknown_sourced_id_is_an_error(tmp_path):
    users = base_users()
    users[0]["agentSourcedIds"] = "gdn-1,gdn-404"
    users[3]["agentSourcedIds"] = "stu-2,stu-404"
    roster = parse_roster(write(tmp_path, users=users))

    assert issues(roster) == [("users.csv", 2, "agentSourcedIds"),
                              ("users.csv", 5, "agentSourcedIds")]
    assert "gdn-404 is not in users.csv" in roster.errors[0].reason
    assert "stu-404" in roster.errors[1].reason


def test_a_link_between_two_students_is_an_error(tmp_path):
    users = base_users()
    users[0]["agentSourcedIds"] = "stu-2"
    roster = parse_roster(write(tmp_path, users=users))

    assert issues(roster) == [("users.csv", 2, "agentSourcedIds")]
    assert "is a student" in roster.errors[0].reason


def test_unknown_school_and_org_are_errors(tmp_path):
    users = base_users()
    users[0]["orgSourcedIds"] = "sch-nowhere"
    orgs = base_orgs() + [org("sch-east", "East", "school", "d-404")]
    roster = parse_roster(write(tmp_path, users=users, orgs=orgs))

    assert issues(roster) == [("orgs.csv", 5, "parentSourcedId"),
                              ("users.csv", 2, "orgSourcedIds")]


def test_emails_are_lower_cased(tmp_path):
    users = base_users()
    users[2]["email"] = "  Maria.Lopez@Example.ORG "
    users[0]["email"] = "ANA.LOPEZ@Students.Example.org"
    roster = parse_roster(write(tmp_path, users=users))

    assert roster.errors == []
    assert roster.guardians[0].email == "maria.lopez@example.org"
    assert roster.students[0].email == "ana.lopez@students.example.org"


def test_a_malformed_email_is_an_error(tmp_path):
    users = base_users()
    users[2]["email"] = "maria at example.org"
    roster = parse_roster(write(tmp_path, users=users))

    assert issues(roster) == [("users.csv", 4, "email")]


def test_names_are_normalised_to_nfc(tmp_path):
    users = base_users()
    users[0]["givenName"] = unicodedata.normalize("NFD", "José")
    users[0]["familyName"] = unicodedata.normalize("NFD", "Nguyễn")
    assert len(users[0]["givenName"]) == 5  # decomposed: e + combining acute
    roster = parse_roster(write(tmp_path, users=users))

    assert roster.students[0].given_name == "Jos\u00e9"
    assert roster.students[0].family_name == "Nguy\u1ec5n"


@pytest.mark.parametrize(("given", "family"), [
    ("Ben", "O'Brien"), ("Marco", "D\u2019Angelo"), ("Thị Hương", "Nguyễn"),
    ("Łucja", "Wójcik"), ("محمد", "العلي"), ("小明", "王"), ("José", "Núñez"),
    ("Mary Ann", "Smith-Jones"), ("", "Sukarno"),
])
def test_names_are_kept_exactly(tmp_path, given, family):
    users = base_users()
    users[1]["givenName"], users[1]["familyName"] = given, family
    roster = parse_roster(write(tmp_path, users=users))

    assert roster.errors == []
    assert (roster.students[1].given_name, roster.students[1].family_name) == (given, family)


def test_a_person_needs_a_name(tmp_path):
    users = base_users()
    users[1]["givenName"], users[1]["familyName"] = " ", ""
    roster = parse_roster(write(tmp_path, users=users))

    assert issues(roster) == [("users.csv", 3, "givenName")]


@pytest.mark.parametrize("name", ["A\x00n\x00a\x00", "Ana\tLopez", "Ana\x1b"])
def test_control_characters_in_names_are_refused(tmp_path, name):
    users = base_users()
    users[0]["givenName"] = name
    roster = parse_roster(write(tmp_path, users=users))

    assert issues(roster) == [("users.csv", 2, "givenName")]
    assert "control character" in roster.errors[0].reason


def test_rows_to_be_deleted_are_skipped(tmp_path):
    users = base_users() + [
        user("stu-9", "student", "Gone", "Away", agents="gdn-1", status="tobedeleted")]
    users[2]["agentSourcedIds"] = "stu-9"  # a link to the departed student is left out
    demographics = base_demographics() + [demo("stu-9", "2010-01-01", status="tobedeleted")]
    roster = parse_roster(write(tmp_path, users=users, demographics=demographics))

    assert roster.errors == []
    assert [s.sourced_id for s in roster.students] == ["stu-1", "stu-2"]
    assert all(k.student_sourced_id != "stu-9" for k in roster.links)


def test_teachers_and_other_files_are_ignored(tmp_path):
    users = base_users() + [user("t-1", "teacher", "Tess", "Teacher", agents="")]
    source = write(tmp_path, users=users)
    (source / "enrollments.csv").write_text("anything at all\n")

    roster = parse_roster(source)

    assert roster.errors == []
    assert len(roster.students) == 2
    assert len(roster.guardians) == 2


def test_duplicate_sourced_ids_are_errors(tmp_path):
    users = base_users() + [user("stu-1", "student", "Ana", "Again")]
    roster = parse_roster(write(tmp_path, users=users))

    assert issues(roster) == [("users.csv", 6, "sourcedId")]
    assert "first on row 2" in roster.errors[0].reason


def test_the_roster_needs_exactly_one_district(tmp_path):
    none = parse_roster(write(tmp_path / "none", orgs=base_orgs()[1:]))
    two = parse_roster(write(tmp_path / "two", orgs=base_orgs() + [
        org("d-2", "Other Unified", "district")]))

    assert ("orgs.csv", None, "type") in issues(none)
    assert issues(two) == [("orgs.csv", 5, "type")]


def test_a_row_with_the_wrong_number_of_values_is_an_error(tmp_path):
    source = write(tmp_path)
    path = source / "demographics.csv"
    path.write_text(path.read_text() + "stu-3,active,,2012-01-01\n", encoding="utf-8")

    roster = parse_roster(source)

    assert issues(roster) == [("demographics.csv", 4, None)]


def test_every_error_is_reported_not_just_the_first(tmp_path):
    users = base_users()
    users[0]["agentSourcedIds"] = "gdn-404"
    users[2]["email"] = "not-an-email"
    demographics = base_demographics()
    demographics[0]["birthDate"] = "2027-02-30"
    demographics[1]["birthDate"] = "05/06/2011"
    roster = parse_roster(write(tmp_path, users=users, demographics=demographics))

    assert issues(roster) == [
        ("users.csv", 4, "email"),
        ("users.csv", 2, "agentSourcedIds"),
        ("demographics.csv", 2, "birthDate"),
        ("demographics.csv", 3, "birthDate"),
    ]


def test_parse_files_takes_bytes_and_reports_progress(tmp_path):
    users = [user(f"stu-{n}", "student", "Kid", str(n), grades="09") for n in range(2500)]
    files = {
        "orgs.csv": to_csv(["sourcedId", "status", "name", "type", "parentSourcedId"],
                           base_orgs()).encode(),
        "users.csv": to_csv(USERS_HEADER, users).encode(),
        "demographics.csv": to_csv(DEMOGRAPHICS_HEADER, []).encode(),
    }
    steps = []

    roster = parse_files(files, progress=steps.append)

    assert roster.errors == []
    assert len(roster.students) == 2500
    assert sum(steps) == 3 + 2500  # the data rows of orgs.csv and users.csv


def test_a_path_that_is_not_a_roster_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")

    assert issues(parse_roster(tmp_path / "notes.txt")) == [("notes.txt", None, None)]
    assert issues(parse_roster(tmp_path / "missing")) == [("missing", None, None)]
    with pytest.raises(RosterError) as caught:
        read_source(tmp_path / "notes.txt")
    assert "is not a readable .zip file (damaged" in str(caught.value)


def test_issue_text():
    assert str(RosterIssue("users.csv", 4, "email", "bad")) == "users.csv row 4, column email: bad"
    assert str(RosterIssue("users.csv", 1, None, "bad")) == "users.csv row 1: bad"
    assert str(RosterIssue("orgs.csv", None, "type", "bad")) == "orgs.csv column type: bad"
    assert str(RosterIssue("orgs.csv", None, None, "bad")) == "orgs.csv: bad"


GRADE_REASON = ("is not a grade; grades are the OneRoster codes IT, PR, PK, TK, KG, 01, 02, 03, "
                "04, 05, 06, 07, 08, 09, 10, 11, 12, 13, PS, UG, Other (e.g. 09, not 9)")


@pytest.mark.parametrize("grades", ["99", "9", "kg", "09,99", "Grade 9"])
def test_a_grade_no_agreement_can_name_is_refused(tmp_path, grades):
    users = base_users()
    users[0]["grades"] = grades
    roster = parse_roster(write(tmp_path, users=users))

    assert issues(roster) == [("users.csv", 2, "grades")]
    bad = next(g.strip() for g in grades.split(",") if g.strip() != "09")
    assert str(roster.errors[0]) == f"users.csv row 2, column grades: {bad!r} {GRADE_REASON}"
    assert [s.sourced_id for s in roster.students] == ["stu-2"]


@pytest.mark.parametrize("grades", ["KG", "PK", "12", "13", "Other", "UG", ""])
def test_every_oneroster_grade_code_is_accepted(tmp_path, grades):
    users = base_users()
    users[0]["grades"] = grades
    roster = parse_roster(write(tmp_path, users=users))

    assert roster.errors == []
    assert roster.students[0].grade == (grades or None)


def test_the_grades_are_those_agreements_accept():
    from consent.api.schemas import GRADE
    from consent.roster.oneroster import GRADES

    assert GRADE["enum"] == list(GRADES)


@pytest.mark.parametrize(("column", "value"), [
    ("givenName", "Lu\u202eis"), ("familyName", "Ruiz\u2066"), ("sourcedId", "stu-1\u200b"),
    ("email", "ana\u200d@example.org")])
def test_invisible_formatting_characters_are_refused(tmp_path, column, value):
    users = base_users()
    users[0][column] = value
    roster = parse_roster(write(tmp_path, users=users))
    assert ("users.csv", 2, column) in issues(roster)
    assert any("invisible formatting character" in e.reason for e in roster.errors)


def test_a_right_to_left_mark_in_a_name_is_kept(tmp_path):
    users = base_users()
    users[0]["givenName"] = "\u200fسارة"  # a mark right-to-left names may carry
    roster = parse_roster(write(tmp_path, users=users))
    assert roster.errors == []
