"""When agreements and consents are in force, as half-open UTC windows [start, end).

Decisions and bundles both use these functions, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, g, has_app_context

from consent.extensions import db
from consent.models import Agreement, AgreementParty, Consent, LegalBasis, RulesChange, Student
from consent.timeutil import district_zone, end_of_day, start_of_day
from workflows.agreement import EXECUTED_STATES

AGE_OF_MAJORITY = 18


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def __and__(self, other: Window) -> Window:
        return Window(max(self.start, other.start), min(self.end, other.end))

    @property
    def empty(self) -> bool:
        return self.start >= self.end


def agreement_window(agreement: Agreement) -> Window | None:
    """From execution (or the start date) through the end date, cut short by an
    earlier termination or supersession; None for an agreement never executed."""
    if agreement.state not in EXECUTED_STATES or agreement.executed_at is None:
        return None
    start = max(start_of_day(agreement.start_date), agreement.executed_at)
    end = end_of_day(agreement.end_date)
    if agreement.ended_on is not None:
        end = min(end, agreement.ended_at or start_of_day(agreement.ended_on))
    if agreement.superseded_at is not None:
        end = min(end, agreement.superseded_at)
    return Window(start, end)


def majority_instant(birth_date: date | None, zone: ZoneInfo | None = None) -> datetime | None:
    """The first instant of the student's 18th birthday in the district's zone."""
    if birth_date is None:
        return None
    try:
        day = birth_date.replace(year=birth_date.year + AGE_OF_MAJORITY)
    except ValueError:  # born 29 February: the birthday falls on 1 March
        day = date(birth_date.year + AGE_OF_MAJORITY, 3, 1)
    return start_of_day(day, zone)


def consent_window(consent: Consent, student: Student) -> Window | None:
    """When a granted consent is in force; None if it never was."""
    return consent_window_of(consent.granted_at, consent.valid_from, consent.valid_through,
                             consent.ended_at, consent.given_as, student.birth_date)


def consent_window_of(granted_at: datetime | None, valid_from: date, valid_through: date,
                      ended_at: datetime | None, given_as: str | None,
                      birth_date: date | None) -> Window | None:
    """`consent_window` from plain values (the bundle compiler reads columns, not rows)."""
    if granted_at is None:
        return None
    start = max(granted_at, start_of_day(valid_from))
    end = end_of_day(valid_through)
    if ended_at is not None:
        end = min(end, ended_at)
    if given_as == "guardian" and current_app.config.get("MAJORITY_POLICY", "lapse") == "lapse":
        # A guardian's consent ends when the student comes of age (default policy).
        adult_at = majority_instant(birth_date)
        if adult_at is not None:
            grace = timedelta(days=current_app.config.get("MAJORITY_GRACE_DAYS", 0))
            end = min(end, adult_at + grace)
    return Window(start, end)


class ConsentWindows:
    """`consent_window_of` for many rows: the compiler's version of the same rule.

    It reads the configuration once and converts each distinct date once (a district
    has a few hundred validity dates and birth dates, and millions of consent rows).
    Values are what the database driver returns (SQLite: ISO text; PostgreSQL: date
    and datetime objects), so that rows need no conversion before the lookup.
    """

    _memo: dict[tuple, ConsentWindows] = {}
    MEMO_LIMIT = 100_000  # distinct dates: far more than a district holds

    def __init__(self, zone, lapse: bool, grace: timedelta) -> None:
        self.zone, self.lapse, self.grace = zone, lapse, grace
        self.starts: dict = {}  # valid_from -> start of that day
        self.ends: dict = {}  # valid_through -> end of that day
        self.adult_ends: dict = {}  # birth date -> end of a guardian's consent, or None

    @classmethod
    def current(cls) -> ConsentWindows:
        """The instance for the app's zone and majority policy, shared by every
        compilation in the process (its conversions depend on nothing else)."""
        zone = district_zone()
        lapse = current_app.config.get("MAJORITY_POLICY", "lapse") == "lapse"
        grace = timedelta(days=current_app.config.get("MAJORITY_GRACE_DAYS", 0))
        key = (zone.key, lapse, grace)
        found = cls._memo.get(key)
        if found is None or len(found.starts) + len(found.ends) + len(
                found.adult_ends) > cls.MEMO_LIMIT:
            found = cls._memo[key] = cls(zone, lapse, grace)
        return found

    def day_start(self, value) -> datetime:
        """The start of day `value` in the district (memoised in `starts`)."""
        out = self.starts[value] = start_of_day(_date(value), self.zone)
        return out

    def day_end(self, value) -> datetime:
        """The end of day `value` in the district (memoised in `ends`)."""
        out = self.ends[value] = end_of_day(_date(value), self.zone)
        return out

    def adult_end(self, birth) -> datetime | None:
        """When a guardian's consent ends for a student born on `birth` (memoised in
        `adult_ends`); None when it does not end at majority."""
        adult_at = None
        if self.lapse and birth is not None:
            adult_at = majority_instant(_date(birth), self.zone)
            if adult_at is not None:
                adult_at += self.grace
        self.adult_ends[birth] = adult_at
        return adult_at


def _date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def instant_of(value) -> datetime | None:
    """A driver's timestamp value as an aware UTC instant (as `UTCDateTime` reads it)."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite keeps UTC as ISO text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def lineage_ids(agreement: Agreement) -> list[int]:
    """The agreement and every predecessor it renews or amends, newest first.

    Consents given under a predecessor carry on under its successors (each still
    bounded by its own dates and by what the successor covers).
    """
    ids, current = [], agreement
    while current is not None and current.id not in ids:
        ids.append(current.id)
        current = current.predecessor
    return ids


def covers_population(agreement: Agreement, student: Student) -> bool:
    """Whether the agreement's schools and grades include the student."""
    return covers(agreement, student.school_id, student.grade)


def covers(agreement: Agreement, school_id: int | None, grade: str | None) -> bool:
    """`covers_population` from plain values; an empty list does not restrict."""
    population = agreement.population or {}
    schools, grades = population.get("schools") or [], population.get("grades") or []
    return (not schools or school_id in schools) and (not grades or grade in grades)


def agreements_for_recipient(recipient_id: int) -> list[Agreement]:
    """Executed agreements naming the recipient, oldest first."""
    return list(db.session.scalars(
        sa.select(Agreement).join(AgreementParty).where(
            AgreementParty.organization_id == recipient_id, AgreementParty.role == "recipient",
            Agreement.state.in_([s.value for s in EXECUTED_STATES]))
        .order_by(Agreement.id)))


def is_exception(basis: str) -> bool:
    """Disclosures without consent: the district logs these under FERPA 99.32."""
    return basis not in (LegalBasis.CONSENT, LegalBasis.DIRECTORY_INFORMATION)


_CHANGES = RulesChange.__table__.c


def _newest(where):
    return sa.select(sa.func.max(_CHANGES.id)).where(where).scalar_subquery()


# Built once: this runs on every decision request, and building the statement cost
# more than sending it. From the table's columns, so the session runs it as a plain
# statement (it still flushes first) without the ORM's per-statement work. Two index
# lookups (an OR of both conditions makes the database scan every row), sent as one.
_NEWEST_ANY = sa.select(sa.func.max(_CHANGES.id))
_NEWEST_FOR = sa.select(_newest(_CHANGES.recipient_id == sa.bindparam("recipient_id")),
                        _newest(_CHANGES.recipient_id.is_(None)))


def newest_change_columns(recipient_id) -> tuple:
    """The two subqueries `rules_version` sends, for `recipient_id` (a value or a column
    of the enclosing statement), to ride along with a statement sent anyway."""
    return (_newest(_CHANGES.recipient_id == recipient_id),
            _newest(_CHANGES.recipient_id.is_(None)))


def remember_rules_version(recipient_id: int, mine: int | None, shared: int | None) -> None:
    """Hold, for the rest of this request, the version read by `newest_change_columns`.

    Only for requests that never write (see `consent.auth.access.reads_only`): they
    cannot add a change themselves, and a change committed by someone else after the
    read is one the request would equally have missed a moment later.
    """
    g.rules_versions = {recipient_id: max(mine or 0, shared or 0)}


def forget_rules_versions(_exc=None) -> None:
    """teardown_request hook: a version kept for one request never outlives it (tests
    and scripts may run several requests in one application context)."""
    g.pop("rules_versions", None)


def rules_version(recipient_id: int | None) -> int:
    """The rules version: the newest change affecting the recipient (all, if None)."""
    if recipient_id is None:
        return db.session.scalar(_NEWEST_ANY) or 0
    if has_app_context() and recipient_id in g.get("rules_versions", ()):
        return g.rules_versions[recipient_id]
    mine, shared = db.session.execute(_NEWEST_FOR, {"recipient_id": recipient_id}).one()
    return max(mine or 0, shared or 0)
