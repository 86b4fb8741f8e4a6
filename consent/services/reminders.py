"""Reminders and notices, each sent exactly once.

Two steps, both safe to run in any number of processes at once:

1. `plan(now)` works out which notices are due (their local date has come and the
   local hour has passed) and inserts them. The unique key (kind, subject, due date)
   means a second planner inserts nothing.
2. `send(notice_id, now)` claims one pending notice with a conditional UPDATE
   (pending -> sent). Only the transaction whose UPDATE changed the row writes the
   outbox emails and in-app notifications, in that same transaction; a crash rolls
   back the claim and the emails together, so the next run sends it.

A notice found after its due time (the scheduler was down) is sent late, once, with
its lateness recorded. When several notices of one kind for one subject fell due
during an outage, only the latest is sent; the others are recorded as skipped.
No commits here: the job in `consent.jobs` commits once per notice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from consent.access.facts import majority_instant
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementParty,
    AuditEntry,
    DestructionCertificate,
    Guardian,
    NoticeKind,
    NoticeStatus,
    Notification,
    PartyRole,
    ReminderSetting,
    Role,
    ScheduledNotice,
    Signature,
    Student,
    StudentGuardian,
    User,
)
from consent.models.users import user_roles
from consent.services import destruction, notifications
from consent.timeutil import district_zone, local_date
from workflows import AgreementState, ConsentState, SignatureState

logger = logging.getLogger(__name__)
K = NoticeKind
DEFAULT_END_REMINDER_DAYS = (90, 60, 30, 7)
OPEN_STATES = (AgreementState.EXECUTED.value, AgreementState.ACTIVE.value)
ENDED_STATES = (AgreementState.EXPIRED.value, AgreementState.TERMINATED.value)


# ---------------------------------------------------------------- local times


def local_instant(day: date, hour: int, minute: int = 0, zone: ZoneInfo | None = None) -> datetime:
    """The UTC instant at which the district's wall clock reads `hour:minute` on `day`.

    A wall time that does not exist (the spring-forward gap) is taken as the same
    distance past the last valid time, i.e. the first instant after the gap's start
    (02:00 in a 02:00-03:00 gap is 03:00 daylight time). A wall time that occurs
    twice (fall back) is its first occurrence. Both follow PEP 495 `fold=0`.
    """
    zone = zone or district_zone()
    return datetime.combine(day, time(hour, minute), tzinfo=zone).replace(fold=0).astimezone(UTC)


def due_instant(day: date, zone: ZoneInfo | None = None) -> datetime:
    """When a notice dated `day` is due: the configured local hour (default 09:00)."""
    config = current_app.config
    return local_instant(day, int(config["REMINDER_LOCAL_HOUR"]),
                         int(config.get("REMINDER_LOCAL_MINUTE", 0)), zone)


# ---------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Due:
    kind: str
    subject_type: str
    subject_id: int
    due_on: date


def end_reminder_days(agreement_id: int) -> list[int]:
    """Days before the end date at which the agreement's owner and signatories are told."""
    setting = db.session.get(ReminderSetting, agreement_id)
    if setting is not None:
        return sorted(setting.end_reminder_days, reverse=True)
    return sorted(current_app.config.get("END_REMINDER_DAYS", DEFAULT_END_REMINDER_DAYS),
                  reverse=True)


def set_end_reminder_days(agreement: Agreement, days: Iterable) -> list[int]:
    """Store the agreement's own reminder days (flushes).

    :raises ValidationFailed: not a list of 1 to 12 distinct whole days from 1 to 3650.
    """
    from consent.errors import ValidationFailed

    days = list(days)
    if not 1 <= len(days) <= 12:
        raise ValidationFailed("give between 1 and 12 reminder days", field="end_reminder_days")
    for i, value in enumerate(days):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
            raise ValidationFailed("each reminder is a whole number of days from 1 to 3650",
                                   field=f"end_reminder_days[{i}]")
    if len(set(days)) != len(days):
        raise ValidationFailed("reminder days must differ", field="end_reminder_days")
    setting = db.session.get(ReminderSetting, agreement.id) or ReminderSetting(
        agreement_id=agreement.id)
    setting.end_reminder_days = sorted(days, reverse=True)
    db.session.add(setting)
    db.session.flush()
    return setting.end_reminder_days


def agreement_end_dates(agreement: Agreement, days: list[int] | None = None) -> list[date]:
    """The local dates of an agreement's end reminders that fall on or after its execution."""
    days = end_reminder_days(agreement.id) if days is None else days
    return end_dates_of(agreement.end_date, agreement.executed_at, days)


def end_dates_of(end_date: date, executed_at: datetime | None, days: list[int]) -> list[date]:
    """`agreement_end_dates` from plain values (the sweep reads columns, not rows)."""
    first = local_date(executed_at) if executed_at else None
    dates = [end_date - timedelta(days=d) for d in days]
    return [d for d in dates if first is None or d >= first]


def destruction_due_on(agreement: Agreement) -> date:
    """The day the destruction certificate is due: the last day in force plus the
    agreement's destruction period (default from config)."""
    return destruction_due_of(agreement.end_date, agreement.ended_on, agreement.destruction_days)


def destruction_due_of(end_date: date, ended_on: date | None, days: int | None) -> date:
    """`destruction_due_on` from plain values."""
    last_day = end_date if ended_on is None else min(end_date, ended_on - timedelta(days=1))
    if days is None:
        days = int(current_app.config.get("DESTRUCTION_FOLLOWUP_DAYS", 30))
    return last_day + timedelta(days=days)


def eighteenth_birthday(birth_date: date) -> date:
    """The local date rights pass to the student (29 February births: 1 March)."""
    return local_date(majority_instant(birth_date))


def _end_reminder_dues(today: date) -> Iterable[Due]:
    horizon = max(max(current_app.config.get("END_REMINDER_DAYS", DEFAULT_END_REMINDER_DAYS)),
                  _max_custom_days())
    rows = db.session.execute(sa.select(
        Agreement.id, Agreement.end_date, Agreement.executed_at).where(
        Agreement.state.in_(OPEN_STATES), Agreement.ended_on.is_(None),
        Agreement.end_date >= today, Agreement.end_date <= today + timedelta(days=horizon)))
    settings = _settings_for_open_agreements()
    default = sorted(current_app.config.get("END_REMINDER_DAYS", DEFAULT_END_REMINDER_DAYS),
                     reverse=True)
    for agreement_id, end_date, executed_at in rows:
        for day in end_dates_of(end_date, executed_at, settings.get(agreement_id, default)):
            if day <= today:
                yield Due(K.AGREEMENT_ENDING, "agreement", agreement_id, day)


def _max_custom_days() -> int:
    values = db.session.scalars(sa.select(ReminderSetting.end_reminder_days)).all()
    return max((max(v) for v in values if v), default=0)


def _settings_for_open_agreements() -> dict[int, list[int]]:
    return {s.agreement_id: sorted(s.end_reminder_days, reverse=True)
            for s in db.session.scalars(sa.select(ReminderSetting))}


def signature_reminder_dates(invited_on: date) -> list[date]:
    """Local dates of the reminders for an invitation not yet signed (capped)."""
    config = current_app.config
    every = int(config.get("SIGNATURE_REMINDER_EVERY_DAYS", 3))
    count = int(config.get("SIGNATURE_REMINDER_MAX", 3))
    return [invited_on + timedelta(days=every * k) for k in range(1, count + 1)]


def _signature_dues(today: date) -> Iterable[Due]:
    invited = db.session.execute(
        sa.select(Signature.id, sa.func.max(AuditEntry.at))
        .join(Agreement, Agreement.id == Signature.agreement_id)
        .join(AuditEntry, sa.and_(AuditEntry.subject_type == "signature",
                                  AuditEntry.subject_id == Signature.id,
                                  AuditEntry.event == "invite"))
        .where(Signature.state == SignatureState.INVITED.value,
               Signature.revision == Agreement.revision,
               Agreement.state == AgreementState.OUT_FOR_SIGNATURE.value)
        .group_by(Signature.id)).all()
    for signature_id, invited_at in invited:
        for day in signature_reminder_dates(local_date(invited_at)):
            if day <= today:
                yield Due(K.SIGNATURE_PENDING, "signature", signature_id, day)


def renewal_days() -> list[int]:
    return sorted(current_app.config.get("CONSENT_RENEWAL_DAYS", [30]), reverse=True)


def _renewal_dues(today: date) -> Iterable[Due]:
    from consent.models import Consent

    days = renewal_days()
    rows = db.session.execute(
        sa.select(Consent.student_id, Consent.valid_through, sa.func.min(Consent.granted_at))
        .where(Consent.state == ConsentState.GRANTED.value, Consent.valid_through >= today,
               Consent.valid_through <= today + timedelta(days=max(days)))
        .group_by(Consent.student_id, Consent.valid_through)).all()
    for student_id, valid_through, granted_at in rows:
        first = local_date(granted_at) if granted_at else None
        for d in days:
            day = valid_through - timedelta(days=d)
            if day <= today and (first is None or day >= first):
                yield Due(K.CONSENT_RENEWAL, "student", student_id, day)


def _destruction_dues(today: date) -> Iterable[Due]:
    late = int(current_app.config.get("REMINDER_MAX_LATE_DAYS", 30))
    default = int(current_app.config.get("DESTRUCTION_FOLLOWUP_DAYS", 30))
    longest = max(default, db.session.scalar(
        sa.select(sa.func.max(Agreement.destruction_days))
        .where(Agreement.state.in_(ENDED_STATES))) or 0)
    # Only agreements with a recipient that has not yet certified destruction.
    uncertified = sa.select(AgreementParty.id).where(
        AgreementParty.agreement_id == Agreement.id,
        AgreementParty.role == PartyRole.RECIPIENT.value,
        ~sa.select(DestructionCertificate.id).where(
            DestructionCertificate.agreement_id == Agreement.id,
            DestructionCertificate.recipient_id == AgreementParty.organization_id).exists())
    # A deadline more than `late` days ago would only be recorded as skipped: leave
    # those agreements out of the scan (the index on state and end date serves it).
    rows = db.session.execute(sa.select(
        Agreement.id, Agreement.end_date, Agreement.ended_on, Agreement.destruction_days).where(
        Agreement.state.in_(ENDED_STATES),
        Agreement.end_date >= today - timedelta(days=longest + late), uncertified.exists()))
    for agreement_id, end_date, ended_on, days in rows:
        day = destruction_due_of(end_date, ended_on, days)
        if today - timedelta(days=late) <= day <= today:
            yield Due(K.DESTRUCTION_FOLLOWUP, "agreement", agreement_id, day)


def _majority_dues(today: date) -> Iterable[Due]:
    late = int(current_app.config.get("REMINDER_MAX_LATE_DAYS", 30))
    # Students who turn 18 from (today - late) to today: born in that window 18 years ago
    # (a day wider on each side covers 29 February births).
    newest = _years_before(today, 18) + timedelta(days=1)
    oldest = _years_before(today - timedelta(days=late), 18) - timedelta(days=1)
    rows = db.session.execute(sa.select(Student.id, Student.birth_date).where(
        Student.birth_date.between(oldest, newest))).all()
    for student_id, birth_date in rows:
        day = eighteenth_birthday(birth_date)
        if day <= today:
            yield Due(K.MAJORITY, "student", student_id, day)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return date(day.year - years, 2, 28)


PLANNERS = (_end_reminder_dues, _signature_dues, _renewal_dues, _destruction_dues,
            _majority_dues)


# ---------------------------------------------------------------- planning


def plan(now: datetime) -> int:
    """Insert every notice that is due by `now` and not yet planned. Returns how many
    pending notices it added. Safe to run concurrently (flushes; the caller commits)."""
    zone = district_zone()
    today = local_date(now, zone)
    max_late = int(current_app.config.get("REMINDER_MAX_LATE_DAYS", 30))
    dues = [d for planner in PLANNERS for d in planner(today)
            if due_instant(d.due_on, zone) <= now]
    if not dues:
        return 0
    existing = _existing_keys({(d.kind, d.subject_type, d.subject_id) for d in dues})
    by_subject: dict[tuple, list[Due]] = defaultdict(list)
    for d in dues:
        if (d.kind, d.subject_type, d.subject_id, d.due_on) not in existing:
            by_subject[(d.kind, d.subject_type, d.subject_id)].append(d)
    rows = []
    for key, items in by_subject.items():
        items.sort(key=lambda d: d.due_on)
        newest_known = max((k[3] for k in existing if k[:3] == key), default=None)
        for d in items:
            status, note = NoticeStatus.PENDING, None
            if d is not items[-1] or (newest_known and newest_known > d.due_on):
                status, note = NoticeStatus.SKIPPED, "a later notice of this kind was also due"
            elif d.due_on < today - timedelta(days=max_late):
                status, note = NoticeStatus.SKIPPED, f"more than {max_late} days late"
            rows.append({"kind": d.kind, "subject_type": d.subject_type,
                         "subject_id": d.subject_id, "due_on": d.due_on,
                         "due_at": due_instant(d.due_on, zone), "status": status.value,
                         "planned_at": now, "recipients": 0, "note": note})
    # One order for every process, so two planners inserting together cannot deadlock.
    rows.sort(key=lambda r: (r["kind"], r["subject_type"], r["subject_id"], r["due_on"]))
    return _insert_ignoring_duplicates(rows)


def _existing_keys(subjects: set[tuple]) -> set[tuple]:
    keys = set()
    for kind in {s[0] for s in subjects}:
        ids = [s[2] for s in subjects if s[0] == kind]
        for chunk in range(0, len(ids), 500):
            keys.update(db.session.execute(sa.select(
                ScheduledNotice.kind, ScheduledNotice.subject_type, ScheduledNotice.subject_id,
                ScheduledNotice.due_on).where(
                ScheduledNotice.kind == kind,
                ScheduledNotice.subject_id.in_(ids[chunk:chunk + 500]))).all())
    return {tuple(k) for k in keys}


def _insert_ignoring_duplicates(rows: list[dict]) -> int:
    if not rows:
        return 0
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    added = 0
    for chunk in range(0, len(rows), 500):
        statement = dialect.insert(ScheduledNotice.__table__).values(rows[chunk:chunk + 500])
        statement = statement.on_conflict_do_nothing(
            index_elements=["kind", "subject_type", "subject_id", "due_on"])
        db.session.execute(statement)
        added += sum(1 for r in rows[chunk:chunk + 500] if r["status"] == "pending")
    return added


def due_notice_ids(now: datetime, after: int = 0, limit: int = 500) -> list[int]:
    """Pending notices whose due time has come, by id, from just after `after` (a
    cursor, so a run that meets notices it cannot send still reaches the rest)."""
    return list(db.session.scalars(sa.select(ScheduledNotice.id).where(
        ScheduledNotice.status == NoticeStatus.PENDING.value, ScheduledNotice.due_at <= now,
        ScheduledNotice.id > after).order_by(ScheduledNotice.id).limit(limit)))


# ---------------------------------------------------------------- sending


def send(notice_id: int, now: datetime) -> bool:
    """Claim one pending notice and write its emails and notifications. Returns True
    only for the one caller whose claim succeeded (flushes; the caller commits)."""
    notice = db.session.get(ScheduledNotice, notice_id)
    lateness = max(0, int((now - notice.due_at).total_seconds())) if notice else 0
    claimed = db.session.execute(
        sa.update(ScheduledNotice)
        .where(ScheduledNotice.id == notice_id,
               ScheduledNotice.status == NoticeStatus.PENDING.value)
        .values(status=NoticeStatus.SENT.value, sent_at=now, lateness_seconds=lateness)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        return False
    db.session.refresh(notice)
    message = COMPOSERS[notice.kind](notice)
    if message is None:
        notice.status, notice.sent_at, notice.lateness_seconds = (
            NoticeStatus.CANCELLED.value, None, None)
        notice.note = "no longer applies"
        db.session.flush()
        return False
    _deliver(notice, message)
    if lateness > int(current_app.config.get("REMINDER_LATE_AFTER_SECONDS", 3600)):
        logger.warning("notice %s (%s) sent %s s late", notice.id, notice.kind, lateness)
    return True


@dataclass
class Message:
    subject: str
    template: str
    context: dict
    users: list[User]
    addresses: list[str]  # people without an account (guardians known by email only)
    link: str | None = None


def _deliver(notice: ScheduledNotice, message: Message) -> None:
    seen: set[str] = set()
    for user in message.users:
        if user.email in seen:
            continue
        seen.add(user.email)
        notifications.enqueue_email(user.email, message.subject, message.template,
                                    recipient_name=user.name, **message.context)
        db.session.add(Notification(user_id=user.id, kind=notice.kind, title=message.subject,
                                    body=message.context.get("summary", ""),
                                    link=message.link, notice_id=notice.id))
    for address in message.addresses:
        if address and address not in seen:
            seen.add(address)
            notifications.enqueue_email(address, message.subject, message.template,
                                        recipient_name=None, **message.context)
    notice.recipients = len(seen)
    if not seen:
        notice.note = "nobody to tell"
    db.session.flush()


def _signatories(org_ids: Iterable[int]) -> list[User]:
    org_ids = list(org_ids)
    if not org_ids:
        return []
    return list(db.session.scalars(
        sa.select(User).join(user_roles).join(Role).where(
            User.organization_id.in_(org_ids), Role.name == "signatory", User.active)
        .order_by(User.id)))


def _owner_and_signers(agreement: Agreement) -> list[User]:
    users = []
    if agreement.created_by is not None and agreement.created_by.active:
        users.append(agreement.created_by)
    signers = list(db.session.scalars(sa.select(User).join(
        Signature, Signature.signer_id == User.id).where(
        Signature.agreement_id == agreement.id, Signature.revision == agreement.revision,
        Signature.state == SignatureState.SIGNED.value, User.active).order_by(User.id)))
    if not signers:  # signed before accounts were linked: tell each party's signatories
        signers = _signatories(p.organization_id for p in agreement.parties)
    return users + signers


def _compose_ending(notice: ScheduledNotice) -> Message | None:
    agreement = db.session.get(Agreement, notice.subject_id)
    if agreement is None or agreement.state not in OPEN_STATES or agreement.ended_on:
        return None
    days_left = (agreement.end_date - notice.due_on).days
    summary = (f"\"{agreement.title}\" ends on {agreement.end_date.isoformat()} "
               f"({days_left} days from {notice.due_on.isoformat()}).")
    return Message(f"Agreement ending in {days_left} days: {agreement.title}",
                   "notify/agreement_ending.txt",
                   {"agreement": agreement, "days_left": days_left, "summary": summary},
                   _owner_and_signers(agreement), [], f"/agreements/{agreement.id}")


def _compose_signature(notice: ScheduledNotice) -> Message | None:
    signature = db.session.get(Signature, notice.subject_id)
    if signature is None or signature.state != SignatureState.INVITED.value:
        return None
    agreement = db.session.get(Agreement, signature.agreement_id)
    if agreement.state != AgreementState.OUT_FOR_SIGNATURE.value \
            or signature.revision != agreement.revision:
        return None
    summary = f"\"{agreement.title}\" is still waiting for your organization's signature."
    return Message(f"Reminder: please sign {agreement.title}", "notify/signature_reminder.txt",
                   {"agreement": agreement, "summary": summary},
                   _signatories([signature.organization_id]), [],
                   f"/agreements/{agreement.id}")


def _family(student: Student, on: date) -> tuple[list[User], list[str]]:
    """Who holds rights for the student on `on`: the student from 18, else guardians."""
    if student.birth_date is not None and eighteenth_birthday(student.birth_date) <= on:
        return ([student.user] if student.user and student.user.active else []), []
    users, addresses = [], []
    links = db.session.scalars(sa.select(Guardian).join(StudentGuardian).where(
        StudentGuardian.student_id == student.id, StudentGuardian.has_educational_rights)
        .order_by(Guardian.id))
    for guardian in links:
        if guardian.user is not None and guardian.user.active:
            users.append(guardian.user)
        elif guardian.email:
            addresses.append(guardian.email)
    return users, addresses


def _compose_renewal(notice: ScheduledNotice) -> Message | None:
    from consent.models import Consent

    student = db.session.get(Student, notice.subject_id)
    targets = [notice.due_on + timedelta(days=d) for d in renewal_days()]
    consents = list(db.session.scalars(sa.select(Consent).where(
        Consent.student_id == notice.subject_id, Consent.state == ConsentState.GRANTED.value,
        Consent.valid_through.in_(targets)).order_by(Consent.id)))
    if student is None or not consents:
        return None
    users, addresses = _family(student, notice.due_on)
    through = min(c.valid_through for c in consents)
    summary = (f"Consent for {student.given_name} runs through {through.isoformat()}; "
               f"renew it to keep sharing in place.")
    return Message(f"Please renew consent for {student.given_name}",
                   "notify/consent_renewal.txt",
                   {"student": student, "consents": consents, "through": through,
                    "summary": summary}, users, addresses, f"/family/students/{student.id}")


def _compose_destruction(notice: ScheduledNotice) -> Message | None:
    agreement = db.session.get(Agreement, notice.subject_id)
    if agreement is None or agreement.state not in ENDED_STATES:
        return None
    summary = (f"\"{agreement.title}\" has ended; the certificate of destruction of its data "
               f"was due by {notice.due_on.isoformat()}.")
    # Recipients that certified destruction are told no more; once all have, nobody is.
    pending = agreement.recipient_ids - destruction.certified_recipient_ids(agreement.id)
    if not pending:
        return None
    users = _signatories(pending)
    if agreement.created_by is not None and agreement.created_by.active:
        users.insert(0, agreement.created_by)
    return Message(f"Certificate of destruction due: {agreement.title}",
                   "notify/destruction_followup.txt",
                   {"agreement": agreement, "due_on": notice.due_on, "summary": summary},
                   users, [], f"/agreements/{agreement.id}")


def _compose_majority(notice: ScheduledNotice) -> Message | None:
    student = db.session.get(Student, notice.subject_id)
    if student is None or student.birth_date is None:
        return None
    policy = current_app.config.get("MAJORITY_POLICY", "lapse")
    grace = int(current_app.config.get("MAJORITY_GRACE_DAYS", 0))
    summary = (f"From {notice.due_on.isoformat()} {student.given_name} holds the rights to "
               f"their education records and decides about consent.")
    users = [student.user] if student.user and student.user.active else []
    guardian_users, addresses = [], []
    links = db.session.scalars(sa.select(Guardian).join(StudentGuardian).where(
        StudentGuardian.student_id == student.id).order_by(Guardian.id))
    for guardian in links:  # guardians are told too: their consents may lapse
        if guardian.user is not None and guardian.user.active:
            guardian_users.append(guardian.user)
        elif guardian.email:
            addresses.append(guardian.email)
    return Message(f"Rights pass to {student.given_name} at 18", "notify/majority.txt",
                   {"student": student, "policy": policy, "grace_days": grace,
                    "summary": summary}, users + guardian_users, addresses, "/family")


COMPOSERS = {
    K.AGREEMENT_ENDING: _compose_ending,
    K.SIGNATURE_PENDING: _compose_signature,
    K.CONSENT_RENEWAL: _compose_renewal,
    K.DESTRUCTION_FOLLOWUP: _compose_destruction,
    K.MAJORITY: _compose_majority,
}
