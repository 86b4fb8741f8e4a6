"""Background document jobs: request one, claim the next, and record how it went.

A job row is queued by a request, claimed by exactly one worker (a compare-and-set
on its state), and ends done or failed. Functions here flush; the worker
(`consent.document_worker`) and the views commit.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from consent.errors import ValidationFailed
from consent.extensions import db
from consent.models import Agreement, DocumentJob, DocumentJobState
from consent.services import audit
from consent.services.actors import Actor
from consent.timeutil import utcnow

J = DocumentJobState
KINDS = {"consent_register": "Consent register"}
DEFAULT_TIME_LIMIT = 600


def request_job(kind: str, agreement: Agreement, actor: Actor,
                time_limit_seconds: int = DEFAULT_TIME_LIMIT) -> DocumentJob:
    """Queue a document of `kind` for `agreement` (flushes, audited).

    :raises ValidationFailed: unknown kind.
    """
    if kind not in KINDS:
        raise ValidationFailed(f"unknown document kind {kind!r}", field="kind")
    job = DocumentJob(kind=kind, agreement_id=agreement.id, requested_by_id=actor.id,
                      time_limit_seconds=time_limit_seconds,
                      filename=f"{kind.replace('_', '-')}-{agreement.id}.pdf")
    db.session.add(job)
    db.session.flush()
    audit.record("document_job_requested", "document_job", job.id, actor,
                 to_state=J.QUEUED.value, data={"kind": kind, "agreement_id": agreement.id})
    return job


def fail_overdue() -> int:
    """Mark running jobs past their deadline as failed (their worker died); returns how many."""
    now = utcnow()
    result = db.session.execute(
        sa.update(DocumentJob)
        .where(DocumentJob.state == J.RUNNING.value, DocumentJob.deadline_at < now)
        .values(state=J.FAILED.value, finished_at=now, stage="Stopped",
                error="The document was not finished within its time limit. Try again, or "
                      "ask an administrator to allow more time."))
    return result.rowcount or 0


def claim_next() -> DocumentJob | None:
    """Claim the oldest queued job for this worker (running, deadline set), or None.

    Two workers never get the same job: the state changes only if it is still queued.
    """
    for job_id in db.session.scalars(sa.select(DocumentJob.id).where(
            DocumentJob.state == J.QUEUED.value).order_by(DocumentJob.id).limit(5)):
        now = utcnow()
        limit = db.session.scalar(sa.select(DocumentJob.time_limit_seconds).where(
            DocumentJob.id == job_id))
        claimed = db.session.execute(
            sa.update(DocumentJob)
            .where(DocumentJob.id == job_id, DocumentJob.state == J.QUEUED.value)
            .values(state=J.RUNNING.value, started_at=now, stage="Started",
                    deadline_at=now + timedelta(seconds=limit)))
        if claimed.rowcount == 1:
            job = db.session.get(DocumentJob, job_id)
            db.session.refresh(job)
            return job
    return None


def set_progress(job: DocumentJob, percent: int, stage: str) -> None:
    """Record how far the job is (flushes)."""
    job.progress = max(0, min(100, int(percent)))
    job.stage = stage[:200]
    db.session.flush()


def finish(job: DocumentJob, content: bytes, sha256: str, page_count: int) -> None:
    """The job is done: store the PDF (flushes)."""
    job.state, job.progress, job.stage = J.DONE.value, 100, "Finished"
    job.content, job.sha256, job.page_count = content, sha256, page_count
    job.finished_at = utcnow()
    db.session.flush()


def fail(job: DocumentJob, message: str) -> None:
    """The job failed: say why, in words for the person who asked (flushes)."""
    job.state, job.stage, job.error, job.finished_at = (J.FAILED.value, "Stopped", message,
                                                         utcnow())
    db.session.flush()
