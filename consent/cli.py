"""The `accordant` command: a Flask CLI group bound to the app."""

from __future__ import annotations

import re
import unicodedata

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup, FlaskGroup

from consent.extensions import db
from consent.models import (
    ApiToken,
    Organization,
    OrgKind,
    Role,
    RoleName,
    Student,
    User,
    hash_token,
    new_token,
)
from consent.models.organizations import SLUG_RULE, is_plain_slug
from consent.services import audit
from consent.services.actors import COMMAND_LINE
from consent.timeutil import iso
from consent.untrusted_text import has_forbidden

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

audit_cli = AppGroup("audit", help="Check the audit trail.")
users_cli = AppGroup("users", help="Manage people who sign in.")
orgs_cli = AppGroup("orgs", help="Manage organizations.")
clients_cli = AppGroup("clients", help="Issue, list and revoke API tokens for enforcers.")
rules_cli = AppGroup("rules", help="Maintain what the access rules are compiled from.")


@audit_cli.command("verify")
@click.option("--head", metavar="ID:HASH",
              help="The head an earlier run printed; proves no entry was cut off the end.")
def audit_verify(head: str | None) -> None:
    """Verify the audit hash chain; name the first broken link."""
    from consent.services.audit import verify_chain

    if head is not None and not re.fullmatch(r"[1-9][0-9]*:[0-9a-f]{64}", head):
        raise click.BadParameter("give the ID:HASH that an earlier run printed",
                                 param_hint="--head")
    report = verify_chain(head=head)
    if report.ok:
        click.echo(f"audit chain intact: {report.entries} entries"
                   + (f"; head {report.head} (keep it to check later runs)" if report.head
                      else ""))
        return
    raise click.ClickException(
        f"audit chain broken at entry {report.first_broken_id}: {report.problem} "
        f"({report.entries} entries verified before it)")


@rules_cli.command("rebuild")
@click.option("--force", is_flag=True, help="Rebuild even if the grant windows are current.")
def rules_rebuild(force: bool) -> None:
    """Recompute the grant windows the rules compiler reads.

    Needed after DISTRICT_TIMEZONE, MAJORITY_POLICY or MAJORITY_GRACE_DAYS change;
    `accordant db upgrade` and the web app's start do it when they find them out of
    date. Until then the rules are compiled from the consents, only more slowly."""
    from consent.access import grant_windows

    with db.engine.begin() as connection:
        written = (grant_windows.rebuild(connection) if force
                   else grant_windows.ensure_current(connection))
    click.echo("grant windows already current" if written is None
               else f"grant windows rebuilt: {written} rows")


@users_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="Full name as shown in the app.")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice([r.value for r in RoleName]), help="Repeat for several roles.")
@click.option("--org", "org_slug", help="Organization slug (staff roles).")
@click.option("--title", help="Job title, shown on signatures.")
@click.option("--student", "student_id", metavar="SOURCED_ID",
              help="With --role student: the roster student this account is (their own "
                   "sign-in from 18).")
@click.password_option(help="Asked for when not given.")
def create_user(email, name, roles, org_slug, title, student_id, password):
    """Create a person who signs in."""
    email = email.strip().lower()
    # The same rules as the web's: an address mail can reach, a password of 12 to 200
    # characters, family accounts outside any organization and staff inside one.
    # Invisible characters (control, zero-width) would make an address the sign-in page
    # refuses, or one that looks like another account's.
    if len(email) > 254 or not EMAIL.fullmatch(email) or any(
            unicodedata.category(c) in ("Cc", "Cf") for c in email):
        raise click.ClickException(f"{email[:80]!r} is not an email address")
    name = _plain_text(name, "--name")
    title = _plain_text(title, "--title") if title is not None else None
    if not 12 <= len(password) <= 200 or has_forbidden(password):
        raise click.ClickException("the password must be 12 to 200 characters, without "
                                   "control characters (the sign-in page refuses them)")
    family = {"guardian", "student"} & set(roles)
    if family and (org_slug or len(roles) > 1):
        raise click.ClickException(f"a {sorted(family)[0]} account has no other role and no "
                                   "--org")
    if not family and not org_slug:
        raise click.ClickException("staff roles need --org (the person's organization)")
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise click.ClickException(f"a user with email {email} already exists")
    student = _roster_student(student_id, roles) if student_id is not None else None
    org = _org(org_slug) if org_slug else None
    user = User(email=email, name=name, organization_id=org.id if org else None, title=title)
    user.set_password(password)
    user.roles = [_role(r) for r in roles]
    db.session.add(user)
    db.session.flush()
    if student is not None:
        student.user_id = user.id
    audit.record("user_created", "user", user.id, COMMAND_LINE, data={
        "roles": sorted(roles), **({"student": student.sourced_id} if student else {})})
    db.session.commit()
    click.echo(f"created user {user.id} {email} ({', '.join(roles)})")


@orgs_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice([k.value for k in OrgKind]))
def create_org(slug, name, kind):
    """Create an organization (the district comes from the roster import)."""
    if not is_plain_slug(slug):
        raise click.ClickException(f"{slug!r} cannot be an organization slug: use {SLUG_RULE}")
    name = _plain_text(name, "--name")
    if db.session.scalar(sa.select(Organization.id).where(Organization.slug == slug)):
        raise click.ClickException(f"an organization '{slug}' already exists")
    if kind == OrgKind.DISTRICT:
        # A site serves one district, and its staff and client tokens read every
        # recipient's rules: a second district would read the first one's.
        district = db.session.scalar(sa.select(Organization.slug).where(
            Organization.kind == OrgKind.DISTRICT))
        if district is not None:
            raise click.ClickException(f"this site's district is already '{district}': a "
                                       "site serves one district")
    org = Organization(slug=slug, name=name, kind=kind)
    db.session.add(org)
    db.session.flush()
    audit.record("organization_created", "organization", org.id, COMMAND_LINE)
    db.session.commit()
    click.echo(f"created organization {org.id} {slug}")


@clients_cli.command("create")
@click.argument("org_slug")
@click.option("--name", required=True, help="What the client is, e.g. 'nightly export job'.")
def create_client(org_slug, name):
    """Issue an enforcer API token scoped to one organization (printed once)."""
    name = _plain_text(name, "--name")
    org = _org(org_slug)
    token = new_token()
    row = ApiToken(name=name, token_hash=hash_token(token), organization_id=org.id)
    db.session.add(row)
    db.session.flush()
    audit.record("api_client_created", "organization", org.id, COMMAND_LINE,
                 data={"token_id": row.id, "name": name})
    db.session.commit()
    # The token alone on standard output, so that scripts can capture it.
    click.echo(f"client token {row.id} for {org.slug} (revoke it with: accordant clients "
               f"revoke {row.id})", err=True)
    click.echo(token)


@clients_cli.command("list")
@click.argument("org_slug", required=False)
def list_clients(org_slug):
    """List enforcer API tokens (of one organization when given); never the tokens."""
    query = (sa.select(ApiToken, Organization.slug)
             .join(Organization, Organization.id == ApiToken.organization_id)
             .order_by(ApiToken.id))
    if org_slug is not None:
        query = query.where(ApiToken.organization_id == _org(org_slug).id)
    rows = db.session.execute(query).all()
    if not rows:
        click.echo("no client tokens")
    for token, slug in rows:
        status = "active" if token.active else "revoked"
        click.echo(f"{token.id}\t{slug}\t{status}\tcreated {iso(token.created_at)}\t"
                   f"{token.name}")


@clients_cli.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1, max=2**31 - 1))
def revoke_client(token_id):
    """Revoke an enforcer API token at once (its id from `accordant clients list`)."""
    token = db.session.scalar(sa.select(ApiToken).where(
        ApiToken.id == token_id, ApiToken.organization_id.is_not(None)))
    if token is None:
        raise click.ClickException(f"no client token {token_id} (see accordant clients list)")
    if not token.active:
        click.echo(f"client token {token_id} was already revoked")
        return
    token.active = False
    audit.record("api_client_revoked", "organization", token.organization_id, COMMAND_LINE,
                 data={"token_id": token.id, "name": token.name})
    db.session.commit()
    click.echo(f"revoked client token {token_id} ({token.name})")


def _plain_text(text: str, option: str) -> str:
    """A name or title as shown in the app and the audit trail: spaces folded, 1 to 200
    characters, no control characters."""
    text = " ".join(text.split())
    if not text or len(text) > 200 or has_forbidden(text):
        raise click.ClickException(f"{option} must be 1 to 200 characters of plain text")
    return text


def _roster_student(sourced_id: str, roles) -> Student:
    if "student" not in roles:
        raise click.ClickException("--student goes with --role student")
    student = db.session.scalar(sa.select(Student).where(Student.sourced_id == sourced_id))
    if student is None:
        raise click.ClickException(f"no student '{sourced_id}' on the roster")
    if student.user_id is not None:
        raise click.ClickException(f"student '{sourced_id}' already has an account")
    return student


def _org(slug: str) -> Organization:
    org = db.session.scalar(sa.select(Organization).where(Organization.slug == slug))
    if org is None:
        raise click.ClickException(f"no organization '{slug}'")
    return org


def _role(name: str) -> Role:
    role = db.session.scalar(sa.select(Role).where(Role.name == name))
    if role is None:
        role = Role(name=name)
        db.session.add(role)
    return role


def register(app: Flask) -> None:
    """Attach the project's command groups to `app.cli`."""
    from consent.calendar_cli import calendar_cli
    from consent.demo.command import demo_command
    from consent.enforcer.command import enforce_command
    from consent.roster.cli import roster_cli
    from consent.scheduler import scheduler_cli

    for command in (audit_cli, users_cli, orgs_cli, clients_cli, rules_cli, scheduler_cli,
                    roster_cli, demo_command, enforce_command, calendar_cli):
        app.cli.add_command(command)


def _create_app():
    from consent import create_app

    try:
        return create_app()
    except RuntimeError as exc:  # a configuration problem: say it plainly, no traceback
        raise click.UsageError(str(exc)) from None


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False)
def main():
    """Accordant: consent and agreement workflow engine."""


def _add_enforce(group: click.Group) -> None:
    # Also on the group itself: a partner runs `accordant enforce` without the
    # district's configuration, and commands found here need no app.
    from consent.enforcer.command import enforce_command

    group.add_command(enforce_command)


_add_enforce(main)


__all__ = ["db", "main", "register"]


if __name__ == "__main__":
    main()
