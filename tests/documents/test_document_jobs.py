"""Long documents as background jobs: the consent register, its progress, limits and errors."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

import pytest
from pypdf import PdfReader

from consent import document_worker
from consent.models import DocumentJob
from consent.services import document_jobs
from consent.services.actors import actor_for
from consent.timeutil import utcnow
from documents.limits import RenderTimedOut, html_to_pdf_within
from tests.api.helpers import make_partnership
from tests.documents.register_helpers import add_families


@pytest.fixture
def setup(make):
    p = make_partnership(make)
    agreement = make.agreement(p.district, [p.partner], state="active",
                               executed_at=utcnow() - timedelta(days=1),
                               categories=("attendance", "quarterly_grades", "behavior"),
                               title="Promise MOU")
    return p, agreement


def _text(pdf: bytes) -> str:
    return " ".join(" ".join(pg.extract_text().split()) for pg in PdfReader(io.BytesIO(pdf)).pages)


def test_register_lists_every_family_once_and_records_its_hash(app, db, make, setup):
    p, agreement = setup
    expected = add_families(agreement, p.school, 45)
    job = document_jobs.request_job("consent_register", agreement, actor_for(p.legal))
    db.session.commit()
    assert (job.state, job.progress) == ("queued", 0)

    assert document_worker.run_pending(app) == 1
    db.session.expire_all()
    job = db.session.get(DocumentJob, job.id)
    assert (job.state, job.progress, job.error) == ("done", 100, None)
    assert job.sha256 == hashlib.sha256(job.content).hexdigest()
    assert job.page_count == len(PdfReader(io.BytesIO(job.content)).pages) > 1
    text = _text(job.content)
    # Narrow table cells wrap names anywhere (even inside "</b>"): compare without spaces.
    squeezed = re.sub(r"\s+", "", text)
    for row in expected:
        for name in (row["student"], row["guardian"]):
            pattern = re.escape(re.sub(r"\s+", "", name)) + r"(?!\d)"
            assert len(re.findall(pattern, squeezed)) == 1, name
    assert "<b>Bold</b>&Co" in squeezed and "&lt;" not in text
    granted = sum(s == "granted" for row in expected for s in row["states"].values())
    refused = sum(s == "refused" for row in expected for s in row["states"].values())
    assert f"45 students. Granted: {granted}. Refused: {refused}." in text
    assert "Granted 2026-10-05" in text  # 18:30 UTC is still 5 October in Los Angeles
    assert document_worker.run_pending(app) == 0  # nothing left to claim


def test_a_job_is_claimed_by_one_worker_only(app, db, make, setup):
    p, agreement = setup
    document_jobs.request_job("consent_register", agreement, actor_for(p.legal))
    db.session.commit()
    first = document_jobs.claim_next()
    db.session.commit()
    assert first is not None and first.state == "running" and first.deadline_at is not None
    assert document_jobs.claim_next() is None


def test_time_limit_stops_a_render_that_runs_too_long():
    # Far more rows than a render can lay out in one second.
    html = "<table>" + "<tr><td>row</td><td>cell</td></tr>" * 200_000 + "</table>"
    with pytest.raises(RenderTimedOut, match="longer than its limit of 1 s"):
        html_to_pdf_within(html, 1)


def test_a_job_out_of_time_fails_with_a_clear_message(app, db, make, setup):
    p, agreement = setup
    add_families(agreement, p.school, 3)
    job = document_jobs.request_job("consent_register", agreement, actor_for(p.legal),
                                    time_limit_seconds=0)
    db.session.commit()
    document_worker.run_pending(app)
    db.session.expire_all()
    job = db.session.get(DocumentJob, job.id)
    assert job.state == "failed" and job.content is None
    assert job.error.startswith("The document was not finished within its time limit of 0 "
                                "seconds.")


def test_a_job_whose_worker_died_is_failed_after_its_deadline(app, db, make, setup):
    p, agreement = setup
    job = document_jobs.request_job("consent_register", agreement, actor_for(p.legal))
    db.session.commit()
    claimed = document_jobs.claim_next()
    claimed.deadline_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert document_jobs.fail_overdue() == 1
    db.session.commit()
    db.session.expire_all()
    job = db.session.get(DocumentJob, job.id)
    assert job.state == "failed" and "time limit" in job.error


def test_an_error_while_building_fails_the_job_and_says_so(app, db, make, setup, monkeypatch):
    p, agreement = setup
    job = document_jobs.request_job("consent_register", agreement, actor_for(p.legal))
    db.session.commit()

    def broken(_job):
        raise LookupError("simulated")

    monkeypatch.setitem(document_worker.BUILDERS, "consent_register", broken)
    document_worker.run_pending(app)
    db.session.expire_all()
    job = db.session.get(DocumentJob, job.id)
    assert job.state == "failed"
    assert job.error == ("The document could not be made because of an error (LookupError). "
                         "Nothing was stored; try again.")


def test_unknown_kinds_are_refused(db, make, setup):
    from consent.errors import ValidationFailed

    p, agreement = setup
    with pytest.raises(ValidationFailed) as caught:
        document_jobs.request_job("novel", agreement, actor_for(p.legal))
    assert caught.value.field == "kind"
