"""Compiled rules, cached per recipient and kept current by the rules version.

Every change that can alter a recipient's rules writes a `RulesChange` row in the
same transaction, so one cheap query for the newest version tells whether the
cached rules are current. When the only changes since are consents, just those
students' grants are recompiled; anything else recompiles the recipient.
The cache lives in each process; processes never share it.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from consent.access.bundle import (
    CompiledRules,
    Students,
    category_fields,
    compile_rules,
    consent_agreements,
    consent_grants_for,
)
from consent.access.facts import rules_version
from consent.extensions import db
from consent.models import Consent, Organization, RulesChange, Student

logger = logging.getLogger(__name__)
_lock = threading.Lock()


def _store() -> dict[int, CompiledRules]:
    return current_app.extensions.setdefault("accordant_rules_cache", {})


def rules_for_all(recipients: list[Organization], now: datetime) -> list[CompiledRules]:
    """`rules_for` each recipient; those compiled from scratch share one read of the
    students (a district bundle or export asks for every recipient at once)."""
    students = Students()  # read only if some recipient needs a full compile
    return [rules_for(recipient, now, students) for recipient in recipients]


def rules_for(recipient: Organization, now: datetime,
              students: Students | None = None) -> CompiledRules:
    """The recipient's compiled rules at the current version."""
    version = rules_version(recipient.id)
    store = _store()
    cached = store.get(recipient.id)
    if cached is not None and cached.version == version and cached.compiled_at <= now:
        return cached
    compiled = None
    if cached is not None and cached.version < version and cached.compiled_at <= now:
        compiled = _update_consents(cached, version, now)
    if compiled is None:
        compiled = compile_rules(recipient, version, now, students)
    with _lock:
        current = store.get(recipient.id)
        if current is None or current.version <= compiled.version:
            store[recipient.id] = compiled
    return compiled


def _update_consents(cached: CompiledRules, version: int, now: datetime) -> CompiledRules | None:
    """Recompile only the students whose consents changed; None if other things did."""
    changes = db.session.execute(sa.select(RulesChange.subject_type, RulesChange.subject_id).where(
        RulesChange.id > cached.version, RulesChange.id <= version,
        sa.or_(RulesChange.recipient_id == cached.recipient_id,
               RulesChange.recipient_id.is_(None)))).all()
    if not changes or any(kind != "consent" for kind, _ in changes):
        return None
    student_ids = sorted(set(db.session.scalars(sa.select(Consent.student_id).where(
        Consent.id.in_([subject for _, subject in changes])))))
    sourced = set(db.session.scalars(sa.select(Student.sourced_id).where(
        Student.id.in_(student_ids))))
    fields = category_fields()
    held = {cg.agreement: cg for cg in cached.consent_grants}
    consent_grants = []
    # Compile as of the cached instant, so the result answers every time the rest does.
    since = cached.compiled_at
    for agreement, window in consent_agreements(cached.recipient_id, since):
        fresh = consent_grants_for(agreement, window, cached.recipient_id, since, fields,
                                   student_ids)
        old = held.get(agreement.id)
        if old is not None:  # the other students' grants carry over unchanged
            fresh = old.with_students(fresh, sourced)
        consent_grants.append(fresh)
    logger.debug("rules for %s: %s students recompiled", cached.recipient_slug, len(sourced))
    return CompiledRules(cached.recipient_id, cached.recipient_slug, version, cached.compiled_at,
                         cached.exception_grants, consent_grants,
                         exact_from=max(now, cached.exact_from or now))

