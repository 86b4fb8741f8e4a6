"""The family portal in a real browser on a phone: sign in, grant, revoke, and the
page's layout and accessibility basics."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from consent.access.decisions import decide
from consent.models import Consent, Organization, Student
from consent.timeutil import utcnow
from tests.api.helpers import bearer, make_partnership
from tests.api.test_roles import active_agreement
from tests.browser.helpers import assert_no_horizontal_scroll, sign_in, unlabelled_controls


def _consents(db, student_id) -> list[tuple[str, str, str]]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Consent).where(Consent.student_id == student_id)
                              .order_by(Consent.category, Consent.purpose)).all()
    return [(c.category, c.purpose, c.state) for c in rows]


def _decision(db, student_id, category, purpose="academic_support") -> str:
    db.session.expire_all()
    recipient = db.session.scalar(sa.select(Organization).where(Organization.slug == "promise"))
    student = db.session.get(Student, student_id)
    return decide(recipient, student, student.sourced_id, category, purpose, utcnow()).decision


def _state_cell(page, category: str):
    """The state shown in the "Your answers" row for `category`."""
    row = page.locator("section[aria-labelledby=consents-heading] tbody tr").filter(
        has_text=category)
    expect(row).to_have_count(1)
    return row.locator(".state")


def _check_page_basics(page) -> None:
    assert_no_horizontal_scroll(page, 390)
    assert unlabelled_controls(page) == []
    assert page.evaluate("() => document.documentElement.lang") == "en"
    expect(page.locator("h1")).to_have_count(1)


def test_guardian_grants_and_revokes_on_a_phone(app, db, make, live_server, page):
    p = make_partnership(make)
    aid = active_agreement(app.test_client(), make, p)
    enforcer = bearer(make.client_token(p.partner))
    student_id = p.student.id

    sign_in(page, live_server, p.guardian_user.email)
    _check_page_basics(page)  # wherever sign-in lands (the home page)
    page.goto(f"{live_server}/family/")
    expect(page.locator("h1")).to_have_text("Your children")
    _check_page_basics(page)
    page.get_by_role("link", name="Ana O'Brien").click()
    expect(page).to_have_url(re.compile(rf"/family/students/{student_id}$"))
    expect(page.locator("h1")).to_have_text("Ana O'Brien")
    _check_page_basics(page)
    assert _consents(db, student_id) == []

    card = page.locator(f"article[data-agreement='{aid}'][data-recipient='promise']")
    card.get_by_label("Attendance").check()
    card.get_by_label("Quarterly Grades").check()
    card.get_by_label("Academic support").check()
    with page.expect_navigation():
        card.get_by_role("button", name="Yes, share what I ticked").click()

    expect(page.get_by_role("status").filter(has_text="Thank you")).to_contain_text(
        "You granted consent for Northside Promise Neighborhood (2 items)")
    expect(_state_cell(page, "Attendance")).to_have_text("Granted")
    expect(_state_cell(page, "Quarterly Grades")).to_have_text("Granted")
    _check_page_basics(page)
    assert _consents(db, student_id) == [
        ("attendance", "academic_support", "granted"),
        ("quarterly_grades", "academic_support", "granted")]
    assert _decision(db, student_id, "attendance") == "permit"
    assert _decision(db, student_id, "behavior") == "deny"  # not ticked

    with page.expect_navigation():
        page.get_by_role("button", name="Revoke sharing of Attendance with "
                                        "Northside Promise Neighborhood").click()

    expect(page.get_by_role("status").filter(has_text="has stopped")).to_have_text(
        "Sharing of Attendance with Northside Promise Neighborhood has stopped.")
    expect(_state_cell(page, "Attendance")).to_have_text("Revoked")
    expect(_state_cell(page, "Quarterly Grades")).to_have_text("Granted")
    # Only the consent still in force can be revoked.
    expect(page.get_by_role("button", name=re.compile("^Revoke sharing"))).to_have_count(1)
    _check_page_basics(page)
    assert _consents(db, student_id) == [
        ("attendance", "academic_support", "revoked"),
        ("quarterly_grades", "academic_support", "granted")]
    assert _decision(db, student_id, "attendance") == "deny"
    assert _decision(db, student_id, "quarterly_grades") == "permit"

    # The partner's enforcement API agrees.
    api = app.test_client()
    for category, expected in (("attendance", "deny"), ("quarterly_grades", "permit")):
        r = api.post("/api/v1/decisions", headers=enforcer, json={
            "recipient": "promise", "student": "S-1001", "category": category,
            "purpose": "academic_support"})
        assert r.status_code == 200, r.get_data(as_text=True)
        assert r.json["data"]["decision"] == expected, r.json
