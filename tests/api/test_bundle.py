"""The signed bundle: its schema, signature, ETag, change feed and the district bundle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import OKPKey
from referencing import Registry, Resource

import consent.api.rules as rules_api
from consent.access.signing import canonical_json
from tests.api.helpers import bearer, make_partnership
from tests.api.test_roles import active_agreement


def _validator(client, kind):
    recipient = client.get("/api/v1/rules/schema").json
    registry = Registry().with_resource(recipient["$id"], Resource.from_contents(recipient))
    schema = client.get(f"/api/v1/rules/schema?kind={kind}").json
    return jsonschema.Draft202012Validator(schema, registry=registry,
                                           format_checker=jsonschema.FormatChecker())


def _verify(client, body) -> None:
    key = OKPKey.import_key(client.get("/.well-known/jwks.json").json["keys"][0])
    jws.deserialize_compact(body["signature"], key, algorithms=["Ed25519"],
                            payload=canonical_json(body["bundle"]))


def _partnership_with_a_grant(client, make):
    """A partnership whose first student consented to attendance for promise."""
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    family = bearer(make.user_token(p.guardian_user))
    r = client.post(f"/api/v1/students/{p.student.id}/consents", headers=family, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance"]})
    assert r.status_code == 201, r.json
    return p, aid


def test_recipient_and_district_bundles_validate_and_verify(client, make):
    p, _ = _partnership_with_a_grant(client, make)

    enforcer = bearer(make.client_token(p.partner))
    body = client.get("/api/v1/rules/bundle", headers=enforcer).json
    _validator(client, "recipient").validate(body["bundle"])
    _verify(client, body)

    legal = bearer(make.user_token(p.legal))
    district = client.get("/api/v1/rules/bundle", headers=legal).json
    _validator(client, "district").validate(district["bundle"])
    # The district schema is self-contained: a validator given nothing else resolves it.
    jsonschema.Draft202012Validator(client.get("/api/v1/rules/schema?kind=district").json,
                                    format_checker=jsonschema.FormatChecker()
                                    ).validate(district["bundle"])
    _verify(client, district)
    assert [b["recipient"] for b in district["bundle"]["bundles"]] == ["promise"]
    assert district["bundle"]["bundles"][0]["grants"] == body["bundle"]["grants"]
    assert client.get("/api/v1/rules/schema?kind=other").status_code == 422


def test_tampered_bundle_fails_verification(client, make):
    p = make_partnership(make)
    active_agreement(client, make, p)
    body = client.get("/api/v1/rules/bundle", headers=bearer(make.client_token(p.partner))).json
    _verify(client, body)
    body["bundle"]["version"] += 1
    with pytest.raises(BadSignatureError):
        _verify(client, body)


def test_etag_and_change_feed(client, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    enforcer = bearer(make.client_token(p.partner))
    first = client.get("/api/v1/rules/bundle", headers=enforcer)
    etag, version = first.headers["ETag"], first.json["bundle"]["version"]
    assert client.get("/api/v1/rules/bundle", headers={
        **enforcer, "If-None-Match": etag}).status_code == 304
    assert client.get("/api/v1/rules/bundle", headers={
        **enforcer, "If-None-Match": f"W/{etag}"}).status_code == 304  # compared weakly
    family = bearer(make.user_token(p.guardian_user))
    client.post(f"/api/v1/students/{p.student.id}/consents", headers=family, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance"]})
    second = client.get("/api/v1/rules/bundle", headers={**enforcer, "If-None-Match": etag})
    assert second.status_code == 200 and second.json["bundle"]["version"] > version
    feed = client.get(f"/api/v1/rules/changes?since={version}", headers=enforcer).json
    assert [c["reason"] for c in feed["data"]] == ["consent_granted"]
    assert feed["latest"] == second.json["bundle"]["version"]
    assert feed["more"] is False
    # A cursor past the newest version is answered with the newest, not echoed back.
    ahead = client.get("/api/v1/rules/changes?since=99999999", headers=enforcer).json
    assert (ahead["data"], ahead["latest"]) == ([], second.json["bundle"]["version"])
    # District staff without ?recipient read the district's feed: every recipient's.
    legal = bearer(make.user_token(p.legal))
    district = client.get("/api/v1/rules/bundle", headers=legal).json["bundle"]
    everything = client.get("/api/v1/rules/changes?since=0", headers=legal).json
    assert everything["latest"] == district["version"]
    assert [c["version"] for c in everything["data"]][-1] == district["version"]
    assert "consent_granted" in [c["reason"] for c in everything["data"]]
    r = client.get("/api/v1/rules/changes?since=abc", headers=enforcer)
    assert (r.status_code, r.json["error"]["field"]) == (422, "since")


def test_signing_key_is_private_and_created_once_under_concurrency(app):
    import stat
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from consent.access import signing

    def kid(_):
        with app.app_context():
            return signing.public_jwk()["kid"]

    with ThreadPoolExecutor(8) as pool:
        kids = set(pool.map(kid, range(32)))
    folder = Path(app.instance_path)
    assert len(kids) == 1
    assert stat.S_IMODE((folder / signing.KEY_FILE).stat().st_mode) == 0o600
    assert not list(folder.glob(".signing-key-*"))
    with app.app_context():
        assert "d" not in signing.public_jwk()  # the published key has no private part


def test_exception_grants_cover_the_population_and_directory_honours_opt_outs(client, db,
                                                                             make):
    from datetime import timedelta

    from consent.models import Student
    from consent.timeutil import utcnow

    p = make_partnership(make)
    elsewhere = make.org("Jefferson Middle School", kind="school", slug="jefferson",
                         parent=p.district)
    make.student("Cy", "Other", school=elsewhere, sourced_id="S-2001")
    opted = db.session.get(Student, p.other_student.id)
    opted.directory_opt_out = True
    db.session.commit()
    started = utcnow() - timedelta(hours=1)
    official = make.agreement(p.district, [p.partner], basis="school_official", state="active",
                              categories=("attendance",), executed_at=started,
                              population={"schools": [p.school.id], "grades": []})
    directory = make.agreement(p.district, [p.partner], basis="directory_information",
                               state="active", categories=("demographics",),
                               executed_at=started)
    enforcer = bearer(make.client_token(p.partner))
    grants = {g["agreement"]: g for g in client.get(
        "/api/v1/rules/bundle", headers=enforcer).json["bundle"]["grants"]}
    assert set(grants) == {official.id, directory.id}
    assert grants[official.id]["students"] == ["S-1001", "S-1002"]  # its school only
    assert (grants[official.id]["basis"], grants[official.id]["exception"]) == (
        "school_official", True)
    assert grants[directory.id]["students"] == ["S-1001", "S-2001"]  # not the opted-out one
    assert grants[directory.id]["exception"] is False

    def ask(student, category):
        return client.post("/api/v1/decisions", headers=enforcer, json={
            "recipient": "promise", "student": student, "category": category,
            "purpose": "academic_support"}).json["data"]

    assert ask("S-1002", "attendance")["agreement"] == official.id
    assert ask("S-2001", "attendance")["decision"] == "deny"
    assert ask("S-1002", "demographics")["decision"] == "deny"
    assert (ask("S-2001", "demographics")["decision"], ask("S-2001", "demographics")[
        "basis"]) == ("permit", "directory_information")


def test_a_bundle_kept_on_a_304_always_has_half_its_life_ahead(client, make, monkeypatch):
    """Bundles are issued in steps of half their lifetime (1,800 s of 3,600): within a
    step every request gets the same document and ETag; the next step is a new one."""
    p = make_partnership(make)
    active_agreement(client, make, p)
    enforcer = bearer(make.client_token(p.partner))
    step_start = datetime(2026, 12, 4, 12, 30, tzinfo=UTC)  # a multiple of 1,800 s
    answers = {}
    for offset in (10, 1_700, 1_801):
        at = step_start + timedelta(seconds=offset)
        monkeypatch.setattr(rules_api, "utcnow", lambda at=at: at)
        answers[offset] = client.get("/api/v1/rules/bundle", headers=enforcer)
        bundle = answers[offset].json["bundle"]
        not_after = datetime.fromisoformat(bundle["not_after"])
        assert not_after - at >= timedelta(seconds=1_800), offset
        assert not_after - datetime.fromisoformat(bundle["issued_at"]) == timedelta(hours=1)
    assert answers[10].json["bundle"] == answers[1_700].json["bundle"]
    assert answers[10].headers["ETag"] == answers[1_700].headers["ETag"]
    assert answers[10].json["bundle"]["issued_at"] == "2026-12-04T12:30:00Z"
    assert answers[1_801].json["bundle"]["issued_at"] == "2026-12-04T13:00:00Z"
    assert answers[1_801].headers["ETag"] != answers[10].headers["ETag"]
    kept = answers[10].headers["ETag"]
    monkeypatch.setattr(rules_api, "utcnow", lambda: step_start + timedelta(seconds=1_799))
    assert client.get("/api/v1/rules/bundle", headers={
        **enforcer, "If-None-Match": kept}).status_code == 304
    monkeypatch.setattr(rules_api, "utcnow", lambda: step_start + timedelta(seconds=1_800))
    assert client.get("/api/v1/rules/bundle", headers={
        **enforcer, "If-None-Match": kept}).status_code == 200


def test_the_districts_own_client_token_reads_what_district_staff_read(client, make):
    p, aid = _partnership_with_a_grant(client, make)
    export_job = bearer(make.client_token(p.district))
    legal = bearer(make.user_token(p.legal))

    ours = client.get("/api/v1/rules/bundle", headers=export_job).json
    staff = client.get("/api/v1/rules/bundle", headers=legal).json
    _validator(client, "district").validate(ours["bundle"])
    _verify(client, ours)
    assert ours["bundle"]["bundles"] == staff["bundle"]["bundles"]
    promise = client.get("/api/v1/rules/bundle?recipient=promise", headers=export_job).json
    assert promise["bundle"]["grants"] == staff["bundle"]["bundles"][0]["grants"]
    assert [g["students"] for g in promise["bundle"]["grants"]] == [["S-1001"]]
    r = client.post("/api/v1/decisions", headers=export_job, json={
        "recipient": "promise", "student": "S-1001", "category": "attendance",
        "purpose": "academic_support"})
    assert (r.status_code, r.json["data"]["decision"]) == (200, "permit")
    assert client.get("/api/v1/rules/changes?since=0", headers=export_job).status_code == 200
    assert client.get("/api/v1/exports/cedar", headers=export_job).json == client.get(
        "/api/v1/exports/cedar", headers=legal).json
    # It releases nothing itself: only a recipient reports what it released.
    r = client.post("/api/v1/disclosures", headers=export_job, json={
        "idempotency_key": "job-1", "purpose": "academic_support",
        "released_at": "2026-12-04T10:00:00Z",
        "records": [{"student": "S-1001", "agreement": aid, "categories": ["attendance"]}]})
    assert r.status_code == 403
