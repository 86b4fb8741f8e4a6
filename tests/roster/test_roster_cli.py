"""`roster import` through Flask's CLI runner (the group is not registered on the app yet)."""

from __future__ import annotations

import shutil
import zipfile

import sqlalchemy as sa

from consent.demo.roster_generator import SHIPPED_DIR
from consent.models import Guardian, Student, StudentGuardian
from consent.roster.cli import roster_cli
from tests.roster.helpers import base_demographics, base_users, write


def count(db, model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_imports_the_demo_roster_and_prints_counts(db, runner):
    result = runner.invoke(roster_cli, ["import", str(SHIPPED_DIR)])

    assert result.exit_code == 0, result.output
    assert "students:" in result.output
    assert "300 created" in result.output
    assert count(db, Student) == 300  # committed: visible from this test's own session
    assert count(db, StudentGuardian) > 300

    again = runner.invoke(roster_cli, ["import", str(SHIPPED_DIR)])

    assert again.exit_code == 0, again.output
    assert "300 unchanged" in again.output
    assert count(db, Student) == 300


def test_imports_a_zip(db, runner, tmp_path):
    source = write(tmp_path / "roster")
    with zipfile.ZipFile(tmp_path / "roster.zip", "w") as archive:
        for path in source.iterdir():
            archive.write(path, path.name)

    result = runner.invoke(roster_cli, ["import", str(tmp_path / "roster.zip")])

    assert result.exit_code == 0, result.output
    assert count(db, Student) == 2
    assert count(db, Guardian) == 2


def test_errors_are_printed_and_nothing_is_written(db, runner, tmp_path):
    users = base_users()
    users[0]["agentSourcedIds"] = "gdn-404"
    demographics = base_demographics()
    demographics[1]["birthDate"] = "2027-02-30"
    write(tmp_path, users=users, demographics=demographics)

    result = runner.invoke(roster_cli, ["import", str(tmp_path)])

    assert result.exit_code == 1
    assert "users.csv row 2, column agentSourcedIds: gdn-404 is not in users.csv" in result.output
    assert ("demographics.csv row 3, column birthDate: 2027-02-30 is not a real date"
            in result.output)
    assert "2 error(s); nothing was imported." in result.output
    assert count(db, Student) == 0
    assert count(db, Guardian) == 0


def test_a_bad_row_in_the_demo_roster_writes_nothing(db, runner, tmp_path):
    source = shutil.copytree(SHIPPED_DIR, tmp_path / "roster")
    (source / "users.csv").write_bytes((source / "users.csv").read_bytes().replace(
        "Núñez".encode(), "Núñez".encode("latin-1"), 1))

    result = runner.invoke(roster_cli, ["import", str(source)])

    assert result.exit_code == 1
    assert "not valid UTF-8" in result.output
    assert count(db, Student) == 0


def test_a_missing_path_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(roster_cli, ["import", str(tmp_path / "nope")])

    assert result.exit_code == 2
    assert "does not exist" in result.output
