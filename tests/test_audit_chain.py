"""The audit trail is hash-chained: edits and deletions are found and named."""

from __future__ import annotations

import re

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


def test_the_first_of_several_broken_links_is_named(db, runner):
    _write_entries(db)
    for entry_id in (4, 2):
        db.session.execute(sa.update(AuditEntry.__table__).where(AuditEntry.id == entry_id)
                           .values(actor_label="someone else"))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "broken at entry 2: entry 2 was altered (1 entries verified before it)" in (
        result.output)


def _head(runner) -> str:
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    return re.search(r"head (\d+:[0-9a-f]{64})", result.output).group(1)


def test_entries_cut_off_the_end_are_found_with_the_recorded_head(db, runner):
    _write_entries(db)
    head = _head(runner)
    last = db.session.scalar(sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert head == f"5:{last.entry_hash}"
    _write_entries(db, 2)  # the chain grows on: the old head still verifies
    assert runner.invoke(args=["audit", "verify", "--head", head]).exit_code == 0
    db.session.execute(sa.delete(AuditEntry.__table__).where(AuditEntry.id >= 5))
    db.session.commit()
    # Without the head the shorter chain looks whole; with it the cut is named.
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    result = runner.invoke(args=["audit", "verify", "--head", head])
    assert result.exit_code == 1
    assert "broken at entry 5" in result.output and "cut after entry 4" in result.output


def test_a_rewritten_head_is_found(db, runner):
    """An attacker who deletes the last entry and appends a fresh, well-linked one in its
    place leaves a valid chain, but not the recorded head."""
    _write_entries(db, 3)
    head = _head(runner)
    db.session.execute(sa.delete(AuditEntry.__table__).where(AuditEntry.id == 3))
    db.session.commit()
    audit.record("harmless", "agreement", 1, SYSTEM)
    db.session.commit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    result = runner.invoke(args=["audit", "verify", "--head", head])
    assert result.exit_code == 1
    assert "broken at entry 3: entry 3 is not the recorded head" in result.output


def test_a_malformed_head_is_refused(db, runner):
    result = runner.invoke(args=["audit", "verify", "--head", "five"])
    assert result.exit_code == 2
    assert "--head" in result.output
