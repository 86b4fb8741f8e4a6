"""The disclosure log: enforcers report what they released; the district and families read it.

A report is stored only if every record in it was permitted by the access rules at
the moment of release (the same `decide` that answers the decision API), so the log
never shows a disclosure the rules did not allow as if it were in order. The stored
agreement, consents, basis and exception flag are the server's own answer, which
makes the FERPA 34 CFR 99.32 record (exception-based disclosures) trustworthy.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import g, request
from sqlalchemy.exc import IntegrityError

from consent.access.decisions import DENIED_REASON, decide
from consent.access.facts import rules_version
from consent.access.signing import canonical_json
from consent.api import bp
from consent.api.spec import operation, query_param
from consent.api.validation import json_body
from consent.auth.access import AccessDenied
from consent.auth.permissions import family_student, is_district_user, reads_every_recipient
from consent.errors import Conflict, NotFound, ValidationFailed
from consent.extensions import db
from consent.models import (
    Consent,
    DataCategory,
    Disclosure,
    DisclosureReport,
    LegalBasis,
    Organization,
    Student,
)
from consent.services import audit
from consent.services.actors import actor_for, client_actor
from consent.timeutil import check_year, iso, parse_instant, start_of_day, utcnow

logger = logging.getLogger(__name__)

DISTRICT_READERS = ("admin", "legal", "staff")
FAMILY = ("guardian", "student")
# Clocks of enforcers and the server differ a little; a release far in the future is a bug.
CLOCK_SKEW = timedelta(minutes=5)
MAX_PAGE = 1000

CODE = {"type": "string", "minLength": 1, "maxLength": 64}
MAX_INT = 2**31 - 1  # what an integer column holds
DISCLOSURE_RECORD = {
    "type": "object", "additionalProperties": False,
    "required": ["student", "categories", "fields", "agreement", "basis"],
    "properties": {
        "student": {"type": "string", "minLength": 1, "maxLength": 128,
                    "description": "District student identifier (OneRoster sourcedId)"},
        "categories": {"type": "array", "items": CODE, "minItems": 1, "uniqueItems": True,
                       "description": "Data category codes released"},
        "fields": {"type": "array", "uniqueItems": True,
                   "items": {"type": "string", "minLength": 1, "maxLength": 128},
                   "description": "Export field names released (each a field of one of "
                                  "the categories)"},
        "agreement": {"type": "integer", "minimum": 1, "maximum": MAX_INT,
                      "description": "The agreement of the grant the release rests on"},
        "consent": {"type": ["integer", "array", "null"], "minimum": 1, "maximum": MAX_INT,
                    "items": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
                    "uniqueItems": True,
                    "description": "The consent id(s) of the grant, for consent-based grants"},
        "basis": {"enum": [b.value for b in LegalBasis]},
        "rows": {"type": "integer", "minimum": 1, "maximum": MAX_INT,
                 "description": "How many rows of this student were released (a student "
                                "with no row released is not a disclosure)"},
    },
}
DISCLOSURE_REPORT = {
    "type": "object", "additionalProperties": False,
    "required": ["idempotency_key", "bundle_version", "released_at", "purpose", "records"],
    "properties": {
        "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 128,
                            "pattern": "^[A-Za-z0-9._:-]+$",
                            "description": "Unique per report; a retry with the same key "
                                           "and body returns the stored report"},
        "bundle_version": {"type": "integer", "minimum": 0,
                           "description": "Version of the rules bundle the enforcer applied"},
        "released_at": {"type": "string", "format": "date-time",
                        "description": "When the data was released (ISO 8601 with offset)"},
        "purpose": CODE,
        "records": {"type": "array", "items": DISCLOSURE_RECORD, "minItems": 1,
                    "maxItems": 10000, "description": "One record per student released"},
    },
}


def _category_names() -> dict[str, str]:
    return dict(db.session.execute(sa.select(DataCategory.code, DataCategory.name)).all())


def disclosure_dict(d: Disclosure, *, for_family: bool = False,
                    names: dict[str, str] | None = None) -> dict:
    """A disclosure as the API shows it (families do not see who reported it)."""
    names = names if names is not None else _category_names()
    data = {
        "id": d.id, "student": d.student.sourced_id, "recipient": d.recipient.slug,
        "recipient_name": d.recipient.name, "purpose": d.purpose,
        "categories": [{"code": c, "name": names.get(c, c)} for c in d.categories],
        "fields": list(d.fields), "released_at": iso(d.released_at), "rows": d.row_count,
        "agreement": d.agreement_id, "consents": list(d.consent_ids or []), "basis": d.basis,
        "exception": d.exception, "under_consent": d.basis == LegalBasis.CONSENT,
    }
    if not for_family:
        data.update({"report": d.report_id, "bundle_version": d.bundle_version,
                     "reported_at": iso(d.reported_at),
                     "reported_by_token": d.reported_by_token_id})
    return data


def report_dict(report: DisclosureReport) -> dict:
    names = _category_names()
    return {"id": report.id, "idempotency_key": report.idempotency_key,
            "recipient": report.recipient.slug, "purpose": report.purpose,
            "released_at": iso(report.released_at), "bundle_version": report.bundle_version,
            "reported_at": iso(report.reported_at),
            "records": [disclosure_dict(d, names=names) for d in report.disclosures]}


def _reporting_recipient() -> Organization:
    """The caller's own organization: only the recipient reports what it released.

    :raises AccessDenied: the district's staff or client token, or a person without an
        organization.
    """
    principal = g.principal
    if reads_every_recipient(principal) or principal.organization_id is None:
        raise AccessDenied("only the recipient organization reports what it released")
    return db.session.get(Organization, principal.organization_id)


def _stored(recipient: Organization, key: str, digest: str):
    """The report already stored under `key`, if any.

    :raises Conflict: the key was used for a different report.
    """
    report = db.session.scalar(sa.select(DisclosureReport).where(
        DisclosureReport.recipient_id == recipient.id, DisclosureReport.idempotency_key == key))
    if report is not None and report.request_sha256 != digest:
        raise Conflict("this idempotency key was already used for a different report",
                       field="idempotency_key")
    return report


def _check_record(recipient: Organization, record: dict, index: int, purpose: str,
                  released_at: datetime, students: dict, fields_of: dict,
                  seen: dict) -> tuple[Student, list]:
    """The student and the per-category decisions for one record, if all permit.

    :raises ValidationFailed: the record names the field at fault, or `records[i]`
        when the rules did not permit it.
    """
    where = f"records[{index}]"
    ref = record["student"]
    if ref not in students:
        students[ref] = db.session.scalar(sa.select(Student).where(Student.sourced_id == ref))
    student = students[ref]
    if student is None:
        # Answered as any release the rules do not permit: a partner must not learn from
        # this endpoint which student ids exist in the district.
        category = record["categories"][0]
        raise ValidationFailed(f"not permitted at {iso(released_at)}: {category} for "
                               f"{purpose}: {DENIED_REASON}", field=where,
                               details={"category": category, "reason": DENIED_REASON})
    pair = (ref, record["agreement"])
    if pair in seen:
        raise ValidationFailed(f"this student is already reported under this agreement in "
                               f"records[{seen[pair]}]", field=f"{where}.student")
    seen[pair] = index
    decisions = []
    for category in record["categories"]:
        decision = decide(recipient, student, ref, category, purpose, released_at)
        if decision.decision != "permit":
            # The same words for every refusal (as the decision API's): why a student is
            # not covered (a refusal, an opt-out, another school) is the family's business.
            raise ValidationFailed(
                f"not permitted at {iso(released_at)}: {category} for {purpose}: "
                f"{DENIED_REASON}", field=where,
                details={"category": category, "reason": DENIED_REASON})
        if decision.agreement != record["agreement"]:
            raise ValidationFailed(
                f"{category} rests on agreement {decision.agreement}, not "
                f"{record['agreement']}: report one record per agreement",
                field=f"{where}.agreement", details={"category": category})
        if decision.basis != record["basis"]:
            raise ValidationFailed(f"agreement {decision.agreement} rests on "
                                   f"{decision.basis}, not {record['basis']}",
                                   field=f"{where}.basis")
        decisions.append(decision)
    allowed = set().union(*(fields_of.get(c, ()) for c in record["categories"]))
    for name in record["fields"]:
        if name not in allowed:
            raise ValidationFailed(f"'{name}' is not a field of the categories released",
                                   field=f"{where}.fields")
    claimed = record.get("consent")
    claimed = [claimed] if isinstance(claimed, int) else list(claimed or [])
    if claimed:
        owned = set(db.session.scalars(sa.select(Consent.id).where(
            Consent.id.in_(claimed), Consent.student_id == student.id,
            Consent.recipient_id == recipient.id)))
        if set(claimed) - owned:
            raise ValidationFailed("not a consent of this student for this recipient",
                                   field=f"{where}.consent")
    return student, decisions


@operation(bp, "/disclosures", "POST",
           summary="Report what was released; every record must have been permitted",
           tag="disclosures", roles=("staff",), clients=True, body=DISCLOSURE_REPORT,
           responses={201: {"description": "Stored"},
                      200: {"description": "Already stored under this idempotency key"}})
def report_disclosures():
    recipient = _reporting_recipient()
    payload = json_body(DISCLOSURE_REPORT)
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    key = payload["idempotency_key"]
    existing = _stored(recipient, key, digest)
    if existing is not None:
        return {"data": report_dict(existing)}, 200
    try:
        released_at = parse_instant(payload["released_at"])
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="released_at") from None
    now = utcnow()
    if released_at > now + CLOCK_SKEW:
        raise ValidationFailed("released_at is in the future", field="released_at")
    # Nothing is released after it is reported: a time ahead of this clock (within the
    # skew allowed) is the sender's clock running fast. Checked and kept as now, so that
    # a revocation in the next minutes cannot fall before a release logged under it.
    released_at = min(released_at, now)
    if payload["bundle_version"] > rules_version(recipient.id):
        raise ValidationFailed("no rules bundle with this version was issued",
                               field="bundle_version")
    fields_of = dict(db.session.execute(sa.select(DataCategory.code, DataCategory.fields)).all())
    students, seen, checked = {}, {}, []
    for index, record in enumerate(payload["records"]):
        checked.append((record, *_check_record(recipient, record, index, payload["purpose"],
                                               released_at, students, fields_of, seen)))
    principal = g.principal
    actor = (client_actor(principal.token_id, recipient.id) if principal.is_client
             else actor_for(principal.user, "api"))
    report = DisclosureReport(
        recipient_id=recipient.id, idempotency_key=key, request_sha256=digest,
        purpose=payload["purpose"], released_at=released_at,
        bundle_version=payload["bundle_version"], reported_at=now,
        reported_by_token_id=principal.token_id, reported_by_label=actor.label)
    db.session.add(report)
    for position, (record, student, decisions) in enumerate(checked):
        consents = sorted({d.consent for d in decisions if d.consent is not None})
        db.session.add(Disclosure(
            report=report, position=position, recipient_id=recipient.id,
            student_id=student.id, categories=list(record["categories"]),
            fields=list(record["fields"]), purpose=payload["purpose"], released_at=released_at,
            row_count=record.get("rows"), agreement_id=decisions[0].agreement,
            consent_ids=consents, basis=decisions[0].basis,
            exception=bool(decisions[0].exception), bundle_version=payload["bundle_version"],
            reported_at=now, reported_by_token_id=principal.token_id))
    try:
        db.session.flush()
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer with its report.
        db.session.rollback()
        existing = _stored(recipient, key, digest)
        if existing is None:
            raise
        return {"data": report_dict(existing)}, 200
    audit.record("disclosure_reported", "disclosure_report", report.id, actor, data={
        "recipient": recipient.slug, "records": len(checked),
        "exception_records": sum(1 for _, _, d in checked if d[0].exception)})
    db.session.commit()
    logger.info("disclosure report %s from %s: %s records", report.id, recipient.slug,
                len(checked))
    return {"data": report_dict(report)}, 201


def _since(text: str) -> datetime:
    """An instant, or a date meaning the start of that day in the district."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            check_year(day)
            return start_of_day(day)
        return parse_instant(text)
    except ValueError:
        raise ValidationFailed("use a date YYYY-MM-DD or an instant with offset, "
                               "e.g. 2027-01-31T09:00:00Z", field="since") from None


def _flag(name: str) -> bool | None:
    text = request.args.get(name)
    if text is None or text == "":
        return None
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ValidationFailed("use true or false", field=name)


def _whole(name: str, default: int, lowest: int, highest: int) -> int:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or not lowest <= int(text) <= highest:
        raise ValidationFailed(f"use a whole number from {lowest} to {highest}", field=name)
    return int(text)


@operation(bp, "/disclosures", "GET",
           summary="The disclosure record (FERPA 99.32: filter with exception=true)",
           tag="disclosures", roles=DISTRICT_READERS,
           query=[query_param("student", "Student identifier (sourcedId)"),
                  query_param("since", "Released at or after: a date (district zone) or "
                                       "an ISO 8601 instant"),
                  query_param("recipient", "Recipient organization slug"),
                  query_param("exception", "true: only disclosures under a FERPA exception "
                                           "(no consent); false: only the others",
                              schema={"type": "boolean"}),
                  query_param("after", "Return disclosures with an id above this "
                                       "(the previous page's next_after)",
                              schema={"type": "integer"}),
                  query_param("limit", f"Page size, at most {MAX_PAGE}",
                              schema={"type": "integer"})])
def list_disclosures():
    user = g.principal.user
    if not (user.has_role("admin") or is_district_user(user)):
        raise AccessDenied("only district staff read the disclosure record")
    query = sa.select(Disclosure).order_by(Disclosure.id)
    if ref := request.args.get("student"):
        student_id = db.session.scalar(sa.select(Student.id).where(Student.sourced_id == ref))
        if student_id is None:
            raise ValidationFailed(f"no student '{ref}'", field="student")
        query = query.where(Disclosure.student_id == student_id)
    if slug := request.args.get("recipient"):
        org_id = db.session.scalar(sa.select(Organization.id).where(Organization.slug == slug))
        if org_id is None:
            raise ValidationFailed(f"no organization '{slug}'", field="recipient")
        query = query.where(Disclosure.recipient_id == org_id)
    if since := request.args.get("since"):
        query = query.where(Disclosure.released_at >= _since(since))
    exception = _flag("exception")
    if exception is not None:
        query = query.where(Disclosure.exception == exception)
    limit = _whole("limit", 200, 1, MAX_PAGE)
    query = query.where(Disclosure.id > _whole("after", 0, 0, 2**62)).limit(limit)
    rows = db.session.scalars(query).all()
    names = _category_names()
    return {"data": [disclosure_dict(d, names=names) for d in rows],
            "next_after": rows[-1].id if len(rows) == limit else None}


@operation(bp, "/students/<int:student_id>/disclosures", "GET",
           summary="Who received what about your child, newest first",
           tag="families", roles=FAMILY)
def list_student_disclosures(student_id: int):
    student = family_student(g.principal.user, student_id)
    if student is None:
        raise NotFound("no such student")
    rows = db.session.scalars(sa.select(Disclosure).where(Disclosure.student_id == student.id)
                              .order_by(Disclosure.released_at.desc(), Disclosure.id.desc()))
    names = _category_names()
    return {"data": [disclosure_dict(d, for_family=True, names=names) for d in rows]}
