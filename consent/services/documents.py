"""Agreement PDFs: snapshot an agreement as plain data, render it, store the frozen bytes.

The template only ever sees the snapshot dict, never ORM rows, so what a PDF can
show is exactly what `agreement_snapshot` puts in it. Rendering itself lives in
the Flask-free `documents` package. Functions here flush; the caller commits.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import weasyprint
from flask import current_app, render_template
from markupsafe import Markup
from pyhanko.version import __version__ as pyhanko_version

from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementDocument,
    AuditEntry,
    DataCategory,
    Organization,
    Signature,
)
from consent.services.clause_text import ClauseError, clause_context, render_clause
from consent.services.sealing import seal_document
from consent.timeutil import utcnow
from documents import html_to_pdf, sha256_hex
from workflows import SignatureState

logger = logging.getLogger(__name__)

TEMPLATE = "documents/agreement.html"
KINDS = ("for_signature", "executed")


def agreement_snapshot(agreement: Agreement, kind: str) -> dict:
    """Everything the print template may show about `agreement`, as plain data.

    The dict has exactly these keys (all strings are unescaped user text):

    - ``kind``: ``"for_signature"`` or ``"executed"``.
    - ``agreement_id`` (int), ``revision`` (int), ``title`` (str).
    - ``legal_basis``: a ``LegalBasis`` value such as ``"studies"``.
    - ``purposes``: list of purpose codes (str).
    - ``scope_description`` (str), ``population`` (str, human readable, with school names).
    - ``categories``: list of ``{"code", "name", "fields": [str]}`` in agreement order; a
      code with no ``DataCategory`` row keeps its code as name and has no fields.
    - ``parties``: list of ``{"name", "role" ("source" | "recipient"), "signatory"}`` where
      ``signatory`` is ``{"name", "title", "authority", "signed_at", "ip", "user_agent",
      "document_sha256"}`` for a signed signature of the current revision, else None.
    - ``use_limitation`` (str), ``no_reidentification`` (bool), ``security_requirements``
      (str).
    - ``retention_days``, ``destruction_days``, ``breach_notification_hours`` (int or None).
    - ``start_date``, ``end_date`` (ISO dates), ``renewal_notice_days`` (int).
    - ``clauses``: list of ``{"heading", "text"}``.
    - ``signed_document_sha256``: SHA-256 of this revision's "for_signature" PDF, or None.
    - ``audit``: list of ``{"at", "actor", "ip", "user_agent", "event", "from_state",
      "to_state"}``, oldest first, for the agreement and its signatures. Only the
      executed copy carries it (it certifies the signing); otherwise it is empty.
    - ``successor``: None, or for a renewal or an amendment ``{"kind" ("renewal" |
      "amendment"), "predecessor_id" (int), "predecessor_title" (str),
      "predecessor_start_date", "predecessor_end_date" (ISO dates), "changes": [str]}``
      where ``changes`` names, in reading order, the terms that differ from the predecessor.
    - ``timezone``: the district's IANA zone; every time in the snapshot is shown in it.
    - ``generated_at``: the snapshot instant, ISO 8601 with the district offset.

    :raises ValueError: unknown `kind`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {KINDS}")
    zone_name = current_app.config["DISTRICT_TIMEZONE"]
    zone = ZoneInfo(zone_name)
    signed = _signed_signatures(agreement)
    for_signature = _document(agreement, "for_signature")
    return {
        "kind": kind,
        "agreement_id": agreement.id,
        "revision": agreement.revision,
        "title": agreement.title,
        "legal_basis": agreement.legal_basis,
        "purposes": list(agreement.purposes or []),
        "scope_description": agreement.scope_description or "",
        "population": _population_text(agreement.population or {}),
        "categories": category_schedule(agreement.categories or []),
        "parties": [
            {
                "name": party.organization.name,
                "role": party.role,
                "signatory": _signatory(signed.get(party.organization_id), zone),
            }
            for party in agreement.parties
        ],
        "use_limitation": agreement.use_limitation or "",
        "no_reidentification": bool(agreement.no_reidentification),
        "security_requirements": agreement.security_requirements or "",
        "retention_days": agreement.retention_days,
        "destruction_days": agreement.destruction_days,
        "breach_notification_hours": agreement.breach_notification_hours,
        "start_date": agreement.start_date.isoformat(),
        "end_date": agreement.end_date.isoformat(),
        "renewal_notice_days": agreement.renewal_notice_days,
        "clauses": [
            {"heading": c.get("heading", ""), "text": c.get("text", "")}
            for c in (agreement.clauses or [])
        ],
        "signed_document_sha256": for_signature.sha256 if for_signature else None,
        "audit": _audit(agreement, zone) if kind == "executed" else [],
        "successor": _successor(agreement),
        "timezone": zone_name,
        "generated_at": utcnow().astimezone(zone).isoformat(timespec="seconds"),
    }


def render_agreement_html(snapshot: dict) -> str:
    """The print HTML for a snapshot from `agreement_snapshot` (autoescaped).

    Clause text is rendered in the clause sandbox (`clause_text`) with the agreement's
    facts; a clause the sandbox refuses is shown as its literal text instead.
    """
    return render_template(TEMPLATE, doc=snapshot, clause_html=clause_bodies(snapshot))


def clause_bodies(snapshot: dict) -> list[Markup]:
    """Each clause of the snapshot as escaped HTML paragraphs, in order."""
    context = clause_context(snapshot)
    bodies = []
    for clause in snapshot.get("clauses") or []:
        try:
            bodies.append(render_clause(clause.get("text", ""), context))
        except ClauseError as exc:
            logger.warning("agreement %s: clause %r shown literally: %s",
                           snapshot.get("agreement_id"), clause.get("heading"), exc)
            bodies.append(literal_paragraphs(clause.get("text", "")))
    return bodies


def literal_paragraphs(text: str) -> Markup:
    """Plain text as escaped HTML paragraphs; blank lines separate them."""
    paragraphs = [p.strip() for p in (text or "").replace("\r\n", "\n").split("\n\n")
                  if p.strip()]
    return Markup("\n").join(Markup("<p>{}</p>").format(p) for p in paragraphs)


def issue_agreement_pdf(agreement: Agreement, kind: str) -> AgreementDocument:
    """Render the current revision as a PDF of `kind`, store bytes and SHA-256, and flush.

    The executed copy is sealed with the instance certificate (PAdES B-B) before it is
    hashed, so the stored SHA-256 is that of the sealed bytes people download. The copy
    for signature is not sealed. A revision's document of a kind is frozen once issued:
    when one exists it is returned unchanged, never re-rendered or re-sealed.

    :raises ValueError: unknown `kind`.
    :raises weasyprint.urls.FatalURLFetchingError: ``DOCUMENT_STRICT_ASSETS`` is on and
        the template referenced a missing or forbidden resource (a BaseException).
    """
    existing = _document(agreement, kind)
    if existing is not None:
        return existing
    html = render_agreement_html(agreement_snapshot(agreement, kind))
    content = html_to_pdf(html, strict=current_app.config.get("DOCUMENT_STRICT_ASSETS", False))
    renderer = f"weasyprint {weasyprint.__version__}"
    if kind == "executed":
        content = seal_document(
            content, reason=f"Executed agreement {agreement.id}, revision {agreement.revision}")
        renderer += f"; pyhanko {pyhanko_version} PAdES-B-B"
    document = AgreementDocument(
        agreement_id=agreement.id, revision=agreement.revision, kind=kind,
        sha256=sha256_hex(content), content=content, renderer=renderer,
    )
    db.session.add(document)
    db.session.flush()
    logger.info("agreement %s: issued %s PDF of revision %s (sha256 %s, %d bytes)",
                agreement.id, kind, agreement.revision, document.sha256, len(content))
    return document


# The terms an amendment can change, as the document names them, in reading order.
CHANGED_TERMS = (
    ("title", "the title"), ("purposes", "the purposes (section 1)"),
    ("scope_description", "the activities covered (section 1)"),
    ("population", "the students covered (section 1)"),
    ("legal_basis", "the legal authority (section 2)"),
    ("categories", "the schedule of data (section 3)"),
    ("use_limitation", "the use limitation (section 5)"),
    ("no_reidentification", "the re-identification restriction (section 5)"),
    ("security_requirements", "the security requirements (section 6)"),
    ("retention_days", "the retention period (section 7)"),
    ("destruction_days", "the destruction period (section 7)"),
    ("breach_notification_hours", "the breach notification deadline (section 8)"),
    ("start_date", "the start date (section 9)"), ("end_date", "the end date (section 9)"),
    ("renewal_notice_days", "the renewal notice (section 9)"),
    ("clauses", "the additional clauses"),
)


def _successor(agreement: Agreement) -> dict | None:
    """What the renewal or amendment document says about the agreement it follows."""
    before = agreement.predecessor
    if before is None or agreement.successor_kind not in ("renewal", "amendment"):
        return None
    changes = [label for name, label in CHANGED_TERMS
               if getattr(agreement, name) != getattr(before, name)]
    return {
        "kind": agreement.successor_kind,
        "predecessor_id": before.id,
        "predecessor_title": before.title,
        "predecessor_start_date": before.start_date.isoformat(),
        "predecessor_end_date": before.end_date.isoformat(),
        "changes": changes,
    }


def _document(agreement: Agreement, kind: str) -> AgreementDocument | None:
    return db.session.scalar(sa.select(AgreementDocument).where(
        AgreementDocument.agreement_id == agreement.id,
        AgreementDocument.revision == agreement.revision,
        AgreementDocument.kind == kind))


def _signed_signatures(agreement: Agreement) -> dict[int, Signature]:
    rows = db.session.scalars(sa.select(Signature).where(
        Signature.agreement_id == agreement.id,
        Signature.revision == agreement.revision,
        Signature.state == SignatureState.SIGNED.value))
    return {s.organization_id: s for s in rows}


def _local(at: datetime | None, zone: ZoneInfo) -> str | None:
    # The abbreviation (PST/PDT) says which offset applied on that date.
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if at else None


def _signatory(sig: Signature | None, zone: ZoneInfo) -> dict | None:
    if sig is None:
        return None
    return {
        "name": sig.signer_name or "",
        "title": sig.signer_title or "",
        "authority": sig.authority or "",
        "signed_at": _local(sig.signed_at, zone),
        "ip": sig.ip_address,
        "user_agent": sig.user_agent,
        "document_sha256": sig.document_sha256,
    }


def category_schedule(codes: list[str]) -> list[dict]:
    rows = {c.code: c for c in db.session.scalars(
        sa.select(DataCategory).where(DataCategory.code.in_(codes)))} if codes else {}
    result = []
    for code in codes:
        row = rows.get(code)
        result.append({"code": code, "name": row.name if row else code,
                       "fields": list(row.fields or []) if row else []})
    return result


def _join(items: list[str], word: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _population_text(population: dict) -> str:
    school_ids = list(population.get("schools") or [])
    grades = [str(g) for g in population.get("grades") or []]
    names = {}
    if school_ids:
        names = dict(db.session.execute(
            sa.select(Organization.id, Organization.name).where(
                Organization.id.in_(school_ids))).all())
    schools = [names.get(i, f"organization {i}") for i in school_ids]
    if grades:
        who = f"Students in grade{'s' if len(grades) > 1 else ''} {_join(grades, 'and')}"
    else:
        who = "Students in any grade"
    if schools:
        return f"{who} enrolled at {_join(schools, 'or')}."
    return f"{who} at any school of the source party."


def _audit(agreement: Agreement, zone: ZoneInfo) -> list[dict]:
    signature_orgs = dict(db.session.execute(
        sa.select(Signature.id, Organization.name)
        .join(Organization, Organization.id == Signature.organization_id)
        .where(Signature.agreement_id == agreement.id)).all())
    about_agreement = sa.and_(AuditEntry.subject_type == "agreement",
                              AuditEntry.subject_id == agreement.id)
    condition = about_agreement
    if signature_orgs:
        condition = sa.or_(about_agreement, sa.and_(
            AuditEntry.subject_type == "signature",
            AuditEntry.subject_id.in_(list(signature_orgs))))
    entries = db.session.scalars(sa.select(AuditEntry).where(condition).order_by(AuditEntry.id))
    return [
        {
            "at": _local(e.at, zone),
            "actor": e.actor_label,
            "ip": e.ip_address,
            "user_agent": e.user_agent,
            "event": (e.event if e.subject_type == "agreement"
                      else f"{e.event} (signature of {signature_orgs[e.subject_id]})"),
            "from_state": e.from_state,
            "to_state": e.to_state,
        }
        for e in entries
    ]
