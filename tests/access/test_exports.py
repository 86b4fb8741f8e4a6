"""The export endpoints: who may fetch what, conditional GET, and formats engines load."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import date, timedelta

import cedarpy
import pytest
import regorus
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent

from consent.access.exports import epoch_us, parse_instant
from consent.timeutil import utcnow
from tests.api.helpers import bearer, make_partnership
from tests.api.test_roles import active_agreement

EXPORTS = ("/api/v1/exports/opa", "/api/v1/exports/cedar", "/api/v1/exports/fhir")


@pytest.fixture
def partnership(client, make):
    """Promise holds a consent for S-1001 (attendance, grades); After-School an
    exception-based agreement for attendance."""
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    r = client.post(f"/api/v1/students/{p.student.id}/consents",
                    headers=bearer(make.user_token(p.guardian_user)), json={
                        "agreement": aid, "recipient": "promise",
                        "purposes": ["academic_support"],
                        "categories": ["attendance", "quarterly_grades"]})
    assert r.status_code == 201, r.json
    p.consents = [c["id"] for c in r.json["data"]]
    make.agreement(p.district, [p.other_partner], basis="school_official", state="active",
                   categories=("attendance",), start=date.today() - timedelta(days=1),
                   executed_at=utcnow() - timedelta(hours=1))
    return p


def _untar(body: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _ask_rego(files, **request):
    engine = regorus.Engine()
    engine.add_policy("policy.rego", files["policy.rego"].decode())
    engine.add_data_json(files["data.json"].decode())
    engine.set_input_json(json.dumps({"time_ns": epoch_us(utcnow()) * 1000, **request}))
    return engine.eval_rule("data.accordant.authz.decision")


def test_opa_export_is_a_bundle_opa_loads(client, make, partnership):
    p = partnership
    enforcer = bearer(make.client_token(p.partner))
    r = client.get("/api/v1/exports/opa", headers=enforcer)
    assert r.status_code == 200
    assert r.mimetype == "application/gzip"
    files = _untar(r.data)
    assert sorted(files) == [".manifest", "data.json", "policy.rego"]
    manifest = json.loads(files[".manifest"])
    assert manifest["roots"] == ["accordant"]
    assert r.headers["ETag"] == f'"{manifest["revision"]}"'
    data = json.loads(files["data.json"])
    assert list(data["accordant"]["recipients"]) == ["promise"]  # the client's own only
    bundle = client.get("/api/v1/rules/bundle", headers=enforcer).json["bundle"]
    recipient = data["accordant"]["recipients"]["promise"]
    assert recipient["version"] == bundle["version"]
    assert [{k: v for k, v in g.items() if not k.endswith("_ns")}
            for g in recipient["grants"]] == bundle["grants"]
    assert all(isinstance(g["valid_from_ns"], int) for g in recipient["grants"])

    asked = {"recipient": "promise", "student": "S-1001", "purpose": "academic_support"}
    permit = _ask_rego(files, category="attendance", **asked)
    assert permit == {"allow": True, "agreement": bundle["grants"][0]["agreement"],
                      "basis": "consent", "exception": False,
                      "consents": sorted(p.consents), "version": bundle["version"]}
    assert _ask_rego(files, category="behavior", **asked) == {"allow": False}  # no consent
    assert _ask_rego(files, category="attendance", **{**asked, "student": "S-1002"}) == {
        "allow": False}


def test_exports_answer_not_modified_until_the_rules_change(client, make, partnership):
    p = partnership
    enforcer = bearer(make.client_token(p.partner))
    etags = {}
    for url in EXPORTS:
        first = client.get(url, headers=enforcer)
        etags[url] = first.headers["ETag"]
        again = client.get(url, headers={**enforcer, "If-None-Match": etags[url]})
        assert (again.status_code, again.data) == (304, b""), url
        assert again.headers["ETag"] == etags[url]
        assert client.get(url, headers={**enforcer, "If-None-Match": '"other"'}).status_code \
            == 200

    family = bearer(make.user_token(p.guardian_user))
    r = client.post(f"/api/v1/consents/{p.consents[0]}/revoke", json={}, headers=family)
    assert r.status_code == 200, r.json
    for url in EXPORTS:
        r = client.get(url, headers={**enforcer, "If-None-Match": etags[url]})
        assert r.status_code == 200, url
        assert r.headers["ETag"] != etags[url]


def test_exports_are_scoped_to_the_callers_organization(client, make, partnership):
    p = partnership
    enforcer = bearer(make.client_token(p.partner))
    partner_staff = bearer(make.user_token(make.user("staff", org=p.partner)))
    legal = bearer(make.user_token(p.legal))
    for url in EXPORTS:
        # Nobody outside the district reads another organization's rules.
        for who in (enforcer, partner_staff):
            r = client.get(f"{url}?recipient=afterschool", headers=who)
            assert r.status_code == 403, url
            assert r.json["error"]["code"] == "forbidden"
        assert client.get(url, headers=bearer(make.user_token(p.guardian_user))).status_code \
            == 403
        assert client.get(url).status_code == 401
        r = client.get(f"{url}?recipient=nobody", headers=legal)
        assert (r.status_code, r.json["error"]["field"]) == (422, "recipient")

    def recipients(headers, query=""):
        cedar = client.get(f"/api/v1/exports/cedar{query}", headers=headers).json
        return sorted(e["uid"]["id"] for e in cedar["entities"]
                      if e["uid"]["type"] == "Accordant::Recipient")

    assert recipients(enforcer) == recipients(partner_staff) == ["promise"]
    assert recipients(enforcer, "?recipient=promise") == ["promise"]
    # District staff get every recipient of an executed agreement, or the one named.
    assert recipients(legal) == ["afterschool", "promise"]
    assert recipients(legal, "?recipient=afterschool") == ["afterschool"]


def test_cedar_export_validates_against_its_schema_and_decides(client, make, partnership):
    p = partnership
    document = client.get("/api/v1/exports/cedar", headers=bearer(make.user_token(p.legal))).json
    assert cedarpy.validate_policies(document["policies"], document["schema"]).validation_passed

    def ask(principal, record, purpose="academic_support"):
        return cedarpy.is_authorized({
            "principal": f'Accordant::Recipient::"{principal}"',
            "action": 'Accordant::Action::"disclose"',
            "resource": f'Accordant::Record::"{record}"',
            "context": {"purpose": purpose, "time_us": epoch_us(utcnow())}},
            document["policies"], document["entities"], document["schema"])

    assert ask("promise", "S-1001/attendance").allowed
    assert ask("promise", "S-1001/quarterly_grades").allowed
    assert not ask("promise", "S-1001/behavior").allowed
    assert not ask("promise", "S-1001/attendance", purpose="marketing").allowed
    assert not ask("promise", "S-1002/attendance").allowed
    # After-School's agreement is a school-official exception: every student.
    assert ask("afterschool", "S-1002/attendance").allowed
    assert not ask("afterschool", "S-1002/quarterly_grades").allowed


def test_fhir_export_is_an_r4_bundle_of_consents(client, make, partnership):
    p = partnership
    legal = bearer(make.user_token(p.legal))
    r = client.get("/api/v1/exports/fhir", headers=legal)
    assert r.status_code == 200
    assert r.mimetype == "application/fhir+json"
    document = r.json
    Bundle.model_validate(document)
    assert document["type"] == "collection"
    # Only the consent-based grant: After-School's exception rests on no consent.
    [entry] = document["entry"]
    consent = Consent.model_validate(entry["resource"]).model_dump(mode="json", by_alias=True,
                                                                   exclude_none=True)
    grant = client.get("/api/v1/rules/bundle?recipient=promise",
                       headers=legal).json["bundle"]["grants"][0]
    assert consent["status"] == "active"
    assert consent["scope"]["coding"][0]["code"] == "patient-privacy"
    assert consent["category"][0]["coding"][0] == {
        "system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}
    assert consent["patient"]["identifier"]["value"] == "S-1001"
    assert consent["performer"] == [{"type": "RelatedPerson", "identifier": {
        "system": "urn:accordant:id:guardian", "value": p.guardian.sourced_id}}]
    assert consent["organization"][0]["reference"] == "Organization/riverside"
    assert consent["policyRule"]["coding"][0]["code"] == "99.30"
    assert sorted(int(i["value"]) for i in consent["identifier"]) == sorted(p.consents)
    provision = entry["resource"]["provision"]
    assert provision["type"] == "permit"
    assert provision["period"]["start"] == grant["valid_from"]
    # FHIR periods include their end: one microsecond before the exclusive valid_until.
    assert parse_instant(provision["period"]["end"]) == parse_instant(
        grant["valid_until"]) - timedelta(microseconds=1)
    [actor] = provision["actor"]
    assert actor["role"]["coding"][0]["code"] == "IRCP"
    assert actor["reference"]["reference"] == "Organization/promise"
    assert [c["code"] for c in provision["purpose"]] == ["academic_support"]
    assert sorted(c["coding"][0]["code"] for c in provision["code"]) == [
        "attendance", "quarterly_grades"]
