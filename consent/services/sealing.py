"""The instance's document-seal certificate: created on first use, kept in the instance folder.

A self-signed X.509 certificate (ECDSA P-256, ten years) and its key, as PEM files
next to the rules-signing key. Executed agreements are sealed with it, and the
public verification page checks seals against it. Applying and checking seals is
the Flask-free `documents.seal`; nothing here renders or stores documents.

`check_document` answers the public verification page, so what it returns is all
an anonymous visitor learns: it must never carry more than the facts printed on
the document they already hold.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import current_app, has_request_context, request

from consent.extensions import db
from consent.models import Agreement, AgreementDocument, Organization, Signature
from consent.timeutil import utcnow
from documents import sha256_hex
from documents.seal import seal_info, seal_pdf
from workflows import SignatureState

logger = logging.getLogger(__name__)

KEY_FILE = "document-seal-key.pem"
CERT_FILE = "document-seal-cert.pem"
CN_PREFIX = "Accordant document seal — "
VALIDITY = timedelta(days=3653)  # ten years, leap days included


@dataclass(frozen=True)
class SealIdentity:
    key_pem: bytes
    cert_pem: bytes


def make_seal_certificate(common_name: str) -> SealIdentity:
    """A new key and self-signed certificate for sealing documents (PEM bytes)."""
    key = ec.generate_private_key(ec.SECP256R1())
    # X.509 caps a common name at 64 characters.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # tolerate clock skew of checkers
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True,  # content_commitment = nonRepudiation
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return SealIdentity(key_pem, cert.public_bytes(serialization.Encoding.PEM))


def seal_identity() -> SealIdentity:
    """The instance's seal key and certificate, created atomically on first use."""
    folder = Path(current_app.instance_path)
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    if not key_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        identity = make_seal_certificate(CN_PREFIX + _instance_name())
        # Key and certificate share one 0600 file, so a reader never sees a key without
        # its certificate. It is written in full under a private name, then linked into
        # place: link() fails when the name exists, so the first worker wins a race and
        # nobody ever reads a half-written file.
        tmp = folder / f".{KEY_FILE}.{os.getpid()}.{os.urandom(4).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(identity.key_pem + identity.cert_pem)
            os.link(tmp, key_path)
        except FileExistsError:  # another worker created it first
            pass
        else:
            logger.info("created the document seal certificate in %s", folder)
        finally:
            tmp.unlink(missing_ok=True)
    combined = key_path.read_bytes()
    key_pem, _, cert_part = combined.partition(b"-----END PRIVATE KEY-----")
    key_pem += b"-----END PRIVATE KEY-----\n"
    cert_pem = cert_part.lstrip()
    if not cert_path.exists() or cert_path.read_bytes() != cert_pem:
        _write_public(cert_path, cert_pem)
    return SealIdentity(key_pem, cert_pem)


def seal_certificate_pem() -> bytes:
    """The instance's seal certificate (public), for checkers of sealed documents."""
    return seal_identity().cert_pem


def seal_document(pdf: bytes, *, reason: str) -> bytes:
    """`pdf` sealed with the instance's certificate (PAdES B-B)."""
    identity = seal_identity()
    return seal_pdf(pdf, identity.key_pem, identity.cert_pem, reason=reason,
                    location=_instance_name())


def _write_public(path: Path, data: bytes) -> None:
    # A copy of the certificate alone, for operators; written via rename so it is
    # never half-written.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _instance_name() -> str:
    name = db.session.scalar(sa.select(Organization.name).where(
        Organization.kind == "district").order_by(Organization.id).limit(1))
    if name:
        return name
    if has_request_context():
        return request.host.split(":")[0]
    return socket.gethostname()


def check_document(content: bytes) -> dict:
    """What the verification page may say about an uploaded file (plain data).

    Keys: ``sha256``; ``outcome``: ``"issued"`` (a document issued here has exactly
    these bytes), ``"altered"`` (it carries this instance's seal, but its bytes no
    longer match it), or ``"not_found"``; ``document``: the facts about the issued
    document for ``"issued"``, else None (see `_document_facts`); ``seal``: the result
    of `documents.seal.seal_info` against the instance certificate, with
    ``signed_by_this_instance`` added.
    """
    digest = sha256_hex(content)
    identity = seal_identity()
    seal = seal_info(content, identity.cert_pem)
    ours = x509.load_pem_x509_certificate(identity.cert_pem).public_bytes(
        serialization.Encoding.DER)
    seal["signed_by_this_instance"] = seal.pop("signer_cert_der") == ours
    document = db.session.scalar(
        sa.select(AgreementDocument).where(AgreementDocument.sha256 == digest)
        .order_by(AgreementDocument.id).limit(1))
    if document is not None:
        outcome = "issued"
    elif seal["sealed"] and seal["signed_by_this_instance"] and seal["valid"]:
        outcome = "altered"
    else:
        outcome = "not_found"
    logger.info("document check: sha256 %s -> %s", digest, outcome)
    return {"sha256": digest, "outcome": outcome, "seal": seal,
            "document": _document_facts(document) if document is not None else None}


def _document_facts(document: AgreementDocument) -> dict:
    """The agreement, revision, kind, issue time, parties and signatures of `document`.

    Only what the document itself prints: no state, contacts, IPs or user agents.
    """
    agreement = db.session.get(Agreement, document.agreement_id)
    signatures = db.session.scalars(
        sa.select(Signature).where(
            Signature.agreement_id == document.agreement_id,
            Signature.revision == document.revision,
            Signature.state == SignatureState.SIGNED.value)
        .order_by(Signature.signed_at, Signature.id))
    return {
        "agreement_id": agreement.id,
        "title": agreement.title,
        "revision": document.revision,
        "kind": document.kind,
        "issued_at": document.created_at,
        "parties": [{"name": p.organization.name, "role": p.role} for p in agreement.parties],
        "signatures": [
            {"organization": s.organization.name, "name": s.signer_name or "",
             "title": s.signer_title or "", "signed_at": s.signed_at}
            for s in signatures
        ],
    }
