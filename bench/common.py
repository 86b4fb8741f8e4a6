"""Shared pieces of the benchmarks: databases, the app, timing and formatting helpers."""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import time
import tracemalloc
import uuid
from pathlib import Path

import sqlalchemy as sa

from consent import create_app
from consent.config import normalise_db_url
from consent.extensions import db

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Where the HTTP benchmark creates its throwaway database when neither --pg-url nor
# DATABASE_URL names a server.
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


# --------------------------------------------------------------------------- databases


@contextlib.contextmanager
def inprocess_database(tmp: Path):
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


def pg_server_url(explicit: str | None) -> str:
    """The PostgreSQL server to create throwaway databases on (an admin connection)."""
    return normalise_db_url(explicit or os.environ.get("DATABASE_URL") or DEFAULT_PG_URL)


@contextlib.contextmanager
def throwaway_pg_database(server_url: str):
    """(url, name): a new database `bench_<random>` on the server, dropped on the way
    out (WITH (FORCE): any connection still open is closed)."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield sa.make_url(server_url).set(database=name).render_as_string(
                hide_password=False), name
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def make_app(url: str, engine_options: dict, instance: Path):
    return create_app({
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
    })


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


def fresh_session():
    """Like a new request: nothing left in the identity map."""
    db.session.remove()


def clear_rules_cache(app) -> None:
    """Forget every compiled recipient (`consent.access.cache` keeps them per process)."""
    app.extensions.get("accordant_rules_cache", {}).clear()


# --------------------------------------------------------------------------- timing


def median(values):
    return statistics.median(values)


def percentile(sorted_values, fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def timed(fn, repeats, setup=fresh_session):
    """(times, last result) of `repeats` runs, `setup()` untimed before each."""
    times, result = [], None
    for _ in range(repeats):
        setup()
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def best_of(fn, passes):
    """Median seconds of `passes` runs of a loop too fast for one pass to be reliable."""
    times = []
    for _ in range(passes):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return median(times)


def peak_memory(fn, setup=fresh_session):
    """(tracemalloc peak bytes, result) of one run: Python allocations only."""
    setup()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


# --------------------------------------------------------------------------- formatting


def ms(seconds):
    return f"{seconds * 1000:,.1f} ms"


def mib(n):
    return f"{n / 2**20:,.1f} MiB"


def rate(n):
    return f"{n:,.0f} /s"


def ratio(a, b, fmt="{:,.1f}x"):
    return fmt.format(a / b) if b else "n/a"


def print_table(title: str, rows: list[tuple]) -> None:
    """A section: a title line, then rows of (benchmark, measured, baseline, note)."""
    print(f"\n{title}")
    rows = [("benchmark", "measured", "baseline", "measured vs baseline")] + [
        tuple(str(c) for c in row) + ("",) * (4 - len(row)) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
              .rstrip())
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
