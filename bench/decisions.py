"""Decisions per second, in process: the compiled rules against Cedar, Rego and the DB.

Every engine answers the same request sample, and every answer is checked against
`decide()` (the database reference): permit/deny and, for a permit, the agreement
named. The number of disagreements must be 0.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa

from bench.common import QueryCounter, best_of, clear_rules_cache, fresh_session
from bench.world import sample_requests
from consent.access.cache import rules_for
from consent.access.decisions import decide, decide_current
from consent.access.exports import cedar, compile_bundles, epoch_us, export_recipients, opa
from consent.extensions import db
from consent.models import Organization, Student
from consent.timeutil import parse_instant

PASSES = 5  # fast loops: median of this many passes
ACTION = 'Accordant::Action::"disclose"'
DECISION_RULE = "data.accordant.authz.decision"


# --------------------------------------------------------------------------- the plain index


def build_index(bundle: dict) -> dict:
    """(student, category, purpose) -> [(valid_from, valid_until, agreement)], from the
    bundle's grants (in the bundle's order, by agreement)."""
    index = defaultdict(list)
    for grant in bundle["grants"]:
        window = (parse_instant(grant["valid_from"]), parse_instant(grant["valid_until"]),
                  grant["agreement"])
        for student in grant["students"]:
            for purpose in grant["purposes"]:
                for category in grant["categories"]:
                    index[(student, category, purpose)].append(window)
    return dict(index)


def index_decide(index: dict, student: str, category: str, purpose: str, at: datetime):
    """(permit?, agreement): the oldest agreement with a window holding `at`."""
    found = [agreement for start, end, agreement in index.get((student, category, purpose), ())
             if start <= at < end]
    return ("permit", min(found)) if found else ("deny", None)


# --------------------------------------------------------------------------- engines


def _cedar_request(slug, student, category, purpose, at) -> dict:
    return {"principal": f'Accordant::Recipient::"{slug}"', "action": ACTION,
            "resource": f'Accordant::Record::"{cedar.record_id(student, category)}"',
            "context": {"purpose": purpose, "time_us": epoch_us(at)}}


def _cedar_answer(result, grant_agreements: dict):
    if not result.allowed:
        return "deny", None
    return "permit", min(grant_agreements[gid] for gid in
                         result.diagnostics.id_annotations_by_reason.values())


def _rego_answer(value: dict):
    return ("permit", value["agreement"]) if value.get("allow") else ("deny", None)


def _opa_files(tarball: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def bench_engines(requests, slugs, now, max_grants: int, cedar_requests: int) -> dict:
    """cedarpy and regorus on the exports of the bundles compiled as of `now`."""
    try:
        import cedarpy
        import regorus
    except ImportError as exc:  # the test extra is not installed
        return {"skipped": f"{exc.name} is not installed (pip install -e '.[test]')"}
    out: dict = {"cedarpy": _version("cedarpy"), "regorus": _version("gordon-to-regorus")}
    started = time.perf_counter()
    bundles = compile_bundles(export_recipients(), now)
    out["setup_bundles_seconds"] = time.perf_counter() - started
    grants = sum(len(b["grants"]) for b in bundles)
    out["export_grants"] = grants
    if grants > max_grants:
        out["skipped"] = (f"the exports hold {grants:,} grants (more than --engine-max-grants "
                          f"{max_grants:,}): Cedar evaluates every policy per request and the "
                          "Rego policy scans every grant, so a pass would take too long")
        return out

    started = time.perf_counter()
    document = cedar.cedar_export(bundles)
    out["setup_cedar_export_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    policies = cedarpy.PolicySet.from_str(document["policies"])
    entities = cedarpy.Entities.from_json_str(json.dumps(document["entities"]),
                                              json.dumps(document["schema"]))
    out["setup_cedar_parse_seconds"] = time.perf_counter() - started
    out["cedar_policies"] = document["policies"].count("permit (")
    out["cedar_entities"] = len(document["entities"])
    grant_agreements = {e["uid"]["id"]: e["attrs"]["agreement"] for e in document["entities"]
                        if e["uid"]["type"] == "Accordant::Grant"}
    # Cedar evaluates every policy for every request (one policy per grant), so it gets
    # the first `cedar_requests` of the sample; its rates are per request all the same.
    cedar_sample = requests[:cedar_requests]
    out["cedar_requests"] = len(cedar_sample)
    # Requests in Cedar's form are built beforehand (the caller's encoding, not the engine).
    cedar_requests = [_cedar_request(slugs[rid], ref, category, purpose, at)
                      for rid, ref, category, purpose, at in cedar_sample]
    # Without the schema Cedar skips validating each request; the answers are the same.
    # The baseline gets the faster configuration.
    cedarpy.is_authorized_batch(cedar_requests[:5], policies, entities)  # warm-up
    started = time.perf_counter()
    results = cedarpy.is_authorized_batch(cedar_requests, policies, entities)
    out["cedar_batch_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    singles = [cedarpy.is_authorized(r, policies, entities) for r in cedar_requests]
    out["cedar_single_seconds"] = time.perf_counter() - started
    answers = {"cedar_batch": [_cedar_answer(r, grant_agreements) for r in results],
               "cedar_single": [_cedar_answer(r, grant_agreements) for r in singles]}
    errors = sum(len(r.diagnostics.errors) for r in results)

    started = time.perf_counter()
    tarball, _revision = opa.opa_bundle(bundles)
    files = _opa_files(tarball)
    out["setup_opa_export_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    engine = regorus.Engine()
    engine.add_policy("policy.rego", files["policy.rego"].decode())
    engine.add_data_json(files["data.json"].decode())
    out["setup_rego_load_seconds"] = time.perf_counter() - started
    out["opa_data_json_bytes"] = len(files["data.json"])
    inputs = [{"recipient": slugs[rid], "student": ref, "category": category,
               "purpose": purpose, "time_ns": epoch_us(at) * 1000}
              for rid, ref, category, purpose, at in requests]

    def ask(value):
        engine.set_input(value)
        return engine.eval_rule(DECISION_RULE)

    ask(inputs[0])  # warm-up
    started = time.perf_counter()
    rego = [ask(value) for value in inputs]
    out["rego_seconds"] = time.perf_counter() - started
    # The conformance tests' way: the input as JSON text.
    started = time.perf_counter()
    for value in inputs[: max(1, len(inputs) // 4)]:
        engine.set_input_json(json.dumps(value))
        engine.eval_rule(DECISION_RULE)
    out["rego_json_input_seconds_per_request"] = (time.perf_counter() - started) / max(
        1, len(inputs) // 4)
    answers["rego"] = [_rego_answer(v) for v in rego]
    out["cedar_errors"] = errors
    out["answers"] = answers
    return out


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- the benchmark


def bench_decisions(app, recipient_ids, n_requests, now, seed, *, engines=True,
                    engine_max_grants=50_000, cedar_requests=300) -> dict:
    fresh_session()
    recipients = {r.id: r for r in db.session.scalars(
        sa.select(Organization).where(Organization.id.in_(recipient_ids)))}
    slugs = {rid: r.slug for rid, r in recipients.items()}
    students = {s.sourced_id: s for s in db.session.scalars(sa.select(Student))}
    requests = sample_requests(recipient_ids, sorted(students), n_requests, now, seed)
    n = len(requests)
    out: dict = {"requests": n}

    # decide(): the database reference. Untimed warm-up, which also counts queries.
    warm = requests[: min(50, n)]
    with QueryCounter(db.engine) as counter:
        for rid, ref, category, purpose, at in warm:
            decide(recipients[rid], students.get(ref), ref, category, purpose, at)
    out["decide_queries_per_decision"] = counter.count / max(len(warm), 1)
    started = time.perf_counter()
    reference = [decide(recipients[rid], students.get(ref), ref, category, purpose, at)
                 for rid, ref, category, purpose, at in requests]
    out["decide_seconds"] = time.perf_counter() - started
    expected = [(d.decision, d.agreement) for d in reference]
    out["permits"] = sum(1 for d, _ in expected if d == "permit")

    # The compiled rules, as the cache holds them (one full compile per recipient).
    clear_rules_cache(app)
    fresh_session()
    recipients = {r.id: r for r in db.session.scalars(
        sa.select(Organization).where(Organization.id.in_(recipient_ids)))}
    started = time.perf_counter()
    compiled = {rid: rules_for(recipients[rid], now) for rid in recipient_ids}
    out["setup_rules_for_seconds"] = time.perf_counter() - started

    # decide_current with the compiled rules in hand: the batch API's path (it fetches
    # each recipient's rules once per batch). No SQL.
    def current_batch():
        return [decide_current(recipients[rid], ref, category, purpose, at, compiled[rid])
                for rid, ref, category, purpose, at in requests]

    current = current_batch()  # warm-up (builds the per-student index) and answers
    out["current_seconds"] = best_of(current_batch, PASSES)
    # decide_current without them: the single-decision API's path, which asks the cache,
    # and so the database for the rules version, on every call.
    with QueryCounter(db.engine) as counter:
        for rid, ref, category, purpose, at in warm:
            decide_current(recipients[rid], ref, category, purpose, at)
    out["current_single_queries_per_decision"] = counter.count / max(len(warm), 1)
    started = time.perf_counter()
    current_single = [decide_current(recipients[rid], ref, category, purpose, at)
                      for rid, ref, category, purpose, at in requests]
    out["current_single_seconds"] = time.perf_counter() - started
    answers = {"decide_current": [(d.decision, d.agreement) for d in current],
               "decide_current_single": [(d.decision, d.agreement) for d in current_single]}

    # A plain dict index over the bundles: what a lookup costs with nothing around it.
    started = time.perf_counter()
    bundles = {rid: compile_bundles([recipients[rid]], now)[0] for rid in recipient_ids}
    indexes = {rid: build_index(bundle) for rid, bundle in bundles.items()}
    out["setup_index_seconds"] = time.perf_counter() - started

    def index_pass():
        return [index_decide(indexes[rid], ref, category, purpose, at)
                for rid, ref, category, purpose, at in requests]

    answers["index"] = index_pass()
    out["index_seconds"] = best_of(index_pass, PASSES)

    if engines:
        engine_out = bench_engines(requests, slugs, now, engine_max_grants, cedar_requests)
        answers.update(engine_out.pop("answers", {}))
        out["engines"] = engine_out
    else:
        out["engines"] = {"skipped": "--no-engines"}

    out["disagreements"], examples = {}, []
    for name, got in answers.items():
        decision_diffs = agreement_diffs = 0
        # zip without strict: Cedar answers a prefix of the sample.
        for request, want, have in zip(requests, expected, got):  # noqa: B905
            if want[0] != have[0]:
                decision_diffs += 1
            elif want != have:
                agreement_diffs += 1
            else:
                continue
            if len(examples) < 10:
                rid, ref, category, purpose, at = request
                examples.append({"engine": name, "recipient": slugs[rid], "student": ref,
                                 "category": category, "purpose": purpose, "at": at.isoformat(),
                                 "decide": list(want), "engine_answer": list(have)})
        out["disagreements"][name] = {"decision": decision_diffs, "agreement": agreement_diffs,
                                      "compared": len(got)}
    out["disagreement_examples"] = examples
    out["total_disagreements"] = sum(d["decision"] + d["agreement"]
                                     for d in out["disagreements"].values())

    def per_second(key):
        return n / out[key] if out.get(key) else None

    out["rates"] = {
        "decide_current": per_second("current_seconds"),
        "decide_current_single": per_second("current_single_seconds"),
        "decide": per_second("decide_seconds"),
        "index": per_second("index_seconds"),
    }
    e = out["engines"]
    if "cedar_batch_seconds" in e:
        out["rates"].update({
            "cedar_batch": e["cedar_requests"] / e["cedar_batch_seconds"],
            "cedar_single": e["cedar_requests"] / e["cedar_single_seconds"],
            "rego": n / e["rego_seconds"],
        })
    return out
