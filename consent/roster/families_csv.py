"""Parse a plain families CSV (one file, one row per student and guardian) into a `Roster`.

For districts without a OneRoster export. The header (column order is free, extra columns
are ignored) is `FAMILIES_HEADER`:

- `district_id`, `district_name`: the same on every row (a file describes one district);
- `school_id`, `school_name`: the student's school;
- `student_id`, `student_given_name`, `student_family_name`, `birth_date`, `grade`;
- `guardian_id`, `guardian_given_name`, `guardian_family_name`, `guardian_email`,
  `relationship` (`parent`, `guardian` or `relative`; empty means `guardian`).

A student with two guardians takes two rows that repeat the student's columns (they must
agree); a student with no guardian leaves the guardian columns empty. Dates are YYYY-MM-DD, or
the strptime format the caller declares (e.g. `%m/%d/%Y`); an impossible date is refused
either way. Encoding, names and emails are handled exactly as for OneRoster (same parser
helpers), and the result is imported by the same `import_roster`.

Pure: no database, no Flask.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime

from consent.roster.oneroster import (
    GUARDIAN_ROLES,
    DistrictRecord,
    GuardianRecord,
    LinkRecord,
    Progress,
    Roster,
    RosterLayout,
    SchoolRecord,
    StudentRecord,
    _Parser,
)

logger = logging.getLogger(__name__)

FAMILIES = "families.csv"
FAMILIES_HEADER = (
    "district_id", "district_name", "school_id", "school_name", "student_id",
    "student_given_name", "student_family_name", "birth_date", "grade", "guardian_id",
    "guardian_given_name", "guardian_family_name", "guardian_email", "relationship",
)
STUDENT_COLUMNS = ("school_id", "student_given_name", "student_family_name", "birth_date",
                   "grade")
GUARDIAN_COLUMNS = ("guardian_given_name", "guardian_family_name", "guardian_email")


def _same(value: str) -> str:
    """A value as compared between two rows of one person: NFC, outer spaces dropped."""
    return unicodedata.normalize("NFC", value.strip())


def parse_families(data: bytes, *, name: str = FAMILIES, date_format: str | None = None,
                   progress: Progress | None = None, own_district: str | None = None) -> Roster:
    """Parse the bytes of a families CSV; problems end up in the roster's `errors`.

    `date_format` is a strptime format for `birth_date` (default: YYYY-MM-DD only).
    `own_district`, when given, is the only `district_id` a row may name.
    """
    parser = _FamiliesParser(progress, name, date_format)
    parser.own_district = own_district
    return parser.parse_one(data)


def _date_format_problem(date_format: str | None) -> str | None:
    """Why a declared birth date format cannot be used (None: it can). It must name the
    day, the month and the four-digit year: `%Y` alone would read 2015 as 1 January."""
    if date_format is None:
        return None
    missing = [part for part, codes in (("the day (%d)", ("%d",)),
                                        ("the month (%m, %b or %B)", ("%m", "%b", "%B")),
                                        ("the four-digit year (%Y)", ("%Y",)))
               if not any(code in date_format for code in codes)]
    if missing:
        return (f"the date format {date_format!r} must name " + ", ".join(missing)
                + ", e.g. %m/%d/%Y")
    return None


class _FamiliesParser(_Parser):
    def __init__(self, progress: Progress | None, name: str, date_format: str | None):
        super().__init__(progress)
        self.name, self.date_format = name, date_format
        self.required_columns: Mapping[str, tuple[str, ...]] = {name: FAMILIES_HEADER}

    def parse_one(self, data: bytes) -> Roster:
        format_problem = _date_format_problem(self.date_format)
        if format_problem:
            self.error(self.name, None, "birth_date", format_problem)
        rows = self._rows(self.name, data) if not format_problem else None
        if rows is not None:
            self._parse(rows)
        self.roster.errors = self.errors
        self.roster.layout = RosterLayout(
            orgs=self.name, users=self.name, district_id="district_id",
            district_name="district_name",
            school_id="school_id", school_name="school_name", guardian_id="guardian_id",
            guardian_email="guardian_email")
        logger.info("families file parsed: %d students, %d guardians, %d errors",
                    len(self.roster.students), len(self.roster.guardians), len(self.errors))
        return self.roster

    def _date(self, file: str, row: int, column: str, value: str) -> tuple[bool, date | None]:
        if self.date_format is None:
            return super()._date(file, row, column, value)
        value = value.strip()
        if not value:
            return True, None
        try:
            return True, datetime.strptime(value, self.date_format).date()
        except ValueError:
            self.error(file, row, column,
                       f"{value!r} is not a real date in the format {self.date_format}")
            return False, None

    def _parse(self, rows) -> None:
        file = self.name
        district: DistrictRecord | None = None
        schools: dict[str, SchoolRecord] = {}
        students: dict[str, tuple[StudentRecord, dict[str, str]]] = {}
        guardians: dict[str, tuple[GuardianRecord, dict[str, str]]] = {}
        links: dict[tuple[str, str], str] = {}
        for row, rec in rows:
            district_id = self._id(file, row, "district_id", rec["district_id"])
            if district_id is None or self.not_own_district(file, row, "district_id", district_id):
                continue
            if district is None:
                name = self._org_name(row, "district_name", rec["district_name"])
                if name is None:
                    continue
                district = DistrictRecord(district_id, name, row)
            elif district_id != district.sourced_id:
                self.error(file, row, "district_id",
                           f"{district_id} differs from {district.sourced_id} on row "
                           f"{district.row}; a file describes one district")
                continue
            school = self._school(row, rec, schools)
            student = self._student_row(row, rec, school, students)
            guardian = self._guardian_row(row, rec, guardians)
            if student and guardian:
                links.setdefault((student.sourced_id, guardian.sourced_id), guardian.relationship)
        if district is None:
            if not self.errors:
                self.error(file, None, None, "has no rows")
            return
        self.roster.district = district
        self.roster.schools = list(schools.values())
        self.roster.students = [s for s, _ in students.values()]
        self.roster.guardians = [g for g, _ in guardians.values()]
        self.roster.links = [LinkRecord(s, g, kind) for (s, g), kind in links.items()]

    def _org_name(self, row: int, column: str, value: str) -> str | None:
        name = unicodedata.normalize("NFC", value)
        if not name.strip():
            self.error(self.name, row, column, "is required")
            return None
        return name if self._text_ok(self.name, row, column, name, 200) else None

    def _school(self, row: int, rec: dict[str, str], schools: dict) -> SchoolRecord | None:
        school_id = self._id(self.name, row, "school_id", rec["school_id"])
        if school_id is None:
            return None
        if school_id not in schools:
            name = self._org_name(row, "school_name", rec["school_name"])
            if name is None:
                return None
            schools[school_id] = SchoolRecord(school_id, name, row)
        return schools[school_id]

    def _student_row(self, row: int, rec: dict[str, str], school: SchoolRecord | None,
                     students: dict) -> StudentRecord | None:
        file = self.name
        sourced_id = self._id(file, row, "student_id", rec["student_id"])
        if sourced_id is None:
            return None
        if sourced_id in students:
            first, first_rec = students[sourced_id]
            # Repeated student columns must agree, or the file says two things at once.
            for column in STUDENT_COLUMNS:
                if _same(rec[column]) != _same(first_rec[column]):
                    self.error(file, row, column,
                               f"differs from row {first.row} for student {sourced_id}")
                    return None
            return first
        names = self._names(file, row, rec, "student_given_name", "student_family_name")
        ok, birth_date = self._date(file, row, "birth_date", rec["birth_date"])
        if ok and birth_date:
            ok = self.birth_date_ok(file, row, "birth_date", birth_date)
        grade = rec["grade"].strip() or None
        if grade is not None and not self._grades_ok(file, row, "grade", [grade]):
            ok = False
        if not (names and ok and school):
            return None
        record = StudentRecord(sourced_id=sourced_id, given_name=names[0],
                               family_name=names[1], birth_date=birth_date, grade=grade,
                               school_sourced_id=school.sourced_id, email=None, row=row)
        students[sourced_id] = (record, rec)
        return record

    def _guardian_row(self, row: int, rec: dict[str, str],
                      guardians: dict) -> GuardianRecord | None:
        file = self.name
        if not any(rec[c].strip() for c in ("guardian_id", *GUARDIAN_COLUMNS)):
            return None  # a student listed without a guardian
        sourced_id = self._id(file, row, "guardian_id", rec["guardian_id"])
        if sourced_id is None:
            return None
        relationship = rec["relationship"].strip().lower() or "guardian"
        if relationship not in GUARDIAN_ROLES:
            self.error(file, row, "relationship",
                       f"{rec['relationship']!r} is not parent, guardian or relative")
            return None
        if sourced_id in guardians:
            first, first_rec = guardians[sourced_id]
            for column in GUARDIAN_COLUMNS:
                if _same(rec[column]).lower() != _same(first_rec[column]).lower():
                    self.error(file, row, column,
                               f"differs from row {first.row} for guardian {sourced_id}")
                    return None
            return GuardianRecord(first.sourced_id, first.given_name, first.family_name,
                                  first.email, relationship, first.row)
        names = self._names(file, row, rec, "guardian_given_name", "guardian_family_name")
        email_ok, email = self._email(file, row, rec["guardian_email"], "guardian_email")
        if not (names and email_ok):
            return None
        record = GuardianRecord(sourced_id=sourced_id, given_name=names[0],
                                family_name=names[1], email=email, relationship=relationship,
                                row=row)
        guardians[sourced_id] = (record, rec)
        return record
