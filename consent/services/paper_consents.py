"""Paper consents: staff record a consent form a family signed on paper, with its scan.

The scan must be a PDF, PNG or JPEG (recognised by its first bytes, not its name or declared
type) no larger than `PAPER_SCAN_MAX_BYTES` (default 5 MiB). It is stored in the database
with its SHA-256, under the recording person's organization, and only people of that
organization can download it. The consents it backs go through `consents.decide`, so a
paper consent is never broader than its agreement and needs the signer's authority on the
day they signed.

A service: it flushes and never commits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from datetime import date

import sqlalchemy as sa
from flask import current_app

from consent.access.facts import lineage_ids
from consent.auth.permissions import is_district_user
from consent.errors import Conflict, Forbidden, NotFound, ValidationFailed
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementParty,
    Consent,
    ConsentEvent,
    Guardian,
    Organization,
    PaperConsentScan,
    Student,
    StudentGuardian,
    User,
)
from consent.services import consents as consent_service
from consent.services.actors import Actor
from consent.timeutil import check_year, local_date, utcnow

logger = logging.getLogger(__name__)
# Ledger events that are someone's decision (not superseding or expiry by the system).
DECISION_EVENTS = ("grant", "refuse", "revoke")
SCAN_TYPES = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
              (b"\xff\xd8\xff", "image/jpeg"))


def scan_type(data: bytes) -> str:
    """The content type of an accepted scan.

    :raises ValidationFailed: empty, too large, or not a PDF, PNG or JPEG.
    """
    limit = int(current_app.config.get("PAPER_SCAN_MAX_BYTES", 5 * 2**20))
    if not data:
        raise ValidationFailed("attach the scanned form", field="scan")
    if len(data) > limit:
        size = f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit / 2**10:g} KiB"
        raise ValidationFailed(f"the scan is larger than {size}", field="scan")
    for magic, content_type in SCAN_TYPES:
        if data.startswith(magic):
            return content_type
    raise ValidationFailed("the scan must be a PDF, PNG or JPEG file", field="scan")


def may_record_for(user: User, agreement: Agreement) -> bool:
    """District staff, or staff of a recipient under the agreement, record paper consents."""
    if user.organization_id is None or not user.has_role("staff"):
        return False
    if is_district_user(user) and agreement.source_org_id == user.organization_id:
        return True
    return db.session.scalar(sa.select(AgreementParty.agreement_id).where(
        AgreementParty.agreement_id == agreement.id,
        AgreementParty.organization_id == user.organization_id,
        AgreementParty.role == "recipient")) is not None


def _signer(student: Student, signer_email: str | None) -> Guardian | None:
    if not signer_email:
        return None  # the student signed for themself
    guardian = db.session.scalar(sa.select(Guardian).join(
        StudentGuardian, StudentGuardian.guardian_id == Guardian.id).where(
        StudentGuardian.student_id == student.id,
        Guardian.email == signer_email.strip().lower()))
    if guardian is None:
        raise ValidationFailed("no guardian of this student has that email address",
                               field="signer")
    return guardian


def record_paper_consent(user: User, actor: Actor, *, student_ref: str,
                         signer_email: str | None, signed_on: date, agreement_id: int,
                         recipient_slug: str, purposes: list[str], categories: list[str],
                         decision: str, scan: bytes) -> tuple[list[Consent], PaperConsentScan]:
    """Record a signed paper form and its scan; returns the consents and the stored scan.

    :raises ValidationFailed: unknown student or signer, a bad scan or date, or outside the
        agreement.
    :raises Forbidden: the user may not record for this agreement, or the signer had no
        authority that day.
    """
    content_type = scan_type(scan)
    student = db.session.scalar(sa.select(Student).where(Student.sourced_id == student_ref))
    if student is None:
        raise ValidationFailed("no student has that id", field="student")
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound("no such agreement")
    if not may_record_for(user, agreement):
        raise Forbidden("your organization is not a party to this agreement", field="agreement")
    _check_signed_on(signed_on, student, agreement)
    sha256 = hashlib.sha256(scan).hexdigest()
    signer = _signer(student, signer_email)
    earlier = _same_form(student, sha256, signed_on, agreement_id, recipient_slug, purposes,
                         categories, decision)
    if earlier is not None:
        _refuse_other_signer(earlier[1], signer.display_name if signer else student.display_name)
        return earlier  # a double submit: the form is already recorded
    _refuse_if_overtaken(student, agreement, recipient_slug, purposes, categories, signed_on)
    record = PaperConsentScan(
        organization_id=user.organization_id, student_id=student.id, uploaded_by_user_id=user.id,
        uploaded_at=utcnow(), content_type=content_type, size=len(scan),
        sha256=sha256, data=scan, consent_ids=[],
        signed_by="", signed_on=signed_on)
    db.session.add(record)
    db.session.flush()
    actor = dataclasses.replace(actor, channel="paper")  # the ledger says where it came from
    signing = consent_service.PaperSigning(signer, signed_on, f"scan #{record.id}")
    consents = consent_service.decide(student, user, actor, agreement_id=agreement_id,
                      recipient_slug=recipient_slug, purposes=purposes, categories=categories,
                      decision=decision, paper=signing)
    record.signed_by = signing.guardian.display_name if signing.guardian else \
        student.display_name
    record.consent_ids = [c.id for c in consents]
    db.session.flush()
    logger.info("paper consent scan %s recorded for %d consents", record.id, len(consents))
    return consents, record


def _check_signed_on(signed_on: date, student: Student, agreement: Agreement) -> None:
    """:raises ValidationFailed: a date the form cannot have been signed on."""
    try:
        check_year(signed_on)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="signed_on") from exc
    if signed_on > local_date(utcnow()):
        raise ValidationFailed("the form cannot be signed in the future", field="signed_on")
    if student.birth_date is not None and signed_on < student.birth_date:
        raise ValidationFailed("the form cannot be signed before the student was born",
                               field="signed_on")
    if signed_on < agreement.start_date:
        raise ValidationFailed(f"the form cannot be signed before the agreement starts "
                               f"({agreement.start_date.isoformat()})", field="signed_on")


def _same_form(student: Student, sha256: str, signed_on: date, agreement_id: int,
               recipient_slug: str, purposes: list[str], categories: list[str],
               decision: str) -> tuple[list[Consent], PaperConsentScan] | None:
    """The earlier record of this very form (same scan and answers), if any."""
    wanted = {(agreement_id, recipient_slug, p, c) for p in purposes for c in categories}
    for record in db.session.scalars(sa.select(PaperConsentScan).where(
            PaperConsentScan.student_id == student.id, PaperConsentScan.sha256 == sha256,
            PaperConsentScan.signed_on == signed_on)):
        consents = [db.session.get(Consent, cid) for cid in record.consent_ids]
        got = {(c.agreement_id, c.recipient.slug, c.purpose, c.category) for c in consents}
        granted = {c.granted_at is not None for c in consents}
        if got == wanted and granted == {decision == "grant"}:
            return consents, record
    return None


def _refuse_other_signer(record: PaperConsentScan, signed_by: str) -> None:
    """A resubmitted form naming another signer is a correction the ledger cannot take
    silently (who signed is part of what was recorded).

    :raises Conflict: the earlier record names someone else.
    """
    if record.signed_by != signed_by:
        raise Conflict(f"this form is already recorded (scan #{record.id}) as signed by "
                       f"{record.signed_by}; a different signer needs a new signed form",
                       field="signer")


def _decided_on(event: ConsentEvent, paper_days: dict[int, date]) -> date:
    # A paper decision counts from the day it was signed, not the day it was typed in.
    if event.channel == "paper" and event.consent_id in paper_days:
        return paper_days[event.consent_id]
    return local_date(event.at)


def _refuse_if_overtaken(student: Student, agreement: Agreement, recipient_slug: str,
                         purposes: list[str], categories: list[str], signed_on: date) -> None:
    """:raises Conflict: the ledger holds a decision from the day of signing or later."""
    recipient = db.session.scalar(
        sa.select(Organization).where(Organization.slug == recipient_slug))
    if recipient is None:
        return  # `decide` names the unknown recipient
    paper_days = {cid: record.signed_on for record in db.session.scalars(
        sa.select(PaperConsentScan).where(PaperConsentScan.student_id == student.id))
        for cid in record.consent_ids}
    events = db.session.scalars(sa.select(ConsentEvent).join(
        Consent, ConsentEvent.consent_id == Consent.id).where(
        Consent.student_id == student.id, Consent.agreement_id.in_(lineage_ids(agreement)),
        Consent.recipient_id == recipient.id, Consent.purpose.in_(purposes),
        Consent.category.in_(categories), ConsentEvent.event.in_(DECISION_EVENTS)))
    newest = max((_decided_on(e, paper_days) for e in events), default=None)
    if newest is not None and newest >= signed_on:
        raise Conflict(f"a decision of {newest.isoformat()} is already recorded for this "
                       f"student; a form signed earlier cannot replace it", field="signed_on")


def scan_for(user: User, scan_id: int) -> PaperConsentScan:
    """The scan if it belongs to the user's organization.

    :raises NotFound: no such scan, or another organization's.
    """
    scan = db.session.get(PaperConsentScan, scan_id)
    if scan is None or user.organization_id is None \
            or scan.organization_id != user.organization_id:
        raise NotFound("no such scan")
    return scan
