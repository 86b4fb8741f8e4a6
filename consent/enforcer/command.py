"""`accordant enforce`: filter a district extract by the partner's signed rules bundle.

Exit status: 0 done; 1 the server could not be reached or refused a request (the
message says whether the output was kept); 2 the rules bundle was refused (stale
or altered: nothing written); 3 the extract is not well-formed CSV (nothing written);
64 the command line is wrong (nothing done).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import urllib.parse
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from consent import strict_json
from consent.enforcer import client
from consent.enforcer.errors import EnforcerError, ServerError
from consent.enforcer.extract import read_extract, write_extract
from consent.enforcer.filtering import disclosure_records, filter_extract
from consent.enforcer.verify import parse_time, verify_bundle
from consent.timeutil import check_year

# The district's log refuses a release more than this far ahead of its own clock.
REPORT_CLOCK_SKEW = timedelta(minutes=5)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def idempotency_key(bundle: dict, purpose: str, released_at: datetime, output: Path) -> str:
    """The same release (bundle, purpose, instant and output bytes) gets the same key,
    so running the same report again stores nothing new."""
    digest = hashlib.sha256()
    digest.update(json.dumps([bundle["recipient"], bundle["version"], purpose,
                              _iso(released_at)]).encode())
    digest.update(output.read_bytes())
    return f"enforce-{digest.hexdigest()[:40]}"


def _fail(exc: EnforcerError, note: str = "") -> None:
    click.echo(f"error: {exc}{note}", err=True)
    sys.exit(exc.exit_code)


USAGE = 64  # EX_USAGE (sysexits.h): click's own 2 would read as a refused bundle
MAX_TIMEOUT = 3600  # seconds per HTTP request


@contextmanager
def _usage_errors():
    """A wrong command line exits with `USAGE`."""
    try:
        yield
    except click.UsageError as exc:
        exc.exit_code = USAGE
        raise


class _EnforceCommand(click.Command):
    """Exits with `USAGE` on a wrong command line, whether click finds it while parsing
    (a missing option) or the command does (a malformed --now)."""

    def make_context(self, *args, **kwargs):
        with _usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _usage_errors():
            return super().invoke(ctx)


def _text(spaces: bool):
    """An option callback refusing a blank value or control characters, and spaces too
    unless `spaces` (a token or slug goes into a header or a URL; a purpose code may
    hold spaces)."""
    def check(ctx, param, value):
        if value is not None and (not value.strip() or not value.isprintable()
                                  or (not spaces and any(c.isspace() for c in value))):
            raise click.BadParameter("must not be blank or hold control characters"
                                     + ("" if spaces else " or spaces"))
        return value
    return check


def _server(ctx, param, value):
    """The district server's base address: http(s), a host, nothing the request paths
    could not be appended to, and no credentials (they would be printed in messages)."""
    if value is None:
        return value
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
            or parts.query or parts.fragment or "@" in parts.netloc
            or not value.isprintable() or any(c.isspace() for c in value)):
        raise click.BadParameter("must be the server's address, e.g. "
                                 "https://accordant.example.org (http or https, a host, no "
                                 "query, fragment or credentials)")
    return value


def _seconds(ctx, param, value: float) -> float:
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        raise click.BadParameter(f"must be a number of seconds above 0, at most {MAX_TIMEOUT}")
    return value


@click.command("enforce", cls=_EnforceCommand)
@click.option("--server", required=True, metavar="URL", callback=_server,
              help="The district's Accordant server, e.g. https://accordant.example.org")
@click.option("--token", required=True, envvar="ACCORDANT_ENFORCER_TOKEN", metavar="TOKEN",
              callback=_text(spaces=False),
              help="Your organization's API client token (or set ACCORDANT_ENFORCER_TOKEN).")
@click.option("--recipient", required=True, envvar="ACCORDANT_ENFORCER_RECIPIENT",
              metavar="SLUG", callback=_text(spaces=False), help="Your organization's slug (or set "
              "ACCORDANT_ENFORCER_RECIPIENT): a bundle for anyone else is refused, even "
              "one the district signed.")
@click.option("--purpose", required=True, callback=_text(spaces=True), help="The purpose of this "
              "export, e.g. academic_support.")
@click.option("--input", "input_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The district's CSV extract (UTF-8, with or without BOM).")
@click.option("--output", "output_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the filtered CSV (written atomically).")
@click.option("--student-column", default="student_id", show_default=True,
              help="The extract column holding the district student identifier.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Report the disclosure back to the district's log.")
@click.option("--now", "now_text", metavar="INSTANT",
              help="Filter as of this instant (RFC 3339, e.g. 2026-12-04T09:30:00Z); "
                   "default: now.")
@click.option("--jwks", "jwks_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A pinned key set (JSON) instead of fetching /.well-known/jwks.json.")
@click.option("--timeout", default=30.0, show_default=True, type=float, callback=_seconds,
              help="Seconds per HTTP request.")
def enforce_command(server, token, recipient, purpose, input_path, output_path, student_column,
                    report, now_text, jwks_path, timeout):
    """Keep only the rows and columns the signed rules bundle permits, then report them.

    Exit status 2: the bundle is stale or altered (nothing written); 3: the extract is
    malformed (nothing written); 1: the server failed; 64: the command line is wrong.
    """
    if input_path.resolve() == output_path.resolve():
        raise click.UsageError("--output must not be the --input file")
    try:
        now = parse_time(now_text) if now_text is not None else datetime.now(UTC)
        check_year(now.date())  # as the server's log would
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from None
    if report and now > datetime.now(UTC) + REPORT_CLOCK_SKEW:
        # The district's log takes releases as they happen: refuse before writing anything
        # that could then never be reported.
        raise click.BadParameter("is in the future; a release is reported when it happens "
                                 "(filter as of a future instant with --no-report)",
                                 param_hint="--now")
    try:
        answer = client.fetch_bundle(server, token, recipient, timeout=timeout)
        jwks = (strict_json.loads(jwks_path.read_text(encoding="utf-8")) if jwks_path
                else client.fetch_jwks(server, timeout=timeout))
        bundle = verify_bundle(answer, jwks, now, recipient)
        columns, rows = read_extract(input_path, student_column)
        kept_rows, kept_columns, permissions = filter_extract(
            bundle, rows, purpose, now, student_column=student_column, columns=columns)
    except EnforcerError as exc:
        _fail(exc, "; nothing was written")
    except (OSError, ValueError, RecursionError) as exc:  # an unreadable or malformed key set
        where = jwks_path or f"{server.rstrip('/')}/.well-known/jwks.json"
        click.echo(f"error: cannot use the key set {where}: {exc}; nothing was written",
                   err=True)
        sys.exit(1)
    try:
        write_extract(output_path, kept_columns, kept_rows)
    except OSError as exc:
        click.echo(f"error: cannot write {output_path}: {exc.strerror}", err=True)
        sys.exit(1)
    if not any(purpose in grant.get("purposes", ()) for grant in bundle.get("grants", ())):
        click.echo(f"warning: no grant in the rules bundle is for the purpose {purpose!r}; "
                   "check its spelling", err=True)
    students_in = {(r.get(student_column) or "").strip() for r in rows}
    click.echo(f"rules bundle {bundle['recipient']} v{bundle['version']} verified "
               f"(issued {bundle['issued_at']}, usable until {bundle['not_after']})")
    click.echo(f"read {len(rows)} rows ({len(students_in)} students, {len(columns)} columns) "
               f"from {input_path}")
    click.echo(f"kept {len(kept_rows)} rows ({len(permissions)} students, "
               f"{len(kept_columns)} columns); dropped {len(rows) - len(kept_rows)} rows "
               f"without a grant in force for {purpose}")
    click.echo(f"wrote {output_path}")
    if not report:
        click.echo("not reported (--no-report)")
        return
    records = disclosure_records(kept_rows, kept_columns, permissions,
                                 student_column=student_column)
    if not records:
        click.echo("nothing released, so nothing to report")
        return
    body = {"idempotency_key": idempotency_key(bundle, purpose, now, output_path),
            "bundle_version": bundle["version"], "released_at": _iso(now),
            "purpose": purpose, "records": records}
    try:
        status, answer = client.report_disclosures(server, token, body, timeout=timeout)
    except ServerError as exc:
        # Refusals that asking again cannot change: the rows must not leave unlogged.
        # 422: the district's log says they were not permitted at that instant (a consent
        # revoked since the bundle was fetched, or an outdated bundle); 403: this token
        # may not report releases (the district's own token, or another organization's).
        refused = {422: "the district refused the release, so {out} was deleted: run the "
                        "command again to filter with the current rules",
                   403: "this token cannot report releases for {who}, so {out} was "
                        "deleted: use {who}'s own client token"}.get(exc.status)
        if refused:
            output_path.unlink(missing_ok=True)
            _fail(exc, "; " + refused.format(out=output_path, who=recipient))
        _fail(exc, f"; {output_path} WAS written but the disclosure is not in the "
                   f"district's log: run the same command again with --now {_iso(now)} "
                   f"to report it")
    stored = answer.get("data", {})
    what = "reported" if status == 201 else "already in the district's log:"
    click.echo(f"{what} {len(stored.get('records', records))} disclosure records "
               f"(report {stored.get('id')}, key {body['idempotency_key']})")
