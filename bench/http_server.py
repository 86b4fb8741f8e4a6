"""Decisions over HTTP from the production server: gunicorn with the repository's
`gunicorn.conf.py` (gthread workers, one per core, keep-alive), PostgreSQL.

The world is built through the ORM into a throwaway database `bench_<random>` on the
PostgreSQL server (dropped at the end, even on failure); gunicorn serves
`consent:create_app()` against it with a temporary instance folder; clients are
`bench.loadgen` processes on loopback, with one enforcer client token per recipient.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from bench.common import (
    REPO,
    clear_rules_cache,
    make_app,
    percentile,
    throwaway_pg_database,
)
from bench.loadgen import LoadGenerator
from bench.world import add_client_tokens, build_world, sample_requests
from consent.access.cache import rules_for
from consent.access.decisions import decide_current
from consent.extensions import db
from consent.models import Organization, Student
from consent.timeutil import iso

GUNICORN = Path(sys.executable).parent / "gunicorn"
CONFIG = REPO / "gunicorn.conf.py"
HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its living children (gunicorn's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1]: ppid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextlib.contextmanager
def gunicorn(database_url: str, instance: Path, log: Path):
    """(port, pid) of a gunicorn master serving the app; stopped on the way out."""
    port = _free_port()
    env = {**os.environ, "ACCORDANT_SECRET_KEY": "bench-" + uuid.uuid4().hex,
           "DATABASE_URL": database_url, "ACCORDANT_INSTANCE_PATH": str(instance),
           "ACCORDANT_PUBLIC_URL": f"http://{HOST}:{port}"}
    command = [str(GUNICORN), "-c", str(CONFIG), "-b", f"{HOST}:{port}", "consent:create_app()"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        _wait_ready(process, port, log)
        yield port, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process, port, log: Path, timeout=60.0) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}:\n"
                               + log.read_text(errors="replace")[-3000:])
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz within a minute:\n"
                       + log.read_text(errors="replace")[-3000:])


def _headers(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def _single_body(slug, ref, category, purpose, at) -> bytes:
    return json.dumps({"recipient": slug, "student": ref, "category": category,
                       "purpose": purpose, "at": iso(at)}).encode()


def _post(port, body: bytes, headers: dict) -> tuple[int, dict]:
    import http.client

    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        conn.request("POST", "/api/v1/decisions", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _summary(run: dict, server_cpu: float, decisions_per_request: int = 1) -> dict:
    latencies = run.pop("latencies")
    ok = int(run["statuses"].get("200", 0))
    out = {**run, "ok": ok,
           "requests_per_second": ok / run["duration"] if run["duration"] else 0.0,
           "decisions_per_second": ok * decisions_per_request / run["duration"]
           if run["duration"] else 0.0,
           "latency_p50_ms": percentile(latencies, 0.50) * 1000,
           "latency_p90_ms": percentile(latencies, 0.90) * 1000,
           "latency_p99_ms": percentile(latencies, 0.99) * 1000,
           "latency_max_ms": latencies[-1] * 1000 if latencies else float("nan"),
           "server_cpu_seconds": server_cpu,
           "server_cpu_ms_per_request": server_cpu * 1000 / ok if ok else None}
    return out


def bench_http(args, seed: int) -> dict:
    """Build the world in a throwaway database, serve it with gunicorn and load it."""
    if not GUNICORN.exists():
        return {"skipped": f"{GUNICORN} does not exist: install it with "
                           f"`{Path(sys.executable).parent / 'pip'} install gunicorn` "
                           "(setup.cfg's test extra does not list it)"}
    from bench.common import pg_server_url

    server = pg_server_url(args.pg_url)
    try:
        engine = sa.create_engine(server)
        with engine.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar()
        engine.dispose()
    except sa.exc.SQLAlchemyError as exc:
        return {"skipped": f"no PostgreSQL server at {sa.make_url(server)!r}: "
                           f"{str(exc).splitlines()[0]} (set --pg-url)"}
    with tempfile.TemporaryDirectory(prefix="accordant-bench-http-") as tmp, \
            throwaway_pg_database(server) as (url, name):
        tmp = Path(tmp)
        app = make_app(url, {}, tmp / "builder")
        with app.app_context():
            try:
                prepared = _prepare(app, args, seed)
            finally:
                db.session.remove()
                db.engine.dispose()
        result = {"database": f"postgresql {version} (throwaway database {name})",
                  **_gunicorn_settings(),
                  "gunicorn": _gunicorn_version(), **prepared.pop("info")}
        log = tmp / "gunicorn.log"
        with gunicorn(url, tmp / "instance", log) as (port, pid), \
                LoadGenerator(processes=2) as load:
            result.update(_measure(load, port, pid, prepared, args))
        result["server_log_tail"] = log.read_text(errors="replace")[-2000:]
    return result


def _gunicorn_settings() -> dict:
    """Workers, worker class and threads as gunicorn.conf.py sets them here."""
    settings: dict = {}
    exec(compile(CONFIG.read_text(), str(CONFIG), "exec"), settings)  # noqa: S102
    return {"workers": settings["workers"], "worker_class": settings["worker_class"],
            "threads": settings.get("threads", 1)}


def _gunicorn_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gunicorn")
    except PackageNotFoundError:
        return None


def _prepare(app, args, seed) -> dict:
    """World, tokens, request bodies and the answers expected (computed in process)."""
    from consent.timeutil import utcnow

    db.create_all()
    now = utcnow()
    started = time.perf_counter()
    world = build_world(args.students, args.recipients, now, seed)
    build_seconds = time.perf_counter() - started
    recipient_ids = world["recipient_ids"]
    tokens = add_client_tokens(recipient_ids)
    recipients = {r.id: r for r in db.session.scalars(
        sa.select(Organization).where(Organization.id.in_(recipient_ids)))}
    sourced = sorted(db.session.scalars(sa.select(Student.sourced_id)))
    clear_rules_cache(app)
    compiled = {rid: rules_for(recipients[rid], now) for rid in recipient_ids}

    def expect(rid, ref, category, purpose, at):
        d = decide_current(recipients[rid], ref, category, purpose, at, compiled[rid])
        return [d.decision, d.agreement]

    singles = sample_requests(recipient_ids, sourced, args.requests, now, seed)
    single_requests = [("POST", "/api/v1/decisions", _headers(tokens[rid]),
                        _single_body(recipients[rid].slug, ref, category, purpose, at))
                       for rid, ref, category, purpose, at in singles]
    single_expected = [expect(*r) for r in singles]
    # One batch of --batch-size requests per recipient, each with its own token.
    batches, batch_expected = [], []
    for k, rid in enumerate(recipient_ids):
        sample = sample_requests([rid], sourced, args.batch_size, now, seed + 1000 + k)
        body = json.dumps({"requests": [
            {"recipient": recipients[rid].slug, "student": ref, "category": category,
             "purpose": purpose, "at": iso(at)} for _, ref, category, purpose, at in sample]})
        batches.append(("POST", "/api/v1/decisions", _headers(tokens[rid]), body.encode()))
        batch_expected.append([expect(*r) for r in sample])
    return {"singles": single_requests, "single_expected": single_expected,
            "batches": batches, "batch_expected": batch_expected,
            "info": {"world_seconds": build_seconds, "world_counts": world["counts"],
                     "single_sample": len(single_requests), "batch_size": args.batch_size,
                     "batch_bodies": len(batches),
                     "batch_body_bytes": sum(len(b[3]) for b in batches) // len(batches)}}


def _verify(port, prepared) -> dict:
    """Untimed: every single request and every batch once; compare with the answers
    computed in process."""
    def single(i):
        _, _, headers, body = prepared["singles"][i]
        status, data = _post(port, body, headers)
        if status != 200:
            return 1
        d = data["data"]
        return int([d["decision"], d["agreement"]] != prepared["single_expected"][i])

    with ThreadPoolExecutor(8) as pool:
        single_diffs = sum(pool.map(single, range(len(prepared["singles"]))))
    batch_diffs = 0
    for (_, _, headers, body), expected in zip(prepared["batches"], prepared["batch_expected"],
                                               strict=True):
        status, data = _post(port, body, headers)
        if status != 200:
            batch_diffs += len(expected)
            continue
        got = [[d["decision"], d["agreement"]] for d in data["data"]]
        batch_diffs += sum(g != e for g, e in zip(got, expected, strict=True))
    return {"single_checked": len(prepared["singles"]), "single_disagreements": single_diffs,
            "batch_checked": sum(len(e) for e in prepared["batch_expected"]),
            "batch_disagreements": batch_diffs}


def _measure(load: LoadGenerator, port: int, pid: int, prepared: dict, args) -> dict:
    healthz = [("GET", "/healthz", {}, None)]
    duration = args.http_duration
    out: dict = {"duration_per_run": duration}

    def run(name, requests, concurrency, per_request=1):
        before = _cpu_seconds(pid)
        result = load.run(HOST, port, requests, concurrency, duration)
        out["runs"][name] = _summary(result, _cpu_seconds(pid) - before, per_request)
        r = out["runs"][name]
        print(f"  http {name}: {r['requests_per_second']:,.0f} req/s, "
              f"{r['decisions_per_second']:,.0f} decisions/s, p50 {r['latency_p50_ms']:.1f} ms, "
              f"p99 {r['latency_p99_ms']:.1f} ms", file=sys.stderr)

    # Warm-up: every worker compiles every recipient's rules on its first request for it.
    started = time.perf_counter()
    warm = load.run(HOST, port, prepared["singles"], 8, 2.0)
    load.run(HOST, port, prepared["batches"], 4, 1.0)
    out["warmup"] = {"seconds": time.perf_counter() - started, "single_requests": warm["requests"]}
    out["verification"] = _verify(port, prepared)
    out["runs"] = {}
    for concurrency in (8, 32):
        run(f"healthz_c{concurrency}", healthz, concurrency)
    for concurrency in (8, 32):
        run(f"single_c{concurrency}", prepared["singles"], concurrency)
    run("batch_c8", prepared["batches"], 8, args.batch_size)
    return out
