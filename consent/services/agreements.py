"""Agreement use cases: draft, edit, review, sign, execute, activate, end.

Every function changes data and flushes; the view, command or job commits once.
"""

from __future__ import annotations

import logging
import re
from copy import deepcopy
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from consent.access.facts import agreement_window
from consent.errors import Conflict, Forbidden, NotFound, ValidationFailed
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementDocument,
    AgreementParty,
    DataCategory,
    LegalBasis,
    Organization,
    OrgKind,
    PartyRole,
    Review,
    Role,
    RulesChange,
    Signature,
    User,
)
from consent.models.users import user_roles
from consent.services import audit, notifications
from consent.services.actors import SYSTEM, Actor
from consent.services.agreement_templates import TEMPLATES, template_defaults
from consent.services.consent_forms import issue_forms
from consent.services.transitions import check_version, fire, lock
from consent.timeutil import FIRST_YEAR, LAST_YEAR, check_year, iso, local_date, utcnow
from workflows import AGREEMENT, AgreementState, SignatureState, TransitionRefused
from workflows import AGREEMENT_REQUEST_EVENTS as REQUEST_EVENTS

logger = logging.getLogger(__name__)
S = AgreementState
PURPOSE_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
CONTENT_FIELDS = (
    "title", "legal_basis", "purposes", "categories", "population", "start_date", "end_date",
    "scope_description", "use_limitation", "no_reidentification", "security_requirements",
    "retention_days", "destruction_days", "breach_notification_hours", "renewal_notice_days",
    "clauses",
)
EDITABLE_STATES = {S.DRAFT, S.APPROVED, S.OUT_FOR_SIGNATURE}
# The written text an agreement may carry: about 40 printed pages. The signing copy is
# rendered inside the send-for-signature transaction, so this bounds how long that holds
# the agreement's lock (and, on SQLite, the database's write lock).
MAX_TEXT_CHARACTERS = 100_000
TEXT_FIELDS = ("title", "scope_description", "use_limitation", "security_requirements")


def _as_date(value, field: str) -> date:
    try:
        day = value if isinstance(value, date) else date.fromisoformat(value)
        check_year(day)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{str(value)[:40]!r} is not a real date (YYYY-MM-DD) between "
                               f"{FIRST_YEAR} and {LAST_YEAR}", field=field) from None
    return day


def _orgs_by_slug(slugs, field: str) -> list[Organization]:
    orgs = []
    for i, slug in enumerate(slugs):
        org = db.session.scalar(sa.select(Organization).where(Organization.slug == slug))
        if org is None:
            raise ValidationFailed(f"no organization '{slug}'", field=f"{field}[{i}]")
        orgs.append(org)
    return orgs


def _check_content(values: dict) -> None:
    """Semantic checks on agreement content (types were checked at the edge)."""
    if values["end_date"] < values["start_date"]:
        raise ValidationFailed("the end date is before the start date", field="end_date")
    if values["legal_basis"] not in {b.value for b in LegalBasis}:
        raise ValidationFailed(f"unknown legal basis '{values['legal_basis']}'",
                               field="legal_basis")
    for i, purpose in enumerate(values["purposes"]):
        if not PURPOSE_CODE.match(purpose):
            raise ValidationFailed("a purpose is a lower-case code such as academic_support",
                                   field=f"purposes[{i}]")
    known = set(db.session.scalars(sa.select(DataCategory.code)))
    for i, code in enumerate(values["categories"]):
        if code not in known:
            raise ValidationFailed(f"unknown data category '{code}'", field=f"categories[{i}]")
    for name in ("retention_days", "destruction_days", "breach_notification_hours",
                 "renewal_notice_days"):
        if values.get(name) is not None and values[name] < 0:
            raise ValidationFailed("must not be negative", field=name)
    total = sum(len(values.get(name) or "") for name in TEXT_FIELDS) + sum(
        len(c.get("heading") or "") + len(c.get("text") or "") for c in values.get("clauses")
        or [])
    if total > MAX_TEXT_CHARACTERS:
        raise ValidationFailed(f"the agreement's text is {total:,} characters; at most "
                               f"{MAX_TEXT_CHARACTERS:,} fit in one agreement", field="clauses")


def _population(raw: dict | None) -> dict:
    raw = raw or {}
    schools = _orgs_by_slug(raw.get("schools", []), "population.schools")
    return {"schools": [o.id for o in schools], "grades": list(raw.get("grades", []))}


# The field that supplies each FERPA written-agreement element (shared/reference.md),
# in the order the checklist names them.
CHECKLIST_FIELDS = {
    "recipient": "recipients", "legal authority": "legal_basis", "purpose": "purposes",
    "scope": "scope_description", "duration": "end_date", "data disclosed": "categories",
    "use limitation": "use_limitation", "no re-identification": "no_reidentification",
    "security requirements": "security_requirements", "retention": "retention_days",
    "destruction with a time period": "destruction_days",
    "breach notification": "breach_notification_hours",
}


def _parties(source: Organization, recipients: list[Organization],
             data: dict) -> list[AgreementParty]:
    """Parties with their signing order and review duty.

    By default the district reviews and signs first, then every recipient signs in
    parallel. `signing_order` maps slugs to groups (1 signs first; equal numbers sign
    in parallel) and `reviewers` lists the parties whose reviewers must approve.
    """
    order = data.get("signing_order") or {}
    reviewers = set(data.get("reviewers") or [source.slug])
    slugs = {source.slug} | {r.slug for r in recipients}
    for slug in sorted(set(order) - slugs):
        raise ValidationFailed(f"'{slug}' is not a party", field=f"signing_order.{slug}")
    for i, slug in enumerate(data.get("reviewers") or []):
        if slug not in slugs:
            raise ValidationFailed(f"'{slug}' is not a party", field=f"reviewers[{i}]")
    return [AgreementParty(organization_id=org.id, role=role,
                           signing_group=order.get(org.slug, default_group),
                           review_required=org.slug in reviewers)
            for org, role, default_group in [(source, PartyRole.SOURCE, 1)]
            + [(r, PartyRole.RECIPIENT, 2) for r in recipients]]


def checklist_missing(agreement: Agreement) -> list[str]:
    """The FERPA written-agreement elements this agreement still lacks, in checklist order."""
    present = {
        "recipient": bool(agreement.recipient_ids),
        "legal authority": agreement.legal_basis in {b.value for b in LegalBasis},
        "purpose": bool(agreement.purposes),
        "scope": bool((agreement.scope_description or "").strip()),
        "duration": bool(agreement.start_date and agreement.end_date),
        "data disclosed": bool(agreement.categories),
        "use limitation": bool((agreement.use_limitation or "").strip()),
        "no re-identification": bool(agreement.no_reidentification),
        "security requirements": bool((agreement.security_requirements or "").strip()),
        "retention": agreement.retention_days is not None,
        "destruction with a time period": bool(agreement.destruction_days),
        "breach notification": bool(agreement.breach_notification_hours),
    }
    return [element for element in CHECKLIST_FIELDS if not present[element]]


def create_draft(data: dict, actor: Actor) -> Agreement:
    """Draft an agreement from a template; `data` overrides the template's defaults.

    :raises ValidationFailed: unknown template, organization or category, bad dates.
    """
    key = data.get("template", "mou")
    if key not in TEMPLATES:
        raise ValidationFailed(f"unknown template '{key}'", field="template")
    source = db.session.get(Organization, actor.organization_id) if actor.organization_id else None
    if source is None or source.kind != OrgKind.DISTRICT:
        raise Forbidden("only district legal staff draft agreements")
    values = template_defaults(key) | {k: v for k, v in data.items() if k in CONTENT_FIELDS}
    values["start_date"] = _as_date(values.get("start_date"), "start_date")
    values["end_date"] = _as_date(values.get("end_date"), "end_date")
    values.setdefault("purposes", [])
    values.setdefault("categories", [])
    _check_content(values)
    values["population"] = _population(values.get("population"))
    recipients = _orgs_by_slug(data.get("recipients", []), "recipients")
    if not recipients:
        raise ValidationFailed("name at least one recipient organization", field="recipients")
    if any(r.id == source.id for r in recipients):
        raise ValidationFailed("the district cannot be its own recipient", field="recipients")
    agreement = Agreement(template_key=key, source_org_id=source.id, created_by_id=actor.id,
                          state=S.DRAFT.value, revision=1, **values)
    agreement.parties = _parties(source, recipients, data)
    db.session.add(agreement)
    db.session.flush()
    audit.record("create", "agreement", agreement.id, actor, to_state=agreement.state,
                 data={"template": key, "revision": 1})
    return agreement


def _require_drafting_legal(agreement: Agreement, actor: Actor, what: str) -> None:
    """Only the drafting organization's legal staff change an agreement's content.

    :raises Forbidden: another role, or legal staff of another organization.
    """
    if not actor.has_any_role("legal") or actor.organization_id != agreement.source_org_id:
        raise Forbidden(f"only the drafting organization's legal staff {what} this agreement")


SUCCESSOR_KINDS = ("renewal", "amendment")
OPEN_STATES = {S.DRAFT, S.IN_REVIEW, S.APPROVED, S.OUT_FOR_SIGNATURE}


def start_successor(predecessor: Agreement, kind: str, actor: Actor,
                    expected_version: int | None = None) -> Agreement:
    """Draft a renewal or an amendment of an executed agreement, prefilled from it.

    A renewal starts the day after the predecessor ends and runs as long; an
    amendment replaces it from today (or its start) to the same end. Either way the
    predecessor is superseded at the instant the successor takes effect.

    :raises Conflict: the predecessor is not in force, or a successor is under way.
    """
    if kind not in SUCCESSOR_KINDS:
        raise ValidationFailed("choose renewal or amendment", field="kind")
    _require_drafting_legal(predecessor, actor, "renew or amend")
    predecessor = lock(Agreement, predecessor.id)
    check_version(predecessor, expected_version)
    if predecessor.state not in (S.EXECUTED, S.ACTIVE) or predecessor.ended_on is not None:
        raise Conflict(f"only an agreement in force can be renewed or amended; this one is "
                       f"{predecessor.state}", details={"state": predecessor.state})
    pending = db.session.scalar(sa.select(Agreement.id).where(
        Agreement.predecessor_id == predecessor.id, Agreement.state.in_(OPEN_STATES)))
    if pending:
        raise Conflict(f"agreement {pending} already succeeds this one; continue with it",
                       details={"successor": pending})
    values = {f: deepcopy(getattr(predecessor, f)) for f in CONTENT_FIELDS}
    if kind == "renewal":
        values["start_date"] = predecessor.end_date + timedelta(days=1)
        values["end_date"] = values["start_date"] + (predecessor.end_date - predecessor.start_date)
    else:
        values["start_date"] = max(local_date(utcnow()), predecessor.start_date)
    values["title"] = f"{predecessor.title} ({kind})"
    agreement = Agreement(template_key=predecessor.template_key,
                          source_org_id=predecessor.source_org_id, created_by_id=actor.id,
                          state=S.DRAFT.value, revision=1, predecessor_id=predecessor.id,
                          successor_kind=kind, **values)
    agreement.parties = [AgreementParty(organization_id=p.organization_id, role=p.role,
                                        signing_group=p.signing_group,
                                        review_required=p.review_required)
                         for p in predecessor.parties]
    db.session.add(agreement)
    db.session.flush()
    audit.record("create", "agreement", agreement.id, actor, to_state=agreement.state,
                 data={"successor_of": predecessor.id, "kind": kind, "revision": 1})
    audit.record(f"{kind}_started", "agreement", predecessor.id, actor,
                 data={"successor": agreement.id})
    return agreement


def update_content(agreement: Agreement, data: dict, actor: Actor, expected_version: int | None):
    """Edit an agreement's content. After approval or signature this starts a new
    revision in draft and voids every signature; executed agreements never change.

    :raises Conflict: stale version, or a state in which content is frozen.
    """
    _require_drafting_legal(agreement, actor, "edit")
    agreement = lock(Agreement, agreement.id)
    check_version(agreement, expected_version)
    if agreement.state not in EDITABLE_STATES:
        raise Conflict(f"an agreement that is {agreement.state} cannot be edited",
                       details={"state": agreement.state})
    values = {f: getattr(agreement, f) for f in CONTENT_FIELDS}
    values.update({k: v for k, v in data.items() if k in CONTENT_FIELDS})
    values["start_date"] = _as_date(values["start_date"], "start_date")
    values["end_date"] = _as_date(values["end_date"], "end_date")
    _check_content(values)
    _check_continuity(agreement, values["start_date"])
    if "population" in data:
        values["population"] = _population(data["population"])
    changed = sorted(k for k in CONTENT_FIELDS if values[k] != getattr(agreement, k))
    if not changed:
        return agreement
    if agreement.state != S.DRAFT:
        _new_revision(agreement, actor, "content changed")
    for k in changed:
        setattr(agreement, k, values[k])
    db.session.flush()
    audit.record("edit", "agreement", agreement.id, actor, data={
        "changed": changed, "revision": agreement.revision})
    return agreement


def _check_continuity(agreement: Agreement, start: date) -> None:
    """A successor must take over no later than the day after its predecessor ends, so
    no day is left uncovered (an earlier start supersedes the predecessor at once).

    :raises ValidationFailed: the start date would leave a gap.
    """
    if agreement.predecessor_id is None:
        return
    predecessor = db.session.get(Agreement, agreement.predecessor_id)
    if start < predecessor.start_date:
        raise ValidationFailed(
            f"agreement {predecessor.id} starts on {predecessor.start_date.isoformat()}; its "
            f"{agreement.successor_kind} cannot start before it", field="start_date")
    latest = predecessor.end_date + timedelta(days=1)
    if start > latest:
        raise ValidationFailed(
            f"agreement {predecessor.id} ends on {predecessor.end_date.isoformat()}; its "
            f"{agreement.successor_kind} must start on or before {latest.isoformat()} so no "
            "day is left uncovered", field="start_date")


def _void_signatures(agreement: Agreement, actor: Actor) -> None:
    for sig in _signatures(agreement):
        if sig.state in (SignatureState.PENDING, SignatureState.INVITED, SignatureState.SIGNED):
            fire(sig, "void", actor, locked=True)


def _signatures(agreement: Agreement, revision: int | None = None) -> list[Signature]:
    return list(db.session.scalars(
        sa.select(Signature).where(Signature.agreement_id == agreement.id,
                                   Signature.revision == (revision or agreement.revision))
        .order_by(Signature.signing_group, Signature.id)))


def comment_text(text: str) -> str:
    """:raises ValidationFailed: an empty comment."""
    if not (text or "").strip():
        raise ValidationFailed("write a comment", field="comment")
    return text.strip()


def add_comment(agreement: Agreement, actor: Actor, text: str) -> Agreement:
    """Comment on the current revision; it does not change the state."""
    if not actor.has_any_role("legal", "reviewer"):
        raise Forbidden("only legal staff and reviewers comment on agreements")
    if agreement.state not in OPEN_STATES:
        raise Conflict(f"an agreement that is {agreement.state} takes no more comments",
                       details={"state": agreement.state})
    db.session.add(Review(agreement_id=agreement.id, revision=agreement.revision,
                          organization_id=actor.organization_id, reviewer_id=actor.id,
                          decision="comment", comment=text))
    audit.record("comment", "agreement", agreement.id, actor, data={"comment": text},
                 revision_hash=agreement.content_hash())
    return agreement


def _round_approvals(agreement: Agreement):
    """A select of the organizations that approved in the current review round: on the
    current revision, after the last request for changes (the draft may have been
    edited since, so earlier approvals no longer count)."""
    last_request = sa.select(sa.func.coalesce(sa.func.max(Review.id), 0)).where(
        Review.agreement_id == agreement.id, Review.revision == agreement.revision,
        Review.decision == "request_changes").scalar_subquery()
    return sa.select(Review.organization_id).where(
        Review.agreement_id == agreement.id, Review.revision == agreement.revision,
        Review.decision == "approve", Review.id > last_request)


def reviews_complete(agreement: Agreement, extra_org_id: int | None = None) -> bool:
    """Every party that must review has approved the current revision in this round."""
    required = {p.organization_id for p in agreement.parties if p.review_required}
    approved = set(db.session.scalars(_round_approvals(agreement)))
    if extra_org_id:
        approved.add(extra_org_id)
    return required <= approved


def has_approved(agreement: Agreement, org_id: int | None) -> bool:
    """True when `org_id`'s reviewers already approved in the current review round."""
    return db.session.scalar(_round_approvals(agreement).where(
        Review.organization_id == org_id).limit(1)) is not None


def review(agreement: Agreement, actor: Actor, decision: str, comment: str,
           expected_version: int | None) -> Agreement:
    """Record a reviewer's decision; the last required approval approves the agreement.

    :raises Forbidden: the reviewer's organization does not review this agreement.
    """
    agreement = lock(Agreement, agreement.id)
    check_version(agreement, expected_version)
    party = agreement.party_for(actor.organization_id)
    if actor.has_any_role("reviewer") and (party is None or not party.review_required):
        raise Forbidden("your organization does not review this agreement")
    event = "approve" if decision == "approve" else "request_changes"
    if event == "approve" and has_approved(agreement, actor.organization_id):
        raise Conflict("your organization has already approved this revision",
                       details={"state": agreement.state})
    facts = {"reviews_complete": reviews_complete(agreement, actor.organization_id)}
    if event == "approve" and not facts["reviews_complete"]:
        # Not the last approval: check the event would be allowed, then only record it.
        refusal = AGREEMENT.refusal(agreement, "approve", actor, {"reviews_complete": True})
        if refusal:
            raise TransitionRefused("approve", agreement.state, refusal)
        audit.record("review_approved", "agreement", agreement.id, actor,
                     data={"comment": comment}, revision_hash=agreement.content_hash())
    else:
        fire(agreement, event, actor, facts=facts, locked=True, data={"comment": comment})
    db.session.add(Review(agreement_id=agreement.id, revision=agreement.revision,
                          organization_id=actor.organization_id, reviewer_id=actor.id,
                          decision=decision, comment=comment))
    db.session.flush()
    return agreement


def send_for_signature(agreement: Agreement, actor: Actor, expected_version: int | None):
    """Freeze the revision as a PDF, create one signature per party, invite group one."""
    from consent.services.documents import issue_agreement_pdf

    agreement = fire(agreement, "send_for_signature", actor, expected_version=expected_version)
    issue_agreement_pdf(agreement, "for_signature")
    for party in agreement.parties:
        db.session.add(Signature(agreement_id=agreement.id, revision=agreement.revision,
                                 organization_id=party.organization_id,
                                 signing_group=party.signing_group))
    db.session.flush()
    _invite_next_group(agreement, actor)
    return agreement


def signing_document(agreement: Agreement) -> AgreementDocument | None:
    """The frozen PDF of the current revision that signatories sign."""
    return db.session.scalar(sa.select(AgreementDocument).where(
        AgreementDocument.agreement_id == agreement.id,
        AgreementDocument.revision == agreement.revision,
        AgreementDocument.kind == "for_signature"))


def executed_document(agreement: Agreement) -> AgreementDocument | None:
    return db.session.scalar(sa.select(AgreementDocument).where(
        AgreementDocument.agreement_id == agreement.id,
        AgreementDocument.kind == "executed"))


def _invite_next_group(agreement: Agreement, actor: Actor) -> None:
    signatures = _signatures(agreement)
    open_groups = sorted({s.signing_group for s in signatures if s.state != SignatureState.SIGNED})
    if not open_groups:
        return
    group = open_groups[0]
    for sig in signatures:
        if sig.signing_group == group and sig.state == SignatureState.PENDING:
            fire(sig, "invite", actor, locked=True)
            for signer in _signatories_of(sig.organization_id):
                notifications.enqueue_email(
                    signer.email, f"Please sign: {agreement.title}",
                    "notify/signature_request.txt", agreement=agreement, user=signer)


def _signatories_of(org_id: int) -> list[User]:
    return list(db.session.scalars(
        sa.select(User).join(user_roles).join(Role).where(
            User.organization_id == org_id, Role.name == "signatory", User.active)))


def _signature_to_act_on(agreement: Agreement, actor: Actor) -> Signature:
    """The actor's organization's signature when it is that organization's turn.

    Checked before anything is written, so a refused request leaves no trace.

    :raises Conflict: not out for signature, not the organization's turn, or already done.
    :raises Forbidden: the actor's organization is not a party.
    """
    if agreement.state != S.OUT_FOR_SIGNATURE:
        raise Conflict(f"the agreement is {agreement.state}, not out for signature",
                       details={"state": agreement.state})
    sig = next((s for s in _signatures(agreement) if s.organization_id == actor.organization_id),
               None)
    if sig is None:
        raise Forbidden("your organization is not a party to this agreement")
    if sig.state == SignatureState.PENDING:
        raise Conflict("it is not your organization's turn to sign yet",
                       details={"state": agreement.state, "signature": sig.state})
    if sig.state != SignatureState.INVITED:
        raise Conflict(f"your organization's signature is already {sig.state}",
                       details={"state": agreement.state, "signature": sig.state})
    return sig


def sign(agreement: Agreement, actor: Actor, *, name: str, title: str, authority: str,
         document_sha256: str, expected_version: int | None = None) -> Agreement:
    """Sign for the actor's organization; the last signature executes the agreement.

    The agreement row is locked first, so two last signatures arriving together
    execute it exactly once.

    :raises Conflict: not the organization's turn, or the document shown is not the
        current revision's.
    """
    agreement = lock(Agreement, agreement.id)
    check_version(agreement, expected_version)
    sig = _signature_to_act_on(agreement, actor)
    document = signing_document(agreement)
    if document is None or document.sha256 != document_sha256:
        raise Conflict("the document you were shown is not the current revision; reload it",
                       field="document_sha256", details={"state": agreement.state})
    sig = lock(Signature, sig.id)
    # Evidence first: the database refuses a signed row without it.
    sig.signer_id, sig.signer_name, sig.signer_title = actor.id, name, title
    sig.authority, sig.signed_at = authority, utcnow()
    sig.ip_address, sig.user_agent = actor.ip, actor.user_agent
    sig.document_sha256 = document_sha256
    fire(sig, "sign", actor, revision_hash=document.sha256,
         data={"name": name, "title": title, "authority": authority}, locked=True)
    if all(s.state == SignatureState.SIGNED for s in _signatures(agreement)):
        _execute(agreement)
    else:
        _invite_next_group(agreement, actor)
    return agreement


def decline(agreement: Agreement, actor: Actor, reason: str,
            expected_version: int | None = None) -> Agreement:
    """A signatory declines with a reason; the agreement is declined."""
    agreement = lock(Agreement, agreement.id)
    check_version(agreement, expected_version)
    sig = _signature_to_act_on(agreement, actor)
    fire(sig, "decline", actor, facts={"reason": bool(reason.strip())})
    sig.decline_reason = reason
    fire(agreement, "decline", actor, locked=True, data={"reason": reason})
    return agreement


def _execute(agreement: Agreement) -> None:
    from consent.services.documents import issue_agreement_pdf

    now = utcnow()
    fire(agreement, "execute", SYSTEM, facts={"all_signed": True}, locked=True,
         revision_hash=signing_document(agreement).sha256)
    agreement.executed_at = now
    db.session.flush()
    issue_agreement_pdf(agreement, "executed")
    if agreement.legal_basis == LegalBasis.CONSENT:
        issue_forms(agreement)
    note_rules_change(agreement, "executed")
    if agreement.start_date <= local_date(now):
        activate(agreement, now)
    # A past agreement recorded now (or one whose term ran out while it was being signed)
    # is over as soon as it is executed: it never shows as active.
    if agreement.end_date < local_date(now):
        fire(agreement, "expire", SYSTEM, facts={"term_ended": True}, locked=True)
        note_rules_change(agreement, "expired")


def activate(agreement: Agreement, now: datetime) -> None:
    """Executed → active on the start date (the scheduler calls this too); a
    successor supersedes its predecessor at the instant it takes effect."""
    fire(agreement, "activate", SYSTEM, locked=True,
         facts={"term_started": agreement.start_date <= local_date(now)})
    note_rules_change(agreement, "activated")
    if agreement.predecessor_id is None:
        return
    predecessor = lock(Agreement, agreement.predecessor_id)
    if predecessor.state in (S.EXECUTED, S.ACTIVE):
        predecessor.superseded_at = agreement_window(agreement).start
        fire(predecessor, "supersede", SYSTEM, locked=True,
             data={"successor": agreement.id, "at": iso(predecessor.superseded_at)})
        note_rules_change(predecessor, "superseded")


def withdraw(agreement: Agreement, actor: Actor, reason: str, expected_version: int | None):
    """Withdraw before execution; open signatures are voided."""
    agreement = fire(agreement, "withdraw", actor, expected_version=expected_version,
                     data={"reason": reason})
    _void_signatures(agreement, actor)
    agreement.end_reason = reason
    return agreement


def terminate(agreement: Agreement, actor: Actor, reason: str, effective: date,
              expected_version: int | None):
    """Give notice of termination with a reason. Rules stop covering the agreement
    from the first instant of `effective` (a local date); on that date the state
    becomes terminated. When it is today, both happen at once and the rules stop at
    this instant: a termination never takes back what was permitted before it.
    """
    if not reason.strip():
        raise ValidationFailed("give the reason for terminating", field="reason")
    today = local_date(utcnow())
    if effective < today:
        raise ValidationFailed("termination cannot take effect in the past", field="effective_on")
    if effective > agreement.end_date:
        raise ValidationFailed(f"the agreement already ends on {agreement.end_date.isoformat()}",
                               field="effective_on")
    agreement = lock(Agreement, agreement.id)
    check_version(agreement, expected_version)
    refusal = AGREEMENT.refusal(agreement, "terminate", actor)
    if refusal:
        raise TransitionRefused("terminate", agreement.state, refusal)
    if agreement.ended_on is not None:
        raise Conflict(f"termination was already noticed for {agreement.ended_on.isoformat()}",
                       details={"state": agreement.state})
    agreement.ended_on, agreement.end_reason = effective, reason
    notice = {"reason": reason, "effective_on": effective.isoformat()}
    if effective <= today:
        agreement.ended_at = utcnow()  # in force until now, not until midnight
        fire(agreement, "terminate", actor, locked=True, data=notice)
    else:
        db.session.flush()
        audit.record("termination_noticed", "agreement", agreement.id, actor, data=notice,
                     revision_hash=agreement.content_hash())
    note_rules_change(agreement, "terminated")
    return agreement


def terminate_due(now: datetime) -> int:
    """Move agreements whose noticed termination date has come to terminated."""
    today = local_date(now)
    ids = db.session.scalars(sa.select(Agreement.id).where(
        Agreement.state.in_([S.EXECUTED, S.ACTIVE]), Agreement.ended_on <= today)).all()
    for agreement_id in ids:
        fire(db.session.get(Agreement, agreement_id), "terminate", SYSTEM,
             data={"scheduled": True})
    return len(ids)


def note_rules_change(agreement: Agreement, reason: str) -> None:
    """Bump the rules version for every recipient of `agreement`."""
    now = utcnow()
    for org_id in sorted(agreement.recipient_ids):
        db.session.add(RulesChange(at=now, recipient_id=org_id, subject_type="agreement",
                                   subject_id=agreement.id, reason=reason))
    db.session.flush()


def get_agreement(agreement_id: int) -> Agreement:
    """:raises NotFound: no such agreement."""
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound("no such agreement")
    return agreement


def activate_due(now: datetime) -> int:
    """Activate executed agreements whose start date has come. Returns how many."""
    today = local_date(now)
    ids = db.session.scalars(sa.select(Agreement.id).where(
        Agreement.state == S.EXECUTED, Agreement.start_date <= today)).all()
    for agreement_id in ids:
        agreement = lock(Agreement, agreement_id)
        if agreement.state == S.EXECUTED:  # another process may have activated it meanwhile
            activate(agreement, now)
    return len(ids)


def expire_due(now: datetime) -> int:
    """Expire active agreements whose end date has passed. Returns how many."""
    today = local_date(now)
    ids = db.session.scalars(sa.select(Agreement.id).where(
        Agreement.state == S.ACTIVE, Agreement.end_date < today)).all()
    for agreement_id in ids:
        agreement = db.session.get(Agreement, agreement_id)
        fire(agreement, "expire", SYSTEM, facts={"term_ended": True})
        note_rules_change(agreement, "expired")
    return len(ids)


def can_sign_now(agreement: Agreement, actor: Actor) -> bool:
    """True when the actor's organization has an invited signature on the current revision."""
    if agreement.state != S.OUT_FOR_SIGNATURE or not actor.has_any_role("signatory"):
        return False
    return any(s.organization_id == actor.organization_id and s.state == SignatureState.INVITED
               for s in _signatures(agreement))


def run_event(agreement: Agreement, event: str, actor: Actor, expected_version: int | None, *,
              comment: str = "", reason: str = "", effective_on: date | None = None):
    """Dispatch an allow-listed lifecycle event requested by a person.

    :raises NotFound: the event is not one a request may fire.
    """
    if event == "comment":
        return add_comment(agreement, actor, comment_text(comment))
    if event not in REQUEST_EVENTS:
        raise NotFound(f"there is no '{event}' action for agreements")
    if event == "submit":
        missing = checklist_missing(agreement)
        if missing and actor.has_any_role("legal"):
            raise ValidationFailed(
                f"the FERPA checklist is incomplete: {', '.join(missing)}",
                field=CHECKLIST_FIELDS[missing[0]],
                details={"missing": missing,
                         "fields": [CHECKLIST_FIELDS[m] for m in missing]})
        return fire(agreement, "submit", actor, expected_version=expected_version,
                    facts={"checklist_missing": missing})
    if event in ("approve", "request_changes"):
        return review(agreement, actor, event, comment, expected_version)
    if event == "send_for_signature":
        return send_for_signature(agreement, actor, expected_version)
    if event == "withdraw":
        return withdraw(agreement, actor, reason, expected_version)
    if event == "terminate":
        return terminate(agreement, actor, reason, effective_on or local_date(utcnow()),
                         expected_version)
    # revise: reopen an approved or sent revision for editing
    agreement = lock(Agreement, agreement.id)
    check_version(agreement, expected_version)
    return _new_revision(agreement, actor, reason or "reopened for editing")


def _new_revision(agreement: Agreement, actor: Actor, reason: str) -> Agreement:
    """Back to draft as a new revision; every signature on the old one is voided."""
    fire(agreement, "revise", actor, locked=True, data={"reason": reason})
    _void_signatures(agreement, actor)
    agreement.revision += 1
    return agreement
