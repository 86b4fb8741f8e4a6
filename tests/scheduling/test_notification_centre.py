"""The in-app notification centre (page and API) and the reminder-days API."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from consent.models import Notification
from tests.api.helpers import bearer
from tests.scheduling.helpers import la, sweep


@pytest.fixture
def app_config(app_config):
    app_config["DISTRICT_TIMEZONE"] = "America/Los_Angeles"
    return app_config


@pytest.fixture
def reminded(app, make):
    """A 30-day end reminder sent to the legal owner and the partner's signatory."""
    district, partner = make.org(kind="district"), make.org()
    owner = make.user("legal", org=district, email="owner@district.example")
    signer = make.user("signatory", org=partner, email="sign@partner.example")
    outsider = make.user("signatory", org=make.org(), email="else@other.example")
    agreement = make.agreement(district, [partner], state="active", created_by=owner,
                               title="Tutoring <b>MOU</b>", start=date(2027, 7, 1),
                               end=date(2027, 12, 31),
                               executed_at=datetime(2027, 6, 1, tzinfo=UTC))
    sweep(app, la(date(2027, 12, 1)))
    return agreement, owner, signer, outsider


def test_each_recipient_sees_their_reminder_and_marks_it_read(app, db, reminded, login):
    agreement, owner, signer, outsider = reminded
    page = login(owner).get("/notifications/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "1 unread" in html
    assert "Agreement ending in 30 days: Tutoring &lt;b&gt;MOU&lt;/b&gt;" in html
    assert "<b>MOU</b>" not in html
    [mine] = db.session.query(Notification).filter_by(user_id=owner.id).all()
    # Another person cannot mark it: not found, and it stays unread.
    assert login(signer).post(f"/notifications/{mine.id}/read").status_code == 404
    db.session.expire_all()
    assert db.session.get(Notification, mine.id).read_at is None
    client = login(owner)
    assert client.post(f"/notifications/{mine.id}/read").status_code == 302
    db.session.expire_all()
    assert db.session.get(Notification, mine.id).read_at is not None
    assert "0 unread" in client.get("/notifications/").get_data(as_text=True)
    assert "Nothing here yet" in login(outsider).get("/notifications/").get_data(as_text=True)


def test_the_page_forms_need_a_csrf_token(app, db, reminded, login):
    _agreement, owner, _signer, _outsider = reminded
    client = login(owner)
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/notifications/read").status_code == 400
    db.session.expire_all()
    assert db.session.query(Notification).filter_by(user_id=owner.id, read_at=None).count() == 1


def test_api_lists_and_marks_only_your_own(app, db, make, reminded, client):
    _agreement, owner, signer, _outsider = reminded
    owner_h = bearer(make.user_token(owner))
    signer_h = bearer(make.user_token(signer))
    listed = client.get("/api/v1/notifications?unread=true", headers=owner_h)
    assert listed.status_code == 200
    [item] = listed.json["data"]
    assert listed.json["unread"] == 1 and item["read_at"] is None
    assert item["kind"] == "agreement_ending" and "30 days" in item["title"]
    refused = client.post(f"/api/v1/notifications/{item['id']}/read", headers=signer_h)
    assert refused.status_code == 404 and refused.json["error"]["code"]
    done = client.post(f"/api/v1/notifications/{item['id']}/read", headers=owner_h)
    assert done.status_code == 200 and done.json["data"]["read_at"]
    assert client.get("/api/v1/notifications?unread=true", headers=owner_h).json["data"] == []
    marked = client.post("/api/v1/notifications/read", headers=signer_h)
    assert marked.json["data"] == {"marked": 1}
    bad = client.get("/api/v1/notifications?unread=maybe", headers=owner_h)
    assert bad.status_code in (400, 422) and bad.json["error"]["field"] == "unread"


def test_notification_and_reminder_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert set(paths["/api/v1/notifications"]) == {"get"}
    assert set(paths["/api/v1/notifications/{notification_id}/read"]) == {"post"}
    assert set(paths["/api/v1/notifications/read"]) == {"post"}
    assert set(paths["/api/v1/agreements/{agreement_id}/reminders"]) == {"get", "put"}


def test_district_legal_sets_reminder_days_and_partners_cannot(app, db, make, client):
    district, partner = make.org(kind="district"), make.org()
    legal = make.user("legal", org=district)
    partner_legal = make.user("legal", org=partner)
    agreement = make.agreement(district, [partner], state="active", start=date(2027, 7, 1),
                               end=date(2028, 2, 29),
                               executed_at=datetime(2027, 6, 1, tzinfo=UTC))
    url = f"/api/v1/agreements/{agreement.id}/reminders"
    h = bearer(make.user_token(legal))
    assert client.get(url, headers=h).json["data"]["end_reminder_dates"] == [
        "2027-12-01", "2027-12-31", "2028-01-30", "2028-02-22"]
    put = client.put(url, json={"end_reminder_days": [14, 120]}, headers=h)
    assert put.status_code == 200
    assert put.json["data"] == {"end_reminder_days": [120, 14],
                                "end_reminder_dates": ["2027-11-01", "2028-02-15"]}
    bad = client.put(url, json={"end_reminder_days": [0]}, headers=h)
    assert bad.status_code == 422 and bad.json["error"]["field"] == "end_reminder_days[0]"
    other = client.put(url, json={"end_reminder_days": [5]},
                       headers=bearer(make.user_token(partner_legal)))
    assert other.status_code == 403
    assert client.get(url, headers=h).json["data"]["end_reminder_days"] == [120, 14]
