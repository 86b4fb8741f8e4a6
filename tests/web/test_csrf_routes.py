"""Every form route of the web UI refuses a POST without a CSRF token, and changes nothing."""

from __future__ import annotations

import re

import sqlalchemy as sa

from consent.models import Agreement, AuditEntry, User
from tests.api.helpers import make_partnership
from tests.conftest import PASSWORD
from tests.web.helpers import csrf_token_from

ALL_ROLES = ("admin", "legal", "reviewer", "signatory", "staff", "guardian", "student")


def _state(db):
    db.session.expire_all()
    return (db.session.scalar(sa.select(sa.func.count(AuditEntry.id))),
            [(a.id, a.state, a.version_id) for a in db.session.scalars(sa.select(Agreement))],
            [(u.id, u.active, u.session_token) for u in db.session.scalars(sa.select(User))])


def test_every_form_post_needs_the_csrf_token(app_config, request):
    app_config["WTF_CSRF_ENABLED"] = True
    make, db, app = (request.getfixturevalue(name) for name in ("make", "db", "app"))
    p = make_partnership(make)
    everyone = make.user(*ALL_ROLES, org=p.district, email="all@riverside.example")
    agreement = make.agreement(p.district, [p.partner], created_by=everyone)
    ids = {"agreement_id": agreement.id, "user_id": p.legal.id, "student_id": p.student.id,
           "consent_id": 1, "event": "submit", "token": "not-a-real-link",
           "notification_id": 1, "job_id": 1, "clause_id": 1, "scan_id": 1,
           "key": "governing-law"}

    browser = app.test_client()
    token = csrf_token_from(browser.get("/auth/login").get_data(as_text=True))
    r = browser.post("/auth/login", data={"email": everyone.email, "password": PASSWORD,
                                          "csrf_token": token})
    assert r.status_code == 302
    before = _state(db)

    checked = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(ids[m.group(1)]), rule.rule)
        r = browser.post(path, data={"version": agreement.version_id,
                                     "current_password": PASSWORD,
                                     "new_password": "a different long secret",
                                     "confirm": "a different long secret"})
        assert r.status_code == 400, (path, r.status_code)
        checked.append(rule.endpoint)
    assert {"auth.logout", "auth.change_password", "agreements.event", "agreements.sign",
            "family.decide", "family.revoke", "admin.deactivate", "verify.index"} <= set(checked)
    assert _state(db) == before
    # Still signed in: the refused logout did nothing either.
    assert browser.get("/auth/password").status_code == 200
