"""The plain families CSV: parsed into the same records as OneRoster, imported by the same
importer, through `roster import FILE.csv`."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
import sqlalchemy as sa

from consent.models import Guardian, Organization, Student, StudentGuardian
from consent.roster.cli import roster_cli
from consent.roster.families_csv import FAMILIES_HEADER, parse_families


def row(student="stu-1", given="Ana", family="Lopez", birth="2011-04-05", grade="09",
        school="sch-1", school_name="North High School", guardian="gdn-1", g_given="Maria",
        g_family="Lopez", email="maria@example.org", relationship="parent", **extra):
    values = {"district_id": "d-1", "district_name": "Test Unified", "school_id": school,
              "school_name": school_name, "student_id": student, "student_given_name": given,
              "student_family_name": family, "birth_date": birth, "grade": grade,
              "guardian_id": guardian, "guardian_given_name": g_given,
              "guardian_family_name": g_family, "guardian_email": email,
              "relationship": relationship}
    values.update(extra)
    return values


def families(rows, header=FAMILIES_HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def base_rows():
    return [
        row(),
        row(guardian="gdn-2", g_given="José", g_family="Lopez", email="Jose@Example.org",
            relationship="guardian"),
        row(student="stu-2", given="Seán", family="O'Brien", birth="2017-10-30", grade="03",
            school="sch-2", school_name="South Elementary", guardian="", g_given="",
            g_family="", email="", relationship=""),
    ]


def test_parses_students_guardians_and_links():
    roster = parse_families(families(base_rows()))
    assert roster.errors == []
    assert roster.district.sourced_id == "d-1"
    assert sorted(s.sourced_id for s in roster.schools) == ["sch-1", "sch-2"]
    assert [(s.sourced_id, s.given_name, s.family_name, str(s.birth_date), s.grade)
            for s in roster.students] == [("stu-1", "Ana", "Lopez", "2011-04-05", "09"),
                                          ("stu-2", "Seán", "O'Brien", "2017-10-30", "03")]
    assert {(g.sourced_id, g.email) for g in roster.guardians} == {
        ("gdn-1", "maria@example.org"), ("gdn-2", "jose@example.org")}
    assert sorted((link.student_sourced_id, link.guardian_sourced_id, link.relationship)
                  for link in roster.links) == [("stu-1", "gdn-1", "parent"),
                                                ("stu-1", "gdn-2", "guardian")]


def test_a_byte_order_mark_is_accepted_and_names_become_nfc():
    rows = base_rows()
    rows[0]["student_given_name"] = "Zoe\u0308"  # e + combining diaeresis
    rows[1]["student_given_name"] = "Zo\u00eb"  # the same name, precomposed
    roster = parse_families(codecs.BOM_UTF8 + families(rows))
    assert roster.errors == []
    assert roster.students[0].given_name == "Zo\u00eb"


def test_a_latin1_file_is_refused_naming_the_line():
    data = families(base_rows()).decode("utf-8").encode("latin-1")
    lines = data.split(b"\n")
    at_3, at_4 = lines[2].index(b"\xe9") + 1, lines[3].index(b"\xe1") + 1
    roster = parse_families(data)
    assert [str(e) for e in roster.errors] == [
        f"families.csv row 3: line 3 is not valid UTF-8 (byte 0xE9 at byte {at_3} of the "
        "line); save the file as UTF-8",
        f"families.csv row 4: line 4 is not valid UTF-8 (byte 0xE1 at byte {at_4} of the "
        "line); save the file as UTF-8"]
    assert roster.students == []


@pytest.mark.parametrize("value, fmt, reason", [
    ("2011-02-31", None, "2011-02-31 is not a real date"),
    ("04/05/2011", None, "'04/05/2011' is not a date written YYYY-MM-DD"),
    ("02/31/2011", "%m/%d/%Y", "'02/31/2011' is not a real date in the format %m/%d/%Y"),
])
def test_impossible_or_undeclared_dates_are_refused(value, fmt, reason):
    rows = base_rows()
    if fmt:
        for r in rows:
            r["birth_date"] = "04/05/2011"
    rows[2]["birth_date"] = value
    roster = parse_families(families(rows), date_format=fmt)
    assert [str(e) for e in roster.errors] == [f"families.csv row 4, column birth_date: {reason}"]


def test_a_declared_date_format_is_read():
    rows = base_rows()
    for r in rows:
        r["birth_date"] = "04/05/2011"
    roster = parse_families(families(rows), date_format="%m/%d/%Y")
    assert roster.errors == []
    assert {str(s.birth_date) for s in roster.students} == {"2011-04-05"}


def test_every_refused_row_is_reported_with_row_column_and_reason():
    rows = base_rows()
    rows[1]["student_grade"] = ""
    rows[1]["grade"] = "10"  # disagrees with row 2 for the same student
    rows[2]["relationship"] = "uncle"
    rows[2]["guardian_id"] = "gdn-9"
    rows.append(row(student="stu-3", email="not-an-email", guardian="gdn-3", district_id="d-2"))
    rows.append(row(student="stu-4", given="", family="", guardian="gdn-4", email="x@y.org"))
    roster = parse_families(families(rows))
    assert [str(e) for e in roster.errors] == [
        "families.csv row 3, column grade: differs from row 2 for student stu-1",
        "families.csv row 4, column relationship: 'uncle' is not parent, guardian or relative",
        "families.csv row 5, column district_id: d-2 differs from d-1 on row 2; "
        "a file describes one district",
        "families.csv row 6, column student_given_name: student_given_name and "
        "student_family_name are both empty",
    ]


def test_a_missing_column_is_named():
    header = tuple(c for c in FAMILIES_HEADER if c != "guardian_email")
    roster = parse_families(families(base_rows(), header))
    assert [str(e) for e in roster.errors] == [
        "families.csv row 1, column guardian_email: required column is missing from the header"]


def _count(db, model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_cli_imports_then_reimport_updates_without_duplicating(db, runner, tmp_path):
    path = tmp_path / "families.csv"
    path.write_bytes(families(base_rows()))
    result = runner.invoke(roster_cli, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert (_count(db, Student), _count(db, Guardian), _count(db, StudentGuardian)) == (2, 2, 2)

    rows = base_rows()
    rows[0]["student_family_name"] = rows[1]["student_family_name"] = "López"
    rows[1]["guardian_email"] = "JOSE@example.ORG"  # case only: not a change
    path.write_bytes(families(rows))
    again = runner.invoke(roster_cli, ["import", str(path)])
    assert again.exit_code == 0, again.output
    assert (_count(db, Student), _count(db, Guardian), _count(db, StudentGuardian)) == (2, 2, 2)
    db.session.expire_all()
    ana = db.session.scalar(sa.select(Student).where(Student.sourced_id == "stu-1"))
    assert ana.family_name == "López"
    assert db.session.scalar(sa.select(Guardian.email).where(
        Guardian.sourced_id == "gdn-2")) == "jose@example.org"
    assert "1 updated" in again.output


def test_cli_refuses_a_bad_file_and_writes_nothing(db, runner, tmp_path):
    rows = base_rows()
    rows[2]["birth_date"] = "2011-02-31"
    path = tmp_path / "families.csv"
    path.write_bytes(families(rows))
    result = runner.invoke(roster_cli, ["import", str(path)])
    assert result.exit_code == 1
    assert "families.csv row 4, column birth_date: 2011-02-31 is not a real date" in result.output
    assert "nothing was imported" in result.output
    assert _count(db, Student) == 0 and _count(db, Organization) == 0


def test_cli_date_format_only_for_families(runner, tmp_path):
    (tmp_path / "roster").mkdir()
    result = runner.invoke(roster_cli, ["import", str(tmp_path / "roster"),
                                        "--date-format", "%d.%m.%Y"])
    assert result.exit_code == 2
    assert "applies to a families CSV" in result.output


@pytest.mark.parametrize("grade", ["99", "9", "Grade 3"])
def test_an_unknown_grade_is_refused(grade):
    rows = base_rows()
    rows[2]["grade"] = grade
    roster = parse_families(families(rows))
    assert [str(e) for e in roster.errors] == [
        f"families.csv row 4, column grade: {grade!r} is not a grade; grades are the OneRoster "
        "codes IT, PR, PK, TK, KG, 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 11, 12, 13, PS, UG, "
        "Other (e.g. 09, not 9)"]
    assert [s.sourced_id for s in roster.students] == ["stu-1"]


def test_cli_keeps_the_district_name_on_record_and_says_so(db, runner, tmp_path):
    path = tmp_path / "families.csv"
    path.write_bytes(families(base_rows()))
    assert runner.invoke(roster_cli, ["import", str(path)]).exit_code == 0

    path.write_bytes(families([dict(r, district_name="Riverside") for r in base_rows()]))
    result = runner.invoke(roster_cli, ["import", str(path)])

    assert result.exit_code == 0, result.output
    assert ("Note: families.csv row 2, column district_name: 'Riverside' differs from the "
            "district's name on record, 'Test Unified'; the name on record was kept (an import "
            "does not rename the district)") in result.output
    db.session.expire_all()
    assert db.session.scalar(sa.select(Organization.name).where(
        Organization.sourced_id == "d-1")) == "Test Unified"


def test_cli_refuses_a_second_school_id_for_a_school_name(db, runner, tmp_path):
    path = tmp_path / "families.csv"
    path.write_bytes(families(base_rows()))
    assert runner.invoke(roster_cli, ["import", str(path)]).exit_code == 0
    rows = base_rows()
    rows.append(row(student="stu-3", given="Eva", school="sch-1-north", guardian="gdn-3",
                    email="eva.parent@example.org"))
    path.write_bytes(families(rows))

    result = runner.invoke(roster_cli, ["import", str(path)])

    assert result.exit_code == 1
    assert ("families.csv row 5, column school_id: sch-1-north is not a school on record, but "
            "the school sch-1 on row 2 already has the name 'North High School'; use sch-1 if "
            "it is that school, or give the new school a name of its own") in result.output
    assert "nothing was imported" in result.output
    assert (_count(db, Organization), _count(db, Student)) == (3, 2)


def test_cli_refuses_a_second_guardian_id_with_an_email_in_other_case(db, runner, tmp_path):
    rows = base_rows()
    rows.append(row(student="stu-3", given="Eva", guardian="gdn-3", g_given="Maria",
                    email="MARIA@Example.ORG"))
    path = tmp_path / "families.csv"
    path.write_bytes(families(rows))

    result = runner.invoke(roster_cli, ["import", str(path)])

    assert result.exit_code == 1
    assert ("families.csv row 5, column guardian_id: gdn-3 is not a guardian on record, but "
            "maria@example.org is already the email of guardian gdn-1 on row 2; one email "
            "belongs to one guardian, or signing in by email is ambiguous: use gdn-1 if this is "
            "the same person, otherwise give this guardian another email or none") \
        in result.output
    assert _count(db, Guardian) == 0 and _count(db, Organization) == 0


@pytest.mark.parametrize("fmt", ["%Y", "%m/%Y", "%d/%m/%y", "%B %Y"])
def test_a_date_format_without_day_month_and_year_is_refused_before_any_row(fmt):
    rows = base_rows()
    for r in rows:
        r["birth_date"] = "2015"
    roster = parse_families(families(rows), date_format=fmt)
    assert len(roster.errors) == 1 and roster.students == []
    (error,) = roster.errors
    assert (error.row, error.column) == (None, "birth_date")
    assert f"the date format {fmt!r} must name" in error.reason


@pytest.mark.parametrize("birth, reason", [("1800-01-01", "is before 1900"),
                                           ("2999-01-01", "is in the future")])
def test_a_birth_date_no_student_can_have_is_refused(birth, reason):
    rows = base_rows()
    rows[2]["birth_date"] = birth
    roster = parse_families(families(rows))
    assert [(e.row, e.column) for e in roster.errors] == [(4, "birth_date")]
    assert reason in roster.errors[0].reason
