"""Access-rule benchmarks: decisions, bundle compilation and revocation latency.

Run with ``.venv/bin/python -m bench.run [--students N] [--recipients R] [--out FILE]``.
Not part of the test suite: nothing here is a timed assertion. Every number is printed
next to a baseline measured in the same run, on the same database. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from consent import create_app
from consent.access.bundle import compile_bundle
from consent.access.decisions import decide
from consent.access.facts import rules_version
from consent.config import normalise_db_url
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementParty,
    Consent,
    DataCategory,
    Guardian,
    Organization,
    RulesChange,
    Student,
    StudentGuardian,
)
from consent.timeutil import local_date, parse_instant, utcnow

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
CATEGORIES = {
    "demographics": ["student_id", "birth_date", "gender", "ethnicity", "home_language"],
    "contact": ["address", "phone", "guardian_email"],
    "success_indicators": ["chronic_absence_flag", "on_track_flag"],
    "quarterly_grades": ["course_code", "term", "mark"],
    "attendance": ["date", "status"],
    "behavior": ["incident_date", "incident_type", "action_taken"],
}
CONSENT_CATEGORIES = ["attendance", "behavior", "quarterly_grades"]
CONSENT_PURPOSE = "academic_support"
EXCEPTION_CATEGORIES = ["demographics", "success_indicators"]
EXCEPTION_PURPOSE = "program_operations"
REQUEST_PURPOSES = [CONSENT_PURPOSE, EXCEPTION_PURPOSE, "program_evaluation"]
SCHOOLS = 4
GRANT_SHARE = 0.6
BASELINE_PASSES = 5


# --------------------------------------------------------------------------- database


@contextlib.contextmanager
def database(tmp: Path):
    """(url, engine options, label): a SQLite file in `tmp`, or a throwaway PostgreSQL
    schema in DATABASE_URL that is dropped on the way out."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp / 'bench.sqlite'}", {}, "sqlite (temporary file)"
        return
    url = normalise_db_url(url)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url, {"connect_args": {"options": f"-csearch_path={schema}"}}, \
            f"postgresql (throwaway schema {schema})"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


class QueryCounter:
    """Counts SQL statements sent while active (used only in untimed passes)."""

    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def _hit(self, *_args):
        self.count += 1

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *_exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._hit)


# --------------------------------------------------------------------------- the world


def _grade_for(birth: date, today: date) -> str:
    age = (today - birth).days // 365
    return "KG" if age <= 5 else f"{min(max(age - 5, 1), 12):02d}"


def build_world(n_students: int, n_recipients: int, now: datetime, seed: int) -> dict:
    """A district, its schools, recipients, students with guardians, agreements and
    consents, inserted in bulk through the ORM. State is set directly (a fixture, not
    a workflow): agreements are active with executed_at, consents granted."""
    rng = random.Random(seed)
    today = local_date(now)
    session = db.session

    session.add_all(DataCategory(code=code, name=code.replace("_", " ").title(),
                                 fields=fields, is_directory=False)
                    for code, fields in CATEGORIES.items())
    district = Organization(slug="bench-district", name="Bench Unified School District",
                            kind="district")
    session.add(district)
    session.flush()
    schools = [Organization(slug=f"bench-school-{i}", name=f"Bench School {i}", kind="school",
                            parent_id=district.id) for i in range(1, SCHOOLS + 1)]
    recipients = [Organization(slug=f"partner-{i}", name=f"Partner {i}", kind="nonprofit")
                  for i in range(1, n_recipients + 1)]
    session.add_all(schools + recipients)
    session.flush()
    school_ids = [s.id for s in schools]

    students = []
    for i in range(n_students):
        # Ages 5 to 19: some students turn 18 inside the sampled year (guardian consents
        # lapse then) and some are already adults who consent for themselves.
        birth = today - timedelta(days=rng.randint(5 * 365, 19 * 365))
        students.append({"sourced_id": f"S-{i:07d}", "given_name": f"Given{i}",
                         "family_name": f"Family{i % 997}", "birth_date": birth,
                         "grade": _grade_for(birth, today), "school_id": rng.choice(school_ids),
                         "directory_opt_out": rng.random() < 0.05, "created_at": now})
    session.execute(sa.insert(Student), students)
    session.execute(sa.insert(Guardian), [
        {"sourced_id": f"G-{i:07d}", "given_name": f"Parent{i}", "family_name": f"Family{i % 997}",
         "email": f"parent{i}@family.example", "created_at": now} for i in range(n_students)])
    student_ids = dict(session.execute(sa.select(Student.sourced_id, Student.id)).all())
    guardian_ids = dict(session.execute(
        sa.select(Guardian.sourced_id, Guardian.id)).all())
    session.execute(sa.insert(StudentGuardian), [
        {"student_id": student_ids[f"S-{i:07d}"], "guardian_id": guardian_ids[f"G-{i:07d}"],
         "relationship_kind": "guardian", "has_educational_rights": True}
        for i in range(n_students)])

    executed_at = now - timedelta(days=30)
    consent_agreements, exception_agreements = {}, {}
    for recipient in recipients:
        def parties(recipient=recipient):
            return [AgreementParty(organization_id=district.id, role="source", signing_group=1),
                    AgreementParty(organization_id=recipient.id, role="recipient",
                                   signing_group=2)]

        common = dict(state="active", source_org_id=district.id, executed_at=executed_at,
                      scope_description="Synthetic benchmark population",
                      use_limitation="Benchmark only.", no_reidentification=True,
                      retention_days=365, destruction_days=30, created_at=executed_at)
        consent_agreement = Agreement(
            title=f"{recipient.name} academic support MOU", legal_basis="consent",
            purposes=[CONSENT_PURPOSE], categories=list(CONSENT_CATEGORIES),
            population={"schools": [], "grades": []},
            start_date=today - timedelta(days=30), end_date=today + timedelta(days=335),
            parties=parties(), **common)
        # Ends inside the sampled year and covers half the schools, so time and
        # population both decide some requests.
        exception_agreement = Agreement(
            title=f"{recipient.name} school-official services agreement",
            legal_basis="school_official", purposes=[EXCEPTION_PURPOSE],
            categories=list(EXCEPTION_CATEGORIES),
            population={"schools": school_ids[: SCHOOLS // 2], "grades": []},
            start_date=today - timedelta(days=60), end_date=today + timedelta(days=180),
            parties=parties(), **common)
        session.add_all([consent_agreement, exception_agreement])
        session.flush()
        consent_agreements[recipient.id] = consent_agreement
        exception_agreements[recipient.id] = exception_agreement
        for agreement in (consent_agreement, exception_agreement):
            session.add(RulesChange(at=executed_at, recipient_id=recipient.id,
                                    subject_type="agreement", subject_id=agreement.id,
                                    reason="activated"))
    session.flush()

    consents, decided = [], []  # decided: (index into consents, event reason, at)
    birth_by_id = {student_ids[s["sourced_id"]]: s["birth_date"] for s in students}
    for recipient in recipients:
        agreement = consent_agreements[recipient.id]
        for student_id, birth in birth_by_id.items():
            roll = rng.random()
            if roll >= GRANT_SHARE + 0.1:
                continue  # never answered
            granted_at = executed_at + timedelta(days=rng.uniform(0, 25))
            adult = (local_date(granted_at) - birth).days >= 18 * 365 + 4
            through = (agreement.end_date if rng.random() < 0.85
                       else today + timedelta(days=rng.randint(30, 300)))
            row = {"student_id": student_id, "agreement_id": agreement.id,
                   "recipient_id": recipient.id, "purpose": CONSENT_PURPOSE,
                   "valid_from": local_date(granted_at), "valid_through": through,
                   "given_as": "student" if adult else "guardian", "created_at": granted_at,
                   "version_id": 1}
            categories = (CONSENT_CATEGORIES if rng.random() < 0.9
                          else rng.sample(CONSENT_CATEGORIES, 2))
            if roll < GRANT_SHARE:
                state, ended_at, granted, reason = "granted", None, granted_at, "consent_granted"
            elif roll < GRANT_SHARE + 0.05:
                state, granted, reason = "revoked", granted_at, "consent_revoked"
                ended_at = granted_at + timedelta(days=rng.uniform(0.5, 4))
            else:
                state, ended_at, granted, reason = "refused", None, None, None
            for category in categories:
                consents.append({**row, "category": category, "state": state,
                                 "granted_at": granted, "ended_at": ended_at})
                if reason:
                    decided.append((len(consents) - 1, reason, ended_at or granted_at))
    session.execute(sa.insert(Consent), consents)
    # The services write one RulesChange per consent row granted or revoked: do the same,
    # so rules_version() runs against a realistically sized table.
    consent_ids = session.scalars(sa.select(Consent.id).order_by(Consent.id)).all()
    session.execute(sa.insert(RulesChange), [
        {"at": at, "recipient_id": consents[i]["recipient_id"], "subject_type": "consent",
         "subject_id": consent_ids[i], "reason": reason} for i, reason, at in decided])
    session.commit()
    counts = {table.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(table))
              for table in (Student, Guardian, Organization, Agreement, Consent, RulesChange)}
    counts["consents_granted"] = session.scalar(
        sa.select(sa.func.count()).select_from(Consent).where(Consent.state == "granted"))
    return {"recipient_ids": [r.id for r in recipients], "counts": counts}


# --------------------------------------------------------------------------- baseline


def build_index(bundle: dict) -> dict:
    """(student, category, purpose) -> [(valid_from, valid_until)], from the bundle's grants."""
    index = defaultdict(list)
    for grant in bundle["grants"]:
        window = (parse_instant(grant["valid_from"]), parse_instant(grant["valid_until"]))
        for student in grant["students"]:
            for purpose in grant["purposes"]:
                for category in grant["categories"]:
                    index[(student, category, purpose)].append(window)
    return dict(index)


def index_decide(index: dict, student: str, category: str, purpose: str, at: datetime) -> str:
    for start, end in index.get((student, category, purpose), ()):
        if start <= at < end:
            return "permit"
    return "deny"


# --------------------------------------------------------------------------- benchmarks


def _median(values):
    return statistics.median(values)


def _fresh_session():
    """Like a new request: nothing left in the identity map."""
    db.session.remove()


def sample_requests(recipient_ids, sourced_ids, n, now, seed):
    rng = random.Random(seed + 1)
    requests = []
    for _ in range(n):
        student = ("S-unknown" if rng.random() < 0.01 else rng.choice(sourced_ids))
        at = now + timedelta(seconds=rng.uniform(0, 365 * 86400))
        kind = rng.random()
        if kind < 0.6:  # what the consent agreements cover
            category, purpose = rng.choice(CONSENT_CATEGORIES), CONSENT_PURPOSE
        elif kind < 0.85:  # what the school-official agreements cover
            category, purpose = rng.choice(EXCEPTION_CATEGORIES), EXCEPTION_PURPOSE
        else:  # anything, including a category and a purpose nobody granted
            category, purpose = rng.choice(list(CATEGORIES)), rng.choice(REQUEST_PURPOSES)
        requests.append((rng.choice(recipient_ids), student, category, purpose, at))
    return requests


def bench_decisions(recipient_ids, n_requests, now, seed) -> dict:
    _fresh_session()
    recipients = {r.id: r for r in db.session.scalars(
        sa.select(Organization).where(Organization.id.in_(recipient_ids)))}
    students = {s.sourced_id: s for s in db.session.scalars(sa.select(Student))}
    requests = sample_requests(recipient_ids, sorted(students), n_requests, now, seed)

    # Untimed warm-up, which also counts the queries one decision costs.
    warm = requests[: min(50, len(requests))]
    with QueryCounter(db.engine) as counter:
        for rid, ref, category, purpose, at in warm:
            decide(recipients[rid], students.get(ref), ref, category, purpose, at)
    queries_per_decision = counter.count / max(len(warm), 1)

    started = time.perf_counter()
    decided = [decide(recipients[rid], students.get(ref), ref, category, purpose, at).decision
               for rid, ref, category, purpose, at in requests]
    decide_seconds = time.perf_counter() - started

    started = time.perf_counter()
    bundles = {rid: compile_bundle(recipients[rid], now) for rid in recipient_ids}
    compile_seconds = time.perf_counter() - started
    started = time.perf_counter()
    indexes = {rid: build_index(bundle) for rid, bundle in bundles.items()}
    index_seconds = time.perf_counter() - started

    # The index loop is so fast that one pass is at the timer's mercy: take the
    # median of BASELINE_PASSES passes.
    passes = []
    for _ in range(BASELINE_PASSES):
        started = time.perf_counter()
        baseline = [index_decide(indexes[rid], ref, category, purpose, at)
                    for rid, ref, category, purpose, at in requests]
        passes.append(time.perf_counter() - started)
    baseline_seconds = _median(passes)

    disagreements = [
        {"recipient": rid, "student": ref, "category": category, "purpose": purpose,
         "at": at.isoformat(), "decide": d, "bundle": b}
        for (rid, ref, category, purpose, at), d, b in zip(requests, decided, baseline,
                                                           strict=True) if d != b]
    return {
        "requests": len(requests),
        "permits": decided.count("permit"),
        "decide_seconds": decide_seconds,
        "decide_per_second": len(requests) / decide_seconds,
        "decide_queries_per_decision": queries_per_decision,
        "baseline_seconds": baseline_seconds,
        "baseline_per_second": len(requests) / baseline_seconds,
        "baseline_setup_compile_seconds": compile_seconds,
        "baseline_setup_index_seconds": index_seconds,
        "baseline_index_keys": sum(len(i) for i in indexes.values()),
        "disagreements": len(disagreements),
        "disagreement_examples": disagreements[:10],
    }


def _select_consent_rows(recipient_id):
    table = Consent.__table__
    return [tuple(row) for row in db.session.execute(sa.select(*table.columns).where(
        table.c.recipient_id == recipient_id))]


def _compile_for(recipient_id, now=None):
    return compile_bundle(db.session.get(Organization, recipient_id), now or utcnow())


def _timed(fn, repeats):
    times = []
    for _ in range(repeats):
        _fresh_session()
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def _peak_memory(fn):
    _fresh_session()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def bench_compile(recipient_id, repeats) -> dict:
    _compile_for(recipient_id)  # warm-up (statement caches, mappers)
    _select_consent_rows(recipient_id)
    compile_times, bundle = _timed(lambda: _compile_for(recipient_id), repeats)
    select_times, rows = _timed(lambda: _select_consent_rows(recipient_id), repeats)
    compile_peak, _ = _peak_memory(lambda: _compile_for(recipient_id))
    select_peak, _ = _peak_memory(lambda: _select_consent_rows(recipient_id))
    _fresh_session()
    with QueryCounter(db.engine) as counter:
        _compile_for(recipient_id)
    return {
        "recipient_id": recipient_id,
        "grants": len(bundle["grants"]),
        "bundle_json_bytes": len(json.dumps(bundle, separators=(",", ":"))),
        "consent_rows": len(rows),
        "compile_queries": counter.count,
        "repeats": repeats,
        "compile_seconds_median": _median(compile_times),
        "compile_seconds_min": min(compile_times),
        "compile_peak_bytes": compile_peak,
        "baseline_select_seconds_median": _median(select_times),
        "baseline_select_seconds_min": min(select_times),
        "baseline_select_peak_bytes": select_peak,
    }


def _bundle_consent_ids(bundle) -> set[int]:
    return {cid for grant in bundle["grants"] for cid in grant["consents"]}


def bench_revocation(recipient_id, count, seed) -> dict:
    """Revoke `count` granted consents one at a time; each time, compile the next bundle
    and check that it no longer lists the consent and carries the new version."""
    _fresh_session()
    in_force = sorted(_bundle_consent_ids(_compile_for(recipient_id)))
    chosen = random.Random(seed + 2).sample(in_force, min(count, len(in_force)))
    rows = []
    for consent_id in chosen:
        # Baseline: the same compile, with no change, just before the revocation.
        _fresh_session()
        started = time.perf_counter()
        before = _compile_for(recipient_id)
        unchanged_seconds = time.perf_counter() - started

        _fresh_session()
        started = time.perf_counter()
        consent = db.session.get(Consent, consent_id)
        now = utcnow()
        consent.state, consent.ended_at = "revoked", now
        change = RulesChange(at=now, recipient_id=recipient_id, subject_type="consent",
                             subject_id=consent_id, reason="consent_revoked")
        db.session.add(change)
        db.session.flush()
        version = change.id
        db.session.commit()
        written = time.perf_counter()
        _fresh_session()
        after = _compile_for(recipient_id)
        done = time.perf_counter()

        consent = db.session.get(Consent, consent_id)
        student = db.session.get(Student, consent.student_id)
        decision = decide(db.session.get(Organization, recipient_id), student,
                          student.sourced_id, consent.category, consent.purpose, utcnow())
        rows.append({
            "consent_id": consent_id,
            "write_seconds": written - started,
            "compile_seconds": done - written,
            "total_seconds": done - started,
            "baseline_unchanged_compile_seconds": unchanged_seconds,
            "reflected": (consent_id in _bundle_consent_ids(before)
                          and consent_id not in _bundle_consent_ids(after)
                          and after["version"] == version > before["version"]
                          and rules_version(recipient_id) == version),
            "decide_denies_after": decision.decision == "deny",
        })
    return {
        "revocations": len(rows),
        "all_reflected": all(r["reflected"] for r in rows),
        "decide_denies_after_all": all(r["decide_denies_after"] for r in rows),
        "write_seconds_median": _median([r["write_seconds"] for r in rows]),
        "compile_seconds_median": _median([r["compile_seconds"] for r in rows]),
        "total_seconds_median": _median([r["total_seconds"] for r in rows]),
        "baseline_unchanged_compile_seconds_median": _median(
            [r["baseline_unchanged_compile_seconds"] for r in rows]),
        "runs": rows,
    }


# --------------------------------------------------------------------------- report


def _ms(seconds):
    return f"{seconds * 1000:,.1f} ms"


def _mib(n):
    return f"{n / 2**20:,.2f} MiB"


def _rate(n):
    return f"{n:,.0f} /s"


def print_report(result: dict) -> None:
    cfg, d, c, r = result["config"], result["decisions"], result["compile"], result["revocation"]
    print(f"\nAccordant access-rules benchmark: {cfg['students']:,} students, "
          f"{cfg['recipients']} recipients, {cfg['database']}")
    counts = result["world"]["counts"]
    print(f"world: {counts['consents']:,} consent rows ({counts['consents_granted']:,} granted), "
          f"{counts['rules_changes']:,} rules changes; built in {result['world']['seconds']:.1f} s")
    rows = [
        ("benchmark", "measured", "baseline", "measured/baseline"),
        ("decisions/s: decide() vs bundle index", _rate(d["decide_per_second"]),
         _rate(d["baseline_per_second"]),
         f"{d['baseline_per_second'] / d['decide_per_second']:,.0f}x slower"),
        ("  disagreements (must be 0)", f"{d['disagreements']} of {d['requests']:,}",
         f"{d['permits']:,} permits", ""),
        ("  SQL statements per decide()", f"{d['decide_queries_per_decision']:.1f}", "0", ""),
        ("  baseline setup: compile + index (all R)", "",
         f"{_ms(d['baseline_setup_compile_seconds'])} + "
         f"{_ms(d['baseline_setup_index_seconds'])}", ""),
        ("bundle compile, 1 recipient (median)", _ms(c["compile_seconds_median"]),
         _ms(c["baseline_select_seconds_median"]) + " SELECT",
         f"{c['compile_seconds_median'] / c['baseline_select_seconds_median']:,.1f}x"),
        ("  peak memory (tracemalloc)", _mib(c["compile_peak_bytes"]),
         _mib(c["baseline_select_peak_bytes"]),
         f"{c['compile_peak_bytes'] / c['baseline_select_peak_bytes']:,.1f}x"),
        ("  grants / consent rows / SQL statements",
         f"{c['grants']:,} / {c['consent_rows']:,} / {c['compile_queries']}",
         "", f"{c['bundle_json_bytes'] / 1024:,.0f} KiB JSON"),
        ("revocation -> next bundle (median)", _ms(r["total_seconds_median"]),
         _ms(r["baseline_unchanged_compile_seconds_median"]) + " no-change compile",
         f"{r['total_seconds_median'] / r['baseline_unchanged_compile_seconds_median']:,.2f}x"),
        ("  of which write+commit / compile", f"{_ms(r['write_seconds_median'])} / "
         f"{_ms(r['compile_seconds_median'])}",
         "", f"reflected {sum(x['reflected'] for x in r['runs'])}/{r['revocations']}"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--recipients", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="decision sample size")
    parser.add_argument("--repeats", type=int, default=5, help="compile timing repeats")
    parser.add_argument("--revocations", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20240901)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.students < 1 or args.recipients < 1 or args.requests < 1 or args.repeats < 1:
        parser.error("sizes must be positive")

    with tempfile.TemporaryDirectory(prefix="accordant-bench-") as tmp, \
            database(Path(tmp)) as (url, engine_options, label):
        app = create_app({
            "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "INSTANCE_PATH": str(Path(tmp) / "instance"),
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        })
        with app.app_context():
            try:
                db.create_all()
                now = utcnow()
                started = time.perf_counter()
                world = build_world(args.students, args.recipients, now, args.seed)
                world["seconds"] = time.perf_counter() - started
                recipient_ids = world.pop("recipient_ids")
                result = {
                    "config": {
                        "students": args.students, "recipients": args.recipients,
                        "requests": args.requests, "repeats": args.repeats, "seed": args.seed,
                        "database": label, "now": now.isoformat(),
                        "python": platform.python_version(), "sqlalchemy": sa.__version__,
                        "platform": platform.platform(), "cpus": os.cpu_count(),
                    },
                    "world": world,
                    "decisions": bench_decisions(recipient_ids, args.requests, now, args.seed),
                    "compile": bench_compile(recipient_ids[0], args.repeats),
                    "revocation": bench_revocation(recipient_ids[0], args.revocations,
                                                   args.seed),
                }
            finally:
                db.session.remove()
                db.engine.dispose()

    print_report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nJSON written to {args.out}")
    failures = []
    if result["decisions"]["disagreements"]:
        failures.append(f"{result['decisions']['disagreements']} decide()/bundle disagreements "
                        "(examples in the JSON)")
    if not result["revocation"]["all_reflected"]:
        failures.append("a revocation was not reflected in the next bundle")
    if not result["revocation"]["decide_denies_after_all"]:
        failures.append("decide() still permitted after a revocation")
    for failure in failures:
        print(f"CHECK FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
