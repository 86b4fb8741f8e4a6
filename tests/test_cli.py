"""Administration commands: people, organizations and enforcer tokens."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from consent.models import ApiToken, AuditEntry, Organization, Student, User


def test_create_org_user_and_client_token(app, db, runner, client):
    result = runner.invoke(args=["orgs", "create", "promise", "--name", "Promise Neighborhood",
                                 "--kind", "nonprofit"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["users", "create", "Director@Promise.example", "--name",
                                 "Pat Director", "--role", "signatory", "--role", "staff",
                                 "--org", "promise", "--password", "a long enough secret"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.email == "director@promise.example"))
    assert user.role_names == {"signatory", "staff"}
    assert user.check_password("a long enough secret")

    result = runner.invoke(args=["clients", "create", "promise", "--name", "nightly export"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    r = client.get("/api/v1/rules/bundle", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json["bundle"]["recipient"] == "promise"
    events = set(db.session.scalars(sa.select(AuditEntry.event)))
    assert {"organization_created", "user_created", "api_client_created"} <= events

    again = runner.invoke(args=["orgs", "create", "promise", "--name", "x", "--kind",
                                "nonprofit"])
    assert again.exit_code != 0 and "already exists" in again.output
    missing = runner.invoke(args=["clients", "create", "nowhere", "--name", "x"])
    assert missing.exit_code != 0 and "no organization 'nowhere'" in missing.output


@pytest.mark.parametrize("slug", ["Promise", "promise neighborhood", "a/b", "<b>x</b>",
                                  "promise-", "promise--x", "p" * 65, ""])
def test_an_organization_slug_must_be_plain(db, runner, slug):
    result = runner.invoke(args=["orgs", "create", slug, "--name", "Promise Neighborhood",
                                 "--kind", "nonprofit"])
    assert result.exit_code != 0
    assert "cannot be an organization slug: use lowercase letters" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organization)) == 0


def test_an_organization_name_must_not_be_blank(db, runner):
    result = runner.invoke(args=["orgs", "create", "promise", "--name", "  ", "--kind",
                                 "nonprofit"])
    assert result.exit_code != 0 and "--name must be 1 to 200 characters" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organization)) == 0


def test_missing_secret_key_is_a_plain_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORDANT_")}
    env["ACCORDANT_INSTANCE_PATH"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-m", "consent.cli", "audit", "verify"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert "ACCORDANT_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_adult_students_account_is_tied_to_their_roster_record(app, db, runner, make):
    student = make.student("Rosa", "Núñez", sourced_id="S-77")
    db.session.commit()
    result = runner.invoke(args=["users", "create", "rosa@student.example", "--name",
                                 "Rosa Núñez", "--role", "student", "--student", "S-77",
                                 "--password", "a long enough secret"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.email == "rosa@student.example"))
    assert db.session.get(Student, student.id).user_id == user.id
    for args, message in (
            (["--role", "student", "--student", "S-77"], "already has an account"),
            (["--role", "student", "--student", "S-404"], "no student 'S-404' on the roster"),
            (["--role", "guardian", "--student", "S-77"], "--student goes with --role student")):
        result = runner.invoke(args=["users", "create", "other@student.example", "--name",
                                     "Other", *args, "--password", "a long enough secret"])
        assert result.exit_code != 0 and message in result.output, result.output
    assert db.session.scalar(sa.select(User).where(User.email == "other@student.example")
                             ) is None


@pytest.mark.parametrize("args, message", [
    (["bad-email", "--role", "legal", "--org", "promise", "--password", "a long enough secret"],
     "'bad-email' is not an email address"),
    (["pat@promise.example", "--role", "legal", "--org", "promise", "--password", "short"],
     "the password must be 12 to 200 characters"),
    (["pat@promise.example", "--role", "guardian", "--org", "promise", "--password",
      "a long enough secret"], "a guardian account has no other role and no --org"),
    (["pat@promise.example", "--role", "legal", "--password", "a long enough secret"],
     "staff roles need --org"),
])
def test_a_person_created_on_the_command_line_follows_the_webs_rules(db, runner, args,
                                                                     message):
    assert runner.invoke(args=["orgs", "create", "promise", "--name", "Promise",
                               "--kind", "nonprofit"]).exit_code == 0
    result = runner.invoke(args=["users", "create", *args[:1], "--name", "Pat", *args[1:]])
    assert result.exit_code != 0 and message in result.output, result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


@pytest.mark.parametrize("name", ["", "   ", "nightly \x1b[31mexport", "x" * 201])
def test_an_enforcer_token_name_must_be_plain_text(db, runner, name):
    assert runner.invoke(args=["orgs", "create", "promise", "--name", "Promise",
                               "--kind", "nonprofit"]).exit_code == 0
    result = runner.invoke(args=["clients", "create", "promise", "--name", name])
    assert result.exit_code != 0 and "--name must be 1 to 200 characters" in result.output


def test_a_client_token_is_listed_without_its_secret_and_revoked_at_once(db, runner, client):
    for slug in ("promise", "afterschool"):
        assert runner.invoke(args=["orgs", "create", slug, "--name", slug.title(),
                                   "--kind", "nonprofit"]).exit_code == 0
    tokens = {}
    for slug, name in (("promise", "nightly export"), ("afterschool", "portal")):
        result = runner.invoke(args=["clients", "create", slug, "--name", name])
        assert result.exit_code == 0, result.output
        tokens[slug] = result.output.strip().splitlines()[-1]
    ids = dict(db.session.execute(sa.select(ApiToken.name, ApiToken.id)).all())

    listing = runner.invoke(args=["clients", "list"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.strip().splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        [str(ids["nightly export"]), "promise", "active"],
        [str(ids["portal"]), "afterschool", "active"]]
    assert all(token not in listing.output for token in tokens.values())
    only = runner.invoke(args=["clients", "list", "afterschool"]).output.strip().splitlines()
    assert [line.split("\t")[0] for line in only] == [str(ids["portal"])]

    promise = {"Authorization": f"Bearer {tokens['promise']}"}
    assert client.get("/api/v1/rules/bundle", headers=promise).status_code == 200
    result = runner.invoke(args=["clients", "revoke", str(ids["nightly export"])])
    assert result.exit_code == 0 and "revoked client token" in result.output
    assert client.get("/api/v1/rules/bundle", headers=promise).status_code == 401
    afterschool = {"Authorization": f"Bearer {tokens['afterschool']}"}
    assert client.get("/api/v1/rules/bundle", headers=afterschool).status_code == 200
    assert "api_client_revoked" in set(db.session.scalars(sa.select(AuditEntry.event)))
    assert runner.invoke(args=["clients", "list", "promise"]).output.split("\t")[2] == "revoked"

    again = runner.invoke(args=["clients", "revoke", str(ids["nightly export"])])
    assert again.exit_code == 0 and "already revoked" in again.output
    missing = runner.invoke(args=["clients", "revoke", "999"])
    assert missing.exit_code != 0 and "no client token 999" in missing.output


@pytest.mark.parametrize("args, message", [
    (["clients", "revoke", "99999999999999999999999"], "99999999999999999999999"),
    (["clients", "list", ""], "no organization ''"),
    (["users", "create", "pat@promise.example", "--name", "  ", "--role", "guardian",
      "--password", "a long enough secret"], "--name must be 1 to 200 characters"),
    # What the sign-in page would refuse, or an address that looks like another one.
    (["users", "create", "p\x01t@promise.example", "--name", "Pat", "--role", "guardian",
      "--password", "a long enough secret"], "is not an email address"),
    (["users", "create", "pat@promise.example\u200b", "--name", "Pat", "--role", "guardian",
      "--password", "a long enough secret"], "is not an email address"),
    (["users", "create", "pat@promise.example", "--name", "Pat", "--role", "guardian",
      "--password", "a long enough \x01secret"], "without control characters"),
    (["users", "create", "pat@promise.example", "--name", "Pat", "--role", "guardian",
      "--title", "a\x01b", "--password", "a long enough secret"],
     "--title must be 1 to 200 characters"),
    (["users", "create", "pat@promise.example", "--name", "Pat", "--role", "student",
      "--student", "", "--password", "a long enough secret"], "no student '' on the roster"),
])
def test_administration_commands_refuse_what_cannot_be_meant(db, runner, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a crash
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_a_second_district_is_refused(db, runner):
    """District staff and client tokens read every recipient's rules and the disclosure
    record: another organization of kind district would read this district's."""
    assert runner.invoke(args=["orgs", "create", "riverside", "--name", "Riverside",
                               "--kind", "district"]).exit_code == 0
    result = runner.invoke(args=["orgs", "create", "newdistrict", "--name", "Second",
                                 "--kind", "district"])
    assert result.exit_code != 0 and "already 'riverside'" in result.output
    assert db.session.scalars(sa.select(Organization.slug)).all() == ["riverside"]
