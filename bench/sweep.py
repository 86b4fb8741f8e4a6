"""The scheduler's daily sweep over a large district: time and SQL statements.

Run with ``.venv/bin/python -m bench.sweep [--agreements 100000] [--consents 100000]``
(SQLite file by default; set DATABASE_URL for a throwaway PostgreSQL schema). Not part
of the test suite: no timed assertions. Each number sits next to a baseline measured
in the same run on the same data: a bare SELECT of the columns the sweep scans.

What is measured, at 09:00 district time on one day:
1. the first sweep of the day (every job of the daily round: agreements advanced,
   consents expired, rights handed over at 18, reminders planned and sent);
2. the same sweep again a minute later (what the five-minute reminder job costs on
   an ordinary run: nothing new to send), median of three;
3. that rerun with the sweep's indexes dropped, to show what they buy, median of three.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.common import RESULTS_DIR, QueryCounter, inprocess_database, make_app, ms, print_table
from consent import jobs
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementParty,
    Consent,
    Guardian,
    Organization,
    OutboxMessage,
    Role,
    ScheduledNotice,
    Student,
    StudentGuardian,
    User,
)
from consent.models.users import user_roles
from consent.services.reminders import local_instant

TODAY = date(2028, 3, 1)  # the sweep's local day (the day after a 29 February)
SWEEP_INDEXES = ("ix_agreements_state_end_date", "ix_consents_state_valid_through",
                 "ix_students_birth_date")
DAILY = (jobs.advance_agreements, jobs.expire_consents, jobs.hand_rights_at_majority,
         jobs.send_due_reminders)


def _bulk(model, rows, chunk=10_000):
    for i in range(0, len(rows), chunk):
        db.session.execute(sa.insert(model), rows[i:i + chunk])


def build_world(n_agreements: int, n_consents: int, partners: int, seed: int) -> dict:
    """Insert the district in bulk: agreements ending over four years around TODAY,
    one consent per student with valid-through dates over two years, ages 5 to 19."""
    rnd = random.Random(seed)
    created = datetime(2025, 1, 1, tzinfo=UTC)
    _bulk(Organization, [{"id": 1, "slug": "district", "name": "District", "kind": "district",
                          "created_at": created}] +
          [{"id": 1 + p, "slug": f"partner-{p}", "name": f"Partner {p}", "kind": "nonprofit",
            "created_at": created} for p in range(1, partners + 1)])
    _bulk(Role, [{"id": 1, "name": "legal"}, {"id": 2, "name": "signatory"},
                 {"id": 3, "name": "guardian"}])
    users = [{"id": 1, "email": "legal@district.example", "name": "Legal", "organization_id": 1,
              "session_token": "t-1", "active": True, "preferred_language": "en",
              "created_at": created}]
    users += [{"id": 1 + p, "email": f"sign@p{p}.example", "name": f"Signer {p}",
               "organization_id": 1 + p, "session_token": f"t-{1 + p}", "active": True,
               "preferred_language": "en", "created_at": created}
              for p in range(1, partners + 1)]
    _bulk(User, users)
    db.session.execute(sa.insert(user_roles), [{"user_id": 1, "role_id": 1}] + [
        {"user_id": 1 + p, "role_id": 2} for p in range(1, partners + 1)])
    agreements, parties = [], []
    for i in range(1, n_agreements + 1):
        end = TODAY + timedelta(days=rnd.randint(-365, 3 * 365))
        start = end - timedelta(days=rnd.choice((365, 730)))
        state = "expired" if end < TODAY else ("active" if start <= TODAY else "executed")
        partner = 1 + rnd.randint(1, partners)
        agreements.append({
            "id": i, "title": f"Agreement {i}", "state": state, "revision": 1,
            "source_org_id": 1, "legal_basis": "consent", "purposes": ["academic_support"],
            "categories": ["attendance"], "population": {}, "start_date": start,
            "end_date": end, "scope_description": "", "use_limitation": "",
            "no_reidentification": True, "security_requirements": "", "destruction_days": 30,
            "retention_days": 365, "renewal_notice_days": 60, "clauses": [],
            "template_key": "mou", "created_by_id": 1, "version_id": 1,
            "executed_at": datetime.combine(start - timedelta(days=30), datetime.min.time(),
                                            tzinfo=UTC), "created_at": created})
        parties.append({"agreement_id": i, "organization_id": 1, "role": "source",
                        "signing_group": 1, "review_required": True})
        parties.append({"agreement_id": i, "organization_id": partner, "role": "recipient",
                        "signing_group": 2, "review_required": False})
    _bulk(Agreement, agreements)
    _bulk(AgreementParty, parties)
    recipient_of = {p["agreement_id"]: p["organization_id"] for p in parties
                    if p["role"] == "recipient"}
    open_ids = [a["id"] for a in agreements if a["state"] in ("active", "executed")]
    students, guardians, links, consents = [], [], [], []
    for i in range(1, n_consents + 1):
        birth = TODAY - timedelta(days=rnd.randint(5 * 365, 19 * 365))
        students.append({"id": i, "sourced_id": f"s{i}", "given_name": "Student",
                         "family_name": str(i), "birth_date": birth, "grade": "09",
                         "directory_opt_out": False, "created_at": created})
        guardians.append({"id": i, "sourced_id": f"g{i}", "given_name": "Guardian",
                          "family_name": str(i), "email": f"g{i}@family.example",
                          "created_at": created})
        links.append({"student_id": i, "guardian_id": i, "relationship_kind": "guardian",
                      "has_educational_rights": True})
        agreement_id = rnd.choice(open_ids)
        through = TODAY + timedelta(days=rnd.randint(-30, 700))
        granted = datetime.combine(through - timedelta(days=365), datetime.min.time(),
                                   tzinfo=UTC)
        consents.append({"id": i, "student_id": i, "agreement_id": agreement_id,
                         "recipient_id": recipient_of[agreement_id], "purpose": "academic_support",
                         "category": "attendance", "state": "granted",
                         "valid_from": through - timedelta(days=365), "valid_through": through,
                         "granted_at": granted, "given_as": "guardian", "version_id": 1,
                         "created_at": created})
    _bulk(Student, students)
    _bulk(Guardian, guardians)
    _bulk(StudentGuardian, links)
    _bulk(Consent, consents)
    db.session.commit()
    return {"agreements": n_agreements, "consents": n_consents, "students": n_consents,
            "partners": partners}


def _sweep(app, now) -> tuple[float, int]:
    """(seconds, SQL statements) of one daily round, each job committed by the runner."""
    from consent.scheduler import run_job

    with QueryCounter(db.engine) as counter:
        started = time.perf_counter()
        for func in DAILY:
            if not run_job(app, func, now=now):
                raise SystemExit(f"{func.__name__} failed")
        seconds = time.perf_counter() - started
    return seconds, counter.count


def _baseline(passes: int = 3) -> tuple[float, int]:
    """A bare SELECT of the columns the sweep scans, every row, into tuples (median of
    `passes`, each on a fresh session)."""
    times = []
    for _ in range(passes):
        db.session.remove()
        with QueryCounter(db.engine) as counter:
            started = time.perf_counter()
            db.session.execute(sa.select(Agreement.id, Agreement.state, Agreement.end_date,
                                         Agreement.ended_on)).all()
            db.session.execute(sa.select(Consent.id, Consent.state, Consent.valid_through,
                                         Consent.student_id)).all()
            db.session.execute(sa.select(Student.id, Student.birth_date)).all()
            times.append(time.perf_counter() - started)
    db.session.remove()
    return sorted(times)[len(times) // 2], counter.count


def _counts() -> dict:
    db.session.remove()
    sent = db.session.execute(sa.select(ScheduledNotice.kind, sa.func.count()).where(
        ScheduledNotice.status == "sent").group_by(ScheduledNotice.kind)).all()
    result = {
        "notices_sent": dict(sent),
        "emails": db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))),
        "agreements_expired": db.session.scalar(sa.select(sa.func.count(Agreement.id)).where(
            Agreement.state == "expired")),
        "consents_ended": db.session.scalar(sa.select(sa.func.count(Consent.id)).where(
            Consent.state.in_(("expired", "lapsed")))),
    }
    db.session.remove()
    return result


def _plans() -> list[str]:
    """The query plans of the sweep's main scans (SQLite's EXPLAIN QUERY PLAN)."""
    if db.engine.dialect.name != "sqlite":
        return []
    scans = {
        "agreements ending": sa.select(Agreement.id).where(
            Agreement.state.in_(("executed", "active")), Agreement.end_date >= TODAY,
            Agreement.end_date <= TODAY + timedelta(days=90)),
        "consents expiring": sa.select(Consent.id).where(
            Consent.state == "granted", Consent.valid_through < TODAY),
        "students turning 18": sa.select(Student.id).where(
            Student.birth_date.between(TODAY - timedelta(days=6600), TODAY)),
    }
    lines = []
    for label, query in scans.items():
        sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)).all()
        lines.append(f"{label}: " + "; ".join(row[-1] for row in plan))
    db.session.remove()
    return lines


def _drop_indexes() -> None:
    with db.engine.begin() as conn:
        for name in SWEEP_INDEXES:
            conn.execute(sa.text(f"DROP INDEX {name}"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agreements", type=int, default=100_000)
    parser.add_argument("--consents", type=int, default=100_000)
    parser.add_argument("--partners", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "sweep.json")
    args = parser.parse_args(argv)
    # Late notices on the warm-up day are expected; keep the output to the numbers.
    for name in ("consent", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp, \
            inprocess_database(Path(tmp)) as (url, options, label):
        app = make_app(url, options, Path(tmp) / "instance")
        app.config.update(DISTRICT_TIMEZONE="America/Los_Angeles", MAIL_TRANSPORT="file")
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            world = build_world(args.agreements, args.consents, args.partners, args.seed)
            print(f"database: {label}; world built in {time.perf_counter() - started:.1f} s: "
                  f"{world}")
            # The day before, so the measured day starts from a steady state.
            _sweep(app, local_instant(TODAY - timedelta(days=1), 9, 30))
            before = _counts()
            base_s, base_q = _baseline()
            first_s, first_q = _sweep(app, local_instant(TODAY, 9, 0))
            after = _counts()
            # Reruns: median of three each, so page-cache warmth favours neither.
            reruns = [_sweep(app, local_instant(TODAY, 9, m)) for m in (1, 2, 3)]
            rerun_s, rerun_q = sorted(reruns)[1]
            plans = _plans()
            _drop_indexes()
            bare = [_sweep(app, local_instant(TODAY, 9, m)) for m in (4, 5, 6)]
            bare_s, bare_q = sorted(bare)[1]
            db.session.remove()
            db.drop_all()
    work = {
        "notices_sent": {k: after["notices_sent"].get(k, 0) - before["notices_sent"].get(k, 0)
                         for k in after["notices_sent"]},
        "emails": after["emails"] - before["emails"],
        "agreements_expired": after["agreements_expired"] - before["agreements_expired"],
        "consents_ended": after["consents_ended"] - before["consents_ended"],
    }
    print(f"work done by the measured sweep: {work}")
    print_table("Daily sweep", [
        ("first sweep of the day", f"{ms(first_s)}, {first_q:,} statements",
         f"{ms(base_s)}, {base_q} statements", f"{first_s / base_s:,.1f}x the bare SELECT"),
        ("rerun (nothing new)", f"{ms(rerun_s)}, {rerun_q:,} statements",
         f"{ms(base_s)}, {base_q} statements", f"{rerun_s / base_s:,.1f}x the bare SELECT"),
        ("rerun without the sweep indexes", f"{ms(bare_s)}, {bare_q:,} statements",
         f"{ms(rerun_s)} with them", f"{bare_s / rerun_s:,.1f}x slower"),
    ])
    for line in plans:
        print(f"  plan: {line}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "database": label, "world": world, "work": work,
        "first_sweep": {"seconds": first_s, "statements": first_q},
        "rerun": {"seconds": rerun_s, "statements": rerun_q},
        "rerun_without_indexes": {"seconds": bare_s, "statements": bare_q},
        "baseline_select": {"seconds": base_s, "statements": base_q}, "plans": plans,
    }, indent=2, default=str))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
