"""Staff record a paper consent with its scan: limits on the file, the signer's authority,
the ledger, and scans served to the recording organization only."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from consent.access.decisions import decide as decide_access
from consent.models import Consent, ConsentEvent, PaperConsentScan
from consent.timeutil import utcnow
from tests.api.helpers import make_partnership
from tests.consents.test_consent_semantics import _birthday_in, _open_agreement
from tests.factories import district_today
from tests.web.helpers import grant_on_page

PDF = b"%PDF-1.4\n% a scanned form\n" + b"0" * 1000


def _post(client, agreement, scan=PDF, filename="form.pdf", **fields):
    data = {"student": "S-1001", "signer": "MARIA@family.example",
            "signed_on": district_today().isoformat(), "agreement": agreement.id,
            "recipient": "promise", "purposes": "academic_support",
            "categories": "attendance, behavior", "decision": "grant",
            "scan": (io.BytesIO(scan), filename)}
    data.update(fields)
    return client.post("/staff/paper", data=data, content_type="multipart/form-data")


def _count(db, model):
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_partner_staff_record_a_paper_consent_with_its_scan(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    staff_user = make.user("staff", org=p.partner)
    staff = login(staff_user)
    r = _post(staff, agreement)
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.expire_all()
    consents = db.session.scalars(sa.select(Consent).order_by(Consent.id)).all()
    assert [(c.category, c.state, c.given_as) for c in consents] == [
        ("attendance", "granted", "guardian"), ("behavior", "granted", "guardian")]
    scan = db.session.scalars(sa.select(PaperConsentScan)).one()
    assert scan.consent_ids == [c.id for c in consents] and scan.signed_by == "Maria O'Brien"
    assert scan.organization_id == p.partner.id and scan.content_type == "application/pdf"
    event = db.session.scalars(sa.select(ConsentEvent)).first()
    assert (event.channel, event.acted_as, event.actor_user_id) == ("paper", "staff",
                                                                    staff_user.id)
    assert f"scan #{scan.id}" in event.reason and "Maria O'Brien" in event.reason
    assert decide_access(p.partner, p.student, "S-1001", "behavior", "academic_support",
                         utcnow()).decision == "permit"

    download = staff.get(f"/staff/paper/scans/{scan.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in download.headers["Content-Disposition"]
    # Never served to another organization, nor to the district or an administrator.
    for other in (make.user("staff", org=p.other_partner), make.user("staff", org=p.district),
                  make.user("admin")):
        assert login(other).get(f"/staff/paper/scans/{scan.id}").status_code == 404
    assert login(p.guardian_user).get(f"/staff/paper/scans/{scan.id}").status_code == 403


@pytest.mark.parametrize("scan, filename, message", [
    (b"MZ\x90\x00 an executable", "form.pdf", "must be a PDF, PNG or JPEG"),
    (b"<html><script>alert(1)</script>", "form.png", "must be a PDF, PNG or JPEG"),
    (b"%PDF-" + b"0" * 4096, "big.pdf", "larger than 4 KiB"),
])
def test_a_bad_scan_is_refused_and_nothing_is_written(app, db, make, login, scan, filename,
                                                      message):
    # A small limit keeps the upload in memory (the default is 5 MiB).
    app.config["PAPER_SCAN_MAX_BYTES"] = 4096
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    r = _post(login(make.user("staff", org=p.partner)), agreement, scan=scan, filename=filename)
    assert r.status_code == 422
    assert message in r.get_data(as_text=True)
    assert _count(db, Consent) == 0 and _count(db, PaperConsentScan) == 0


@pytest.mark.parametrize("change, field, message", [
    ({"categories": "contact"}, "categories", "not covered by the agreement"),
    ({"signer": "someone@else.example"}, "signer", "no guardian of this student"),
    ({"student": "S-404"}, "student", "no student has that id"),
])
def test_a_form_outside_the_rules_is_refused(db, make, login, change, field, message):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    r = _post(login(make.user("staff", org=p.partner)), agreement, **change)
    assert r.status_code in (403, 422)
    page = r.get_data(as_text=True)
    assert message in page and f'id="{field}-error"' in page
    assert _count(db, Consent) == 0 and _count(db, PaperConsentScan) == 0


def test_the_signers_authority_on_the_day_counts(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    no_rights = make.user("guardian", email="ray@family.example")
    make.link(p.student, make.guardian(no_rights, given="Ray", family="O'Brien"), rights=False)
    staff = login(make.user("staff", org=p.partner))
    r = _post(staff, agreement, signer="ray@family.example")
    assert r.status_code == 403 and "educational rights" in r.get_data(as_text=True)
    p.student.birth_date = _birthday_in(0)  # 18 today: a guardian's form of today is too late
    db.session.commit()
    r = _post(staff, agreement)
    assert r.status_code == 403 and "was 18 on that day" in r.get_data(as_text=True)
    r = _post(staff, agreement, signer="")  # the student signed for themself
    assert r.status_code == 302
    assert {c.given_as for c in db.session.scalars(sa.select(Consent))} == {"student"}


def test_staff_of_an_organization_outside_the_agreement_cannot_record(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    r = _post(login(make.user("staff", org=p.other_partner)), agreement)
    assert r.status_code == 403
    assert _count(db, Consent) == 0 and _count(db, PaperConsentScan) == 0


def _ledger_size(db):
    return _count(db, ConsentEvent), _count(db, PaperConsentScan)


def test_an_older_paper_form_cannot_undo_a_newer_online_revocation(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    grant_on_page(family, p.student.id, agreement.id)
    (consent,) = db.session.scalars(sa.select(Consent)).all()
    r = family.post(f"/family/consents/{consent.id}/revoke", data={"version": consent.version_id})
    assert r.status_code == 302
    before = _ledger_size(db)
    assert before == (2, 0)
    staff = login(make.user("staff", org=p.partner))
    yesterday = (district_today() - timedelta(days=1)).isoformat()
    for signed_on in (yesterday, district_today().isoformat()):  # earlier, and the same day
        r = _post(staff, agreement, signed_on=signed_on, categories="attendance")
        assert r.status_code == 409
        page = r.get_data(as_text=True)
        assert 'id="signed_on-error"' in page and "already recorded" in page
        assert _ledger_size(db) == before
    assert decide_access(p.partner, p.student, "S-1001", "attendance", "academic_support",
                         utcnow()).decision != "permit"
    # Another kind of information has no newer decision: that form is recorded.
    assert _post(staff, agreement, signed_on=yesterday, categories="behavior").status_code == 302


@pytest.mark.parametrize("days, message", [
    (1, "cannot be signed in the future"),
    (-2, "before the agreement starts"),
    (-20, "before the student was born"),
    (None, "dates must fall between 1900 and 2999"),
])
def test_the_signing_date_must_be_possible(db, make, login, days, message):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    today = district_today()
    if days == -20:
        agreement.start_date = today - timedelta(days=30)
        p.student.birth_date = today - timedelta(days=10)
        db.session.commit()
    signed_on = "1800-01-01" if days is None else (today + timedelta(days=days)).isoformat()
    r = _post(login(make.user("staff", org=p.partner)), agreement, signed_on=signed_on)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert message in page and 'id="signed_on-error"' in page
    assert _count(db, Consent) == 0 and _count(db, PaperConsentScan) == 0


def test_an_agreement_number_too_large_for_the_database_is_a_form_message(db, make, login):
    p = make_partnership(make)
    _open_agreement(db, make, p)
    staff = login(make.user("staff", org=p.partner))
    r = _post(staff, SimpleNamespace(id="99999999999999999999999"))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'id="agreement-error"' in page and "No agreement has that number." in page
    assert _count(db, Consent) == 0 and _count(db, PaperConsentScan) == 0


def test_the_same_form_posted_twice_is_recorded_once(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    staff = login(make.user("staff", org=p.partner))
    first = _post(staff, agreement)
    assert first.status_code == 302
    after_first = _ledger_size(db)
    assert after_first == (2, 1)
    second = _post(staff, agreement)
    assert second.status_code == 302
    assert _ledger_size(db) == after_first and _count(db, Consent) == 2
    (scan,) = db.session.scalars(sa.select(PaperConsentScan)).all()
    assert f"scan #{scan.id} is stored" in staff.get("/staff/paper").get_data(as_text=True)


def test_the_same_form_sent_again_with_another_signer_is_refused_not_reported_recorded(
        db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    other = make.user("guardian", email="ray@family.example")
    make.link(p.student, make.guardian(other, given="Ray", family="O'Brien"))
    staff = login(make.user("staff", org=p.partner))
    assert _post(staff, agreement).status_code == 302
    recorded = _ledger_size(db)
    again = _post(staff, agreement, signer="ray@family.example")
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert 'id="signer-error"' in page and "as signed by Maria O&#39;Brien" in page
    assert _ledger_size(db) == recorded
    (scan,) = db.session.scalars(sa.select(PaperConsentScan)).all()
    assert scan.signed_by == "Maria O'Brien"
