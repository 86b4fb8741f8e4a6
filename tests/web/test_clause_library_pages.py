"""The clause library pages: legal staff add and edit clauses, versioned, audited, sandboxed."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from consent.models import Agreement, AuditEntry, ClauseTemplate
from consent.services.documents import issue_agreement_pdf
from tests.api.helpers import make_partnership
from tests.conftest import PASSWORD
from tests.web.helpers import agreement_form, csrf_token_from, location_id


def _text(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf)).pages)


def _rows(db):
    db.session.expire_all()
    return db.session.scalars(sa.select(ClauseTemplate).order_by(ClauseTemplate.id)).all()


def test_only_legal_staff_reach_the_library(make, login):
    p = make_partnership(make)
    for user in (p.reviewer, p.district_signatory, p.guardian_user):
        client = login(user)
        assert client.get("/clauses/").status_code in (403, 404)
        r = client.post("/clauses/new", data={"heading": "X", "body": "Y"})
        assert r.status_code in (403, 404)
    assert login(p.legal).get("/clauses/").status_code == 200


def test_adding_a_clause_versions_audits_and_feeds_new_drafts(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    page = legal.get("/clauses/").get_data(as_text=True)
    assert "Governing law" in page and "built in" in page

    r = legal.post("/clauses/new", data={
        "heading": "Family <b>notice</b>",
        "body": "{{ recipients }} tells families about this agreement by {{ start_date }}."})
    assert r.status_code == 302, r.get_data(as_text=True)
    [row] = _rows(db)
    assert (row.key, row.version, row.heading, row.created_by_id) == (
        "family-b-notice-b", 1, "Family <b>notice</b>", p.legal.id)
    entry = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.subject_type == "clause_template", AuditEntry.subject_id == row.id))
    assert (entry.event, entry.actor_user_id, entry.data["version"]) == (
        "clause_added", p.legal.id, 1)
    assert "Family &lt;b&gt;notice&lt;/b&gt;" in legal.get("/clauses/").get_data(as_text=True)

    # Editing makes version 2; the first version stays.
    r = legal.post(f"/clauses/{row.key}/edit", data={
        "heading": "Family notice", "body": "{{ recipients }} writes to families.",
        "version": "1"})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert [(c.key, c.version, c.heading) for c in _rows(db)] == [
        (row.key, 1, "Family <b>notice</b>"), (row.key, 2, "Family notice")]
    history = legal.get(f"/clauses/{row.key}/history").get_data(as_text=True)
    assert 'data-version="2"' in history and 'data-version="1"' in history

    # A new draft starts with the current version, rendered with the agreement's facts.
    r = legal.post("/agreements/new", data=agreement_form(**{
        "clauses-0-heading": "Family notice",
        "clauses-0-text": "{{ recipients }} writes to families."}))
    assert r.status_code == 302, r.get_data(as_text=True)
    assert 'value="Family notice"' in legal.get("/agreements/new").get_data(as_text=True)
    agreement = db.session.get(Agreement, location_id(r))
    text = _text(issue_agreement_pdf(agreement, "for_signature").content)
    assert "Northside Promise Neighborhood writes to families." in text
    assert "{{" not in text


def test_a_stale_edit_is_refused_and_nothing_is_written(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    form = {"heading": "Governing law", "body": "State law applies.", "version": "0"}
    assert legal.post("/clauses/governing-law/edit", data=form).status_code == 302
    r = legal.post("/clauses/governing-law/edit", data=form | {"body": "Other text."})
    assert r.status_code == 409
    assert "Someone saved this clause" in r.get_data(as_text=True)
    assert [c.version for c in _rows(db)] == [1]


@pytest.mark.parametrize("body", [
    "{{ ''.__class__ }}", "{{ config }}", "{{ cycler.__init__.__globals__ }}",
    "{% include '/etc/passwd' %}",
])
def test_unsafe_text_is_refused_with_a_message_next_to_the_field(db, make, login, body):
    p = make_partnership(make)
    r = login(p.legal).post("/clauses/new", data={"heading": "Bad", "body": body})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'id="body-error"' in page and "This text cannot be used" in page
    assert "root:x:" not in page
    assert _rows(db) == []


def test_the_agreement_form_refuses_unsafe_clause_text(db, make, login):
    p = make_partnership(make)
    r = login(p.legal).post("/agreements/new", data=agreement_form(**{
        "clauses-0-text": "{{ config.SECRET_KEY }}"}))
    assert r.status_code == 422
    assert "This text cannot be used" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Agreement)) == 0


def test_preview_renders_sample_facts_without_saving(db, make, login):
    p = make_partnership(make)
    r = login(p.legal).post("/clauses/new", data={
        "heading": "H", "body": "<i>{{ district }}</i> keeps it {{ retention_days }} days.",
        "action": "preview"})
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "&lt;i&gt;Sample School District&lt;/i&gt; keeps it 365 days." in page
    assert _rows(db) == []


def test_library_forms_need_a_csrf_token(app_config, request):
    app_config["WTF_CSRF_ENABLED"] = True  # before the app is built
    app, make, db = (request.getfixturevalue(n) for n in ("app", "make", "db"))
    p = make_partnership(make)
    legal = app.test_client()
    token = csrf_token_from(legal.get("/auth/login").get_data(as_text=True))
    assert legal.post("/auth/login", data={"email": p.legal.email, "password": PASSWORD,
                                           "csrf_token": token}).status_code == 302
    assert legal.post("/clauses/new", data={"heading": "H", "body": "B"}).status_code == 400
    token = csrf_token_from(legal.get("/clauses/new").get_data(as_text=True))
    r = legal.post("/clauses/new", data={"heading": "H", "body": "B", "csrf_token": token})
    assert r.status_code == 302
    assert [c.heading for c in _rows(db)] == ["H"]
