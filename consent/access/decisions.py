"""Permit or deny one (recipient, student, category, purpose, time) request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from consent.access.bundle import CompiledRules
from consent.access.cache import rules_for
from consent.access.facts import (
    agreement_window,
    agreements_for_recipient,
    consent_window,
    covers_population,
    is_exception,
    lineage_ids,
    rules_version,
)
from consent.extensions import db
from consent.models import Consent, LegalBasis, Organization, Student
from consent.timeutil import iso, utcnow
from workflows import ConsentState


@dataclass
class Decision:
    decision: str
    recipient: str
    student: str
    category: str
    purpose: str
    at: str
    reason: str
    agreement: int | None = None
    consent: int | None = None
    basis: str | None = None
    exception: bool | None = None
    bundle_version: int = 0

    def as_dict(self) -> dict:
        # By hand: dataclasses.asdict deep-copies every value, which dominated batches.
        return {"decision": self.decision, "recipient": self.recipient, "student": self.student,
                "category": self.category, "purpose": self.purpose, "at": self.at,
                "reason": self.reason, "agreement": self.agreement, "consent": self.consent,
                "basis": self.basis, "exception": self.exception,
                "bundle_version": self.bundle_version}


def decide(recipient: Organization, student: Student | None, student_ref: str, category: str,
           purpose: str, at: datetime) -> Decision:
    """Permit only if an agreement in force at `at` names the recipient, covers the
    category, purpose and student, and (for consent) a consent is in force too."""
    version = rules_version(recipient.id)
    base = dict(recipient=recipient.slug, student=student_ref, category=category,
                purpose=purpose, at=iso(at), bundle_version=version)
    if student is None:
        return Decision("deny", reason="unknown student", **base)
    reason = "no agreement in force names this recipient for that category and purpose"
    for agreement in agreements_for_recipient(recipient.id):
        window = agreement_window(agreement)
        if window is None or not window.contains(at):
            continue
        if category not in agreement.categories or purpose not in agreement.purposes:
            continue
        if not covers_population(agreement, student):
            reason = "the student is outside the agreement's population"
            continue
        basis = agreement.legal_basis
        found = dict(agreement=agreement.id, basis=basis, exception=is_exception(basis))
        if basis == LegalBasis.DIRECTORY_INFORMATION:
            if student.directory_opt_out:
                reason = "the family opted out of directory information"
                continue
            return Decision("permit", reason="directory information", **found, **base)
        if basis != LegalBasis.CONSENT:
            return Decision("permit", reason=f"exception: {basis}", **found, **base)
        consent = _consent_in_force(lineage_ids(agreement), recipient.id, student, category,
                                    purpose, at)
        if consent is None:
            reason = "no consent in force for this student, category and purpose"
            continue
        return Decision("permit", reason="consent", consent=consent.id, **found, **base)
    return Decision("deny", reason=reason, **base)


def _consent_in_force(agreement_ids, recipient_id, student, category, purpose, at):
    candidates = db.session.scalars(sa.select(Consent).where(
        Consent.agreement_id.in_(agreement_ids), Consent.recipient_id == recipient_id,
        Consent.student_id == student.id, Consent.category == category,
        Consent.purpose == purpose, Consent.granted_at.is_not(None),
        Consent.state != ConsentState.REFUSED).order_by(Consent.id.desc()))
    for consent in candidates:
        window = consent_window(consent, student)
        if window is not None and window.contains(at):
            return consent
    return None


def decide_current(recipient: Organization, student_ref: str, category: str, purpose: str,
                   at: datetime, compiled: CompiledRules | None = None) -> Decision:
    """The same answer as `decide`, from the compiled rules when they answer for `at`
    (the cache is current: it checks the rules version first), else from the consents."""
    compiled = compiled or rules_for(recipient, utcnow())
    if not compiled.answers_for(at):
        student = db.session.scalar(sa.select(Student).where(Student.sourced_id == student_ref))
        answer = decide(recipient, student, student_ref, category, purpose, at)
        if answer.decision == "deny":
            # The same words as the compiled rules': why a student is not covered (or
            # whether the id exists at all) is not the recipient's to learn.
            answer.reason = DENIED_REASON
        return answer
    # Positional arguments: this runs once per request of a batch of thousands.
    slug, when, version = recipient.slug, iso(at), compiled.version
    for grant in compiled.candidates(student_ref):
        if category in grant.categories and purpose in grant.purposes \
                and grant.window.contains(at):
            basis = grant.basis
            return Decision("permit", slug, student_ref, category, purpose, when,
                            _reason(basis), grant.agreement,
                            grant.consent_by_category.get(category), basis,
                            is_exception(basis), version)
    return Decision("deny", slug, student_ref, category, purpose, when, DENIED_REASON,
                    bundle_version=version)


DENIED_REASON = "no agreement and consent in force covers this student, category and purpose"


def _reason(basis: str) -> str:
    if basis == LegalBasis.CONSENT:
        return "consent"
    if basis == LegalBasis.DIRECTORY_INFORMATION:
        return "directory information"
    return f"exception: {basis}"
