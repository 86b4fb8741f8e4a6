"""Certificates of destruction: recorded by a recipient after the agreement ends, over
the API and the detail page; refused for everyone else, and nothing written then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from consent.models import AuditEntry, DestructionCertificate
from tests.api.helpers import bearer, make_partnership
from tests.factories import district_today

URL = "/api/v1/agreements/{}/destruction-certificates"


@pytest.fixture
def p(make):
    return make_partnership(make)


def _ended(make, p, state="expired", recipients=None):
    """An agreement with the partnership's partner as recipient, ended 40 days ago."""
    today = district_today()
    return make.agreement(p.district, recipients or [p.partner], state=state,
                          created_by=p.legal, start=today - timedelta(days=400),
                          end=today - timedelta(days=40),
                          executed_at=datetime(2025, 6, 1, tzinfo=UTC))


def _body(**overrides) -> dict:
    return {"destroyed_on": (district_today() - timedelta(days=3)).isoformat(),
            "method": "Secure erase (NIST 800-88 purge) of the database and backups",
            **overrides}


def _count(db, model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.parametrize("state", ["expired", "terminated", "superseded"])
def test_recipient_staff_certify_an_ended_agreement_over_the_api(client, db, make, p, state):
    agreement = _ended(make, p, state)
    staff = make.user("staff", org=p.partner, name="Sam Staff", email="sam@promise.example")
    audits = _count(db, AuditEntry)
    response = client.post(URL.format(agreement.id), json=_body(note="Paper copies shredded"),
                           headers=bearer(make.user_token(staff)))
    assert response.status_code == 201, response.json
    data = response.json["data"]
    assert data["recipient"] == "promise"
    assert data["certified_by"] == "Sam Staff <sam@promise.example>"
    assert data["destroyed_on"] == (district_today() - timedelta(days=3)).isoformat()
    assert data["note"] == "Paper copies shredded"
    row = db.session.get(DestructionCertificate, data["id"])
    assert (row.agreement_id, row.recipient_id, row.certified_by_id) == (
        agreement.id, p.partner.id, staff.id)
    assert row.ip_address == "127.0.0.1"
    assert _count(db, AuditEntry) == audits + 1
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.event, entry.subject_id, entry.data["certificate"]) == (
        "destruction_certified", agreement.id, row.id)
    # Both parties read the list; the partner's own signatory too.
    for reader in (p.legal, p.partner_signatory):
        listed = client.get(URL.format(agreement.id), headers=bearer(make.user_token(reader)))
        assert listed.status_code == 200
        assert [c["id"] for c in listed.json["data"]] == [row.id]


def test_the_recipients_enforcer_token_may_certify(client, db, make, p):
    agreement = _ended(make, p)
    token = make.client_token(p.partner)
    response = client.post(URL.format(agreement.id), json=_body(), headers=bearer(token))
    assert response.status_code == 201, response.json
    row = db.session.get(DestructionCertificate, response.json["data"]["id"])
    assert row.certified_by_id is None and row.certified_by_label.startswith("api-client:")
    # Another organization's client sees no such agreement.
    other = client.get(URL.format(agreement.id), headers=bearer(make.client_token(p.other_partner)))
    assert other.status_code == 404


def test_refusals_write_nothing(client, db, make, p):
    ended = _ended(make, p)
    active = make.agreement(p.district, [p.partner], state="active",
                            start=district_today() - timedelta(days=10),
                            executed_at=datetime(2025, 6, 1, tzinfo=UTC))
    hidden = _ended(make, p, recipients=[p.other_partner])
    staff = make.user("staff", org=p.partner)
    as_staff = bearer(make.user_token(staff))
    before = _count(db, DestructionCertificate), _count(db, AuditEntry)
    cases = [
        # (agreement, headers, body, status, code, field)
        (active, as_staff, _body(), 409, "conflict", None),
        (hidden, as_staff, _body(), 404, "not_found", None),
        # The district is a party but not a recipient.
        (ended, bearer(make.user_token(p.legal)), _body(), 403, "forbidden", None),
        (ended, bearer(make.user_token(p.guardian_user)), _body(), 403, "forbidden", None),
        (ended, as_staff, _body(destroyed_on=(district_today() + timedelta(days=1))
                                .isoformat()), 422, "invalid", "destroyed_on"),
        (ended, as_staff, _body(destroyed_on=(ended.start_date - timedelta(days=1))
                                .isoformat()), 422, "invalid", "destroyed_on"),
        (ended, as_staff, _body(destroyed_on="2026-02-30"), 422, "invalid", "destroyed_on"),
        (ended, as_staff, _body(method="   "), 422, "invalid", "method"),
        (ended, as_staff, {"destroyed_on": "2026-01-05"}, 422, "invalid", "method"),
        (ended, as_staff, _body(extra=1), 422, "invalid", None),
    ]
    for agreement, headers, body, status, code, field in cases:
        response = client.post(URL.format(agreement.id), json=body, headers=headers)
        assert response.status_code == status, (body, response.json)
        error = response.json["error"]
        assert error["code"] == code and error["message"], error
        if field:
            assert error["field"] == field, error
    assert (_count(db, DestructionCertificate), _count(db, AuditEntry)) == before


def test_a_second_certificate_for_the_same_recipient_is_a_conflict(client, db, make, p):
    agreement = _ended(make, p)
    first = client.post(URL.format(agreement.id), json=_body(),
                        headers=bearer(make.user_token(p.partner_signatory)))
    assert first.status_code == 201
    audits = _count(db, AuditEntry)
    again = client.post(URL.format(agreement.id), json=_body(method="again"),
                        headers=bearer(make.client_token(p.partner)))
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"
    assert _count(db, DestructionCertificate) == 1 and _count(db, AuditEntry) == audits


def test_certificates_are_append_only(db, make, p, client):
    agreement = _ended(make, p)
    response = client.post(URL.format(agreement.id), json=_body(),
                           headers=bearer(make.user_token(p.partner_signatory)))
    row = db.session.get(DestructionCertificate, response.json["data"]["id"])
    row.method = "changed"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()


def test_the_detail_page_form_records_a_certificate_and_lists_it(db, make, login, p):
    agreement = _ended(make, p)
    staff = make.user("staff", org=p.partner, name="Sam Staff")
    page = login(staff)
    shown = page.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'data-action="certify_destruction"' in shown
    # The district's people see the list but no form.
    district_page = login(p.legal).get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'data-action="certify_destruction"' not in district_page
    day = district_today() - timedelta(days=2)
    refused = page.post(f"/agreements/{agreement.id}/destruction-certificate", data={
        "destroyed_on": (district_today() + timedelta(days=5)).isoformat(),
        "method": "Shredded"})
    assert refused.status_code == 422
    assert "cannot be in the future" in refused.get_data(as_text=True)
    assert _count(db, DestructionCertificate) == 0
    missing = page.post(f"/agreements/{agreement.id}/destruction-certificate",
                        data={"destroyed_on": day.isoformat(), "method": ""})
    assert missing.status_code == 422
    assert "Say how the data was destroyed." in missing.get_data(as_text=True)
    done = page.post(f"/agreements/{agreement.id}/destruction-certificate",
                     data={"destroyed_on": day.isoformat(), "method": "Shredded <b>all</b>"})
    assert done.status_code == 302
    row = db.session.scalar(sa.select(DestructionCertificate))
    assert (row.recipient_id, row.certified_by_id, row.destroyed_on, row.method) == (
        p.partner.id, staff.id, day, "Shredded <b>all</b>")
    after = page.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'data-certificate="promise"' in after and "Shredded &lt;b&gt;all&lt;/b&gt;" in after
    assert 'data-action="certify_destruction"' not in after  # certified once


def test_the_web_form_refuses_other_organizations_and_open_agreements(db, make, login, p):
    ended = _ended(make, p)
    open_one = make.agreement(p.district, [p.partner], state="active",
                              start=district_today() - timedelta(days=10),
                              executed_at=datetime(2025, 6, 1, tzinfo=UTC))
    data = {"destroyed_on": district_today().isoformat(), "method": "Shredded"}
    outsider = login(make.user("staff", org=p.other_partner))
    assert outsider.post(f"/agreements/{ended.id}/destruction-certificate",
                         data=data).status_code == 404
    district = login(make.user("staff", org=p.district))
    assert district.post(f"/agreements/{ended.id}/destruction-certificate",
                         data=data).status_code == 403
    family = login(p.guardian_user)
    assert family.post(f"/agreements/{ended.id}/destruction-certificate",
                       data=data).status_code == 403
    partner = login(make.user("staff", org=p.partner))
    assert 'data-action="certify_destruction"' not in partner.get(
        f"/agreements/{open_one.id}").get_data(as_text=True)
    assert partner.post(f"/agreements/{open_one.id}/destruction-certificate",
                        data=data).status_code == 409
    assert _count(db, DestructionCertificate) == 0
