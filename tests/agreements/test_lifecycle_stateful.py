"""A Hypothesis state machine over the agreement services (not HTTP, to stay fast).

Each rule asks a service for one thing as one person, in its own request, and
commits when the service agrees. A rule also knows, from the state before, whether
the service must agree: when it refuses (a domain error or a workflow refusal) the
rule rolls back and checks that nothing changed at all. After every step the
invariants check the signatures, the audit chain and the executed document.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from consent.errors import Conflict, DomainError
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementDocument,
    AuditEntry,
    Review,
    RulesChange,
    Signature,
    User,
)
from consent.services import agreements as service
from consent.services.actors import actor_for
from consent.services.audit import verify_chain
from consent.timeutil import local_date, utcnow
from tests.api.helpers import agreement_payload, make_partnership
from workflows import AgreementState, InvalidTransition, TransitionRefused

S = AgreementState
REFUSALS = (DomainError, InvalidTransition, TransitionRefused)
OPEN = {S.DRAFT, S.IN_REVIEW, S.APPROVED, S.OUT_FOR_SIGNATURE}
EDITABLE = {S.DRAFT, S.APPROVED, S.OUT_FOR_SIGNATURE}
IN_FORCE = {S.EXECUTED, S.ACTIVE}
CLOSED = {S.WITHDRAWN, S.DECLINED, S.SUPERSEDED, S.EXPIRED, S.TERMINATED}
# The partnership (people, organizations, students) is made once per test and
# reused; every example empties the rest, so it starts with no agreement at all.
PARTNERSHIP_TABLES = {"data_categories", "organizations", "roles", "users", "user_roles",
                      "api_tokens", "guardians", "students", "student_guardians"}
# No shrinking: a run is at most 12 steps, and shrinking re-renders PDFs for minutes.
SETTINGS = settings(max_examples=15, stateful_step_count=12, deadline=None, database=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@dataclass(frozen=True)
class Snapshot:
    """Everything a refused request must leave exactly as it was."""

    state: str
    version: int
    revision: int
    start_date: date
    end_date: date
    ended_on: date | None
    content_hash: str
    audit_entries: int
    signatures: tuple  # (id, revision, organization id, state, version)
    reviews: int
    documents: tuple  # (revision, kind, sha256)
    rules_changes: int

    def signature(self, org_id: int) -> str | None:
        """The state of `org_id`'s signature on the current revision (None: none yet)."""
        return next((s[3] for s in self.signatures
                     if s[1] == self.revision and s[2] == org_id), None)


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _snapshot(agreement_id: int) -> Snapshot:
    a = db.session.get(Agreement, agreement_id)
    signatures = db.session.scalars(sa.select(Signature).where(
        Signature.agreement_id == agreement_id).order_by(Signature.id)).all()
    documents = db.session.execute(sa.select(
        AgreementDocument.revision, AgreementDocument.kind, AgreementDocument.sha256).where(
        AgreementDocument.agreement_id == agreement_id).order_by(AgreementDocument.id)).all()
    return Snapshot(
        a.state, a.version_id, a.revision, a.start_date, a.end_date, a.ended_on,
        a.content_hash(), _count(AuditEntry),
        tuple((s.id, s.revision, s.organization_id, s.state, s.version_id) for s in signatures),
        _count(Review), tuple(tuple(d) for d in documents), _count(RulesChange))


def _empty_agreement_tables() -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables)
              if t.name not in PARTNERSHIP_TABLES]
    with db.engine.begin() as conn:
        for table in tables:
            conn.execute(table.delete())


class AgreementLifecycle(RuleBasedStateMachine):
    """Set by the test: `app`, and `people` mapping a role name to a user id."""

    app = None
    people: dict[str, int] = {}
    orgs: dict[str, int] = {}

    def __init__(self):
        super().__init__()
        self.agreement_id: int | None = None
        self.state: str | None = None
        self.now = utcnow()
        self.parallel = False
        self.executed: tuple | None = None  # (sha256, digest of the bytes, content hash)
        self.edits = 0

    # --- plumbing ---------------------------------------------------------------------

    def actor(self, who: str):
        return actor_for(db.session.get(User, self.people[who]))

    def snapshot(self) -> Snapshot:
        with self.app.app_context():
            return _snapshot(self.agreement_id)

    def attempt(self, name: str, call) -> tuple[Snapshot, Snapshot, Exception | None]:
        """Run `call(agreement)` in its own request; commit, or roll back on a refusal
        and check that nothing changed. (`--hypothesis-show-statistics` counts both.)"""
        before = self.snapshot()
        with self.app.test_request_context():
            agreement = db.session.get(Agreement, self.agreement_id)
            try:
                call(agreement)
            except REFUSALS as exc:
                db.session.rollback()
                refusal = exc
            else:
                db.session.commit()
                refusal = None
        after = self.snapshot()
        self.state = after.state
        event(f"{name} from {before.state}: " + (
            "done" if refusal is None else f"refused ({type(refusal).__name__})"))
        if refusal is not None:
            assert after == before, f"a refused request changed something: {refusal!r}"
        return before, after, refusal

    def expect(self, ok: bool, refusal: Exception | None) -> None:
        if ok:
            assert refusal is None, f"the service refused what it should allow: {refusal!r}"
        else:
            assert refusal is not None, "the service allowed what it should refuse"

    def today(self) -> date:
        with self.app.app_context():
            return local_date(utcnow())

    # --- setup --------------------------------------------------------------------------

    @initialize(start_in=st.sampled_from([0, 3]), length=st.sampled_from([5, 60]),
                parallel=st.booleans(),
                        start_at=st.sampled_from(["draft", "in_review", "approved",
                                          "out_for_signature", "partly_signed", "executed"]))
    def create(self, start_in, length, parallel, start_at):
        """A fresh agreement, optionally moved along so deep states are reached often."""
        with self.app.app_context():
            _empty_agreement_tables()
        self.parallel = parallel
        with self.app.test_request_context():
            start = local_date(utcnow()) + timedelta(days=start_in)
            agreement = service.create_draft(agreement_payload(
                start_date=start.isoformat(),
                end_date=(start + timedelta(days=length)).isoformat()), self.actor("legal"))
            if parallel:  # every party signs at once
                for party in agreement.parties:
                    party.signing_group = 1
            db.session.commit()
            self.agreement_id, self.state = agreement.id, agreement.state
        setup = [
            ("submit", lambda a: service.run_event(a, "submit", self.actor("legal"), None)),
            ("approve", lambda a: service.run_event(a, "approve", self.actor("reviewer"), None)),
            ("send_for_signature",
             lambda a: service.send_for_signature(a, self.actor("legal"), None)),
            ("sign", lambda a: self._sign(a, "district_signatory", False)),
            ("sign", lambda a: self._sign(a, "partner_signatory", False)),
        ]
        steps = {"draft": 0, "in_review": 1, "approved": 2, "out_for_signature": 3,
                 "partly_signed": 4, "executed": 5}[start_at]
        for name, call in setup[:steps]:
            self.expect(True, self.attempt(f"setup: {name}", call)[2])

    # --- rules ---------------------------------------------------------------------------

    @precondition(lambda self: self.state not in CLOSED)
    @rule(field=st.sampled_from(["title", "end_date"]))
    def edit_content(self, field):
        self.edits += 1
        before = self.snapshot()
        change = ({"title": f"Promise Neighborhood MOU, edit {self.edits}"} if field == "title"
                  else {"end_date": (before.end_date + timedelta(days=1)).isoformat()})
        before, after, refusal = self.attempt("edit", lambda a: service.update_content(
            a, change, self.actor("legal"), a.version_id))
        self.expect(before.state in EDITABLE, refusal)
        if refusal is None:
            assert after.state == S.DRAFT
            assert after.revision == before.revision + (before.state != S.DRAFT)
            assert after.content_hash != before.content_hash

    @precondition(lambda self: self.state not in CLOSED)
    @rule()
    def submit(self):
        before, after, refusal = self.attempt("submit", lambda a: service.run_event(
            a, "submit", self.actor("legal"), a.version_id))
        self.expect(before.state == S.DRAFT, refusal)
        if refusal is None:
            assert after.state == S.IN_REVIEW

    @precondition(lambda self: self.state not in CLOSED)
    @rule()
    def approve(self):
        before, after, refusal = self.attempt("approve", lambda a: service.run_event(
            a, "approve", self.actor("reviewer"), a.version_id, comment="Fine."))
        self.expect(before.state == S.IN_REVIEW, refusal)
        if refusal is None:
            assert after.state == S.APPROVED and after.reviews == before.reviews + 1

    @precondition(lambda self: self.state not in CLOSED)
    @rule()
    def request_changes(self):
        before, after, refusal = self.attempt("request_changes", lambda a: service.run_event(
            a, "request_changes", self.actor("reviewer"), a.version_id, comment="Clause 2."))
        self.expect(before.state == S.IN_REVIEW, refusal)
        if refusal is None:
            assert (after.state, after.revision) == (S.DRAFT, before.revision)

    @precondition(lambda self: self.state not in CLOSED)
    @rule()
    def send_for_signature(self):
        before, after, refusal = self.attempt("send_for_signature", lambda a: service.run_event(
            a, "send_for_signature", self.actor("legal"), a.version_id))
        self.expect(before.state == S.APPROVED, refusal)
        if refusal is None:
            assert after.state == S.OUT_FOR_SIGNATURE
            district = after.signature(self.orgs["district"])
            partner = after.signature(self.orgs["partner"])
            assert (district, partner) == (("invited", "invited") if self.parallel
                                           else ("invited", "pending"))

    def _sign(self, agreement, who: str, stale: bool):
        document = service.signing_document(agreement)
        sha = document.sha256 if document else "0" * 64
        if stale:  # the copy of an earlier revision, as an old browser tab would show it
            older = db.session.scalar(sa.select(AgreementDocument.sha256).where(
                AgreementDocument.agreement_id == agreement.id,
                AgreementDocument.revision < agreement.revision,
                AgreementDocument.kind == "for_signature").limit(1))
            sha = older or "f" * 64
        user = db.session.get(User, self.people[who])
        return service.sign(agreement, actor_for(user), name=user.name, title="Signatory",
                            authority="Board resolution 7", document_sha256=sha)

    def _sign_rule(self, who: str, org: str, stale: bool):
        before, after, refusal = self.attempt(f"sign ({who}{', stale copy' if stale else ''})",
                                                 lambda a: self._sign(a, who, stale))
        mine = before.signature(self.orgs[org])
        ok = before.state == S.OUT_FOR_SIGNATURE and mine == "invited" and not stale
        self.expect(ok, refusal)
        if before.state == S.OUT_FOR_SIGNATURE and mine == "pending":
            assert isinstance(refusal, Conflict), "signing out of turn is a conflict"
        if refusal is None:
            assert after.signature(self.orgs[org]) == "signed"
            others = [s for s in after.signatures if s[1] == after.revision]
            if all(s[3] == "signed" for s in others):
                assert after.state in IN_FORCE
                assert (after.state == S.ACTIVE) == (after.start_date <= self.today())
            else:
                assert after.state == S.OUT_FOR_SIGNATURE

    @precondition(lambda self: self.state not in CLOSED)
    @rule(stale=st.booleans())
    def sign_as_district(self, stale):
        self._sign_rule("district_signatory", "district", stale)

    @precondition(lambda self: self.state not in CLOSED)
    @rule(stale=st.booleans())
    def sign_as_partner(self, stale):
        self._sign_rule("partner_signatory", "partner", stale)

    @precondition(lambda self: self.state not in CLOSED)
    @rule(reason=st.sampled_from(["", "Clause 4 names the wrong school"]))
    def decline_as_partner(self, reason):
        before, after, refusal = self.attempt("decline (partner)", lambda a: service.decline(
            a, self.actor("partner_signatory"), reason, a.version_id))
        mine = before.signature(self.orgs["partner"])
        self.expect(before.state == S.OUT_FOR_SIGNATURE and mine == "invited" and reason,
                    refusal)
        if refusal is None:
            assert after.state == S.DECLINED
            assert after.signature(self.orgs["partner"]) == "declined"

    @precondition(lambda self: self.state not in CLOSED)
    @rule(action=st.sampled_from(["withdraw", "revise", "edit", "terminate", "approve"]))
    def outsider_attempts(self, action):
        """Staff of the partner organization, holding the right role for each action,
        are refused every one of them, whatever the state."""
        who = "partner_reviewer" if action == "approve" else "partner_legal"

        def call(a):
            if action == "edit":
                return service.update_content(a, {"title": "Taken over"}, self.actor(who),
                                              a.version_id)
            return service.run_event(a, action, self.actor(who), a.version_id,
                                     reason="ours now")

        self.expect(False, self.attempt(f"{action} ({who})", call)[2])

    @precondition(lambda self: self.state not in CLOSED)
    @rule()
    def revise(self):
        before, after, refusal = self.attempt("revise", lambda a: service.run_event(
            a, "revise", self.actor("legal"), a.version_id, reason="Fix a clause"))
        self.expect(before.state in (S.APPROVED, S.OUT_FOR_SIGNATURE), refusal)
        if refusal is None:
            assert (after.state, after.revision) == (S.DRAFT, before.revision + 1)

    @precondition(lambda self: self.state not in CLOSED)
    @rule()
    def withdraw(self):
        before, after, refusal = self.attempt("withdraw", lambda a: service.run_event(
            a, "withdraw", self.actor("legal"), a.version_id, reason="No longer needed"))
        self.expect(before.state in OPEN, refusal)
        if refusal is None:
            assert after.state == S.WITHDRAWN

    @precondition(lambda self: self.state not in CLOSED)
    @rule(notice_days=st.sampled_from([0, 4]))
    def terminate(self, notice_days):
        effective = self.today() + timedelta(days=notice_days)
        before, after, refusal = self.attempt("terminate", lambda a: service.run_event(
            a, "terminate", self.actor("legal"), a.version_id, reason="Program ended",
            effective_on=effective))
        self.expect(before.state in IN_FORCE and before.ended_on is None
                    and effective <= before.end_date, refusal)
        if refusal is None:
            assert after.ended_on == effective
            assert after.state == (S.TERMINATED if notice_days == 0 else before.state)

    @precondition(lambda self: self.state not in CLOSED)
    @rule(who=st.sampled_from(["legal", "reviewer"]))
    def comment(self, who):
        before, after, refusal = self.attempt("comment", lambda a: service.run_event(
            a, "comment", self.actor(who), None, comment="Please check clause 2."))
        self.expect(before.state in OPEN, refusal)
        if refusal is None:
            assert (after.state, after.version) == (before.state, before.version)
            assert after.reviews == before.reviews + 1
            assert after.audit_entries == before.audit_entries + 1

    @precondition(lambda self: self.state not in CLOSED)
    @rule(days=st.sampled_from([1, 4, 70]))
    def advance_clock(self, days):
        """The scheduler's agreement job, at a later instant."""
        self.now += timedelta(days=days)
        before = self.snapshot()
        with self.app.app_context():
            service.activate_due(self.now)
            service.terminate_due(self.now)
            service.expire_due(self.now)
            db.session.commit()
            today = local_date(self.now)
        after = self.snapshot()
        self.state = after.state
        expected = S(before.state)
        if expected == S.EXECUTED and before.start_date <= today:
            expected = S.ACTIVE
        if expected in IN_FORCE and before.ended_on is not None and before.ended_on <= today:
            expected = S.TERMINATED
        if expected == S.ACTIVE and before.end_date < today:
            expected = S.EXPIRED
        event(f"clock +{days}d from {before.state}: to {after.state}")
        assert after.state == expected
        if expected == before.state:
            assert after == before

    @precondition(lambda self: self.state in CLOSED)
    @rule(attempt=st.sampled_from([
        ("edit_content", {"field": "title"}), ("submit", {}), ("approve", {}),
        ("request_changes", {}), ("send_for_signature", {}),
        ("sign_as_district", {"stale": False}), ("sign_as_partner", {"stale": False}),
        ("revise", {}), ("withdraw", {}), ("terminate", {"notice_days": 0}),
        ("comment", {"who": "reviewer"}), ("advance_clock", {"days": 70})]))
    def closed_agreement_stays_closed(self, attempt):
        """Once withdrawn, declined, expired, terminated or superseded, every request is
        refused (each rule's own check expects that) and the clock changes nothing."""
        name, kwargs = attempt
        getattr(self, name)(**kwargs)
        assert self.state in CLOSED

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def one_valid_state(self):
        if self.agreement_id is None:
            return
        with self.app.app_context():
            states = db.session.scalars(sa.select(Agreement.state)).all()
        assert len(states) == 1 and states[0] in {s.value for s in AgreementState}

    @invariant()
    def signatures_bind_the_current_document(self):
        if self.agreement_id is None:
            return
        with self.app.app_context():
            agreement = db.session.get(Agreement, self.agreement_id)
            document = service.signing_document(agreement)
            for sig in db.session.scalars(sa.select(Signature).where(
                    Signature.agreement_id == agreement.id)):
                if sig.revision == agreement.revision:
                    if sig.state == "signed":
                        assert document is not None
                        assert sig.document_sha256 == document.sha256
                else:
                    assert sig.state not in ("signed", "invited", "pending"), (
                        f"signature {sig.id} of revision {sig.revision} was not voided")

    @invariant()
    def audit_chain_verifies(self):
        with self.app.app_context():
            report = verify_chain()
        assert report.ok, report.problem

    @invariant()
    def executed_agreement_never_changes(self):
        if self.agreement_id is None:
            return
        with self.app.app_context():
            agreement = db.session.get(Agreement, self.agreement_id)
            if agreement.state not in {S.EXECUTED, S.ACTIVE, S.SUPERSEDED, S.EXPIRED,
                                       S.TERMINATED}:
                assert self.executed is None, "an executed agreement left the executed states"
                return
            document = service.executed_document(agreement)
            assert document is not None
            frozen = (document.sha256, hashlib.sha256(document.content).hexdigest(),
                      agreement.content_hash())
        assert frozen[0] == frozen[1], "the executed PDF does not match its recorded hash"
        if self.executed is None:
            self.executed = frozen
        assert frozen == self.executed


def test_agreement_lifecycle_state_machine(app, db, make):
    p = make_partnership(make)
    machine = type("AgreementLifecycleHere", (AgreementLifecycle,), {
        "app": app,
        "people": {"legal": p.legal.id, "reviewer": p.reviewer.id,
                   "district_signatory": p.district_signatory.id,
                   "partner_signatory": p.partner_signatory.id,
                   "partner_legal": make.user("legal", org=p.partner).id,
                   "partner_reviewer": make.user("reviewer", org=p.partner).id},
        "orgs": {"district": p.district.id, "partner": p.partner.id},
    })
    run_state_machine_as_test(machine, settings=SETTINGS)
