"""Staff record a paper consent form with its scan, and download their organization's scans."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, IntegerField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional

from consent.auth.access import roles_accepted
from consent.errors import Conflict, Forbidden, NotFound, ValidationFailed
from consent.extensions import db
from consent.services import paper_consents as paper
from consent.services.actors import actor_for
from consent.web.forms import DATE_MESSAGE, CleanTextForm

bp = Blueprint("paper_consents", __name__, url_prefix="/staff/paper")


def _codes(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class PaperConsentForm(CleanTextForm):
    student = StringField("Student id (as on the roster)", validators=[DataRequired(),
                                                                        Length(max=128)])
    signer = StringField("Signer's email (the guardian on the roster; empty if the student, "
                         "18 or older, signed)", validators=[Optional(), Length(max=254)])
    signed_on = DateField("Signed on", validators=[DataRequired(message=DATE_MESSAGE)])
    # A number no agreement id can reach would overflow the database's integer.
    agreement = IntegerField("Agreement number", validators=[
        DataRequired(), NumberRange(min=1, max=2**31 - 1, message="No agreement has that number.")])
    recipient = StringField("Recipient (organization short name)",
                            validators=[DataRequired(), Length(max=64)])
    purposes = StringField("Purposes (codes, separated by commas)", validators=[DataRequired()])
    categories = StringField("Kinds of information (codes, separated by commas)",
                             validators=[DataRequired()])
    decision = StringField("Answer on the form (grant or refuse)",
                           validators=[AnyOf(["grant", "refuse"])], default="grant")
    scan = FileField("Scanned form", validators=[FileRequired("Attach the scanned form.")],
                     description="PDF, PNG or JPEG, up to 5 MiB. Only your organization can "
                                 "open it.")


@bp.route("", methods=["GET", "POST"])
@roles_accepted("staff")
def record():
    """Record a paper consent; every field error is shown next to its field."""
    form = PaperConsentForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("staff/paper.html", form=form), status
    user = current_user._get_current_object()
    try:
        consents, scan = paper.record_paper_consent(
            user, actor_for(user), student_ref=form.student.data.strip(),
            signer_email=form.signer.data, signed_on=form.signed_on.data,
            agreement_id=form.agreement.data, recipient_slug=form.recipient.data.strip(),
            purposes=_codes(form.purposes.data), categories=_codes(form.categories.data),
            decision=form.decision.data, scan=form.scan.data.read())
    except (ValidationFailed, Forbidden, NotFound, Conflict) as exc:
        db.session.rollback()
        name = (exc.field or "").split("[", 1)[0]
        field = form._fields.get(name)
        if field is not None:
            field.errors = [*field.errors, exc.message]
        else:
            flash(exc.message, "error")
        return render_template("staff/paper.html", form=form), exc.status
    db.session.commit()
    flash(f"Paper consent recorded ({len(consents)} item(s)); scan #{scan.id} is stored.",
          "success")
    return redirect(url_for(".record"))


@bp.get("/scans/<int:scan_id>")
@roles_accepted("staff", "admin")
def scan(scan_id: int):
    """Download a scan; another organization's (or a missing one) is 404."""
    stored = paper.scan_for(current_user._get_current_object(), scan_id)
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}[
        stored.content_type]
    return Response(stored.data, mimetype=stored.content_type, headers={
        "Content-Disposition": f'attachment; filename="paper-consent-{stored.id}.{extension}"',
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-store"})
