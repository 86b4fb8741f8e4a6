"""An organization's calendar feed (RFC 5545): agreement end dates and reminder dates.

The feed is read by calendar programs that cannot sign in, so it lives at a URL
holding a long random token; only the token's SHA-256 is stored, and issuing a new
one retires the old URL. Generated with the `icalendar` package, which folds long
lines and escapes text as the RFC requires.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import icalendar
import sqlalchemy as sa

from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementParty,
    CalendarFeed,
    Organization,
    hash_token,
    new_token,
)
from consent.services import reminders
from consent.timeutil import district_zone, local_date
from workflows import AgreementState

PRODID = "-//Accordant//Agreement calendar//EN"
# Agreements whose dates belong in the calendar: signed and not yet over, plus those
# ended within the last year (their destruction certificates are still being chased).
SHOWN = (AgreementState.EXECUTED.value, AgreementState.ACTIVE.value)
ENDED = (AgreementState.EXPIRED.value, AgreementState.TERMINATED.value)


def issue_token(organization: Organization) -> str:
    """Create or replace the organization's feed token; returns it (shown only once).
    Flushes; the caller commits."""
    token = new_token()
    feed = db.session.scalar(sa.select(CalendarFeed).where(
        CalendarFeed.organization_id == organization.id))
    if feed is None:
        feed = CalendarFeed(organization_id=organization.id, token_hash=hash_token(token))
        db.session.add(feed)
    else:
        feed.token_hash = hash_token(token)
    db.session.flush()
    return token


def organization_for(token: str) -> Organization | None:
    """The organization whose feed the token opens, or None."""
    if not token or len(token) > 200:
        return None
    feed = db.session.scalar(sa.select(CalendarFeed).where(
        CalendarFeed.token_hash == hash_token(token)))
    return db.session.get(Organization, feed.organization_id) if feed else None


def _agreements(organization: Organization, today: date) -> list[Agreement]:
    party_of = sa.select(AgreementParty.agreement_id).where(
        AgreementParty.organization_id == organization.id)
    return list(db.session.scalars(sa.select(Agreement).where(
        sa.or_(Agreement.id.in_(party_of), Agreement.source_org_id == organization.id),
        sa.or_(Agreement.state.in_(SHOWN),
               sa.and_(Agreement.state.in_(ENDED),
                       Agreement.end_date >= today - timedelta(days=365))))
        .order_by(Agreement.end_date, Agreement.id)))


def _all_day(uid: str, day: date, summary: str, description: str, stamp: datetime):
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")
    return event


def build(organization: Organization, now: datetime) -> bytes:
    """The organization's calendar as iCalendar bytes (CRLF lines, folded at 75 octets)."""
    zone = district_zone()
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"Accordant: {organization.name}")
    cal.add("x-wr-timezone", zone.key)
    for agreement in _agreements(organization, local_date(now, zone)):
        title = agreement.title
        if agreement.state in SHOWN:
            cal.add_component(_all_day(
                f"agreement-{agreement.id}-end@accordant", agreement.end_date,
                f"Agreement ends: {title}",
                f"Last day in force of \"{title}\" (agreement {agreement.id}).", now))
            days = reminders.end_reminder_days(agreement.id)
            for day in reminders.agreement_end_dates(agreement, days):
                left = (agreement.end_date - day).days
                event = icalendar.Event()
                event.add("uid", f"agreement-{agreement.id}-reminder-{day.isoformat()}@accordant")
                event.add("dtstamp", now)
                # The instant the reminder is sent (the district's local hour), in UTC.
                start = reminders.due_instant(day, zone)
                event.add("dtstart", start)
                event.add("dtend", start + timedelta(minutes=15))
                event.add("summary", f"Reminder: {title} ends in {left} days")
                event.add("description",
                          f"\"{title}\" ends on {agreement.end_date.isoformat()}.")
                cal.add_component(event)
        else:
            due = reminders.destruction_due_on(agreement)
            cal.add_component(_all_day(
                f"agreement-{agreement.id}-destruction@accordant", due,
                f"Certificate of destruction due: {title}",
                f"\"{title}\" ended; its data must be destroyed and certified by this day.",
                now))
    return cal.to_ical()
