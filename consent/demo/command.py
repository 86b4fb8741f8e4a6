"""`accordant demo`: create the database, load a demo partnership, serve the app.

The partnership is loaded through the same services people use, so agreements
carry real signatures, PDFs and audit entries.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from werkzeug.serving import run_simple

from consent.auth.permissions import is_adult
from consent.demo.roster_generator import write_roster
from consent.extensions import db
from consent.models import (
    DataCategory,
    Guardian,
    Organization,
    Role,
    RoleName,
    Student,
    StudentGuardian,
    User,
)
from consent.roster.importer import import_roster
from consent.roster.oneroster import parse_roster
from consent.services import agreements, consents
from consent.services.actors import actor_for
from consent.timeutil import local_date, utcnow

ROSTER_DIR = Path(__file__).resolve().parent / "data" / "oneroster"
DEMO_PASSWORD = "demo-password-2026"
CATEGORIES = {
    "demographics": ("Student demographics",
                     ["student_id", "first_name", "last_name", "birth_date", "gender",
                      "ethnicity", "home_language", "grade", "school"]),
    "contact": ("Contact information", ["address", "city", "postal_code", "phone", "email",
                                        "guardian_name", "guardian_phone"]),
    "success_indicators": ("Key indicators of student success",
                           ["chronic_absence_flag", "on_track_to_graduate", "credits_earned",
                            "english_learner_status"]),
    "quarterly_grades": ("Quarterly grades", ["course_code", "course_name", "term", "mark"]),
    "attendance": ("Attendance", ["attendance_date", "attendance_status", "days_absent_ytd"]),
    "behavior": ("Behavior", ["incident_date", "incident_type", "action_taken"]),
}
PARTNERS = (
    ("promise", "Northside Promise Neighborhood", "nonprofit"),
    ("afterschool", "Riverside After-School Alliance", "nonprofit"),
    ("dcfs", "State Department of Children and Family Services", "agency"),
)


def _role(name: str) -> Role:
    role = db.session.scalar(sa.select(Role).where(Role.name == name))
    if role is None:
        role = Role(name=name)
        db.session.add(role)
    return role


def _user(email: str, name: str, roles: list[str], org: Organization | None, title=None) -> User:
    user = User(email=email, name=name, organization_id=org.id if org else None, title=title)
    user.set_password(DEMO_PASSWORD)
    user.roles = [_role(r) for r in roles]
    db.session.add(user)
    db.session.flush()
    return user


def _run_to(agreement, state: str, people: dict) -> None:
    """Move a fresh draft along its lifecycle until it reaches `state`."""
    legal, reviewer = actor_for(people["legal"], "demo"), actor_for(people["reviewer"], "demo")
    if state == "draft":
        return
    agreements.run_event(agreement, "submit", legal, None)
    if state == "in_review":
        return
    agreements.run_event(agreement, "approve", reviewer, None, comment="Reviewed for the demo.")
    agreements.run_event(agreement, "send_for_signature", legal, None)
    doc = agreements.signing_document(agreement).sha256
    for party in sorted(agreement.parties, key=lambda p: p.signing_group):
        if state == "out_for_signature" and party.role == "recipient":
            return
        signer = people["signatories"][party.organization_id]
        agreements.sign(agreement, actor_for(signer, "demo"), name=signer.name,
                        title=signer.title or "", authority="Demo delegation",
                        document_sha256=doc)


def load_demo() -> dict:
    """Load the demo partnership into an empty database; returns the sign-ins."""
    today = local_date(utcnow())
    for code, (name, fields) in CATEGORIES.items():
        db.session.add(DataCategory(code=code, name=name, fields=fields,
                                    is_directory=code == "demographics"))
    # The roster is generated as of today (the same families as the shipped copy in
    # ROSTER_DIR): the seniors turning 18 "within 30 days" do so whenever the demo runs.
    with tempfile.TemporaryDirectory() as roster_dir:
        write_roster(roster_dir, today)
        report = import_roster(parse_roster(Path(roster_dir)), session=db.session)
    district = db.session.scalar(sa.select(Organization).where(Organization.kind == "district"))
    partners = {}
    for slug, name, kind in PARTNERS:
        partners[slug] = Organization(slug=slug, name=name, kind=kind)
        db.session.add(partners[slug])
    db.session.flush()

    people = {
        "admin": _user("admin@riverside.example", "Alex Admin", ["admin"], district),
        "legal": _user("legal@riverside.example", "Lee Counsel", ["legal"], district,
                       "General Counsel"),
        "reviewer": _user("reviewer@riverside.example", "Robin Review", ["reviewer"], district,
                          "Privacy Officer"),
        "staff": _user("staff@riverside.example", "Sam Staff", ["staff"], district),
        "partner_staff": _user("staff@promise.example", "Jordan Case", ["staff"],
                               partners["promise"], "Program Manager"),
    }
    signatories = {district.id: _user("superintendent@riverside.example", "Dana Whitfield",
                                      ["signatory"], district, "Superintendent")}
    for slug, org in partners.items():
        signatories[org.id] = _user(f"director@{slug}.example", f"{org.name} Director",
                                    ["signatory"], org, "Executive Director")
    people["signatories"] = signatories
    people["signatory"] = signatories[district.id]
    people["partner_signatory"] = signatories[partners["promise"].id]

    # A parent with two children signs in as the demo guardian.
    parent = db.session.scalar(
        sa.select(Guardian).join(StudentGuardian).group_by(Guardian.id)
        .having(sa.func.count(StudentGuardian.student_id) >= 2).order_by(Guardian.id).limit(1))
    people["guardian"] = _user(parent.email or "guardian@family.example",
                               parent.display_name, ["guardian"], None)
    parent.user_id = people["guardian"].id
    adult = next(s for s in db.session.scalars(sa.select(Student).order_by(Student.id))
                 if is_adult(s, today))
    people["student"] = _user("student@riverside.example", adult.display_name, ["student"],
                              None)
    adult.user_id = people["student"].id
    db.session.flush()

    schools = [o.slug for o in db.session.scalars(
        sa.select(Organization).where(Organization.kind == "school").order_by(Organization.id))]
    plans = [
        ("Promise Neighborhood academic support MOU", "consent", ["promise"],
         ["academic_support", "program_evaluation"],
         ["attendance", "quarterly_grades", "success_indicators", "behavior"], -30, 335, "active"),
        ("After-school enrichment data-sharing agreement", "consent", ["afterschool"],
         ["enrichment_planning"], ["attendance", "contact", "demographics"], -300, 45, "active"),
        ("Foster-care education stability agreement", "child_welfare", ["dcfs"],
         ["case_planning"], ["attendance", "quarterly_grades", "behavior"], -60, 300, "active"),
        ("Promise Neighborhood summer bridge amendment", "consent", ["promise"],
         ["summer_bridge"], ["attendance", "contact"], 150, 500, "draft"),
        ("After-school outcomes study", "studies", ["afterschool"], ["outcome_study"],
         ["attendance", "success_indicators"], 30, 395, "in_review"),
        ("Promise Neighborhood family services MOU", "consent", ["promise"],
         ["family_services"], ["contact", "demographics"], 10, 375, "out_for_signature"),
        ("Last year's after-school agreement", "consent", ["afterschool"],
         ["enrichment_planning"], ["attendance"], -400, -35, "expired"),
    ]
    made = []
    for title, basis, recipients, purposes, categories, start, end, state in plans:
        agreement = agreements.create_draft({
            "title": title, "legal_basis": basis, "recipients": recipients,
            "purposes": purposes, "categories": categories,
            "population": {"schools": schools if basis == "consent" else [], "grades": []},
            "start_date": today + timedelta(days=start), "end_date": today + timedelta(days=end),
        }, actor_for(people["legal"], "demo"))
        _run_to(agreement, "active" if state in ("active", "expired") else state, people)
        made.append(agreement)
    agreements.expire_due(utcnow())
    _seed_consents(made[0], "promise", people, today)
    _seed_consents(made[1], "afterschool", people, today)
    db.session.flush()
    return {"people": people, "roster": report}


def _seed_consents(agreement, recipient: str, people: dict, today) -> None:
    """Grant or refuse consents for a share of the students, as their guardians."""
    rng = random.Random(agreement.id)
    links = db.session.execute(
        sa.select(StudentGuardian, Guardian, Student).join(Guardian).join(Student)
        .where(StudentGuardian.has_educational_rights).order_by(Student.id)).all()
    seen = set()
    for _link, guardian, student in links:
        if student.id in seen or rng.random() > 0.35:
            continue
        if is_adult(student, today):
            continue
        seen.add(student.id)
        if guardian.user_id is None:
            user = User(email=guardian.email or f"{guardian.sourced_id}@family.example",
                        name=guardian.display_name, password_hash=None)
            user.roles = [_role(RoleName.GUARDIAN)]
            db.session.add(user)
            db.session.flush()
            guardian.user_id = user.id
        user = db.session.get(User, guardian.user_id)
        decision = "refuse" if rng.random() < 0.2 else "grant"
        consents.decide(student, user, actor_for(user, "demo"), agreement_id=agreement.id,
                        recipient_slug=recipient, purposes=agreement.purposes[:1],
                        categories=agreement.categories[:rng.randint(1, len(agreement.categories))],
                        decision=decision)


def _print_sign_ins(people: dict) -> None:
    click.echo(f"\nDemo sign-ins (password {DEMO_PASSWORD!r}):")
    for label in ("admin", "legal", "reviewer", "signatory", "partner_signatory", "staff",
                  "partner_staff", "guardian", "student"):
        user = people[label]
        click.echo(f"  {label:<18} {user.email}")


@click.command("demo")
@click.option("--serve/--no-serve", default=True, help="Start the web app and scheduler.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--reset", is_flag=True, help="Delete the demo database first (SQLite only).")
@with_appcontext
def demo_command(serve: bool, host: str, port: int, reset: bool) -> None:
    """Create the database, load the demo partnership, and serve it."""
    app = current_app._get_current_object()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if reset:
        if not url.startswith("sqlite"):
            raise click.ClickException("--reset only deletes SQLite demo databases")
        db.engine.dispose()
        Path(db.engine.url.database).unlink(missing_ok=True)
    upgrade()
    if db.session.scalar(sa.select(sa.func.count(Organization.id))):
        click.echo("The database already holds data; not loading the demo again "
                   "(use --reset to start over).")
    else:
        click.echo("Loading the demo partnership…")
        loaded = load_demo()
        db.session.commit()
        roster = loaded["roster"]
        click.echo(f"Imported {roster.created('student')} students and "
                   f"{roster.created('guardian')} guardians from the OneRoster demo roster.")
        _print_sign_ins(loaded["people"])
    if not serve:
        return
    # The same interpreter and installation as this command (not whatever `accordant`
    # comes first on PATH).
    command = [sys.executable, "-m", "consent.cli", "scheduler", "run"]
    env = os.environ.copy()
    if "ACCORDANT_SMTP_HOST" not in env:  # no mail server configured: keep mail on disk
        env["ACCORDANT_MAIL_TRANSPORT"] = "file"
        click.echo(f"Email is written to {Path(app.instance_path) / 'mail'} "
                   "(set ACCORDANT_SMTP_HOST to send it).")
    scheduler = subprocess.Popen(command, env=env)
    click.echo(f"\nServing on http://{host}:{port}/ with the scheduler running "
               "(Ctrl+C stops both).")
    # `kill` (SIGTERM) stops both as Ctrl+C does: without this, Python would exit
    # without the cleanup below and leave the scheduler running (and mailing).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        # Werkzeug's server directly: Flask refuses app.run() inside a CLI command.
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=10)


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)
