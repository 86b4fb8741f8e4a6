"""Write a parsed roster into the database: the district, its schools, students, guardians and
the links between them.

A service: it flushes and never commits; the CLI command (or other caller) commits once. No CSV
handling here; that is `consent.roster.oneroster`. Built for rosters of 100,000 students: keys
are loaded in bulk and rows are written with executemany, never one query per row.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consent.access import grant_windows
from consent.models import (
    Guardian,
    Organization,
    OrgKind,
    RulesChange,
    Student,
    StudentGuardian,
)
from consent.models.organizations import SLUG_MAX
from consent.roster.oneroster import (
    ORGS,
    Roster,
    RosterError,
    RosterIssue,
    RosterLayout,
    SchoolRecord,
)
from consent.timeutil import utcnow

logger = logging.getLogger(__name__)

KINDS = ("district", "school", "student", "guardian", "link")
# Keys per `IN (...)`: well under SQLite's and PostgreSQL's limits on bound parameters.
KEY_CHUNK = 500
SCAN_ABOVE = 2_000  # keys; beyond this, read the table once instead of chunked IN lists
NO_ROSTER_ID = "\0"  # prefixes the slug of a stored school without a sourcedId (no id has it)


@dataclass
class KindCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    """How many rows of each kind the import created, updated or left unchanged."""

    counts: dict[str, KindCounts] = field(
        default_factory=lambda: {kind: KindCounts() for kind in KINDS})
    # What the import did or declined to do beyond the counts (a district name kept, a school
    # renamed), so that no organization changes without the district being told.
    notices: list[RosterIssue] = field(default_factory=list)

    def created(self, kind: str) -> int:
        """Rows of `kind` created."""
        return self.counts[kind].created

    def updated(self, kind: str) -> int:
        """Rows of `kind` updated."""
        return self.counts[kind].updated

    def lines(self) -> list[str]:
        """One human-readable line per kind."""
        return [f"{kind + 's:':<11}{c.created:>7} created, {c.updated:>7} updated, "
                f"{c.unchanged:>7} unchanged" for kind, c in self.counts.items()]


def import_roster(roster: Roster, *, session: Session) -> ImportReport:
    """Create or update the roster's organizations, students, guardians and links; flush only.

    Records are matched on their OneRoster sourcedId, so importing again updates rather than
    duplicates. Existing links keep their `has_educational_rights` flag; nothing is deleted.
    An existing district keeps its name (a different name in the file becomes a notice in the
    report); a school's new name is taken and reported.

    :raises RosterError: nothing is written: the roster has errors, a sourcedId already
        belongs to an organization of another kind, a new school would share its name with
        another school of the district, or a guardian would share an email (in any case)
        with another guardian.
    """
    if roster.errors:
        raise RosterError(roster.errors)
    if roster.district is None:
        raise RosterError([RosterIssue(ORGS, None, "type", "the roster has no district")])
    session.flush()  # the bulk statements below bypass the unit of work
    report = ImportReport()
    # Every check that reads the database runs before the first write, so that a refusal
    # leaves the session as it found it.
    existing = _existing_orgs(session, roster)
    problems = _school_name_clashes(session, roster, existing)
    problems += _guardian_email_clashes(session, roster)
    if problems:
        raise RosterError(sorted(problems, key=lambda issue: (issue.file, issue.row or 0)))
    school_ids = _upsert_orgs(session, roster, existing, report)
    student_ids = _upsert_students(session, roster, school_ids, report.counts["student"])
    guardian_ids = _upsert_guardians(session, roster, report.counts["guardian"])
    _upsert_links(session, roster, student_ids, guardian_ids, report.counts["link"])
    students = report.counts["student"]
    if students.created or students.updated:
        # Schools, grades and birth dates decide who agreements cover: every
        # recipient's rules may change.
        session.add(RulesChange(at=utcnow(), recipient_id=None, subject_type="roster",
                                subject_id=0, reason="roster_imported"))
    session.flush()
    # Objects loaded before the import may hold stale collections (guardian_links, ...).
    session.expire_all()
    logger.info("roster imported: %s", "; ".join(
        f"{kind} +{c.created} ~{c.updated}" for kind, c in report.counts.items()))
    return report


def _chunks(items: list, size: int = KEY_CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _load(session: Session, columns: Sequence, key, keys: list) -> list:
    """Rows of `columns` whose `key` is in `keys` (`key` must be one of `columns`)."""
    statement = sa.select(*columns)
    if len(keys) > SCAN_ABOVE:
        # For a whole district, one pass over the table beats hundreds of IN lists, and does not
        # depend on the planner: right after a large import PostgreSQL's statistics still
        # describe an empty table and it matches each IN list with a sequential scan.
        wanted = set(keys)
        position = [c.key for c in columns].index(key.key)
        result = session.execute(statement.execution_options(yield_per=10_000))
        return [row for row in result if row[position] in wanted]
    rows = []
    for chunk in _chunks(keys):
        rows.extend(session.execute(statement.where(key.in_(chunk))).all())
    return rows


def _update_many(session: Session, table: sa.Table, keys: tuple[str, ...],
                 rows: list[dict]) -> None:
    """One executemany UPDATE of `table`, matching rows on the `keys` columns."""
    # Bind names must differ from column names in an UPDATE's SET clause, hence the prefix.
    columns = [c for c in rows[0] if c not in keys]
    statement = (
        sa.update(table)
        .where(*(table.c[k] == sa.bindparam(f"b_{k}") for k in keys))
        .values({c: sa.bindparam(f"b_{c}") for c in columns})
    )
    session.execute(statement, [{f"b_{c}": v for c, v in row.items()} for row in rows])


# -- organizations -----------------------------------------------------------------------------

def _slugify(name: str, fallback: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    # Leave room for a "-NN" suffix that makes the slug unique.
    return slug[:SLUG_MAX - 6].rstrip("-") or fallback


def _unique_slug(name: str, fallback: str, taken: set[str]) -> str:
    base = _slugify(name, fallback)
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _existing_orgs(session: Session, roster: Roster) -> dict[str, Organization]:
    """The stored organizations the roster's district and schools name, by sourcedId.

    :raises RosterError: a sourcedId belongs to an organization of another kind.
    """
    wanted = [(roster.district, OrgKind.DISTRICT.value, roster.layout.district_id)]
    wanted += [(school, OrgKind.SCHOOL.value, roster.layout.school_id)
               for school in roster.schools]
    existing: dict[str, Organization] = {}
    for chunk in _chunks([record.sourced_id for record, _, _ in wanted]):
        existing.update((org.sourced_id, org) for org in session.scalars(
            sa.select(Organization).where(Organization.sourced_id.in_(chunk))))
    clashes = [RosterIssue(roster.layout.orgs, record.row, column,
                           f"{record.sourced_id} already belongs to the {org.kind} "
                           f"organization {org.slug!r}")
               for record, kind, column in wanted
               if (org := existing.get(record.sourced_id)) is not None and org.kind != kind]
    clashes += _schools_of_other_districts(session, roster, existing)
    if clashes:
        raise RosterError(clashes)
    return existing


def _schools_of_other_districts(session: Session, roster: Roster,
                                existing: dict[str, Organization]) -> list[RosterIssue]:
    """Schools of the file stored under another district: an import never moves a school
    (and its students' records) from one district to another."""
    district = existing.get(roster.district.sourced_id)
    issues = []
    for school in roster.schools:
        org = existing.get(school.sourced_id)
        if org is None or org.kind != OrgKind.SCHOOL.value or org.parent_id is None:
            continue
        if district is None or org.parent_id != district.id:
            owner = session.get(Organization, org.parent_id)
            issues.append(RosterIssue(
                roster.layout.orgs, school.row, roster.layout.school_id,
                f"{school.sourced_id} is the school {org.slug!r} of another district "
                f"({owner.name if owner else org.parent_id}); a roster cannot move a school "
                "between districts"))
    return issues


def _same_name(name: str) -> str:
    """A school name as compared with another: case and runs of spaces do not count."""
    return " ".join(name.split()).casefold()


def _shared(file: dict[str, tuple[str | None, int]],
            stored: dict[str, str | None]) -> list[tuple[str, str]]:
    """(newcomer, holder) pairs: records of the file that would end up sharing a value with
    another record, each with the record that keeps the value.

    `file` maps sourcedIds to (value, row), `stored` maps sourcedIds to their stored value
    (both compared as given). A record that already holds a value keeps it; among records
    that would all be new to it, the first row does. Duplicates already stored, and left as
    they are by the file, are not the file's doing and are let through.
    """
    holders: dict[str, list[str]] = defaultdict(list)
    for sourced_id, value in stored.items():
        if value and (sourced_id not in file or file[sourced_id][0] == value):
            holders[value].append(sourced_id)
    newcomers: dict[str, list[str]] = defaultdict(list)
    for sourced_id, (value, _row) in sorted(file.items(), key=lambda item: item[1][1]):
        if value and sourced_id not in holders[value]:
            newcomers[value].append(sourced_id)
    pairs = []
    for value, new in newcomers.items():
        keeper = holders[value][0] if holders[value] else new[0]
        pairs += [(sourced_id, keeper) for sourced_id in new if sourced_id != keeper]
    return pairs


def _school_name_clashes(session: Session, roster: Roster,
                         existing: dict[str, Organization]) -> list[RosterIssue]:
    """A school of the file that would share its name with another school of the district
    under another id: most often a mistyped school id, which would create a second school."""
    layout = roster.layout
    district = existing.get(roster.district.sourced_id)
    stored = {org.sourced_id: _same_name(org.name) for org in existing.values()
              if org.kind == OrgKind.SCHOOL.value}
    labels = {}
    if district is not None:
        for org in session.scalars(sa.select(Organization).where(
                Organization.kind == OrgKind.SCHOOL.value,
                Organization.parent_id == district.id).order_by(Organization.id)):
            # A school created here has no roster id, so no row can name it; a file school
            # of the same name would be its double.
            key = org.sourced_id if org.sourced_id is not None else NO_ROSTER_ID + org.slug
            stored[key] = _same_name(org.name)
            labels[key] = (org.sourced_id if org.sourced_id is not None
                           else f"{org.slug!r} (it has no roster id)")
    records = {school.sourced_id: school for school in roster.schools}
    file = {s.sourced_id: (_same_name(s.name), s.row) for s in roster.schools}
    issues = []
    for sourced_id, keeper in _shared(file, stored):
        record = records[sourced_id]
        other = "the school " + (f"{keeper} on row {records[keeper].row}" if keeper in records
                                 else labels.get(keeper, keeper))
        if sourced_id in existing:
            issues.append(RosterIssue(
                layout.orgs, record.row, layout.school_name,
                f"{record.name!r} is already the name of {other}; two schools of one "
                "district cannot share a name"))
            continue
        if keeper.startswith(NO_ROSTER_ID):
            advice = ("give the new school a name of its own, or have an administrator record "
                      "that school's roster id")
        else:
            advice = f"use {keeper} if it is that school, or give the new school a name of its own"
        issues.append(RosterIssue(
            layout.orgs, record.row, layout.school_id,
            f"{sourced_id} is not a school on record, but {other} already has the name "
            f"{record.name!r}; {advice}"))
    return issues


def _guardian_email_clashes(session: Session, roster: Roster) -> list[RosterIssue]:
    """A guardian of the file whose email (in any case) another guardian id already has or
    would get: one address with two guardian records makes sign-in by email ambiguous."""
    layout = roster.layout
    records = {g.sourced_id: g for g in roster.guardians}
    file = {g.sourced_id: (g.email.lower() if g.email else None, g.row)
            for g in roster.guardians}
    emails = sorted({email for email, _ in file.values() if email})
    if not emails:
        return []
    stored: dict[str, str | None] = {}
    for sourced_id, email in _load(session, (Guardian.sourced_id, Guardian.email),
                                   Guardian.sourced_id, sorted(records)):
        stored[sourced_id] = email.lower() if email else None
    for sourced_id, email in _guardians_with_emails(session, emails):
        stored[sourced_id] = email.lower()
    issues = []
    for sourced_id, keeper in _shared(file, stored):
        record = records[sourced_id]
        other = f"guardian {keeper}" + (f" on row {records[keeper].row}" if keeper in records
                                        else "")
        advice = (f"one email belongs to one guardian, or signing in by email is ambiguous: "
                  f"use {keeper} if this is the same person, otherwise give this guardian "
                  "another email or none")
        if sourced_id in stored:
            issues.append(RosterIssue(layout.users, record.row, layout.guardian_email,
                                      f"{record.email} is already the email of {other}; "
                                      + advice))
        else:
            issues.append(RosterIssue(layout.users, record.row, layout.guardian_id,
                                      f"{sourced_id} is not a guardian on record, but "
                                      f"{record.email} is already the email of {other}; "
                                      + advice))
    return issues


def _guardians_with_emails(session: Session, emails: list[str]) -> list[tuple[str, str]]:
    """(sourced_id, email) of the stored guardians whose email is one of `emails` (lower-case),
    without regard to the stored email's case."""
    columns = (Guardian.sourced_id, Guardian.email)
    if len(emails) > SCAN_ABOVE:
        wanted = set(emails)
        result = session.execute(sa.select(*columns).where(Guardian.email.is_not(None))
                                 .execution_options(yield_per=10_000))
        return [(sid, email) for sid, email in result if email.lower() in wanted]
    rows = []
    for chunk in _chunks(emails):
        rows.extend(session.execute(sa.select(*columns).where(
            sa.func.lower(Guardian.email).in_(chunk))).all())
    return rows


def _upsert_orgs(session: Session, roster: Roster, existing: dict[str, Organization],
                 report: ImportReport) -> dict[str, int]:
    """Upsert the district and its schools; return {school sourcedId: organization id}."""
    # The organizations table is small (a district, its schools, partners).
    taken = set(session.scalars(sa.select(Organization.slug)))
    layout, record = roster.layout, roster.district
    district = existing.get(record.sourced_id)
    counts = report.counts["district"]
    if district is None:
        district = Organization(sourced_id=record.sourced_id, name=record.name,
                                kind=OrgKind.DISTRICT.value,
                                slug=_unique_slug(record.name, OrgKind.DISTRICT.value, taken))
        session.add(district)
        counts.created += 1
    else:
        # The district's name is a party's name in its signed agreements, their documents and
        # exports; a roster export that spells it differently is no reason to rename it.
        counts.unchanged += 1
        if record.name != district.name:
            report.notices.append(RosterIssue(
                layout.orgs, record.row, layout.district_name,
                f"{record.name!r} differs from the district's name on record, "
                f"{district.name!r}; the name on record was kept (an import does not rename "
                "the district)"))
    session.flush()  # the schools need the district's id
    schools = {school.sourced_id: _upsert_school(session, school, district.id, existing, taken,
                                                 report, layout)
               for school in roster.schools}
    session.flush()
    return {sourced_id: org.id for sourced_id, org in schools.items()}


def _upsert_school(session: Session, record: SchoolRecord, parent_id: int,
                   existing: dict[str, Organization], taken: set[str], report: ImportReport,
                   layout: RosterLayout) -> Organization:
    counts = report.counts["school"]
    org = existing.get(record.sourced_id)
    if org is None:
        org = Organization(sourced_id=record.sourced_id, name=record.name,
                           kind=OrgKind.SCHOOL.value, parent_id=parent_id,
                           slug=_unique_slug(record.name, OrgKind.SCHOOL.value, taken))
        session.add(org)
        counts.created += 1
    elif org.name != record.name or org.parent_id != parent_id:
        # Schools open, close and are renamed in the district's own system, which the roster
        # mirrors. The slug stays: it appears in URLs and exported rules.
        if org.name != record.name:
            report.notices.append(RosterIssue(
                layout.orgs, record.row, layout.school_name,
                f"the school {record.sourced_id} was renamed from {org.name!r} to "
                f"{record.name!r}"))
        org.name, org.parent_id = record.name, parent_id
        counts.updated += 1
    else:
        counts.unchanged += 1
    return org


# -- students and guardians --------------------------------------------------------------------

def _upsert(session: Session, model, columns: tuple[str, ...], records: list[dict],
            counts: KindCounts, keep_when_blank: tuple[str, ...] = (),
            changed: tuple[str, set[int]] | None = None) -> dict[str, int]:
    """Insert or update `model` rows keyed by sourced_id; return {sourced_id: id}.

    `records` are dicts of sourced_id plus `columns`. A None value for a column named in
    `keep_when_blank` leaves the stored value alone. `changed` is (column, ids): the ids
    of updated rows whose column changes are added to ids.
    """
    key = model.sourced_id
    stored = {row.sourced_id: row for row in _load(
        session, (model.id, key, *(getattr(model, c) for c in columns)), key,
        [r["sourced_id"] for r in records])}
    ids = {sourced_id: row.id for sourced_id, row in stored.items()}
    inserts, updates = [], []
    for record in records:
        old = stored.get(record["sourced_id"])
        if old is None:
            inserts.append(record)
            continue
        values = {c: record[c] for c in columns}
        for column in keep_when_blank:
            if values[column] is None:
                values[column] = getattr(old, column)
        if any(getattr(old, c) != v for c, v in values.items()):
            updates.append({"id": old.id, **values})
            if changed and getattr(old, changed[0]) != values[changed[0]]:
                changed[1].add(old.id)
        else:
            counts.unchanged += 1
    table = model.__table__
    if inserts:
        # A Core executemany, then the new ids read back in bulk: psycopg pipelines it, which
        # is several times faster than INSERT ... RETURNING for 100,000 rows, and the ORM's own
        # bulk insert would split the batch wherever a value is None.
        session.execute(sa.insert(table), inserts)
        ids.update((row.sourced_id, row.id) for row in _load(
            session, (model.id, key), key, [r["sourced_id"] for r in inserts]))
    if updates:
        _update_many(session, table, ("id",), updates)
    counts.created += len(inserts)
    counts.updated += len(updates)
    return ids


def _upsert_students(session: Session, roster: Roster, school_ids: dict[str, int],
                     counts: KindCounts) -> dict[str, int]:
    records = [{"sourced_id": s.sourced_id, "given_name": s.given_name,
                "family_name": s.family_name, "birth_date": s.birth_date, "grade": s.grade,
                "school_id": school_ids[s.school_sourced_id]} for s in roster.students]
    # A missing demographics row must not erase a known birth date: the 18th birthday moves
    # consent from the guardians to the student (and ends a guardian's consent).
    births_changed: set[int] = set()
    ids = _upsert(session, Student, ("given_name", "family_name", "birth_date", "grade",
                                     "school_id"), records, counts,
                  keep_when_blank=("birth_date",), changed=("birth_date", births_changed))
    if births_changed:  # the bulk update went around the flush that refreshes them
        grant_windows.refresh_students(session.connection(), births_changed)
    return ids


def _upsert_guardians(session: Session, roster: Roster, counts: KindCounts) -> dict[str, int]:
    records = [{"sourced_id": g.sourced_id, "given_name": g.given_name,
                "family_name": g.family_name, "email": g.email} for g in roster.guardians]
    return _upsert(session, Guardian, ("given_name", "family_name", "email"), records, counts)


def _upsert_links(session: Session, roster: Roster, student_ids: dict[str, int],
                  guardian_ids: dict[str, int], counts: KindCounts) -> None:
    link = StudentGuardian
    wanted = {(student_ids[r.student_sourced_id], guardian_ids[r.guardian_sourced_id]):
              r.relationship for r in roster.links}
    stored = {(row.student_id, row.guardian_id): row.relationship_kind for row in _load(
        session, (link.student_id, link.guardian_id, link.relationship_kind), link.student_id,
        sorted({student_id for student_id, _ in wanted}))}
    inserts, updates = [], []
    for (student_id, guardian_id), kind in wanted.items():
        if (student_id, guardian_id) not in stored:
            inserts.append({"student_id": student_id, "guardian_id": guardian_id,
                            "relationship_kind": kind, "has_educational_rights": True})
        elif stored[student_id, guardian_id] != kind:
            # Only the kind changes: whether a guardian holds educational rights is decided
            # in this application (court orders, ...), not by the roster.
            updates.append({"student_id": student_id, "guardian_id": guardian_id,
                            "relationship_kind": kind})
        else:
            counts.unchanged += 1
    if inserts:
        session.execute(sa.insert(link.__table__), inserts)
    if updates:
        _update_many(session, link.__table__, ("student_id", "guardian_id"), updates)
    counts.created += len(inserts)
    counts.updated += len(updates)
