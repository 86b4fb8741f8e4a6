"""Date-driven transitions run by the scheduler's jobs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from consent.models import Agreement
from consent.services import agreements


@pytest.fixture
def app_config(app_config):
    # The instants below are worked out for Los Angeles (UTC-8 in March).
    app_config["DISTRICT_TIMEZONE"] = "America/Los_Angeles"
    return app_config


def test_executed_agreement_activates_on_its_start_date_and_expires_after_its_end(db, make):
    district = make.org(kind="district")
    partner = make.org()
    start, end = date(2027, 3, 1), date(2027, 3, 31)
    agreement = make.agreement(district, [partner], state="executed", start=start, end=end,
                               executed_at=datetime(2027, 2, 1, tzinfo=UTC))
    # 07:59 UTC on 1 March is still 28 February in Los Angeles.
    assert agreements.activate_due(datetime(2027, 3, 1, 7, 59, tzinfo=UTC)) == 0
    db.session.commit()
    assert agreements.activate_due(datetime(2027, 3, 1, 8, 0, tzinfo=UTC)) == 1
    db.session.commit()
    assert db.session.get(Agreement, agreement.id).state == "active"
    # Still in force through the end of 31 March, local time.
    assert agreements.expire_due(datetime(2027, 4, 1, 6, 59, tzinfo=UTC)) == 0
    assert agreements.expire_due(datetime(2027, 4, 1, 7, 0, tzinfo=UTC) + timedelta(days=0)) == 1
    db.session.commit()
    assert db.session.get(Agreement, agreement.id).state == "expired"
    # Running again changes nothing.
    assert agreements.expire_due(datetime(2027, 4, 2, tzinfo=UTC)) == 0


def test_scheduler_once_runs_every_job(runner, make):
    result = runner.invoke(args=["scheduler", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "ran 5 jobs" in result.output
