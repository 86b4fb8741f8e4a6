"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from consent.access import grant_windows
from consent.extensions import db
from consent.models import GrantWindow, GrantWindowBasis
from consent.timeutil import utcnow
from tests.access.test_compile import _consent
from tests.conftest import PASSWORD
from tests.factories import Factory, district_today


def test_upgrade_matches_models_and_downgrade_empties(fresh_app):
    runner = fresh_app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    # `db check` fails when the models describe anything the migrations do not build.
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    with fresh_app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert set(db.metadata.tables) <= set(sa.inspect(db.engine).get_table_names())


def test_upgrade_brings_the_grant_windows_up_to_date(fresh_app):
    """A database migrated from before grant windows has consents but no windows: the
    upgrade writes them (and records the basis), as the running app would have."""
    runner = fresh_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with fresh_app.app_context():
        with db.engine.connect() as connection:
            assert grant_windows.is_current(connection)
        make = Factory(db, PASSWORD)
        make.categories()
        today, now = district_today(), utcnow()
        district, partner = make.org(kind="district"), make.org()
        agreement = make.agreement(district, [partner], state="active", start=today,
                                   executed_at=now - timedelta(hours=1))
        for n in range(3):
            _consent(db, make.student(sourced_id=f"S-{n}"), agreement, partner, "attendance",
                     valid_from=today, valid_through=agreement.end_date,
                     granted_at=now - timedelta(minutes=n + 1))
        db.session.commit()
        columns = (GrantWindow.student_id, GrantWindow.starts_at, GrantWindow.terms)
        written = sorted(tuple(r) for r in db.session.execute(sa.select(*columns)))
        assert len(written) == 3
        # As the tables are right after their migration: empty, no basis.
        db.session.execute(sa.delete(GrantWindow))
        db.session.execute(sa.delete(GrantWindowBasis))
        db.session.commit()
        db.session.remove()

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with fresh_app.app_context():
        assert sorted(tuple(r) for r in db.session.execute(sa.select(*columns))) == written
        with db.engine.connect() as connection:
            assert grant_windows.is_current(connection)
