"""`roster` commands: import a OneRoster 1.1 CSV roster or a families CSV from the command line.

Only argument handling, output and the one commit live here; parsing is in
`consent.roster.oneroster` and writing in `consent.roster.importer`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask.cli import AppGroup

from consent.extensions import db
from consent.roster.families_csv import parse_families
from consent.roster.importer import import_roster
from consent.roster.oneroster import Roster, RosterError, RosterIssue, parse_files, read_source
from consent.services import audit
from consent.services.actors import COMMAND_LINE

logger = logging.getLogger(__name__)

roster_cli = AppGroup("roster", help="Import rosters (OneRoster 1.1 CSV or a families CSV).")


def _fail(errors: list[RosterIssue]) -> None:
    for issue in errors:
        click.echo(str(issue), err=True)
    click.echo(f"{len(errors)} error(s); nothing was imported.", err=True)
    raise click.exceptions.Exit(1)


@roster_cli.command("import")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--date-format", default=None, metavar="FORMAT",
              help="strptime format of birth_date in a families CSV (default YYYY-MM-DD).")
def import_command(file: Path, date_format: str | None) -> None:
    """Import FILE in one transaction: a OneRoster 1.1 roster (.zip or directory) or a
    families CSV (a .csv file; see the README for its header)."""
    roster = _parse(file, date_format)
    if roster.errors:
        _fail(roster.errors)
    try:
        report = import_roster(roster, session=db.session)
        audit.record("roster_imported", "roster", None, COMMAND_LINE,
                     data={"file": file.name, **{kind: vars(c) for kind, c in
                                                 report.counts.items()},
                           "notices": [str(n) for n in report.notices]})
        db.session.commit()
    except RosterError as exc:
        db.session.rollback()
        _fail(exc.errors)
    except Exception:
        db.session.rollback()
        raise
    logger.info("roster %s imported", file.name)
    click.echo(f"Imported {file}:")
    for line in report.lines():
        click.echo(f"  {line}")
    for notice in report.notices:
        click.echo(f"Note: {notice}")


def _parse(file: Path, date_format: str | None) -> Roster:
    """Read and parse FILE with a progress bar (click hides it when stdout is no terminal)."""
    if file.is_file() and file.suffix.lower() == ".csv":
        data = file.read_bytes()
        with click.progressbar(length=max(data.count(b"\n"), 1), label="Reading families") as bar:
            return parse_families(data, name=file.name, date_format=date_format,
                                  progress=bar.update)
    if date_format is not None:
        raise click.UsageError("--date-format applies to a families CSV; OneRoster dates are "
                               "YYYY-MM-DD", ctx=click.get_current_context())
    try:
        files = read_source(file)
    except RosterError as exc:
        _fail(exc.errors)
    # Lines, not rows, are counted up front (cheap); the bar may end a little short of 100 %.
    total = sum(data.count(b"\n") for data in files.values())
    with click.progressbar(length=max(total, 1), label="Reading roster") as bar:
        return parse_files(files, progress=bar.update)
