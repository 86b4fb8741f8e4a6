"""The family consent form (34 CFR 99.30) in English and Spanish, read back from the PDF."""

from __future__ import annotations

import pytest

from consent.services.consent_documents import consent_form_snapshot, render_consent_form_html
from documents import html_to_pdf
from tests.documents.test_agreement_pdf import occurrences, pages_of
from tests.factories import DEFAULT_CATEGORIES

EVIL = '<img src="http://127.0.0.1:9/x">'


@pytest.fixture
def agreement(make):
    make.categories()
    district = make.org("Distrito Escolar Riverside", kind="district")
    school = make.org("Lincoln High School", kind="school", parent=district)
    partner = make.org(f"Promise & Partners {EVIL}")
    student = make.student(f"Zoë {EVIL}", "Nguyễn", school=school, grade="10")
    agreement = make.agreement(district, [partner], basis="consent",
                               purposes=("academic_support", "program_evaluation"),
                               categories=("attendance", "quarterly_grades"))
    return agreement, student


def _render(snapshot) -> str:
    return " ".join(pages_of(html_to_pdf(render_consent_form_html(snapshot), strict=True)))


@pytest.mark.parametrize("language, heading, why, page", [
    ("en", "Permission to share school records", "academic support", "Page 1 of"),
    ("es", "Permiso para compartir registros escolares", "apoyo académico", "Página 1 de"),
])
def test_form_names_records_purposes_and_recipients(db, agreement, language, heading, why,
                                                     page):
    row, student = agreement
    snapshot = consent_form_snapshot(row, language, student)
    html = render_consent_form_html(snapshot)
    assert EVIL not in html
    text = _render(snapshot)
    assert heading in text and page in text
    # Every data element of every category is named, exactly once in the list of records.
    for code in ("attendance", "quarterly_grades"):
        for field in DEFAULT_CATEGORIES[code]:
            assert occurrences(field, text) == 1, field
    assert why in text
    assert f"Promise & Partners {EVIL}" in text  # the recipient, shown literally
    assert f"Zoë {EVIL} Nguyễn" in text
    assert row.end_date.isoformat() in text
    assert "34 CFR 99.30" in text


def test_a_blank_form_leaves_room_for_the_student_and_the_signature(db, agreement):
    row, _ = agreement
    text = _render(consent_form_snapshot(row, "en"))
    assert "(write the student's name)" in text
    for label in ("Signature", "Date", "Relationship to the student"):
        assert label in text


def test_only_english_and_spanish(db, agreement):
    with pytest.raises(ValueError, match="unknown language"):
        consent_form_snapshot(agreement[0], "fr")
