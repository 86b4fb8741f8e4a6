"""The agreement print template and consent.services.documents, read back from real PDFs."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from consent.models import AgreementDocument, Signature, User
from consent.services import audit
from consent.services.actors import Actor
from consent.services.documents import (
    agreement_snapshot,
    issue_agreement_pdf,
    render_agreement_html,
)
from documents import html_to_pdf
from tests.factories import DEFAULT_CATEGORIES

TRICKY_ORG = "O'Brien & Sons <Community> Center"
POLISH = "Łucja Wójcik"
VIETNAMESE = "Nguyễn Thị Hương"
SHA_SIGNED = "a" * 64

SNAPSHOT_KEYS = {
    "kind", "agreement_id", "revision", "title", "legal_basis", "purposes",
    "scope_description", "population", "categories", "parties", "use_limitation",
    "no_reidentification", "security_requirements", "retention_days", "destruction_days",
    "breach_notification_hours", "start_date", "end_date", "renewal_notice_days", "clauses",
    "signed_document_sha256", "audit", "successor", "timezone", "generated_at",
}
HEADINGS = [
    "Recitals", "1. Purpose and scope", "2. Legal authority", "3. Schedule of data",
    "4. Authorized representatives", "5. Use limitation and no re-identification",
    "6. Security requirements", "7. Retention and destruction", "8. Breach notification",
    "9. Term, renewal and termination",
]


def pages_of(pdf: bytes) -> list[str]:
    return [" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf)).pages]


def occurrences(word: str, text: str) -> int:
    return len(re.findall(rf"(?<![\w]){re.escape(word)}(?![\w])", text))


def sample_snapshot(listener_url: str = "http://127.0.0.1:9", **changes) -> dict:
    categories = [
        {"code": code, "name": code.replace("_", " ").title(), "fields": list(fields)}
        for code, fields in DEFAULT_CATEGORIES.items()
    ]
    doc = {
        "kind": "executed",
        "agreement_id": 4242,
        "revision": 3,
        "title": "Afterschool Data-Sharing Agreement",
        "legal_basis": "studies",
        "purposes": ["academic_support", "program_evaluation"],
        "scope_description": "Tutoring sessions.\n\nQuarterly outcome reviews.",
        "population": "Students in grades 09 and 10 enrolled at Lincoln High School.",
        "categories": categories,
        "parties": [
            {"name": "Riverside Unified School District", "role": "source",
             "signatory": {"name": POLISH, "title": "Superintendent",
                           "authority": "Board resolution 2026-14",
                           "signed_at": "2026-11-02 10:15:00 PST", "ip": "198.51.100.7",
                           "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                           "document_sha256": SHA_SIGNED}},
            {"name": TRICKY_ORG, "role": "recipient",
             "signatory": {"name": VIETNAMESE, "title": "Executive Director",
                           "authority": "Bylaws art. 5", "signed_at": "2026-11-03 08:00:00 PST",
                           "ip": "203.0.113.9", "user_agent": "Safari/605.1.15",
                           "document_sha256": SHA_SIGNED}},
            {"name": "Third Party Library", "role": "recipient", "signatory": None},
        ],
        "use_limitation": "Only for tutoring.",
        "no_reidentification": True,
        "security_requirements": "Encrypt at rest.",
        "retention_days": 365,
        "destruction_days": 30,
        "breach_notification_hours": 72,
        "start_date": "2026-09-01",
        "end_date": "2027-08-31",
        "renewal_notice_days": 60,
        "clauses": [
            {"heading": "Governing law", "text": "State law applies.\n\nVenue is the county."},
            {"heading": "Injected <b>markup</b>",
             "text": f'Look <img src="{listener_url}/x"> and {{{{ config }}}} here.'},
        ],
        "signed_document_sha256": SHA_SIGNED,
        "audit": [
            {"at": "2026-11-02 10:15:00 PST", "actor": f"{POLISH} <lw@example.org>",
             "ip": "198.51.100.7", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
             "event": "sign (signature of Riverside Unified School District)",
             "from_state": "invited", "to_state": "signed"},
            {"at": "2026-11-03 08:00:01 PST", "actor": "system", "ip": None,
             "user_agent": None, "event": "execute", "from_state": "out_for_signature",
             "to_state": "executed"},
        ],
        "successor": None,
        "timezone": "America/Los_Angeles",
        "generated_at": "2026-11-03T08:00:02-08:00",
    }
    assert set(doc) == SNAPSHOT_KEYS
    doc.update(changes)
    return doc


@pytest.fixture
def render(app):
    def do_render(snapshot: dict) -> bytes:
        with app.app_context():
            return html_to_pdf(render_agreement_html(snapshot), strict=True)
    return do_render


# --- the template, from a hand-made snapshot --------------------------------------------

def test_every_section_appears_in_order(render, listener):
    pages = pages_of(render(sample_snapshot(listener.url)))
    text = " ".join(pages)
    positions = [text.index(h) for h in HEADINGS]
    assert positions == sorted(positions)
    extra = [text.index("10. Governing law"), text.index("11. Injected <b>markup</b>")]
    signature, certificate = text.index("Signature page"), text.index("Audit certificate")
    assert positions[-1] < extra[0] < extra[1] < signature < certificate
    assert "Written consent" not in text and "Studies exception" in text
    # The two paragraphs of a clause stay two paragraphs, both present.
    assert "State law applies." in text and "Venue is the county." in text


def test_signature_page_and_certificate_start_new_pages(render, listener):
    pages = pages_of(render(sample_snapshot(listener.url)))
    signature_page = next(i for i, p in enumerate(pages) if "Signature page" in p)
    certificate_page = next(i for i, p in enumerate(pages) if "Audit certificate" in p)
    assert "11. Injected" not in pages[signature_page]
    assert certificate_page > signature_page
    assert "Third Party Library" not in pages[certificate_page]
    total = len(pages)
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {total}" in text
        assert "Afterschool Data-Sharing Agreement · Agreement 4242 · Revision 3" in text


def test_schedule_lists_each_data_element_exactly_once(render, listener):
    text = " ".join(pages_of(render(sample_snapshot(listener.url))))
    schedule = text[text.index("3. Schedule of data"):text.index("4. Authorized representatives")]
    for code, fields in DEFAULT_CATEGORIES.items():
        assert occurrences(code.replace("_", " ").title(), schedule) == 1, code
        for field in fields:
            assert occurrences(field, schedule) == 1, field


def test_names_render_exactly(render, listener):
    text = " ".join(pages_of(render(sample_snapshot(listener.url))))
    assert text.count(TRICKY_ORG) >= 3  # title block, representatives, signature page
    assert POLISH in text and VIETNAMESE in text
    assert "&amp;" not in text and "&lt;" not in text


def test_injected_markup_shows_literally_and_fetches_nothing(render, listener, app):
    text = " ".join(pages_of(render(sample_snapshot(listener.url))))
    assert f'Look <img src="{listener.url}/x"> and {{{{ config }}}} here.' in text
    assert "Injected <b>markup</b>" in text
    assert app.config["SECRET_KEY"] not in text
    assert listener.hits == 0


def test_signature_blocks_show_evidence_or_a_blank_line(render, listener):
    pages = pages_of(render(sample_snapshot(listener.url)))
    signature = next(p for p in pages if "Signature page" in p)
    for expected in (POLISH, "Superintendent", "Board resolution 2026-14",
                     "2026-11-02 10:15:00 PST", "198.51.100.7", VIETNAMESE, "203.0.113.9"):
        assert expected in signature
    assert signature.count("Not yet signed") == 1
    assert signature.replace(" ", "").count(SHA_SIGNED) == 2


def test_audit_certificate_lists_events_and_the_signed_hash(render, listener):
    pages = pages_of(render(sample_snapshot(listener.url)))
    certificate = " ".join(pages[next(i for i, p in enumerate(pages) if "Audit certificate" in p):])
    for expected in ("America/Los_Angeles", "2026-11-02 10:15:00 PST", "lw@example.org",
                     "198.51.100.7", "Firefox/140.0", "invited → signed",
                     "out_for_signature → executed", "execute"):
        assert expected in certificate, expected
    assert SHA_SIGNED in certificate.replace(" ", "")


def test_no_certificate_without_audit_events(render, listener):
    doc = sample_snapshot(listener.url, audit=[], kind="for_signature")
    text = " ".join(pages_of(render(doc)))
    assert "Audit certificate" not in text
    assert "Copy for signature" in text


@pytest.mark.parametrize("basis, label", [
    ("consent", "Written consent"), ("school_official", "School official exception"),
    ("studies", "Studies exception"), ("audit_evaluation", "Audit or evaluation exception"),
    ("child_welfare", "Child welfare exception"),
    ("directory_information", "Directory information"),
])
def test_each_legal_basis_is_explained(app, basis, label):
    with app.app_context():
        html = render_agreement_html(sample_snapshot(legal_basis=basis))
    section = html[html.index("2. Legal authority"):html.index("3. Schedule of data")]
    assert label in section


def test_periods_are_stated(render, listener):
    text = " ".join(pages_of(render(sample_snapshot(listener.url))))
    assert "no longer than 365 days" in text
    assert "within 30 days" in text
    assert "within 72 hours" in text
    assert "from 2026-09-01 through 2027-08-31" in text
    assert "at least 60 days before" in text


def test_same_snapshot_gives_identical_bytes(render, listener):
    doc = sample_snapshot(listener.url)
    assert render(doc) == render(doc)


# --- the service, from database rows -----------------------------------------------------

@pytest.fixture
def parties(make):
    make.categories()
    district = make.org("Riverside Unified", kind="district")
    school = make.org("Lincoln High School", kind="school", parent=district)
    partner = make.org(TRICKY_ORG)
    return district, school, partner


def _agreement(make, parties, **fields):
    district, school, partner = parties
    fields.setdefault("clauses", [{"heading": "Governing law", "text": "State law applies."}])
    return make.agreement(
        district, [partner], basis="studies", state="out_for_signature",
        categories=("attendance", "quarterly_grades", "unknown_code"),
        population={"schools": [school.id], "grades": ["09", "10"]},
        breach_notification_hours=48, **fields)


def _sign(db, agreement, org, name, at, sha):
    user = db.session.scalar(sa.select(User).limit(1))
    sig = Signature(agreement_id=agreement.id, revision=agreement.revision,
                    organization_id=org.id, state="signed", signer_id=user.id if user else None,
                    signer_name=name, signer_title="Director", authority="Bylaws",
                    signed_at=at, ip_address="192.0.2.4", user_agent="TestAgent/1.0",
                    document_sha256=sha)
    db.session.add(sig)
    db.session.flush()
    actor = Actor(user, f"{name} <signer@example.org>", ip="192.0.2.4", user_agent="TestAgent/1.0")
    audit.record("sign", "signature", sig.id, actor, from_state="invited", to_state="signed")
    return sig


def test_snapshot_has_exactly_the_documented_keys(db, make, parties):
    agreement = _agreement(make, parties)
    doc = agreement_snapshot(agreement, "for_signature")
    assert set(doc) == SNAPSHOT_KEYS
    assert doc["kind"] == "for_signature"
    assert doc["categories"] == [
        {"code": "attendance", "name": "Attendance", "fields": DEFAULT_CATEGORIES["attendance"]},
        {"code": "quarterly_grades", "name": "Quarterly Grades",
         "fields": DEFAULT_CATEGORIES["quarterly_grades"]},
        {"code": "unknown_code", "name": "unknown_code", "fields": []},
    ]
    assert doc["population"] == "Students in grades 09 and 10 enrolled at Lincoln High School."
    assert [(p["name"], p["role"], p["signatory"]) for p in doc["parties"]] == [
        ("Riverside Unified", "source", None), (TRICKY_ORG, "recipient", None)]
    assert doc["start_date"] == agreement.start_date.isoformat()
    assert doc["breach_notification_hours"] == 48
    assert doc["signed_document_sha256"] is None
    assert doc["audit"] == []
    assert doc["timezone"] == "America/Los_Angeles"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[78]:00", doc["generated_at"])


def test_population_without_restrictions(db, make, parties):
    agreement = _agreement(make, parties, title="Open")
    agreement.population = {"schools": [], "grades": []}
    assert agreement_snapshot(agreement, "for_signature")["population"] == (
        "Students in any grade at any school of the source party.")


def test_unknown_kind_is_refused(db, make, parties):
    with pytest.raises(ValueError, match="unknown document kind"):
        agreement_snapshot(_agreement(make, parties), "draft")


def test_issued_pdf_hash_matches_its_content(db, make, parties):
    agreement = _agreement(make, parties)
    document = issue_agreement_pdf(agreement, "for_signature")
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(AgreementDocument, document.id)
    assert stored.sha256 == hashlib.sha256(stored.content).hexdigest()
    assert (stored.agreement_id, stored.revision, stored.kind) == (agreement.id, 1, "for_signature")
    assert stored.renderer.startswith("weasyprint ")
    text = " ".join(pages_of(stored.content))
    assert TRICKY_ORG in text and "Lincoln High School" in text
    # A frozen document is returned again, never re-rendered.
    assert issue_agreement_pdf(agreement, "for_signature").id == document.id


def test_issue_flushes_but_does_not_commit(db, make, parties):
    agreement = _agreement(make, parties)
    issue_agreement_pdf(agreement, "for_signature")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AgreementDocument)) == 0


def test_injected_clause_from_the_database_fetches_nothing(db, make, parties, listener):
    clause = {"heading": "<script>x</script>",
              "text": f'<img src="{listener.url}/x"> {{{{ config }}}}'}
    agreement = _agreement(make, parties, clauses=[clause])
    document = issue_agreement_pdf(agreement, "for_signature")
    text = " ".join(pages_of(document.content))
    assert f'<img src="{listener.url}/x"> {{{{ config }}}}' in text
    assert "<script>x</script>" in text
    assert listener.hits == 0


def test_executed_snapshot_carries_signatures_and_the_audit_trail(db, make, parties):
    district, _school, partner = parties
    make.user("signatory", org=district, name=POLISH)
    agreement = _agreement(make, parties)
    other = _agreement(make, parties, title="Another agreement")
    signed_copy = issue_agreement_pdf(agreement, "for_signature")
    audit.record("send_for_signature", "agreement", agreement.id,
                 Actor(None, "system"), from_state="approved", to_state="out_for_signature")
    audit.record("submit", "agreement", other.id, Actor(None, "system"),
                 from_state="draft", to_state="in_review")
    # 18:15 UTC in November is 10:15 in Los Angeles (PST).
    _sign(db, agreement, district, POLISH, datetime(2026, 11, 2, 18, 15, tzinfo=UTC),
          signed_copy.sha256)
    _sign(db, agreement, partner, VIETNAMESE, datetime(2026, 7, 2, 18, 15, tzinfo=UTC),
          signed_copy.sha256)
    _sign(db, other, partner, "Someone Else", datetime(2026, 7, 2, 18, 15, tzinfo=UTC),
          signed_copy.sha256)
    db.session.commit()

    doc = agreement_snapshot(agreement, "executed")
    assert doc["signed_document_sha256"] == signed_copy.sha256
    source, recipient = doc["parties"]
    assert source["signatory"] == {
        "name": POLISH, "title": "Director", "authority": "Bylaws",
        "signed_at": "2026-11-02 10:15:00 PST", "ip": "192.0.2.4",
        "user_agent": "TestAgent/1.0", "document_sha256": signed_copy.sha256}
    assert recipient["signatory"]["signed_at"] == "2026-07-02 11:15:00 PDT"
    assert [e["event"] for e in doc["audit"]] == [
        "send_for_signature",
        "sign (signature of Riverside Unified)",
        f"sign (signature of {TRICKY_ORG})",
    ]
    assert all(re.search(r" P[SD]T$", e["at"]) for e in doc["audit"])
    assert doc["audit"][1]["ip"] == "192.0.2.4"

    executed = issue_agreement_pdf(agreement, "executed")
    text = " ".join(pages_of(executed.content))
    assert "Audit certificate" in text and "Executed copy" in text
    assert signed_copy.sha256 in text.replace(" ", "")
    assert "Someone Else" not in text and "Not yet signed" not in text
