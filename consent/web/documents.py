"""Document pages: previews of a document before it is sent, blank forms, and long
documents (the consent register) made by background jobs.

A preview is the print HTML the PDF is made from, served with the document assets
(style sheet and fonts) and a Content-Security-Policy that lets the page load those
and nothing else. Requesting a background document is the only write: one commit.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm

from consent import document_worker
from consent.auth.access import roles_accepted
from consent.auth.permissions import (
    REGISTER_ROLES,
    STAFF_ROLES,
    can_see_agreement,
    may_make_registers,
)
from consent.errors import BadRequest, NotFound, ValidationFailed
from consent.extensions import db
from consent.models import Agreement, DocumentJob
from consent.services import agreements as agreement_service
from consent.services import document_jobs
from consent.services.actors import actor_for
from consent.services.consent_documents import (
    LANGUAGES,
    consent_form_snapshot,
    render_consent_form_html,
)
from consent.services.documents import agreement_snapshot, render_agreement_html
from documents import ASSETS_DIR, html_to_pdf

bp = Blueprint("documents", __name__, url_prefix="/documents")

ASSET_TYPES = {".css": "text/css", ".ttf": "font/ttf", ".otf": "font/otf"}
# Same-origin styles and fonts only: no script, no image, no frame, no form, no network.
PREVIEW_POLICY = ("default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self'; "
                  "base-uri 'self'; form-action 'none'; frame-ancestors 'self'")


def _agreement(agreement_id: int) -> Agreement:
    """:raises NotFound: missing, or hidden from the user (the same answer)."""
    if not can_see_agreement(current_user._get_current_object(), agreement_id):
        raise NotFound("no such agreement")
    return agreement_service.get_agreement(agreement_id)


def _preview(html: str) -> Response:
    # The print HTML names its assets relative to documents/assets/; in a browser the
    # same names resolve through the asset route below.
    base = f'<base href="{url_for(".asset", name="")}">'
    html = html.replace("<head>", f"<head>\n  {base}", 1)
    return Response(html, mimetype="text/html", headers={
        "Content-Security-Policy": PREVIEW_POLICY, "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff"})


def _language() -> str:
    language = request.args.get("lang", "en")
    if language not in LANGUAGES:
        raise ValidationFailed(f"choose one of {', '.join(LANGUAGES)}", field="lang")
    return language


@bp.get("/assets/<path:name>")
@roles_accepted(*STAFF_ROLES)
def asset(name: str):
    """A style sheet or font of the print templates (nothing else in the folder)."""
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in ASSET_TYPES:
        raise NotFound("no such asset")
    # send_from_directory refuses any path that leaves the folder.
    return send_from_directory(ASSETS_DIR, name, mimetype=ASSET_TYPES[suffix], max_age=3600)


@bp.get("/agreements/<int:agreement_id>/preview")
@roles_accepted(*STAFF_ROLES)
def agreement_preview(agreement_id: int):
    """The agreement exactly as the copy for signature would print it now."""
    agreement = _agreement(agreement_id)
    return _preview(render_agreement_html(agreement_snapshot(agreement, "for_signature")))


@bp.get("/agreements/<int:agreement_id>/consent-form")
@roles_accepted(*STAFF_ROLES)
def consent_form_preview(agreement_id: int):
    """The blank family consent form in `?lang=en|es`, as families would receive it."""
    agreement = _agreement(agreement_id)
    return _preview(render_consent_form_html(consent_form_snapshot(agreement, _language())))


@bp.get("/agreements/<int:agreement_id>/consent-form.pdf")
@roles_accepted(*STAFF_ROLES)
def consent_form_pdf(agreement_id: int):
    """The blank family consent form in `?lang=en|es` as a PDF to print."""
    agreement = _agreement(agreement_id)
    language = _language()
    pdf = html_to_pdf(render_consent_form_html(consent_form_snapshot(agreement, language)))
    name = f"consent-form-{agreement.id}-r{agreement.revision}-{language}.pdf"
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "private, no-store"})


# --- long documents as background jobs -------------------------------------------------

def _may_see_registers() -> bool:
    return may_make_registers(current_user._get_current_object())


def _job(job_id: int) -> DocumentJob:
    """:raises NotFound: missing, or about an agreement the user may not see."""
    job = db.session.get(DocumentJob, job_id)
    if job is None or not _may_see_registers() or not can_see_agreement(
            current_user._get_current_object(), job.agreement_id):
        raise NotFound("no such document job")
    return job


@bp.post("/agreements/<int:agreement_id>/consent-register")
@roles_accepted(*REGISTER_ROLES)
def request_register(agreement_id: int):
    """Queue the consent register of an agreement and show its progress page."""
    if not _may_see_registers():
        raise NotFound("no such agreement")
    agreement = _agreement(agreement_id)
    if not FlaskForm().validate():  # the CSRF token is the form's only field
        raise BadRequest("The form has expired; reload the page and try again.")
    job = document_jobs.request_job(
        "consent_register", agreement, actor_for(current_user._get_current_object()),
        time_limit_seconds=current_app.config.get("DOCUMENT_JOB_TIME_LIMIT",
                                                  document_jobs.DEFAULT_TIME_LIMIT))
    db.session.commit()
    if current_app.config.get("DOCUMENT_JOB_WORKER", "thread") == "thread":
        document_worker.start_thread(current_app._get_current_object())
    return redirect(url_for(".job", job_id=job.id))


@bp.get("/jobs/<int:job_id>")
@roles_accepted(*REGISTER_ROLES)
def job(job_id: int):
    """Progress of a background document; the page refreshes itself until it ends."""
    job = _job(job_id)
    return render_template("document_jobs/job.html", job=job,
                           kind_label=document_jobs.KINDS.get(job.kind, job.kind),
                           agreement=db.session.get(Agreement, job.agreement_id))


@bp.get("/jobs/<int:job_id>/document.pdf")
@roles_accepted(*REGISTER_ROLES)
def job_pdf(job_id: int):
    """The finished PDF of a background document."""
    job = _job(job_id)
    if job.state != "done" or job.content is None:
        raise NotFound("this document is not ready")
    return Response(job.content, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{job.filename}"',
        "X-Document-SHA256": job.sha256, "Cache-Control": "private, no-store"})
