"""A renewal takes over at the first instant after its predecessor's last day, through
the scheduler's activation function, and a successor cannot leave a day uncovered."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from consent.access.facts import agreement_window
from consent.models import Agreement, AuditEntry
from consent.services import agreements as service
from consent.timeutil import end_of_day, start_of_day
from tests.api.helpers import agreement_payload, bearer, make_partnership
from tests.api.test_roles import active_agreement, run_to_execution


def test_renewal_supersedes_its_predecessor_when_the_scheduler_activates_it(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    legal = bearer(make.user_token(p.legal))
    renewal = client.post(f"/api/v1/agreements/{aid}/successors", json={"kind": "renewal"},
                          headers=legal).json["data"]
    # Prefilled from the predecessor: the same content, a linked draft.
    db.session.expire_all()
    old = db.session.get(Agreement, aid)
    new = db.session.get(Agreement, renewal["id"])
    for name in service.CONTENT_FIELDS:
        if name not in ("title", "start_date", "end_date"):
            assert getattr(new, name) == getattr(old, name), name
    assert (new.predecessor_id, new.successor_kind, new.state) == (aid, "renewal", "draft")
    assert [(q.organization_id, q.role) for q in new.parties] == [
        (q.organization_id, q.role) for q in old.parties]

    assert run_to_execution(client, make, p, renewal["id"])["state"] == "executed"
    with client.application.app_context():
        db.session.expire_all()
        takeover = start_of_day(new.start_date)
        assert takeover == end_of_day(old.end_date)
        # The scheduler runs its agreement job just before and at the take-over instant.
        from consent.jobs import advance_agreements

        advance_agreements(takeover - timedelta(microseconds=1))
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(Agreement, aid).state == "active"
        assert db.session.get(Agreement, renewal["id"]).state == "executed"
        advance_agreements(takeover)
        db.session.commit()
        db.session.expire_all()
        old = db.session.get(Agreement, aid)
        new = db.session.get(Agreement, renewal["id"])
        assert (old.state, new.state) == ("superseded", "active")
        assert old.superseded_at == takeover
        first, second = agreement_window(old), agreement_window(new)
        assert first.end == second.start == takeover  # half-open windows: no gap, no overlap
    entry = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.subject_type == "agreement", AuditEntry.subject_id == aid,
        AuditEntry.event == "supersede"))
    assert (entry.from_state, entry.to_state, entry.data["successor"]) == (
        "active", "superseded", renewal["id"])


def test_a_successor_cannot_leave_a_day_uncovered(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    legal = bearer(make.user_token(p.legal))
    renewal = client.post(f"/api/v1/agreements/{aid}/successors", json={"kind": "renewal"},
                          headers=legal).json["data"]
    end = db.session.get(Agreement, aid).end_date
    late = end + timedelta(days=2)
    r = client.patch(f"/api/v1/agreements/{renewal['id']}", headers=legal, json={
        "start_date": late.isoformat(), "end_date": (late + timedelta(days=300)).isoformat()})
    assert (r.status_code, r.json["error"]["field"]) == (422, "start_date")
    assert (end + timedelta(days=1)).isoformat() in r.json["error"]["message"]
    # The day after is fine, and so is an earlier start (it takes over on execution).
    for start in (end + timedelta(days=1), end - timedelta(days=30)):
        r = client.patch(f"/api/v1/agreements/{renewal['id']}", headers=legal,
                         json={"start_date": start.isoformat()})
        assert r.status_code == 200, r.json
    # An agreement with no predecessor may start whenever it likes.
    other = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal).json[
        "data"]["id"]
    r = client.patch(f"/api/v1/agreements/{other}", headers=legal, json={
        "start_date": late.isoformat(), "end_date": (late + timedelta(days=9)).isoformat()})
    assert r.status_code == 200, r.json
