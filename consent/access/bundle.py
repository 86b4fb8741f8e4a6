"""Compile a recipient's rules: every grant in force now or later.

A district has hundreds of thousands of students and millions of consent rows, so
the compiler reads consent grants already worked out (`grant_windows`: one row per
student, purpose and window), reads plain driver values, decodes what rows share
once, and keeps consent grants compact: per agreement, one small tuple per student
grant (`_Packed`), turned into `Grant` objects only when asked for (a decision, a
bundle). Consent grants are kept per (agreement, student), so that a grant or
revocation recompiles only that student's grants (see `consent.access.cache`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from consent.access import grant_windows
from consent.access.facts import (
    Window,
    agreement_window,
    agreements_for_recipient,
    is_exception,
    lineage_ids,
)
from consent.extensions import db
from consent.models import Agreement, DataCategory, LegalBasis, Organization, Student
from consent.timeutil import iso

FORMAT = "accordant.rules-bundle.v1"


@dataclass(slots=True)
class Grant:
    """One grant with its window as instants and, for consent grants, which consent
    row backs each category (the decision API names it)."""

    agreement: int
    basis: str
    students: list[str]
    purposes: list[str]
    categories: dict[str, list[str]]
    window: Window
    consent_by_category: dict[str, int] = field(default_factory=dict)
    _published: dict | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        """The grant as published. Built once per object: exception grants live as
        long as the compiled rules; consent grants are made when asked for."""
        if self._published is None:
            self._published = {
                "agreement": self.agreement, "basis": self.basis,
                "exception": is_exception(self.basis), "students": self.students,
                "purposes": self.purposes, "categories": self.categories,
                "consents": sorted(self.consent_by_category.values()),
                "valid_from": iso(self.window.start), "valid_until": iso(self.window.end)}
        return self._published

    def sort_key(self):
        return (self.agreement, self.students[:1], self.purposes, self.window.start,
                self.window.end)


# A consent grant as stored: (purpose, start, end, shape, first consent id). The shape
# is shared by every grant with the same categories: (categories in order, offset of
# each category's consent id from the first id). Ids of one grant are near each other
# (one form writes one row per category), so offsets are small shared ints.
_Packed = tuple


@dataclass
class ConsentGrants:
    """The consent grants under one agreement, by student sourced id. A value is one
    `_Packed` grant, or a list of them when the student has several."""

    agreement: int
    basis: str
    by_student: dict[str, _Packed | list[_Packed]]
    fields: dict[str, list[str]]
    # Once a bundle is published: every grant as (sourced id, purpose, start, end,
    # published dict), in `Grant.sort_key` order. Later bundles of this version, and
    # of the versions after a consent change (see `with_students`), reuse it.
    _published: list[tuple] | None = field(default=None, repr=False)

    def count(self) -> int:
        """How many grants."""
        return sum(len(v) if isinstance(v, list) else 1 for v in self.by_student.values())

    def grants_of(self, student: str) -> list[Grant]:
        """`student`'s grants under this agreement, as Grant objects."""
        found = self.by_student.get(student)
        if found is None:
            return []
        return [self._grant(student, p) for p in (found if isinstance(found, list) else [found])]

    def all_grants(self) -> list[Grant]:
        """Every grant under this agreement, as Grant objects."""
        out = []
        for student, found in self.by_student.items():
            for packed in found if isinstance(found, list) else [found]:
                out.append(self._grant(student, packed))
        return out

    def published(self, now: datetime) -> list[dict]:
        """The grants not yet over at `now` as published (`Grant.as_dict`), in
        `Grant.sort_key` order."""
        if self._published is None:
            self._published = self._publish(self.by_student.items())
        return [entry[4] for entry in self._published if entry[3] > now]

    def with_students(self, fresh: ConsentGrants, replaced: set[str]) -> ConsentGrants:
        """These grants with the students in `replaced` taking their grants from
        `fresh` (an incremental recompilation of those students only)."""
        by_student = dict(self.by_student)  # a copy and a few deletions: few change
        for sid in replaced:
            by_student.pop(sid, None)
        by_student.update(fresh.by_student)
        out = ConsentGrants(self.agreement, self.basis, by_student, fresh.fields)
        if self._published is not None and fresh.fields == self.fields:
            kept = [entry for entry in self._published if entry[0] not in replaced]
            kept += self._publish(fresh.by_student.items())
            kept.sort(key=_entry_key)  # nearly sorted already: one linear merge
            out._published = kept
        return out

    def _publish(self, items) -> list[tuple]:
        """(sourced id, purpose, start, end, published dict) for every grant in
        `items`, sorted."""
        live = sorted((student, packed[0], packed[1], packed[2], packed)
                      for student, found in items
                      for packed in (found if isinstance(found, list) else [found]))
        agreement, basis, exception = self.agreement, self.basis, is_exception(self.basis)
        fields = self.fields
        # Published grants are read, never changed: grants of one shape share their
        # categories, and the few distinct end instants are rendered once.
        shared: dict = {}
        ends: dict = {}
        out = []
        for student, purpose, start, end, (_, _, _, shape, first) in live:
            categories, offsets = shape
            published = shared.get(shape)
            if published is None:
                published = shared[shape] = {c: fields.get(c, []) for c in categories}
            until = ends.get(end)
            if until is None:
                until = ends[end] = iso(end)
            out.append((student, purpose, start, end, {
                "agreement": agreement, "basis": basis, "exception": exception,
                "students": [student], "purposes": [purpose], "categories": published,
                "consents": sorted([first + d for d in offsets]),
                "valid_from": iso(start), "valid_until": until}))
        return out

    def _grant(self, student: str, packed: _Packed) -> Grant:
        purpose, start, end, (categories, offsets), first = packed
        fields = self.fields
        return Grant(self.agreement, self.basis, [student], [purpose],
                     {c: fields.get(c, []) for c in categories}, Window(start, end),
                     {c: first + d for c, d in zip(categories, offsets, strict=True)})


@dataclass
class CompiledRules:
    """A recipient's grants as of one rules version."""

    recipient_id: int
    recipient_slug: str
    version: int
    compiled_at: datetime
    exception_grants: list[Grant]
    consent_grants: list[ConsentGrants]  # by agreement, oldest first
    # From when the rules answer for every instant: an update for a consent change keeps
    # `compiled_at` but drops what the change ended (a revoked window, wholly), so
    # earlier instants must be answered from the consents. None: `compiled_at`.
    exact_from: datetime | None = None
    _exception_sets: list | None = field(default=None, repr=False)

    def answers_for(self, at: datetime) -> bool:
        """Whether these rules answer a decision about instant `at`."""
        return at >= (self.exact_from or self.compiled_at)

    def candidates(self, student: str) -> list[Grant]:
        """Grants that name `student`, by agreement (the order decisions use)."""
        if self._exception_sets is None:
            self._exception_sets = [(g, frozenset(g.students)) for g in self.exception_grants]
        found = [g for g, ids in self._exception_sets if student in ids]
        for consent_grants in self.consent_grants:
            found += consent_grants.grants_of(student)
        return sorted(found, key=lambda g: g.agreement)

    def grants(self, now: datetime) -> list[Grant]:
        """Every grant not yet over at `now`, in a stable order."""
        everything = self.exception_grants + [
            g for cg in self.consent_grants for g in cg.all_grants()]
        return sorted((g for g in everything if g.window.end > now), key=Grant.sort_key)

    def published(self, now: datetime) -> list[dict]:
        """`[g.as_dict() for g in self.grants(now)]`, without a Grant per consent grant."""
        parts = [(g.agreement, [g.as_dict()]) for g in self.exception_grants
                 if g.window.end > now]
        parts += [(cg.agreement, cg.published(now)) for cg in self.consent_grants]
        # One exception grant per agreement, consent grants grouped by agreement: the
        # agreement orders the parts as `Grant.sort_key` orders the grants.
        return [g for _, grants in sorted(parts, key=lambda part: part[0]) for g in grants]

    def grant_count(self) -> int:
        """How many grants (exception and consent) the rules hold."""
        return len(self.exception_grants) + sum(cg.count() for cg in self.consent_grants)


def _entry_key(entry: tuple) -> tuple:
    return entry[:4]


def category_fields() -> dict[str, list[str]]:
    return {c.code: list(c.fields) for c in db.session.scalars(sa.select(DataCategory))}


def consent_agreements(recipient_id: int, now: datetime) -> list[tuple[Agreement, Window]]:
    """The recipient's consent-based agreements not yet over, with their windows."""
    out = []
    for agreement in agreements_for_recipient(recipient_id):
        window = agreement_window(agreement)
        if window is not None and window.end > now and agreement.legal_basis == LegalBasis.CONSENT:
            out.append((agreement, window))
    return out


class Students:
    """What compiling needs of the students: sourced ids (and, for consents whose grant
    windows are not stored, birth dates) by id, and the students each exception
    agreement's population covers. Loaded on first use and shared by every recipient
    compiled with it: a district bundle or export compiles them all, and most
    recipients' agreements cover the same population."""

    def __init__(self, student_ids: list[int] | None = None):
        self._ids = student_ids  # None: every student
        self._sourced: dict[int, str] | None = None
        self._births: dict[int, str | None] | None = None
        self._covered: dict[tuple, list[str]] = {}

    @property
    def sourced(self) -> dict[int, str]:
        """Sourced id by student id."""
        if self._sourced is None:
            s = Student.__table__.c
            intern = sys.intern  # the same ids recur in every recipient's rules: share them
            self._sourced = {i: intern(sid) for i, sid in self._read(s.sourced_id)}
        return self._sourced

    @property
    def births(self) -> dict[int, str | None]:
        """Birth date (as the driver returns it) by student id."""
        if self._births is None:
            self._births = dict(self._read(sa.type_coerce(Student.__table__.c.birth_date,
                                                          sa.String)))
        return self._births

    def one(self, student_id: int) -> str:
        """The sourced id of a student missing from `sourced`: added since it was read
        (each statement of a PostgreSQL transaction sees the latest commits)."""
        s = Student.__table__.c
        found = db.session.execute(sa.select(s.sourced_id).where(s.id == student_id)).scalar_one()
        self.sourced[student_id] = found
        return found

    def _read(self, column) -> list[tuple]:
        s = Student.__table__.c
        query = sa.select(s.id, column)
        if self._ids is not None:
            query = query.where(s.id.in_(self._ids))
        return grant_windows.driver_rows(db.session.connection(), query)

    def covered_by(self, agreement: Agreement) -> list[str]:
        """Sourced ids of the students an exception agreement covers, in sourced id order
        (directory information leaves out those who opted out). Read, never changed."""
        directory = agreement.legal_basis == LegalBasis.DIRECTORY_INFORMATION
        key = (directory, json.dumps(agreement.population or {}, sort_keys=True))
        found = self._covered.get(key)
        if found is None:
            s = Student.__table__.c
            query = (sa.select(s.sourced_id).where(*_population(agreement, s))
                     .order_by(s.sourced_id))
            if directory:
                query = query.where(s.directory_opt_out == sa.false())
            intern = sys.intern
            found = self._covered[key] = [
                intern(sid) for sid, in grant_windows.driver_rows(db.session.connection(),
                                                                  query)]
        return found


def compile_rules(recipient: Organization, version: int, now: datetime,
                  students: Students | None = None) -> CompiledRules:
    """Compile every grant for `recipient` from scratch (`students` may be shared with
    other recipients compiled at the same time)."""
    students = students or Students()
    fields = category_fields()
    exception_grants, consent_grants = [], []
    for agreement in agreements_for_recipient(recipient.id):
        window = agreement_window(agreement)
        if window is None or window.end <= now:
            continue
        if agreement.legal_basis == LegalBasis.CONSENT:
            consent_grants.append(consent_grants_for(agreement, window, recipient.id, now, fields,
                                                     students=students))
            continue
        exception_grants.append(Grant(
            agreement.id, agreement.legal_basis, students.covered_by(agreement),
            sorted(agreement.purposes),
            {c: fields.get(c, []) for c in sorted(agreement.categories)}, window))
    return CompiledRules(recipient.id, recipient.slug, version, now, exception_grants,
                         consent_grants)


def compile_all(recipients: list[Organization], versions: dict[int, int],
                now: datetime) -> list[CompiledRules]:
    """Compile every recipient in `recipients` from scratch, sharing what they have in
    common (the students)."""
    students = Students()
    return [compile_rules(r, versions[r.id], now, students) for r in recipients]


def _population(agreement: Agreement, s) -> list:
    """SQL conditions equal to `facts.covers` (an empty list does not restrict).

    `covers` compares with Python's `in`; the conditions keep only the list values
    that can equal a column value (ints for schools, strings for grades) and match
    a missing school or grade only when the list holds null, as `in` does."""
    population = agreement.population or {}
    schools, grades = population.get("schools") or [], population.get("grades") or []
    out = []
    if schools:
        ids = sorted({int(v) for v in schools
                      if isinstance(v, int) or (isinstance(v, float) and v.is_integer())})
        out.append(_member(s.school_id, ids, None in schools))
    if grades:
        out.append(_member(s.grade, sorted({v for v in grades if isinstance(v, str)}),
                           None in grades))
    return out


def _member(column, values: list, with_null: bool):
    condition = column.in_(values) if values else sa.false()
    return sa.or_(condition, column.is_(None)) if with_null else condition


def consent_grants_for(agreement: Agreement, window: Window, recipient_id: int, now: datetime,
                       fields: dict, student_ids: list[int] | None = None,
                       students: Students | None = None) -> ConsentGrants:
    """Consent grants under `agreement`, by student; only for `student_ids` when given
    (incremental recompilation).

    The grants come from the grant windows of the agreement and of each predecessor
    whose consents carry on under it (`grant_windows`: a student's granted consents as
    rows of purpose, window and categories, worked out when they changed), cut to this
    agreement's window, purposes and categories."""
    categories = frozenset(agreement.categories)
    purposes = frozenset(agreement.purposes)
    population = _population(agreement, Student.__table__.c)
    students = students or Students(student_ids)
    connection = db.session.connection()

    def admitted(student_id) -> list:  # SQL conditions on a student-id column
        out = []
        if population:
            out.append(student_id.in_(sa.select(Student.__table__.c.id).where(*population)))
        if student_ids is not None:
            out.append(student_id.in_(student_ids))
        return out

    w_start, w_end = window.start, window.end
    sourced_of = students.sourced
    by_student: dict[str, _Packed | list[_Packed]] = {}
    for agreement_id in lineage_ids(agreement):
        rows, start_of = grant_windows.rows_for(connection, recipient_id, agreement_id,
                                                admitted, lambda: students.births)
        # Rows with the same terms share one decoded (purpose, end, shape), or False
        # when nothing of them applies under this agreement.
        decoded: dict[str, tuple | bool] = {}
        for student_id, starts_at, first_id, terms in rows:
            known = decoded.get(terms)
            if known is None:
                known = decoded[terms] = _applicable(terms, purposes, categories, w_end, now)
            if known is False:
                continue
            purpose, end, shape = known
            start = start_of(starts_at)
            if w_start > start:
                start = w_start
            if start >= end:
                continue
            sourced_id = sourced_of.get(student_id) or students.one(student_id)
            packed = (purpose, start, end, shape, first_id)
            held = by_student.get(sourced_id)
            if held is None:
                by_student[sourced_id] = packed
            else:
                by_student[sourced_id] = _add_grant(held, packed)
    return ConsentGrants(agreement.id, agreement.legal_basis, by_student, fields)


def _applicable(terms: str, purposes: frozenset, categories: frozenset, until: datetime,
                now: datetime) -> tuple | bool:
    """(purpose, end, shape) of a grant window's `terms` under an agreement with these
    purposes and categories that ends at `until`; False if none of it applies."""
    purpose, end, codes, offsets = grant_windows.decode_terms(terms)
    kept = [(code, d) for code, d in zip(codes, offsets, strict=True) if code in categories]
    end = min(end, until)
    if purpose not in purposes or not kept or end <= now:
        return False
    return purpose, end, (tuple(code for code, _ in kept), tuple(d for _, d in kept))


def _add_grant(held: _Packed | list[_Packed], packed: _Packed) -> list[_Packed]:
    """A student's grants with `packed` added: merged into the grant with the same
    purpose and window if there is one (its categories joined), else appended."""
    grants = list(held) if isinstance(held, list) else [held]
    purpose, start, end = packed[:3]
    for i, other in enumerate(grants):
        if other[:3] == (purpose, start, end):
            ids = _consent_ids(other)
            for category, consent_id in _consent_ids(packed).items():
                ids[category] = max(ids.get(category, consent_id), consent_id)
            first = min(ids.values())
            categories = tuple(sorted(ids))
            grants[i] = (purpose, start, end,
                         (categories, tuple(ids[c] - first for c in categories)), first)
            return grants
    grants.append(packed)
    return grants


def _consent_ids(packed: _Packed) -> dict[str, int]:
    _, _, _, (categories, offsets), first = packed
    return {c: first + d for c, d in zip(categories, offsets, strict=True)}


def issue_times(now: datetime) -> tuple[datetime, datetime]:
    """(issued_at, not_after) of a bundle asked for at `now`.

    Bundles are issued in steps of half their lifetime: every request within one step
    gets the same document, so its ETag stays put, and a copy a client keeps on a 304
    still has at least half its lifetime ahead of it."""
    ttl = current_app.config["RULES_BUNDLE_TTL_SECONDS"]
    step = max(ttl // 2, 1)
    seconds = int(now.timestamp())
    issued = datetime.fromtimestamp(seconds - seconds % step, UTC)
    return issued, issued + timedelta(seconds=ttl)


def bundle_document(compiled: CompiledRules, now: datetime) -> dict:
    """The bundle as published (unsigned)."""
    issued, not_after = issue_times(now)
    return {"format": FORMAT, "recipient": compiled.recipient_slug, "version": compiled.version,
            "issued_at": iso(issued), "not_after": iso(not_after),
            "grants": compiled.published(now)}


def compile_bundle(recipient: Organization, now: datetime) -> dict:
    """The bundle for `recipient` as plain data (unsigned), from the rules cache."""
    from consent.access.cache import rules_for

    return bundle_document(rules_for(recipient, now), now)
