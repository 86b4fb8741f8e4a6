"""Apply a verified rules bundle to extract rows: which rows and which cells may go out.

A row goes out only if its student has a grant in force at `now` for the purpose,
and then only the cells of fields that the student's granted categories cover. The
output columns are the student column plus every field granted to at least one
released student; a cell of a column this student's grants do not cover is left
empty. Pure functions: no HTTP, no files, no application.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from consent.enforcer.errors import BundleRefused, ExtractRefused
from consent.enforcer.verify import parse_time

# student -> category code -> the grant (a bundle dict) it is released under
Permissions = dict[str, dict[str, dict]]


def grants_in_force(bundle: dict, purpose: str, now: datetime) -> list[dict]:
    """The bundle's grants for `purpose` whose window [valid_from, valid_until) holds `now`."""
    return [g for g in bundle["grants"] if purpose in g["purposes"]
            and parse_time(g["valid_from"]) <= now < parse_time(g["valid_until"])]


def student_permissions(bundle: dict, purpose: str, now: datetime,
                        students: Iterable[str]) -> Permissions:
    """For each of `students` with a grant in force, the categories and their grants.

    Grants come in the bundle's order (by agreement id), so when two agreements
    cover one category the older one is named, as the decision API names it.
    """
    wanted = set(students)
    found: Permissions = defaultdict(dict)
    for grant in grants_in_force(bundle, purpose, now):
        for student in wanted.intersection(grant["students"]):
            for category in grant["categories"]:
                found[student].setdefault(category, grant)
    return dict(found)


def _fields(categories: Mapping[str, dict]) -> set[str]:
    return {f for code, grant in categories.items() for f in grant["categories"][code]}


def filter_extract(bundle: dict, rows: Iterable[Mapping[str, str]], purpose: str,
                   now: datetime, *, student_column: str = "student_id",
                   columns: list[str] | None = None
                   ) -> tuple[list[dict[str, str]], list[str], Permissions]:
    """(kept_rows, kept_columns, per_student_categories) for `rows` at `now`.

    `columns` is the extract's header (default: the first row's keys). Rows of
    students without a grant in force for `purpose` are dropped, whether the student
    is unknown or simply not covered. `per_student_categories` maps each released
    student to {category: grant}.

    :raises BundleRefused: `now` is at or past the bundle's not_after.
    :raises ExtractRefused: there is no `student_column`.
    """
    if now >= parse_time(bundle["not_after"]):
        raise BundleRefused(f"the rules bundle is stale (not_after {bundle['not_after']})")
    rows = list(rows)
    columns = list(columns if columns is not None else (rows[0].keys() if rows else
                                                        [student_column]))
    if student_column not in columns:
        raise ExtractRefused(f"the extract has no '{student_column}' column")
    ids = [(row.get(student_column) or "").strip() for row in rows]
    permissions = student_permissions(bundle, purpose, now, set(ids) - {""})
    fields = {student: _fields(categories) for student, categories in permissions.items()}
    granted = set().union(*fields.values()) if fields else set()
    kept_columns = [student_column] + [c for c in columns if c != student_column
                                       and c in granted]
    kept_rows = []
    for student, row in zip(ids, rows, strict=True):
        if student not in permissions:
            continue
        own = fields[student]
        kept_rows.append({c: (row.get(c) or "") if c == student_column or c in own else ""
                          for c in kept_columns})
    return kept_rows, kept_columns, permissions


def disclosure_records(kept_rows: list[Mapping[str, str]], kept_columns: list[str],
                       permissions: Permissions, *, student_column: str = "student_id"
                       ) -> list[dict]:
    """The records of a disclosure report: one per released student and agreement.

    A record lists the categories whose fields went out (all the student's granted
    categories under that agreement if none of their fields were in the extract),
    the fields that went out, and how many rows.
    """
    rows_of: dict[str, int] = defaultdict(int)
    for row in kept_rows:
        rows_of[(row.get(student_column) or "").strip()] += 1
    out_columns = [c for c in kept_columns if c != student_column]
    records = []
    for student in sorted(permissions):
        if not rows_of.get(student):
            continue
        by_agreement: dict[int, dict[str, dict]] = defaultdict(dict)
        for category, grant in permissions[student].items():
            by_agreement[grant["agreement"]][category] = grant
        for agreement, categories in sorted(by_agreement.items()):
            covered = _fields(categories)
            fields = [c for c in out_columns if c in covered]
            released = sorted(code for code, grant in categories.items()
                              if set(grant["categories"][code]) & set(fields))
            grants = list({id(g): g for g in categories.values()}.values())
            record = {"student": student, "categories": released or sorted(categories),
                      "fields": fields, "agreement": agreement, "basis": grants[0]["basis"],
                      "rows": rows_of[student]}
            consents = sorted({c for g in grants for c in g["consents"]})
            if consents:
                record["consent"] = consents
            records.append(record)
    return records
