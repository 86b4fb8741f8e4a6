"""An agreement's reminder schedule, and the organization calendar feed's private URL."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, request

from consent.api import bp
from consent.api.spec import operation, query_param
from consent.api.validation import json_body
from consent.auth.permissions import can_see_agreement, is_district_user
from consent.errors import Forbidden, NotFound, ValidationFailed
from consent.extensions import db
from consent.links import external_url
from consent.models import Agreement, Organization
from consent.services import calendar, reminders

REMINDER_DAYS = {
    "type": "object", "additionalProperties": False, "required": ["end_reminder_days"],
    "properties": {"end_reminder_days": {
        "type": "array", "minItems": 1, "maxItems": 12, "uniqueItems": True,
        "items": {"type": "integer", "minimum": 1, "maximum": 3650},
        "description": "Days before the end date at which the legal owner and the "
                       "signatories are reminded (09:00 district time)"}},
}


def _visible(agreement_id: int) -> Agreement:
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None or not can_see_agreement(g.principal.user, agreement_id):
        raise NotFound("no such agreement")
    return agreement


def _schedule(agreement: Agreement) -> dict:
    days = reminders.end_reminder_days(agreement.id)
    return {"end_reminder_days": days,
            "end_reminder_dates": [d.isoformat() for d in
                                   reminders.agreement_end_dates(agreement, days)]}


@operation(bp, "/agreements/<int:agreement_id>/reminders", "GET",
           summary="An agreement's end reminder days and dates", tag="reminders",
           roles=("admin", "legal", "reviewer", "signatory", "staff"))
def get_reminders(agreement_id: int):
    return {"data": _schedule(_visible(agreement_id))}


@operation(bp, "/agreements/<int:agreement_id>/reminders", "PUT",
           summary="Set an agreement's end reminder days", tag="reminders",
           roles=("admin", "legal"), body=REMINDER_DAYS)
def put_reminders(agreement_id: int):
    payload = json_body(REMINDER_DAYS)
    agreement = _visible(agreement_id)
    user = g.principal.user
    if not (user.has_role("admin") or is_district_user(user)):
        raise Forbidden("only the district sets an agreement's reminders")
    reminders.set_end_reminder_days(agreement, payload["end_reminder_days"])
    db.session.commit()
    return {"data": _schedule(agreement)}


CALENDAR_FEED = {
    "type": "object",
    "properties": {"data": {"type": "object", "properties": {
        "url": {"type": "string"}, "organization": {"type": "string"}}}},
}


@operation(bp, "/calendar-feed", "POST",
           summary="Issue (or replace) your organization's private calendar feed URL",
           tag="reminders", roles=("admin", "legal", "staff", "signatory"),
           query=[query_param("organization", "Organization slug (administrators only; "
                                              "default: your own)")],
           responses={200: {"description": "The new URL; the old one stops working",
                            "content": {"application/json": {"schema": CALENDAR_FEED}}}})
def issue_calendar_feed():
    user = g.principal.user
    slug = request.args.get("organization")
    if slug:
        if not user.has_role("admin"):
            raise Forbidden("only administrators issue feeds for other organizations")
        organization = db.session.scalar(sa.select(Organization).where(
            Organization.slug == slug))
        if organization is None:
            raise ValidationFailed(f"no organization '{slug}'", field="organization")
    else:
        organization = db.session.get(Organization, user.organization_id) \
            if user.organization_id else None
        if organization is None:
            raise ValidationFailed("you belong to no organization; name one",
                                   field="organization")
    token = calendar.issue_token(organization)
    db.session.commit()
    return {"data": {"organization": organization.slug,
                     "url": external_url("calendar.feed", token=token)}}
