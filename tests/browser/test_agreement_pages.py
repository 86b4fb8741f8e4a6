"""Staff agreement pages in a real browser on a desktop, and sign-in with CSRF on."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from consent.models import Agreement
from consent.timeutil import local_date, utcnow
from tests.api.helpers import make_partnership
from tests.browser.helpers import sign_in, unlabelled_controls
from tests.conftest import PASSWORD

TITLE = "Promise Neighborhood after-school MOU"


def test_legal_staff_drafts_an_agreement(db, make, live_server, desktop_page, tmp_path):
    page = desktop_page
    p = make_partnership(make)
    start = local_date(utcnow()) + timedelta(days=7)
    end = start + timedelta(days=300)

    sign_in(page, live_server, p.legal.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New agreement").click()
    expect(page.locator("h1")).to_have_text("New agreement")
    assert unlabelled_controls(page) == []

    page.get_by_label("Title", exact=True).fill(TITLE)
    page.get_by_label("Legal basis").select_option(label="Consent of the family")
    page.get_by_label("Recipient organizations").select_option(
        label="Northside Promise Neighborhood")
    page.get_by_label("Purposes").fill("academic_support, program_evaluation")
    for category in ("Attendance", "Quarterly Grades"):
        page.get_by_label(category, exact=True).check()
    page.get_by_label("Schools (none selected: every school)").select_option(
        label="Riverside High School")
    page.get_by_label("Start date").fill(start.isoformat())
    page.get_by_label("End date").fill(end.isoformat())
    with page.expect_navigation():
        page.get_by_role("button", name="Save draft").click()

    expect(page).to_have_url(re.compile(r"/agreements/\d+$"))
    aid = int(page.url.rsplit("/", 1)[-1])
    expect(page.locator("h1")).to_have_text(TITLE)
    expect(page.get_by_role("status").filter(has_text="saved")).to_have_text(
        "The draft was saved.")
    actions = page.locator("section[aria-labelledby=actions-heading]")
    assert sorted(actions.locator("[data-action]").evaluate_all(
        "els => els.map(e => e.dataset.action)")) == ["comment", "submit", "withdraw"]
    expect(actions.get_by_role("button")).to_have_text(
        ["Submit for review", "Withdraw", "Add comment"])
    assert unlabelled_controls(page) == []

    db.session.expire_all()
    a = db.session.get(Agreement, aid)
    assert (a.title, a.state, a.revision, a.legal_basis) == (TITLE, "draft", 1, "consent")
    assert a.recipient_ids == {p.partner.id}
    assert a.purposes == ["academic_support", "program_evaluation"]
    assert sorted(a.categories) == ["attendance", "quarterly_grades"]
    assert a.population == {"schools": [p.school.id], "grades": []}
    assert (a.start_date, a.end_date) == (start, end)
    assert a.created_by_id == p.legal.id
    assert db.session.scalar(sa.select(sa.func.count(Agreement.id))) == 1

    shot = tmp_path / "agreement-detail.png"
    page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sign_in_works_with_csrf_enabled(app_config, request, page):
    app_config["WTF_CSRF_ENABLED"] = True  # before the app is built
    make = request.getfixturevalue("make")
    live_server = request.getfixturevalue("live_server")
    assert request.getfixturevalue("app").config["WTF_CSRF_ENABLED"] is True
    user = make.user("legal", email="legal@riverside.example", name="Lee Legal")

    page.goto(f"{live_server}/auth/login")
    token = page.locator("form.card input[name=csrf_token]")  # the sign-in form's own
    expect(token).to_have_count(1)
    assert len(token.get_attribute("value")) > 20

    # Without the token the same form is refused: CSRF really is on.
    refused = page.request.post(f"{live_server}/auth/login", max_redirects=0, form={
        "email": user.email, "password": PASSWORD})
    assert refused.status == 400, refused.text()

    sign_in(page, live_server, user.email)
    expect(page.locator("h1")).to_have_text("Welcome, Lee Legal")
    # The sign-out form (base.html) carries its own token and works too.
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/auth/login$"))
    expect(page.get_by_role("status")).to_have_text("You have been signed out.")
