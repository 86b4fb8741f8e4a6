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

from consent.auth.permissions import is_district_user
from consent.errors import Forbidden, NotFound, ValidationFailed
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementParty,
    Consent,
    Guardian,
    PaperConsentScan,
    Student,
    StudentGuardian,
    User,
)
from consent.services import consents as consent_service
from consent.services.actors import Actor
from consent.timeutil import local_date, utcnow

logger = logging.getLogger(__name__)
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
    if signed_on > local_date(utcnow()):
        raise ValidationFailed("the form cannot be signed in the future", field="signed_on")
    record = PaperConsentScan(
        organization_id=user.organization_id, student_id=student.id, uploaded_by_user_id=user.id,
        uploaded_at=utcnow(), content_type=content_type, size=len(scan),
        sha256=hashlib.sha256(scan).hexdigest(), data=scan, consent_ids=[],
        signed_by="", signed_on=signed_on)
    db.session.add(record)
    db.session.flush()
    actor = dataclasses.replace(actor, channel="paper")  # the ledger says where it came from
    signing = consent_service.PaperSigning(_signer(student, signer_email), signed_on,
                                           f"scan #{record.id}")
    consents = consent_service.decide(student, user, actor, agreement_id=agreement_id,
                      recipient_slug=recipient_slug, purposes=purposes, categories=categories,
                      decision=decision, paper=signing)
    record.signed_by = signing.guardian.display_name if signing.guardian else \
        student.display_name
    record.consent_ids = [c.id for c in consents]
    db.session.flush()
    logger.info("paper consent scan %s recorded for %d consents", record.id, len(consents))
    return consents, record


def scan_for(user: User, scan_id: int) -> PaperConsentScan:
    """The scan if it belongs to the user's organization.

    :raises NotFound: no such scan, or another organization's.
    """
    scan = db.session.get(PaperConsentScan, scan_id)
    if scan is None or user.organization_id is None \
            or scan.organization_id != user.organization_id:
        raise NotFound("no such scan")
    return scan
