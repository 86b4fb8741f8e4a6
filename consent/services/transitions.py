"""`fire()`: the only code that changes a workflow record's `state`."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from consent.errors import Conflict
from consent.extensions import db
from consent.models import Agreement, Consent, Signature
from consent.services import audit
from consent.services.actors import Actor
from workflows import AGREEMENT, CONSENT, SIGNATURE, Workflow

logger = logging.getLogger(__name__)

WORKFLOWS: dict[type, tuple[str, Workflow]] = {
    Agreement: ("agreement", AGREEMENT),
    Signature: ("signature", SIGNATURE),
    Consent: ("consent", CONSENT),
}


def lock(model: type, record_id: int):
    """Reload a row under a write lock, so checks see what another transaction committed.

    PostgreSQL: `SELECT … FOR UPDATE`. SQLite has no row locks, so a no-op UPDATE takes
    the database's write lock first. A plain select (not `Session.get`) is used because
    `get(with_for_update=True)` compares the version with the copy already loaded and
    raises instead of re-reading.
    """
    if db.engine.dialect.name == "sqlite":
        table = model.__table__
        db.session.execute(sa.update(table).where(table.c.id == record_id)
                           .values(id=table.c.id))
    return db.session.scalars(
        sa.select(model).where(model.id == record_id).with_for_update()
        .execution_options(populate_existing=True)).one_or_none()


def check_version(record, expected_version: int | None) -> None:
    """:raises Conflict: the caller's copy is older than the stored record."""
    if expected_version is not None and record.version_id != expected_version:
        raise Conflict(
            f"this record changed since you loaded it (you had version {expected_version}, "
            f"it is now {record.version_id} and {record.state}); reload it",
            field="version", details={"state": record.state, "version": record.version_id},
        )


def fire(record, event: str, actor: Actor, *, facts: dict | None = None,
         expected_version: int | None = None, data: dict | None = None,
         revision_hash: str | None = None, locked: bool = False):
    """Apply `event` to `record` as `actor`, audit it, and flush. The caller commits.

    :raises InvalidTransition: the event is not possible from the current state.
    :raises TransitionRefused: a guard refused (role, organization, facts).
    :raises Conflict: `expected_version` is stale.
    """
    subject_type, workflow = WORKFLOWS[type(record)]
    if not locked:
        record = lock(type(record), record.id)
    check_version(record, expected_version)
    before = record.state
    if revision_hash is None and isinstance(record, Agreement):
        revision_hash = record.content_hash()
    workflow.apply(record, event, actor, facts)
    audit.record(event, subject_type, record.id, actor, from_state=before, to_state=record.state,
                 revision_hash=revision_hash, data=data)
    logger.info("%s %s: %s -> %s (%s)", subject_type, record.id, before, record.state, event)
    return record
