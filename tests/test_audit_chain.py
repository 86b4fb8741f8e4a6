"""The audit trail is hash-chained: edits and deletions are found and named."""

from __future__ import annotations

import sqlalchemy as sa

from consent.models import AuditEntry
from consent.services import audit
from consent.services.actors import SYSTEM


def _write_entries(db, n=5):
    for i in range(n):
        audit.record("test_event", "agreement", i, SYSTEM, from_state="a", to_state="b",
                     data={"i": i, "name": "Nguyễn O'Brien"})
    db.session.commit()


def test_intact_chain_verifies(db, runner):
    _write_entries(db)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 5 entries" in result.output


def test_edited_entry_is_named(db, runner):
    _write_entries(db)
    # Go around the ORM (which refuses updates) as an attacker with SQL access would.
    db.session.execute(sa.update(AuditEntry.__table__).where(AuditEntry.id == 3)
                       .values(to_state="tampered"))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "broken at entry 3" in result.output
    assert "altered" in result.output


def test_deleted_entry_is_named(db, runner):
    _write_entries(db)
    db.session.execute(sa.delete(AuditEntry.__table__).where(AuditEntry.id == 2))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "broken at entry 2" in result.output


def test_orm_refuses_to_edit_or_delete_entries(db):
    _write_entries(db, 1)
    entry = db.session.scalar(sa.select(AuditEntry))
    entry.event = "changed"
    try:
        db.session.flush()
        raise AssertionError("update was allowed")
    except RuntimeError as exc:
        assert "append-only" in str(exc)
    db.session.rollback()


def test_timestamps_come_back_timezone_aware_utc(db):
    _write_entries(db, 1)
    db.session.expire_all()
    entry = db.session.scalar(sa.select(AuditEntry))
    assert entry.at.tzinfo is not None
    assert entry.at.utcoffset().total_seconds() == 0
