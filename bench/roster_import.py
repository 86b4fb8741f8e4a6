"""Roster import benchmark: 100,000 students and 150,000 guardians, time and peak memory.

Run with ``.venv/bin/python -m bench.roster_import [--students N] [--format oneroster|families]``
(``DATABASE_URL`` set: a throwaway PostgreSQL schema; otherwise a temporary SQLite file).

For each format it writes a synthetic roster (every student has one guardian, every other
student a second one: 1.5 guardians per student), then measures, on the same files:

- baseline: the standard library's `csv` reading every row of the same bytes (decode and
  split only), the least any importer must do;
- parse: `consent.roster` parsing and checking the files (no database);
- import: parse, write and commit into an empty database (what `accordant roster import`
  does), then the same import again (every row unchanged).

Time is wall-clock; peak memory is the tracemalloc peak of Python allocations, measured in
a separate untimed run (tracemalloc slows code down), plus the process's maximum resident
set size after each step. Nothing here is a timed assertion.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.common import inprocess_database, make_app, mib, peak_memory, print_table, ratio
from consent.demo.roster_generator import DEMOGRAPHICS_HEADER, ORGS_HEADER, USERS_HEADER
from consent.extensions import db
from consent.roster.families_csv import FAMILIES_HEADER, parse_families
from consent.roster.importer import import_roster
from consent.roster.oneroster import parse_files

SCHOOLS = 40
GIVEN = ("Ana", "José", "Zoë", "Seán", "Nguyễn", "Amélie", "D'Andre", "Mary-Kate")
FAMILY = ("López", "O'Brien", "Nguyễn", "Smith", "Müller", "García", "Kowalski")


def _rows(students: int):
    """(student, guardians) tuples of plain values, deterministic."""
    base = date(2008, 9, 1)
    for i in range(students):
        given, family = GIVEN[i % len(GIVEN)], FAMILY[(i // 3) % len(FAMILY)]
        student = (f"stu-{i}", given, family, (base + timedelta(days=i % 4000)).isoformat(),
                   f"{(i % 12) + 1:02d}", f"sch-{i % SCHOOLS}")
        guardians = [(f"gdn-{i}", "Maria", family, f"parent{i}@example.org", "parent")]
        if i % 2 == 0:
            guardians.append((f"gdn-{students + i // 2}", "Sam", family,
                              f"Guardian{i}@Example.org", "guardian"))
        yield student, guardians


def _csv(header, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def oneroster_files(students: int) -> dict[str, bytes]:
    """orgs.csv, users.csv and demographics.csv bytes for `students` students."""
    def org(sid, name, kind, parent):
        return {"sourcedId": sid, "status": "active", "name": name, "type": kind,
                "parentSourcedId": parent}
    orgs = [org("d-1", "Bench Unified", "district", "")] + [
        org(f"sch-{n}", f"School {n}", "school", "d-1") for n in range(SCHOOLS)]
    users, demographics = [], []
    for (sid, given, family, birth, grade, school), guardians in _rows(students):
        users.append({"sourcedId": sid, "status": "active", "orgSourcedIds": school,
                      "role": "student", "givenName": given, "familyName": family,
                      "agentSourcedIds": ",".join(g[0] for g in guardians), "grades": grade,
                      "enabledUser": "true"})
        demographics.append({"sourcedId": sid, "status": "active", "birthDate": birth})
        for gid, g_given, g_family, email, role in guardians:
            users.append({"sourcedId": gid, "status": "active", "orgSourcedIds": "d-1",
                          "role": role, "givenName": g_given, "familyName": g_family,
                          "email": email, "agentSourcedIds": sid, "enabledUser": "true"})

    def table(header, dicts):
        return _csv(header, ([d.get(c, "") for c in header] for d in dicts))
    return {"orgs.csv": table(ORGS_HEADER, orgs), "users.csv": table(USERS_HEADER, users),
            "demographics.csv": table(DEMOGRAPHICS_HEADER, demographics)}


def families_file(students: int) -> bytes:
    """A families CSV for `students` students (one row per student and guardian)."""
    def rows():
        for (sid, given, family, birth, grade, school), guardians in _rows(students):
            for gid, g_given, g_family, email, role in guardians:
                yield ("d-1", "Bench Unified", school, f"School {school[4:]}", sid, given,
                       family, birth, grade, gid, g_given, g_family, email, role)
    return _csv(FAMILIES_HEADER, rows())


def baseline_read(files: dict[str, bytes]) -> int:
    """The standard library's csv over the same bytes: decode and split every row."""
    count = 0
    for data in files.values():
        for _row in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")):
            count += 1
    return count


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def bench_format(kind: str, students: int, tmp: Path) -> list[tuple]:
    """Rows for `print_table`: baseline, parse and import of one format."""
    files = oneroster_files(students) if kind == "oneroster" else {
        "families.csv": families_file(students)}
    size = sum(len(d) for d in files.values())

    def parse():
        roster = parse_files(files) if kind == "oneroster" else parse_families(
            files["families.csv"])
        assert not roster.errors, roster.errors[:3]
        return roster

    base_s, rows = _timed(lambda: baseline_read(files))
    base_rss = _maxrss()
    parse_s, roster = _timed(parse)
    guardians = len(roster.guardians)
    base_peak, _ = peak_memory(lambda: baseline_read(files), setup=lambda: None)
    parse_peak, _ = peak_memory(parse, setup=lambda: None)
    del roster
    (tmp / kind).mkdir(exist_ok=True)
    with inprocess_database(tmp / kind) as (url, options, label):
        app = make_app(url, options, tmp / kind / "instance")
        with app.app_context():
            db.create_all()

            def run_import():
                report = import_roster(parse(), session=db.session)
                db.session.commit()
                db.session.remove()
                return report
            import_s, report = _timed(run_import)
            import_rss = _maxrss()
            again_s, again = _timed(run_import)
            assert again.counts["student"].unchanged == students
            db.drop_all()
            db.session.remove()
            db.engine.dispose()
    counts = report.counts
    note = (f"{counts['student'].created:,} students, {counts['guardian'].created:,} guardians, "
            f"{counts['link'].created:,} links; {size / 2**20:,.1f} MiB of CSV, {rows:,} rows")
    assert guardians == counts["guardian"].created
    return [
        (f"{kind}: parse and check (time)", f"{parse_s:,.2f} s", f"{base_s:,.2f} s",
         ratio(parse_s, base_s)),
        (f"{kind}: parse and check (peak Python memory)", mib(parse_peak), mib(base_peak),
         ratio(parse_peak, base_peak)),
        (f"{kind}: import into {label.split()[0]} (time)", f"{import_s:,.2f} s",
         f"{base_s:,.2f} s", ratio(import_s, base_s)),
        (f"{kind}: re-import, all unchanged (time)", f"{again_s:,.2f} s", f"{base_s:,.2f} s",
         ratio(again_s, base_s)),
        (f"{kind}: process max RSS after import", mib(import_rss), mib(base_rss),
         "baseline: after the csv pass"),
        (f"{kind}: data", note, "", ""),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--format", choices=("oneroster", "families", "both"), default="both")
    args = parser.parse_args(argv)
    os.environ.setdefault("ACCORDANT_DEVELOPMENT_MODE", "1")
    logging.getLogger("consent").setLevel(logging.WARNING)  # the importer logs each run
    print(f"roster import benchmark: {args.students:,} students, "
          f"{args.students * 3 // 2:,} guardians; python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    kinds = ("oneroster", "families") if args.format == "both" else (args.format,)
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            print_table(f"Roster import ({kind})",
                        bench_format(kind, args.students, Path(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
