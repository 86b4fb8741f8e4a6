"""The plain-language consent form families see, versioned per agreement and language."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template

from consent.extensions import db
from consent.i18n import purpose_phrase, translate
from consent.models import Agreement, ConsentForm, DataCategory

LANGUAGES = {
    "en": "Consent to share school records",
    "es": "Permiso para compartir registros escolares",
}


def issue_forms(agreement: Agreement) -> list[ConsentForm]:
    """Write the next version of the consent form in every language (flushes)."""
    names = dict(db.session.execute(sa.select(DataCategory.code, DataCategory.name)).all())
    forms = []
    for language, title in LANGUAGES.items():
        # 34 CFR 99.30: the form names the records, so it names them in the reader's language.
        context = {
            "district": agreement.source_org.name,
            "recipients": ", ".join(o.name for o in agreement.recipients),
            "categories": ", ".join(translate(names.get(c, c), language)
                                    for c in agreement.categories),
            "purposes": ", ".join(purpose_phrase(p, language) for p in agreement.purposes),
            "end_date": agreement.end_date.isoformat(),
        }
        latest = db.session.scalar(sa.select(sa.func.max(ConsentForm.version)).where(
            ConsentForm.agreement_id == agreement.id, ConsentForm.language == language)) or 0
        form = ConsentForm(agreement_id=agreement.id, language=language, version=latest + 1,
                           title=title, body=render_template(f"consent_forms/{language}.txt",
                                                             **context))
        db.session.add(form)
        forms.append(form)
    db.session.flush()
    return forms
