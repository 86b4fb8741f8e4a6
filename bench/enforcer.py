"""Enforcer rows per second: `filter_extract` over a generated district CSV extract."""

from __future__ import annotations

import csv
import random
import time
from pathlib import Path

from bench.common import median
from bench.world import CATEGORIES, CONSENT_PURPOSE
from consent.access.bundle import compile_bundle
from consent.enforcer.extract import read_extract
from consent.enforcer.filtering import filter_extract
from consent.enforcer.verify import parse_time
from consent.extensions import db
from consent.models import Organization
from consent.timeutil import utcnow

STUDENT_COLUMN = "student_id"


def extract_columns(total: int = 30) -> list[str]:
    """The student column, every field of every category, then unrelated columns."""
    fields = [f for fields in CATEGORIES.values() for f in fields if f != STUDENT_COLUMN]
    extra = [f"district_col_{i:02d}" for i in range(1, max(0, total - 1 - len(fields)) + 1)]
    return [STUDENT_COLUMN, *fields, *extra]


def write_csv_extract(path: Path, sourced_ids: list[str], rows: int, seed: int) -> list[str]:
    rng = random.Random(seed + 3)
    columns = extract_columns()
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        values = [f"v{n:04d}" for n in range(500)]
        for _ in range(rows):
            student = "S-unknown" if rng.random() < 0.01 else rng.choice(sourced_ids)
            writer.writerow([student, *rng.choices(values, k=len(columns) - 1)])
    return columns


def _expected_rows(bundle, purpose, now, path: Path) -> int:
    """Independent count: rows whose student has a grant for `purpose` in force at `now`."""
    released = set()
    for grant in bundle["grants"]:
        if purpose in grant["purposes"] and \
                parse_time(grant["valid_from"]) <= now < parse_time(grant["valid_until"]):
            released.update(grant["students"])
    with open(path, encoding="utf-8", newline="") as f:
        return sum(1 for row in csv.DictReader(f) if row[STUDENT_COLUMN] in released)


def bench_enforcer(recipient_id, sourced_ids, rows, tmp: Path, seed, repeats=3) -> dict:
    path = tmp / "extract.csv"
    started = time.perf_counter()
    columns = write_csv_extract(path, sourced_ids, rows, seed)
    write_seconds = time.perf_counter() - started
    now = utcnow()
    bundle = compile_bundle(db.session.get(Organization, recipient_id), now)
    purpose = CONSENT_PURPOSE

    def dictreader_pass():
        with open(path, encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    def dictreader_filter():
        with open(path, encoding="utf-8", newline="") as f:
            return filter_extract(bundle, csv.DictReader(f), purpose, now)

    def enforce_path():  # what `accordant enforce` does: the strict reader, then the filter
        header, rows = read_extract(path, STUDENT_COLUMN)
        return filter_extract(bundle, rows, purpose, now, columns=header)

    def run(fn):
        times, result = [], None
        for _ in range(repeats):
            started = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - started)
        return median(times), result

    baseline_seconds, loaded = run(dictreader_pass)
    measured_seconds, (kept_rows, kept_columns, permissions) = run(dictreader_filter)
    filter_seconds, _ = run(lambda: filter_extract(bundle, loaded, purpose, now))
    enforce_seconds, _ = run(enforce_path)
    expected = _expected_rows(bundle, purpose, now, path)
    return {
        "rows": rows, "columns": len(columns), "file_bytes": path.stat().st_size,
        "purpose": purpose, "bundle_grants": len(bundle["grants"]),
        "write_extract_seconds": write_seconds, "repeats": repeats,
        "baseline_dictreader_seconds": baseline_seconds,
        "dictreader_filter_seconds": measured_seconds,
        "filter_only_seconds": filter_seconds,
        "read_extract_filter_seconds": enforce_seconds,
        "rates": {
            "baseline_dictreader": rows / baseline_seconds,
            "dictreader_filter": rows / measured_seconds,
            "filter_only": rows / filter_seconds,
            "read_extract_filter": rows / enforce_seconds,
        },
        "kept_rows": len(kept_rows), "kept_columns": len(kept_columns),
        "released_students": len(permissions),
        "expected_kept_rows": expected,
        "check_ok": len(kept_rows) == expected,
    }
