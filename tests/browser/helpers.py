"""Steps and page checks shared by the browser tests."""

from __future__ import annotations

from tests.conftest import PASSWORD


def sign_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real login page, as a person would."""
    page.goto(f"{base_url}/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/auth/login" not in page.url, page.locator("main").inner_text()


# Every visible form control must have a name a screen reader can announce: a
# <label for=id>, a wrapping <label>, aria-label or aria-labelledby.
UNLABELLED_CONTROLS_JS = """
() => Array.from(document.querySelectorAll("input, select, textarea"))
  .filter(el => el.type !== "hidden" && !el.hidden)
  .filter(el => !(
    (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) ||
    el.closest("label") ||
    (el.getAttribute("aria-label") || "").trim() ||
    (el.getAttribute("aria-labelledby") || "").trim()))
  .map(el => el.outerHTML)
"""


def unlabelled_controls(page) -> list[str]:
    return page.evaluate(UNLABELLED_CONTROLS_JS)


def page_widths(page) -> dict[str, int]:
    """The document's scrollWidth, window.innerWidth and the layout viewport's width.

    With is_mobile, Chromium widens window.innerWidth to fit content that overflows
    (the page zooms out), so "scrollWidth <= innerWidth" alone never fails there:
    compare with the viewport width too.
    """
    return page.evaluate("""() => ({scroll: document.documentElement.scrollWidth,
                                   inner: window.innerWidth,
                                   client: document.documentElement.clientWidth})""")


def assert_no_horizontal_scroll(page, width: int) -> None:
    widths = page_widths(page)
    assert widths["scroll"] <= widths["inner"] == width and widths["client"] == width, (
        f"the page scrolls sideways at {width}px: {widths}")
