"""Runs queued background document jobs; owns their transactions (one commit per step).

`run_pending(app)` works through the queue and returns; `start_thread(app)` does the
same in a daemon thread of the web process, so a request that queues a job returns at
once. Each job's PDF is rendered in a child process that is killed at the job's
deadline (`documents.limits`), so a stuck render cannot hold a worker.
"""

from __future__ import annotations

import io
import logging
import threading

from pypdf import PdfReader

from consent.extensions import db
from consent.models import Agreement, DocumentJob
from consent.services import document_jobs
from consent.services.consent_register import register_snapshot, render_register_html
from consent.timeutil import utcnow
from documents import sha256_hex
from documents.limits import RenderFailed, RenderTimedOut, html_to_pdf_within

logger = logging.getLogger(__name__)


def _build_consent_register(job: DocumentJob) -> str:
    agreement = db.session.get(Agreement, job.agreement_id)

    def progress(done: int, total: int) -> None:
        # Gathering the rows is the first 40 %; each batch is committed so it shows.
        document_jobs.set_progress(job, 5 + (35 * done // max(total, 1)),
                                   f"Collected {done} of {total} students")
        db.session.commit()

    return render_register_html(register_snapshot(agreement, progress))


BUILDERS = {"consent_register": _build_consent_register}


def run_job(job: DocumentJob, *, strict: bool = False) -> None:
    """Build, render and store one claimed job, committing its progress as it goes."""
    try:
        html = BUILDERS[job.kind](job)
        document_jobs.set_progress(job, 45, "Laying out the pages")
        db.session.commit()
        remaining = (job.deadline_at - utcnow()).total_seconds()
        pdf = html_to_pdf_within(html, remaining, strict=strict)
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        document_jobs.finish(job, pdf, sha256_hex(pdf), pages)
        db.session.commit()
        logger.info("document job %s done: %d pages, %d bytes", job.id, pages, len(pdf))
    except RenderTimedOut:
        db.session.rollback()
        document_jobs.fail(job, f"The document was not finished within its time limit of "
                                f"{job.time_limit_seconds} seconds. Try again, or ask an "
                                "administrator to allow more time.")
        db.session.commit()
        logger.warning("document job %s stopped at its time limit", job.id)
    except (RenderFailed, Exception) as exc:  # noqa: BLE001 - any failure ends the job
        db.session.rollback()
        logger.exception("document job %s failed", job.id)
        document_jobs.fail(job, "The document could not be made because of an error "
                                f"({type(exc).__name__}). Nothing was stored; try again.")
        db.session.commit()


def run_pending(app, *, limit: int | None = None) -> int:
    """Claim and run queued jobs until none is left (or `limit` ran); returns how many."""
    done = 0
    with app.app_context():
        document_jobs.fail_overdue()
        db.session.commit()
        while limit is None or done < limit:
            job = document_jobs.claim_next()
            db.session.commit()
            if job is None:
                break
            run_job(job, strict=app.config.get("DOCUMENT_STRICT_ASSETS", False))
            done += 1
    return done


def start_thread(app) -> threading.Thread:
    """Run the queue in a daemon thread of this process."""
    thread = threading.Thread(target=run_pending, args=(app,), name="document-jobs",
                              daemon=True)
    thread.start()
    return thread
