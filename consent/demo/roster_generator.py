"""Write a synthetic OneRoster 1.1 CSV roster for the demo district, Riverside Unified.

Deterministic: the same seed, size and reference date give byte-identical files, so the shipped
copy in `consent/demo/data/oneroster/` can be checked against a fresh run. No database and no
Flask here; importing the files is `flask roster import`'s job.

    python -m consent.demo.roster_generator OUTDIR --as-of 2026-12-03
"""

from __future__ import annotations

import argparse
import csv
import logging
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

logger = logging.getLogger(__name__)

DISTRICT_NAME = "Riverside Unified School District"
DEFAULT_SEED = 20261203
DEFAULT_STUDENTS = 300
SHIPPED_AS_OF = date(2026, 12, 3)
SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "oneroster"

ORGS_HEADER = ["sourcedId", "status", "dateLastModified", "name", "type", "identifier",
               "parentSourcedId"]
USERS_HEADER = ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role",
                "username", "userIds", "givenName", "familyName", "middleName", "identifier",
                "email", "sms", "phone", "agentSourcedIds", "grades", "password"]
DEMOGRAPHICS_HEADER = ["sourcedId", "status", "dateLastModified", "birthDate", "sex",
                       "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
                       "nativeHawaiianOrOtherPacificIslander", "white",
                       "demographicRaceTwoOrMoreRaces", "hispanicOrLatinoEthnicity",
                       "countryOfBirthCode", "stateOfBirthAbbreviation", "cityOfBirth",
                       "publicSchoolResidenceStatus"]

GRADES = ["KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"]
SCHOOLS = [  # (name, identifier, grades)
    ("Willow Creek Elementary School", "RUSD-101", GRADES[:6]),
    ("Jefferson Middle School", "RUSD-201", GRADES[6:9]),
    ("Riverside High School", "RUSD-301", GRADES[9:]),
]

# Name pools in several scripts. Given names are (name, sex) so demographics agree.
NAME_POOLS: list[tuple[list[tuple[str, str]], list[str]]] = [
    ([("Aoife", "female"), ("Liam", "male"), ("Saoirse", "female"), ("Conor", "male"),
      ("Emma", "female"), ("Noah", "male")],
     ["O'Brien", "O'Connor", "Murphy", "O'Neill", "Smith-Jones", "McCarthy"]),
    ([("Giulia", "female"), ("Marco", "male"), ("Luca", "male"), ("Sofia", "female")],
     ["D'Angelo", "D'Amico", "Rossi", "Esposito"]),
    ([("José", "male"), ("María José", "female"), ("Sofía", "female"), ("Mateo", "male"),
      ("Ximena", "female"), ("Andrés", "male")],
     ["Núñez", "García", "Hernández", "Peña", "Martínez López", "Ibáñez"]),
    ([("Thị Hương", "female"), ("Văn An", "male"), ("Minh Anh", "female"), ("Quốc Bảo", "male")],
     ["Nguyễn", "Trần", "Lê", "Phạm", "Đặng"]),
    ([("Łucja", "female"), ("Zofia", "female"), ("Jakub", "male"), ("Wojciech", "male")],
     ["Wójcik", "Wiśniewska", "Dąbrowski", "Żak"]),
    ([("محمد", "male"), ("فاطمة", "female"), ("يوسف", "male"), ("ليلى", "female")],
     ["العلي", "الحسن", "منصور", "الخطيب"]),
    ([("小明", "male"), ("丽华", "female"), ("伟", "male"), ("静怡", "female")],
     ["王", "李", "张", "陈"]),
    ([("민준", "male"), ("서연", "female"), ("지호", "male")], ["김", "이", "박"]),
    ([("आरव", "male"), ("अनन्या", "female"), ("विवान", "male")], ["शर्मा", "पटेल", "गुप्ता"]),
    ([("Kalani", "female"), ("Keoni", "male")], ["Kahananui", "Akana"]),
]
MAIL_DOMAINS = ["example.com", "example.net", "example.org", "Mail.Example.com"]
STUDENT_DOMAIN = "students.riversideusd.example"
# Letters that NFKD does not split into a base letter and an accent.
_ASCII_LETTERS = str.maketrans({"Đ": "D", "đ": "d", "Ł": "L", "ł": "l", "Ø": "O", "ø": "o"})


@dataclass
class Person:
    sourced_id: str
    role: str
    given: str
    family: str
    sex: str = ""
    middle: str = ""
    email: str = ""
    grade: str = ""
    school: str = ""
    birth_date: date | None = None
    identifier: str = ""
    status: str = "active"
    agents: list[str] = field(default_factory=list)


def school_year_start(as_of: date) -> int:
    """The calendar year in which the school year containing `as_of` began (August)."""
    return as_of.year if as_of.month >= 8 else as_of.year - 1


def birthday_in_years(day: date, years: int) -> date:
    """`day` moved by `years`; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class _Generator:
    def __init__(self, as_of: date, seed: int, students: int):
        self.as_of, self.target = as_of, students
        self.rng = random.Random(seed)  # noqa: S311 (synthetic people, not secrets)
        self.people: list[Person] = []
        self.students: list[Person] = []
        self.departed = 0  # students whose rows are marked tobedeleted
        self.serial = 100000
        self.year = school_year_start(as_of)
        self.school_ids: dict[str, list[str]] = {}
        self.district_id = ""
        self.addresses: set[str] = set()  # guardian emails handed out, lower-case

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def active_students(self) -> int:
        return len(self.students) - self.departed

    def grade_birth_date(self, grade: str) -> date:
        # Kindergarteners are 5 on 1 September of the school year; one year more per grade.
        g = GRADES.index(grade)
        first = date(self.year - g - 6, 9, 2)
        return first + timedelta(days=self.rng.randrange(365))

    def turning_18(self, days: int) -> date:
        """A birth date whose 18th birthday is `days` after the reference date."""
        return birthday_in_years(self.as_of + timedelta(days=days), -18)

    def email_for(self, given: str, family: str, domain: str) -> str:
        name = f"{given}.{family}".translate(_ASCII_LETTERS)
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore")
        local = "".join(c for c in ascii_name.decode() if c.isalnum() or c == ".").strip(".")
        if len(local) < 3 or ".." in local or local.startswith(".") or "." not in local:
            local = f"family{self.rng.randrange(1000, 9999)}"
        number = self.rng.randrange(10, 99)
        # One address per guardian, as the importer requires; a clash takes the next free
        # number without drawing again, so the rest of the roster stays as it was.
        while f"{local}{number}@{domain}".lower() in self.addresses:
            number += 1
        address = f"{local}{number}@{domain}"
        self.addresses.add(address.lower())
        # Districts export addresses as families typed them: keep some in mixed case.
        return address if self.rng.random() < 0.3 else address.lower()

    def student(self, given: str, family: str, sex: str, grade: str,
                birth_date: date | None = None, middle: str = "") -> Person:
        self.serial += 1
        school = next(sid for sid, grades in self.school_ids.items() if grade in grades)
        person = Person(self.new_id(), "student", given, family, sex=sex, middle=middle,
                        grade=grade, school=school, identifier=f"S{self.serial}",
                        birth_date=birth_date or self.grade_birth_date(grade))
        if GRADES.index(grade) >= 6:  # middle and high schoolers have a district address
            address = f"s{self.serial}@{STUDENT_DOMAIN}"
            person.email = address.upper() if self.serial % 7 == 0 else address
        self.people.append(person)
        self.students.append(person)
        return person

    def guardian(self, given: str, family: str, sex: str, role: str = "parent",
                 email: bool = True) -> Person:
        person = Person(self.new_id(), role, given, family, sex=sex)
        if email:
            person.email = self.email_for(given, family, self.rng.choice(MAIL_DOMAINS))
        self.people.append(person)
        return person

    def link(self, children: list[Person], adults: list[Person], mode: str | None = None):
        # OneRoster lets either side declare the link; exports differ, so vary it.
        mode = mode or self.rng.choice(["both", "both", "student", "guardian"])
        for child in children:
            for adult in adults:
                if mode in ("both", "student"):
                    child.agents.append(adult.sourced_id)
                if mode in ("both", "guardian"):
                    adult.agents.append(child.sourced_id)

    def build(self) -> dict[str, list[list[str]]]:
        stamp = f"{self.as_of.isoformat()}T08:00:00.000Z"
        district_id = self.district_id = self.new_id()
        orgs = [[district_id, "active", stamp, DISTRICT_NAME, "district", "RUSD", ""]]
        for name, identifier, grades in SCHOOLS:
            sid = self.new_id()
            self.school_ids[sid] = grades
            orgs.append([sid, "active", stamp, name, "school", identifier, district_id])
        self.special_families()
        while self.active_students() < self.target:
            self.random_family()
        self.teachers()
        users, demographics = [], []
        for p in self.people:
            username = p.email.split("@")[0] if p.email else ""
            users.append([
                p.sourced_id, p.status, stamp, "true", p.school or self.district_id, p.role,
                username, "", _nfc(p.given), _nfc(p.family), _nfc(p.middle), p.identifier,
                p.email, "", "", ",".join(p.agents), p.grade, ""])
            if p.role == "student":
                demographics.append([p.sourced_id, p.status, stamp, p.birth_date.isoformat(),
                                     p.sex] + [""] * 11)
        return {"orgs.csv": [ORGS_HEADER, *orgs], "users.csv": [USERS_HEADER, *users],
                "demographics.csv": [DEMOGRAPHICS_HEADER, *demographics]}

    def special_families(self) -> None:
        # A parent with two children at different schools.
        mom = self.guardian("Siobhan", "O'Brien", "female")
        self.link([self.student("Liam", "O'Brien", "male", "04"),
                   self.student("Niamh", "O'Brien", "female", "10")], [mom], "both")
        # A child with two guardians (each link declared on one side only).
        marco = self.student("Marco", "D'Angelo", "male", "07")
        self.link([marco], [self.guardian("Giulia", "D'Angelo", "female")], "student")
        self.link([marco], [self.guardian("Paolo", "D'Angelo", "male")], "guardian")
        # Seniors whose 18th birthday falls within the next 30 days: consent moves to them.
        for days, (given, family, sex, parent) in zip(
                (0, 1, 7, 14, 21, 30),
                [("José", "Núñez", "male", "Rosa"), ("Thị Hương", "Nguyễn", "female", "Lan"),
                 ("Łucja", "Wójcik", "female", "Ewa"), ("小明", "王", "male", "丽华"),
                 ("Aoife", "O'Connor", "female", "Mary"), ("Mateo", "Peña", "male", "Ana")],
                strict=True):
            senior = self.student(given, family, sex, "12", self.turning_18(days))
            self.link([senior], [self.guardian(parent, family, "female")])
        # Seniors who are already 18, one of them born on 29 February.
        for days, (given, family, sex) in zip(
                (-1, -45, -200), [("محمد", "العلي", "male"), ("Sofia", "D'Amico", "female"),
                                  ("서연", "김", "female")], strict=True):
            senior = self.student(given, family, sex, "12", self.turning_18(days))
            self.link([senior], [self.guardian("Karim" if family == "العلي" else "Chris",
                                               family, "male", role="guardian")])
        limit = birthday_in_years(self.as_of, -18)
        year = limit.year
        while not (_is_leap(year) and date(year, 2, 29) <= limit):
            year -= 1
        leap = date(year, 2, 29)
        self.link([self.student("Keoni", "Akana", "male", "12", leap)],
                  [self.guardian("Kalani", "Akana", "female", role="relative", email=False)])
        # A family that left the district: both rows are marked tobedeleted and skipped.
        gone = self.student("Zofia", "Żak", "female", "03")
        gone_parent = self.guardian("Wojciech", "Żak", "male")
        gone.status = gone_parent.status = "tobedeleted"
        self.departed += 1
        self.link([gone], [gone_parent], "both")

    def random_family(self) -> None:
        rng = self.rng
        given_pool, family_pool = rng.choice(NAME_POOLS)
        family = rng.choice(family_pool)
        room = self.target - self.active_students()
        n_children = min(room, rng.choices([1, 2, 3], weights=[60, 30, 10])[0])
        children = []
        for grade in rng.sample(GRADES, n_children):
            given, sex = rng.choice(given_pool)
            children.append(self.student(given, family, sex, grade))
        adults = []
        for sex in (["female", "male"] if rng.random() < 0.55 else [rng.choice(["female",
                                                                               "male"])]):
            names = [n for n, s in given_pool if s == sex] or [n for n, _ in given_pool]
            role = rng.choices(["parent", "guardian", "relative"], weights=[85, 10, 5])[0]
            adults.append(self.guardian(rng.choice(names), family, sex, role,
                                        email=rng.random() > 0.05))
        self.link(children, adults)

    def teachers(self) -> None:
        # Real exports carry staff too; the importer ignores them.
        for school in self.school_ids:
            for _ in range(2):
                given_pool, family_pool = self.rng.choice(NAME_POOLS)
                given, sex = self.rng.choice(given_pool)
                teacher = Person(self.new_id(), "teacher", given, self.rng.choice(family_pool),
                                 sex=sex, school=school)
                teacher.email = f"t{self.rng.randrange(1000, 9999)}@riversideusd.example"
                self.people.append(teacher)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def build_roster(as_of: date, *, seed: int = DEFAULT_SEED,
                 students: int = DEFAULT_STUDENTS) -> dict[str, list[list[str]]]:
    """The rows (header first) of orgs.csv, users.csv and demographics.csv, keyed by file name."""
    if students < 20:
        raise ValueError("the demo roster needs at least 20 students for its special cases")
    return _Generator(as_of, seed, students).build()


def write_roster(out_dir: str | Path, as_of: date, *, seed: int = DEFAULT_SEED,
                 students: int = DEFAULT_STUDENTS) -> list[Path]:
    """Write the three CSV files (UTF-8, no BOM) into `out_dir`; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rows in build_roster(as_of, seed=seed, students=students).items():
        path = out / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)
        paths.append(path)
    logger.info("wrote a roster of %d students to %s", students, out)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write the roster into OUTDIR."""
    parser = argparse.ArgumentParser(
        prog="python -m consent.demo.roster_generator", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--as-of", type=date.fromisoformat, default=SHIPPED_AS_OF,
                        help="reference date, YYYY-MM-DD (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--students", type=int, default=DEFAULT_STUDENTS)
    args = parser.parse_args(argv)
    for path in write_roster(args.outdir, args.as_of, seed=args.seed, students=args.students):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
