"""The public page that tells whether a PDF is an unaltered document issued here.

Anyone may upload a file: the page answers from its SHA-256 and its seal, and
shows only the facts printed on the document itself (see
`consent.services.sealing.check_document`). It writes nothing, so it never commits.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template
from flask_wtf.file import FileField, FileRequired
from wtforms.validators import ValidationError

from consent.auth.access import public
from consent.services import sealing
from consent.web.forms import CleanTextForm

bp = Blueprint("verify", __name__, url_prefix="/verify")

PDF_MAGIC = b"%PDF-"


def _is_pdf(form, field) -> None:
    """Accept only files that start like a PDF (the declared type is not trusted)."""
    upload = field.data
    head = upload.stream.read(len(PDF_MAGIC))
    upload.stream.seek(0)
    if head != PDF_MAGIC:
        raise ValidationError("This file is not a PDF. Choose the PDF you want to check.")


class VerifyForm(CleanTextForm):
    document = FileField("PDF to check", validators=[
        FileRequired("Choose the PDF you want to check."), _is_pdf,
    ], description="Up to 20 MB. The file is checked and then discarded; it is not stored.")


@bp.route("", methods=["GET", "POST"])
@public
def index():
    """Check an uploaded PDF against the documents issued here.

    Bodies above ``MAX_CONTENT_LENGTH`` (20 MB) are refused with 413 before this runs.
    """
    form = VerifyForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("verify/index.html", form=form, result=None), status
    result = sealing.check_document(form.document.data.read())
    return render_template("verify/index.html", form=VerifyForm(formdata=None), result=result)


@bp.get("/certificate.pem")
@public
def certificate():
    """The instance's document-seal certificate, to check seals with other tools."""
    return Response(sealing.seal_certificate_pem(), mimetype="application/x-pem-file",
                    headers={"Content-Disposition":
                             'attachment; filename="accordant-document-seal.pem"'})
