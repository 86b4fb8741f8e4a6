"""HTML previews of every document before it is sent, and the printable consent forms."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from consent.services.documents import agreement_snapshot, render_agreement_html
from tests.api.helpers import make_partnership

EVIL = "<b>Promise</b> & <script>alert(1)</script>"


def _setup(make, **fields):
    p = make_partnership(make)
    p.partner.name = EVIL
    make.db.session.commit()
    agreement = make.agreement(p.district, [p.partner], state="in_review", **fields)
    return p, agreement


def _without_times(html: str) -> str:
    html = re.sub(r"<base [^>]*>\s*", "", html)
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d", "TIME", html)


def test_preview_is_the_print_html_with_only_same_origin_assets(db, make, login, app):
    p, agreement = _setup(make)
    r = login(p.legal).get(f"/documents/agreements/{agreement.id}/preview")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    with app.test_request_context():
        expected = render_agreement_html(agreement_snapshot(agreement, "for_signature"))
    assert _without_times(html) == _without_times(expected)
    assert '<base href="/documents/assets/">' in html
    policy = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_previews_follow_agreement_visibility(db, make, login):
    p = make_partnership(make)
    draft = make.agreement(p.district, [p.partner], state="draft")
    # A partner does not see the district's drafts; a family sees no agreement at all.
    assert login(p.partner_signatory).get(
        f"/documents/agreements/{draft.id}/preview").status_code == 404
    for path in (f"/documents/agreements/{draft.id}/preview",
                 f"/documents/agreements/{draft.id}/consent-form"):
        assert login(p.guardian_user).get(path).status_code in (403, 404)
    assert login(p.legal).get("/documents/agreements/999999/preview").status_code == 404


def test_consent_form_preview_and_pdf_in_both_languages(db, make, login):
    p, agreement = _setup(make)
    legal = login(p.legal)
    english = legal.get(f"/documents/agreements/{agreement.id}/consent-form?lang=en")
    assert english.status_code == 200
    assert "Which records would be shared" in english.get_data(as_text=True)
    spanish = legal.get(f"/documents/agreements/{agreement.id}/consent-form?lang=es")
    assert "Qué registros se compartirían" in spanish.get_data(as_text=True)
    assert EVIL not in spanish.get_data(as_text=True)
    pdf = legal.get(f"/documents/agreements/{agreement.id}/consent-form.pdf?lang=es")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Permiso para compartir registros escolares" in text and EVIL in text
    bad = legal.get(f"/documents/agreements/{agreement.id}/consent-form?lang=fr")
    assert bad.status_code == 422


def test_asset_route_serves_styles_and_fonts_only(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    with legal.get("/documents/assets/print.css") as css:  # files stream: close them
        assert css.status_code == 200 and css.mimetype == "text/css"
        assert b"@font-face" in css.data
    with legal.get("/documents/assets/fonts/AccordantCJK-Regular.otf") as font:
        assert font.status_code == 200 and font.mimetype == "font/otf"
        assert font.data[:4] == b"OTTO"
    for path in ("/documents/assets/../render.py", "/documents/assets/%2e%2e/render.py",
                 "/documents/assets/fonts/LICENSE-DejaVu.txt",
                 "/documents/assets/../../setup.cfg", "/documents/assets/nothing.css"):
        with legal.get(path) as r:
            assert r.status_code == 404, path
