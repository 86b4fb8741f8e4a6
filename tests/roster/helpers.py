"""Small OneRoster 1.1 CSV rosters written into a temporary directory for tests."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from consent.demo.roster_generator import DEMOGRAPHICS_HEADER, ORGS_HEADER, USERS_HEADER

DISTRICT, NORTH, SOUTH = "d-1", "sch-north", "sch-south"


def org(sourced_id, name, kind, parent="", status="active"):
    return {"sourcedId": sourced_id, "status": status, "name": name, "type": kind,
            "parentSourcedId": parent}


def user(sourced_id, role, given, family, *, org=NORTH, email="", agents="", grades="",
         status="active"):
    return {"sourcedId": sourced_id, "status": status, "orgSourcedIds": org, "role": role,
            "givenName": given, "familyName": family, "email": email, "agentSourcedIds": agents,
            "grades": grades, "enabledUser": "true"}


def demo(sourced_id, birth_date, status="active"):
    return {"sourcedId": sourced_id, "status": status, "birthDate": birth_date, "sex": "female"}


def base_orgs():
    return [org(DISTRICT, "Test Unified", "district"),
            org(NORTH, "North High School", "school", DISTRICT),
            org(SOUTH, "South Elementary", "school", DISTRICT)]


def base_users():
    return [
        user("stu-1", "student", "Ana", "Lopez", grades="09", agents="gdn-1"),
        user("stu-2", "student", "Ben", "O'Brien", org=SOUTH, grades="03"),
        user("gdn-1", "parent", "Maria", "Lopez", org=DISTRICT, email="maria@example.org"),
        user("gdn-2", "guardian", "Sean", "O'Brien", org=DISTRICT, agents="stu-2"),
    ]


def base_demographics():
    return [demo("stu-1", "2011-04-05"), demo("stu-2", "2017-10-30")]


def to_csv(header, rows) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write(directory: Path, *, orgs=None, users=None, demographics=None,
          encoding: str = "utf-8", headers: dict | None = None) -> Path:
    """Write orgs.csv, users.csv and demographics.csv; None means the base rows."""
    directory.mkdir(parents=True, exist_ok=True)
    headers = {"orgs.csv": ORGS_HEADER, "users.csv": USERS_HEADER,
               "demographics.csv": DEMOGRAPHICS_HEADER, **(headers or {})}
    contents = {"orgs.csv": base_orgs() if orgs is None else orgs,
                "users.csv": base_users() if users is None else users,
                "demographics.csv": base_demographics() if demographics is None else demographics}
    for name, rows in contents.items():
        header = headers[name]
        rows = [{k: v for k, v in row.items() if k in header} for row in rows]
        (directory / name).write_bytes(to_csv(header, rows).encode(encoding))
    return directory
