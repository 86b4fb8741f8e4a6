"""Malformed input gets a 4xx naming the field, and the database is unchanged."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consent.models import Agreement, AuditEntry, Consent
from tests.api.helpers import agreement_payload, bearer, make_partnership
from tests.api.test_roles import active_agreement


def _counts(db):
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m))
                 for m in (Agreement, AuditEntry, Consent))


@pytest.fixture
def world(make):
    p = make_partnership(make)
    return p, bearer(make.user_token(p.legal))


def test_body_that_is_not_json_is_refused(client, db, world):
    _, legal = world
    before = _counts(db)
    r = client.post("/api/v1/agreements", data="{not json", headers=legal,
                    content_type="application/json")
    assert r.status_code == 400
    assert r.json["error"]["field"] == "body"
    assert _counts(db) == before


@pytest.mark.parametrize("document", ["[]", '["title"]', '"an agreement"', "42", "null"])
def test_json_that_is_not_an_object_is_refused_naming_the_body(client, db, world, document):
    _, legal = world
    before = _counts(db)
    r = client.post("/api/v1/agreements", data=document, headers=legal,
                    content_type="application/json")
    assert r.status_code in (400, 422), r.json
    assert r.json["error"]["field"] == "body"
    assert _counts(db) == before


@pytest.mark.parametrize(("change", "field", "status"), [
    ({"title": None}, "title", 422),
    ({"start_date": "2027-02-30"}, "start_date", 422),
    ({"end_date": "31/12/2027"}, "end_date", 422),
    ({"start_date": "2027-06-01", "end_date": "2027-05-31"}, "end_date", 422),
    ({"legal_basis": "because"}, "legal_basis", 422),
    ({"recipients": ["no-such-org"]}, "recipients[0]", 422),
    ({"categories": ["attendance", "shoe_size"]}, "categories[1]", 422),
    ({"purposes": ["Not A Code"]}, "purposes[0]", 422),
    ({"retention_days": "ninety"}, "retention_days", 422),
    ({"colour": "blue"}, "colour", 422),
    ({"population": {"schools": ["nowhere"]}}, "population.schools[0]", 422),
    ({"clauses": [{"heading": "x"}]}, "clauses[0].text", 422),
])
def test_invalid_agreement_fields_are_named(client, db, world, change, field, status):
    _, legal = world
    before = _counts(db)
    payload = agreement_payload()
    payload.update(change)
    r = client.post("/api/v1/agreements", json=payload, headers=legal)
    assert r.status_code == status, r.json
    assert r.json["error"]["field"] == field
    assert r.json["error"]["message"]
    assert _counts(db) == before


def test_missing_required_field_is_named(client, db, world):
    _, legal = world
    payload = agreement_payload()
    del payload["end_date"]
    r = client.post("/api/v1/agreements", json=payload, headers=legal)
    assert r.status_code == 422
    assert r.json["error"] == {"code": "invalid", "message": "this field is required",
                               "field": "end_date"}


def test_unknown_agreement_id_is_404(client, world):
    _, legal = world
    assert client.get("/api/v1/agreements/999", headers=legal).status_code == 404
    r = client.post("/api/v1/agreements/999/events/submit", json={}, headers=legal)
    assert r.status_code == 404


def test_unknown_or_system_event_is_404_and_changes_nothing(client, db, world):
    _, legal = world
    aid = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal).json[
        "data"]["id"]
    before = _counts(db)
    for event in ("execute", "activate", "to_active", "explode"):
        r = client.post(f"/api/v1/agreements/{aid}/events/{event}", json={}, headers=legal)
        assert r.status_code == 404, event
    assert _counts(db) == before
    assert db.session.get(Agreement, aid).state == "draft"


def test_stale_version_is_409_and_changes_nothing(client, db, world):
    _, legal = world
    created = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal).json[
        "data"]
    aid, version = created["id"], created["version"]
    r = client.patch(f"/api/v1/agreements/{aid}", json={"title": "New", "version": version},
                     headers=legal)
    assert r.status_code == 200
    r = client.patch(f"/api/v1/agreements/{aid}", json={"title": "Older", "version": version},
                     headers=legal)
    assert r.status_code == 409
    assert r.json["error"]["field"] == "version"
    db.session.expire_all()
    assert db.session.get(Agreement, aid).title == "New"


def test_decision_request_fields_are_checked(client, make, world):
    p, _ = world
    enforcer = bearer(make.client_token(p.partner))
    good = {"recipient": "promise", "student": "S-1001", "category": "attendance",
            "purpose": "academic_support"}
    r = client.post("/api/v1/decisions", json={**good, "at": "yesterday"}, headers=enforcer)
    assert (r.status_code, r.json["error"]["field"]) == (422, "at")
    r = client.post("/api/v1/decisions", json={**good, "at": "2027-01-01T09:00:00"},
                    headers=enforcer)
    assert (r.status_code, r.json["error"]["field"]) == (422, "at")
    r = client.post("/api/v1/decisions", json={"requests": [good, {**good, "purpose": 5}]},
                    headers=enforcer)
    assert (r.status_code, r.json["error"]["field"]) == (422, "requests[1].purpose")
    r = client.post("/api/v1/decisions", json={k: v for k, v in good.items() if k != "student"},
                    headers=enforcer)
    assert (r.status_code, r.json["error"]["field"]) == (422, "student")
    # Times Python cannot read get the API's own words, never Python's.
    for at in ("bad", "2026-12-04T06:11:20+25:00"):
        for body, field in (({**good, "at": at}, "at"),
                            ({"requests": [good, {**good, "at": at}]}, "requests[1].at")):
            r = client.post("/api/v1/decisions", json=body, headers=enforcer)
            assert (r.status_code, r.json["error"]["field"]) == (422, field), r.json
            message = r.json["error"]["message"]
            assert "RFC 3339" in message or "date-time" in message, message
            assert "isoformat" not in message and "timedelta" not in message, message


def test_consent_outside_the_agreement_is_refused(client, db, make, world):
    p, legal = world
    from tests.api.test_roles import active_agreement

    aid = active_agreement(client, make, p)
    family = bearer(make.user_token(p.guardian_user))
    base = {"agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
            "categories": ["attendance"]}
    before = _counts(db)
    cases = [
        ({"categories": ["contact"]}, "categories[0]"),
        ({"purposes": ["marketing"]}, "purposes[0]"),
        ({"recipient": "afterschool"}, "recipient"),
        ({"valid_through": "2099-01-01"}, "valid_through"),
        ({"valid_through": "2027-02-30"}, "valid_through"),
        ({"agreement": 999}, "agreement"),
    ]
    for change, field in cases:
        r = client.post(f"/api/v1/students/{p.student.id}/consents", json={**base, **change},
                        headers=family)
        assert r.status_code == 422, (change, r.json)
        assert r.json["error"]["field"] == field
    assert _counts(db) == before


@pytest.mark.parametrize(("change", "field"), [
    ({"start_date": "0001-01-01"}, "start_date"),
    ({"end_date": "9999-12-31"}, "end_date"),
    ({"retention_days": 2**63}, "retention_days"),
    ({"renewal_notice_days": 10**9}, "renewal_notice_days"),
    ({"title": "Invoice \u202egnp.exe"}, "title"),
    ({"title": "   "}, "title"),
    ({"population": {"grades": ["ZZ"]}}, "population.grades[0]"),
    ({"scope_description": "x" * 6000}, "scope_description"),
    # Each clause within its limit, but together more text than one agreement may carry.
    ({"clauses": [{"heading": "h", "text": "x" * 20000}] * 6}, "clauses"),
])
def test_out_of_range_values_are_refused_without_echoing_them(client, db, world, change,
                                                               field):
    _, legal = world
    before = _counts(db)
    r = client.post("/api/v1/agreements", json={**agreement_payload(), **change}, headers=legal)
    assert (r.status_code, r.json["error"]["field"]) == (422, field), r.json
    assert len(r.json["error"]["message"]) < 400
    assert _counts(db) == before


def test_huge_ids_and_nesting_are_client_errors(client, world):
    _, legal = world
    for path in ("/api/v1/agreements/99999999999999999999999", "/api/v1/students/2147483648"):
        assert client.get(path, headers=legal).status_code == 404
    r = client.post("/api/v1/agreements", data='{"title": "\\ud800"}', headers=legal,
                    content_type="application/json")
    assert (r.status_code, r.json["error"]["field"]) == (422, "title")
    clauses = [{"heading": "h", "text": "\ud83d"}]
    r = client.post("/api/v1/agreements", headers=legal,
                    json={**agreement_payload(), "clauses": clauses})
    assert (r.status_code, r.json["error"]["field"]) == (422, "clauses[0].text")
    r = client.get("/api/v1/rules/changes?since=99999999999999999999", headers=legal)
    assert (r.status_code, r.json["error"]["field"]) == (422, "since")
    r = client.post("/api/v1/agreements", data="[" * 100000, headers=legal,
                    content_type="application/json")
    assert (r.status_code, r.json["error"]["field"]) == (400, "body")


def test_incomplete_checklist_names_the_fields(client, db, world):
    _, legal = world
    aid = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal).json[
        "data"]["id"]
    r = client.patch(f"/api/v1/agreements/{aid}", headers=legal,
                     json={"use_limitation": "", "no_reidentification": False})
    assert r.status_code == 200
    r = client.post(f"/api/v1/agreements/{aid}/events/submit", json={}, headers=legal)
    assert r.status_code == 422
    assert r.json["error"]["field"] == "use_limitation"
    assert r.json["error"]["details"]["fields"] == ["use_limitation", "no_reidentification"]
    assert "use limitation" in r.json["error"]["message"]
    assert "no re-identification" in r.json["error"]["message"]
    db.session.expire_all()
    assert db.session.get(Agreement, aid).state == "draft"


def test_decision_times_outside_supported_years_are_refused(client, make, world):
    p, _ = world
    enforcer = bearer(make.client_token(p.partner))
    for at in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"):
        r = client.post("/api/v1/decisions", headers=enforcer, json={
            "recipient": "promise", "student": "S-1001", "category": "attendance",
            "purpose": "academic_support", "at": at})
        assert (r.status_code, r.json["error"]["field"]) == (422, "at")


def test_control_characters_anywhere_in_a_body_are_refused_naming_the_field(
        client, db, make, world):
    p, legal = world
    aid = active_agreement(client, make, p)
    before = client.get(f"/api/v1/agreements/{aid}", headers=legal).json["data"]
    cases = [({"reason": "\u202e\u0000evil"}, "reason"), ({"reason": "\u0000"}, "reason"),
             ({"reason": "ok", "comment": "a\u007fb"}, "comment"),
             ({"reason": "ok", "comment": "x\u0085"}, "comment")]
    for body, field in cases:
        r = client.post(f"/api/v1/agreements/{aid}/events/terminate", json=body,
                        headers=legal)
        assert (r.status_code, r.json["error"]["field"]) == (422, field), (body, r.json)
        assert "control characters" in r.json["error"]["message"]
    # Sent raw (not escaped): DEL and a direction override are valid JSON text.
    r = client.post(f"/api/v1/agreements/{aid}/events/terminate", headers={
        **legal, "Content-Type": "application/json"},
        data='{"reason": "raw \u202e override"}'.encode())
    assert (r.status_code, r.json["error"]["field"]) == (422, "reason")
    assert client.get(f"/api/v1/agreements/{aid}", headers=legal).json["data"] == before
    # Line breaks and tabs stay allowed in free text.
    enforcer = bearer(make.client_token(p.partner))
    r = client.post("/api/v1/decisions", headers=enforcer, json={
        "requests": [{"recipient": "promise", "student": "S-1001", "category": "attendance",
                      "purpose": "academic_support"},
                     {"recipient": "promise", "student": "S-\u0000", "category": "attendance",
                      "purpose": "academic_support"}]})
    assert (r.status_code, r.json["error"]["field"]) == (422, "requests[1].student")


def test_a_refused_value_is_described_in_words_and_a_password_is_never_repeated(client, db,
                                                                                world):
    p, legal = world
    secret = "correct horse battery staple " * 40_000
    r = client.post("/api/v1/auth/tokens", json={"email": p.legal.email, "password": secret})
    assert r.status_code == 422
    assert r.json["error"] == {"code": "invalid", "field": "password",
                               "message": "must be at most 200 characters"}
    r = client.post("/api/v1/agreements", headers=legal,
                    json=agreement_payload(title="x" * 301))
    assert r.status_code == 422 and r.json["error"]["field"] == "title"
    message = r.json["error"]["message"]
    assert message.startswith("must be at most 300 characters (got 'xxxx") and len(message) < 120


def test_a_body_that_is_not_strict_json_is_refused_naming_what_is_wrong(client, make, world):
    p, _ = world
    enforcer = {**bearer(make.client_token(p.partner)), "Content-Type": "application/json"}
    good = ('"student":"S-1001","category":"attendance","purpose":"academic_support"')
    for constant in ("NaN", "Infinity", "-Infinity"):
        r = client.post("/api/v1/decisions", data=f'{{"recipient":{constant},{good}}}',
                        headers=enforcer)
        assert (r.status_code, r.json["error"]["field"]) == (400, "body"), r.json
        assert f"{constant.lstrip('-')} is not a JSON number" in r.json["error"]["message"]
    # Two values for one field: which was meant cannot be known, so neither is used.
    r = client.post("/api/v1/decisions", headers=enforcer,
                    data=f'{{"recipient":"afterschool","recipient":"promise",{good}}}')
    assert (r.status_code, r.json["error"]["field"]) == (400, "recipient"), r.json
    assert "given twice" in r.json["error"]["message"]
    r = client.post("/api/v1/decisions", headers=enforcer,
                    data=f'{{"requests":[{{"recipient":"promise",{good},"purpose":"x"}}]}}')
    assert (r.status_code, r.json["error"]["field"]) == (400, "purpose")
    r = client.post("/api/v1/decisions", headers=enforcer,
                    data=f'{{"recipient":"promise",{good}}}')
    assert r.status_code == 200


def test_an_unknown_field_with_a_huge_name_is_not_echoed_whole(client, make, world):
    p, _ = world
    enforcer = bearer(make.client_token(p.partner))
    r = client.post("/api/v1/decisions", headers=enforcer, json={
        "recipient": "promise", "student": "S-1001", "category": "attendance",
        "purpose": "academic_support", "k" * 100_000: 1})
    assert r.status_code == 422
    assert r.json["error"]["field"] == "k" * 100 + "…"
    assert len(r.data) < 1_000


@pytest.mark.parametrize("since", ["１２", "٣", "-1", "1.5", "0x10", " 3", "2147483648"])
def test_a_change_feed_version_is_plain_ascii_digits(client, make, world, since):
    p, _ = world
    enforcer = bearer(make.client_token(p.partner))
    r = client.get("/api/v1/rules/changes", query_string={"since": since}, headers=enforcer)
    assert (r.status_code, r.json["error"]["field"]) == (422, "since")
    assert client.get("/api/v1/rules/changes?since=12", headers=enforcer).status_code == 200


@pytest.mark.parametrize("at", [
    "2026-12-04 10:00:00Z", "20261204T100000Z", "2026-W49-5T10:00:00Z",
    "2026-12-04T10:00:00.Z", "2026-12-04T10:00Z", "2026-12-04T10:00:00,5Z",
    "2026-12-04T10:00:00.1234567Z", "2026-12-04T10:00:00", "2026-12-04", "2026-12-04T24:00:00Z",
    "２０２６-12-04T10:00:00Z",
    # In the supported years as local dates, but not as instants (UTC).
    "1900-01-01T00:00:00+01:00", "2999-12-31T23:59:59-12:00"])
def test_an_instant_must_be_rfc3339_within_the_supported_years(client, make, world, at):
    p, _ = world
    enforcer = bearer(make.client_token(p.partner))
    r = client.post("/api/v1/decisions", headers=enforcer, json={
        "recipient": "promise", "student": "S-1001", "category": "attendance",
        "purpose": "academic_support", "at": at})
    assert (r.status_code, r.json["error"]["field"]) == (422, "at"), r.json


@pytest.mark.parametrize("at, expected", [
    ("2026-12-04t10:00:00z", "2026-12-04T10:00:00Z"),
    ("2026-12-04T10:00:00.5+01:00", "2026-12-04T09:00:00.500000Z"),
    ("1900-01-01T00:00:00-01:00", "1900-01-01T01:00:00Z")])
def test_rfc3339_instants_are_read_as_utc(client, make, world, at, expected):
    p, _ = world
    enforcer = bearer(make.client_token(p.partner))
    r = client.post("/api/v1/decisions", headers=enforcer, json={
        "recipient": "promise", "student": "S-1001", "category": "attendance",
        "purpose": "academic_support", "at": at})
    assert (r.status_code, r.json["data"]["at"]) == (200, expected), r.json
