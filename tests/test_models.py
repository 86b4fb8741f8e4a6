"""Model-wide facts: UTC instants on both databases, the append-only ledger, hashed tokens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from consent.extensions import db as _db
from consent.models import ApiToken, ConsentEvent, RulesChange
from consent.models.base import UTCDateTime
from tests.api.helpers import bearer, make_partnership
from tests.api.test_roles import active_agreement


def test_every_instant_column_stores_aware_utc():
    plain = [f"{table.name}.{column.name}" for table in _db.metadata.sorted_tables
             for column in table.columns
             if isinstance(column.type, sa.DateTime)]  # a bare DateTime, not UTCDateTime
    assert plain == []
    wrapped = [column for table in _db.metadata.sorted_tables for column in table.columns
               if isinstance(column.type, UTCDateTime)]
    assert len(wrapped) >= 15


def test_instants_round_trip_as_utc_and_naive_ones_are_refused(db):
    # 01:30 in New York on the morning clocks spring forward: 06:30 UTC.
    local = datetime(2027, 3, 14, 1, 30, 0, 123456, tzinfo=ZoneInfo("America/New_York"))
    row = RulesChange(at=local, recipient_id=None, subject_type="test", subject_id=1,
                      reason="round_trip")
    db.session.add(row)
    db.session.commit()
    row_id = row.id
    db.session.expire_all()
    back = db.session.get(RulesChange, row_id).at
    assert back == datetime(2027, 3, 14, 6, 30, 0, 123456, tzinfo=UTC)
    assert back.utcoffset() == timedelta(0)
    # Comparing in SQL works on the stored UTC value too.
    assert db.session.scalar(sa.select(sa.func.count(RulesChange.id)).where(
        RulesChange.at > datetime(2027, 3, 14, 6, 30, tzinfo=UTC))) == 1
    assert db.session.scalar(sa.select(sa.func.count(RulesChange.id)).where(
        RulesChange.at > datetime(2027, 3, 14, 6, 31, tzinfo=UTC))) == 0

    db.session.add(RulesChange(at=datetime(2027, 3, 14, 6, 30), recipient_id=None,
                               subject_type="test", subject_id=2, reason="naive"))
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(RulesChange.id))) == 1


def test_consent_ledger_refuses_edits_and_deletes(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    r = client.post(f"/api/v1/students/{p.student.id}/consents",
                    headers=bearer(make.user_token(p.guardian_user)),
                    json={"agreement": aid, "recipient": "promise",
                          "purposes": ["academic_support"], "categories": ["attendance"]})
    assert r.status_code == 201, r.json
    event = db.session.scalar(sa.select(ConsentEvent))
    assert (event.event, event.to_state) == ("grant", "granted")

    event.reason = "rewritten"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.scalar(sa.select(ConsentEvent)))
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.expire_all()
    assert db.session.scalar(sa.select(ConsentEvent.reason)) is None


def test_api_tokens_are_stored_only_as_hashes(runner, db, make):
    org = make.org("Northside Promise Neighborhood", slug="promise")
    result = runner.invoke(args=["clients", "create", "promise", "--name", "nightly export"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    row = db.session.scalar(sa.select(ApiToken))
    assert row.organization_id == org.id and row.user_id is None
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = db.session.execute(sa.select(ApiToken.__table__)).one()
    assert all(token not in str(value) for value in stored)
