"""Compile a recipient's rules: every grant in force now or later.

The compiler reads plain columns rather than ORM rows: a district has hundreds of
thousands of consents and building objects for each would dominate the cost.
Consent grants are kept per (agreement, student), so that a grant or revocation
recompiles only that student's grants (see `consent.access.cache`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from consent.access.facts import (
    Window,
    agreement_window,
    agreements_for_recipient,
    consent_window_of,
    covers,
    is_exception,
    lineage_ids,
)
from consent.extensions import db
from consent.models import Agreement, Consent, DataCategory, LegalBasis, Organization, Student
from consent.timeutil import iso
from workflows import ConsentState

FORMAT = "accordant.rules-bundle.v1"


@dataclass
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
        """The grant as published. Built once: a grant never changes after compilation
        (a change makes new grants), and every bundle after a revocation reuses the
        grants of the students it did not touch."""
        if self._published is None:
            self._published = {
                "agreement": self.agreement, "basis": self.basis,
                "exception": is_exception(self.basis), "students": self.students,
                "purposes": self.purposes, "categories": self.categories,
                "consents": sorted(self.consent_by_category.values()),
                "valid_from": iso(self.window.start), "valid_until": iso(self.window.end)}
        return self._published

    def sort_key(self):
        return (self.agreement, self.students[:1], self.purposes, self.window.start)


@dataclass
class CompiledRules:
    """A recipient's grants as of one rules version."""

    recipient_id: int
    recipient_slug: str
    version: int
    compiled_at: datetime
    exception_grants: list[Grant]
    consent_grants: dict[tuple[int, str], list[Grant]]  # (agreement, student) -> grants
    _by_student: dict | None = field(default=None, repr=False)
    _exception_sets: list = field(default_factory=list, repr=False)

    def candidates(self, student: str) -> list[Grant]:
        """Grants that name `student`, by agreement (the order decisions use)."""
        if self._by_student is None:
            index: dict[str, list[Grant]] = defaultdict(list)
            for (_, sourced_id), grants in self.consent_grants.items():
                index[sourced_id].extend(grants)
            self._by_student = dict(index)
            self._exception_sets = [(g, frozenset(g.students)) for g in self.exception_grants]
        found = [g for g, ids in self._exception_sets if student in ids]
        found += self._by_student.get(student, [])
        return sorted(found, key=lambda g: g.agreement)

    def grants(self, now: datetime) -> list[Grant]:
        """Every grant not yet over at `now`, in a stable order."""
        everything = self.exception_grants + [
            g for gs in self.consent_grants.values() for g in gs]
        return sorted((g for g in everything if g.window.end > now), key=Grant.sort_key)


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


def compile_rules(recipient: Organization, version: int, now: datetime) -> CompiledRules:
    """Compile every grant for `recipient` from scratch."""
    fields = category_fields()
    exception_grants, roster = [], None
    consent_grants: dict[tuple[int, str], list[Grant]] = {}
    for agreement in agreements_for_recipient(recipient.id):
        window = agreement_window(agreement)
        if window is None or window.end <= now:
            continue
        if agreement.legal_basis == LegalBasis.CONSENT:
            consent_grants.update(consent_grants_for(agreement, window, recipient.id, now, fields))
            continue
        if roster is None:  # one read of the roster serves every exception agreement
            roster = db.session.execute(sa.select(
                Student.sourced_id, Student.school_id, Student.grade, Student.directory_opt_out)
                .order_by(Student.sourced_id)).all()
        directory = agreement.legal_basis == LegalBasis.DIRECTORY_INFORMATION
        ids = [sid for sid, school, grade, opted_out in roster
               if covers(agreement, school, grade) and not (directory and opted_out)]
        exception_grants.append(Grant(
            agreement.id, agreement.legal_basis, ids, sorted(agreement.purposes),
            {c: fields.get(c, []) for c in sorted(agreement.categories)}, window))
    return CompiledRules(recipient.id, recipient.slug, version, now, exception_grants,
                         consent_grants)


def consent_grants_for(agreement: Agreement, window: Window, recipient_id: int, now: datetime,
                       fields: dict, student_ids: list[int] | None = None,
                       ) -> dict[tuple[int, str], list[Grant]]:
    """Consent grants under `agreement`, keyed by (agreement, student); only for
    `student_ids` when given (incremental recompilation)."""
    query = (
        sa.select(Consent.id, Consent.category, Consent.purpose, Consent.granted_at,
                  Consent.valid_from, Consent.valid_through, Consent.ended_at, Consent.given_as,
                  Student.sourced_id, Student.birth_date, Student.school_id, Student.grade)
        .join(Student, Consent.student_id == Student.id).where(
            Consent.agreement_id.in_(lineage_ids(agreement)),
            Consent.recipient_id == recipient_id,
            Consent.category.in_(agreement.categories), Consent.purpose.in_(agreement.purposes),
            Consent.state == ConsentState.GRANTED))
    if student_ids is not None:
        query = query.where(Consent.student_id.in_(student_ids))
    grouped: dict[tuple, dict[str, int]] = defaultdict(dict)
    for (consent_id, category, purpose, granted_at, valid_from, valid_through, ended_at,
         given_as, sourced_id, birth_date, school_id, grade) in db.session.execute(query):
        if not covers(agreement, school_id, grade):
            continue
        own = consent_window_of(granted_at, valid_from, valid_through, ended_at, given_as,
                                birth_date)
        if own is None:
            continue
        effective = own & window
        if effective.empty or effective.end <= now:
            continue
        grouped[(sourced_id, purpose, effective.start, effective.end)][category] = consent_id
    out: dict[tuple[int, str], list[Grant]] = defaultdict(list)
    for (sourced_id, purpose, start, end), by_category in grouped.items():
        out[(agreement.id, sourced_id)].append(Grant(
            agreement.id, agreement.legal_basis, [sourced_id], [purpose],
            {c: fields.get(c, []) for c in sorted(by_category)}, Window(start, end),
            dict(sorted(by_category.items()))))
    return dict(out)


def bundle_document(compiled: CompiledRules, now: datetime) -> dict:
    """The bundle as published (unsigned)."""
    ttl = timedelta(seconds=current_app.config["RULES_BUNDLE_TTL_SECONDS"])
    return {"format": FORMAT, "recipient": compiled.recipient_slug, "version": compiled.version,
            "issued_at": iso(now), "not_after": iso(now + ttl),
            "grants": [g.as_dict() for g in compiled.grants(now)]}


def compile_bundle(recipient: Organization, now: datetime) -> dict:
    """The bundle for `recipient` as plain data (unsigned), from the rules cache."""
    from consent.access.cache import rules_for

    return bundle_document(rules_for(recipient, now), now)
