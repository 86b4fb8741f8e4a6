"""Read the district's CSV extract strictly, and write the filtered file atomically.

Errors name the place as "row R, column C" counted the way a spreadsheet shows the
file: the header is row 1, columns start at 1.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from consent.enforcer.errors import ExtractRefused

NOT_UTF8 = ("not valid UTF-8 text (the extract must be UTF-8, with or without a "
            "byte-order mark)")


def _bad_cell(row: list[str]) -> int | None:
    """The 1-based column of the first cell holding undecodable bytes, if any."""
    try:
        "".join(row).encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    for number, cell in enumerate(row, start=1):
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:
            return number
    return None


def read_extract(path: str | os.PathLike, student_column: str = "student_id"
                 ) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows (as dicts) of a UTF-8 CSV file.

    Blank lines are skipped; every other row must have exactly the header's columns.

    :raises ExtractRefused: unreadable, not UTF-8, ragged, a malformed header, or no
        `student_column`.
    """
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    number = 0
    try:
        # surrogateescape keeps undecodable bytes so the error can name their cell.
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
            reader = csv.reader(f, strict=True)
            for number, row in enumerate(reader, start=1):  # noqa: B007 (used after the loop)
                if not row:
                    continue
                bad = _bad_cell(row)
                if bad is not None:
                    raise ExtractRefused(f"row {number}, column {bad}: {NOT_UTF8}")
                if header is None:
                    header = _header(row, number, student_column)
                    continue
                if len(row) != len(header):
                    raise ExtractRefused(_ragged(row, header, number))
                rows.append(dict(zip(header, row, strict=True)))
    except csv.Error as exc:
        # The csv module does not say which cell; the row is still worth naming.
        raise ExtractRefused(f"row {number + 1}: not well-formed CSV ({exc})") from None
    except OSError as exc:
        raise ExtractRefused(f"cannot read {os.fspath(path)}: {exc.strerror}") from None
    if header is None:
        raise ExtractRefused("row 1, column 1: the file is empty; expected a header row")
    return header, rows


def _header(row: list[str], number: int, student_column: str) -> list[str]:
    names = [name.strip() for name in row]
    seen: set[str] = set()
    for column, name in enumerate(names, start=1):
        if not name:
            raise ExtractRefused(f"row {number}, column {column}: empty column name")
        if name in seen:
            raise ExtractRefused(f"row {number}, column {column}: duplicate column name "
                                 f"'{name}'")
        seen.add(name)
    if student_column not in seen:
        raise ExtractRefused(f"row {number} (the header): no '{student_column}' column among "
                             f"{', '.join(repr(n) for n in names[:10])}"
                             f"{', …' if len(names) > 10 else ''} (name the student column "
                             "with --student-column)")
    return names


def _ragged(row: list[str], header: list[str], number: int) -> str:
    if len(row) > len(header):
        return (f"row {number}, column {len(header) + 1}: unexpected value; the header has "
                f"{len(header)} columns and this row {len(row)}")
    return (f"row {number}, column {len(row) + 1}: missing value for '{header[len(row)]}'; "
            f"the header has {len(header)} columns and this row {len(row)}")


def write_extract(path: str | os.PathLike, columns: list[str], rows: list[dict[str, str]]
                  ) -> None:
    """Write `rows` as UTF-8 CSV: to a temporary file beside `path`, then renamed over it,
    so readers never see half a file. The file is readable by its owner only."""
    target = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                     dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            writer.writerows([row[c] for c in columns] for row in rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
