"""The organization calendar feed: a private token URL serving valid RFC 5545."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest

from tests.api.helpers import bearer
from tests.factories import district_today
from tests.scheduling.helpers import la


@pytest.fixture
def app_config(app_config):
    app_config["DISTRICT_TIMEZONE"] = "America/Los_Angeles"
    return app_config


@pytest.fixture
def orgs(make):
    district, partner, other = make.org(kind="district"), make.org(), make.org()
    title = ("Tutoring, mentoring; and attendance data\nfor Northside — a long title that "
             "needs folding in the feed")
    shared = make.agreement(district, [partner], state="active", title=title,
                            start=date(2027, 7, 1), end=date(2028, 2, 29),
                            executed_at=datetime(2027, 6, 1, tzinfo=UTC))
    # Ended 60 days ago (the feed keeps a year of ended agreements), 45 days to destroy.
    ended = make.agreement(district, [partner], state="expired", title="Old MOU",
                           start=district_today() - timedelta(days=400),
                           end=district_today() - timedelta(days=60),
                           executed_at=datetime(2025, 6, 1, tzinfo=UTC))
    ended.destruction_days = 45
    make.db.session.commit()
    hidden = make.agreement(district, [other], state="active", title="Not yours",
                            start=date(2027, 7, 1), end=date(2028, 6, 30),
                            executed_at=datetime(2027, 6, 1, tzinfo=UTC))
    draft = make.agreement(district, [partner], state="draft", title="Draft only")
    return district, partner, other, shared, ended, hidden, draft


def _feed_url(client, make, user) -> str:
    response = client.post("/api/v1/calendar-feed", headers=bearer(make.user_token(user)))
    assert response.status_code == 200, response.json
    return response.json["data"]["url"]


def _check_rfc5545(body: bytes) -> icalendar.Calendar:
    """Structural rules of RFC 5545 the feed must keep, then a parse by `icalendar`."""
    assert body.endswith(b"\r\n")
    lines = body.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in lines)  # 3.1: folded at 75 octets
    assert b"\n" not in body.replace(b"\r\n", b"")  # CRLF only
    cal = icalendar.Calendar.from_ical(body)
    assert cal.name == "VCALENDAR"
    assert str(cal["VERSION"]) == "2.0" and str(cal["PRODID"])
    events = cal.walk("VEVENT")
    uids = [str(e["UID"]) for e in events]
    assert len(uids) == len(set(uids))
    for event in events:
        for required in ("UID", "DTSTAMP", "DTSTART"):
            assert required in event, (required, event)
        assert event.decoded("DTEND") > event.decoded("DTSTART")
    assert icalendar.Calendar.from_ical(cal.to_ical()).to_ical() == cal.to_ical()
    return cal


def test_partner_feed_lists_end_and_reminder_dates_of_its_agreements(app, db, make, client,
                                                                      orgs):
    _district, partner, _other, shared, ended, _hidden, _draft = orgs
    staff = make.user("staff", org=partner)
    url = _feed_url(client, make, staff)
    path = url.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    cal = _check_rfc5545(response.data)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    end = events[f"agreement-{shared.id}-end@accordant"]
    assert end.decoded("DTSTART") == date(2028, 2, 29)
    assert end.decoded("DTEND") == date(2028, 3, 1)
    assert str(end["SUMMARY"]) == f"Agreement ends: {shared.title}"  # commas, ; and \n kept
    reminders = sorted(e.decoded("DTSTART") for uid, e in events.items() if "-reminder-" in uid)
    # 09:00 Los Angeles on each reminder day, as UTC instants.
    assert reminders == [la(date(2027, 12, 1)), la(date(2027, 12, 31)), la(date(2028, 1, 30)),
                         la(date(2028, 2, 22))]
    assert reminders[0] == datetime(2027, 12, 1, 17, 0, tzinfo=UTC)
    destruction = events[f"agreement-{ended.id}-destruction@accordant"]
    assert destruction.decoded("DTSTART") == district_today() - timedelta(days=15)
    titles = " ".join(str(e["SUMMARY"]) for e in events.values())
    assert "Not yours" not in titles and "Draft only" not in titles


def test_unknown_and_replaced_tokens_are_not_found(app, db, make, client, orgs):
    _district, partner, *_ = orgs
    staff = make.user("staff", org=partner)
    first = "/" + _feed_url(client, make, staff).split("/", 3)[3]
    second = "/" + _feed_url(client, make, staff).split("/", 3)[3]
    assert first != second
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    assert client.get("/calendar/not-a-token.ics").status_code == 404


def test_only_administrators_issue_feeds_for_other_organizations(app, db, make, client, orgs):
    district, partner, other, *_ = orgs
    staff = make.user("staff", org=partner)
    refused = client.post(f"/api/v1/calendar-feed?organization={other.slug}",
                          headers=bearer(make.user_token(staff)))
    assert refused.status_code == 403
    admin = make.user("admin", org=district)
    allowed = client.post(f"/api/v1/calendar-feed?organization={other.slug}",
                          headers=bearer(make.user_token(admin)))
    assert allowed.status_code == 200
    cal = _check_rfc5545(client.get("/" + allowed.json["data"]["url"].split("/", 3)[3]).data)
    assert {str(e["SUMMARY"]) for e in cal.walk("VEVENT")} >= {"Agreement ends: Not yours"}
    unknown = client.post("/api/v1/calendar-feed?organization=nope",
                          headers=bearer(make.user_token(admin)))
    assert unknown.status_code == 422 and unknown.json["error"]["field"] == "organization"


def test_cli_prints_a_working_feed_url(app, db, make, runner, client, orgs):
    _district, partner, *_ = orgs
    result = runner.invoke(args=["calendar", "issue", partner.slug])
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith("http://127.0.0.1:5000/calendar/") and url.endswith(".ics")
    assert client.get("/" + url.split("/", 3)[3]).status_code == 200
    missing = runner.invoke(args=["calendar", "issue", "nope"])
    assert missing.exit_code != 0 and "no organization 'nope'" in missing.output
