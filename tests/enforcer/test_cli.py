"""`accordant enforce` against the app served over real HTTP, end to end."""

from __future__ import annotations

import base64
import copy
import html
import http.server
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from consent.enforcer import client as enforcer_client
from consent.enforcer.command import enforce_command
from consent.models import Disclosure, DisclosureReport
from consent.timeutil import iso
from tests.api.helpers import bearer
from tests.enforcer.helpers import (
    PURPOSE,
    expected_release,
    now_utc,
    read_csv,
    write_extract_file,
)


def _args(server, scenario, tmp_path, *extra):
    source = write_extract_file(tmp_path / "extract.csv")
    return ["--server", server, "--token", scenario.token, "--recipient", "promise",
            "--purpose", PURPOSE, "--input", str(source),
            "--output", str(tmp_path / "filtered.csv"), *extra]


def _enforce(*args):
    return CliRunner().invoke(enforce_command, list(args), catch_exceptions=False)


def _counts(db):
    db.session.expire_all()
    return (db.session.scalar(sa.select(sa.func.count(DisclosureReport.id))),
            db.session.scalar(sa.select(sa.func.count(Disclosure.id))))


def test_enforce_writes_exactly_the_permitted_release_and_reports_it(
        runner, client, db, make, login, scenario, live_server, tmp_path):
    # Through the `accordant` command group, as an operator would run it.
    result = runner.invoke(args=["enforce", *_args(live_server, scenario, tmp_path)])
    assert result.exit_code == 0, result.output
    assert "kept 3 rows (2 students, 6 columns); dropped 2 rows" in result.output
    assert "reported 2 disclosure records" in result.output

    columns, rows, _ = expected_release(client, scenario.token)
    assert read_csv(tmp_path / "filtered.csv") == [columns, *rows]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    # Stored once per released student, with the server's own reading of the rules.
    db.session.expire_all()
    stored = {d.student.sourced_id: d for d in db.session.scalars(sa.select(Disclosure))}
    assert set(stored) == {"S-1001", "S-1003"}
    ana = stored["S-1001"]
    assert (ana.categories, ana.row_count, ana.basis, ana.exception, ana.agreement_id) == (
        ["attendance", "quarterly_grades"], 2, "consent", False, scenario.agreement)
    assert sorted(ana.consent_ids) == sorted([scenario.consents[("S-1001", "attendance")],
                                              scenario.consents[("S-1001", "quarterly_grades")]])

    # Ana's guardian sees it through the API and on the family page ...
    p = scenario.p
    family = bearer(make.user_token(p.guardian_user))
    seen = client.get(f"/api/v1/students/{p.student.id}/disclosures", headers=family).json
    assert [(d["recipient_name"], [c["code"] for c in d["categories"]], d["under_consent"])
            for d in seen["data"]] == [("Northside Promise Neighborhood",
                                        ["attendance", "quarterly_grades"], True)]
    assert "reported_by_token" not in seen["data"][0]
    page = login(p.guardian_user).get(f"/family/students/{p.student.id}")
    section = page.get_data(as_text=True).split('id="received-heading"')[1].split(
        'id="history-heading"')[0]
    assert "Northside Promise Neighborhood" in section
    assert "Attendance, Quarterly Grades" in section
    assert "Academic support" in section
    assert "With your family's consent" in html.unescape(section)  # ' is written &#39;
    assert "<time datetime=" in section

    # ... another family does not: not through the API, not on the page.
    other = bearer(make.user_token(scenario.cy_guardian_user))
    r = client.get(f"/api/v1/students/{p.student.id}/disclosures", headers=other)
    assert r.status_code == 404
    assert "Northside" not in r.get_data(as_text=True)
    assert login(scenario.cy_guardian_user).get(
        f"/family/students/{p.student.id}").status_code == 404
    own = client.get(f"/api/v1/students/{scenario.cy.id}/disclosures", headers=other).json
    assert [d["student"] for d in own["data"]] == ["S-1003"]


def test_running_the_same_release_again_stores_nothing_new(db, scenario, live_server,
                                                           tmp_path):
    at = iso(now_utc())
    first = _enforce(*_args(live_server, scenario, tmp_path, "--now", at))
    assert first.exit_code == 0, first.output
    counts = _counts(db)
    assert counts == (1, 2)
    again = _enforce(*_args(live_server, scenario, tmp_path, "--now", at))
    assert again.exit_code == 0, again.output
    assert "already in the district's log" in again.output
    assert _counts(db) == counts


def test_no_report_writes_the_file_and_stores_nothing(db, scenario, live_server, tmp_path):
    result = _enforce(*_args(live_server, scenario, tmp_path, "--no-report"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "filtered.csv").exists()
    assert _counts(db) == (0, 0)


def _flip_signature_byte(answer: dict) -> dict:
    header, empty, signature = answer["signature"].split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0x01
    changed = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return {**answer, "signature": f"{header}.{empty}.{changed}"}


def _widen_a_grant(answer: dict) -> dict:
    answer = copy.deepcopy(answer)
    grant = next(g for g in answer["bundle"]["grants"] if g["students"] == ["S-1003"])
    grant["students"].append("S-1002")  # Ben never consented
    return answer


@pytest.mark.parametrize("tamper", [_flip_signature_byte, _widen_a_grant])
def test_tampered_bundle_is_refused_and_nothing_is_written(db, scenario, live_server, tmp_path,
                                                           monkeypatch, tamper):
    real = enforcer_client.fetch_bundle
    monkeypatch.setattr(enforcer_client, "fetch_bundle",
                        lambda *a, **k: tamper(real(*a, **k)))
    result = _enforce(*_args(live_server, scenario, tmp_path))
    assert result.exit_code == 2, result.output
    assert "signature does not verify" in result.output
    assert "nothing was written" in result.output
    assert not (tmp_path / "filtered.csv").exists()
    assert _counts(db) == (0, 0)


def test_stale_bundle_is_refused_and_nothing_is_written(db, scenario, live_server, tmp_path):
    later = iso(now_utc() + timedelta(hours=2))  # the bundle lives an hour
    result = _enforce(*_args(live_server, scenario, tmp_path, "--now", later, "--no-report"))
    assert result.exit_code == 2, result.output
    assert "stale" in result.output
    assert not (tmp_path / "filtered.csv").exists()
    assert _counts(db) == (0, 0)


def test_bundle_of_another_recipient_is_refused(scenario, live_server, tmp_path, make):
    args = _args(live_server, scenario, tmp_path)
    args[args.index("--recipient") + 1] = "afterschool"
    result = _enforce(*args)
    assert result.exit_code == 1, result.output  # the server refuses to hand it out
    assert "403" in result.output
    assert not (tmp_path / "filtered.csv").exists()


def test_malformed_extract_is_refused_with_its_place(db, scenario, live_server, tmp_path):
    args = _args(live_server, scenario, tmp_path)
    (tmp_path / "extract.csv").write_bytes(b"student_id,mark\nS-1001,A\nS-1003\n")
    result = _enforce(*args)
    assert result.exit_code == 3, result.output
    assert "row 3, column 2: missing value for 'mark'" in result.output
    assert not (tmp_path / "filtered.csv").exists()
    assert _counts(db) == (0, 0)


def test_a_future_instant_with_a_report_is_refused_before_anything_is_written(
        db, scenario, live_server, tmp_path):
    later = iso(now_utc() + timedelta(minutes=30))  # inside the bundle's life
    result = _enforce(*_args(live_server, scenario, tmp_path, "--now", later))
    assert result.exit_code == 64, result.output  # a wrong command line, not a bad bundle
    assert "is in the future; a release is reported when it happens" in result.output
    assert not (tmp_path / "filtered.csv").exists()
    assert _counts(db) == (0, 0)


@pytest.mark.parametrize("extra, message", [
    (["--timeout", "0"], "--timeout"),
    (["--timeout", "-1"], "--timeout"),
    (["--timeout", "inf"], "--timeout"),
    (["--timeout", "nan"], "--timeout"),
    (["--timeout", "3601"], "--timeout"),
    (["--now", "2026-12-04T09:30:00+99:00"], "is not an RFC 3339 instant"),
    # Read as the server reads instants: these are not RFC 3339.
    (["--now", "2026-12-04 09:30:00Z"], "is not an RFC 3339 instant"),
    (["--now", "2026-W49-5T09:30:00Z"], "is not an RFC 3339 instant"),
    (["--now", "20261204T093000Z"], "is not an RFC 3339 instant"),
    (["--now", "2026-12-04T09:30:00.1234567Z"], "is not an RFC 3339 instant"),
    (["--now", "2026-12-04T09:30:00+0530"], "is not an RFC 3339 instant"),
    (["--now", ""], "is not an RFC 3339 instant"),
    (["--now", "1800-01-01T00:00:00Z"], "dates must fall between 1900 and 2999"),
    (["--recipient", ""], "--recipient"),
    (["--purpose", ""], "--purpose"),
    (["--purpose", "  "], "--purpose"),
    (["--purpose", "academic\x00support"], "--purpose"),
    (["--token", "abc\ndef"], "--token"),
    (["--output", "extract.csv"], "--output must not be the --input file"),
    (["--bogus"], "No such option '--bogus'"),
    (["--server", ""], "--server"),
    (["--server", "notaurl"], "--server"),
    (["--server", "ftp://127.0.0.1:9"], "--server"),
    (["--server", "file:///etc/passwd"], "--server"),
    (["--server", "http://[::1"], "--server"),
    (["--server", "http://127.0.0.1:9?x=1"], "--server"),
    (["--server", "http://127.0.0.1:9/#frag"], "--server"),
    (["--server", "http://127.0.0.1:9\n"], "--server"),
    (["--server", "http://user:pw@127.0.0.1:9"], "--server"),
])
def test_option_values_that_cannot_work_are_refused_by_name(scenario, tmp_path, extra,
                                                            message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = _args("http://127.0.0.1:9", scenario, tmp_path)
    args[args.index("--input") + 1] = "extract.csv"
    result = _enforce(*args, *extra)
    # 64 (EX_USAGE), never 2: a script reads 2 as "the bundle was refused".
    assert result.exit_code == 64 and message in result.output, result.output
    assert not (tmp_path / "filtered.csv").exists()


def test_a_purpose_no_grant_names_is_warned_about(scenario, live_server, tmp_path):
    args = _args(live_server, scenario, tmp_path, "--no-report")
    args[args.index("--purpose") + 1] = "academic_suport"
    result = CliRunner().invoke(enforce_command, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "no grant in the rules bundle is for the purpose 'academic_suport'" in result.stderr


def test_a_genuine_bundle_of_another_recipient_is_refused_and_the_recipient_is_required(
        client, db, make, scenario, live_server, tmp_path, monkeypatch):
    """A server (or something in between) that hands out another partner's bundle, one
    the district really signed, must not get that partner's rules applied here."""
    make.agreement(scenario.p.district, [scenario.p.other_partner], state="active",
                   executed_at=now_utc() - timedelta(hours=1))
    district = bearer(make.user_token(scenario.p.legal))
    theirs = client.get("/api/v1/rules/bundle?recipient=afterschool", headers=district).json
    assert theirs["bundle"]["recipient"] == "afterschool"
    monkeypatch.setattr(enforcer_client, "fetch_bundle", lambda *a, **k: theirs)
    args = _args(live_server, scenario, tmp_path)
    result = _enforce(*args)
    assert result.exit_code == 2, result.output
    assert "the rules bundle is for 'afterschool', not 'promise'" in result.output
    assert not (tmp_path / "filtered.csv").exists()

    at = args.index("--recipient")
    without = args[:at] + args[at + 2:]
    result = _enforce(*without)
    assert result.exit_code == 64 and "Missing option '--recipient'" in result.output
    monkeypatch.setenv("ACCORDANT_ENFORCER_RECIPIENT", "promise")
    result = _enforce(*without)  # the same refusal: the recipient comes from the variable
    assert result.exit_code == 2, result.output
    assert "not 'promise'" in result.output
    assert _counts(db) == (0, 0)


@pytest.mark.parametrize("key_set, message, status", [
    ("[]", 'not a key set: expected a JSON object {"keys": [...]}', 1),
    ('{"keys": "none"}', 'not a key set: expected a JSON object {"keys": [...]}', 1),
    ("{not json", "cannot use the key set", 1),
    ('{"keys": [1, "a", null, {"kty": "OKP"}]}', "signature does not verify", 2),
])
def test_a_key_set_that_is_not_one_is_refused_plainly(db, scenario, live_server, tmp_path,
                                                      key_set, message, status):
    (tmp_path / "jwks.json").write_text(key_set)
    result = _enforce(*_args(live_server, scenario, tmp_path, "--jwks",
                             str(tmp_path / "jwks.json")))
    assert result.exit_code == status, result.output
    assert message in result.output and "nothing was written" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "filtered.csv").exists()
    assert _counts(db) == (0, 0)


def test_a_release_the_district_refuses_is_deleted_not_left_for_a_retry(
        client, db, make, scenario, live_server, tmp_path, monkeypatch):
    """An outdated bundle (fetched before Cy's guardian revoked, still within its
    not_after) grants Cy; the district's log does not, and the file must not stay."""
    outdated = client.get("/api/v1/rules/bundle", headers=scenario.enforcer).json
    cy_attendance = scenario.consents[("S-1003", "attendance")]
    r = client.post(f"/api/v1/consents/{cy_attendance}/revoke", json={},
                    headers=bearer(make.user_token(scenario.cy_guardian_user)))
    assert r.status_code == 200, r.json
    monkeypatch.setattr(enforcer_client, "fetch_bundle", lambda *a, **k: outdated)
    result = _enforce(*_args(live_server, scenario, tmp_path))
    assert result.exit_code == 1, result.output
    assert "422" in result.output
    assert "the district refused the release, so" in result.output
    assert "was deleted" in result.output
    assert "run the same command again with --now" not in result.output
    assert not (tmp_path / "filtered.csv").exists()
    assert _counts(db) == (0, 0)


def test_a_token_that_cannot_report_releases_leaves_no_file(
        db, make, scenario, live_server, tmp_path):
    """The district's own token reads promise's rules but reports no releases: the file it
    filtered must not stay behind, unlogged."""
    args = _args(live_server, scenario, tmp_path)
    args[args.index("--token") + 1] = make.client_token(scenario.p.district)
    result = _enforce(*args)
    assert result.exit_code == 1, result.output
    assert "403" in result.output and "cannot report releases for promise" in result.output
    assert not (tmp_path / "filtered.csv").exists()
    assert _counts(db) == (0, 0)


@pytest.fixture
def odd_server():
    """A server on this machine that answers every request with the body it is given."""
    answer = {"body": b"{}"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answer
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("body", [
    b"[" * 1_000_000,  # nested deeper than any reader goes
    b'{"format": "x", "format": "accordant.rules-bundle.v1"}',  # a key twice
    b'{"bundle": NaN}',
])
def test_an_answer_that_is_not_strict_json_is_refused_plainly(scenario, tmp_path, odd_server,
                                                              body):
    url, answer = odd_server
    answer["body"] = body
    result = _enforce(*_args(url, scenario, tmp_path))
    assert result.exit_code == 1, result.output
    assert "did not answer with strict JSON" in result.output
    assert "nothing was written" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "filtered.csv").exists()
