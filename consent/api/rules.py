"""Access rules for enforcers: the signed bundle, the change feed and decisions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify, request

from consent.access import signing
from consent.access.bundle import compile_bundle, issue_times
from consent.access.cache import rules_for
from consent.access.decisions import decide_current
from consent.access.exports import cedar, compile_bundles, export_recipients, fhir, opa
from consent.access.facts import rules_version
from consent.api import bp
from consent.api import schemas as s
from consent.api.spec import operation, query_param
from consent.api.validation import check, check_items, conforms, json_body
from consent.auth.access import AccessDenied, public
from consent.auth.permissions import reads_every_recipient
from consent.errors import ValidationFailed
from consent.extensions import db
from consent.models import Organization, RulesChange
from consent.models.organizations import SLUG_RULE, is_plain_slug
from consent.timeutil import iso, parse_instant, utcnow

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "access" / "schema"
SCHEMAS = {"recipient": SCHEMA_DIR / "rules-bundle.v1.json",
           "district": SCHEMA_DIR / "district-bundle.v1.json"}
RULE_READERS = ("admin", "legal", "staff")
FEED_PAGE = 1000
well_known = Blueprint("well_known", __name__, url_prefix="/.well-known")


def _recipient_for_request(slug: str | None, field: str = "recipient") -> Organization:
    """The recipient named in the request, if the caller may read its rules
    (`reads_every_recipient`)."""
    principal = g.principal
    own = principal.client_organization
    if own is None and principal.organization_id is not None:
        own = db.session.get(Organization, principal.organization_id)
    if not slug:
        if own is None:
            raise ValidationFailed("name the recipient organization", field=field)
        return own
    if own is not None and own.slug == slug:  # the usual case: no second query
        return own
    if not reads_every_recipient(principal):
        # Refused before looking the slug up, so that the answer does not tell which
        # other organizations exist.
        raise AccessDenied("you may only read your own organization's rules", field=field)
    if not is_plain_slug(slug):
        raise ValidationFailed(f"must be an organization slug: {SLUG_RULE}", field=field)
    org = db.session.scalar(sa.select(Organization).where(Organization.slug == slug))
    if org is None:
        raise ValidationFailed(f"no organization '{slug}'", field=field)
    return org


def district_bundle(recipients, now) -> dict:
    """Every recipient's bundle in one document (the district's own export jobs)."""
    bundles = compile_bundles(recipients, now)
    issued, not_after = issue_times(now)
    return {"format": "accordant.district-bundle.v1", "version": rules_version(None),
            "issued_at": iso(issued), "not_after": iso(not_after), "bundles": bundles}


@operation(bp, "/rules/bundle", "GET",
           summary="The signed rules bundle for one recipient (district staff: without "
                   "?recipient, every recipient's in one district bundle)",
           tag="rules", roles=RULE_READERS, clients=True,
           query=[query_param("recipient", "Organization slug (clients: their own)")],
           responses={304: {"description": "Not modified (If-None-Match matched the ETag)"}})
def rules_bundle():
    slug, principal, now = request.args.get("recipient"), g.principal, utcnow()
    if not slug and reads_every_recipient(principal):
        bundle = district_bundle(export_recipients(), now)
        grants = [b["grants"] for b in bundle["bundles"]]
    else:
        bundle = compile_bundle(_recipient_for_request(slug), now)
        grants = bundle["grants"]
    # The issue time is in the tag: a copy kept on a 304 must not be one past its
    # not_after (see `issue_times`).
    grants_digest = hashlib.sha256(signing.canonical_json(
        [bundle["version"], bundle["issued_at"], grants])).hexdigest()[:32]
    etag = f"v{bundle['version']}-{grants_digest}"
    if request.if_none_match.contains_weak(etag):  # If-None-Match compares weakly
        return "", 304, {"ETag": f'"{etag}"'}
    body = {"bundle": bundle, "signature": signing.sign_detached(signing.canonical_json(bundle))}
    response = jsonify(body)
    response.headers["ETag"] = f'"{etag}"'
    response.headers["Cache-Control"] = "no-cache"
    return response


@operation(bp, "/rules/changes", "GET", summary="Rules changes after a version",
           tag="rules", roles=RULE_READERS, clients=True,
           query=[query_param("since", "Version already held", True,
                              {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}),
                  query_param("recipient", "Organization slug (clients: their own)")])
def rules_changes():
    since_text = request.args.get("since", "")
    if not (since_text.isascii() and since_text.isdigit()) or int(since_text) > 2**31 - 1:
        raise ValidationFailed("since must be a whole version number", field="since")
    slug, principal = request.args.get("recipient"), g.principal
    query = sa.select(RulesChange).where(RulesChange.id > int(since_text))
    if not slug and reads_every_recipient(principal):
        scope = None  # the district's feed, like its bundle: every recipient's changes
    else:
        scope = _recipient_for_request(slug).id
        query = query.where(sa.or_(RulesChange.recipient_id == scope,
                                   RulesChange.recipient_id.is_(None)))
    rows = db.session.scalars(query.order_by(RulesChange.id).limit(FEED_PAGE)).all()
    more = len(rows) == FEED_PAGE
    return {"data": [{"version": r.id, "at": iso(r.at), "subject_type": r.subject_type,
                      "subject_id": r.subject_id, "reason": r.reason} for r in rows],
            # Ask again from `latest`: the last change listed while `more`, else the
            # newest version there is (also when `since` was past it).
            "latest": rows[-1].id if more else rules_version(scope), "more": more}


@operation(bp, "/rules/schema", "GET",
           summary="The JSON Schema of the rules bundle (?kind=district for the district's)",
           tag="rules", is_public=True,
           query=[query_param("kind", "recipient (default) or district")])
def rules_schema():
    kind = request.args.get("kind", "recipient")
    if kind not in SCHEMAS:
        raise ValidationFailed("kind is recipient or district", field="kind")
    schema = json.loads(SCHEMAS[kind].read_text())
    if kind == "district":
        # Embed the recipient schema it refers to (by its $id), so that any validator
        # resolves the reference from this one document.
        schema["$defs"] = {**schema.get("$defs", {}),
                           "rules-bundle": json.loads(SCHEMAS["recipient"].read_text())}
    return schema


@operation(bp, "/decisions", "POST",
           summary="Permit or deny one request, or a batch as {\"requests\": [...]}",
           tag="rules", roles=RULE_READERS, clients=True, body=s.DECISIONS, read_only=True)
def decisions():
    payload = json_body(s.OBJECT)
    if "requests" in payload:
        payload = check_items(s.DECISIONS["oneOf"][1], payload, "requests")
        now, rules = utcnow(), {}
        results = [_decide_one(r, f"requests[{i}].", now, rules)
                   for i, r in enumerate(payload["requests"])]
        return _json({"data": results})
    if not conforms(s.DECISION_REQUEST, payload):
        check(s.DECISION_REQUEST, payload)  # names the field at fault
    return _json({"data": _decide_one(payload, "", utcnow(), {})})


# Decisions are encoded in the order `Decision` lists its fields: `jsonify` sorts the
# keys of every object, a tenth of the time of a batch of thousands. Same escaping.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _json(body: dict):
    return current_app.response_class(_encode(body) + "\n", mimetype="application/json")


def _decide_one(req: dict, prefix: str, now, rules: dict) -> dict:
    """One decision; `rules` memoises each recipient's compiled rules for a batch, so a
    batch answers from one consistent rules version."""
    if req["recipient"] not in rules:
        recipient = _recipient_for_request(req["recipient"], prefix + "recipient")
        rules[req["recipient"]] = (recipient, rules_for(recipient, now))
    recipient, compiled = rules[req["recipient"]]
    try:
        at = parse_instant(req["at"]) if "at" in req else now
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=prefix + "at") from None
    return decide_current(recipient, req["student"], req["category"], req["purpose"], at,
                          compiled).as_dict()


@well_known.get("/jwks.json")
@public
def jwks():
    """The public key that verifies rules bundles."""
    return {"keys": [signing.public_jwk()]}


EXPORT_QUERY = [query_param(
    "recipient", "Organization slug. Without it, district staff get every recipient of an "
    "executed agreement; clients and partner staff get their own organization")]


def _export_response(description: str, media_type: str, schema: dict) -> dict:
    return {200: {"description": description, "content": {media_type: {"schema": schema}}},
            304: {"description": "Not modified (If-None-Match matched the ETag)"}}


def _export_bundles() -> list[dict]:
    """The rules bundles an export is compiled from, scoped like the bundle endpoint."""
    slug = request.args.get("recipient")
    principal = g.principal
    if not slug and reads_every_recipient(principal):
        recipients = export_recipients()
    else:
        recipients = [_recipient_for_request(slug)]
    return compile_bundles(recipients, utcnow())


def _not_modified(etag: str):
    if request.if_none_match.contains_weak(etag):  # If-None-Match compares weakly
        return "", 304, {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
    return None


def _json_export(document: dict, mimetype: str = "application/json"):
    etag = hashlib.sha256(signing.canonical_json(document)).hexdigest()[:32]
    unchanged = _not_modified(etag)
    if unchanged:
        return unchanged
    response = jsonify(document)
    response.mimetype = mimetype
    response.headers["ETag"] = f'"{etag}"'
    response.headers["Cache-Control"] = "no-cache"
    return response


@operation(bp, "/exports/opa", "GET", summary="The rules as an Open Policy Agent bundle",
           tag="exports", roles=RULE_READERS, clients=True, query=EXPORT_QUERY,
           responses=_export_response(
               "tar.gz with data.json, policy.rego (package accordant.authz) and .manifest",
               "application/gzip", {"type": "string", "contentMediaType": "application/gzip"}))
def export_opa():
    body, revision = opa.opa_bundle(_export_bundles())
    unchanged = _not_modified(revision)
    if unchanged:
        return unchanged
    return body, 200, {"Content-Type": "application/gzip", "ETag": f'"{revision}"',
                       "Cache-Control": "no-cache",
                       "Content-Disposition": "attachment; filename=accordant-opa-bundle.tar.gz"}


@operation(bp, "/exports/cedar", "GET", summary="The rules as Cedar policies and entities",
           tag="exports", roles=RULE_READERS, clients=True, query=EXPORT_QUERY,
           responses=_export_response(
               "{policies, entities, schema}: one permit per grant", "application/json",
               {"type": "object", "required": ["policies", "entities", "schema"]}))
def export_cedar():
    return _json_export(cedar.cedar_export(_export_bundles()))


@operation(bp, "/exports/fhir", "GET",
           summary="Consent-based grants as a FHIR R4 Bundle of Consent resources",
           tag="exports", roles=RULE_READERS, clients=True, query=EXPORT_QUERY,
           responses=_export_response(
               "A Bundle of type collection", "application/fhir+json",
               {"type": "object", "required": ["resourceType", "type", "entry"]}))
def export_fhir():
    return _json_export(fhir.fhir_bundle(_export_bundles()), "application/fhir+json")
