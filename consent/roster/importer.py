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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consent.models import (
    Guardian,
    Organization,
    OrgKind,
    RulesChange,
    Student,
    StudentGuardian,
)
from consent.roster.oneroster import ORGS, Roster, RosterError, RosterIssue
from consent.timeutil import utcnow

logger = logging.getLogger(__name__)

KINDS = ("district", "school", "student", "guardian", "link")
# Keys per `IN (...)`: well under SQLite's and PostgreSQL's limits on bound parameters.
KEY_CHUNK = 500
SCAN_ABOVE = 2_000  # keys; beyond this, read the table once instead of chunked IN lists
SLUG_MAX = 64


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

    :raises RosterError: the roster has errors (nothing is written), or a sourcedId already
        belongs to an organization of another kind.
    """
    if roster.errors:
        raise RosterError(roster.errors)
    if roster.district is None:
        raise RosterError([RosterIssue(ORGS, None, "type", "the roster has no district")])
    session.flush()  # the bulk statements below bypass the unit of work
    report = ImportReport()
    school_ids = _upsert_orgs(session, roster, report)
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


def _upsert_orgs(session: Session, roster: Roster, report: ImportReport) -> dict[str, int]:
    """Upsert the district and its schools; return {school sourcedId: organization id}."""
    wanted = [(roster.district, OrgKind.DISTRICT.value)]
    wanted += [(school, OrgKind.SCHOOL.value) for school in roster.schools]
    existing: dict[str, Organization] = {}
    for chunk in _chunks([record.sourced_id for record, _ in wanted]):
        existing.update((org.sourced_id, org) for org in session.scalars(
            sa.select(Organization).where(Organization.sourced_id.in_(chunk))))
    clashes = [RosterIssue(ORGS, record.row, "sourcedId",
                           f"{record.sourced_id} already belongs to the {org.kind} "
                           f"organization {org.slug!r}")
               for record, kind in wanted
               if (org := existing.get(record.sourced_id)) is not None and org.kind != kind]
    if clashes:
        raise RosterError(clashes)
    # The organizations table is small (a district, its schools, partners).
    taken = set(session.scalars(sa.select(Organization.slug)))

    district = _upsert_org(session, roster.district.sourced_id, roster.district.name,
                           OrgKind.DISTRICT.value, None, existing, taken,
                           report.counts["district"])
    session.flush()  # the schools need the district's id
    schools = {school.sourced_id: _upsert_org(
        session, school.sourced_id, school.name, OrgKind.SCHOOL.value, district.id, existing,
        taken, report.counts["school"]) for school in roster.schools}
    session.flush()
    return {sourced_id: org.id for sourced_id, org in schools.items()}


def _upsert_org(session: Session, sourced_id: str, name: str, kind: str, parent_id: int | None,
                existing: dict[str, Organization], taken: set[str],
                counts: KindCounts) -> Organization:
    org = existing.get(sourced_id)
    if org is None:
        org = Organization(sourced_id=sourced_id, name=name, kind=kind, parent_id=parent_id,
                           slug=_unique_slug(name, kind, taken))
        session.add(org)
        counts.created += 1
    elif org.name != name or org.parent_id != parent_id:
        # The slug stays: it appears in URLs and exported rules, and a rename must not break them.
        org.name, org.parent_id = name, parent_id
        counts.updated += 1
    else:
        counts.unchanged += 1
    return org


# -- students and guardians --------------------------------------------------------------------

def _upsert(session: Session, model, columns: tuple[str, ...], records: list[dict],
            counts: KindCounts, keep_when_blank: tuple[str, ...] = ()) -> dict[str, int]:
    """Insert or update `model` rows keyed by sourced_id; return {sourced_id: id}.

    `records` are dicts of sourced_id plus `columns`. A None value for a column named in
    `keep_when_blank` leaves the stored value alone.
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
    # consent from the guardians to the student.
    return _upsert(session, Student, ("given_name", "family_name", "birth_date", "grade",
                                      "school_id"), records, counts,
                   keep_when_blank=("birth_date",))


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
