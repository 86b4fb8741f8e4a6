"""One recipient's compile, and the time from a revocation to the next bundle version."""

from __future__ import annotations

import json
import random
import time

import sqlalchemy as sa

from bench.common import (
    QueryCounter,
    clear_rules_cache,
    fresh_session,
    median,
    peak_memory,
    timed,
)
from consent.access.bundle import bundle_document, compile_bundle, compile_rules
from consent.access.cache import rules_for
from consent.access.decisions import decide, decide_current
from consent.access.facts import rules_version
from consent.auth.permissions import is_adult
from consent.extensions import db
from consent.models import Consent, Guardian, Organization, Role, Student, StudentGuardian, User
from consent.services.actors import actor_for
from consent.services.consents import revoke
from consent.timeutil import local_date, utcnow

# --------------------------------------------------------------------------- one recipient


def _select_consent_rows(recipient_id):
    table = Consent.__table__
    return [tuple(row) for row in db.session.execute(sa.select(*table.columns).where(
        table.c.recipient_id == recipient_id))]


def _compile_full(recipient_id):
    """compile_rules from scratch (what the cache does on a miss), in the current session."""
    recipient = db.session.get(Organization, recipient_id)
    return compile_rules(recipient, rules_version(recipient_id), utcnow())


def bench_compile_one(app, recipient_id, repeats) -> dict:
    """compile_rules for one recipient against one SELECT of its consent rows; also the
    bundle document built from the warm cache (what GET /rules/bundle does per call)."""
    _compile_full(recipient_id)  # warm-up (statement caches, mappers)
    _select_consent_rows(recipient_id)
    compile_times, compiled = timed(lambda: _compile_full(recipient_id), repeats)
    select_times, rows = timed(lambda: _select_consent_rows(recipient_id), repeats)
    compile_peak, _ = peak_memory(lambda: _compile_full(recipient_id))
    select_peak, _ = peak_memory(lambda: _select_consent_rows(recipient_id))
    fresh_session()
    with QueryCounter(db.engine) as counter:
        _compile_full(recipient_id)

    clear_rules_cache(app)
    fresh_session()
    bundle = compile_bundle(db.session.get(Organization, recipient_id), utcnow())  # fills cache

    def cached_bundle():
        return compile_bundle(db.session.get(Organization, recipient_id), utcnow())

    cached_times, _ = timed(cached_bundle, repeats)
    started = time.perf_counter()
    text = json.dumps(bundle, separators=(",", ":"))
    json_seconds = time.perf_counter() - started
    return {
        "recipient_id": recipient_id,
        "grants": len(bundle["grants"]),
        "compiled_grants": compiled.grant_count(),
        "bundle_json_bytes": len(text),
        "bundle_json_dumps_seconds": json_seconds,
        "consent_rows": len(rows),
        "compile_queries": counter.count,
        "repeats": repeats,
        "compile_seconds_median": median(compile_times),
        "compile_seconds_min": min(compile_times),
        "compile_peak_bytes": compile_peak,
        "baseline_select_seconds_median": median(select_times),
        "baseline_select_seconds_min": min(select_times),
        "baseline_select_peak_bytes": select_peak,
        "cached_bundle_seconds_median": median(cached_times),
    }


# --------------------------------------------------------------------------- revocation


def _bundle_consent_ids(bundle) -> set[int]:
    return {cid for grant in bundle["grants"] for cid in grant["consents"]}


def _people_who_may_revoke(consent_ids) -> dict[int, int]:
    """consent id -> id of a user who may revoke it (a guardian with educational rights
    before 18, the student from 18), created for the benchmark (untimed setup)."""
    role = db.session.scalar(sa.select(Role).where(Role.name == "guardian"))
    if role is None:
        role = Role(name="guardian")
        db.session.add(role)
    student_role = db.session.scalar(sa.select(Role).where(Role.name == "student"))
    if student_role is None:
        student_role = Role(name="student")
        db.session.add(student_role)
    today = local_date(utcnow())
    users = {}
    for consent_id in consent_ids:
        consent = db.session.get(Consent, consent_id)
        student = db.session.get(Student, consent.student_id)
        user = User(email=f"bench-revoker-{consent_id}@family.example",
                    name=f"Revoker {consent_id}")
        adult = is_adult(student, today)
        user.roles = [student_role if adult else role]
        db.session.add(user)
        db.session.flush()
        if adult:
            student.user_id = user.id
        else:
            link = db.session.scalar(sa.select(StudentGuardian).where(
                StudentGuardian.student_id == student.id))
            db.session.get(Guardian, link.guardian_id).user_id = user.id
        users[consent_id] = user.id
    db.session.commit()
    return users


def bench_revocation(app, recipient_id, count, seed) -> dict:
    """Revoke `count` consents the bundle lists, one at a time, through the consent
    service (`consent.services.consents.revoke`, as the family's revoke does), and time
    until the next bundle carries the new version: the cache's incremental path. The
    baseline is a full compile_rules of the same recipient just before each revocation."""
    clear_rules_cache(app)
    fresh_session()
    first = compile_bundle(db.session.get(Organization, recipient_id), utcnow())
    in_force = sorted(_bundle_consent_ids(first))
    chosen = random.Random(seed + 2).sample(in_force, min(count, len(in_force)))
    revokers = _people_who_may_revoke(chosen)
    store = app.extensions["accordant_rules_cache"]
    rows = []
    for consent_id in chosen:
        fresh_session()
        started = time.perf_counter()
        _compile_full(recipient_id)
        full_seconds = time.perf_counter() - started
        cached = store[recipient_id]

        fresh_session()
        started = time.perf_counter()
        consent = db.session.get(Consent, consent_id)
        user = db.session.get(User, revokers[consent_id])
        revoke(consent, user, actor_for(user, channel="web"), reason="benchmark")
        db.session.commit()
        committed = time.perf_counter()
        fresh_session()
        recipient = db.session.get(Organization, recipient_id)
        now = utcnow()
        compiled = rules_for(recipient, now)  # what compile_bundle does first
        updated = time.perf_counter()
        bundle = bundle_document(compiled, now)  # ... and then
        done = time.perf_counter()

        version = rules_version(recipient_id)
        consent = db.session.get(Consent, consent_id)
        student = db.session.get(Student, consent.student_id)
        reference = decide(recipient, student, student.sourced_id, consent.category,
                           consent.purpose, utcnow())
        current = decide_current(recipient, student.sourced_id, consent.category,
                                 consent.purpose, utcnow())
        rows.append({
            "consent_id": consent_id,
            "revoke_commit_seconds": committed - started,
            "rules_for_seconds": updated - committed,
            "bundle_document_seconds": done - updated,
            "commit_to_bundle_seconds": done - committed,
            "total_seconds": done - started,
            "baseline_full_compile_seconds": full_seconds,
            "incremental": compiled.exception_grants is cached.exception_grants,
            "reflected": (consent.state == "revoked"
                          and consent_id not in _bundle_consent_ids(bundle)
                          and bundle["version"] == version > cached.version),
            "decide_denies_after": reference.decision == "deny",
            "decide_current_denies_after": current.decision == "deny",
        })
    return {
        "revocations": len(rows),
        "path": "consent.services.consents.revoke + commit",
        "all_reflected": all(r["reflected"] for r in rows),
        "all_incremental": all(r["incremental"] for r in rows),
        "decide_denies_after_all": all(r["decide_denies_after"] for r in rows),
        "decide_current_denies_after_all": all(r["decide_current_denies_after"] for r in rows),
        **{f"{key}_median": median([r[key] for r in rows]) for key in (
            "revoke_commit_seconds", "rules_for_seconds", "bundle_document_seconds",
            "commit_to_bundle_seconds", "total_seconds", "baseline_full_compile_seconds")},
        "total_seconds_max": max(r["total_seconds"] for r in rows),
        "runs": rows,
    }
