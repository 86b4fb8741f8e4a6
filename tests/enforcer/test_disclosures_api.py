"""POST /api/v1/disclosures accepts only permitted releases, once per key; the district
reads the 99.32 record and families read their own child's disclosures."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from consent.models import AuditEntry, Disclosure, DisclosureReport
from consent.timeutil import iso
from tests.api.helpers import bearer
from tests.enforcer.helpers import PURPOSE, now_utc
from tests.factories import district_today


def _record(scenario, student="S-1001", categories=("attendance",),
            fields=("date", "status"), **extra) -> dict:
    return {"student": student, "categories": list(categories), "fields": list(fields),
            "agreement": scenario.agreement, "basis": "consent", **extra}


def _report(records, key="report-1", released_at=None, version=1) -> dict:
    return {"idempotency_key": key, "bundle_version": version,
            "released_at": released_at or iso(now_utc()), "purpose": PURPOSE,
            "records": records}


def _snapshot(db):
    db.session.expire_all()
    return tuple(db.session.scalar(sa.select(sa.func.count(model.id)))
                 for model in (DisclosureReport, Disclosure, AuditEntry))


def test_a_record_that_was_not_permitted_is_refused_naming_it(client, db, scenario):
    before = _snapshot(db)
    ben = _record(scenario, student="S-1002")  # Ben's family never consented
    r = client.post("/api/v1/disclosures", headers=scenario.enforcer,
                    json=_report([_record(scenario), ben]))
    assert r.status_code == 422, r.json
    assert r.json["error"]["field"] == "records[1]"
    assert r.json["error"]["details"]["category"] == "attendance"
    # Ana's behavior consent was revoked: releasing it is refused too.
    r = client.post("/api/v1/disclosures", headers=scenario.enforcer, json=_report([
        _record(scenario, categories=["attendance", "behavior"],
                fields=["date", "incident_type"])]))
    assert (r.status_code, r.json["error"]["field"]) == (422, "records[0]")
    # So is a release from before the consent was given.
    r = client.post("/api/v1/disclosures", headers=scenario.enforcer, json=_report(
        [_record(scenario)], released_at=iso(now_utc() - timedelta(days=2))))
    assert (r.status_code, r.json["error"]["field"]) == (422, "records[0]")
    assert _snapshot(db) == before


def test_an_unknown_student_is_answered_like_one_without_a_grant(client, db, scenario):
    """A partner cannot probe which student ids exist in the district."""
    before = _snapshot(db)
    answers, at = [], iso(now_utc())
    for student in ("S-1002", "S-NOBODY"):  # a real student without consent; no such student
        r = client.post("/api/v1/disclosures", headers=scenario.enforcer, json=_report(
            [_record(scenario, student=student)], key=student, released_at=at))
        assert r.status_code == 422
        answers.append(r.json["error"])
    assert answers[0] == answers[1]
    assert answers[1]["field"] == "records[0]" and "S-NOBODY" not in str(answers[1])
    assert _snapshot(db) == before


def test_a_retried_report_is_stored_once(client, db, scenario):
    body = _report([_record(scenario, rows=3), _record(scenario, student="S-1003")])
    first = client.post("/api/v1/disclosures", headers=scenario.enforcer, json=body)
    assert first.status_code == 201, first.json
    after_first = _snapshot(db)
    again = client.post("/api/v1/disclosures", headers=scenario.enforcer, json=body)
    assert again.status_code == 200
    assert again.json == first.json
    assert _snapshot(db) == after_first
    assert [(d["student"], d["rows"]) for d in first.json["data"]["records"]] == [
        ("S-1001", 3), ("S-1003", None)]
    # The same key for another report is a mistake worth hearing about.
    other = {**body, "records": body["records"][:1]}
    r = client.post("/api/v1/disclosures", headers=scenario.enforcer, json=other)
    assert (r.status_code, r.json["error"]["field"]) == (409, "idempotency_key")
    assert _snapshot(db) == after_first


BAD_REPORTS = [
    (lambda b: b.pop("records"), "records"),
    (lambda b: b.update(extra=1), "extra"),
    (lambda b: b["records"][0].pop("categories"), "records[0].categories"),
    (lambda b: b["records"][0].update(fields=["date", "phone"]), "records[0].fields"),
    (lambda b: b["records"][0].update(agreement=b["records"][0]["agreement"] + 100),
     "records[0].agreement"),
    (lambda b: b["records"][0].update(basis="school_official"), "records[0].basis"),
    (lambda b: b["records"][0].update(student="S-0000"), "records[0]"),  # as not permitted
    (lambda b: b["records"][0].update(consent=999999), "records[0].consent"),
    (lambda b: b["records"][0].update(rows=-1), "records[0].rows"),
    (lambda b: b["records"].append(dict(b["records"][0])), "records[1].student"),
    (lambda b: b.update(released_at="2026-01-01T10:00:00"), "released_at"),
    (lambda b: b.update(released_at=iso(now_utc() + timedelta(hours=1))), "released_at"),
    (lambda b: b.update(bundle_version=10**6), "bundle_version"),
    (lambda b: b.update(idempotency_key="has spaces"), "idempotency_key"),
    # Numbers beyond what the columns hold are refused, not a server error.
    (lambda b: b["records"][0].update(rows=10**20), "records[0].rows"),
    (lambda b: b["records"][0].update(consent=[10**20]), "records[0].consent[0]"),
    (lambda b: b["records"][0].update(agreement=10**20), "records[0].agreement"),
]


def test_bad_reports_name_the_field_and_store_nothing(client, db, scenario):
    # One scenario for every case: building it runs an agreement through signing.
    before = _snapshot(db)
    for change, field in BAD_REPORTS:
        body = _report([_record(scenario)])
        change(body)
        r = client.post("/api/v1/disclosures", headers=scenario.enforcer, json=body)
        assert (r.status_code, r.json["error"]["field"]) == (422, field), r.json
    assert _snapshot(db) == before


def test_only_the_recipient_reports_its_disclosures(client, db, make, scenario):
    p = scenario.p
    body = _report([_record(scenario)])
    for who, status in ((make.user("staff", org=p.district), 403),
                        (p.legal, 403), (p.guardian_user, 403),
                        (make.user("signatory", org=p.partner), 403)):
        r = client.post("/api/v1/disclosures", headers=bearer(make.user_token(who)), json=body)
        assert r.status_code == status, (who.email, r.json)
    assert client.post("/api/v1/disclosures", json=body).status_code == 401
    # Another partner's enforcer reports as itself: nothing permits that release.
    r = client.post("/api/v1/disclosures", json={**body, "bundle_version": 0},
                    headers=bearer(make.client_token(p.other_partner)))
    assert (r.status_code, r.json["error"]["field"]) == (422, "records[0]")
    assert _snapshot(db)[:2] == (0, 0)
    # Program staff of the recipient may report by hand.
    staff = bearer(make.user_token(make.user("staff", org=p.partner)))
    r = client.post("/api/v1/disclosures", headers=staff, json=body)
    assert r.status_code == 201, r.json
    assert r.json["data"]["recipient"] == "promise"


def test_district_reads_the_record_and_families_see_exceptions_in_plain_words(
        client, db, make, login, scenario):
    p = scenario.p
    make.agreement(p.district, [p.partner], basis="school_official", state="active",
                   categories=("demographics",), purposes=(PURPOSE,),
                   start=district_today() - timedelta(days=1),
                   executed_at=now_utc() - timedelta(hours=1))
    ben_parent = make.user("guardian", email="binh@family.example")
    make.link(p.other_student, make.guardian(ben_parent, given="Binh", family="Nguyễn"))
    exception_agreement = client.post("/api/v1/decisions", headers=scenario.enforcer, json={
        "recipient": "promise", "student": "S-1002", "category": "demographics",
        "purpose": PURPOSE}).json["data"]
    assert exception_agreement["decision"] == "permit", exception_agreement
    body = _report([
        _record(scenario),
        {"student": "S-1002", "categories": ["demographics"], "fields": ["birth_date"],
         "agreement": exception_agreement["agreement"], "basis": "school_official"}])
    r = client.post("/api/v1/disclosures", headers=scenario.enforcer, json=body)
    assert r.status_code == 201, r.json
    assert [d["exception"] for d in r.json["data"]["records"]] == [False, True]

    legal = bearer(make.user_token(p.legal))
    everything = client.get("/api/v1/disclosures", headers=legal).json
    assert [d["student"] for d in everything["data"]] == ["S-1001", "S-1002"]
    assert everything["next_after"] is None
    only_exceptions = client.get("/api/v1/disclosures?exception=true", headers=legal).json
    assert [(d["student"], d["basis"]) for d in only_exceptions["data"]] == [
        ("S-1002", "school_official")]
    assert [d["student"] for d in client.get("/api/v1/disclosures?student=S-1001",
                                             headers=legal).json["data"]] == ["S-1001"]
    tomorrow = (district_today() + timedelta(days=2)).isoformat()
    assert client.get(f"/api/v1/disclosures?since={tomorrow}", headers=legal).json[
        "data"] == []
    page = client.get("/api/v1/disclosures?limit=1", headers=legal).json
    assert len(page["data"]) == 1
    rest = client.get(f"/api/v1/disclosures?after={page['next_after']}", headers=legal).json
    assert [d["student"] for d in rest["data"]] == ["S-1002"]
    for query, field in (("since=soon", "since"), ("exception=maybe", "exception"),
                         ("student=S-0000", "student"), ("limit=0", "limit")):
        r = client.get(f"/api/v1/disclosures?{query}", headers=legal)
        assert (r.status_code, r.json["error"]["field"]) == (422, field)

    # Only district staff read the record.
    for token in (make.user_token(make.user("staff", org=p.partner)),
                  make.user_token(p.guardian_user), scenario.token):
        assert client.get("/api/v1/disclosures", headers=bearer(token)).status_code == 403

    html = login(ben_parent).get(f"/family/students/{p.other_student.id}").get_data(
        as_text=True)
    section = html.split('id="received-heading"')[1].split('id="history-heading"')[0]
    assert "Without consent, under a legal exception (school official exception)" in section
    assert "Demographics" in section
    assert "Attendance" not in section  # Ana's disclosure is not Ben's


def test_disclosures_are_append_only(client, db, scenario):
    r = client.post("/api/v1/disclosures", headers=scenario.enforcer,
                    json=_report([_record(scenario)]))
    assert r.status_code == 201
    row = db.session.scalar(sa.select(Disclosure))
    row.purpose = "something_else"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.delete(db.session.scalar(sa.select(DisclosureReport)))
        db.session.commit()
    db.session.rollback()


def test_a_record_of_no_rows_is_not_a_disclosure(client, db, scenario):
    before = _snapshot(db)
    r = client.post("/api/v1/disclosures", headers=scenario.enforcer,
                    json=_report([_record(scenario, rows=0)]))
    assert (r.status_code, r.json["error"]["field"]) == (422, "records[0].rows")
    assert _snapshot(db) == before


def test_a_release_time_ahead_of_the_districts_clock_is_kept_as_the_time_of_the_report(
        client, db, make, scenario):
    """A sender's clock running fast (within the allowed skew) must not log a release at
    an instant after a revocation that comes in the minutes after the report."""
    ahead = now_utc() + timedelta(minutes=4)
    r = client.post("/api/v1/disclosures", headers=scenario.enforcer, json=_report(
        [_record(scenario, student="S-1003")], released_at=iso(ahead)))
    assert r.status_code == 201, r.json
    stored = r.json["data"]
    assert stored["released_at"] == stored["reported_at"]
    assert iso(now_utc()) >= stored["released_at"]
    cy_attendance = scenario.consents[("S-1003", "attendance")]
    r = client.post(f"/api/v1/consents/{cy_attendance}/revoke", json={},
                    headers=bearer(make.user_token(scenario.cy_guardian_user)))
    assert r.status_code == 200, r.json
    # What the family is shown was permitted at the instant logged, as decisions say.
    r = client.post("/api/v1/decisions", headers=scenario.enforcer, json={
        "recipient": "promise", "student": "S-1003", "category": "attendance",
        "purpose": PURPOSE, "at": stored["released_at"]})
    assert (r.json["data"]["decision"], r.json["data"]["consent"]) == ("permit", cy_attendance)


@pytest.mark.parametrize("since", ["1899-12-31", "3000-01-01"])
def test_the_disclosure_record_refuses_a_since_date_outside_the_supported_years(
        client, make, scenario, since):
    staff = bearer(make.user_token(make.user("staff", org=scenario.p.district)))
    r = client.get("/api/v1/disclosures", query_string={"since": since}, headers=staff)
    assert (r.status_code, r.json["error"]["field"]) == (422, "since")
