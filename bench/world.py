"""The synthetic world every benchmark runs on, and the request sample.

The few organizations and agreements are ORM objects; students, guardians, consents
and rules changes are loaded in bulk through the session's own connection and
transaction: an `executemany` of the table's INSERT on SQLite, `COPY ... FROM STDIN`
on PostgreSQL, with values converted by the columns' own bind processors (as
SQLAlchemy would). Consents go in one recipient at a time, so a 100,000-student,
20-recipient world (4 million consent rows) is built in a few minutes without holding
every row in memory. State is set directly: this is a fixture, not a workflow test.
"""

from __future__ import annotations

import random
import secrets
import time
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from consent.access import grant_windows
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementParty,
    ApiToken,
    Consent,
    DataCategory,
    GrantWindow,
    Guardian,
    Organization,
    RulesChange,
    Student,
    StudentGuardian,
    hash_token,
)
from consent.timeutil import local_date

CATEGORIES = {
    "demographics": ["student_id", "birth_date", "gender", "ethnicity", "home_language"],
    "contact": ["address", "phone", "guardian_email"],
    "success_indicators": ["chronic_absence_flag", "on_track_flag"],
    "quarterly_grades": ["course_code", "term", "mark"],
    "attendance": ["date", "status"],
    "behavior": ["incident_date", "incident_type", "action_taken"],
}
CONSENT_CATEGORIES = ["attendance", "behavior", "quarterly_grades"]
CONSENT_PURPOSE = "academic_support"
EXCEPTION_CATEGORIES = ["demographics", "success_indicators"]
EXCEPTION_PURPOSE = "program_operations"
REQUEST_PURPOSES = [CONSENT_PURPOSE, EXCEPTION_PURPOSE, "program_evaluation"]
SCHOOLS = 4
GRANT_SHARE = 0.6
INSERT_CHUNK = 20_000


def _grade_for(birth: date, today: date) -> str:
    age = (today - birth).days // 365
    return "KG" if age <= 5 else f"{min(max(age - 5, 1), 12):02d}"


def _insert(table, rows: list[dict]) -> None:
    """Bulk-load `rows` (dicts with the same keys) into `table`, in the session's
    transaction. Much faster than `session.execute(insert(table), rows)`, whose
    per-parameter bookkeeping dominates at millions of rows."""
    if not rows:
        return
    columns = list(rows[0])
    dialect = db.engine.dialect
    processors = [(i, proc) for i, name in enumerate(columns)
                  if (proc := table.c[name].type.bind_processor(dialect)) is not None]

    def values(chunk):
        for row in chunk:
            out = [row[c] for c in columns]
            for i, proc in processors:
                out[i] = proc(out[i])
            yield out

    raw = db.session.connection().connection.dbapi_connection
    names = ", ".join(columns)
    cursor = raw.cursor()
    try:
        if dialect.name == "postgresql":
            if _superuser():
                # Skip the per-row foreign-key triggers: the generator only writes
                # references it has just inserted. Reverts at commit.
                cursor.execute("SET LOCAL session_replication_role = replica")
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in values(rows):
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            for start in range(0, len(rows), INSERT_CHUNK):
                cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})",
                                   values(rows[start:start + INSERT_CHUNK]))
    finally:
        cursor.close()


def _superuser() -> bool:
    return bool(db.session.scalar(sa.text(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")))


def _sync_sequence(table) -> None:
    """After inserting explicit ids: PostgreSQL's sequence must move past them."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 1) FROM {table.name}))"))


def build_world(n_students: int, n_recipients: int, now: datetime, seed: int) -> dict:
    """A district, its schools, recipients, students with guardians, agreements and
    consents. Agreements are active with executed_at; consents granted, revoked or
    refused; one RulesChange per agreement activation and consent granted or revoked."""
    rng = random.Random(seed)
    today = local_date(now)
    session = db.session

    session.add_all(DataCategory(code=code, name=code.replace("_", " ").title(),
                                 fields=fields, is_directory=False)
                    for code, fields in CATEGORIES.items())
    district = Organization(slug="bench-district", name="Bench Unified School District",
                            kind="district")
    session.add(district)
    session.flush()
    schools = [Organization(slug=f"bench-school-{i}", name=f"Bench School {i}", kind="school",
                            parent_id=district.id) for i in range(1, SCHOOLS + 1)]
    recipients = [Organization(slug=f"partner-{i}", name=f"Partner {i}", kind="nonprofit")
                  for i in range(1, n_recipients + 1)]
    session.add_all(schools + recipients)
    session.flush()
    school_ids = [s.id for s in schools]

    students = []
    for i in range(n_students):
        # Ages 5 to 19: some students turn 18 inside the sampled year (guardian consents
        # lapse then) and some are already adults who consent for themselves.
        birth = today - timedelta(days=rng.randint(5 * 365, 19 * 365))
        students.append({"sourced_id": f"S-{i:07d}", "given_name": f"Given{i}",
                         "family_name": f"Family{i % 997}", "birth_date": birth,
                         "grade": _grade_for(birth, today), "school_id": rng.choice(school_ids),
                         "directory_opt_out": rng.random() < 0.05, "created_at": now,
                         "user_id": None})
    _insert(Student.__table__, students)
    _insert(Guardian.__table__, [
        {"sourced_id": f"G-{i:07d}", "given_name": f"Parent{i}", "family_name": f"Family{i % 997}",
         "email": f"parent{i}@family.example", "created_at": now, "user_id": None}
        for i in range(n_students)])
    student_ids = dict(session.execute(sa.select(Student.sourced_id, Student.id)).all())
    guardian_ids = dict(session.execute(sa.select(Guardian.sourced_id, Guardian.id)).all())
    _insert(StudentGuardian.__table__, [
        {"student_id": student_ids[f"S-{i:07d}"], "guardian_id": guardian_ids[f"G-{i:07d}"],
         "relationship_kind": "guardian", "has_educational_rights": True}
        for i in range(n_students)])

    executed_at = now - timedelta(days=30)
    consent_agreements = {}
    for recipient in recipients:
        def parties(recipient=recipient):
            return [AgreementParty(organization_id=district.id, role="source", signing_group=1),
                    AgreementParty(organization_id=recipient.id, role="recipient",
                                   signing_group=2)]

        common = dict(state="active", source_org_id=district.id, executed_at=executed_at,
                      scope_description="Synthetic benchmark population",
                      use_limitation="Benchmark only.", no_reidentification=True,
                      retention_days=365, destruction_days=30, created_at=executed_at)
        consent_agreement = Agreement(
            title=f"{recipient.name} academic support MOU", legal_basis="consent",
            purposes=[CONSENT_PURPOSE], categories=list(CONSENT_CATEGORIES),
            population={"schools": [], "grades": []},
            start_date=today - timedelta(days=30), end_date=today + timedelta(days=335),
            parties=parties(), **common)
        # Ends inside the sampled year and covers half the schools, so time and
        # population both decide some requests.
        exception_agreement = Agreement(
            title=f"{recipient.name} school-official services agreement",
            legal_basis="school_official", purposes=[EXCEPTION_PURPOSE],
            categories=list(EXCEPTION_CATEGORIES),
            population={"schools": school_ids[: SCHOOLS // 2], "grades": []},
            start_date=today - timedelta(days=60), end_date=today + timedelta(days=180),
            parties=parties(), **common)
        session.add_all([consent_agreement, exception_agreement])
        session.flush()
        consent_agreements[recipient.id] = consent_agreement
        for agreement in (consent_agreement, exception_agreement):
            session.add(RulesChange(at=executed_at, recipient_id=recipient.id,
                                    subject_type="agreement", subject_id=agreement.id,
                                    reason="activated"))
    session.flush()

    # Consents, one recipient at a time, with explicit ids so that their RulesChange
    # rows can name them without reading them back.
    consent_table, change_table = Consent.__table__, RulesChange.__table__
    next_id = (session.scalar(sa.select(sa.func.max(Consent.id))) or 0) + 1
    birth_by_id = [(student_ids[s["sourced_id"]], s["birth_date"]) for s in students]
    del students
    for recipient in recipients:
        agreement = consent_agreements[recipient.id]
        consents, changes = [], []
        for student_id, birth in birth_by_id:
            roll = rng.random()
            if roll >= GRANT_SHARE + 0.1:
                continue  # never answered
            granted_at = executed_at + timedelta(days=rng.uniform(0, 25))
            adult = (local_date(granted_at) - birth).days >= 18 * 365 + 4
            through = (agreement.end_date if rng.random() < 0.85
                       else today + timedelta(days=rng.randint(30, 300)))
            row = {"student_id": student_id, "agreement_id": agreement.id,
                   "recipient_id": recipient.id, "purpose": CONSENT_PURPOSE,
                   "valid_from": local_date(granted_at), "valid_through": through,
                   "given_as": "student" if adult else "guardian", "created_at": granted_at,
                   "version_id": 1, "given_by_user_id": None, "form_id": None}
            categories = (CONSENT_CATEGORIES if rng.random() < 0.9
                          else rng.sample(CONSENT_CATEGORIES, 2))
            if roll < GRANT_SHARE:
                state, ended_at, granted, reason = "granted", None, granted_at, "consent_granted"
            elif roll < GRANT_SHARE + 0.05:
                state, granted, reason = "revoked", granted_at, "consent_revoked"
                ended_at = granted_at + timedelta(days=rng.uniform(0.5, 4))
            else:
                state, ended_at, granted, reason = "refused", None, None, None
            for category in categories:
                consents.append({**row, "id": next_id, "category": category, "state": state,
                                 "granted_at": granted, "ended_at": ended_at})
                if reason:
                    # The services write one RulesChange per consent row granted or
                    # revoked: so does the world, so rules_version() runs against a
                    # realistically sized table.
                    changes.append({"at": ended_at or granted_at, "recipient_id": recipient.id,
                                    "subject_type": "consent", "subject_id": next_id,
                                    "reason": reason})
                next_id += 1
        _insert(consent_table, consents)
        _insert(change_table, changes)
    _sync_sequence(consent_table)
    session.commit()
    # The consents went in around the ORM, so the flush that keeps the grant windows
    # current never saw them: compute them all, as `accordant rules rebuild` does.
    started = time.perf_counter()
    grant_windows.rebuild(session.connection())
    session.commit()
    rebuild_seconds = time.perf_counter() - started
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:  # fresh planner statistics after the bulk load
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    counts = {table.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(table))
              for table in (Student, Guardian, Organization, Agreement, Consent, RulesChange)}
    counts["consents_granted"] = session.scalar(
        sa.select(sa.func.count()).select_from(Consent).where(Consent.state == "granted"))
    counts["grant_windows"] = session.scalar(sa.select(sa.func.count()).select_from(GrantWindow))
    return {"recipient_ids": [r.id for r in recipients], "counts": counts,
            "grant_windows_rebuild_seconds": rebuild_seconds}


def add_client_tokens(recipient_ids: list[int]) -> dict[int, str]:
    """One enforcer client token per recipient (what an enforcer calls the API with)."""
    tokens = {rid: secrets.token_urlsafe(32) for rid in recipient_ids}
    db.session.add_all(ApiToken(name=f"bench client {rid}", token_hash=hash_token(token),
                                organization_id=rid) for rid, token in tokens.items())
    db.session.commit()
    return tokens


def sample_requests(recipient_ids, sourced_ids, n, now, seed):
    """(recipient id, student, category, purpose, at): `at` uniform over the next year;
    60 % consent-agreement questions, 25 % school-official, 15 % anything; 1 % unknown
    students."""
    rng = random.Random(seed + 1)
    requests = []
    for _ in range(n):
        student = ("S-unknown" if rng.random() < 0.01 else rng.choice(sourced_ids))
        at = now + timedelta(seconds=rng.uniform(0, 365 * 86400))
        kind = rng.random()
        if kind < 0.6:  # what the consent agreements cover
            category, purpose = rng.choice(CONSENT_CATEGORIES), CONSENT_PURPOSE
        elif kind < 0.85:  # what the school-official agreements cover
            category, purpose = rng.choice(EXCEPTION_CATEGORIES), EXCEPTION_PURPOSE
        else:  # anything, including a category and a purpose nobody granted
            category, purpose = rng.choice(list(CATEGORIES)), rng.choice(REQUEST_PURPOSES)
        requests.append((rng.choice(recipient_ids), student, category, purpose, at))
    return requests
