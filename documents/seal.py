"""PAdES seals on finished PDFs with pyHanko: apply one, and check one.

Only the standard library, WeasyPrint and pyHanko (with its own `pyhanko_certvalidator`)
may be imported here (no Flask, no SQLAlchemy, no `consent`). Callers pass the key and
certificate as PEM bytes; where they are kept is the job of `consent.services.sealing`.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

from pyhanko.keys import load_private_key_from_pemder_data
from pyhanko.keys.pemder import load_certs_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

logger = logging.getLogger(__name__)

FIELD_NAME = "AccordantSeal"

# Room for the CMS blob in /Contents: an ECDSA P-256 or RSA-3072 signature plus one
# certificate is about 2 KB; pyHanko's default (16 KB) would just be padding.
SIGNATURE_SIZE = 8192


def seal_pdf(pdf: bytes, key_pem: bytes, cert_pem: bytes, *, reason: str,
             location: str) -> bytes:
    """`pdf` with an invisible PAdES B-B signature (SHA-256) appended as an incremental update.

    The original bytes are kept unchanged as a prefix; the signature covers the whole
    resulting file. The signing time is taken from the clock, so two seals of the same
    PDF differ: hash the returned bytes, never a re-seal.

    :raises ValueError: the key or certificate cannot be read, or `pdf` is not a PDF.
    """
    signer = _signer(key_pem, cert_pem)
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    except (PdfError, ValueError) as exc:
        raise ValueError(f"not a readable PDF: {exc}") from exc
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        reason=reason,
        location=location,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
    )
    pdf_signer = signers.PdfSigner(
        meta, signer=signer,
        # No box: the field has no widget area, so the seal is invisible on the page.
        new_field_spec=fields.SigFieldSpec(sig_field_name=FIELD_NAME),
    )
    out = BytesIO()
    _run(pdf_signer.async_sign_pdf(writer, output=out, bytes_reserved=SIGNATURE_SIZE))
    return out.getvalue()


def _run(coroutine):
    """The result of one of pyHanko's coroutines, from synchronous code.

    pyHanko's synchronous wrappers call `asyncio.run()`, which refuses to start when the
    calling thread already runs an event loop (an async worker, a browser driver in the
    same process). A thread of our own never has one.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _signer(key_pem: bytes, cert_pem: bytes) -> signers.SimpleSigner:
    try:
        key = load_private_key_from_pemder_data(key_pem, passphrase=None)
        certs = list(load_certs_from_pemder_data(cert_pem))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"unreadable seal key or certificate: {exc}") from exc
    if not certs:
        raise ValueError("no certificate in the seal certificate PEM")
    return signers.SimpleSigner(signing_cert=certs[0], signing_key=key,
                                cert_registry=SimpleCertificateStore.from_certs(certs))


def seal_info(pdf: bytes, trusted_cert_pem: bytes) -> dict:
    """Check the last signature in `pdf`, with `trusted_cert_pem` as the only trust root.

    Keys: ``ok`` (every check below passed), ``sealed`` (a signature is present),
    ``intact`` (the signed bytes hash to the signed digest), ``valid`` (the signature
    value checks out), ``trusted`` (the signer chains to the trusted certificate and
    may sign), ``covers_whole_file`` (nothing was appended after signing),
    ``docmdp_ok`` (no disallowed changes), ``signer`` (the signer certificate's
    subject, readable), ``signed_at`` (the signer-reported aware datetime or None),
    ``signer_cert_der`` (the certificate embedded in the signature, DER), ``reason``,
    ``location``, ``error`` (why checking failed, or None).
    Never raises for bad input: a file that cannot be read comes back with ``error`` set.
    """
    info = {
        "ok": False, "sealed": False, "intact": False, "valid": False, "trusted": False,
        "covers_whole_file": False, "docmdp_ok": False, "signer": None, "signed_at": None,
        "signer_cert_der": None, "reason": None, "location": None, "error": None,
    }
    try:
        root = load_cert_from_pemder_bytes(trusted_cert_pem)
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = reader.embedded_signatures
    except Exception as exc:  # noqa: BLE001 - any parse failure means "cannot check"
        logger.info("seal check: unreadable PDF (%s)", type(exc).__name__)
        info["error"] = "the file could not be read as a PDF"
        return info
    if not embedded:
        info["error"] = "the file carries no digital signature"
        return info
    sig = embedded[-1]
    info["sealed"] = True
    # Only our certificate is trusted, and nothing is fetched from the network:
    # a self-signed instance certificate has no OCSP or CRL to ask.
    context = ValidationContext(trust_roots=[root], allow_fetching=False,
                                revocation_mode="soft-fail")
    try:
        status = _run(async_validate_pdf_signature(sig, signer_validation_context=context))
    except Exception as exc:  # noqa: BLE001 - a mangled signature is a failed check
        logger.info("seal check failed: %s", type(exc).__name__)
        info["error"] = "the signature could not be checked"
        return info
    info.update(
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        docmdp_ok=bool(status.docmdp_ok),
        signer=status.signing_cert.subject.human_friendly,
        signer_cert_der=status.signing_cert.dump(),
        signed_at=status.signer_reported_dt,
        reason=_text(sig.sig_object.get("/Reason")),
        location=_text(sig.sig_object.get("/Location")),
    )
    info["ok"] = all(info[k] for k in ("intact", "valid", "trusted", "covers_whole_file",
                                       "docmdp_ok"))
    return info


def load_cert_from_pemder_bytes(cert_pem: bytes):
    """The first certificate in PEM or DER bytes.

    :raises ValueError: there is none.
    """
    certs = list(load_certs_from_pemder_data(cert_pem))
    if not certs:
        raise ValueError("no certificate found")
    return certs[0]


def _text(value) -> str | None:
    return str(value) if value is not None else None
