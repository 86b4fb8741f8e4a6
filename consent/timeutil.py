"""Time helpers: instants are aware UTC; agreement and consent dates are local dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app

from consent import rfc3339


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


def district_zone() -> ZoneInfo:
    """The district's configured time zone."""
    return ZoneInfo(current_app.config["DISTRICT_TIMEZONE"])


def local_date(at: datetime, zone: ZoneInfo | None = None) -> date:
    """The calendar date of instant `at` in the district."""
    return at.astimezone(zone or district_zone()).date()


def start_of_day(day: date, zone: ZoneInfo | None = None) -> datetime:
    """The first instant of `day` in the district, in UTC."""
    return _start_of_day(day, zone or district_zone())


@lru_cache(maxsize=4096)
def _start_of_day(day: date, zone: ZoneInfo) -> datetime:
    # Compilers ask for the same few dates thousands of times.
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def end_of_day(day: date, zone: ZoneInfo | None = None) -> datetime:
    """The first instant after `day` in the district, in UTC ("valid through D" ends here)."""
    return start_of_day(day + timedelta(days=1), zone)


# Dates outside these years are refused at the edge: agreements and consents are
# about school years, and window arithmetic must never overflow.
FIRST_YEAR, LAST_YEAR = 1900, 2999


def check_year(day: date) -> None:
    """:raises ValueError: the date is outside the supported years."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"dates must fall between {FIRST_YEAR} and {LAST_YEAR}")


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 instant (it carries an offset) as aware UTC.

    :raises ValueError: not RFC 3339, or outside the supported years (in UTC).
    """
    value = rfc3339.parse(text)
    check_year(value.date())  # first, so that year 1 or 9999 cannot overflow in UTC
    value = value.astimezone(UTC)
    check_year(value.date())
    return value


def iso(at: datetime | None) -> str | None:
    """Render an instant as ISO 8601 UTC with a Z."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
