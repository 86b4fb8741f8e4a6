"""Every export answers exactly as `decide()` does, in random worlds, at the boundaries.

Each example builds a world straight through the models: several recipients,
students (some turning 18 while agreements run), agreements on each basis that are
executed, terminated, renewed or amended (a successor may cover other categories,
purposes or schools) or never executed, and consents granted, revoked, superseded
or refused, by guardians or students. It compiles the rules as of now and asks the
same questions of decide(), of the bundle JSON (evaluated here, by its schema's
rule), of Cedar (cedarpy) on the Cedar export, of Rego (regorus) on the OPA
export, and of the FHIR Consent export: at every window boundary, one microsecond
before it, at the start and end of days in the district's zone, at 18th
birthdays, and at random later instants. The bundle covers now and later, so
every question is about an instant from now on.
"""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import cedarpy
import regorus
import sqlalchemy as sa
from fhir.resources.R4B.bundle import Bundle
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from consent.access.decisions import decide
from consent.access.exports import cedar, compile_bundles, epoch_us, export_recipients, fhir, opa
from consent.models import (
    Agreement,
    AgreementParty,
    Consent,
    GrantWindow,
    Organization,
    RulesChange,
    Student,
)

ZONE = ZoneInfo("America/Los_Angeles")  # DISTRICT_TIMEZONE in tests/conftest.py
PURPOSES = ("academic_support", "program_evaluation")
CATEGORIES = ("attendance", "quarterly_grades", "contact")
GRADES = ("09", "10", "11", "12")
BASES = ("consent", "consent", "consent", "school_official", "directory_information", "studies")
US = timedelta(microseconds=1)
SETTINGS = settings(max_examples=25, deadline=None, database=None, report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZONE).astimezone(UTC)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- the independent evaluators ------------------------------------------------------

def answer_from_bundle(grants: list[dict], student, category, purpose, at) -> dict:
    """The bundle schema's rule: some grant lists student, purpose and category and
    valid_from <= at < valid_until; the decision names the oldest such agreement."""
    hits = [g for g in grants if student in g["students"] and purpose in g["purposes"]
            and category in g["categories"]
            and instant(g["valid_from"]) <= at < instant(g["valid_until"])]
    if not hits:
        return {"allow": False}
    first = min(g["agreement"] for g in hits)
    chosen = [g for g in hits if g["agreement"] == first]
    return {"allow": True, "agreement": first, "basis": chosen[0]["basis"],
            "exception": chosen[0]["exception"],
            "consents": sorted({c for g in chosen for c in g["consents"]})}


def answer_from_cedar(result, grant_entities: dict) -> dict:
    if not result.allowed:
        return {"allow": False}
    grants = [grant_entities[gid] for gid in result.diagnostics.id_annotations_by_reason.values()]
    first = min(g["agreement"] for g in grants)
    chosen = [g for g in grants if g["agreement"] == first]
    return {"allow": True, "agreement": first, "basis": chosen[0]["basis"],
            "exception": chosen[0]["exception"],
            "consents": sorted({c for g in chosen for c in g["consents"]})}


def answer_from_fhir(resources: list[dict], slug, student, category, purpose, at) -> dict:
    """Consent resources that permit the request (FHIR periods include their end)."""
    hits = []
    for r in resources:
        p = r["provision"]
        if (r["patient"]["identifier"]["value"] == student
                and any(a["reference"]["identifier"]["value"] == slug for a in p["actor"])
                and purpose in [c["code"] for c in p["purpose"]]
                and category in [cc["coding"][0]["code"] for cc in p["code"]]
                and instant(p["period"]["start"]) <= at <= instant(p["period"]["end"])):
            hits.append(r)
    if not hits:
        return {"allow": False}
    agreement = {r["id"]: int(r["policy"][0]["uri"].rsplit(":", 1)[1]) for r in hits}
    first = min(agreement.values())
    return {"allow": True, "agreement": first, "basis": "consent", "exception": False,
            "consents": sorted({int(i["value"]) for r in hits if agreement[r["id"]] == first
                                for i in r["identifier"]})}


# --- random worlds -------------------------------------------------------------------

@st.composite
def agreement_specs(draw):
    return {
        "basis": draw(st.sampled_from(BASES)),
        "recipients": draw(st.sets(st.integers(0, 2), min_size=1)),
        "purposes": draw(st.sets(st.sampled_from(PURPOSES), min_size=1)),
        "categories": draw(st.sets(st.sampled_from(CATEGORIES), min_size=1)),
        "schools": draw(st.sets(st.integers(0, 1))),  # empty: every school
        "grades": draw(st.one_of(st.just(set()), st.sets(st.sampled_from(GRADES), min_size=2))),
        "start": draw(st.integers(-400, 90)),  # days from today
        "length": draw(st.one_of(st.integers(0, 60), st.integers(300, 800),
                                 st.integers(800, 1400))),
        "executed": draw(st.sampled_from(["yes", "yes", "yes", "terminated", "never"])),
        "lag": draw(st.integers(-90 * 86_400, 30 * 86_400)),  # execution vs start, seconds
        "jitter": draw(st.integers(0, 999_999)),
        "ended_on": draw(st.integers(-120, 400)),
        "successor": draw(st.none() | st.fixed_dictionaries({
            "kind": st.sampled_from(["renewal", "amendment"]),
            "start": st.integers(-60, 60),
            "executed": st.sampled_from([True, True, False]),
            "lag": st.integers(-20 * 86_400, 10 * 86_400),
            "jitter": st.integers(0, 999_999),
            "categories": st.none() | st.sets(st.sampled_from(CATEGORIES), min_size=1),
            "purposes": st.none() | st.sets(st.sampled_from(PURPOSES), min_size=1),
            "schools": st.none() | st.sets(st.integers(0, 1)),
        })),
    }


WORLDS = st.fixed_dictionaries({
    # "Now": any instant of five years (the rules depend on no clock but this one), so
    # that a failing world replays exactly while Hypothesis shrinks it.
    "now": st.integers(0, 5 * 365 * 86_400 * 1_000_000),
    "recipients": st.integers(2, 3),
    "students": st.lists(st.fixed_dictionaries({
        "school": st.integers(0, 1),
        "grade": st.sampled_from(GRADES),
        # turns 18 in `days` (negative: already 18); or 14, 25, unknown, born 29 February
        "birth": st.sampled_from(["turns_18", "turns_18", "young", "adult", "unknown", "leap"]),
        "days": st.integers(-60, 700),
        "opt_out": st.booleans(),
    }), min_size=3, max_size=6),
    "agreements": st.lists(agreement_specs(), min_size=2, max_size=5),
    "consents": st.lists(st.fixed_dictionaries({
        "agreement": st.integers(0, 50), "recipient": st.integers(0, 5),
        "student": st.integers(0, 10), "purpose": st.integers(0, 5), "category": st.integers(0, 5),
        "state": st.sampled_from(["granted", "granted", "granted", "revoked", "refused"]),
        "ago": st.integers(0, 400 * 86_400), "jitter": st.integers(0, 999_999),
        "through": st.integers(0, 900), "ended": st.floats(0, 1),
        "given_as": st.sampled_from(["guardian", "guardian", "student", "paper"]),
    }), min_size=5, max_size=40),
})


def _birth(spec, today: date) -> date | None:
    if spec["birth"] == "unknown":
        return None
    if spec["birth"] == "leap":
        return date(2012, 2, 29)  # 18 on 1 March 2030
    if spec["birth"] in ("young", "adult"):
        return today.replace(year=today.year - (14 if spec["birth"] == "young" else 25), day=1)
    birthday = today + timedelta(days=spec["days"])
    try:
        return birthday.replace(year=birthday.year - 18)
    except ValueError:
        return date(birthday.year - 18, 2, 28)


def _state(executed_at, start, end, ended_on, superseded_at, today) -> str:
    if executed_at is None:
        return "draft"
    if superseded_at is not None:
        return "superseded"
    if ended_on is not None and ended_on <= today:
        return "terminated"
    if end < today:
        return "expired"
    return "active" if start <= today else "executed"


def _add_agreement(db, district, recipients, fields, start, end, executed_at, ended_on,
                   predecessor=None, kind=None):
    agreement = Agreement(
        title="Agreement", state="draft", source_org_id=district.id, legal_basis=fields["basis"],
        purposes=sorted(fields["purposes"]), categories=sorted(fields["categories"]),
        population={"schools": fields["schools"], "grades": sorted(fields["grades"])},
        start_date=start, end_date=end, executed_at=executed_at, ended_on=ended_on,
        predecessor_id=predecessor.id if predecessor else None, successor_kind=kind)
    agreement.parties = [AgreementParty(organization_id=district.id, role="source")] + [
        AgreementParty(organization_id=r.id, role="recipient") for r in recipients]
    db.session.add(agreement)
    db.session.flush()
    return agreement


def build_world(db, spec, now: datetime) -> dict:
    """Write the world to the database; returns its rows."""
    today = now.astimezone(ZONE).date()
    for model in (GrantWindow, Consent, AgreementParty):  # bulk: the rows go with them
        db.session.execute(sa.delete(model))
    db.session.execute(sa.update(Agreement).values(predecessor_id=None))
    for model in (Agreement, Student, Organization):
        db.session.execute(sa.delete(model))
    district = Organization(name="District", slug="district", kind="district")
    db.session.add(district)
    db.session.flush()
    schools = [Organization(name=f"School {i}", slug=f"school-{i}", kind="school",
                            parent_id=district.id) for i in range(2)]
    recipients = [Organization(name=f"Partner {i}", slug=f"partner-{i}", kind="nonprofit")
                  for i in range(spec["recipients"])]
    db.session.add_all(schools + recipients)
    db.session.flush()
    students = [Student(sourced_id=f"S-{i}", given_name="Student", family_name=str(i),
                        birth_date=_birth(s, today), grade=s["grade"],
                        school_id=schools[s["school"]].id, directory_opt_out=s["opt_out"])
                for i, s in enumerate(spec["students"])]
    db.session.add_all(students)
    agreements = []
    for a in spec["agreements"]:
        fields = {**a, "schools": [schools[i].id for i in sorted(a["schools"])],
                  "recipients": [recipients[i] for i in sorted({
                      i % len(recipients) for i in a["recipients"]})]}
        start = today + timedelta(days=a["start"])
        end = start + timedelta(days=a["length"])
        executed_at = None
        if a["executed"] != "never":
            executed_at = min(day_start(start) + timedelta(seconds=a["lag"], microseconds=a[
                "jitter"]), now - timedelta(microseconds=a["jitter"]))
        ended_on = today + timedelta(days=a["ended_on"]) if a["executed"] == "terminated" else None
        row = _add_agreement(db, district, fields["recipients"], fields, start, end, executed_at,
                             ended_on)
        agreements.append(row)
        s = a["successor"]
        if s is None or executed_at is None or ended_on is not None:
            continue
        if s["kind"] == "renewal":
            s_start = end + timedelta(days=1)
            s_end = s_start + (end - start)
        else:
            s_start, s_end = max(start, today + timedelta(days=s["start"])), end
            if s_start > s_end:  # nothing left of the term to amend
                continue
        s_fields = {**fields, **{k: s[k] for k in ("categories", "purposes") if s[k]}}
        if s["schools"] is not None:
            s_fields["schools"] = [schools[i].id for i in sorted(s["schools"])]
        s_executed = None
        if s["executed"]:
            s_executed = max(executed_at, min(
                day_start(s_start) + timedelta(seconds=s["lag"], microseconds=s["jitter"]),
                now - timedelta(microseconds=s["jitter"])))
        successor = _add_agreement(db, district, fields["recipients"], s_fields, s_start, s_end,
                                   s_executed, None, row, s["kind"])
        agreements.append(successor)
        if s_executed is not None and s_start <= today:  # it took over: activate() ran
            row.superseded_at = max(day_start(s_start), s_executed)
    for row in agreements:
        row.state = _state(row.executed_at, row.start_date, row.end_date, row.ended_on,
                           row.superseded_at, today)
    db.session.flush()
    consents = _add_consents(db, spec["consents"], agreements, students, now)
    # Every change to the rules writes a RulesChange row; so does this world.
    db.session.add(RulesChange(at=now, recipient_id=None, subject_type="agreement",
                               subject_id=0, reason="test_world"))
    db.session.commit()
    return {"recipients": recipients, "students": students, "agreements": agreements,
            "consents": consents}


def _add_consents(db, specs, agreements, students, now):
    open_for_consent = [a for a in agreements if a.legal_basis == "consent" and a.executed_at]
    if not open_for_consent:
        return []
    rows, last_granted = [], {}
    for c in sorted(specs, key=lambda c: -c["ago"]):  # oldest first
        agreement = open_for_consent[c["agreement"] % len(open_for_consent)]
        recipient_ids = sorted(agreement.recipient_ids)
        student = students[c["student"] % len(students)]
        purposes, categories = sorted(agreement.purposes), sorted(agreement.categories)
        granted_at = max(agreement.executed_at, now - timedelta(seconds=c["ago"],
                                                                microseconds=c["jitter"]))
        valid_from = granted_at.astimezone(ZONE).date()
        valid_through = max(valid_from, min(agreement.end_date,
                                            valid_from + timedelta(days=c["through"])))
        row = Consent(student_id=student.id, agreement_id=agreement.id,
                      recipient_id=recipient_ids[c["recipient"] % len(recipient_ids)],
                      purpose=purposes[c["purpose"] % len(purposes)],
                      category=categories[c["category"] % len(categories)],
                      state=c["state"], valid_from=valid_from, valid_through=valid_through,
                      given_as=c["given_as"],
                      granted_at=None if c["state"] == "refused" else granted_at)
        if c["state"] == "revoked":
            row.ended_at = granted_at + (now - granted_at) * c["ended"]
        if c["state"] == "granted":
            # Granting again supersedes the consent granted before, as the service does.
            root = min(_lineage(agreement))
            key = (row.student_id, row.recipient_id, root, row.purpose, row.category)
            earlier = last_granted.get(key)
            if earlier is not None:
                earlier.state, earlier.ended_at = "superseded", granted_at
            last_granted[key] = row
        rows.append(row)
    db.session.add_all(rows)
    db.session.flush()
    return rows


def _lineage(agreement) -> set[int]:
    ids = set()
    while agreement is not None:
        ids.add(agreement.id)
        agreement = agreement.predecessor
    return ids


# --- questions -----------------------------------------------------------------------

def majority(birth: date | None) -> datetime | None:
    if birth is None:
        return None
    try:
        return day_start(birth.replace(year=birth.year + 18))
    except ValueError:
        return day_start(date(birth.year + 18, 3, 1))


def boundary_instants(world, bundles) -> list[tuple[datetime, list[tuple]]]:
    """Instants where an answer may change, each with requests it matters to."""
    slug_of = {r.id: r.slug for r in world["recipients"]}
    sid_of = {s.id: s.sourced_id for s in world["students"]}
    out = []
    for bundle in bundles:
        for g in bundle["grants"]:
            requests = [(bundle["recipient"], sid, category, purpose)
                        for sid in g["students"][:2] for category in g["categories"]
                        for purpose in g["purposes"]]
            start, end = instant(g["valid_from"]), instant(g["valid_until"])
            out += [(start, requests), (start - US, requests), (end, requests),
                    (end - US, requests), (start + (end - start) / 2, requests)]
    for a in world["agreements"]:
        requests = [(slug_of[r], sid, category, purpose) for r in sorted(a.recipient_ids)
                    for sid in list(sid_of.values())[:2] for category in a.categories[:1]
                    for purpose in a.purposes[:1]]
        days = [a.start_date, a.end_date + timedelta(days=1)] + ([a.ended_on] if a.ended_on
                                                                  else [])
        for at in [day_start(d) for d in days] + [a.executed_at, a.superseded_at]:
            if at is not None:
                out += [(at, requests), (at - US, requests)]
    for c in world["consents"]:
        requests = [(slug_of[c.recipient_id], sid_of[c.student_id], c.category, c.purpose)]
        for at in (day_start(c.valid_from), day_start(c.valid_through + timedelta(days=1)),
                   c.granted_at, c.ended_at):
            if at is not None:
                out += [(at, requests), (at - US, requests)]
    for s in world["students"]:
        at = majority(s.birth_date)
        if at is not None:
            requests = [(slug_of[c.recipient_id], s.sourced_id, c.category, c.purpose)
                        for c in world["consents"] if c.student_id == s.id]
            out += [(at, requests), (at - US, requests)]
    return out


def questions(world, bundles, now, rnd) -> list[tuple]:
    """(recipient, student, category, purpose, instant) to ask every engine."""
    slugs = [r.slug for r in world["recipients"]]
    sids = [s.sourced_id for s in world["students"]] + ["S-unknown"]
    categories, purposes = [*CATEGORIES, "behavior"], [*PURPOSES, "recreation"]
    instants = [(now, [])] + boundary_instants(world, bundles)
    instants += [(now + timedelta(seconds=rnd.randrange(0, 900 * 86_400),
                                  microseconds=rnd.randrange(0, 1_000_000)), [])
                 for _ in range(10)]
    pool = sorted({r for _, requests in instants for r in requests})
    asked = set()
    for at, requests in instants:
        if at < now:
            continue
        picks = rnd.sample(requests, min(len(requests), 4))
        picks += rnd.sample(pool, min(len(pool), 2))
        picks.append((rnd.choice(slugs), rnd.choice(sids), rnd.choice(categories),
                      rnd.choice(purposes)))
        asked.update((*pick, at) for pick in picks)
    return sorted(asked, key=lambda q: (q[4], q[:4]))


# --- the engines ---------------------------------------------------------------------

def rego_engine(tarball: bytes):
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert sorted(files) == [".manifest", "data.json", "policy.rego"]
    manifest = json.loads(files[".manifest"])
    assert manifest["roots"] == ["accordant"] and manifest["revision"]
    engine = regorus.Engine()
    engine.add_policy("policy.rego", files["policy.rego"].decode())
    engine.add_data_json(files["data.json"].decode())
    return engine


def ask_rego(engine, slug, student, category, purpose, at, extra_ns=0) -> dict:
    engine.set_input_json(json.dumps({"recipient": slug, "student": student,
                                      "category": category, "purpose": purpose,
                                      "time_ns": epoch_us(at) * 1000 + extra_ns}))
    return engine.eval_rule("data.accordant.authz.decision")


@SETTINGS
@given(spec=WORLDS, rnd=st.randoms(use_true_random=False))
def test_every_export_answers_as_decide_does(db, make, spec, rnd):
    db.session.rollback()  # after a failed example, while Hypothesis shrinks
    make.categories()
    now = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(microseconds=spec["now"])
    world = build_world(db, spec, now)
    bundles = compile_bundles(export_recipients(), now)
    by_slug = {b["recipient"]: b for b in bundles}

    tarball, _ = opa.opa_bundle(bundles)
    engine = rego_engine(tarball)
    cedar_doc = cedar.cedar_export(bundles)
    assert cedarpy.validate_policies(cedar_doc["policies"], cedar_doc["schema"]).validation_passed
    policies = cedarpy.PolicySet.from_str(cedar_doc["policies"])
    grant_entities = {e["uid"]["id"]: e["attrs"] for e in cedar_doc["entities"]
                      if e["uid"]["type"] == "Accordant::Grant"}
    fhir_doc = fhir.fhir_bundle(bundles)
    Bundle.model_validate(fhir_doc)
    resources = [e["resource"] for e in fhir_doc["entry"]]

    organizations = {r.slug: r for r in world["recipients"]}
    students = {s.sourced_id: s for s in world["students"]}
    asked = questions(world, bundles, now, rnd)
    cedar_results = cedarpy.is_authorized_batch([{
        "principal": f'Accordant::Recipient::"{slug}"', "action": 'Accordant::Action::"disclose"',
        "resource": f'Accordant::Record::"{cedar.record_id(sid, category)}"',
        "context": {"purpose": purpose, "time_us": epoch_us(at)}}
        for slug, sid, category, purpose, at in asked], policies, cedar_doc["entities"],
        cedar_doc["schema"])
    permits = 0
    for (slug, sid, category, purpose, at), cedar_result in zip(asked, cedar_results,
                                                                 strict=True):
        where = f"{slug} {sid} {category} {purpose} at {at.isoformat()}"
        d = decide(organizations[slug], students.get(sid), sid, category, purpose, at)
        bundle = by_slug.get(slug, {"grants": [], "version": None})
        expected = answer_from_bundle(bundle["grants"], sid, category, purpose, at)
        # decide() and the bundle
        assert expected["allow"] == (d.decision == "permit"), (where, d, expected)
        if d.decision == "permit":
            permits += 1
            assert (d.agreement, d.basis, d.exception) == (
                expected["agreement"], expected["basis"], expected["exception"]), (where, d)
            assert (d.consent in expected["consents"]) if d.basis == "consent" else (
                d.consent is None and expected["consents"] == []), (where, d, expected)
            assert d.bundle_version == bundle["version"], where
        # Rego, on the OPA bundle (also a nanosecond past the microsecond asked about)
        for extra_ns in (0, 999):
            rego = ask_rego(engine, slug, sid, category, purpose, at, extra_ns)
            version = rego.pop("version", bundle["version"])
            assert (rego, version) == (expected, bundle["version"]), (where, extra_ns)
        # Cedar
        assert cedar_result.diagnostics.errors == [], where
        assert answer_from_cedar(cedar_result, grant_entities) == expected, where
        # FHIR Consent resources: the consent-based grants only
        consent_grants = [g for g in bundle["grants"] if g["basis"] == "consent"]
        assert answer_from_fhir(resources, slug, sid, category, purpose, at) == \
            answer_from_bundle(consent_grants, sid, category, purpose, at), where
    event("questions permitted", permits * 10 // len(asked) * 10)  # in %, for statistics
