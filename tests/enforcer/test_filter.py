"""The enforcer's filter on a real compiled bundle, and its strict CSV reading."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consent.enforcer import (
    BundleRefused,
    ExtractRefused,
    disclosure_records,
    filter_extract,
    read_extract,
    verify_bundle,
    write_extract,
)
from tests.enforcer.helpers import (
    HEADER,
    PURPOSE,
    ROWS,
    expected_release,
    now_utc,
    read_csv,
    write_extract_file,
)


def _bundle(client, scenario):
    r = client.get("/api/v1/rules/bundle", headers=scenario.enforcer)
    assert r.status_code == 200, r.json
    jwks = client.get("/.well-known/jwks.json").json
    return verify_bundle(r.json, jwks, now_utc(), "promise")


def test_only_permitted_students_and_fields_go_out(client, scenario):
    bundle = _bundle(client, scenario)
    rows = [dict(zip(HEADER, row, strict=True)) for row in ROWS]

    kept_rows, kept_columns, per_student = filter_extract(bundle, rows, PURPOSE, now_utc(),
                                                          columns=HEADER)

    columns, expected_rows, permitted = expected_release(client, scenario.token)
    assert kept_columns == columns
    assert [[r[c] for c in kept_columns] for r in kept_rows] == expected_rows
    assert {s: sorted(c) for s, c in per_student.items()} == permitted
    # Spelled out: Ben (no consent) and the unknown student are gone; Ana's revoked
    # behavior category and every column no granted category covers are gone; Cy's
    # grade cells are empty because Cy's family consented to attendance only.
    assert kept_columns == ["student_id", "date", "status", "course_code", "term", "mark"]
    assert [r["student_id"] for r in kept_rows] == ["S-1001", "S-1003", "S-1001"]
    assert kept_rows[1] == {"student_id": "S-1003", "date": "2026-09-01", "status": "present",
                            "course_code": "", "term": "", "mark": ""}
    assert per_student["S-1001"]["attendance"]["agreement"] == scenario.agreement


def test_another_purpose_releases_nothing(client, scenario):
    bundle = _bundle(client, scenario)
    rows = [dict(zip(HEADER, row, strict=True)) for row in ROWS]
    kept_rows, kept_columns, per_student = filter_extract(bundle, rows, "marketing", now_utc())
    assert (kept_rows, kept_columns, per_student) == ([], ["student_id"], {})


def test_a_bundle_past_not_after_is_refused_by_the_filter_too(client, scenario):
    bundle = _bundle(client, scenario)
    with pytest.raises(BundleRefused, match="stale"):
        filter_extract(bundle, [], PURPOSE, now_utc() + timedelta(days=1))


def test_disclosure_records_name_what_went_out_per_student(client, scenario):
    bundle = _bundle(client, scenario)
    rows = [dict(zip(HEADER, row, strict=True)) for row in ROWS]
    kept_rows, kept_columns, per_student = filter_extract(bundle, rows, PURPOSE, now_utc())
    records = disclosure_records(kept_rows, kept_columns, per_student)
    ana, cy = records
    assert ana == {"student": "S-1001", "categories": ["attendance", "quarterly_grades"],
                   "fields": ["date", "status", "course_code", "term", "mark"],
                   "agreement": scenario.agreement, "basis": "consent", "rows": 2,
                   "consent": sorted([scenario.consents[("S-1001", "attendance")],
                                      scenario.consents[("S-1001", "quarterly_grades")]])}
    assert (cy["student"], cy["categories"], cy["fields"], cy["rows"]) == (
        "S-1003", ["attendance"], ["date", "status"], 1)


def test_extract_with_or_without_bom_reads_the_same(tmp_path):
    with_bom = read_extract(write_extract_file(tmp_path / "a.csv", bom=True))
    without = read_extract(write_extract_file(tmp_path / "b.csv", bom=False))
    assert with_bom == without
    assert with_bom[0] == HEADER
    assert with_bom[1][1]["first_name"] == "Ben Nguyễn"


def test_output_is_written_whole_and_replaces_the_old_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    write_extract(target, ["student_id", "mark"], [{"student_id": "S-1", "mark": "A, with comma"}])
    assert read_csv(target) == [["student_id", "mark"], ["S-1", "A, with comma"]]
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary file left


@pytest.mark.parametrize(("content", "message"), [
    (b"student_id,mark\r\nS-1,A\r\nS-2,\xe9\r\n", "row 3, column 2: not valid UTF-8"),
    (b"\xff\xfes\x00t\x00", "row 1, column 1: not valid UTF-8"),
    (b"student_id,mark\nS-1,A\nS-2,B,extra\n", "row 3, column 3: unexpected value"),
    (b"student_id,mark,term\nS-1,A\n", "row 2, column 3: missing value for 'term'"),
    (b"student_id,mark,mark\nS-1,A,B\n", "row 1, column 3: duplicate column name 'mark'"),
    (b"pupil,mark\nS-1,A\n", "row 1 (the header): no 'student_id' column among 'pupil', 'mark'"),
    (b"", "row 1, column 1: the file is empty"),
    (b'student_id,mark\nS-1,"A\n', "row 2: not well-formed CSV"),
])
def test_malformed_extract_is_refused_naming_row_and_column(tmp_path, content, message):
    path = tmp_path / "extract.csv"
    path.write_bytes(content)
    with pytest.raises(ExtractRefused) as caught:
        read_extract(path)
    assert str(caught.value).startswith(message), str(caught.value)
