"""documents.html_to_pdf and AssetOnlyFetcher: only bundled assets load, output is stable."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from pathlib import Path
from urllib.request import HTTPRedirectHandler

import pytest
from pypdf import PdfReader
from weasyprint.urls import FatalURLFetchingError

from documents import ASSETS_DIR, AssetOnlyFetcher, BlockedResource, html_to_pdf, sha256_hex

REPO = Path(__file__).resolve().parents[2]


def page(body: str, head: str = "") -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<link rel="stylesheet" href="print.css">{head}</head><body>{body}</body></html>')


def texts(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]


def hostile_urls(listener) -> dict[str, str]:
    """Markup that would read a local file or call the network if anything were fetched."""
    outside = (ASSETS_DIR / ".." / "render.py").as_uri()
    return {
        "img_file_etc_passwd": '<img src="file:///etc/passwd">',
        "img_http": f'<img src="{listener.url}/img.png">',
        "stylesheet_http": f'<link rel="stylesheet" href="{listener.url}/s.css">',
        "css_import_http": f'<style>@import url("{listener.url}/imp.css");</style>',
        "css_background_file": '<div style="background: url(file:///etc/passwd)">x</div>',
        "font_face_http": ('<style>@font-face { font-family: X; src: url('
                           f'"{listener.url}/f.ttf"); }} p {{ font-family: X }}</style><p>x</p>'),
        "relative_escape": '<img src="../render.py">',
        "encoded_escape": '<img src="fonts/%2e%2e/%2e%2e/render.py">',
        "absolute_outside": f'<img src="{outside}">',
        "file_with_host": f'<img src="file://127.0.0.1{ASSETS_DIR.as_posix()}/print.css">',
        "data_url": '<img src="data:image/png;base64,iVBORw0KGgo=">',
        "object_http": f'<object data="{listener.url}/o.html"></object>',
    }


def test_plain_render_returns_a_pdf_with_page_numbers_and_bundled_fonts():
    pdf = html_to_pdf(page("<h1>Łucja Wójcik</h1><p>Nguyễn Thị Hương</p>"), strict=True)
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text()
    assert "Łucja Wójcik" in text
    assert "Nguyễn Thị Hương" in text
    assert "Page 1 of 1" in text
    fonts = {str(f.get_object()["/BaseFont"]) for f in reader.pages[0]["/Resources"]["/Font"]
             .values()}
    # Every glyph comes from the bundled DejaVu copies, never from a system font.
    assert fonts and all("+Accordant-" in name for name in fonts), fonts


def test_hostile_markup_fetches_nothing_and_still_renders(listener):
    html = page("<p>body text</p>" + "".join(hostile_urls(listener).values()))
    pdf = html_to_pdf(html)
    assert "body text" in texts(pdf)[0]
    assert "root:" not in "".join(texts(pdf))
    assert listener.requests == []


@pytest.mark.parametrize("name", [
    "img_file_etc_passwd", "img_http", "stylesheet_http", "css_import_http",
    "css_background_file", "font_face_http", "relative_escape", "encoded_escape",
    "absolute_outside", "file_with_host", "data_url", "object_http",
])
def test_strict_mode_aborts_on_each_forbidden_url(listener, name):
    html = page("<p>x</p>" + hostile_urls(listener)[name])
    with pytest.raises(FatalURLFetchingError):
        html_to_pdf(html, strict=True)
    assert listener.hits == 0


def test_strict_mode_aborts_on_a_missing_asset():
    with pytest.raises(FatalURLFetchingError, match="missing asset"):
        html_to_pdf(page('<img src="logo-that-does-not-exist.png">'), strict=True)


def test_fatal_error_is_not_an_exception():
    # Callers must catch it by name; `except Exception` lets it through.
    assert not issubclass(FatalURLFetchingError, Exception)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "http://127.0.0.1:1/x",
    "https://example.org/x.css",
    "ftp://example.org/x",
    "data:text/css,p{}",
    "file://localhost/etc/passwd",
    "file://example.org" + ASSETS_DIR.as_posix() + "/print.css",
    ASSETS_DIR.as_uri() + "/../render.py",
    ASSETS_DIR.as_uri() + "/fonts/%2E%2E/%2E%2E/fetcher.py",
    ASSETS_DIR.as_uri() + "/fonts",  # a directory, not a file
    "file:print.css",  # relative: would depend on the working directory
])
def test_fetcher_refuses(url):
    with pytest.raises(BlockedResource):
        AssetOnlyFetcher(ASSETS_DIR).fetch(url)
    with pytest.raises(FatalURLFetchingError):
        AssetOnlyFetcher(ASSETS_DIR, strict=True).fetch(url)


def test_fetcher_serves_assets():
    response = AssetOnlyFetcher(ASSETS_DIR, strict=True).fetch(ASSETS_DIR.as_uri() + "/print.css")
    try:
        assert response.content_type == "text/css"
        assert b"@font-face" in response.read()
    finally:
        response.close()


def test_fetcher_refuses_symlinks_leading_out_of_root(tmp_path):
    root = tmp_path / "assets"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (root / "inside.css").write_text("p {}")
    (root / "link.css").symlink_to(secret)
    (root / "dir-link").symlink_to(tmp_path)
    fetcher = AssetOnlyFetcher(root)
    response = fetcher.fetch((root / "inside.css").as_uri())
    response.close()
    for url in ((root / "link.css").as_uri(), (root / "dir-link" / "secret.txt").as_uri()):
        with pytest.raises(BlockedResource):
            fetcher.fetch(url)


def test_fetcher_does_not_follow_redirects():
    fetcher = AssetOnlyFetcher(ASSETS_DIR)
    assert not any(isinstance(h, HTTPRedirectHandler) for h in fetcher.handlers)


def test_same_html_gives_identical_bytes():
    html = page("<h1>Stable</h1>",
                head='<meta name="dcterms.created" content="2027-01-31T09:00:00-08:00">')
    first, second = html_to_pdf(html, strict=True), html_to_pdf(html, strict=True)
    assert first == second
    assert PdfReader(io.BytesIO(first)).metadata["/CreationDate"].startswith("D:20270131090000")


def test_sha256_hex():
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_documents_package_imports_no_flask_sqlalchemy_or_consent():
    code = ("import sys, documents; bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'flask', 'sqlalchemy', 'flask_sqlalchemy', 'consent', 'werkzeug', 'jinja2'}); "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bundled_fonts_ship_with_their_licence():
    fonts = ASSETS_DIR / "fonts"
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf",
                 "DejaVuSerif-Bold.ttf", "LICENSE-DejaVu.txt"):
        assert (fonts / name).is_file(), name
    assert "Bitstream" in (fonts / "LICENSE-DejaVu.txt").read_text()
