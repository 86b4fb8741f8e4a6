"""Roster upload for district staff: the same parser, importer and single transaction as
`accordant roster import`, from a file chosen in the browser.

Only administrators and the district's own staff may import (a roster describes the whole
district); partner staff get 403. An upload may only change the uploader's own district
(matched on its OneRoster sourcedId): a file naming any other district is refused whole. The
CLI, run by a server administrator, has no such limit. The upload is parsed in memory and then
discarded.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import StringField
from wtforms.validators import Length, Optional, ValidationError

from consent.auth.access import roles_accepted
from consent.auth.permissions import is_district_user
from consent.extensions import db
from consent.models import Organization, OrgKind
from consent.roster.families_csv import parse_families
from consent.roster.importer import import_roster
from consent.roster.oneroster import Roster, RosterError, RosterIssue, parse_files, read_source
from consent.services import audit
from consent.services.actors import actor_for
from consent.web.forms import CleanTextForm

logger = logging.getLogger(__name__)

bp = Blueprint("roster", __name__, url_prefix="/staff/roster")
ZIP_MAGIC = b"PK\x03\x04"
SHOWN_ERRORS = 200  # the rest are counted; the district fixes its export and tries again


def _zip_or_csv(form, field) -> None:
    """A OneRoster .zip (by its first bytes) or a families .csv (by its name)."""
    upload = field.data
    head = upload.stream.read(len(ZIP_MAGIC))
    upload.stream.seek(0)
    name = (upload.filename or "").lower()
    if head != ZIP_MAGIC and not name.endswith(".csv"):
        raise ValidationError("Choose a OneRoster .zip file or a families .csv file.")


class RosterUploadForm(CleanTextForm):
    roster = FileField("Roster file", validators=[FileRequired("Choose the roster file."),
                                                  _zip_or_csv],
                       description="A OneRoster 1.1 CSV .zip, or a families .csv. Up to 20 MB.")
    date_format = StringField("Date format (families CSV only)", validators=[
        Optional(), Length(max=32)],
        description="Leave empty for YYYY-MM-DD; e.g. %m/%d/%Y for 04/05/2011.")


def _may_import() -> None:
    user = current_user._get_current_object()
    if not (user.has_role("admin") or is_district_user(user)):
        abort(403)


def _own_district() -> str | None:
    """The sourcedId of the uploader's district, the only district an upload may change."""
    user = current_user._get_current_object()
    org = db.session.get(Organization, user.organization_id) if user.organization_id else None
    return org.sourced_id if org is not None and org.kind == OrgKind.DISTRICT else None


def _parse(data: bytes, filename: str, date_format: str | None,
           own_district: str) -> Roster:
    if data.startswith(ZIP_MAGIC):
        name = Path(filename or "roster.zip").name or "roster.zip"
        # The zip reader wants a file; a private temporary folder holds it for the parse only.
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "upload.zip"
            path.write_bytes(data)
            try:
                return parse_files(read_source(path), own_district=own_district)
            except RosterError as exc:
                # The messages name the file as the district knows it, not the temporary copy.
                return Roster(errors=[dataclasses.replace(issue, file=name)
                                      if issue.file == path.name else issue
                                      for issue in exc.errors])
    name = Path(filename or "families.csv").name or "families.csv"
    return parse_families(data, name=name, date_format=date_format or None,
                          own_district=own_district)


def _limit_text(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_error):
    """An upload over MAX_CONTENT_LENGTH: the form again, the limit named on the file field."""
    form = RosterUploadForm(formdata=None)
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    form.roster.errors = [f"The file is larger than {_limit_text(limit)}, the upload limit."]
    return render_template("staff/roster.html", form=form, errors=None, report=None), 413


@bp.route("", methods=["GET", "POST"])
@roles_accepted("staff", "admin")
def upload():
    """Upload a roster; every refused row is listed, and then nothing is written."""
    _may_import()
    form = RosterUploadForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("staff/roster.html", form=form, errors=None, report=None), status
    upload_file = form.roster.data
    own_district = _own_district()
    if own_district is None:
        # Without a roster identifier any district named in the file would be created anew;
        # the first roster of a district is imported with `accordant roster import`.
        errors = [RosterIssue(Path(upload_file.filename or "").name or "roster", None, None,
                              "your account belongs to no district with a roster yet; "
                              "an administrator imports its first roster")]
        return render_template("staff/roster.html", form=form, errors=errors, more=0,
                               report=None), 422
    roster = _parse(upload_file.read(), upload_file.filename, form.date_format.data,
                    own_district)
    errors = roster.errors
    report = None
    if not errors:
        try:
            report = import_roster(roster, session=db.session)
            audit.record("roster_imported", "roster", None,
                         actor_for(current_user._get_current_object()),
                         data={"file": Path(upload_file.filename or "").name[:200],
                               **{kind: vars(c) for kind, c in report.counts.items()},
                               "notices": [str(n) for n in report.notices]})
            db.session.commit()
        except RosterError as exc:
            db.session.rollback()
            errors, report = exc.errors, None
    if errors:
        return render_template("staff/roster.html", form=form, errors=errors[:SHOWN_ERRORS],
                               more=max(len(errors) - SHOWN_ERRORS, 0), report=None), 422
    logger.info("roster uploaded by user %s", current_user.id)
    return render_template("staff/roster.html", form=RosterUploadForm(formdata=None),
                           errors=None, report=report)
