"""The compiler reads a recipient's granted consents from the covering index
`ix_consents_grants`, in its order: no table reads and no sort, which at a district's
millions of consent rows is most of a full compile."""

from __future__ import annotations

from datetime import timedelta

from consent.access import bundle
from consent.timeutil import utcnow
from tests.access.test_compile import _consent
from tests.factories import district_today

INDEX = "ix_consents_grants"


def _plan(conn, sql: str) -> str:
    if conn.dialect.name == "sqlite":
        return " | ".join(str(row[-1]) for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}"))
    conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table would be scanned
    return " | ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


def test_the_grouped_consents_come_from_the_covering_index_without_a_sort(db, make,
                                                                         monkeypatch):
    make.categories()
    today, now = district_today(), utcnow()
    district, partner = make.org(kind="district"), make.org()
    agreement = make.agreement(district, [partner], state="active",
                               start=today - timedelta(days=10), end=today + timedelta(days=300),
                               executed_at=now - timedelta(days=10),
                               categories=("attendance", "behavior"))
    for n in range(3):
        student = make.student(sourced_id=f"S-{n}")
        for category in ("attendance", "behavior"):
            _consent(db, student, agreement, partner, category,
                     granted_at=now - timedelta(days=n + 1), valid_from=today,
                     valid_through=today + timedelta(days=200))
    db.session.commit()
    queries = []
    read = bundle._driver_rows
    monkeypatch.setattr(bundle, "_driver_rows", lambda q: queries.append(q) or read(q))

    compiled = bundle.compile_rules(partner, 1, now)

    assert compiled.grant_count() == 3
    grouped = [q for q in queries if "consents" in str(q)]
    assert len(grouped) == 1
    sql = str(grouped[0].compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as conn:
        plan = _plan(conn, sql)
    assert INDEX in plan, plan
    if db.engine.dialect.name == "sqlite":
        assert f"COVERING INDEX {INDEX}" in plan and "TEMP B-TREE" not in plan, plan
    else:
        assert "Sort" not in plan, plan
