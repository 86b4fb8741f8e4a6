"""The demo roster generator and the roster shipped in consent/demo/data/oneroster/."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, timedelta

from consent.demo.roster_generator import SHIPPED_AS_OF, SHIPPED_DIR, birthday_in_years, main
from consent.roster import parse_roster

FILES = ("orgs.csv", "users.csv", "demographics.csv")


def test_the_shipped_roster_is_what_the_generator_writes(tmp_path):
    assert main([str(tmp_path), "--as-of", SHIPPED_AS_OF.isoformat()]) == 0

    for name in FILES:
        assert (tmp_path / name).read_bytes() == (SHIPPED_DIR / name).read_bytes(), name


def test_the_generator_is_deterministic_and_follows_the_reference_date(tmp_path):
    main([str(tmp_path / "a"), "--as-of", "2027-09-15"])
    main([str(tmp_path / "b"), "--as-of", "2027-09-15"])
    roster = parse_roster(tmp_path / "a")

    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert roster.errors == []
    assert _turning_18_soon(roster, date(2027, 9, 15)) >= 5


def _turning_18_soon(roster, as_of):
    return sum(1 for s in roster.students
               if as_of < birthday_in_years(s.birth_date, 18) <= as_of + timedelta(days=30))


def test_the_shipped_roster_covers_the_cases_the_demo_needs():
    roster = parse_roster(SHIPPED_DIR)
    as_of = SHIPPED_AS_OF

    assert roster.errors == []
    assert roster.district.name == "Riverside Unified School District"
    assert sorted(s.name for s in roster.schools) == [
        "Jefferson Middle School", "Riverside High School", "Willow Creek Elementary School"]
    assert 280 <= len(roster.students) <= 320
    assert _turning_18_soon(roster, as_of) >= 5
    assert sum(1 for s in roster.students if birthday_in_years(s.birth_date, 18) <= as_of) >= 3
    names = {f"{s.family_name} {s.given_name}" for s in roster.students}
    names |= {f"{s.given_name} {s.family_name}" for s in roster.students}
    for name in ("Liam O'Brien", "Marco D'Angelo", "Nguyễn Thị Hương", "Łucja Wójcik",
                 "محمد العلي", "王 小明", "José Núñez"):
        assert name in names, name
    children = Counter(link.guardian_sourced_id for link in roster.links)
    guardians = Counter(link.student_sourced_id for link in roster.links)
    assert max(children.values()) >= 2
    assert max(guardians.values()) >= 2
    assert {link.relationship for link in roster.links} == {"parent", "guardian", "relative"}

    with (SHIPPED_DIR / "users.csv").open(encoding="utf-8", newline="") as fh:
        raw = [row["email"] for row in csv.DictReader(fh) if row["email"]]
    assert any(e != e.lower() for e in raw)
    assert any(e == e.lower() for e in raw)
