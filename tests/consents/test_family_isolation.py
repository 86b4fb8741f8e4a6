"""Another family's child is 404 on every family route, on the web and in the API, and the
answer says nothing about that child. The routes are found by walking the URL map, so a
family route added later is covered without editing this test."""

from __future__ import annotations

from consent.models import Consent
from consent.services.consent_forms import issue_forms
from consent.timeutil import local_date, utcnow
from tests.api.helpers import bearer, make_partnership

FAMILY_PREFIXES = ("/family/", "/api/v1/students", "/api/v1/consents")
ID_ARGUMENTS = {"student_id", "consent_id"}


def _family_routes(app) -> list[tuple[str, str, set[str]]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(FAMILY_PREFIXES) or not (rule.arguments & ID_ARGUMENTS):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.rule, method, set(rule.arguments)))
    return routes


def _url(rule: str, student_id: int, consent_id: int) -> str:
    return (rule.replace("<int:student_id>", str(student_id))
            .replace("<int:consent_id>", str(consent_id)))


def test_every_family_route_answers_404_for_another_familys_child(app, db, make, login):
    p = make_partnership(make)
    other_parent = make.user("guardian", email="binh@family.example", name="Binh Nguyễn")
    make.link(p.other_student, make.guardian(other_parent, given="Binh", family="Nguyễn"))
    agreement = make.agreement(p.district, [p.partner], state="active",
                               executed_at=utcnow())
    issue_forms(agreement)
    consent = Consent(student_id=p.other_student.id, agreement_id=agreement.id,
                      recipient_id=p.partner.id, purpose="academic_support",
                      category="attendance", state="granted", granted_at=utcnow(),
                      valid_from=local_date(utcnow()), valid_through=agreement.end_date)
    db.session.add(consent)
    db.session.commit()
    routes = _family_routes(app)
    # The walk found the routes it is meant to guard (the web page, its forms, the API).
    assert {"/family/students/<int:student_id>", "/api/v1/students/<int:student_id>",
            "/api/v1/consents/<int:consent_id>/revoke"} <= {r for r, _, _ in routes}

    web = login(p.guardian_user)
    api = app.test_client()
    token = bearer(make.user_token(p.guardian_user))
    for rule, method, _ in routes:
        url = _url(rule, p.other_student.id, consent.id)
        if rule.startswith("/api/"):
            r = api.open(url, method=method, headers=token, json={})
        else:
            r = web.open(url, method=method, data={})
        assert r.status_code == 404, (method, url, r.status_code)
        body = r.get_data(as_text=True)
        for secret in ("Ben", "Nguy", "S-1002", "Binh"):
            assert secret not in body, (method, url, secret)
    db.session.expire_all()
    assert db.session.get(Consent, consent.id).state == "granted"
