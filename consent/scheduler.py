"""`accordant scheduler run`: the one process that runs periodic jobs.

APScheduler's job stores cannot be shared between processes, so jobs run in this
dedicated process only, never in web workers. Jobs are fixed scans defined in
code; the in-memory job store is enough because due work lives in the database.
"""

from __future__ import annotations

import logging

import click
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from flask.cli import AppGroup

from consent import jobs
from consent.extensions import db
from consent.timeutil import utcnow

logger = logging.getLogger(__name__)

JOBS = (
    ("advance_agreements", jobs.advance_agreements, {"minutes": 15}),
    ("expire_consents", jobs.expire_consents, {"minutes": 15}),
    ("hand_rights_at_majority", jobs.hand_rights_at_majority, {"minutes": 15}),
    ("send_due_reminders", jobs.send_due_reminders, {"minutes": 5}),
    ("deliver_email", jobs.deliver_email, {"minutes": 1}),
)
scheduler_cli = AppGroup("scheduler", help="Run periodic jobs (exactly one process per site).")


def run_job(app: Flask, func, now=None) -> bool:
    """Run one job in its own app context; commit on success, roll back on failure.

    `now` defaults to the current instant (tests pass their own clock).
    """
    with app.app_context():
        try:
            func(now=now or utcnow())
            db.session.commit()
            return True
        except Exception:
            db.session.rollback()
            logger.exception("job %s failed", func.__name__)
            return False
        finally:
            db.session.remove()


def build_scheduler(app: Flask) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 600})
    for job_id, func, every in JOBS:
        scheduler.add_job(run_job, "interval", args=[app, func], id=job_id,
                          replace_existing=True, next_run_time=utcnow(), **every)
    return scheduler


@scheduler_cli.command("run")
@click.option("--once", is_flag=True, help="Run every job once and exit (cron, smoke tests).")
def run(once: bool) -> None:
    """Run the scheduler in the foreground."""
    app = current_app._get_current_object()
    if once:
        failed = [job_id for job_id, func, _ in JOBS if not run_job(app, func)]
        if failed:
            raise click.ClickException(f"jobs failed: {', '.join(failed)}")
        click.echo(f"ran {len(JOBS)} jobs")
        return
    click.echo("scheduler running; press Ctrl+C to stop")
    try:
        build_scheduler(app).start()
    except (KeyboardInterrupt, SystemExit):
        pass
