"""The public /verify page: is an uploaded PDF an unaltered document issued here?"""

from __future__ import annotations

import hashlib
import io
import re
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from consent.models import Agreement, AgreementDocument, Signature
from consent.services import sealing
from documents import html_to_pdf
from documents.seal import seal_info
from tests.api.helpers import agreement_payload, bearer, make_partnership
from tests.api.test_roles import active_agreement
from tests.factories import DISTRICT_ZONE
from tests.web.helpers import csrf_token_from


def upload(client, content: bytes, name: str = "agreement.pdf", **data):
    return client.post("/verify", data={**data, "document": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def outcome_of(html: str) -> str:
    match = re.search(r'data-outcome="([a-z_]+)"', html)
    assert match, "no result on the page"
    return match.group(1)


def executed_pdf(client, make, p) -> tuple[int, bytes, str]:
    aid = active_agreement(client, make, p)
    r = client.get(f"/api/v1/agreements/{aid}/document.pdf",
                   headers=bearer(make.user_token(p.legal)))
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    return aid, r.data, r.headers["X-Document-SHA256"]


def test_an_executed_pdf_is_recognised_with_its_agreement_and_signers(app, client, db, make):
    p = make_partnership(make)
    aid, pdf, header_sha = executed_pdf(client, make, p)
    stored = db.session.scalar(sa.select(AgreementDocument).where(
        AgreementDocument.agreement_id == aid, AgreementDocument.kind == "executed"))
    assert stored.sha256 == hashlib.sha256(pdf).hexdigest() == header_sha
    assert stored.content == pdf

    anonymous = app.test_client()
    assert anonymous.get("/verify").status_code == 200
    r = upload(anonymous, pdf)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert outcome_of(html) == "issued"
    assert "Unaltered: this document was issued here" in html
    assert f"Promise Neighborhood data-sharing MOU (agreement {aid})" in html
    assert "<dt>Revision</dt><dd>1</dd>" in html
    assert "Executed copy" in html
    for name in ("Riverside Unified School District", "Northside Promise Neighborhood"):
        assert name in html
    zone = ZoneInfo(DISTRICT_ZONE)
    signatures = db.session.scalars(sa.select(Signature).where(
        Signature.agreement_id == aid, Signature.state == "signed")).all()
    assert len(signatures) == 2
    for sig in signatures:
        local = sig.signed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        assert f"{sig.signer_name}, Signatory, for {sig.organization.name}, on " in html
        assert local in html
    assert "Dana Superintendent" in html and "Pat Director" in html
    # The seal, checked against this instance's certificate.
    assert 'data-seal-ok="true"' in html
    assert "The seal is valid" in html
    # Nothing beyond what the document prints: no IPs, user agents, state or e-mail.
    for secret in (sig.ip_address, sig.user_agent, "@riverside.example", "active"):
        assert secret and secret not in html


def test_executed_copy_is_sealed_and_the_copy_for_signature_is_not(app, client, db, make):
    p = make_partnership(make)
    aid, pdf, _ = executed_pdf(client, make, p)
    with app.app_context():
        cert = sealing.seal_certificate_pem()
    assert seal_info(pdf, cert)["ok"]
    for_signature = db.session.scalar(sa.select(AgreementDocument).where(
        AgreementDocument.agreement_id == aid, AgreementDocument.kind == "for_signature"))
    assert not seal_info(for_signature.content, cert)["sealed"]
    html = upload(client, for_signature.content).get_data(as_text=True)
    assert outcome_of(html) == "issued"
    assert "Copy sent for signature" in html
    assert "only executed copies are sealed" in html
    # The published certificate is the one the seal checks against.
    r = app.test_client().get("/verify/certificate.pem")
    assert r.status_code == 200 and r.data == cert
    assert r.data.startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE" not in r.data


def test_a_changed_byte_means_altered_not_issued(client, make):
    p = make_partnership(make)
    _, pdf, _ = executed_pdf(client, make, p)
    tampered = bytearray(pdf)
    tampered[len(pdf) // 3] ^= 0x01
    html = upload(client, bytes(tampered)).get_data(as_text=True)
    assert outcome_of(html) == "altered"
    assert "Altered: this is not a document issued here" in html
    assert "Promise Neighborhood" not in html and "Pat Director" not in html
    assert hashlib.sha256(bytes(tampered)).hexdigest() in html
    assert 'data-seal-ok="false"' in html and "The seal is broken" in html


def test_a_pdf_never_issued_here_is_not_found(client, make):
    make_partnership(make)
    html = upload(client, html_to_pdf("<p>Some other agreement</p>")).get_data(as_text=True)
    assert outcome_of(html) == "not_found"
    assert "Not found: no document issued here matches this file" in html
    assert "The file carries no digital seal." in html


def test_only_pdfs_are_accepted(client):
    for content, name in ((b"GIF89a not a pdf", "agreement.pdf"), (b"", "empty.pdf"),
                          (b"hello %PDF-1.7", "x.pdf")):
        r = upload(client, content, name)
        assert r.status_code == 422, (content, r.status_code)
        html = r.get_data(as_text=True)
        assert 'class="error"' in html and 'aria-invalid="true"' in html
        assert "data-outcome" not in html
    r = client.post("/verify", data={}, content_type="multipart/form-data")
    assert r.status_code == 422
    assert "Choose the PDF you want to check." in r.get_data(as_text=True)


def test_uploads_over_20_mb_are_refused(client):
    # The multipart body is built by hand: werkzeug's builder would spool it to a
    # temporary file that the test client never closes.
    boundary = "----accordant-test"
    body = b"".join([
        f"--{boundary}\r\n".encode(),
        b'Content-Disposition: form-data; name="document"; filename="big.pdf"\r\n',
        b"Content-Type: application/pdf\r\n\r\n",
        b"%PDF-1.7\n", b"0" * (20 * 1024 * 1024), b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ])
    r = client.post("/verify", data=body,
                    content_type=f"multipart/form-data; boundary={boundary}")
    assert r.status_code == 413


def test_markup_in_the_title_is_shown_escaped(client, db, make):
    p = make_partnership(make)
    aid, pdf, _ = executed_pdf(client, make, p)
    db.session.get(Agreement, aid).title = '<script>alert("x")</script> & <b>Co</b>'
    db.session.commit()
    html = upload(client, pdf).get_data(as_text=True)
    assert "<script>alert" not in html and "<b>Co</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in html


def test_other_agreements_stay_hidden(client, make):
    p = make_partnership(make)
    legal = bearer(make.user_token(p.legal))
    r = client.post("/api/v1/agreements", headers=legal,
                    json=agreement_payload(title="Confidential other MOU"))
    assert r.status_code == 201, r.json
    _, pdf, _ = executed_pdf(client, make, p)
    html = upload(client, pdf).get_data(as_text=True)
    assert outcome_of(html) == "issued"
    assert "Confidential other MOU" not in html


def test_post_without_csrf_token_is_refused(app_config, request):
    app_config["WTF_CSRF_ENABLED"] = True  # before the app is built
    app = request.getfixturevalue("app")
    browser = app.test_client()
    pdf = html_to_pdf("<p>anything</p>")
    assert upload(browser, pdf).status_code == 400
    token = csrf_token_from(browser.get("/verify").get_data(as_text=True))
    r = upload(browser, pdf, csrf_token=token)
    assert r.status_code == 200
    assert outcome_of(r.get_data(as_text=True)) == "not_found"
