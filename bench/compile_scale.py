"""Full compile of every recipient, in a fresh process: time and peak memory.

The parent runs `python -m bench.compile_scale` once for `compile_all` (every
recipient, as a district bundle or export compiles them) and once for the baseline
(one SELECT of every consent row, every column, into tuples), so that each child's
ru_maxrss is its own peak and not the world builder's. Each child: create the app,
warm up (mappers, a trivial query), then `repeats` timed runs without tracemalloc
(ru_maxrss is read after the first), then one run under tracemalloc for the Python
allocation peak. Everything a run produces is kept until the run ends, as a server
keeps every recipient's compiled rules.
"""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path


def _maxrss_bytes() -> int:
    """This process's peak RSS. On Linux, VmHWM from /proc: ru_maxrss keeps the parent's
    peak across fork and exec, so a child started by a big parent would show none of
    its own growth."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _child(spec: dict) -> dict:
    import sqlalchemy as sa

    from bench.common import make_app
    from consent.access.bundle import category_fields, compile_all
    from consent.access.facts import rules_version
    from consent.extensions import db
    from consent.models import Consent, Organization
    from consent.timeutil import parse_instant

    app = make_app(spec["url"], spec["engine_options"], Path(spec["instance"]))
    now = parse_instant(spec["now"])
    with app.app_context():
        recipients = list(db.session.scalars(sa.select(Organization).where(
            Organization.id.in_(spec["recipient_ids"])).order_by(Organization.id)))
        versions = {r.id: rules_version(r.id) for r in recipients}
        category_fields()
        table = Consent.__table__

        def compile_every():
            return compile_all(recipients, versions, now)

        def select_all():
            return [tuple(row) for row in db.session.execute(sa.select(*table.columns))]

        def count(result):
            if spec["mode"] == "compile":
                return {"grants": sum(c.grant_count() for c in result),
                    "exception_grant_students": sum(len(g.students) for c in result
                                                    for g in c.exception_grants)}
            return {"rows": len(result)}

        fn = compile_every if spec["mode"] == "compile" else select_all
        db.session.execute(sa.select(Consent.id).limit(1)).all()  # warm-up: connect, mappers
        db.session.remove()
        gc.collect()
        rss_before = _maxrss_bytes()
        times, counts = [], None
        for i in range(spec["repeats"]):
            started = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - started)
            if i == 0:
                rss_after = _maxrss_bytes()
                counts = count(result)
            del result
            db.session.remove()
            gc.collect()
        tracemalloc.start()
        started = time.perf_counter()
        result = fn()
        traced_seconds = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del result
        db.session.remove()
        db.engine.dispose()
    return {"mode": spec["mode"], "seconds": times, "traced_seconds": traced_seconds,
            "tracemalloc_peak_bytes": peak, "maxrss_before_bytes": rss_before,
            "maxrss_bytes": rss_after, "maxrss_delta_bytes": rss_after - rss_before, **counts}


def run_child(mode: str, url: str, engine_options: dict, instance: Path, recipient_ids,
              now, repeats: int, timeout: float = 3600) -> dict:
    spec = {"mode": mode, "url": url, "engine_options": engine_options,
            "instance": str(instance), "recipient_ids": list(recipient_ids),
            "now": now.isoformat(), "repeats": repeats}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "bench.compile_scale"], input=json.dumps(spec),
                          capture_output=True, text=True, cwd=root, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"bench.compile_scale {mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_compile_all(url, engine_options, instance, recipient_ids, now, repeats) -> dict:
    from bench.common import median

    compiled = run_child("compile", url, engine_options, instance, recipient_ids, now, repeats)
    selected = run_child("select", url, engine_options, instance, recipient_ids, now, repeats)
    return {"recipients": len(recipient_ids), "repeats": repeats,
            "compile": compiled, "baseline_select": selected,
            "compile_seconds_median": median(compiled["seconds"]),
            "select_seconds_median": median(selected["seconds"])}


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.stdin.read()))))
