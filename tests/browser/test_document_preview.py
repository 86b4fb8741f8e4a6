"""The agreement preview in real Chromium: bundled fonts load, nothing else is requested."""

from __future__ import annotations

from urllib.parse import urlsplit

from consent.models import Organization
from tests.api.helpers import make_partnership
from tests.browser.helpers import sign_in

EVIL = '<img src="http://127.0.0.1:9/x" onerror="document.title=\'pwned\'">'


def test_preview_shows_the_document_with_its_fonts_and_markup_as_text(db, make, live_server,
                                                                       desktop_page):
    page = desktop_page
    p = make_partnership(make)
    partner = db.session.get(Organization, p.partner.id)
    partner.name = f"Promise {EVIL}"
    db.session.commit()
    agreement = make.agreement(p.district, [p.partner], state="in_review",
                               title="Preview 王小明 فاطمة")
    sign_in(page, live_server, p.legal.email)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server}/agreements/{agreement.id}")
    with page.expect_navigation():
        page.get_by_role("link", name="Preview the document").click()
    page.wait_for_load_state("networkidle")

    assert page.locator("h1").inner_text() == "Preview 王小明 فاطمة"
    assert f"Promise {EVIL}" in page.locator("body").inner_text()
    assert page.title() != "pwned" and page.locator("img").count() == 0
    loaded = page.evaluate("""async () => { await document.fonts.ready;
        return [...document.fonts].filter(f => f.status === "loaded")
          .map(f => f.family.replaceAll('"', '')); }""")
    assert {"Accordant Serif", "Accordant Sans", "Accordant CJK", "Accordant Arabic"} <= set(
        loaded), loaded
    origin = urlsplit(live_server).netloc
    after_click = requested[requested.index(page.url):]
    assert all(urlsplit(u).netloc == origin for u in after_click), after_click
    assert all(urlsplit(u).path.startswith("/documents/") for u in after_click), after_click
    assert any(u.endswith("/documents/assets/print.css") for u in after_click)
