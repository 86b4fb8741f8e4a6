"""The compiler reads a recipient's grant windows off the covering index
`ix_grant_windows_read`, and the grant windows are computed from the granted consents
off the covering index `ix_consents_grants`, in its order: no table reads and no sort,
which at a district's millions of consent rows is most of the work."""

from __future__ import annotations

from datetime import timedelta

from consent.access import bundle, grant_windows
from consent.timeutil import utcnow
from tests.access.test_compile import _consent
from tests.factories import district_today


def _plan(conn, sql: str) -> str:
    if conn.dialect.name == "sqlite":
        return " | ".join(str(row[-1]) for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}"))
    conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table would be scanned
    return " | ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


def _world(db, make):
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
    return partner, agreement, now


def _recorded(monkeypatch) -> list:
    queries = []
    read = grant_windows.driver_rows
    monkeypatch.setattr(grant_windows, "driver_rows",
                        lambda conn, q: queries.append(q) or read(conn, q))
    return queries


def _assert_covering_without_sort(db, query, index: str) -> None:
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as conn:
        plan = _plan(conn, sql)
    assert index in plan, plan
    if db.engine.dialect.name == "sqlite":
        assert f"COVERING INDEX {index}" in plan and "TEMP B-TREE" not in plan, plan
    else:
        assert "Sort" not in plan, plan


def test_the_compiler_reads_grant_windows_from_their_covering_index(db, make, monkeypatch):
    partner, _agreement, now = _world(db, make)
    queries = _recorded(monkeypatch)

    compiled = bundle.compile_rules(partner, 1, now)

    assert compiled.grant_count() == 3
    assert not [q for q in queries if "consents" in str(q)]  # the consents are not read
    read = [q for q in queries if "grant_windows" in str(q)]
    assert len(read) == 1
    _assert_covering_without_sort(db, read[0], "ix_grant_windows_read")


def test_grant_windows_are_grouped_from_the_consents_covering_index_without_a_sort(
        db, make, monkeypatch):
    partner, agreement, _now = _world(db, make)
    queries = _recorded(monkeypatch)

    rows = grant_windows.computed(db.session.connection(), partner.id, agreement.id, [], {})

    assert len(rows) == 3
    grouped = [q for q in queries if "consents" in str(q)]
    assert len(grouped) == 1
    _assert_covering_without_sort(db, grouped[0], "ix_consents_grants")
