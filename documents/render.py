"""HTML to PDF with WeasyPrint, reading only the bundled assets.

Only the standard library and WeasyPrint may be imported here (no Flask, no
SQLAlchemy, no `consent`). Callers pass finished HTML; building it from data is
the job of `consent.services.documents`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from documents.fetcher import AssetOnlyFetcher

ASSETS_DIR = Path(__file__).resolve().parent / "assets"


def html_to_pdf(html: str, *, strict: bool = False) -> bytes:
    """Render HTML to PDF bytes; relative URLs resolve inside ASSETS_DIR, nothing else loads.

    The same HTML gives the same bytes with the same WeasyPrint and fonts: WeasyPrint
    writes a creation date only when the HTML carries `<meta name="dcterms.created">`.

    :raises weasyprint.urls.FatalURLFetchingError: `strict` and a resource was refused
        or missing. It is a BaseException, so `except Exception` does not catch it.
    """
    fetcher = AssetOnlyFetcher(ASSETS_DIR, strict=strict)
    font_config = FontConfiguration()
    document = HTML(string=html, base_url=ASSETS_DIR.as_uri() + "/", url_fetcher=fetcher)
    return document.write_pdf(font_config=font_config)


def sha256_hex(data: bytes) -> str:
    """The lowercase hexadecimal SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()
