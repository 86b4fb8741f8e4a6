"""The pages offer only what the user may do now, and the web routes refuse the rest:
no system event or `to_<state>` shortcut, no action for another organization, no
signature out of turn (and then nobody is notified)."""

from __future__ import annotations

import sqlalchemy as sa

from consent.models import Agreement, AuditEntry, OutboxMessage, Signature
from consent.services.actors import actor_for
from consent.web.agreements import actions_for  # api first: import cycle
from tests.api.helpers import agreement_payload, bearer, make_partnership
from tests.web.helpers import actions_on, agreement_form


def _counts(db) -> tuple:
    db.session.expire_all()
    return (
        [(a.id, a.state, a.version_id) for a in db.session.scalars(
            sa.select(Agreement).order_by(Agreement.id))],
        [(s.id, s.state) for s in db.session.scalars(sa.select(Signature).order_by(Signature.id))],
        db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(  # not sign-ins
            AuditEntry.subject_type.in_(["agreement", "signature"]))),
        db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))),
    )


def _submitted(client, make, p) -> int:
    legal = bearer(make.user_token(p.legal))
    aid = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal).json[
        "data"]["id"]
    assert client.post(f"/api/v1/agreements/{aid}/events/submit", json={},
                       headers=legal).status_code == 200
    return aid


def test_system_events_and_state_shortcuts_are_not_web_actions(client, db, make, login):
    p = make_partnership(make)
    aid = _submitted(client, make, p)
    version = db.session.get(Agreement, aid).version_id
    before = _counts(db)
    for user in (p.legal, p.reviewer):
        page = login(user)
        for event in ("execute", "activate", "expire", "supersede", "decline", "to_approved",
                      "to_executed", "to_active", "trigger"):
            r = page.post(f"/agreements/{aid}/events/{event}",
                          data={"version": version, "reason": "x", "comment": "x"})
            assert r.status_code == 404, (user.email, event)
    assert _counts(db) == before


def test_another_organizations_staff_see_and_do_only_what_is_theirs(client, db, make, login):
    p = make_partnership(make)
    aid = _submitted(client, make, p)
    partner_legal = make.user("legal", org=p.partner, email="counsel@promise.example")
    partner_reviewer = make.user("reviewer", org=p.partner, email="review@promise.example")
    a = db.session.get(Agreement, aid)
    version = a.version_id
    before = _counts(db)
    for user, refused in ((partner_legal, "withdraw"), (partner_reviewer, "approve")):
        assert actions_for(a, actor_for(user)) == ["comment"]
        page = login(user)
        html = page.get(f"/agreements/{aid}").get_data(as_text=True)
        assert actions_on(html) == {"comment"}
        assert f'href="/agreements/{aid}/edit"' not in html
        r = page.post(f"/agreements/{aid}/events/{refused}",
                      data={"version": version, "reason": "ours now"})
        assert r.status_code == 403, (user.email, r.status_code)
        assert "organization" in r.get_data(as_text=True)
    form = agreement_form(title="Taken over", version=str(version))
    del form["template"], form["recipients"]
    r = login(partner_legal).post(f"/agreements/{aid}/edit", data=form)
    assert r.status_code == 403
    assert _counts(db) == before
    # The district's own staff still see their actions.
    assert set(actions_for(a, actor_for(p.legal))) == {"withdraw", "comment"}
    assert set(actions_for(a, actor_for(p.reviewer))) == {"approve", "request_changes",
                                                          "comment"}


def test_out_of_turn_signing_page_offers_nothing_and_refuses(client, db, make, login):
    p = make_partnership(make)
    aid = _submitted(client, make, p)
    client.post(f"/api/v1/agreements/{aid}/events/approve", json={},
                headers=bearer(make.user_token(p.reviewer)))
    sent = client.post(f"/api/v1/agreements/{aid}/events/send_for_signature", json={},
                       headers=bearer(make.user_token(p.legal))).json["data"]
    a = db.session.get(Agreement, aid)
    partner = login(p.partner_signatory)
    assert actions_on(partner.get(f"/agreements/{aid}").get_data(as_text=True)) == set()
    assert actions_on(login(p.district_signatory).get(f"/agreements/{aid}").get_data(
        as_text=True)) == {"sign", "decline"}
    before = _counts(db)
    r = partner.post(f"/agreements/{aid}/sign", data={
        "version": a.version_id, "name": "Pat Director", "title": "Executive Director",
        "authority": "", "document_sha256": sent["signing_document_sha256"]})
    assert r.status_code == 409
    assert "not your organization's turn" in r.get_data(as_text=True).replace("&#39;", "'")
    assert _counts(db) == before  # no signature, no audit entry, no email queued
