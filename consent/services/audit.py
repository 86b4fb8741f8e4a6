"""The hash-chained audit log: append entries and verify the chain."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa

from consent.extensions import db
from consent.models import AuditEntry
from consent.services.actors import Actor
from consent.timeutil import iso, utcnow

GENESIS = "0" * 64
# Any constant works; it names the lock that serialises appends on PostgreSQL.
_CHAIN_LOCK_KEY = 7_301_998_001


def _entry_hash(prev_hash: str, fields: dict) -> str:
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def _hashed_fields(e: AuditEntry) -> dict:
    return {
        "id": e.id, "at": iso(e.at), "actor_user_id": e.actor_user_id,
        "actor_label": e.actor_label, "ip": e.ip_address, "user_agent": e.user_agent,
        "subject_type": e.subject_type, "subject_id": e.subject_id, "event": e.event,
        "from_state": e.from_state, "to_state": e.to_state, "revision_hash": e.revision_hash,
        "data": e.data or {},
    }


def record(event: str, subject_type: str, subject_id: int | None, actor: Actor, *,
           from_state: str | None = None, to_state: str | None = None,
           revision_hash: str | None = None, data: dict | None = None) -> AuditEntry:
    """Append one entry to the chain in the caller's transaction (flushes, never commits)."""
    session = db.session
    if db.engine.dialect.name == "postgresql":
        # Two transactions must not both extend the same last link.
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK_KEY})
    last = session.execute(
        sa.select(AuditEntry.id, AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    entry = AuditEntry(
        id=(last.id + 1) if last else 1, at=utcnow(), actor_user_id=actor.id,
        actor_label=actor.label, ip_address=actor.ip, user_agent=actor.user_agent,
        subject_type=subject_type, subject_id=subject_id, event=event, from_state=from_state,
        to_state=to_state, revision_hash=revision_hash, data=data or {},
        prev_hash=last.entry_hash if last else GENESIS, entry_hash="",
    )
    entry.entry_hash = _entry_hash(entry.prev_hash, _hashed_fields(entry))
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    entries: int
    first_broken_id: int | None
    problem: str | None
    head: str | None = None  # "id:hash" of the last entry of an intact chain

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


def verify_chain(batch: int = 5000, head: str | None = None) -> ChainReport:
    """Walk the whole chain; name the first entry whose link or content does not verify.

    A chain alone cannot show that entries were cut off its end. `head`, the
    "id:hash" an earlier verification reported (and that was kept elsewhere), must
    still be in the chain, unchanged; otherwise that entry is named as the break.
    """
    prev_hash, expected_id, count, after = GENESIS, 1, 0, 0
    anchor_id, _, anchor_hash = (head or "").partition(":")
    while True:
        # Plain rows, not ORM objects: the walk must not touch the caller's session.
        rows = db.session.execute(
            sa.select(*AuditEntry.__table__.c).where(AuditEntry.id > after)
            .order_by(AuditEntry.id).limit(batch)).all()
        if not rows:
            if head and int(anchor_id) >= expected_id:
                return ChainReport(count, int(anchor_id), f"entry {anchor_id} (the recorded "
                                   f"head) is missing: the chain was cut after entry {after}")
            return ChainReport(count, None, None, f"{after}:{prev_hash}" if count else None)
        for e in rows:
            if e.id != expected_id:
                return ChainReport(count, expected_id, f"entry {expected_id} is missing")
            if e.prev_hash != prev_hash:
                return ChainReport(count, e.id, f"entry {e.id} does not link to entry {e.id - 1}")
            if _entry_hash(e.prev_hash, _hashed_fields(e)) != e.entry_hash:
                return ChainReport(count, e.id, f"entry {e.id} was altered")
            if head and e.id == int(anchor_id) and e.entry_hash != anchor_hash:
                return ChainReport(count, e.id, f"entry {e.id} is not the recorded head "
                                   "(it was replaced)")
            prev_hash, expected_id, count, after = e.entry_hash, e.id + 1, count + 1, e.id
