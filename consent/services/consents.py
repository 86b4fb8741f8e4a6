"""Consent use cases: grant, refuse and revoke, each written to the ledger.

A grant over several purposes and categories writes one consent row per
(purpose, category), so that a family can later revoke any one of them alone.
"""

from __future__ import annotations

import logging
from datetime import date

import sqlalchemy as sa

from consent.access.facts import agreement_window, covers_population, lineage_ids
from consent.auth.permissions import consent_authority, is_adult
from consent.errors import Conflict, Forbidden, NotFound, ValidationFailed
from consent.extensions import db
from consent.models import (
    Agreement,
    Consent,
    ConsentEvent,
    ConsentForm,
    Guardian,
    LegalBasis,
    Organization,
    RulesChange,
    Student,
    StudentGuardian,
    User,
)
from consent.services.actors import Actor
from consent.services.transitions import fire, lock
from consent.timeutil import local_date, utcnow
from workflows import ConsentState

logger = logging.getLogger(__name__)
C = ConsentState
OPEN_AGREEMENT_STATES = {"executed", "active"}


def consentable_agreements(student: Student, today: date) -> list[Agreement]:
    """Executed consent-based agreements, not yet ended, whose population includes the student."""
    rows = db.session.scalars(sa.select(Agreement).where(
        Agreement.legal_basis == LegalBasis.CONSENT,
        Agreement.state.in_(OPEN_AGREEMENT_STATES), Agreement.end_date >= today)
        .order_by(Agreement.id)).all()
    return [a for a in rows if covers_population(a, student)]


def current_form(agreement: Agreement, language: str) -> ConsentForm:
    """The newest consent form for the agreement in `language` (English as fallback)."""
    for lang in (language, "en"):
        form = db.session.scalar(sa.select(ConsentForm).where(
            ConsentForm.agreement_id == agreement.id, ConsentForm.language == lang)
            .order_by(ConsentForm.version.desc()).limit(1))
        if form:
            return form
    raise NotFound("this agreement has no consent form yet")


STALE_PAGE = ("another decision for this partner was recorded after you opened this page; "
              "nothing was changed: review the page and decide again")


def ledger_position(student_id: int, recipient_id: int, agreement_ids: list[int]) -> int:
    """The newest ledger entry about the student's consents to one recipient under an
    agreement lineage (0 if none). A decision page carries it: a page older than the
    latest grant, refusal, revocation or expiry is refused instead of overwriting it."""
    return db.session.scalar(
        sa.select(sa.func.max(ConsentEvent.id)).join(Consent, ConsentEvent.consent_id == Consent.id)
        .where(Consent.student_id == student_id, Consent.recipient_id == recipient_id,
               Consent.agreement_id.in_(agreement_ids))) or 0


def _ledger(consent: Consent, event: str, before: str | None, actor: Actor, acted_as: str,
            form: ConsentForm | None, reason: str | None = None) -> None:
    db.session.add(ConsentEvent(
        consent_id=consent.id, event=event, from_state=before, to_state=consent.state,
        at=utcnow(), actor_user_id=actor.id, acted_as=acted_as, channel=actor.channel,
        ip_address=actor.ip, user_agent=actor.user_agent, form_id=form.id if form else None,
        language=form.language if form else None, reason=reason))


def _note_change(recipient_id: int, consent_ids: list[int], reason: str) -> None:
    now = utcnow()
    for consent_id in consent_ids:
        db.session.add(RulesChange(at=now, recipient_id=recipient_id, subject_type="consent",
                                   subject_id=consent_id, reason=reason))


def _authority(user: User, student: Student) -> str:
    allowed, acted_as, reason = consent_authority(user, student, local_date(utcnow()))
    if not allowed:
        raise Forbidden(reason)
    return acted_as


def decide(student: Student, user: User, actor: Actor, *, agreement_id: int, recipient_slug: str,
           purposes: list[str], categories: list[str], decision: str = "grant",
           valid_through: date | None = None, language: str = "en",
           form_version: int | None = None, paper: PaperSigning | None = None,
           ledger_seen: int | None = None) -> list[Consent]:
    """Grant or refuse consent for a student to one recipient under one agreement.

    A consent can never be broader than its agreement: every purpose and category
    must be in the agreement, and it cannot run past the agreement's end date.

    :raises Forbidden: the user has no authority for this student.
    :raises ValidationFailed: outside the agreement, or a bad date.
    :raises Conflict: the form the family saw has been replaced by a newer version, or
        (`ledger_seen`) a decision for this recipient was recorded after the page was shown.
    """
    # One decision per student at a time: a second one waits here, then sees the first.
    student = lock(Student, student.id)
    today = local_date(utcnow())
    if paper is None:
        acted_as = _authority(user, student)
        given_as, given_by, reason = acted_as, user.id, None
    else:
        # Staff record what a guardian (or the eligible student) signed on paper: the
        # signer's authority on the day they signed is what counts.
        given_as = paper.authority(student)
        acted_as, given_by, reason = "staff", paper.signer_user_id, paper.reason
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None or agreement.legal_basis != LegalBasis.CONSENT \
            or agreement.state not in OPEN_AGREEMENT_STATES \
            or not covers_population(agreement, student):
        raise ValidationFailed("no agreement open for consent with that id covers this student",
                               field="agreement")
    recipient = db.session.scalar(
        sa.select(Organization).where(Organization.slug == recipient_slug))
    if recipient is None or recipient.id not in agreement.recipient_ids:
        raise ValidationFailed(f"'{recipient_slug}' is not a recipient under this agreement",
                               field="recipient")
    _within(purposes, agreement.purposes, "purposes")
    _within(categories, agreement.categories, "categories")
    valid_through = valid_through or agreement.end_date
    if valid_through > agreement.end_date:
        raise ValidationFailed(f"consent cannot run past the agreement's end date "
                               f"{agreement.end_date.isoformat()}", field="valid_through")
    if valid_through < today:
        raise ValidationFailed("the date is in the past", field="valid_through")
    form = current_form(agreement, language)
    if form_version is not None and form_version > form.version:
        raise ValidationFailed(f"there is no consent form version {form_version}: the current "
                               f"one is {form.version}", field="form_version",
                               details={"current_version": form.version})
    if form_version is not None and form_version != form.version:
        raise Conflict("the consent form was updated after you opened it; read the new version",
                       field="form_version", details={"current_version": form.version})
    if ledger_seen is not None:
        newest = ledger_position(student.id, recipient.id, lineage_ids(agreement))
        if ledger_seen > newest:  # no page ever showed it: not a stale page, a wrong one
            raise ValidationFailed(f"must be a ledger position that was shown (at most "
                                   f"{newest})", field="ledger_seen",
                                   details={"ledger_seen": newest})
        if ledger_seen != newest:
            raise Conflict(STALE_PAGE, field="ledger_seen", details={"ledger_seen": newest})
    created, now = [], utcnow()  # one instant for the whole grant
    for purpose in purposes:
        for category in categories:
            for old in _current_answers(student.id, lineage_ids(agreement), recipient.id,
                                        purpose, category):
                before = old.state
                fire(old, "supersede", actor)
                old.ended_at = now
                _ledger(old, "supersede", before, actor, acted_as, form, reason)
            consent = Consent(student_id=student.id, agreement_id=agreement.id,
                              recipient_id=recipient.id, purpose=purpose, category=category,
                              state=C.REQUESTED.value,
                              valid_from=max(today, agreement.start_date),
                              valid_through=valid_through, form_id=form.id,
                              given_by_user_id=given_by, given_as=given_as,
                              granted_at=now if decision == "grant" else None)
            db.session.add(consent)
            db.session.flush()
            fire(consent, decision, actor, facts={"has_authority": True}, locked=True)
            _ledger(consent, decision, C.REQUESTED, actor, acted_as, form, reason)
            created.append(consent)
    db.session.flush()
    if decision == "grant":
        _note_change(recipient.id, [c.id for c in created], "consent_granted")
    return created


class PaperSigning:
    """Who signed a paper consent form and when, for `decide(..., paper=...)`.

    `guardian` is the signer, or None when the student signed for themself.
    """

    def __init__(self, guardian: Guardian | None, signed_on: date, scan_note: str):
        self.guardian, self.signed_on = guardian, signed_on
        self.signer_user_id = guardian.user_id if guardian else None
        who = guardian.display_name if guardian else "the student"
        self.reason = f"paper form signed by {who} on {signed_on.isoformat()}; {scan_note}"

    def authority(self, student: Student) -> str:
        """'guardian' or 'student': who gave the consent, if they could on that day.

        :raises Forbidden: the signer held no authority for the student that day.
        """
        adult = is_adult(student, self.signed_on)
        if self.guardian is None:
            if not adult:
                raise Forbidden("a student may consent for themself from their 18th birthday",
                                field="signer")
            self.signer_user_id = student.user_id
            return "student"
        link = db.session.get(StudentGuardian, (student.id, self.guardian.id))
        if link is None:
            raise Forbidden("the signer is not linked to this student", field="signer")
        if adult:
            raise Forbidden("the student was 18 on that day and decides for themself",
                            field="signer")
        if not link.has_educational_rights:
            raise Forbidden("the signer does not hold educational rights for this student",
                            field="signer")
        return "guardian"


def _within(asked: list[str], allowed: list[str], field: str) -> None:
    if not asked:
        raise ValidationFailed("choose at least one", field=field)
    for i, value in enumerate(asked):
        if value not in allowed:
            raise ValidationFailed(f"'{value}' is not covered by the agreement",
                                   field=f"{field}[{i}]")


def _current_answers(student_id, agreement_ids, recipient_id, purpose, category
                     ) -> list[Consent]:
    """The grant or refusal a new answer for the same item replaces."""
    return list(db.session.scalars(sa.select(Consent).where(
        Consent.student_id == student_id, Consent.agreement_id.in_(agreement_ids),
        Consent.recipient_id == recipient_id, Consent.purpose == purpose,
        Consent.category == category, Consent.state.in_([C.GRANTED, C.REFUSED]))))


def revoke(consent: Consent, user: User, actor: Actor, reason: str | None = None,
           expected_version: int | None = None) -> Consent:
    """Revoke a granted consent at once; any guardian with rights may revoke.

    :raises Forbidden: the user has no authority for this student.
    :raises InvalidTransition: the consent is not granted.
    """
    acted_as = _authority(user, consent.student)
    consent = fire(consent, "revoke", actor, facts={"has_authority": True},
                   expected_version=expected_version, data={"reason": reason})
    consent.ended_at = utcnow()
    _ledger(consent, "revoke", C.GRANTED, actor, acted_as, consent.form, reason)
    db.session.flush()
    _note_change(consent.recipient_id, [consent.id], "consent_revoked")
    return consent


# A successor on its way may yet carry a consent on.
PENDING_AGREEMENT_STATES = {"draft", "in_review", "approved", "out_for_signature"}


def ended_with_agreement(consent: Consent, now) -> bool:
    """A granted consent whose agreement, and every successor that could carry it on, has
    ended (terminated, expired or past its end date): nothing is shared under it any more,
    though the consent itself was never revoked."""
    return _lineage_ended(consent.agreement_id, now)


def ended_with_agreements(consents: list[Consent], now) -> set[int]:
    """The ids of the granted consents in `consents` that `ended_with_agreement`, each
    agreement looked at once (a child's page lists many consents of few agreements)."""
    ended: dict[int, bool] = {}
    for consent in consents:
        if consent.state == C.GRANTED and consent.agreement_id not in ended:
            ended[consent.agreement_id] = _lineage_ended(consent.agreement_id, now)
    return {c.id for c in consents if c.state == C.GRANTED and ended[c.agreement_id]}


def _lineage_ended(agreement_id: int, now) -> bool:
    """Whether the agreement and every successor that could carry its consents on are over."""
    tree, frontier = {agreement_id}, [agreement_id]
    while frontier:
        frontier = [i for i in db.session.scalars(sa.select(Agreement.id).where(
            Agreement.predecessor_id.in_(frontier))) if i not in tree]
        tree.update(frontier)
    for agreement in db.session.scalars(sa.select(Agreement).where(Agreement.id.in_(tree))):
        if agreement.state in PENDING_AGREEMENT_STATES:
            return False
        window = agreement_window(agreement)  # None: withdrawn or declined, never in force
        if window is not None and window.end > now:  # includes a termination still to come
            return False
    return True


def student_consents(student: Student) -> list[Consent]:
    """All consents for a student, newest first."""
    return list(db.session.scalars(sa.select(Consent).where(Consent.student_id == student.id)
                                   .order_by(Consent.id.desc())))


def get_consent_for(user: User, consent_id: int, students_query) -> Consent:
    """The consent if it belongs to a student `user` may see.

    :raises NotFound: no such consent, or it belongs to another family.
    """
    consent = db.session.get(Consent, consent_id)
    if consent is None or db.session.scalar(
            students_query.where(Student.id == consent.student_id)) is None:
        raise NotFound("no such consent")
    return consent

