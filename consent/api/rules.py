"""Access rules for enforcers: the signed bundle, the change feed and decisions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, g, jsonify, request

from consent.access import signing
from consent.access.bundle import compile_bundle
from consent.access.decisions import decide_current
from consent.api import bp
from consent.api import schemas as s
from consent.api.spec import operation, query_param
from consent.api.validation import check, json_body
from consent.auth.access import AccessDenied, public
from consent.auth.permissions import is_district_user
from consent.errors import ValidationFailed
from consent.extensions import db
from consent.models import Organization, RulesChange
from consent.timeutil import iso, parse_instant, utcnow

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "access" / "schema" / "rules-bundle.v1.json"
RULE_READERS = ("admin", "legal", "staff")
well_known = Blueprint("well_known", __name__, url_prefix="/.well-known")


def _recipient_for_request(slug: str | None, field: str = "recipient") -> Organization:
    """The recipient named in the request, if the caller may read its rules.

    A client token reads only its own organization; district staff read any; partner
    staff read their own organization.
    """
    principal = g.principal
    if not slug:
        if principal.organization_id is None:
            raise ValidationFailed("name the recipient organization", field=field)
        return db.session.get(Organization, principal.organization_id)
    org = db.session.scalar(sa.select(Organization).where(Organization.slug == slug))
    if org is None:
        raise ValidationFailed(f"no organization '{slug}'", field=field)
    if principal.is_client or not is_district_user(principal.user):
        if org.id != principal.organization_id:
            raise AccessDenied("you may only read your own organization's rules")
    return org


@operation(bp, "/rules/bundle", "GET", summary="The signed rules bundle for one recipient",
           tag="rules", roles=RULE_READERS, clients=True,
           query=[query_param("recipient", "Organization slug (clients: their own)")],
           responses={304: {"description": "Not modified (If-None-Match matched the ETag)"}})
def rules_bundle():
    recipient = _recipient_for_request(request.args.get("recipient"))
    bundle = compile_bundle(recipient, utcnow())
    grants_digest = hashlib.sha256(signing.canonical_json(
        [bundle["version"], bundle["grants"]])).hexdigest()[:32]
    etag = f"v{bundle['version']}-{grants_digest}"
    if request.if_none_match.contains(etag):
        return "", 304, {"ETag": f'"{etag}"'}
    body = {"bundle": bundle, "signature": signing.sign_detached(signing.canonical_json(bundle))}
    response = jsonify(body)
    response.headers["ETag"] = f'"{etag}"'
    response.headers["Cache-Control"] = "no-cache"
    return response


@operation(bp, "/rules/changes", "GET", summary="Rules changes after a version",
           tag="rules", roles=RULE_READERS, clients=True,
           query=[query_param("since", "Version already held", True, {"type": "integer"}),
                  query_param("recipient", "Organization slug (clients: their own)")])
def rules_changes():
    since_text = request.args.get("since", "")
    if not since_text.isdigit():
        raise ValidationFailed("since must be a whole version number", field="since")
    recipient = _recipient_for_request(request.args.get("recipient"))
    rows = db.session.scalars(sa.select(RulesChange).where(
        RulesChange.id > int(since_text),
        sa.or_(RulesChange.recipient_id == recipient.id, RulesChange.recipient_id.is_(None)))
        .order_by(RulesChange.id).limit(1000)).all()
    return {"data": [{"version": r.id, "at": iso(r.at), "subject_type": r.subject_type,
                      "subject_id": r.subject_id, "reason": r.reason} for r in rows],
            "latest": rows[-1].id if rows else int(since_text)}


@operation(bp, "/rules/schema", "GET", summary="The JSON Schema of the rules bundle",
           tag="rules", is_public=True)
def rules_schema():
    return json.loads(SCHEMA_PATH.read_text())


@operation(bp, "/decisions", "POST",
           summary="Permit or deny one request, or a batch as {\"requests\": [...]}",
           tag="rules", roles=RULE_READERS, clients=True, body=s.DECISIONS)
def decisions():
    payload = json_body({"type": "object"})
    if "requests" in payload:
        payload = check(s.DECISIONS["oneOf"][1], payload)
        results = [_decide_one(r, f"requests[{i}].") for i, r in enumerate(payload["requests"])]
        return {"data": results}
    return {"data": _decide_one(check(s.DECISION_REQUEST, payload), "")}


def _decide_one(req: dict, prefix: str) -> dict:
    recipient = _recipient_for_request(req["recipient"], prefix + "recipient")
    try:
        at = parse_instant(req["at"]) if "at" in req else utcnow()
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=prefix + "at") from None
    return decide_current(recipient, req["student"], req["category"], req["purpose"],
                          at).as_dict()


@well_known.get("/jwks.json")
@public
def jwks():
    """The public key that verifies rules bundles."""
    return {"keys": [signing.public_jwk()]}
