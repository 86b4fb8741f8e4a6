"""The clause library: standard clauses legal staff edit and add, kept as versions.

Every save appends a version (rows are never changed) and an audit entry in the same
transaction. New agreement drafts start from the current, unretired version of each
clause; an agreement keeps its own copy, so editing the library never changes an
agreement already drafted. Functions here flush; the caller commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from consent.errors import Conflict, Forbidden, NotFound, ValidationFailed
from consent.extensions import db
from consent.models import ClauseTemplate
from consent.services import audit
from consent.services.actors import Actor
from consent.services.clause_text import ClauseError, check_clause

# The clauses the library holds before anyone edits it (version 0 means built in).
BUILT_IN = (
    ("data-returned", "Data returned to the district",
     "{{ recipients }} reports program participation and outcomes to {{ district }} each "
     "quarter, without names, so that the partnership's results can be measured."),
    ("governing-law", "Governing law",
     "This agreement is governed by the laws of the state where {{ district }} is located."),
)
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class LibraryClause:
    """The current version of one clause (version 0: the built-in text, never saved)."""

    key: str
    version: int
    heading: str
    body: str
    retired: bool = False


def _rows_by_key() -> dict[str, list[ClauseTemplate]]:
    rows: dict[str, list[ClauseTemplate]] = {}
    for row in db.session.scalars(sa.select(ClauseTemplate).order_by(ClauseTemplate.id)):
        rows.setdefault(row.key, []).append(row)
    return rows


def library(*, include_retired: bool = False) -> list[LibraryClause]:
    """The current version of every clause: built-in ones first, then in order of creation."""
    saved = _rows_by_key()
    result = []
    for key, heading, body in BUILT_IN:
        if key not in saved:
            result.append(LibraryClause(key, 0, heading, body))
    for key, versions in saved.items():
        last = max(versions, key=lambda r: r.version)
        result.append(LibraryClause(key, last.version, last.heading, last.body, last.retired))
    built_in_order = {key: i for i, (key, _, _) in enumerate(BUILT_IN)}
    result.sort(key=lambda c: built_in_order.get(c.key, len(BUILT_IN)))
    return [c for c in result if include_retired or not c.retired]


def current(key: str) -> LibraryClause:
    """:raises NotFound: no clause has this key."""
    for clause in library(include_retired=True):
        if clause.key == key:
            return clause
    raise NotFound("no such clause", field="key")


def history(key: str) -> list[ClauseTemplate]:
    """Every saved version of a clause, newest first (empty for an unedited built-in one)."""
    current(key)
    return list(db.session.scalars(sa.select(ClauseTemplate).where(ClauseTemplate.key == key)
                                   .order_by(ClauseTemplate.version.desc())))


def draft_clauses() -> list[dict]:
    """The clauses a new draft starts with: ``{"heading", "text"}`` of each current clause."""
    return [{"heading": c.heading, "text": c.body} for c in library()]


def _slug(heading: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")[:56] or "clause"
    taken = {c.key for c in library(include_retired=True)}
    candidate, n = slug, 2
    while candidate in taken:
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


def _check(heading: str, body: str) -> tuple[str, str]:
    heading, body = (heading or "").strip(), (body or "").replace("\r\n", "\n").strip()
    if not heading:
        raise ValidationFailed("Give the clause a heading.", field="heading")
    if len(heading) > 300:
        raise ValidationFailed("The heading is longer than 300 characters.", field="heading")
    if not body:
        raise ValidationFailed("Write the clause text.", field="body")
    try:
        check_clause(body)
    except ClauseError as exc:
        raise ValidationFailed(f"The clause text cannot be used: {exc}", field="body") from exc
    return heading, body


def _require_legal(actor: Actor) -> None:
    if not actor.has_any_role("legal"):
        raise Forbidden("only legal staff edit the clause library")


def add_clause(heading: str, body: str, actor: Actor) -> ClauseTemplate:
    """Add a new clause to the library as version 1 (flushes, audited).

    :raises Forbidden: the actor is not legal staff.
    :raises ValidationFailed: empty heading or text, or text the sandbox refuses.
    """
    _require_legal(actor)
    heading, body = _check(heading, body)
    return _append(_slug(heading), 1, heading, body, False, actor, "clause_added")


def save_clause(key: str, heading: str, body: str, actor: Actor, expected_version: int | None,
                *, retired: bool = False) -> ClauseTemplate:
    """Save an edit (or retire/restore) of clause `key` as its next version (flushes, audited).

    :raises Forbidden: the actor is not legal staff.
    :raises NotFound: no such clause.
    :raises Conflict: someone saved a newer version since `expected_version` was read.
    :raises ValidationFailed: empty heading or text, or text the sandbox refuses.
    """
    _require_legal(actor)
    clause = current(key)
    if expected_version is None or int(expected_version) != clause.version:
        raise Conflict("Someone saved this clause since you opened it; reload to see their "
                       "version.", field="version")
    heading, body = _check(heading, body)
    if (heading, body, retired) == (clause.heading, clause.body, clause.retired):
        raise ValidationFailed("Nothing was changed.", field="body")
    return _append(key, clause.version + 1, heading, body, retired, actor, "clause_saved")


def _append(key, version, heading, body, retired, actor, event) -> ClauseTemplate:
    if not KEY_PATTERN.match(key):
        raise ValidationFailed("Invalid clause key.", field="key")
    row = ClauseTemplate(key=key, version=version, heading=heading, body=body, retired=retired,
                         created_by_id=actor.id)
    db.session.add(row)
    db.session.flush()
    audit.record(event, "clause_template", row.id, actor,
                 data={"key": key, "version": version, "retired": retired})
    return row
