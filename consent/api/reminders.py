"""An agreement's reminder schedule: the end reminders' days and every coming date."""

from __future__ import annotations

from flask import g

from consent.api import bp
from consent.api.spec import operation
from consent.api.validation import json_body
from consent.auth.permissions import can_see_agreement, is_district_user
from consent.errors import Forbidden, NotFound
from consent.extensions import db
from consent.models import Agreement
from consent.services import reminders

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
