"""`roster` commands: import a OneRoster 1.1 CSV roster from the command line.

Only argument handling, output and the one commit live here; parsing is in
`consent.roster.oneroster` and writing in `consent.roster.importer`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask.cli import AppGroup

from consent.extensions import db
from consent.roster.importer import import_roster
from consent.roster.oneroster import RosterError, RosterIssue, parse_files, read_source
from consent.services import audit
from consent.services.actors import COMMAND_LINE

logger = logging.getLogger(__name__)

roster_cli = AppGroup("roster", help="Import student rosters (OneRoster 1.1 CSV).")


def _fail(errors: list[RosterIssue]) -> None:
    for issue in errors:
        click.echo(str(issue), err=True)
    click.echo(f"{len(errors)} error(s); nothing was imported.", err=True)
    raise click.exceptions.Exit(1)


@roster_cli.command("import")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def import_command(file: Path) -> None:
    """Import FILE, a OneRoster 1.1 CSV roster (.zip or directory), in one transaction."""
    try:
        files = read_source(file)
    except RosterError as exc:
        _fail(exc.errors)
    # Lines, not rows, are counted up front (cheap); the bar may end a little short of 100 %.
    total = sum(data.count(b"\n") for data in files.values())
    # click hides the bar itself when stdout is not a terminal.
    with click.progressbar(length=max(total, 1), label="Reading roster") as bar:
        roster = parse_files(files, progress=bar.update)
    if roster.errors:
        _fail(roster.errors)
    try:
        report = import_roster(roster, session=db.session)
        audit.record("roster_imported", "roster", None, COMMAND_LINE,
                     data={"file": file.name, **{kind: vars(c) for kind, c in
                                                 report.counts.items()}})
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
