"""Grant windows: granted consents worked out ahead for the rules compiler.

A district's full compile reads millions of consent rows. Grouping them into grants
and working out each grant's window on every compile was most of its cost, so it is
done when consents change instead: `refresh` rewrites a student's `GrantWindow` rows
in the transaction that changes the student's consents (a flush listener, so every
ORM write is seen) or birth date (the roster importer, which writes in bulk), and the
compiler reads them (`bundle.consent_grants_for`).

The windows also depend on the district's zone and majority policy. `GrantWindowBasis`
names what the rows were computed with. While it differs from the running app's (a
new table, or a changed zone or policy) the rows are not used or written: the compiler
gets the same rows from `computed`, straight from the consents, and `ensure_current`
(run after `accordant db upgrade`, by `accordant rules rebuild` and when the web app
starts) rebuilds them.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa
from flask import has_app_context
from sqlalchemy.orm import Session

from consent.access.facts import ConsentWindows, instant_of
from consent.extensions import db
from consent.models import Consent, GrantWindow, GrantWindowBasis, RulesChange, Student
from consent.timeutil import iso, utcnow
from workflows import ConsentState

logger = logging.getLogger(__name__)

FORMAT = 1  # of the rows: bump when `terms` or the window rules change
CHUNK = 500  # students per IN list
# Refreshes share this advisory lock and a rebuild takes it alone (PostgreSQL), so
# no refresh writes rows of the old basis into a table being rebuilt.
_ADVISORY_KEY = 0x4757494E  # "GWIN"

_windows = GrantWindow.__table__
_c = Consent.__table__.c

# A row as the compiler reads it: (student id, start, first consent id, terms).
Row = tuple


def basis_now() -> str:
    """The zone, majority policy and format the running app computes windows with."""
    windows = ConsentWindows.current()
    return json.dumps({"zone": windows.zone.key, "lapse": windows.lapse,
                       "grace_days": windows.grace.days, "format": FORMAT}, sort_keys=True)


def is_current(connection: sa.Connection) -> bool:
    """Whether the stored rows were computed as this app would compute them."""
    stored = connection.execute(sa.select(GrantWindowBasis.basis).where(
        GrantWindowBasis.id == 1)).scalar()
    return stored == basis_now()


def driver_rows(connection: sa.Connection, query) -> list[tuple]:
    """The rows of `query` as the driver returns them: plain tuples, without a Row
    object per row (at a million rows, that alone is a third of a compile)."""
    result = connection.execute(query)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def rows_for(connection: sa.Connection, recipient_id: int, agreement_id: int,
             students: Callable, births: Callable[[], dict]) -> tuple[list[Row], Callable]:
    """The grant-window rows of consents given to `recipient_id` under `agreement_id`,
    for the students that `students(column)` (SQL conditions on a student-id column)
    admits, and the function that turns a row's start into an instant. Stored rows
    when they are current, else computed from the consents (`births()`: birth dates
    by student id)."""
    if is_current(connection):
        w = _windows.c
        query = (sa.select(w.student_id, _utc_text(connection, w.starts_at),
                           w.first_consent_id, w.terms)
                 .where(w.recipient_id == recipient_id, w.agreement_id == agreement_id,
                        *students(w.student_id)))
        return driver_rows(connection, query), _parse_utc_text
    return computed(connection, recipient_id, agreement_id, students(_c.student_id),
                    births()), _same


def _same(value):
    return value


def _utc_text(connection: sa.Connection, column):
    """`column` (a UTC instant) as ISO text without an offset. SQLite keeps it so; the
    PostgreSQL server renders it (on its own core) faster than Python converts the
    driver's datetimes to UTC."""
    if connection.dialect.name == "sqlite":
        return sa.type_coerce(column, sa.String)
    return sa.func.to_char(sa.func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US')


def _parse_utc_text(text: str) -> datetime:
    # The suffix is much cheaper than replace(tzinfo=) on the parsed value.
    return datetime.fromisoformat(text + "+00:00")


def computed(connection: sa.Connection, recipient_id: int, agreement_id: int,
             conditions: Iterable, births: dict) -> list[Row]:
    """The rows `refresh` stores, from the consents given under `agreement_id` to the
    recipient that meet `conditions` (`births`: birth date by student id, as the driver
    returns it).

    A grant is one (student, purpose, window) with every category consented to for
    exactly that window, each category naming its consent row (the newest, should
    two rows say the same). Windows follow `facts.consent_window_of`."""
    where = [_c.recipient_id == recipient_id, _c.agreement_id == agreement_id,
             _c.state == ConsentState.GRANTED, _c.granted_at.is_not(None), *conditions]
    categories = sorted(connection.execute(sa.select(_c.category).where(*where).distinct())
                        .scalars())
    if not categories:
        return []

    def raw(column):  # the driver's value: no per-row conversion before the memo lookup
        return sa.type_coerce(column, sa.String)

    # Grouped straight off `ix_consents_grants` (granted rows in recipient, agreement,
    # student and window order), so the database streams the groups without sorting.
    first = sa.func.min(_c.id)
    query = (
        sa.select(_c.student_id, _c.purpose, raw(_c.granted_at), raw(_c.valid_from),
                  raw(_c.valid_through), raw(_c.ended_at), _c.given_as, first,
                  *[sa.func.max(sa.case((_c.category == code, _c.id))) - first
                    for code in categories])
        .where(*where)
        .group_by(_c.student_id, _c.purpose, _c.granted_at, _c.valid_from, _c.valid_through,
                  _c.ended_at, _c.given_as))
    windows = ConsentWindows.current()
    starts, ends, adult_ends = windows.starts, windows.ends, windows.adult_ends
    day_start, day_end, adult_end = windows.day_start, windows.day_end, windows.adult_end
    fromiso = datetime.fromisoformat
    text_times = connection.dialect.name == "sqlite"
    grants: dict[tuple, dict[str, int]] = {}
    for (student_id, purpose, granted_at, valid_from, valid_through, ended_at, given_as,
         first_id, *offsets) in driver_rows(connection, query):
        start = fromiso(granted_at + "+00:00") if text_times else instant_of(granted_at)
        day = starts.get(valid_from) or day_start(valid_from)
        if day > start:
            start = day
        end = ends.get(valid_through) or day_end(valid_through)
        if ended_at is not None:
            end = min(end, instant_of(ended_at))
        if given_as == "guardian":
            if student_id not in births:  # added since `births` was read
                births.update(_births(connection, [student_id]))
            birth = births.get(student_id)
            adult_at = adult_ends[birth] if birth in adult_ends else adult_end(birth)
            if adult_at is not None and adult_at < end:
                end = adult_at
        if start >= end:
            continue
        ids = {code: first_id + d for code, d in zip(categories, offsets, strict=True)
               if d is not None}
        held = grants.setdefault((student_id, purpose, start, end), ids)
        if held is not ids:  # a second consent row says the same: keep the newest
            for code, consent_id in ids.items():
                held[code] = max(held.get(code, consent_id), consent_id)
    terms_of: dict[tuple, str] = {}  # the few distinct terms, encoded once each
    out = []
    for (student_id, purpose, start, end), ids in grants.items():
        first_id = min(ids.values())
        codes = tuple(sorted(ids))
        shape = (purpose, end, codes, tuple(ids[code] - first_id for code in codes))
        terms = terms_of.get(shape)
        if terms is None:
            terms = terms_of[shape] = json.dumps(
                [purpose, iso(end), list(codes), list(shape[3])], separators=(",", ":"))
        out.append((student_id, start, first_id, terms))
    return out


def decode_terms(terms: str) -> tuple[str, datetime, list[str], list[int]]:
    """(purpose, end instant, categories, consent id offsets) of a row's `terms`."""
    purpose, until, codes, offsets = json.loads(terms)
    return purpose, datetime.fromisoformat(until), codes, offsets


def _births(connection: sa.Connection, student_ids: list[int]) -> dict:
    s = Student.__table__.c
    out = {}
    for chunk in _chunks(student_ids):
        out.update(driver_rows(connection, sa.select(
            s.id, sa.type_coerce(s.birth_date, sa.String)).where(s.id.in_(chunk))))
    return out


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert(connection: sa.Connection, recipient_id: int, agreement_id: int,
            rows: list[Row]) -> None:
    for chunk in _chunks(rows, 20_000):
        connection.execute(sa.insert(_windows), [
            {"recipient_id": recipient_id, "agreement_id": agreement_id, "student_id": sid,
             "starts_at": start, "first_consent_id": first, "terms": terms}
            for sid, start, first, terms in chunk])


def refresh(connection: sa.Connection, keys: set[tuple[int, int, int]]) -> None:
    """Rewrite the rows of each (recipient id, agreement id, student id) in `keys` from
    the consents, in the caller's transaction. Nothing is written while the stored rows
    are not current (`rebuild` will write them all)."""
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(_ADVISORY_KEY)))
    if not keys or not is_current(connection):
        return
    student_ids = sorted({student_id for _, _, student_id in keys})
    if postgres:
        # One refresh of a student at a time: another transaction's refresh, computed
        # before this one's consents were committed, must not be the last word.
        s = Student.__table__.c
        for chunk in _chunks(student_ids):
            connection.execute(sa.select(s.id).where(s.id.in_(chunk)).with_for_update())
    births = _births(connection, student_ids)
    by_pair: dict[tuple[int, int], set[int]] = defaultdict(set)
    for recipient_id, agreement_id, student_id in keys:
        by_pair[recipient_id, agreement_id].add(student_id)
    w = _windows.c
    for (recipient_id, agreement_id), students in sorted(by_pair.items()):
        for chunk in _chunks(sorted(students)):
            connection.execute(sa.delete(_windows).where(
                w.recipient_id == recipient_id, w.agreement_id == agreement_id,
                w.student_id.in_(chunk)))
            _insert(connection, recipient_id, agreement_id, computed(
                connection, recipient_id, agreement_id, [_c.student_id.in_(chunk)], births))


def refresh_students(connection: sa.Connection, student_ids: Iterable[int]) -> None:
    """`refresh` every key of these students' granted consents (a birth date changed)."""
    ids = sorted(set(student_ids))
    keys = set()
    for chunk in _chunks(ids):
        keys.update(connection.execute(
            sa.select(_c.recipient_id, _c.agreement_id, _c.student_id).distinct()
            .where(_c.student_id.in_(chunk), _c.state == ConsentState.GRANTED)).all())
    if keys:
        refresh(connection, keys)


def rebuild(connection: sa.Connection) -> int:
    """Recompute every row and record the current basis, in the caller's transaction.
    Returns how many rows were written."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_KEY)))
    replaced = connection.execute(sa.delete(_windows)).rowcount
    s = Student.__table__.c
    births = dict(driver_rows(connection, sa.select(s.id, sa.type_coerce(s.birth_date,
                                                                          sa.String))))
    pairs = connection.execute(sa.select(_c.recipient_id, _c.agreement_id).distinct().where(
        _c.state == ConsentState.GRANTED).order_by(_c.recipient_id, _c.agreement_id)).all()
    written = 0
    for recipient_id, agreement_id in pairs:
        rows = computed(connection, recipient_id, agreement_id, [], births)
        _insert(connection, recipient_id, agreement_id, rows)
        written += len(rows)
    basis = GrantWindowBasis.__table__
    connection.execute(sa.delete(basis))
    connection.execute(sa.insert(basis).values(id=1, basis=basis_now(), built_at=utcnow()))
    if replaced or written:
        # A new rules version: every process's cached rules are compiled again (they
        # may hold what rows written around the application, or another basis, said).
        connection.execute(sa.insert(RulesChange.__table__).values(
            at=utcnow(), recipient_id=None, subject_type="grant_windows", subject_id=0,
            reason="grant_windows_rebuilt"))
    return written


def ensure_current(connection: sa.Connection) -> int | None:
    """`rebuild` if the stored rows are not current; how many rows it wrote, or None."""
    if connection.dialect.name == "postgresql":
        # Web workers start together: the second waits, then finds the rows current.
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_KEY)))
    if is_current(connection):
        return None
    written = rebuild(connection)
    logger.info("grant windows rebuilt for %s: %s rows", basis_now(), written)
    return written


def ensure_current_if_migrated() -> int | None:
    """`ensure_current` in a transaction of its own, once the database has the tables
    (a server may start before `accordant db upgrade` has run)."""
    with db.engine.begin() as connection:
        if not sa.inspect(connection).has_table(GrantWindowBasis.__tablename__):
            logger.warning("grant windows: the database is not migrated yet")
            return None
        return ensure_current(connection)


def _after_flush(session: Session, _context) -> None:
    """Refresh the rows of every consent written by this flush, and of every student
    whose birth date it changed. (A consent's student, agreement and recipient never
    change, so the current values name every row to rewrite.)"""
    if not has_app_context():
        return
    dirty = session.dirty  # built from the whole identity map on each access: once
    keys = {(obj.recipient_id, obj.agreement_id, obj.student_id)
            for obj in (*session.new, *dirty, *session.deleted) if isinstance(obj, Consent)}
    births_changed = [obj.id for obj in dirty if isinstance(obj, Student)
                      and sa.inspect(obj).attrs.birth_date.history.has_changes()]
    if not keys and not births_changed:
        return
    connection = session.connection()
    if keys:
        refresh(connection, keys)
    if births_changed:
        refresh_students(connection, births_changed)


def install() -> None:
    """Listen to every session's flushes (idempotent)."""
    if not sa.event.contains(Session, "after_flush", _after_flush):
        sa.event.listen(Session, "after_flush", _after_flush)
