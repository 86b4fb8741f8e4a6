"""`accordant calendar issue ORG`: print a new private calendar feed URL for an organization."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from consent.extensions import db
from consent.models import Organization
from consent.services import calendar

calendar_cli = AppGroup("calendar", help="Calendar feeds of agreement end and reminder dates.")


@calendar_cli.command("issue")
@click.argument("slug")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True,
              help="Where the web app is served, to print the full URL.")
def issue(slug: str, base_url: str) -> None:
    """Issue (or replace) ORG's feed token and print the URL once."""
    organization = db.session.scalar(sa.select(Organization).where(Organization.slug == slug))
    if organization is None:
        raise click.ClickException(f"no organization '{slug}'")
    token = calendar.issue_token(organization)
    db.session.commit()
    click.echo(f"{base_url.rstrip('/')}/calendar/{token}.ics")
