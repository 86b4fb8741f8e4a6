"""An automated accessibility check of the family portal: axe-core (installed from npm by
scripts/test-setup into tests/browser/node) runs inside headless Chromium on each page, on a
phone viewport, and no serious or critical WCAG 2.1 A/AA violation may be found."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.api.helpers import make_partnership
from tests.browser.conftest import PHONE, _page
from tests.browser.helpers import sign_in
from tests.consents.test_consent_semantics import _grant, _open_agreement

AXE = Path(__file__).resolve().parent / "node" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}
RUN_AXE = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    resultTypes: ["violations"]});
  return {violations: result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)})),
          passes: result.passes.length};
}"""


@pytest.fixture
def page(browser):
    """A phone-sized page that may load axe-core: the site's content policy allows no
    scripts at all, so this one context is told to look past it (the DOM is the same)."""
    context, page = _page(browser, {**PHONE, "bypass_csp": True})
    yield page
    context.close()


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations on the page as it is now."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run scripts/test-setup (npm ci in tests/browser/node)",
                    pytrace=False)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(RUN_AXE)
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def test_axe_finds_a_planted_violation(page, live_server):
    # The check itself can fail: an image without alt text and an unlabelled input.
    page.goto(f"{live_server}/auth/login")
    page.evaluate("""() => { const main = document.querySelector("main");
        main.insertAdjacentHTML("beforeend",
          '<img src="x.png"><input type="text" id="nolabel">'); }""")
    ids = {v["id"] for v in axe_violations(page)}
    assert {"image-alt", "label"} <= ids


def test_family_portal_pages_have_no_serious_violations(app, db, make, live_server, page):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p, title="Promise MOU")
    _grant(db, p.guardian_user, p.student, agreement, categories=("attendance",))
    found = {}

    for path in ("/auth/login", "/auth/link"):
        page.goto(f"{live_server}{path}")
        found[path] = axe_violations(page)
    sign_in(page, live_server, p.guardian_user.email)
    for path in ("/family/", f"/family/students/{p.student.id}"):
        page.goto(f"{live_server}{path}")
        found[path] = axe_violations(page)

    # The page with an error shown next to the checkboxes.
    card = page.locator(f"article[data-agreement='{agreement.id}'][data-recipient='promise']")
    card.get_by_label("Academic support").check()
    with page.expect_navigation():
        card.get_by_role("button", name="Yes, share what I ticked").click()
    expect(page.locator(".error").first).to_be_visible()
    found["student page with an error"] = axe_violations(page)

    # And in Spanish.
    page.goto(f"{live_server}/family/students/{p.student.id}")
    page.get_by_label("Language").select_option("es")
    with page.expect_navigation():
        page.get_by_role("button", name="Change language").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    found["student page in Spanish"] = axe_violations(page)
    for path in ("/", "/notifications/", "/auth/password"):  # they follow the family's language
        page.goto(f"{live_server}{path}")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        found[f"{path} in Spanish"] = axe_violations(page)

    assert {where: v for where, v in found.items() if v} == {}
