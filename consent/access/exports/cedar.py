"""Cedar policies and entities: one `permit` per grant, over a record hierarchy.

A request is principal `Accordant::Recipient::"<slug>"`, action
`Accordant::Action::"disclose"`, resource `Accordant::Record::"<student>/<category>"`
and context `{"purpose": code, "time_us": microseconds since the Unix epoch}`.
Each grant becomes an `Accordant::Grant` entity whose members are the records it
covers (every student it lists, in every category it lists), and one policy
permitting the recipient to disclose members of that grant for the grant's
purposes while `valid_from_us <= time_us < valid_until_us`. Microseconds are the
resolution of every stored instant, so the boundaries are exact. Records no grant
covers are absent, and an absent resource matches no policy: deny.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from consent.access.exports import epoch_us, parse_instant, revision

FORMAT = "accordant.cedar.v1"
NAMESPACE = "Accordant"
SCHEMA_PATH = Path(__file__).resolve().parent / "policies" / "accordant.cedarschema.json"


def cedar_string(text: str) -> str:
    """`text` as a Cedar string literal."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def record_id(student: str, category: str) -> str:
    """The id of the resource entity for one student's data in one category."""
    return f"{student}/{category}"


def _uid(kind: str, eid: str) -> dict:
    return {"type": f"{NAMESPACE}::{kind}", "id": eid}


def _policy(slug: str, grant_id: str, grant: dict, start_us: int, end_us: int) -> str:
    purposes = ", ".join(cedar_string(p) for p in grant["purposes"])
    return (
        f"@id({cedar_string(grant_id)})\n"
        f"@agreement({cedar_string(str(grant['agreement']))})\n"
        f"@basis({cedar_string(grant['basis'])})\n"
        f"permit (\n"
        f"  principal == {NAMESPACE}::Recipient::{cedar_string(slug)},\n"
        f"  action == {NAMESPACE}::Action::\"disclose\",\n"
        f"  resource in {NAMESPACE}::Grant::{cedar_string(grant_id)}\n"
        f") when {{\n"
        f"  context.time_us >= {start_us} && context.time_us < {end_us} &&\n"
        f"  [{purposes}].contains(context.purpose)\n"
        f"}};\n")


def schema() -> dict:
    """The Cedar schema (JSON form) the policies and entities conform to."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def cedar_export(bundles: list[dict]) -> dict:
    """{"policies": text, "entities": [...], "schema": {...}} for the given bundles."""
    policies, entities = [], []
    records: dict[tuple[str, str], list[str]] = defaultdict(list)
    for bundle in bundles:
        slug = bundle["recipient"]
        entities.append({"uid": _uid("Recipient", slug), "attrs": {"version": bundle["version"]},
                         "parents": []})
        for n, grant in enumerate(bundle["grants"]):
            grant_id = f"{slug}#{n}"
            start = epoch_us(parse_instant(grant["valid_from"]))
            end = epoch_us(parse_instant(grant["valid_until"]))
            policies.append(_policy(slug, grant_id, grant, start, end))
            entities.append({"uid": _uid("Grant", grant_id), "parents": [], "attrs": {
                "agreement": grant["agreement"], "basis": grant["basis"],
                "exception": grant["exception"], "consents": grant["consents"],
                "purposes": grant["purposes"], "valid_from": grant["valid_from"],
                "valid_until": grant["valid_until"], "valid_from_us": start,
                "valid_until_us": end}})
            for student in grant["students"]:
                for category in grant["categories"]:
                    records[(student, category)].append(grant_id)
    for (student, category), grant_ids in sorted(records.items()):
        entities.append({"uid": _uid("Record", record_id(student, category)),
                         "attrs": {"student": student, "category": category},
                         "parents": [_uid("Grant", g) for g in grant_ids]})
    return {"format": FORMAT, "revision": revision(bundles),
            "versions": {b["recipient"]: b["version"] for b in bundles},
            "policies": "\n".join(policies), "entities": entities, "schema": schema()}
