"""Access-rule benchmarks: decisions (in process and over HTTP), compilation, revocation
latency and the enforcer's extract filter.

Run with ``.venv/bin/python -m bench.run [--preset large] [--bench LIST] [--out FILE]``.
Not part of the test suite: nothing here is a timed assertion. Every number is printed
next to a baseline measured in the same run, on the same data. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.common import (
    RESULTS_DIR,
    inprocess_database,
    make_app,
    mib,
    ms,
    print_table,
    rate,
    ratio,
)
from bench.compile_scale import bench_compile_all
from bench.decisions import bench_decisions
from bench.enforcer import bench_enforcer
from bench.http_server import bench_http
from bench.rules import bench_compile_one, bench_revocation
from bench.world import build_world
from consent.extensions import db
from consent.models import Student
from consent.timeutil import utcnow

BENCHES = ("decisions", "compile", "revocation", "enforcer", "http")
PRESETS = {
    # About 1.5 minutes on a 2-core machine.
    "default": {"students": 2000, "recipients": 3, "repeats": 5, "compile_all_repeats": 3,
                "bench": "all"},
    # A large district: 100,000 students, 20 recipients, about 4 million consent rows.
    # The HTTP benchmark would build a second world of that size: ask for it with
    # --bench (e.g. --bench all).
    "large": {"students": 100_000, "recipients": 20, "repeats": 3, "compile_all_repeats": 1,
              "bench": "decisions,compile,revocation,enforcer"},
}
GOALS = {
    "http_single_per_second": 1_000,
    "http_batch_decisions_per_second": 100_000,
    "compile_all_seconds": 5.0,
    "compile_all_bytes": 500 * 10**6,
    "revocation_seconds": 0.200,
}


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "sqlalchemy": sa.__version__}
    for dist in ("flask", "psycopg", "cedarpy", "gordon-to-regorus", "gunicorn"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def _step(name: str):
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    return time.perf_counter()


def run_inprocess(args, benches, tmp: Path) -> dict:
    result: dict = {}
    with inprocess_database(tmp) as (url, engine_options, label):
        app = make_app(url, engine_options, tmp / "instance")
        result["config_database"] = label
        with app.app_context():
            try:
                db.create_all()
                now = utcnow()
                started = _step(f"world: {args.students:,} students, {args.recipients} "
                                f"recipients")
                world = build_world(args.students, args.recipients, now, args.seed)
                world["seconds"] = time.perf_counter() - started
                recipient_ids = world.pop("recipient_ids")
                result["world"] = world
                timings = result["bench_seconds"] = {}
                if "decisions" in benches:
                    started = _step("decisions in process")
                    result["decisions"] = bench_decisions(
                        app, recipient_ids, args.requests, now, args.seed,
                        engines=not args.no_engines, engine_max_grants=args.engine_max_grants,
                        cedar_requests=args.cedar_requests)
                    timings["decisions"] = time.perf_counter() - started
                if "compile" in benches:
                    started = _step("compile: one recipient")
                    result["compile"] = bench_compile_one(app, recipient_ids[0], args.repeats)
                    started = _step(f"compile: all {len(recipient_ids)} recipients "
                                    "(child processes)")
                    result["compile_all"] = bench_compile_all(
                        url, engine_options, tmp / "instance", recipient_ids, now,
                        args.compile_all_repeats)
                    timings["compile"] = time.perf_counter() - started
                if "revocation" in benches:
                    started = _step("revocation -> next bundle")
                    result["revocation"] = bench_revocation(app, recipient_ids[0],
                                                            args.revocations, args.seed)
                    timings["revocation"] = time.perf_counter() - started
                if "enforcer" in benches:
                    started = _step(f"enforcer: {args.extract_rows:,}-row extract")
                    sourced = sorted(db.session.scalars(sa.select(Student.sourced_id)))
                    result["enforcer"] = bench_enforcer(recipient_ids[0], sourced,
                                                        args.extract_rows, tmp, args.seed,
                                                        repeats=min(args.repeats, 3))
                    timings["enforcer"] = time.perf_counter() - started
            finally:
                db.session.remove()
                db.engine.dispose()
    return result


# --------------------------------------------------------------------------- report


def _goal(met: bool) -> str:
    return "goal met" if met else "goal NOT met"


def report_decisions(d: dict) -> None:
    r, e = d["rates"], d["engines"]
    n = d["requests"]
    rows = [
        ("decide_current, compiled rules in hand (batch API path)", rate(r["decide_current"]),
         "", ""),
    ]
    if "cedar_batch" in r:
        fastest = max(r["cedar_batch"], r["cedar_single"], r["rego"])
        rows += [
            ("  vs cedarpy is_authorized_batch (Cedar export)", "",
             rate(r["cedar_batch"]),
             ratio(r["decide_current"], r["cedar_batch"], "{:,.0f}x faster")),
            ("  vs cedarpy is_authorized, one call per request", "",
             rate(r["cedar_single"]),
             ratio(r["decide_current"], r["cedar_single"], "{:,.0f}x faster")),
            ("  vs regorus, one Engine, set_input + eval_rule (OPA export)", "",
             rate(r["rego"]), ratio(r["decide_current"], r["rego"], "{:,.0f}x faster")),
            ("  goal: faster than both", "", "",
             _goal(r["decide_current"] > fastest)),
        ]
    else:
        rows.append(("  engines", "", "", f"skipped: {e.get('skipped', '')}"))
    rows += [
        ("decide_current, rules_for per call (single API path)", rate(r["decide_current_single"]),
         "", f"{d['current_single_queries_per_decision']:.1f} SQL statements each"),
    ]
    if "cedar_batch" in r:
        rows.append(("  vs the faster engine", "", rate(max(r["cedar_batch"], r["rego"])),
                     _goal(r["decide_current_single"] > max(r["cedar_batch"],
                                                            r["cedar_single"], r["rego"]))))
    rows += [
        ("decide() (database reference)", rate(r["decide"]), "",
         f"{d['decide_queries_per_decision']:.1f} SQL statements each"),
        ("plain dict index over the bundles (lower bound)", "", rate(r["index"]),
         ratio(r["index"], r["decide_current"], "decide_current {:,.1f}x slower")),
    ]
    dis = d["disagreements"]
    text = ", ".join(f"{k} {v['decision'] + v['agreement']}/{v['compared']:,}"
                     for k, v in dis.items())
    rows.append(("disagreements with decide() (must be 0)", str(d["total_disagreements"]),
                 f"{d['permits']:,} permits of {n:,}", text))
    setup = [f"rules_for every recipient {ms(d['setup_rules_for_seconds'])}"]
    if "setup_cedar_parse_seconds" in e:
        setup += [f"Cedar export {ms(e['setup_cedar_export_seconds'])} + parse "
                  f"{ms(e['setup_cedar_parse_seconds'])} ({e['cedar_policies']:,} policies, "
                  f"{e['cedar_entities']:,} entities)",
                  f"OPA export {ms(e['setup_opa_export_seconds'])} + load "
                  f"{ms(e['setup_rego_load_seconds'])}",
                  f"Cedar measured on the first {e['cedar_requests']:,} requests"]
    rows.append(("one-time setup (not in the rates)", "", "", "; ".join(setup)))
    print_table(f"1. Decisions in process ({n:,} requests)", rows)


def report_http(h: dict) -> None:
    if "skipped" in h:
        print(f"\n2. Decisions over HTTP: skipped: {h['skipped']}")
        return
    runs = h["runs"]
    v = h["verification"]

    def row(name, label, key="requests_per_second", goal=None):
        x = runs[name]
        note = (f"p50 {x['latency_p50_ms']:.1f} ms, p99 {x['latency_p99_ms']:.1f} ms, "
                f"server CPU {x['server_cpu_ms_per_request']:.2f} ms/request"
                if x["ok"] else "no successful request")
        if x["errors"] or set(x["statuses"]) - {"200"}:
            note += f", statuses {x['statuses']}, errors {x['errors']}"
        if goal is not None:
            note += f"; {_goal(x[key] >= goal)} (>= {goal:,}/s)"
        base = runs[name.replace("single", "healthz")] if name.startswith("single") else None
        return (label, rate(x[key]), rate(base["requests_per_second"]) + " /healthz"
                if base else "", note)

    rows = [
        row("healthz_c8", "GET /healthz, concurrency 8 (the server's floor)"),
        row("healthz_c32", "GET /healthz, concurrency 32"),
        row("single_c8", "single decisions, concurrency 8",
            goal=GOALS["http_single_per_second"]),
        row("single_c32", "single decisions, concurrency 32",
            goal=GOALS["http_single_per_second"]),
        row("batch_c8", f"batches of {h['batch_size']:,}, concurrency 8 (decisions/s)",
            "decisions_per_second", GOALS["http_batch_decisions_per_second"]),
        ("answers checked against decide_current in process (must be 0)",
         str(v["single_disagreements"] + v["batch_disagreements"]), "",
         f"{v['single_checked']:,} single + {v['batch_checked']:,} in batches"),
    ]
    print_table(f"2. Decisions over HTTP: gunicorn {h['gunicorn']} -w {h['workers']} "
                f"({h['worker_class']}, {h.get('threads', 1)} threads), {h['database']}, "
                f"{h['duration_per_run']:.0f} s per run",
                rows)


def report_compile(c: dict, a: dict | None) -> None:
    rows = [
        ("compile_rules, 1 recipient (median)", ms(c["compile_seconds_median"]),
         ms(c["baseline_select_seconds_median"]) + " SELECT its consents",
         ratio(c["compile_seconds_median"], c["baseline_select_seconds_median"])),
        ("  peak memory (tracemalloc)", mib(c["compile_peak_bytes"]),
         mib(c["baseline_select_peak_bytes"]),
         ratio(c["compile_peak_bytes"], c["baseline_select_peak_bytes"])),
        ("  grants / consent rows / SQL statements",
         f"{c['compiled_grants']:,} / {c['consent_rows']:,} / {c['compile_queries']}", "",
         f"bundle {c['bundle_json_bytes'] / 1024:,.0f} KiB JSON"),
        ("  bundle from the warm cache (compile_bundle)", ms(c["cached_bundle_seconds_median"]),
         "", ""),
    ]
    if a:
        comp, sel = a["compile"], a["baseline_select"]
        rows += [
            (f"compile_rules, all {a['recipients']} recipients, fresh process",
             ms(a["compile_seconds_median"]),
             ms(a["select_seconds_median"]) + " SELECT all consents",
             ratio(a["compile_seconds_median"], a["select_seconds_median"]) + "; " +
             _goal(a["compile_seconds_median"] <= GOALS["compile_all_seconds"]) + " (<= 5 s)"),
            ("  peak Python memory (tracemalloc)", mib(comp["tracemalloc_peak_bytes"]),
             mib(sel["tracemalloc_peak_bytes"]),
             ratio(comp["tracemalloc_peak_bytes"], sel["tracemalloc_peak_bytes"]) + "; " +
             _goal(comp["tracemalloc_peak_bytes"] <= GOALS["compile_all_bytes"])
             + " (<= 500 MB)"),
            ("  ru_maxrss growth (process peak)", mib(comp["maxrss_delta_bytes"]),
             mib(sel["maxrss_delta_bytes"]),
             f"peak RSS {mib(comp['maxrss_bytes'])} vs {mib(sel['maxrss_bytes'])}; " +
             _goal(comp["maxrss_delta_bytes"] <= GOALS["compile_all_bytes"])),
            ("  grants / consent rows", f"{comp['grants']:,}", f"{sel['rows']:,}",
             f"time under tracemalloc {comp['traced_seconds']:.1f} s"),
        ]
    print_table("3. Compile", rows)


def report_revocation(r: dict) -> None:
    rows = [
        ("revoke -> new bundle version (median)", ms(r["total_seconds_median"]),
         ms(r["baseline_full_compile_seconds_median"]) + " full compile_rules",
         ratio(r["total_seconds_median"], r["baseline_full_compile_seconds_median"]) + "; "
         + _goal(r["total_seconds_median"] <= GOALS["revocation_seconds"]) + " (<= 200 ms)"),
        ("  worst of the revocations", ms(r["total_seconds_max"]), "", ""),
        ("  revoke + commit / rules_for / bundle document",
         f"{ms(r['revoke_commit_seconds_median'])} / {ms(r['rules_for_seconds_median'])} / "
         f"{ms(r['bundle_document_seconds_median'])}", "",
         f"commit -> bundle {ms(r['commit_to_bundle_seconds_median'])}"),
        ("  checks", f"reflected {sum(x['reflected'] for x in r['runs'])}/{r['revocations']}",
         "", f"incremental {r['all_incremental']}, decide() denies "
         f"{r['decide_denies_after_all']}, decide_current denies "
         f"{r['decide_current_denies_after_all']}"),
    ]
    print_table(f"4. Revocation to the next bundle ({r['path']})", rows)


def report_enforcer(e: dict) -> None:
    r = e["rates"]
    rows = [
        ("csv.DictReader + filter_extract", rate(r["dictreader_filter"]),
         rate(r["baseline_dictreader"]) + " DictReader alone",
         ratio(r["baseline_dictreader"], r["dictreader_filter"], "{:,.2f}x slower")),
        ("  filter_extract alone (rows in memory)", rate(r["filter_only"]), "", ""),
        ("  read_extract + filter_extract (accordant enforce)", rate(r["read_extract_filter"]),
         "", ""),
        ("  kept rows / columns (check)", f"{e['kept_rows']:,} / {e['kept_columns']}",
         f"{e['expected_kept_rows']:,} expected", "ok" if e["check_ok"] else "MISMATCH"),
    ]
    print_table(f"5. Enforcer: {e['rows']:,} rows x {e['columns']} columns "
                f"({e['file_bytes'] / 2**20:,.0f} MiB), bundle of {e['bundle_grants']:,} grants, "
                f"purpose {e['purpose']}", rows)


def print_report(result: dict) -> None:
    cfg = result["config"]
    print(f"\nAccordant access-rules benchmark, preset {cfg['preset']}: {cfg['students']:,} "
          f"students, {cfg['recipients']} recipients, {cfg['database']}; load average "
          f"{cfg['loadavg_start']} at start")
    if "world" in result:
        w = result["world"]
        counts = w["counts"]
        print(f"world: {counts['consents']:,} consent rows ({counts['consents_granted']:,} "
              f"granted), {counts['rules_changes']:,} rules changes, "
              f"{counts['grant_windows']:,} grant windows; built in {w['seconds']:.1f} s "
              f"(the grant windows {w['grant_windows_rebuild_seconds']:.1f} s of it)")
    if "decisions" in result:
        report_decisions(result["decisions"])
    if "http" in result:
        report_http(result["http"])
    if "compile" in result:
        report_compile(result["compile"], result.get("compile_all"))
    if "revocation" in result:
        report_revocation(result["revocation"])
    if "enforcer" in result:
        report_enforcer(result["enforcer"])


def failures_of(result: dict) -> list[str]:
    failures = []
    d = result.get("decisions")
    if d and d["total_disagreements"]:
        failures.append(f"{d['total_disagreements']} disagreements with decide() "
                        "(examples in the JSON)")
    h = result.get("http")
    if h and "verification" in h:
        v = h["verification"]
        if v["single_disagreements"] or v["batch_disagreements"]:
            failures.append("HTTP answers differ from decide_current in process")
    r = result.get("revocation")
    if r:
        if not r["all_reflected"]:
            failures.append("a revocation was not reflected in the next bundle")
        if not (r["decide_denies_after_all"] and r["decide_current_denies_after_all"]):
            failures.append("a decision still permitted after a revocation")
    e = result.get("enforcer")
    if e and not e["check_ok"]:
        failures.append("filter_extract kept other rows than the bundle releases")
    return failures


# --------------------------------------------------------------------------- main


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.run",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--bench", help=f"comma-separated subset of {','.join(BENCHES)} "
                        "or 'all' (default: the preset's)")
    parser.add_argument("--students", type=int)
    parser.add_argument("--recipients", type=int)
    parser.add_argument("--requests", type=int, default=2000, help="decision sample size")
    parser.add_argument("--cedar-requests", type=int, default=300,
                        help="Cedar answers the first N requests of the sample")
    parser.add_argument("--engine-max-grants", type=int, default=50_000,
                        help="skip Cedar and Rego when the exports hold more grants")
    parser.add_argument("--no-engines", action="store_true", help="skip Cedar and Rego")
    parser.add_argument("--repeats", type=int, help="timing repeats (compile, enforcer)")
    parser.add_argument("--revocations", type=int, default=5)
    parser.add_argument("--extract-rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--http-duration", type=float, default=5.0,
                        help="seconds per HTTP load run")
    parser.add_argument("--pg-url", help="PostgreSQL server for the HTTP benchmark's "
                        "throwaway database (default: DATABASE_URL, else "
                        "postgresql://postgres@127.0.0.1:5432/postgres)")
    parser.add_argument("--seed", type=int, default=20240901)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    args.students = args.students or preset["students"]
    args.recipients = args.recipients or preset["recipients"]
    args.repeats = args.repeats or preset["repeats"]
    args.compile_all_repeats = min(args.repeats, preset["compile_all_repeats"])
    chosen = args.bench or preset["bench"]
    benches = set(BENCHES) if chosen == "all" else {b.strip() for b in chosen.split(",")}
    if benches - set(BENCHES):
        parser.error(f"unknown benchmark(s): {', '.join(sorted(benches - set(BENCHES)))}")
    if min(args.students, args.recipients, args.requests, args.repeats, args.batch_size,
           args.extract_rows, args.revocations, args.cedar_requests) < 1:
        parser.error("sizes must be positive")
    args.out = args.out or RESULTS_DIR / ("latest.json" if args.preset == "default"
                                          else f"{args.preset}.json")
    return args, benches


def main(argv=None) -> int:
    args, benches = parse_args(argv)
    started = time.perf_counter()
    result: dict = {"config": {
        "preset": args.preset, "benches": sorted(benches), "students": args.students,
        "recipients": args.recipients, "requests": args.requests,
        "cedar_requests": args.cedar_requests, "repeats": args.repeats,
        "revocations": args.revocations, "extract_rows": args.extract_rows,
        "batch_size": args.batch_size, "http_duration": args.http_duration, "seed": args.seed,
        "platform": platform.platform(), "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()], **_versions()}}
    with tempfile.TemporaryDirectory(prefix="accordant-bench-") as tmp:
        if benches - {"http"}:
            inprocess = run_inprocess(args, benches, Path(tmp))
            result["config"]["database"] = inprocess.pop("config_database")
            result.update(inprocess)
        else:
            result["config"]["database"] = "(in-process benchmarks not run)"
    if "http" in benches:
        t = _step("HTTP: throwaway PostgreSQL database, gunicorn, load")
        result["http"] = bench_http(args, args.seed)
        result.setdefault("bench_seconds", {})["http"] = time.perf_counter() - t
    result["config"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["config"]["total_seconds"] = time.perf_counter() - started

    print_report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nTotal {result['config']['total_seconds']:.0f} s; JSON written to {args.out}")
    failures = failures_of(result)
    for failure in failures:
        print(f"CHECK FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
