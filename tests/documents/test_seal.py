"""PAdES seals (documents.seal) and the instance's seal certificate (consent.services.sealing)."""

from __future__ import annotations

import ast
import asyncio
import io
import re
import socket
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pypdf import PdfReader

import documents.seal
from consent import create_app
from consent.extensions import db as _db
from consent.services import sealing
from documents import html_to_pdf
from documents.seal import seal_info, seal_pdf

HTML = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<h1>Data-sharing agreement</h1><p>Signed by Dana Superintendent for Riverside.</p>
</body></html>"""


@pytest.fixture(scope="module")
def rendered() -> bytes:
    return html_to_pdf(HTML)


@pytest.fixture
def instance(app):
    """The seal key and certificate of the `app` instance."""
    with app.app_context():
        return sealing.seal_identity()


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())


def byte_range(pdf: bytes) -> tuple[int, int, int, int]:
    match = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert match, "no /ByteRange in the sealed PDF"
    return tuple(int(n) for n in match.groups())


def seal(pdf: bytes, identity) -> bytes:
    return seal_pdf(pdf, identity.key_pem, identity.cert_pem, reason="Executed agreement 7",
                    location="Riverside")


def test_sealed_pdf_keeps_its_text_and_checks_out(rendered, instance):
    sealed = seal(rendered, instance)
    assert sealed.startswith(rendered)  # an incremental update: the original is untouched
    assert "Signed by Dana Superintendent for Riverside." in text_of(sealed)
    info = seal_info(sealed, instance.cert_pem)
    assert info["sealed"] and info["intact"] and info["valid"] and info["trusted"]
    assert info["covers_whole_file"] and info["docmdp_ok"] and info["ok"]
    assert info["error"] is None
    assert "Accordant document seal" in info["signer"]
    assert abs(info["signed_at"] - datetime.now(UTC)) < timedelta(minutes=5)
    assert (info["reason"], info["location"]) == ("Executed agreement 7", "Riverside")


def test_sealing_and_checking_work_while_an_event_loop_runs(rendered, instance):
    # Regression: pyHanko's synchronous wrappers call asyncio.run(), which failed with
    # "cannot be called from a running event loop" when signing from such a thread.
    async def seal_and_check():
        sealed = seal(rendered, instance)
        return sealed, seal_info(sealed, instance.cert_pem)

    # A thread of the test's own: the suite's main thread may already run Playwright's
    # loop, where the test itself could not call asyncio.run().
    with ThreadPoolExecutor(max_workers=1) as pool:
        sealed, info = pool.submit(asyncio.run, seal_and_check()).result()
    assert sealed.startswith(rendered)
    assert info["ok"] and info["error"] is None


def test_signature_is_pades_with_sha256_and_invisible(rendered, instance):
    sealed = seal(rendered, instance)
    reader = PdfReader(io.BytesIO(sealed))
    field = reader.get_fields()[documents.seal.FIELD_NAME]
    value = field["/V"].get_object()
    assert value["/SubFilter"] == "/ETSI.CAdES.detached"
    widget = next(a.get_object() for a in reader.pages[0].get("/Annots", [])
                  if a.get_object().get("/T") == documents.seal.FIELD_NAME)
    rect = [float(n) for n in widget["/Rect"]]
    assert rect[2] - rect[0] == 0 and rect[3] - rect[1] == 0


def test_a_byte_changed_inside_the_signed_range_breaks_the_seal(rendered, instance):
    sealed = seal(rendered, instance)
    start, length, _, _ = byte_range(sealed)
    index = start + length // 2
    tampered = bytearray(sealed)
    tampered[index] ^= 0x01
    info = seal_info(bytes(tampered), instance.cert_pem)
    assert info["sealed"]
    assert not info["intact"]
    assert not info["trusted"] and not info["ok"]


def test_bytes_appended_after_sealing_are_not_covered(rendered, instance):
    sealed = seal(rendered, instance)
    info = seal_info(sealed + b"\n% appended later\n", instance.cert_pem)
    assert info["intact"] and not info["covers_whole_file"] and not info["ok"]


def test_a_certificate_from_another_instance_is_not_trusted(rendered, instance, app_config,
                                                            tmp_path):
    other_app = create_app({**app_config, "INSTANCE_PATH": str(tmp_path / "other-instance")})
    with other_app.app_context():
        other = sealing.seal_identity()
        _db.session.remove()
        _db.engine.dispose()  # a connection left open warns (and fails) in a later test
    assert other.cert_pem != instance.cert_pem
    sealed_elsewhere = seal(rendered, other)
    info = seal_info(sealed_elsewhere, instance.cert_pem)
    assert info["intact"] and info["valid"]  # a sound signature...
    assert not info["trusted"] and not info["ok"]  # ...by someone we do not trust
    assert seal_info(sealed_elsewhere, other.cert_pem)["trusted"]


def test_unsealed_and_unreadable_files_are_reported_not_raised(rendered, instance):
    unsealed = seal_info(rendered, instance.cert_pem)
    assert not unsealed["sealed"] and not unsealed["ok"] and unsealed["error"]
    garbage = seal_info(b"%PDF-1.7\nnot really a pdf", instance.cert_pem)
    assert not garbage["sealed"] and garbage["error"]


def test_seal_pdf_refuses_what_is_not_a_pdf(instance):
    with pytest.raises(ValueError):
        seal_pdf(b"hello", instance.key_pem, instance.cert_pem, reason="r", location="l")


def test_instance_certificate_is_created_once_and_kept_private(app):
    with app.app_context():
        first = sealing.seal_identity()
        second = sealing.seal_identity()
    assert first == second
    folder = Path(app.instance_path)
    key_file = folder / sealing.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (folder / sealing.CERT_FILE).read_bytes() == first.cert_pem
    assert b"PRIVATE KEY" not in first.cert_pem
    assert not list(folder.glob(".*.tmp")) and not list(folder.glob(f".{sealing.KEY_FILE}*"))

    cert = x509.load_pem_x509_certificate(first.cert_pem)
    assert cert.subject == cert.issuer  # self-signed
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == (sealing.CN_PREFIX + socket.gethostname())[:64]  # no district row yet
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment  # nonRepudiation
    assert not usage.key_cert_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=365 * 10) <= lifetime <= timedelta(days=365 * 10 + 4)


def test_certificate_names_the_district(app, make):
    make.org("Riverside Unified School District", kind="district", slug="riverside")
    with app.app_context():
        cert = x509.load_pem_x509_certificate(sealing.seal_certificate_pem())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "Accordant document seal — Riverside Unified School District"


def test_documents_package_imports_no_app_code():
    tree = ast.parse(Path(documents.seal.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots <= {"__future__", "asyncio", "concurrent", "logging", "io", "pyhanko",
                     "pyhanko_certvalidator"}
