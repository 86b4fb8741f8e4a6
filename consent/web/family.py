"""Family pages: a guardian's (or eligible student's) children, what is shared about
each, and the forms to grant, refuse or revoke consent.

Who may act for which child is decided in consent.auth.permissions and the consent
service; these views only show that answer and pass the family's choices on.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from consent.access.facts import lineage_ids
from consent.auth.access import roles_accepted
from consent.auth.permissions import (
    consent_authority,
    family_student,
    family_students,
    is_adult,
)
from consent.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from consent.extensions import db
from consent.i18n import (
    LANGUAGES,
    current_language,
    ledger_label,
    ledger_reason,
    purpose_label,
    translate,
)
from consent.models import Consent, ConsentEvent, DataCategory, Disclosure, Student, User
from consent.services import consents as service
from consent.services import receipts
from consent.services.actors import actor_for
from consent.timeutil import local_date, utcnow
from consent.web.forms import (
    DECISION_MESSAGE,
    VERSION_MESSAGE,
    ConsentDecisionForm,
    LanguageForm,
    RevokeForm,
)
from workflows import InvalidTransition, TransitionRefused

logger = logging.getLogger(__name__)

bp = Blueprint("family", __name__, url_prefix="/family")
FAMILY = ("guardian", "student")


@bp.context_processor
def _language_context() -> dict:
    """The family pages speak the family's language (see consent.i18n)."""
    return {"_": translate, "lang": current_language(), "languages": LANGUAGES,
            "ledger_label": ledger_label, "ledger_reason": ledger_reason}


@bp.app_template_filter("translate")
def _translate_filter(text: str) -> str:
    return translate(text)


def _user() -> User:
    return current_user._get_current_object()


def _own_student(student_id: int) -> Student:
    """The child if linked to the user; 404 otherwise, so nothing about them leaks.

    :raises NotFound: not this family's child (or no such student).
    """
    student = family_student(_user(), student_id)
    if student is None:
        raise NotFound("no such student")
    return student


def _category_names() -> dict[str, str]:
    return {code: translate(name) for code, name in
            db.session.execute(sa.select(DataCategory.code, DataCategory.name))}


def _options(student: Student, user: User) -> list[dict]:
    """One entry per agreement open for consent and recipient under it."""
    names = _category_names()
    options = []
    for agreement in service.consentable_agreements(student, local_date(utcnow())):
        try:
            consent_form = service.current_form(agreement, user.preferred_language)
        except NotFound:
            consent_form = None
        for recipient in sorted(agreement.recipients, key=lambda o: o.name):
            options.append({
                "key": f"{agreement.id}-{recipient.slug}", "agreement": agreement,
                "recipient": recipient, "consent_form": consent_form,
                "purposes": [(p, purpose_label(p)) for p in agreement.purposes],
                "categories": [(c, names.get(c, c)) for c in agreement.categories],
            })
    return options


def _decision_form(option: dict, form: ConsentDecisionForm | None = None,
                   shown: bool = True, student: Student | None = None):
    """A fresh form for `option`, or the posted `form` with its choices set.

    `shown` means the form is about to be shown for `student`: it then carries the
    version of the consent form text on this page and the newest ledger entry for
    this recipient, so the family submits what they read and what they saw.
    """
    if form is None:
        form = ConsentDecisionForm(formdata=None, data={
            "agreement": option["agreement"].id, "recipient": option["recipient"].slug})
    form.purposes.choices = option["purposes"]
    form.categories.choices = option["categories"]
    consent_form = option["consent_form"]
    if shown:
        form.form_version.data = consent_form.version if consent_form else None
        form.ledger_seen.data = service.ledger_position(
            student.id, option["recipient"].id, lineage_ids(option["agreement"]))
    return form


def _render_student(student: Student, status: int = 200, posted: tuple[str, object] | None = None,
                    revoke_forms: dict | None = None):
    user = _user()
    today = local_date(utcnow())
    if student.user_id != user.id and is_adult(student, today):
        # From 18 the records are the student's: a guardian sees only that they moved on.
        return render_template("family/adult_student.html", student=student), (
            status if status >= 400 else 200)
    allowed, acting_as, reason = consent_authority(user, student, today)
    options = _options(student, user)
    for option in options:
        bound = posted[1] if posted and posted[0] == option["key"] else None
        option["form"] = _decision_form(option, bound, student=student)
    consents = service.student_consents(student)
    ended = service.ended_with_agreements(consents, utcnow())
    revoke_forms = dict(revoke_forms or {})
    for consent in consents:
        if consent.state == "granted":
            form = revoke_forms.get(consent.id) or RevokeForm(formdata=None)
            form.version.data = consent.version_id
            revoke_forms[consent.id] = form
    history = db.session.execute(
        sa.select(ConsentEvent, Consent).join(Consent, ConsentEvent.consent_id == Consent.id)
        .where(Consent.student_id == student.id)
        .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())).all()
    disclosures = db.session.scalars(
        sa.select(Disclosure).where(Disclosure.student_id == student.id)
        .order_by(Disclosure.released_at.desc(), Disclosure.id.desc())).all()
    return render_template(
        "family/student.html", student=student, options=options, consents=consents,
        revoke_forms=revoke_forms, ended=ended, history=history, disclosures=disclosures,
        category_names=_category_names(), purpose_label=purpose_label, may_act=allowed,
        acting_as=acting_as, authority_reason=reason), status


@bp.get("/")
@roles_accepted(*FAMILY)
def index():
    """The children linked to the signed-in guardian (or the student themself)."""
    students = db.session.scalars(family_students(_user())).all()
    return render_template("family/index.html", students=students)


@bp.get("/students/<int:student_id>")
@roles_accepted(*FAMILY)
def student(student_id: int):
    """What may be shared about one child, their consents and the history."""
    return _render_student(_own_student(student_id))


@bp.post("/students/<int:student_id>/consents")
@roles_accepted(*FAMILY)
def decide(student_id: int):
    """Grant or refuse consent to one recipient under one agreement."""
    student = _own_student(student_id)
    user = _user()
    form = ConsentDecisionForm()
    key = f"{form.agreement.data}-{form.recipient.data}"
    option = next((o for o in _options(student, user) if o["key"] == key), None)
    if option is None:
        flash(translate("That agreement is no longer open for consent for this child."), "error")
        return _render_student(student, 422)
    _decision_form(option, form, shown=False)
    if not form.validate():
        # The buttons and the hidden page state are not fields a message can sit next to.
        if form.ledger_seen.errors or form.form_version.errors or form.agreement.errors:
            flash(translate(VERSION_MESSAGE), "error")
        elif form.decision.errors:
            flash(translate(DECISION_MESSAGE), "error")
        return _render_student(student, 422, (key, form))
    purposes, categories = list(form.purposes.data or []), list(form.categories.data or [])
    if form.decision.data == "refuse":
        # Refusing with nothing ticked refuses everything this recipient asked for.
        purposes = purposes or [code for code, _ in option["purposes"]]
        categories = categories or [code for code, _ in option["categories"]]
    try:
        created = service.decide(
            student, user, actor_for(user), agreement_id=option["agreement"].id,
            recipient_slug=option["recipient"].slug, purposes=purposes, categories=categories,
            decision=form.decision.data, valid_through=form.valid_through.data,
            language=user.preferred_language, form_version=form.form_version.data,
            ledger_seen=form.ledger_seen.data)
        receipts.send_receipt(user, student, created, form.decision.data)
    except (ValidationFailed, Conflict, Forbidden) as exc:
        db.session.rollback()
        if not _attach_error(form, exc):
            flash(translate(exc.message), "error")
        return _render_student(_own_student(student_id), exc.status, (key, form))
    db.session.commit()
    what = "granted" if form.decision.data == "grant" else "refused"
    items = "%(count)s items" if len(created) != 1 else "1 item"
    flash(translate(f"Thank you. You {what} consent for %(recipient)s ({items}).",
                    recipient=option["recipient"].name, count=len(created)), "success")
    return redirect(url_for(".student", student_id=student_id))


def _attach_error(form, exc: DomainError) -> bool:
    """Show a service error next to the purposes, categories or date it concerns."""
    name = (exc.field or "").split("[", 1)[0]
    field = form._fields.get(name) if name in ("purposes", "categories", "valid_through") else None
    if field is None:
        return False
    field.errors = [*field.errors, exc.message]
    return True


@bp.post("/consents/<int:consent_id>/revoke")
@roles_accepted(*FAMILY)
def revoke(consent_id: int):
    """Revoke one granted consent; sharing stops at once."""
    user = _user()
    consent = service.get_consent_for(user, consent_id, family_students(user))
    student_id = consent.student_id
    form = RevokeForm()
    if not form.validate():
        # The version is hidden and the reason not shown here: say what is wrong up top.
        for message in [VERSION_MESSAGE] if form.version.errors else form.reason.errors:
            flash(translate(message), "error")
        return _render_student(consent.student, 422, revoke_forms={consent_id: form})
    try:
        consent = service.revoke(consent, user, actor_for(user),
                                 (form.reason.data or "").strip() or None, form.version.data)
        receipts.send_receipt(user, consent.student, [consent], "revoke")
    except (Conflict, Forbidden, InvalidTransition, TransitionRefused) as exc:
        db.session.rollback()
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        status = exc.status if isinstance(exc, DomainError) else 409
        if isinstance(exc, InvalidTransition | TransitionRefused):
            message = "This consent is no longer in force, so there is nothing to revoke."
        flash(translate(message), "error")
        return _render_student(_own_student(student_id), status)
    db.session.commit()
    names = _category_names()
    flash(translate("Sharing of %(category)s with %(recipient)s has stopped.",
                    category=names.get(consent.category, consent.category),
                    recipient=consent.recipient.name), "success")
    return redirect(url_for(".student", student_id=student_id))


@bp.post("/language")
@roles_accepted(*FAMILY)
def set_language():
    """Switch the family pages (and receipts) between English and Spanish."""
    form = LanguageForm()
    if form.validate():
        user = db.session.get(User, _user().id)
        user.preferred_language = form.language.data
        db.session.commit()
        flash(translate("Your language was changed.", form.language.data), "success")
    # Back to the family page the switch was on; nothing else is followed.
    target = request.form.get("next") or ""
    if not (target.startswith("/family/") and "//" not in target and "\\" not in target):
        target = url_for(".index")
    return redirect(target)
