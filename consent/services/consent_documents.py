"""The printable family consent form, in English or Spanish, as plain data and as HTML.

The form meets 34 CFR 99.30: it names the records (each data category with its data
elements), the purposes and the recipients, and has room for the signature and the
date of the parent or eligible student. Like agreement PDFs, the template sees only
the snapshot dict. Functions here read; they never write.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app, render_template

from consent.i18n import purpose_phrase, translate
from consent.models import Agreement, Student
from consent.services.documents import category_schedule
from consent.timeutil import utcnow

TEMPLATE = "documents/consent_form.html"
LANGUAGES = ("en", "es")


def consent_form_snapshot(agreement: Agreement, language: str,
                          student: Student | None = None) -> dict:
    """Everything the consent form may show, as plain data.

    Keys: ``language`` ("en" | "es"), ``agreement_id``, ``revision``, ``title``,
    ``district`` (the source organization's name), ``recipients`` (names), ``purposes``
    (codes), ``purpose_names`` (the purposes in words of ``language``, in the same order),
    ``categories`` (``{"code", "name", "fields"}`` as in agreement snapshots, the name in
    ``language``),
    ``start_date``, ``end_date`` (ISO), ``student`` (``{"name", "school", "grade"}`` or
    None for a blank form), ``generated_at`` (ISO 8601, district offset).

    :raises ValueError: a language other than English or Spanish.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    zone = ZoneInfo(current_app.config["DISTRICT_TIMEZONE"])
    categories = category_schedule(list(agreement.categories or []))
    if language != "en":
        # The records are named in the reader's language; the data elements keep the
        # agreement's own codes, so the form and the agreement name the same fields.
        categories = [{**c, "name": translate(c["name"], language)} for c in categories]
    return {
        "language": language,
        "agreement_id": agreement.id,
        "revision": agreement.revision,
        "title": agreement.title,
        "district": agreement.source_org.name,
        "recipients": [o.name for o in agreement.recipients],
        "purposes": list(agreement.purposes or []),
        "purpose_names": [purpose_phrase(p, language) for p in agreement.purposes or []],
        "categories": categories,
        "start_date": agreement.start_date.isoformat(),
        "end_date": agreement.end_date.isoformat(),
        "student": None if student is None else {
            "name": f"{student.given_name} {student.family_name}".strip(),
            "school": student.school.name if student.school else "",
            "grade": student.grade or "",
        },
        "generated_at": utcnow().astimezone(zone).isoformat(timespec="seconds"),
    }


def render_consent_form_html(snapshot: dict) -> str:
    """The print HTML of a consent form snapshot (autoescaped)."""
    return render_template(TEMPLATE, form=snapshot)
