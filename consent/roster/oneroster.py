"""Parse a OneRoster 1.1 CSV roster (orgs, users, demographics) into plain records.

Pure: no database, no Flask, no clock. Writing the records is `consent.roster.importer`'s job;
anything that needs the models belongs there. The parser reads everything and collects every
problem as a `RosterIssue`, so a district fixes its export once rather than once per error.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from consent.timeutil import FIRST_YEAR
from consent.untrusted_text import has_forbidden

logger = logging.getLogger(__name__)

ORGS, USERS, DEMOGRAPHICS = "orgs.csv", "users.csv", "demographics.csv"
FILES = (ORGS, USERS, DEMOGRAPHICS)

# Only the columns the parser reads are required; OneRoster files carry more (ignored).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    ORGS: ("sourcedId", "status", "name", "type", "parentSourcedId"),
    USERS: ("sourcedId", "status", "orgSourcedIds", "role", "givenName", "familyName", "email",
            "agentSourcedIds", "grades"),
    DEMOGRAPHICS: ("sourcedId", "status", "birthDate"),
}
GUARDIAN_ROLES = frozenset({"parent", "guardian", "relative"})
STUDENT_ROLE = "student"
KNOWN_STATUSES = frozenset({"", "active", "inactive", "tobedeleted"})
# The OneRoster 1.1 grade codes: the only grades an agreement's population can name
# (consent.api.schemas.GRADE), so a student in any other grade could never be covered.
GRADES = ("IT", "PR", "PK", "TK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09",
          "10", "11", "12", "13", "PS", "UG", "Other")

# Widths of the columns the importer writes to; checked here so that a long value is reported
# with its row instead of failing the whole transaction on PostgreSQL (SQLite would keep it).
MAX_ID, MAX_NAME, MAX_EMAIL = 128, 200, 254  # grade codes are at most 5 characters
# A roster of 100,000 students is tens of megabytes; this only stops a zip bomb.
MAX_FILE_BYTES = 1 << 30
MAX_ENCODING_ISSUES = 10  # per file: one cause, so a few lines are enough to find it
PROGRESS_EVERY = 1000

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

Progress = Callable[[int], object]


@dataclass(frozen=True, slots=True)
class RosterIssue:
    """One problem in a roster file. `row` counts the header as row 1; None for the whole file."""

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f", column {self.column}" if self.row is not None else f" column {self.column}"
        return f"{where}: {self.reason}"


class RosterError(Exception):
    """A roster that cannot be imported; `errors` lists every problem found."""

    def __init__(self, errors: list[RosterIssue]):
        self.errors = list(errors)
        first = f": {self.errors[0]}" if self.errors else ""
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"the roster has {len(self.errors)} error(s){first}{more}")


@dataclass(frozen=True, slots=True)
class DistrictRecord:
    sourced_id: str
    name: str
    row: int


@dataclass(frozen=True, slots=True)
class SchoolRecord:
    sourced_id: str
    name: str
    row: int


@dataclass(slots=True)
class StudentRecord:
    sourced_id: str
    given_name: str
    family_name: str
    birth_date: date | None
    grade: str | None
    school_sourced_id: str
    email: str | None
    row: int


@dataclass(frozen=True, slots=True)
class GuardianRecord:
    sourced_id: str
    given_name: str
    family_name: str
    email: str | None
    relationship: str  # the OneRoster role: parent, guardian or relative
    row: int


@dataclass(frozen=True, slots=True)
class LinkRecord:
    student_sourced_id: str
    guardian_sourced_id: str
    relationship: str


@dataclass(frozen=True, slots=True)
class RosterLayout:
    """The file and columns each kind of record came from, so that a refusal by the importer
    names them as the district wrote them."""

    orgs: str = ORGS  # the file of the district and its schools
    users: str = USERS  # the file of students and guardians
    district_id: str = "sourcedId"
    district_name: str = "name"
    school_id: str = "sourcedId"
    school_name: str = "name"
    guardian_id: str = "sourcedId"
    guardian_email: str = "email"


@dataclass
class Roster:
    """A parsed roster. Import it only when `errors` is empty."""

    district: DistrictRecord | None = None
    schools: list[SchoolRecord] = field(default_factory=list)
    students: list[StudentRecord] = field(default_factory=list)
    guardians: list[GuardianRecord] = field(default_factory=list)
    links: list[LinkRecord] = field(default_factory=list)
    errors: list[RosterIssue] = field(default_factory=list)
    layout: RosterLayout = field(default_factory=RosterLayout)

    @property
    def is_valid(self) -> bool:
        """True when the roster has no errors."""
        return not self.errors


def parse_roster(source: str | os.PathLike, *, progress: Progress | None = None) -> Roster:
    """Parse the roster at `source` (a .zip file or a directory); problems end up in `errors`."""
    try:
        files = read_source(source)
    except RosterError as exc:
        return Roster(errors=exc.errors)
    return parse_files(files, progress=progress)


def read_source(source: str | os.PathLike) -> dict[str, bytes]:
    """Read the raw bytes of orgs.csv, users.csv and demographics.csv from a .zip or a directory.

    Files that are absent are left out; `parse_files` reports them.

    :raises RosterError: `source` is neither a directory nor a readable zip file.
    """
    path = Path(source)
    name = path.name or str(path)
    if path.is_dir():
        return _read_directory(path)
    if not path.is_file():
        raise RosterError([RosterIssue(name, None, None, "no such file or directory")])
    if not zipfile.is_zipfile(path):
        raise RosterError([RosterIssue(name, None, None, "is not a readable .zip file (damaged, "
                                                         "or another kind of file), nor a folder")])
    try:
        return _read_zip(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise RosterError([RosterIssue(name, None, None, f"cannot read the zip file: {exc}")]) \
            from exc


def _read_directory(path: Path) -> dict[str, bytes]:
    # Match names without regard to case: exports from Windows tools write "Users.csv".
    found: dict[str, bytes] = {}
    for entry in sorted(path.iterdir()):
        wanted = entry.name.lower()
        if wanted in FILES and entry.is_file() and wanted not in found:
            found[wanted] = entry.read_bytes()
    return found


def _read_zip(path: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    issues: list[RosterIssue] = []
    with zipfile.ZipFile(path) as archive:
        # Files at the top level win over copies in folders (some tools add a folder).
        members = sorted(
            (m for m in archive.infolist() if not m.is_dir() and "__MACOSX" not in m.filename),
            key=lambda m: m.filename.count("/"),
        )
        for member in members:
            wanted = member.filename.rsplit("/", 1)[-1].lower()
            if wanted not in FILES or wanted in found:
                continue
            if member.file_size > MAX_FILE_BYTES:
                issues.append(RosterIssue(wanted, None, None, "is larger than 1 GiB"))
                continue
            found[wanted] = archive.read(member)
    if issues:
        raise RosterError(issues)
    return found


def parse_files(files: Mapping[str, bytes], *, progress: Progress | None = None,
                own_district: str | None = None) -> Roster:
    """Parse roster files given as {"orgs.csv": bytes, ...}; problems end up in `errors`.

    `progress(n)` is called now and then with the number of rows read since the last call.
    `own_district`, when given, is the only district sourcedId the roster may name.
    """
    parser = _Parser(progress)
    parser.own_district = own_district
    return parser.parse(files)


class _Parser:
    required_columns: Mapping[str, tuple[str, ...]] = REQUIRED_COLUMNS

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.errors: list[RosterIssue] = []
        # Every sourcedId seen, so that a reference to a row that merely had an error is not
        # also reported as unknown (one mistake, one message).
        self.org_kinds: dict[str, str] = {}
        self.org_rows: dict[str, int] = {}
        self.deleted_orgs: set[str] = set()
        self.user_roles: dict[str, str] = {}
        self.user_rows: dict[str, int] = {}
        self.deleted_users: set[str] = set()
        self.agents: list[tuple[str, str, int, list[str]]] = []  # (role, sourcedId, row, ids)
        self.roster = Roster()
        self.own_district: str | None = None  # when set, the only district a roster may name

    def not_own_district(self, file: str, row: int, column: str, district_id: str) -> bool:
        """Report `district_id` when it is not the uploader's own district."""
        if self.own_district is None or district_id == self.own_district:
            return False
        self.error(file, row, column, f"{district_id} is not your district "
                   f"{self.own_district}; an upload may only change its own district")
        return True

    def error(self, file: str, row: int | None, column: str | None, reason: str) -> None:
        self.errors.append(RosterIssue(file, row, column, reason))

    def parse(self, files: Mapping[str, bytes]) -> Roster:
        orgs_ok = self._parse_orgs(files.get(ORGS))
        users_ok = self._parse_users(files.get(USERS), orgs_ok)
        if users_ok:
            self._resolve_links()
        self._parse_demographics(files.get(DEMOGRAPHICS), users_ok)
        self.roster.errors = self.errors
        logger.info(
            "roster parsed: %d schools, %d students, %d guardians, %d links, %d errors",
            len(self.roster.schools), len(self.roster.students), len(self.roster.guardians),
            len(self.roster.links), len(self.errors),
        )
        return self.roster

    # -- reading -----------------------------------------------------------------------------

    def _rows(self, name: str, data: bytes | None) -> Iterator[tuple[int, dict[str, str]]] | None:
        """The data rows of one file as (row number, {column: value}); None if unreadable."""
        if data is None:
            self.error(name, None, None, "is missing from the roster")
            return None
        text = self._decode(name, data)
        if text is None:
            return None
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            self.error(name, 1, None, f"the header cannot be read as CSV: {exc}")
            return None
        if not header or not any(h.strip() for h in header):
            self.error(name, 1, None, "has no header row")
            return None
        header = [h.strip() for h in header]
        duplicates = sorted({h for h in header if h and header.count(h) > 1})
        for column in duplicates:
            self.error(name, 1, column, "appears more than once in the header")
        missing = [c for c in self.required_columns[name] if c not in header]
        for column in missing:
            self.error(name, 1, column, "required column is missing from the header")
        if missing or duplicates:
            return None
        return self._records(name, reader, header)

    def _records(self, name: str, reader, header: list[str]) -> Iterator[tuple[int, dict]]:
        row, pending = 1, 0
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                # The reader cannot resynchronise after broken quoting: stop this file here.
                self.error(name, row + 1, None, f"cannot be read as CSV: {exc}")
                break
            row += 1
            pending += 1
            if self.progress and pending >= PROGRESS_EVERY:
                self.progress(pending)
                pending = 0
            if not values or values == [""]:
                continue  # a blank line
            if len(values) != len(header):
                self.error(name, row, None,
                           f"has {len(values)} values but the header has {len(header)} columns")
                continue
            yield row, dict(zip(header, values, strict=True))
        if self.progress and pending:
            self.progress(pending)

    def _decode(self, name: str, data: bytes) -> str | None:
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            self.error(name, 1, None, "is UTF-16; save it as UTF-8 (with or without a BOM)")
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        # Name the lines at fault so the district can find them; never guess another encoding,
        # which would store names garbled.
        bad = 0
        for number, line in enumerate(data.split(b"\n"), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad += 1
                if bad <= MAX_ENCODING_ISSUES:
                    byte = line[exc.start]
                    self.error(name, number, None,
                               f"line {number} is not valid UTF-8 (byte 0x{byte:02X} at "
                               f"byte {exc.start + 1} of the line); save the file as UTF-8")
        if bad > MAX_ENCODING_ISSUES:
            self.error(name, None, None,
                       f"{bad - MAX_ENCODING_ISSUES} more lines are not valid UTF-8")
        return None

    # -- values ------------------------------------------------------------------------------

    def _id(self, file: str, row: int, column: str, value: str) -> str | None:
        value = value.strip()
        if not value:
            self.error(file, row, column, "is required")
            return None
        return value if self._text_ok(file, row, column, value, MAX_ID, invisible=True) else None

    def _names(self, file: str, row: int, rec: dict[str, str], given_column: str = "givenName",
               family_column: str = "familyName") -> tuple[str, str] | None:
        # NFC so that a name typed with combining accents matches the precomposed one;
        # otherwise kept exactly as the district wrote it.
        given = unicodedata.normalize("NFC", rec[given_column])
        family = unicodedata.normalize("NFC", rec[family_column])
        ok = True
        if not given.strip() and not family.strip():
            # One of the two may be empty: some people have a single name.
            self.error(file, row, given_column,
                       f"{given_column} and {family_column} are both empty")
            ok = False
        for column, value in ((given_column, given), (family_column, family)):
            if not self._text_ok(file, row, column, value, MAX_NAME):
                ok = False
        return (given, family) if ok else None

    def _text_ok(self, file: str, row: int, column: str, value: str, limit: int,
                 invisible: bool = False) -> bool:
        """Length and characters; `invisible` also refuses every invisible format
        character (a zero-width space makes an id look like another one)."""
        if len(value) > limit:
            self.error(file, row, column, f"is longer than {limit} characters")
            return False
        # A NUL or other control character means the file was mangled (often a UTF-16 export
        # that happens to decode), not that someone has that name.
        if any(unicodedata.category(c) == "Cc" for c in value):
            self.error(file, row, column, "contains a control character")
            return False
        # Direction overrides reorder how the rest of a line displays (in emails, pages
        # and the consent history); names in right-to-left scripts do not need them.
        if has_forbidden(value) or (invisible and any(
                unicodedata.category(c) == "Cf" for c in value)):
            self.error(file, row, column, "contains an invisible formatting character "
                       "(such as a text-direction override or a zero-width space)")
            return False
        return True

    def _email(self, file: str, row: int, value: str,
               column: str = "email") -> tuple[bool, str | None]:
        """(ok, address): addresses are lower-cased so that they match without regard to case."""
        value = unicodedata.normalize("NFC", value.strip()).lower()
        if not value:
            return True, None
        if not self._text_ok(file, row, column, value, MAX_EMAIL, invisible=True):
            return False, None
        if not _EMAIL.fullmatch(value):
            self.error(file, row, column, f"{value!r} is not an email address")
            return False, None
        return True, value

    def _date(self, file: str, row: int, column: str, value: str) -> tuple[bool, date | None]:
        value = value.strip()
        if not value:
            return True, None
        # date.fromisoformat also takes 20270230 and week dates; the format is YYYY-MM-DD only.
        if not _DATE.fullmatch(value):
            self.error(file, row, column, f"{value!r} is not a date written YYYY-MM-DD")
            return False, None
        try:
            return True, date(int(value[:4]), int(value[5:7]), int(value[8:]))
        except ValueError:
            self.error(file, row, column, f"{value} is not a real date")
            return False, None

    def birth_date_ok(self, file: str, row: int, column: str, birth_date: date) -> bool:
        """Report a birth date in the future or before FIRST_YEAR (a typo, or a format
        read wrongly): either would make a child an adult, or an adult a child."""
        if birth_date > date.today():
            self.error(file, row, column, f"{birth_date} is in the future")
            return False
        if birth_date.year < FIRST_YEAR:
            self.error(file, row, column, f"{birth_date} is before {FIRST_YEAR}: not a "
                       "student's birth date")
            return False
        return True

    def _grades_ok(self, file: str, row: int, column: str, grades: list[str]) -> bool:
        """Report each grade that is not a OneRoster grade code."""
        ok = True
        for grade in grades:
            if grade not in GRADES:
                self.error(file, row, column, f"{grade!r} is not a grade; grades are the "
                           f"OneRoster codes {', '.join(GRADES)} (e.g. 09, not 9)")
                ok = False
        return ok

    def _status(self, file: str, row: int, rec: dict[str, str]) -> str | None:
        status = rec["status"].strip().lower()
        if status not in KNOWN_STATUSES:
            self.error(file, row, "status",
                       f"{rec['status']!r} is not a status (active or tobedeleted)")
            return None
        return status

    @staticmethod
    def _id_list(value: str) -> list[str]:
        return list(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))

    # -- orgs.csv ----------------------------------------------------------------------------

    def _parse_orgs(self, data: bytes | None) -> bool:
        rows = self._rows(ORGS, data)
        if rows is None:
            return False
        districts: list[DistrictRecord] = []
        schools: list[tuple[SchoolRecord, str]] = []
        for row, rec in rows:
            status = self._status(ORGS, row, rec)
            sourced_id = self._id(ORGS, row, "sourcedId", rec["sourcedId"])
            if sourced_id is None:
                continue
            if sourced_id in self.org_rows or sourced_id in self.deleted_orgs:
                first = self.org_rows.get(sourced_id)
                self.error(ORGS, row, "sourcedId", f"{sourced_id} appears twice"
                           + (f" (first on row {first})" if first else ""))
                continue
            if status == "tobedeleted":
                self.deleted_orgs.add(sourced_id)
                continue
            kind = rec["type"].strip().lower()
            self.org_rows[sourced_id] = row
            self.org_kinds[sourced_id] = kind
            if kind not in ("district", "school"):
                continue  # departments, local and state bodies: not part of this model
            name = unicodedata.normalize("NFC", rec["name"])
            if not name.strip():
                self.error(ORGS, row, "name", "is required")
                continue
            if not self._text_ok(ORGS, row, "name", name, MAX_NAME):
                continue
            if status is None:
                continue
            if kind == "district":
                if self.not_own_district(ORGS, row, "sourcedId", sourced_id):
                    continue
                districts.append(DistrictRecord(sourced_id, name, row))
            else:
                schools.append((SchoolRecord(sourced_id, name, row),
                                rec["parentSourcedId"].strip()))
        if not districts:
            if "district" not in self.org_kinds.values():
                self.error(ORGS, None, "type", "no org has type district; a roster needs one")
            return False
        district = districts[0]
        for extra in districts[1:]:
            self.error(ORGS, extra.row, "type",
                       f"a second district (the first is on row {district.row}); "
                       "a roster describes one district")
        self.roster.district = district
        for school, parent in schools:
            if parent and parent != district.sourced_id:
                reason = (f"{parent} is not in orgs.csv" if parent not in self.org_kinds
                          else f"{parent} is not the district {district.sourced_id}")
                self.error(ORGS, school.row, "parentSourcedId", reason)
                continue
            self.roster.schools.append(school)
        return True

    # -- users.csv ---------------------------------------------------------------------------

    def _parse_users(self, data: bytes | None, orgs_ok: bool) -> bool:
        rows = self._rows(USERS, data)
        if rows is None:
            return False
        for row, rec in rows:
            status = self._status(USERS, row, rec)
            sourced_id = self._id(USERS, row, "sourcedId", rec["sourcedId"])
            if sourced_id is None:
                continue
            if sourced_id in self.user_rows or sourced_id in self.deleted_users:
                first = self.user_rows.get(sourced_id)
                self.error(USERS, row, "sourcedId", f"{sourced_id} appears twice"
                           + (f" (first on row {first})" if first else ""))
                continue
            if status == "tobedeleted":
                self.deleted_users.add(sourced_id)
                continue
            role = rec["role"].strip().lower()
            self.user_rows[sourced_id] = row
            self.user_roles[sourced_id] = role
            if role == STUDENT_ROLE:
                self._student(row, sourced_id, rec, orgs_ok, status is not None)
            elif role in GUARDIAN_ROLES:
                self._guardian(row, sourced_id, role, rec, status is not None)
            elif not role:
                self.error(USERS, row, "role", "is required")
            # Teachers, aides and administrators are not part of a family roster.
        return True

    def _student(self, row: int, sourced_id: str, rec: dict[str, str], orgs_ok: bool,
                 ok: bool) -> None:
        names = self._names(USERS, row, rec)
        email_ok, email = self._email(USERS, row, rec["email"])
        grades = self._id_list(rec["grades"])
        grade = grades[0] if grades else None
        if not self._grades_ok(USERS, row, "grades", grades):
            ok = False
        school = self._school_of(row, rec["orgSourcedIds"]) if orgs_ok else None
        self.agents.append((STUDENT_ROLE, sourced_id, row, self._id_list(rec["agentSourcedIds"])))
        if ok and names and email_ok and school:
            self.roster.students.append(StudentRecord(
                sourced_id=sourced_id, given_name=names[0], family_name=names[1],
                birth_date=None, grade=grade, school_sourced_id=school, email=email, row=row))

    def _school_of(self, row: int, value: str) -> str | None:
        schools, ok = [], True
        for org in self._id_list(value):
            if org in self.deleted_orgs:
                self.error(USERS, row, "orgSourcedIds", f"org {org} is marked tobedeleted")
                ok = False
            elif org not in self.org_kinds:
                self.error(USERS, row, "orgSourcedIds", f"org {org} is not in orgs.csv")
                ok = False
            elif self.org_kinds[org] == "school":
                schools.append(org)
        if ok and not schools:
            self.error(USERS, row, "orgSourcedIds", "names no school for this student")
        # The first school listed is the student's school (OneRoster lists the primary first).
        return schools[0] if ok and schools else None

    def _guardian(self, row: int, sourced_id: str, role: str, rec: dict[str, str],
                  ok: bool) -> None:
        names = self._names(USERS, row, rec)
        email_ok, email = self._email(USERS, row, rec["email"])
        self.agents.append((role, sourced_id, row, self._id_list(rec["agentSourcedIds"])))
        if ok and names and email_ok:
            self.roster.guardians.append(GuardianRecord(
                sourced_id=sourced_id, given_name=names[0], family_name=names[1], email=email,
                relationship=role, row=row))

    def _resolve_links(self) -> None:
        # Either side may declare a link; the union counts, each pair once.
        pairs: dict[tuple[str, str], str] = {}
        dropped = 0
        for role, sourced_id, row, agents in self.agents:
            student_side = role == STUDENT_ROLE
            for agent in agents:
                other = self.user_roles.get(agent)
                if agent in self.deleted_users:
                    dropped += 1  # the other person left; their own row was skipped
                    continue
                if other is None:
                    self.error(USERS, row, "agentSourcedIds", f"{agent} is not in users.csv")
                    continue
                if student_side and other not in GUARDIAN_ROLES:
                    self.error(USERS, row, "agentSourcedIds",
                               f"{agent} is a {other or 'user without a role'}, "
                               "not a parent, guardian or relative")
                    continue
                if not student_side and other != STUDENT_ROLE:
                    self.error(USERS, row, "agentSourcedIds",
                               f"{agent} is a {other or 'user without a role'}, not a student")
                    continue
                pair = (sourced_id, agent) if student_side else (agent, sourced_id)
                pairs.setdefault(pair, role if not student_side else other)
        self.roster.links = [LinkRecord(s, g, kind) for (s, g), kind in pairs.items()]
        if dropped:
            logger.info("roster: %d links to users marked tobedeleted were left out", dropped)

    # -- demographics.csv --------------------------------------------------------------------

    def _parse_demographics(self, data: bytes | None, users_ok: bool) -> None:
        rows = self._rows(DEMOGRAPHICS, data)
        if rows is None:
            return
        students = {s.sourced_id: s for s in self.roster.students}
        seen: dict[str, int] = {}
        for row, rec in rows:
            status = self._status(DEMOGRAPHICS, row, rec)
            sourced_id = self._id(DEMOGRAPHICS, row, "sourcedId", rec["sourcedId"])
            if sourced_id is None:
                continue
            if sourced_id in seen:
                self.error(DEMOGRAPHICS, row, "sourcedId",
                           f"{sourced_id} appears twice (first on row {seen[sourced_id]})")
                continue
            seen[sourced_id] = row
            if status == "tobedeleted":
                continue
            ok, birth_date = self._date(DEMOGRAPHICS, row, "birthDate", rec["birthDate"])
            if ok and birth_date:
                ok = self.birth_date_ok(DEMOGRAPHICS, row, "birthDate", birth_date)
            if not users_ok or sourced_id in self.deleted_users:
                continue
            if sourced_id not in self.user_roles:
                self.error(DEMOGRAPHICS, row, "sourcedId", f"{sourced_id} is not in users.csv")
                continue
            if ok and sourced_id in students:
                students[sourced_id].birth_date = birth_date
