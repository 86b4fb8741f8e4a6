"""Building blocks of the enforcer tests: the scenario, the extract and the expected release.

The scenario, through the API: an active consent agreement with Northside Promise
(attendance, quarterly grades, behavior for academic support); Ana's guardian grants
all three and then revokes behavior; Cy's guardian grants attendance only; Ben has
no consent. The extract also holds an unknown student and columns no category covers.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.api.helpers import Partnership, bearer, make_partnership
from tests.api.test_roles import active_agreement
from tests.factories import DEFAULT_CATEGORIES

PURPOSE = "academic_support"
HEADER = ["student_id", "first_name", "date", "status", "course_code", "term", "mark",
          "incident_date", "incident_type", "action_taken", "phone", "chronic_absence_flag"]
ROWS = [
    ["S-1001", "Ana", "2026-09-01", "present", "MATH1", "Q1", "A", "2026-09-03", "tardy",
     "warning", "555-0101", "N"],
    ["S-1002", "Ben Nguyễn", "2026-09-01", "absent", "ENG1", "Q1", "B", "", "", "",
     "555-0102", "Y"],
    ["S-1003", "Cy", "2026-09-01", "present", "ART1", "Q1", "A-", "2026-09-04", "fight",
     "suspension", "555-0103", "N"],
    ["S-9999", "Zed", "2026-09-01", "present", "BIO1", "Q1", "C", "", "", "", "555-0199",
     "N"],
    ["S-1001", "Ana", "2026-09-02", "absent", "HIST1", "Q1", "B+", "", "", "", "555-0101",
     "N"],
]


@dataclass
class Scenario:
    p: Partnership
    agreement: int
    cy: object  # a third student, in another family
    cy_guardian_user: object
    consents: dict  # (student sourced id, category) -> consent id
    token: str  # Northside Promise's enforcer client token

    @property
    def enforcer(self) -> dict:
        return bearer(self.token)


def _grant(client, make, user, student, agreement: int, categories: list[str]) -> list[dict]:
    r = client.post(f"/api/v1/students/{student.id}/consents",
                    headers=bearer(make.user_token(user)),
                    json={"agreement": agreement, "recipient": "promise",
                          "purposes": [PURPOSE], "categories": categories})
    assert r.status_code == 201, r.json
    return r.json["data"]


def build_scenario(client, make) -> Scenario:
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    consents = {}
    for c in _grant(client, make, p.guardian_user, p.student, aid,
                    ["attendance", "quarterly_grades", "behavior"]):
        consents[("S-1001", c["category"])] = c["id"]
    r = client.post(f"/api/v1/consents/{consents[('S-1001', 'behavior')]}/revoke", json={},
                    headers=bearer(make.user_token(p.guardian_user)))
    assert r.status_code == 200, r.json
    lee = make.user("guardian", email="lee@family.example", name="Lee Park")
    cy = make.student("Cy", "Park", school=p.school, grade="10", sourced_id="S-1003")
    make.link(cy, make.guardian(lee, given="Lee", family="Park"))
    for c in _grant(client, make, lee, cy, aid, ["attendance"]):
        consents[("S-1003", c["category"])] = c["id"]
    return Scenario(p, aid, cy, lee, consents, make.client_token(p.partner))


def write_extract_file(path: Path, header=HEADER, rows=ROWS, bom: bool = True) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def expected_release(client, token: str, header=HEADER, rows=ROWS, purpose=PURPOSE):
    """What may go out, worked out without the bundle: the decision API answers each
    (student, category), and the category vocabulary says which fields each covers."""
    students = sorted({row[0] for row in rows})
    requests = [{"recipient": "promise", "student": s, "category": c, "purpose": purpose}
                for s in students for c in DEFAULT_CATEGORIES]
    r = client.post("/api/v1/decisions", json={"requests": requests}, headers=bearer(token))
    assert r.status_code == 200, r.json
    permitted = defaultdict(set)
    for answer in r.json["data"]:
        if answer["decision"] == "permit":
            permitted[answer["student"]].add(answer["category"])
    fields = {s: {f for c in cats for f in DEFAULT_CATEGORIES[c]} for s, cats in
              permitted.items()}
    columns = ["student_id"] + [c for c in header[1:] if any(c in f for f in fields.values())]
    out = [[value if name == "student_id" or name in fields[row[0]] else ""
            for name, value in zip(header, row, strict=True) if name in columns]
           for row in rows if row[0] in fields]
    return columns, out, {s: sorted(c) for s, c in permitted.items()}


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def now_utc() -> datetime:
    return datetime.now(UTC)


