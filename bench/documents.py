"""Document rendering: a 15-page MOU and a 1,000-family consent register.

Run with ``.venv/bin/python -m bench.documents [--families N] [--mou-clauses C]
[--repeats R] [--register-repeats R] [--out FILE]``. Not part of the test suite: nothing
here is a timed assertion. Each of our renders is printed next to WeasyPrint rendering the very same
HTML directly (``weasyprint.HTML(string=...).write_pdf()`` with its default fetcher),
measured in the same run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import weasyprint
from pypdf import PdfReader

from bench.common import (
    RESULTS_DIR,
    inprocess_database,
    make_app,
    median,
    mib,
    ms,
    peak_memory,
    print_table,
    ratio,
)
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementParty,
    Consent,
    DataCategory,
    Guardian,
    Organization,
    Student,
    StudentGuardian,
)
from consent.services.consent_register import register_snapshot, render_register_html
from consent.services.documents import agreement_snapshot, render_agreement_html
from documents import ASSETS_DIR, html_to_pdf
from documents.limits import html_to_pdf_within

CATEGORIES = {
    "demographics": ["birth date", "gender", "ethnicity", "home language"],
    "contact": ["home address", "guardian phone", "guardian email"],
    "attendance": ["days enrolled", "days absent", "tardies"],
    "quarterly_grades": ["course", "quarter grade", "teacher"],
    "behavior": ["incident date", "incident type", "action taken"],
}
PARAGRAPH = ("The recipient keeps a written list of the people who work with the data, "
             "reviews it each quarter with {{ district }}, and removes anyone whose work no "
             "longer needs it within five business days. ")
NAMES = ("Nguyễn", "Wójcik", "الزهراء", "王", "O'Brien", "García")


def build(families: int, clauses: int) -> tuple[int, int]:
    """The district, a partner, an agreement with `clauses` extra clauses, and families."""
    for code, fields in CATEGORIES.items():
        db.session.add(DataCategory(code=code, name=code.replace("_", " ").title(),
                                    fields=fields))
    district = Organization(name="Riverside Unified School District", slug="riverside",
                            kind="district")
    partner = Organization(name="Northside Promise Neighborhood", slug="promise",
                           kind="nonprofit")
    db.session.add_all([district, partner])
    db.session.flush()
    school = Organization(name="Riverside High School", slug="rhs", kind="school",
                          parent_id=district.id)
    db.session.add(school)
    db.session.flush()
    agreement = Agreement(
        title="Promise Neighborhood data-sharing agreement", state="active",
        source_org_id=district.id, legal_basis="consent",
        purposes=["academic_support", "program_evaluation"], categories=list(CATEGORIES),
        population={"schools": [school.id], "grades": []}, start_date=date(2026, 9, 1),
        end_date=date(2027, 8, 31), scope_description="Tutoring and mentoring.",
        use_limitation="Only for the purposes above.", no_reidentification=True,
        security_requirements="Encrypted at rest and in transit.", retention_days=365,
        destruction_days=30, breach_notification_hours=72,
        clauses=[{"heading": f"Operating rule {i + 1}",
                  "text": "\n\n".join([PARAGRAPH * 3] * 3)} for i in range(clauses)])
    agreement.parties = [AgreementParty(organization_id=district.id, role="source"),
                         AgreementParty(organization_id=partner.id, role="recipient")]
    db.session.add(agreement)
    db.session.flush()
    at = datetime(2026, 10, 5, 18, 30, tzinfo=UTC)
    for i in range(families):
        family = NAMES[i % len(NAMES)]
        student = Student(sourced_id=f"s-{i}", given_name=f"Pupil{i:05d}", family_name=family,
                          birth_date=date(2012, 1, 1) + timedelta(days=i % 300), grade="07",
                          school_id=school.id)
        guardian = Guardian(sourced_id=f"g-{i}", given_name=f"Parent{i:05d}",
                            family_name=family, email=f"g{i}@example.org")
        db.session.add_all([student, guardian])
        db.session.flush()
        db.session.add(StudentGuardian(student_id=student.id, guardian_id=guardian.id))
        for j, code in enumerate(CATEGORIES):
            granted = (i + j) % 3 != 0
            db.session.add(Consent(
                student_id=student.id, agreement_id=agreement.id, recipient_id=partner.id,
                purpose="academic_support", category=code,
                state="granted" if granted else "refused", valid_from=agreement.start_date,
                valid_through=agreement.end_date, granted_at=at if granted else None,
                ended_at=None if granted else at, given_as="guardian"))
    db.session.commit()
    return agreement.id, school.id


def _pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def direct(html: str) -> bytes:
    """The baseline: WeasyPrint on the same HTML, its own default URL fetcher."""
    return weasyprint.HTML(string=html, base_url=ASSETS_DIR.as_uri() + "/").write_pdf()


def measure(label: str, ours, html_of, repeats: int) -> dict:
    """Median time and tracemalloc peak of `ours()` and of `direct(html_of())`."""
    html = html_of()
    ours_times, base_times = [], []
    pdf = base_pdf = b""
    for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
        started = time.perf_counter()
        pdf = ours()
        ours_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        base_pdf = direct(html)
        base_times.append(time.perf_counter() - started)
    ours_peak, _ = peak_memory(ours, setup=db.session.remove)
    base_peak, _ = peak_memory(lambda: direct(html), setup=lambda: None)
    print(f"[bench] {label}: {_pages(pdf)} pages", file=sys.stderr, flush=True)
    return {"pages": _pages(pdf), "baseline_pages": _pages(base_pdf), "bytes": len(pdf),
            "html_bytes": len(html.encode()), "seconds_median": median(ours_times),
            "baseline_seconds_median": median(base_times), "seconds": ours_times,
            "baseline_seconds": base_times, "peak_bytes": ours_peak,
            "baseline_peak_bytes": base_peak}


def child_maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def run(args) -> dict:
    logging.getLogger("weasyprint").setLevel(logging.WARNING)  # no per-page progress lines
    result = {"config": dict(vars(args)), "versions": {
        "python": platform.python_version(), "weasyprint": weasyprint.__version__},
        "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as folder, inprocess_database(Path(folder)) as (
            url, options, label):
        app = make_app(url, options, Path(folder) / "instance")
        result["database"] = label
        with app.app_context(), app.test_request_context():
            db.create_all()
            started = time.perf_counter()
            agreement_id, _ = build(args.families, args.mou_clauses)
            result["build_seconds"] = time.perf_counter() - started

            def mou_html() -> str:
                return render_agreement_html(
                    agreement_snapshot(db.session.get(Agreement, agreement_id), "for_signature"))

            def register_html() -> str:
                return render_register_html(
                    register_snapshot(db.session.get(Agreement, agreement_id)))

            result["mou"] = measure("MOU", lambda: html_to_pdf(mou_html()), mou_html,
                                    args.repeats)
            result["register"] = measure("register", lambda: html_to_pdf(register_html()),
                                         register_html, args.register_repeats)
            # The register as the background job makes it: a child process with a limit.
            html = register_html()
            before = child_maxrss_bytes()
            started = time.perf_counter()
            pdf = html_to_pdf_within(html, 3600)
            result["register_job"] = {"seconds": time.perf_counter() - started,
                                      "pages": _pages(pdf),
                                      "child_maxrss_bytes": child_maxrss_bytes(),
                                      "child_maxrss_before_bytes": before}
    return result


def report(r: dict) -> None:
    rows = []
    for key, title in (("mou", f"MOU, {r['mou']['pages']} pages"),
                       ("register", f"consent register, {r['config']['families']:,} families, "
                                    f"{r['register']['pages']} pages")):
        x = r[key]
        rows += [
            (f"{title}: snapshot + template + PDF (median)", ms(x["seconds_median"]),
             ms(x["baseline_seconds_median"]) + " WeasyPrint direct",
             ratio(x["seconds_median"], x["baseline_seconds_median"])),
            ("  peak Python memory (tracemalloc)", mib(x["peak_bytes"]),
             mib(x["baseline_peak_bytes"]), ratio(x["peak_bytes"], x["baseline_peak_bytes"])),
        ]
    j = r["register_job"]
    rows.append(("consent register as a background job (child process)", ms(j["seconds"]),
                 ms(r["register"]["baseline_seconds_median"]) + " WeasyPrint direct",
                 ratio(j["seconds"], r["register"]["baseline_seconds_median"]) +
                 f"; child peak RSS {mib(j['child_maxrss_bytes'])}"))
    print(f"\nLoad average at start: {r['load_average'][0]:.2f}; database {r['database']}")
    print_table("Document rendering (WeasyPrint " + r["versions"]["weasyprint"] + ")", rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=1000)
    parser.add_argument("--mou-clauses", type=int, default=17,
                        help="extra clauses in the MOU (17 give 15 pages)")
    parser.add_argument("--repeats", type=int, default=3, help="timed renders of the MOU")
    parser.add_argument("--register-repeats", type=int, default=1,
                        help="timed renders of the register (each takes about a minute)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "documents.json")
    args = parser.parse_args(argv)
    result = run(args)
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result["config"]["out"] = str(args.out)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nWritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
