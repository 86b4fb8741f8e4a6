"""Requesting the consent register from the agreement page, watching it, downloading it."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from consent import document_worker
from consent.models import AuditEntry, DocumentJob
from consent.timeutil import utcnow
from tests.api.helpers import make_partnership
from tests.documents.register_helpers import add_families
from tests.web.helpers import location_id


def _setup(make, app):
    app.config["DOCUMENT_JOB_WORKER"] = "none"  # the test runs the queue itself
    p = make_partnership(make)
    agreement = make.agreement(p.district, [p.partner], state="active",
                               executed_at=utcnow() - timedelta(days=1))
    add_families(agreement, p.school, 4)
    return p, agreement


def test_register_is_requested_watched_and_downloaded(app, db, make, login):
    p, agreement = _setup(make, app)
    legal = login(p.legal)
    detail = legal.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'data-document="consent_register"' in detail

    r = legal.post(f"/documents/agreements/{agreement.id}/consent-register")
    assert r.status_code == 302
    job_id = location_id(r)
    entry = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.subject_type == "document_job", AuditEntry.subject_id == job_id))
    assert entry.event == "document_job_requested" and entry.actor_user_id == p.legal.id

    waiting = legal.get(f"/documents/jobs/{job_id}").get_data(as_text=True)
    assert 'data-state="queued"' in waiting and '<meta http-equiv="refresh"' in waiting
    assert re.search(r'<progress max="100" value="0"', waiting)

    assert document_worker.run_pending(app) == 1
    ready = legal.get(f"/documents/jobs/{job_id}").get_data(as_text=True)
    assert 'data-state="done"' in ready and "http-equiv" not in ready
    pdf = legal.get(f"/documents/jobs/{job_id}/document.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    db.session.expire_all()
    assert pdf.headers["X-Document-SHA256"] == db.session.get(DocumentJob, job_id).sha256


def test_a_failed_job_shows_why(app, db, make, login):
    p, agreement = _setup(make, app)
    app.config["DOCUMENT_JOB_TIME_LIMIT"] = 0
    legal = login(p.legal)
    job_id = location_id(legal.post(f"/documents/agreements/{agreement.id}/consent-register"))
    document_worker.run_pending(app)
    page = legal.get(f"/documents/jobs/{job_id}").get_data(as_text=True)
    assert 'data-state="failed"' in page and 'role="alert"' in page
    assert "The document was not finished within its time limit of 0 seconds." in page
    assert legal.get(f"/documents/jobs/{job_id}/document.pdf").status_code == 404


def test_partners_and_families_never_see_registers(app, db, make, login):
    p, agreement = _setup(make, app)
    job_id = location_id(login(p.legal).post(
        f"/documents/agreements/{agreement.id}/consent-register"))
    for user in (p.partner_signatory, p.guardian_user):
        client = login(user)
        for path in (f"/documents/jobs/{job_id}", f"/documents/jobs/{job_id}/document.pdf"):
            assert client.get(path).status_code in (403, 404), (user.email, path)
        assert client.post(f"/documents/agreements/{agreement.id}/consent-register"
                           ).status_code in (403, 404)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DocumentJob)) == 1


def test_requesting_a_register_needs_a_csrf_token(app_config, request):
    app_config["WTF_CSRF_ENABLED"] = True  # before the app is built
    app, make, db = (request.getfixturevalue(n) for n in ("app", "make", "db"))
    p, agreement = _setup(make, app)
    client = app.test_client()
    from tests.conftest import PASSWORD
    from tests.web.helpers import csrf_token_from

    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    client.post("/auth/login", data={"email": p.legal.email, "password": PASSWORD,
                                     "csrf_token": token})
    path = f"/documents/agreements/{agreement.id}/consent-register"
    assert client.post(path).status_code == 400
    token = csrf_token_from(client.get(f"/agreements/{agreement.id}").get_data(as_text=True))
    assert client.post(path, data={"csrf_token": token}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DocumentJob)) == 1


def test_the_register_button_is_offered_only_to_those_who_may_use_it(app, db, make, login):
    p, agreement = _setup(make, app)
    partner_staff = login(make.user("staff", org=p.partner))
    detail = partner_staff.get(f"/agreements/{agreement.id}")
    assert detail.status_code == 200
    assert 'data-document="consent_register"' not in detail.get_data(as_text=True)
    r = partner_staff.post(f"/documents/agreements/{agreement.id}/consent-register")
    assert r.status_code == 404  # and the route refuses them as before
    district_staff = login(make.user("staff", org=p.district))
    page = district_staff.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'data-document="consent_register"' in page
