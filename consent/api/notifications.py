"""The notification centre over the API: a person's own notifications only."""

from __future__ import annotations

from flask import g, request

from consent.api import bp
from consent.api.spec import operation, query_param
from consent.errors import ValidationFailed
from consent.extensions import db
from consent.services import inbox
from consent.timeutil import iso, utcnow

NOTIFICATION = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string"}, "title": {"type": "string"},
        "body": {"type": "string"}, "link": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "read_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def _dict(row) -> dict:
    return {"id": row.id, "kind": row.kind, "title": row.title, "body": row.body,
            "link": row.link, "created_at": iso(row.created_at), "read_at": iso(row.read_at)}


@operation(bp, "/notifications", "GET", summary="Your notifications, newest first",
           tag="notifications",
           query=[query_param("unread", "true: only unread ones", schema={
               "type": "string", "enum": ["true", "false"]})],
           responses={200: {"description": "OK", "content": {"application/json": {"schema": {
               "type": "object", "properties": {
                   "data": {"type": "array", "items": NOTIFICATION},
                   "unread": {"type": "integer"}}}}}}})
def list_notifications():
    unread = request.args.get("unread", "false")
    if unread not in ("true", "false"):
        raise ValidationFailed("unread must be true or false", field="unread")
    user = g.principal.user
    rows = inbox.for_user(user, unread_only=unread == "true")
    return {"data": [_dict(r) for r in rows], "unread": inbox.unread_count(user)}


@operation(bp, "/notifications/<int:notification_id>/read", "POST",
           summary="Mark one of your notifications read", tag="notifications")
def read_notification(notification_id: int):
    row = inbox.mark_read(g.principal.user, notification_id, utcnow())
    db.session.commit()
    return {"data": _dict(row)}


@operation(bp, "/notifications/read", "POST", summary="Mark all your notifications read",
           tag="notifications")
def read_all_notifications():
    changed = inbox.mark_all_read(g.principal.user, utcnow())
    db.session.commit()
    return {"data": {"marked": changed}}
