"""HTML pages: blueprints, plus the template filters they share.

No business rules here: views call the services and permission scopes.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from markupsafe import Markup

from consent.auth.access import public
from consent.i18n import LANGUAGES, page_language, translate
from consent.timeutil import district_zone, iso
from consent.web.forms import LEGAL_BASIS_LABELS


def local_time(at: datetime | None) -> Markup | str:
    """An instant as a <time> element in the district's zone, e.g. 2026-05-01 09:30 PDT."""
    if at is None:
        return ""
    local = at.astimezone(district_zone())
    return Markup('<time datetime="{}">{}</time>').format(
        iso(at), local.strftime("%Y-%m-%d %H:%M %Z"))


def humanize(code: str | None) -> str:
    """academic_support -> Academic support (for codes shown to people)."""
    if not code:
        return ""
    text = str(code).replace("_", " ")
    return text[:1].upper() + text[1:]


def basis_label(code: str) -> str:
    return LEGAL_BASIS_LABELS.get(code, humanize(code))


def _page_language_context() -> dict:
    """`_` and `page_lang` for the pages everyone shares (menu, home, notifications,
    password): a family member reads them in their language, everyone else in English.
    The family blueprint sets its own `_` (see consent.web.family)."""
    language = page_language()

    def _(text: str, **values) -> str:
        return translate(text, language, **values)

    return {"_": _, "page_lang": language, "languages": LANGUAGES}


def register(app: Flask) -> None:
    """Register the page blueprints and declare the static files public."""
    # Imported here, not at the top: services and auth import helpers from this package
    # (forms), and importing it must not pull in every page, which import those services.
    from consent.web import (
        admin,
        agreements,
        calendar,
        clauses,
        consent_requests,
        documents,
        family,
        home,
        notifications,
        paper_consents,
        roster_upload,
        sign_in_link,
        staff,
        verify,
    )

    app.view_functions["static"] = public(app.view_functions["static"])
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(humanize, "humanize")
    app.add_template_filter(basis_label, "basis_label")
    app.context_processor(_page_language_context)
    app.register_blueprint(home.bp)
    app.register_blueprint(agreements.bp)
    app.register_blueprint(clauses.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(family.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(roster_upload.bp)
    app.register_blueprint(sign_in_link.bp)
    app.register_blueprint(consent_requests.bp)
    app.register_blueprint(paper_consents.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(verify.bp)
    app.register_blueprint(notifications.bp)
    app.register_blueprint(calendar.bp)
