"""Agreement pages: list, draft, edit, detail with lifecycle actions, signing, the PDF.

Views turn forms into service calls and commit once; the rules about who may do
what live in the services, the workflows and consent.auth.permissions, not here.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import aliased
from wtforms.widgets import HiddenInput

from consent.api import schemas
from consent.api.agreements import actions_for, pdf_response
from consent.api.validation import check
from consent.auth.access import roles_accepted
from consent.auth.permissions import (
    STAFF_ROLES,
    can_see_agreement,
    may_make_registers,
    visible_agreements,
)
from consent.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementParty,
    AuditEntry,
    DataCategory,
    Organization,
    OrgKind,
    Review,
    Signature,
    User,
)
from consent.services import agreements as service
from consent.services import destruction
from consent.services.actors import actor_for
from consent.services.agreement_templates import TEMPLATES, template_defaults
from consent.timeutil import local_date, utcnow
from consent.web.forms import (
    LEGAL_BASIS_LABELS,
    VERSION_MESSAGE,
    AgreementForm,
    DeclineForm,
    DestructionForm,
    EventForm,
    SignForm,
    SuccessorForm,
    split_codes,
)
from workflows import AGREEMENT, AGREEMENT_REQUEST_EVENTS, InvalidTransition, TransitionRefused

logger = logging.getLogger(__name__)

bp = Blueprint("agreements", __name__, url_prefix="/agreements")

# What each button says, in the order the detail page shows them.
ACTION_LABELS = {
    "submit": "Submit for review",
    "approve": "Approve",
    "request_changes": "Request changes",
    "send_for_signature": "Send for signature",
    "revise": "Reopen for editing",
    "sign": "Sign",
    "decline": "Decline to sign",
    "withdraw": "Withdraw",
    "terminate": "Terminate",
    "comment": "Add comment",
    "renew": "Renew",
    "amend": "Amend",
}
DONE_MESSAGES = {
    "submit": "Submitted for review.",
    "approve": "Your approval was recorded.",
    "request_changes": "Changes were requested; the agreement is back in draft.",
    "send_for_signature": "Sent for signature.",
    "revise": "Reopened as a new revision in draft; earlier signatures were voided.",
    "withdraw": "The agreement was withdrawn.",
    "terminate": "The agreement was terminated.",
    "comment": "Your comment was recorded.",
}
NEEDS_REASON = {"withdraw", "terminate"}
# Events the event route accepts: the request events, and comments (no state change).
PAGE_EVENTS = AGREEMENT_REQUEST_EVENTS | {"comment"}
# Detail-page actions that draft a successor, and the kind each drafts.
SUCCESSOR_ACTIONS = {"renew": "renewal", "amend": "amendment"}
# Service field names that the form calls differently.
FIELD_ALIASES = {"population.schools": "schools", "population.grades": "grades"}
OPTIONAL_NUMBERS = ("retention_days", "destruction_days", "breach_notification_hours")


def _user() -> User:
    return current_user._get_current_object()


def _visible(agreement_id: int) -> Agreement:
    """The agreement, or 404 when it does not exist or the user may not see it.

    :raises NotFound: hidden or missing (the same answer, so nothing leaks).
    """
    if not can_see_agreement(_user(), agreement_id):
        raise NotFound("no such agreement")
    return service.get_agreement(agreement_id)


def _refusal(exc: Exception) -> tuple[int, str]:
    """The HTTP status and message for an error a form shows on the page."""
    if isinstance(exc, DomainError):
        return exc.status, exc.message
    if isinstance(exc, TransitionRefused):
        return {"forbidden": 403, "invalid": 422}.get(exc.kind, 409), exc.reason
    return 409, str(exc)


def _like_the_api(schema: dict, data: dict) -> dict:
    """Hold what a form sends to the API's own schema, so that both ways in accept the
    same data (dates become their ISO text, as the API receives them).

    :raises ValidationFailed: naming the field, as the API would.
    """
    check(schema, json.loads(json.dumps(data, default=str)))
    return data


def _attach_error(form, exc: DomainError) -> bool:
    """Put a service error next to its form field; False when no field matches."""
    name = re.sub(r"\[\d+\]$", "", exc.field or "")
    name = FIELD_ALIASES.get(name, name)
    field = form._fields.get(name) if name and name != "version" else None
    if field is None:
        return False
    field.errors = [*field.errors, exc.message]
    return True


# --- awaiting lists (home page and the list filter) -------------------------------------


def awaiting_review(user: User):
    """A select of agreements in review that `user`'s organization must review."""
    if not user.has_role("reviewer") or not user.organization_id:
        return None
    reviewing = sa.select(AgreementParty.agreement_id).where(
        AgreementParty.organization_id == user.organization_id,
        AgreementParty.review_required.is_(True))
    # An approval counts until changes are requested on the same revision.
    later = aliased(Review)
    changes_since = sa.select(later.id).where(
        later.agreement_id == Review.agreement_id, later.revision == Review.revision,
        later.decision == "request_changes", later.id > Review.id)
    approved = sa.select(Review.agreement_id).where(
        Review.organization_id == user.organization_id, Review.revision == Agreement.revision,
        Review.decision == "approve", Review.agreement_id == Agreement.id,
        ~changes_since.exists())
    return visible_agreements(user).where(
        Agreement.state == "in_review", Agreement.id.in_(reviewing),
        sa.or_(Agreement.created_by_id.is_(None), Agreement.created_by_id != user.id),
        ~approved.exists())


def awaiting_signature(user: User):
    """A select of agreements on which `user`'s organization is invited to sign now."""
    if not user.has_role("signatory") or not user.organization_id:
        return None
    invited = sa.select(Signature.id).where(
        Signature.agreement_id == Agreement.id, Signature.revision == Agreement.revision,
        Signature.organization_id == user.organization_id, Signature.state == "invited")
    return visible_agreements(user).where(Agreement.state == "out_for_signature",
                                          invited.exists())


@bp.app_context_processor
def _awaiting_helpers():
    def agreements_awaiting(kind: str) -> list[Agreement]:
        query = (awaiting_review if kind == "review" else awaiting_signature)(_user())
        return [] if query is None else list(db.session.scalars(query.order_by(Agreement.id)))

    return {"agreements_awaiting": agreements_awaiting}


# --- list -----------------------------------------------------------------------------


@bp.get("/")
@roles_accepted(*STAFF_ROLES)
def index():
    """Every agreement the user may see, newest first (or only those awaiting them)."""
    user = _user()
    awaiting = request.args.get("awaiting")
    query = None
    if awaiting in ("review", "signature"):
        query = (awaiting_review if awaiting == "review" else awaiting_signature)(user)
    if query is None:
        awaiting, query = None, visible_agreements(user)
    rows = db.session.scalars(query.order_by(Agreement.id.desc())).all()
    return render_template("agreements/index.html", agreements=rows, awaiting=awaiting)


# --- draft and edit -------------------------------------------------------------------


def _set_choices(form: AgreementForm) -> None:
    if "template" in form:
        form.template.choices = [(k, t["name"]) for k, t in TEMPLATES.items()]
    form.legal_basis.choices = list(LEGAL_BASIS_LABELS.items())
    if "recipients" in form:
        form.recipients.choices = [(o.slug, o.name) for o in db.session.scalars(
            sa.select(Organization).where(
                Organization.kind.not_in([OrgKind.DISTRICT.value, OrgKind.SCHOOL.value]))
            .order_by(Organization.name))]
    form.schools.choices = [(o.slug, o.name) for o in db.session.scalars(
        sa.select(Organization).where(Organization.kind == OrgKind.SCHOOL.value)
        .order_by(Organization.name))]
    form.categories.choices = [(c.code, c.name) for c in db.session.scalars(
        sa.select(DataCategory).order_by(DataCategory.id))]


def _template_data(key: str) -> dict:
    today = local_date(utcnow())
    return template_defaults(key) | {
        "template": key, "legal_basis": "consent", "start_date": today,
        "end_date": today + timedelta(days=364)}


def _agreement_data(agreement: Agreement) -> dict:
    """The form's initial values for an existing agreement."""
    population = agreement.population or {}
    school_ids = population.get("schools", [])
    slugs = dict(db.session.execute(sa.select(Organization.id, Organization.slug).where(
        Organization.id.in_(school_ids))).all()) if school_ids else {}
    data = {name: getattr(agreement, name) for name in service.CONTENT_FIELDS}
    data.update(purposes=", ".join(agreement.purposes),
                schools=[slugs[i] for i in school_ids if i in slugs],
                grades=", ".join(population.get("grades", [])),
                version=agreement.version_id)
    return data


def _form_content(form: AgreementForm) -> dict:
    """The service's content fields from a validated form."""
    data = {
        "title": form.title.data.strip(),
        "legal_basis": form.legal_basis.data,
        "purposes": split_codes(form.purposes.data),
        "categories": list(form.categories.data or []),
        "population": {"schools": list(form.schools.data or []),
                       "grades": split_codes(form.grades.data)},
        "start_date": form.start_date.data,
        "end_date": form.end_date.data,
        "scope_description": (form.scope_description.data or "").strip(),
        "use_limitation": (form.use_limitation.data or "").strip(),
        "no_reidentification": bool(form.no_reidentification.data),
        "security_requirements": (form.security_requirements.data or "").strip(),
        "clauses": [{"heading": (c["heading"] or "").strip(), "text": (c["text"] or "").strip()}
                    for c in form.clauses.data
                    if (c["heading"] or "").strip() or (c["text"] or "").strip()],
    }
    for name in OPTIONAL_NUMBERS:
        data[name] = getattr(form, name).data
    if form.renewal_notice_days.data is not None:  # the column has a default, not a null
        data["renewal_notice_days"] = form.renewal_notice_days.data
    return data


def _new_form(data: dict | None) -> AgreementForm:
    """The form bound to the request on POST, or filled from `data` on GET."""
    if request.method == "POST":
        form = AgreementForm()
    else:
        form = AgreementForm(data=data)
        form.clauses.append_entry()  # one blank clause to add
    return form


def _render_form(form, agreement, status: int = 200):
    return render_template("agreements/form.html", form=form, agreement=agreement,
                           editable_states=service.EDITABLE_STATES), status


@bp.route("/new", methods=["GET", "POST"])
@roles_accepted("legal")
def new():
    """Draft an agreement from a template."""
    form = _new_form(_template_data("mou"))
    _set_choices(form)
    if not form.validate_on_submit():
        return _render_form(form, None, 422 if form.errors else 200)
    data = _form_content(form) | {"template": form.template.data,
                                  "recipients": list(form.recipients.data or [])}
    try:
        agreement = service.create_draft(_like_the_api(schemas.AGREEMENT_CREATE, data),
                                         actor_for(_user()))
    except ValidationFailed as exc:
        db.session.rollback()
        if not _attach_error(form, exc):
            flash(exc.message, "error")
        return _render_form(form, None, exc.status)
    db.session.commit()
    logger.info("agreement %s drafted on the web", agreement.id)
    flash("The draft was saved.", "success")
    return redirect(url_for(".detail", agreement_id=agreement.id))


@bp.route("/<int:agreement_id>/edit", methods=["GET", "POST"])
@roles_accepted("legal")
def edit(agreement_id: int):
    """Edit content; after approval or a signature this starts a new revision."""
    agreement = _visible(agreement_id)
    form = _new_form(_agreement_data(agreement))
    # Template and recipients are fixed once drafted (the service does not change them).
    del form.template
    del form.recipients
    _set_choices(form)
    if not form.validate_on_submit():
        return _render_form(form, agreement, 422 if form.errors else 200)
    was_state = agreement.state
    try:
        content = _like_the_api(schemas.AGREEMENT_UPDATE, _form_content(form))
        agreement = service.update_content(agreement, content, actor_for(_user()),
                                           form.version.data)
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        if not _attach_error(form, exc):
            flash(exc.message, "error")
        agreement = service.get_agreement(agreement_id)
        return _render_form(form, agreement, exc.status)
    db.session.commit()
    if was_state != agreement.state:
        flash(f"Saved as revision {agreement.revision}, back in draft: it must be reviewed "
              "and signed again.", "success")
    else:
        flash("Your changes were saved.", "success")
    return redirect(url_for(".detail", agreement_id=agreement_id))


# --- detail and lifecycle events ------------------------------------------------------


def lifecycle_diagram(state: str | None = None) -> str:
    """The agreement machine as Mermaid text, with `state` highlighted when given."""
    diagram = AGREEMENT.mermaid()
    if state:
        diagram += f"    class {state} current\n    classDef current fill:#0b5cad,color:#fff\n"
    return diagram


def _blank_form(event: str, agreement: Agreement):
    if event in SUCCESSOR_ACTIONS:
        return SuccessorForm(formdata=None, data={
            "version": agreement.version_id, "kind": SUCCESSOR_ACTIONS[event]})
    return EventForm(formdata=None, data={
        "version": agreement.version_id, "effective_on": local_date(utcnow())})


def _render_detail(agreement: Agreement, status: int = 200, forms: dict | None = None):
    user = _user()
    actions = actions_for(agreement, actor_for(user))
    forms = dict(forms or {})
    for event in actions:
        if event not in forms:
            forms[event] = _blank_form(event, agreement)
        else:
            forms[event].version.data = agreement.version_id  # the page now shows this one
    signatures = db.session.scalars(sa.select(Signature).where(
        Signature.agreement_id == agreement.id, Signature.revision == agreement.revision)
        .order_by(Signature.signing_group, Signature.id)).all()
    reviews = db.session.scalars(sa.select(Review).where(
        Review.agreement_id == agreement.id, Review.revision == agreement.revision)
        .order_by(Review.id)).all()
    comments = [r for r in reviews if r.decision == "comment"]
    reviews = [r for r in reviews if r.decision != "comment"]
    followers = db.session.scalars(visible_agreements(user).where(
        Agreement.predecessor_id == agreement.id).order_by(Agreement.id)).all()
    audit = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.subject_type == "agreement", AuditEntry.subject_id == agreement.id)
        .order_by(AuditEntry.id)).all()
    category_names = dict(db.session.execute(
        sa.select(DataCategory.code, DataCategory.name)).all())
    school_ids = (agreement.population or {}).get("schools", [])
    schools = db.session.scalars(sa.select(Organization).where(
        Organization.id.in_(school_ids)).order_by(Organization.name)).all() if school_ids else []
    certify = (agreement.state in destruction.ENDED_STATES
               and destruction.may_certify(agreement, actor_for(user))
               and user.organization_id not in destruction.certified_recipient_ids(agreement.id))
    destruction_form = forms.get("destruction") or (
        DestructionForm(formdata=None) if certify else None)
    return render_template(
        "agreements/detail.html", agreement=agreement, actions=actions, forms=forms,
        certificates=destruction.certificates(agreement.id),
        destruction_form=destruction_form if certify else None,
        action_labels=ACTION_LABELS, signatures=signatures, reviews=reviews, audit=audit,
        comments=comments, successors=followers,
        lifecycle=lifecycle_diagram(agreement.state),
        termination_scheduled=agreement.ended_on is not None
        and agreement.state in ("executed", "active"),
        category_names=category_names, schools=schools,
        checklist_missing=service.checklist_missing(agreement),
        signing_document=service.signing_document(agreement),
        executed_document=service.executed_document(agreement),
        can_edit=user.has_role("legal") and user.organization_id == agreement.source_org_id
        and agreement.state in service.EDITABLE_STATES,
        can_make_register=agreement.legal_basis == "consent" and may_make_registers(user),
    ), status


@bp.get("/<int:agreement_id>")
@roles_accepted(*STAFF_ROLES)
def detail(agreement_id: int):
    """Every field, the parties, signatures, audit trail and the user's actions."""
    return _render_detail(_visible(agreement_id))


@bp.post("/<int:agreement_id>/events/<event>")
@roles_accepted("legal", "reviewer")
def event(agreement_id: int, event: str):
    """Fire one allow-listed lifecycle event (submit, approve, withdraw, ...) or comment."""
    agreement = _visible(agreement_id)
    if event not in PAGE_EVENTS:
        raise NotFound(f"there is no '{event}' action for agreements")
    form = EventForm()
    if form.validate() and event in NEEDS_REASON and not (form.reason.data or "").strip():
        form.reason.errors = ["Give the reason."]
    if form.errors:
        return _render_detail(agreement, 422, {event: form})
    try:
        service.run_event(agreement, event, actor_for(_user()), form.version.data,
                          comment=(form.comment.data or "").strip(),
                          reason=(form.reason.data or "").strip(),
                          effective_on=form.effective_on.data)
    except (ValidationFailed, Conflict, Forbidden, TransitionRefused, InvalidTransition) as exc:
        db.session.rollback()
        status, message = _refusal(exc)
        if not (isinstance(exc, DomainError) and _attach_error(form, exc)):
            flash(message, "error")
        return _render_detail(service.get_agreement(agreement_id), status, {event: form})
    db.session.commit()
    message = DONE_MESSAGES.get(event, "Done.")
    if event == "terminate" and agreement.state != "terminated":  # it takes effect later
        message = (f"Termination noticed: the agreement ends on "
                   f"{agreement.ended_on.isoformat()} and is in force until then.")
    flash(message, "success")
    return redirect(url_for(".detail", agreement_id=agreement_id))


@bp.post("/<int:agreement_id>/successors")
@roles_accepted("legal")
def successors(agreement_id: int):
    """Draft a renewal or an amendment of an agreement in force, then edit it."""
    agreement = _visible(agreement_id)
    form = SuccessorForm()
    # The form has nothing typed in it, so a refused one is shown afresh, with a message.
    if not form.validate():
        flash(" ".join(form.kind.errors) or "The form was not valid; reload the page.", "error")
        return _render_detail(agreement, 422)
    try:
        successor = service.start_successor(agreement, form.kind.data, actor_for(_user()),
                                            form.version.data)
    except (ValidationFailed, Conflict, Forbidden) as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_detail(service.get_agreement(agreement_id), exc.status)
    db.session.commit()
    logger.info("agreement %s: %s drafted as agreement %s", agreement_id, successor.successor_kind,
                successor.id)
    flash(f"Drafted agreement #{successor.id} as the {successor.successor_kind} of agreement "
          f"#{agreement_id}. Check its terms and save.", "success")
    return redirect(url_for(".edit", agreement_id=successor.id))


@bp.post("/<int:agreement_id>/destruction-certificate")
@roles_accepted(*destruction.CERTIFYING_ROLES)
def certify_destruction(agreement_id: int):
    """A recipient's staff certify that the data of an ended agreement was destroyed."""
    agreement = _visible(agreement_id)
    form = DestructionForm()
    if not form.validate():
        return _render_detail(agreement, 422, {"destruction": form})
    try:
        destruction.record(agreement, actor_for(_user()), destroyed_on=form.destroyed_on.data,
                           method=form.method.data, note=form.note.data or "")
    except (ValidationFailed, Conflict, Forbidden) as exc:
        db.session.rollback()
        if not _attach_error(form, exc):
            flash(exc.message, "error")
        return _render_detail(service.get_agreement(agreement_id), exc.status,
                              {"destruction": form})
    db.session.commit()
    flash("Your certificate of destruction was recorded.", "success")
    return redirect(url_for(".detail", agreement_id=agreement_id))


# --- signing --------------------------------------------------------------------------


def _hidden_fields_failed(form) -> bool:
    """Whether the page's hidden state (record version, document hash) failed its checks:
    edited, or not a number. No message can sit next to a hidden field, so the one that
    says what to do is shown above the form."""
    failed = any(field.errors for field in form if isinstance(field.widget, HiddenInput))
    if failed:
        flash(VERSION_MESSAGE, "error")
    return failed


def _render_sign(agreement, form, status: int = 200):
    document = service.signing_document(agreement)
    if document is not None and not form.document_sha256.data:
        form.document_sha256.data = document.sha256
    form.version.data = agreement.version_id
    return render_template(
        "agreements/sign.html", agreement=agreement, form=form, document=document,
        can_sign=service.can_sign_now(agreement, actor_for(_user()))), status


@bp.route("/<int:agreement_id>/sign", methods=["GET", "POST"])
@roles_accepted("signatory")
def sign(agreement_id: int):
    """Show the SHA-256 of the frozen document and sign it for one's organization."""
    agreement = _visible(agreement_id)
    user = _user()
    if request.method == "GET":
        form = SignForm(data={"name": user.name, "title": user.title or ""})
        return _render_sign(agreement, form)
    form = SignForm()
    if not form.validate():
        if _hidden_fields_failed(form):
            form.document_sha256.data = None  # show the current document's hash again
        return _render_sign(agreement, form, 422)
    evidence = {"name": form.name.data.strip(), "title": form.title.data.strip(),
                "authority": (form.authority.data or "").strip(),
                "document_sha256": form.document_sha256.data}
    try:
        _like_the_api(schemas.SIGNATURE, evidence)
    except ValidationFailed as exc:
        if not _attach_error(form, exc):
            flash(exc.message, "error")
        return _render_sign(agreement, form, exc.status)
    try:
        # sign() binds the document hash; the version catches an edited page as well.
        service.sign(agreement, actor_for(user), **evidence,
                     expected_version=form.version.data)
    except (Conflict, Forbidden, TransitionRefused, InvalidTransition) as exc:
        db.session.rollback()
        status, message = _refusal(exc)
        flash(message, "error")
        agreement = service.get_agreement(agreement_id)
        form.document_sha256.data = None  # show the current document's hash again
        return _render_sign(agreement, form, status)
    db.session.commit()
    agreement = service.get_agreement(agreement_id)
    flash("Your signature was recorded." + (" The agreement is now in force."
                                            if agreement.state == "active" else ""), "success")
    return redirect(url_for(".detail", agreement_id=agreement_id))


@bp.route("/<int:agreement_id>/decline", methods=["GET", "POST"])
@roles_accepted("signatory")
def decline(agreement_id: int):
    """Decline to sign for one's organization, with a reason."""
    agreement = _visible(agreement_id)
    if request.method == "GET":
        form = DeclineForm(data={"version": agreement.version_id})
        return render_template("agreements/decline.html", agreement=agreement, form=form)
    form = DeclineForm()
    if not form.validate():
        if _hidden_fields_failed(form):
            form.version.data = agreement.version_id
        return render_template("agreements/decline.html", agreement=agreement, form=form), 422
    try:
        service.decline(agreement, actor_for(_user()), form.reason.data.strip(),
                        form.version.data)
    except (Conflict, Forbidden, TransitionRefused, InvalidTransition) as exc:
        db.session.rollback()
        status, message = _refusal(exc)
        flash(message, "error")
        agreement = service.get_agreement(agreement_id)
        form.version.data = agreement.version_id
        return render_template("agreements/decline.html", agreement=agreement,
                               form=form), status
    db.session.commit()
    flash("You declined to sign; the agreement is declined.", "success")
    return redirect(url_for(".detail", agreement_id=agreement_id))


@bp.get("/<int:agreement_id>/document.pdf")
@roles_accepted(*STAFF_ROLES)
def document(agreement_id: int):
    """The executed PDF, or before execution the copy sent for signature."""
    return pdf_response(_visible(agreement_id))
