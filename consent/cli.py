"""The `accordant` command: a Flask CLI group bound to the app."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup

from consent.extensions import db

audit_cli = AppGroup("audit", help="Check the audit trail.")
users_cli = AppGroup("users", help="Manage people who sign in.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Verify the audit hash chain; name the first broken link."""
    from consent.services.audit import verify_chain

    report = verify_chain()
    if report.ok:
        click.echo(f"audit chain intact: {report.entries} entries")
        return
    raise click.ClickException(
        f"audit chain broken at entry {report.first_broken_id}: {report.problem} "
        f"({report.entries} entries verified before it)")


def register(app: Flask) -> None:
    """Attach the project's command groups to `app.cli`."""
    from consent.demo.command import demo_command
    from consent.roster.cli import roster_cli
    from consent.scheduler import scheduler_cli

    for command in (audit_cli, users_cli, scheduler_cli, roster_cli, demo_command):
        app.cli.add_command(command)


def _create_app():
    from consent import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False)
def main():
    """Accordant: consent and agreement workflow engine."""


__all__ = ["db", "main", "register"]
