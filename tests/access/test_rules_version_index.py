"""Every decision reads the recipient's rules version; the database must answer it
from the (recipient_id, id) index, not by reading every change of the recipient."""

from __future__ import annotations

import sqlalchemy as sa

from consent.models import RulesChange

INDEX = "ix_rules_changes_recipient_version"


def test_the_newest_change_of_a_recipient_comes_from_the_version_index(db, make):
    org = make.org("Northside Promise Neighborhood", kind="nonprofit", slug="promise")
    changes = [RulesChange(at=sa.func.now(), recipient_id=org.id if i % 2 else None,
                           subject_type="consent", subject_id=i, reason="test")
               for i in range(200)]
    db.session.add_all(changes)
    db.session.commit()
    expected = max(c.id for c in changes if c.recipient_id == org.id)
    query = sa.select(sa.func.max(RulesChange.id)).where(RulesChange.recipient_id == org.id)
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {sql}"))
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table would be scanned
            plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
    assert INDEX in plan, plan
    assert db.session.scalar(query) == expected
