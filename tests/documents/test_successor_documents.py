"""Renewal and amendment documents: they name the agreement they follow and what changed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consent.services.actors import actor_for
from consent.services.agreements import start_successor
from consent.services.documents import agreement_snapshot, issue_agreement_pdf
from consent.timeutil import local_date, utcnow
from tests.documents.test_agreement_pdf import pages_of


@pytest.fixture
def executed(make):
    make.categories()
    district = make.org("Riverside Unified", kind="district")
    partner = make.org("Promise <Neighborhood>")
    legal = make.user("legal", org=district)
    today = local_date(utcnow())
    agreement = make.agreement(district, [partner], basis="consent", state="active",
                               start=today - timedelta(days=30), end=today + timedelta(days=300),
                               executed_at=utcnow() - timedelta(days=31),
                               title="Tutoring MOU")
    return agreement, actor_for(legal)


def test_renewal_names_its_predecessor_and_its_term(db, executed):
    predecessor, actor = executed
    renewal = start_successor(predecessor, "renewal", actor)
    doc = agreement_snapshot(renewal, "for_signature")
    assert doc["successor"] == {
        "kind": "renewal", "predecessor_id": predecessor.id,
        "predecessor_title": "Tutoring MOU",
        "predecessor_start_date": predecessor.start_date.isoformat(),
        "predecessor_end_date": predecessor.end_date.isoformat(),
        "changes": ["the title", "the start date (section 9)", "the end date (section 9)"],
    }
    text = " ".join(pages_of(issue_agreement_pdf(renewal, "for_signature").content))
    # The title block's terms and values are two columns; pypdf reads them column-wise.
    assert "Renewal of" in text and f"Agreement {predecessor.id}, “Tutoring MOU”" in text
    assert (f"This agreement renews agreement {predecessor.id}, “Tutoring MOU”, which applied "
            f"from {predecessor.start_date.isoformat()} through "
            f"{predecessor.end_date.isoformat()}.") in text
    assert f"applies from {renewal.start_date.isoformat()} through" in text


def test_amendment_lists_exactly_the_terms_that_changed(db, executed):
    predecessor, actor = executed
    amendment = start_successor(predecessor, "amendment", actor)
    amendment.title = predecessor.title
    amendment.start_date = predecessor.start_date
    amendment.retention_days = 180
    amendment.categories = ["attendance"]
    db.session.flush()
    doc = agreement_snapshot(amendment, "for_signature")
    assert doc["successor"]["changes"] == [
        "the schedule of data (section 3)", "the retention period (section 7)"]
    text = " ".join(pages_of(issue_agreement_pdf(amendment, "for_signature").content))
    assert "Amendment of" in text and f"Agreement {predecessor.id}, “Tutoring MOU”" in text
    assert (f"Compared with agreement {predecessor.id}, this amendment changes the schedule of "
            "data (section 3); the retention period (section 7).") in text
    assert "no longer than 180 days" in text
    assert "Promise <Neighborhood>" in text


def test_an_original_agreement_has_no_successor_section(db, executed):
    predecessor, _ = executed
    assert agreement_snapshot(predecessor, "for_signature")["successor"] is None
    text = " ".join(pages_of(issue_agreement_pdf(predecessor, "for_signature").content))
    assert "renews agreement" not in text and "Compared with agreement" not in text
