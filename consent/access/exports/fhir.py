"""FHIR R4 Consent resources, one per consent-based grant, in a collection Bundle.

Only grants whose basis is `consent` are exported: a disclosure under a FERPA
exception or as directory information rests on no one's consent, and an active
Consent resource would say it did. Each resource permits the recipient
(`provision.actor`, role IRCP) to receive the listed data categories
(`provision.code`) of one student (`patient`, by identifier) for the listed
purposes (`provision.purpose`) during `provision.period`. FHIR periods include
their end, so `period.end` is one microsecond before the grant's exclusive
`valid_until`; every stored instant has microsecond resolution, so the two agree
at every instant. `identifier` lists the consent rows behind the grant, `dateTime`
is when the last of them was given and `performer` who gave them (the student, or
the guardian by roster identifier; paper forms name no one here). The resources
are plain JSON; the tests validate them with the `fhir.resources` R4B models
(R4B's Consent is R4's).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import sqlalchemy as sa

from consent.access.exports import parse_instant, revision
from consent.extensions import db
from consent.models import Agreement, Consent, Guardian, LegalBasis, Organization
from consent.timeutil import iso

PURPOSE_SYSTEM = "urn:accordant:codesystem:purpose"
CATEGORY_SYSTEM = "urn:accordant:codesystem:data-category"
STUDENT_SYSTEM = "urn:accordant:id:student"  # the district's OneRoster sourcedId
GUARDIAN_SYSTEM = "urn:accordant:id:guardian"  # OneRoster sourcedId
ORGANIZATION_SYSTEM = "urn:accordant:id:organization"  # Accordant organization slug
CONSENT_SYSTEM = "urn:accordant:id:consent"  # Accordant consent row id
AGREEMENT_URN = "urn:accordant:agreement:{}"
FERPA = "https://www.ecfr.gov/current/title-34/subtitle-A/part-99"
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_NAMESPACE = uuid.UUID("5b0f9a51-8c34-4c52-9a8e-3f1c7f0f6a11")

SCOPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                     "code": "patient-privacy", "display": "Privacy Consent"}]}
CATEGORY = [{"coding": [{"system": "http://loinc.org", "code": "59284-0",
                         "display": "Patient Consent"}]}]
POLICY_RULE = {"coding": [{"system": FERPA, "code": "99.30",
                           "display": "Prior written consent to disclose education records"}],
               "text": "FERPA, 34 CFR 99.30"}
RECIPIENT_ROLE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                              "code": "IRCP", "display": "information recipient"}]}
DISCLOSE = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction",
                         "code": "disclose", "display": "Disclose"}]}]


def _organization(org: Organization | None, slug: str) -> dict:
    ref = {"type": "Organization",
           "identifier": {"system": ORGANIZATION_SYSTEM, "value": slug}}
    if FHIR_ID.fullmatch(slug):
        ref["reference"] = f"Organization/{slug}"
    if org is not None:
        ref["display"] = org.name
    return ref


def _performers(rows, guardians: dict[int, str], student: str) -> list[dict]:
    out = []
    for row in rows:
        if row.given_as == "student":
            ref = {"type": "Patient", "identifier": {"system": STUDENT_SYSTEM, "value": student}}
        elif row.given_as == "guardian" and row.given_by_user_id in guardians:
            ref = {"type": "RelatedPerson", "identifier": {
                "system": GUARDIAN_SYSTEM, "value": guardians[row.given_by_user_id]}}
        elif row.given_as == "guardian":
            ref = {"type": "RelatedPerson", "display": "guardian"}
        else:  # a paper form recorded by staff: who signed it is on the paper
            continue
        if ref not in out:
            out.append(ref)
    return out


def _resource_id(slug: str, grant: dict) -> str:
    key = "|".join([slug, str(grant["agreement"]), grant["students"][0], *grant["purposes"],
                    grant["valid_from"], grant["valid_until"]])
    return str(uuid.uuid5(_NAMESPACE, key))


def consent_resource(slug: str, grant: dict, facts: dict) -> dict:
    """One Consent resource for one consent-based grant of recipient `slug`."""
    rows = [facts["consents"][c] for c in grant["consents"] if c in facts["consents"]]
    student = grant["students"][0]
    end = parse_instant(grant["valid_until"]) - timedelta(microseconds=1)
    source = facts["agreements"][grant["agreement"]].source_org
    resource = {
        "resourceType": "Consent",
        "id": _resource_id(slug, grant),
        "identifier": [{"system": CONSENT_SYSTEM, "value": str(c)} for c in grant["consents"]],
        "status": "active",
        "scope": SCOPE,
        "category": CATEGORY,
        "patient": {"type": "Patient",
                    "identifier": {"system": STUDENT_SYSTEM, "value": student}},
        "organization": [_organization(source, source.slug)],
        "policy": [{"authority": FERPA, "uri": AGREEMENT_URN.format(grant["agreement"])}],
        "policyRule": POLICY_RULE,
        "provision": {
            "type": "permit",
            "period": {"start": grant["valid_from"], "end": iso(end)},
            "actor": [{"role": RECIPIENT_ROLE,
                       "reference": _organization(facts["organizations"].get(slug), slug)}],
            "action": DISCLOSE,
            "purpose": [{"system": PURPOSE_SYSTEM, "code": p} for p in grant["purposes"]],
            "code": [{"coding": [{"system": CATEGORY_SYSTEM, "code": c}]}
                     for c in grant["categories"]],
        },
    }
    if rows:
        resource["dateTime"] = iso(max(row.granted_at for row in rows))
        performers = _performers(rows, facts["guardians"], student)
        if performers:
            resource["performer"] = performers
    return resource


def _facts(bundles: list[dict]) -> dict:
    """What the resources say beyond the grants: who agreed and when, and names."""
    consent_ids = {c for b in bundles for g in b["grants"] for c in g["consents"]}
    agreement_ids = {g["agreement"] for b in bundles for g in b["grants"]}
    consents = {row.id: row for row in db.session.execute(sa.select(
        Consent.id, Consent.granted_at, Consent.given_as, Consent.given_by_user_id)
        .where(Consent.id.in_(consent_ids)))} if consent_ids else {}
    users = {row.given_by_user_id for row in consents.values() if row.given_by_user_id}
    guardians = dict(db.session.execute(sa.select(Guardian.user_id, Guardian.sourced_id)
                                        .where(Guardian.user_id.in_(users))).all()) if users else {}
    agreements = {a.id: a for a in db.session.scalars(
        sa.select(Agreement).where(Agreement.id.in_(agreement_ids)))} if agreement_ids else {}
    slugs = [b["recipient"] for b in bundles]
    organizations = {o.slug: o for o in db.session.scalars(
        sa.select(Organization).where(Organization.slug.in_(slugs)))} if slugs else {}
    return {"consents": consents, "guardians": guardians, "agreements": agreements,
            "organizations": organizations}


def fhir_bundle(bundles: list[dict]) -> dict:
    """A FHIR Bundle (type collection) of Consent resources for the given bundles."""
    facts = _facts(bundles)
    entries = []
    for bundle in bundles:
        for grant in bundle["grants"]:
            if grant["basis"] != LegalBasis.CONSENT:
                continue
            resource = consent_resource(bundle["recipient"], grant, facts)
            entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
    rev = revision(bundles)
    return {"resourceType": "Bundle", "id": f"accordant-{rev}",
            "identifier": {"system": "urn:accordant:export:fhir", "value": rev},
            "type": "collection", "entry": entries}
