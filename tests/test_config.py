"""Configuration: where the database lives, which driver, the secret key, the time zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from consent import create_app
from consent.config import DEV_SECRET_KEY
from consent.extensions import db
from consent.timeutil import local_date, start_of_day


@pytest.fixture
def clean_env(monkeypatch):
    """No ACCORDANT_* variables and no DATABASE_URL from the environment running the tests."""
    import os

    for name in list(os.environ):
        if name.startswith("ACCORDANT_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    return monkeypatch


def test_default_database_is_sqlite_in_the_instance_folder(clean_env, tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k"})
    with app.app_context():
        url = db.engine.url
        assert url.get_backend_name() == "sqlite"
        assert Path(url.database) == tmp_path / "accordant.sqlite"
        db.engine.dispose()


@pytest.mark.parametrize("given", ["postgresql://u@db.example/accordant",
                                   "postgres://u@db.example/accordant"])
def test_database_url_selects_postgresql_through_psycopg_3(clean_env, tmp_path, given):
    clean_env.setenv("DATABASE_URL", given)
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k"})
    with app.app_context():  # the engine is built without connecting
        url = db.engine.url
        assert (url.get_backend_name(), url.get_driver_name()) == ("postgresql", "psycopg")
        assert (url.host, url.database) == ("db.example", "accordant")


def test_secret_key_comes_from_the_environment(clean_env, tmp_path):
    clean_env.setenv("ACCORDANT_SECRET_KEY", "from-the-environment")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["SECRET_KEY"] == "from-the-environment"
    clean_env.delenv("ACCORDANT_SECRET_KEY")
    with pytest.raises(RuntimeError, match="ACCORDANT_SECRET_KEY"):
        create_app({"INSTANCE_PATH": str(tmp_path)})
    clean_env.setenv("ACCORDANT_DEVELOPMENT_MODE", "1")
    assert create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"] == DEV_SECRET_KEY


def test_district_time_zone_is_a_setting(clean_env, tmp_path):
    clean_env.setenv("ACCORDANT_DISTRICT_TIMEZONE", "Pacific/Honolulu")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k"})
    with app.app_context():
        # 09:00 UTC on 1 March is still 28 February (23:00) in Honolulu (UTC-10).
        assert local_date(datetime(2027, 3, 1, 9, 0, tzinfo=UTC)) == date(2027, 2, 28)
        assert start_of_day(date(2027, 3, 1)) == datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
    clean_env.setenv("ACCORDANT_DISTRICT_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(RuntimeError, match="unknown DISTRICT_TIMEZONE"):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k"})


@pytest.mark.parametrize("variable, value, message", [
    ("ACCORDANT_MAJORITY_POLICY", "Lapse", "must be lapse or continue, not 'Lapse'"),
    ("ACCORDANT_MAJORITY_POLICY", "bogus", "must be lapse or continue, not 'bogus'"),
    ("ACCORDANT_MAJORITY_GRACE_DAYS", "abc", "from 0 to 3650, not 'abc'"),
    ("ACCORDANT_MAJORITY_GRACE_DAYS", "1.5", "from 0 to 3650, not 1.5"),
    ("ACCORDANT_MAJORITY_GRACE_DAYS", "-5", "from 0 to 3650, not -5"),
    ("ACCORDANT_MAJORITY_GRACE_DAYS", "99999999999", "from 0 to 3650, not 99999999999"),
    ("ACCORDANT_MAJORITY_GRACE_DAYS", "true", "from 0 to 3650, not True"),
])
def test_a_majority_setting_that_is_not_one_is_refused(clean_env, tmp_path, variable, value,
                                                       message):
    clean_env.setenv(variable, value)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k"})


def test_majority_settings_within_bounds_are_taken(clean_env, tmp_path):
    clean_env.setenv("ACCORDANT_MAJORITY_POLICY", "continue")
    clean_env.setenv("ACCORDANT_MAJORITY_GRACE_DAYS", "30")
    config = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k"}).config
    assert (config["MAJORITY_POLICY"], config["MAJORITY_GRACE_DAYS"]) == ("continue", 30)
