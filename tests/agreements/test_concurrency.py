"""Two requests on one agreement at the same moment: exactly one wins.

Real threads, each with its own app context and so its own session and database
connection, start together at a barrier. On PostgreSQL the agreement row lock
(`SELECT … FOR UPDATE`) serialises them; SQLite serialises writers by itself. The
loser must be refused (a conflict or an impossible transition; on SQLite a
"database is locked" error also counts as a refusal), never succeed as well.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from consent.errors import Conflict
from consent.extensions import db
from consent.models import Agreement, AgreementDocument, AuditEntry, Review, Signature, User
from consent.services import agreements as service
from consent.services.actors import actor_for
from consent.services.audit import verify_chain
from tests.api.helpers import agreement_payload, bearer, make_partnership
from workflows import InvalidTransition, TransitionRefused

REPEATS = 20
SIGNING_REPEATS = 10  # each renders two PDFs
REFUSED = (Conflict, InvalidTransition, TransitionRefused)


def _is_refusal(outcome, dialect: str) -> bool:
    if isinstance(outcome, REFUSED):
        return True
    # SQLite has no row locks: the loser may also find the row's version moved on, or
    # give up waiting for the write lock. Both leave the database as the winner left it.
    return dialect == "sqlite" and (
        isinstance(outcome, StaleDataError)
        or (isinstance(outcome, OperationalError) and "database is locked" in str(outcome)))


def _race(app, *prepares: Callable[[], Callable[[], object]]) -> list:
    """Run each prepared call in its own thread and app context, all at once.

    `prepare()` runs first in the thread (loading rows, like a request would) and
    returns the call to make after the barrier. Returns "ok" or the exception, per call.
    """
    barrier = threading.Barrier(len(prepares))
    outcomes: list = [None] * len(prepares)

    def run(i, prepare):
        with app.app_context():
            try:
                go = prepare()
                barrier.wait(timeout=30)
                go()
                db.session.commit()
                outcomes[i] = "ok"
            except Exception as exc:  # noqa: BLE001 - the test judges every outcome
                db.session.rollback()
                outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(prepares)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a racing request hung"
    return outcomes


def _one_winner(outcomes: list, dialect: str) -> int:
    winners = [i for i, o in enumerate(outcomes) if o == "ok"]
    assert len(winners) == 1, f"expected exactly one winner, got {outcomes!r}"
    loser = outcomes[1 - winners[0]]
    assert _is_refusal(loser, dialect), f"the loser failed the wrong way: {loser!r}"
    return winners[0]


def _new_agreement(app, legal_id: int, *, submit: bool, parallel: bool = False) -> int:
    with app.test_request_context():
        legal = actor_for(db.session.get(User, legal_id))
        agreement = service.create_draft(agreement_payload(), legal)
        if parallel:  # every party is invited at once
            for party in agreement.parties:
                party.signing_group = 1
            db.session.flush()
        if submit:
            service.run_event(agreement, "submit", legal, None)
        db.session.commit()
        return agreement.id


def _event(agreement_id: int, user_id: int, event: str):
    def prepare():
        agreement = db.session.get(Agreement, agreement_id)
        actor = actor_for(db.session.get(User, user_id))
        version = agreement.version_id  # both loaded the same page
        return lambda: service.run_event(agreement, event, actor, version)
    return prepare


def _audit_events(agreement_id: int) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEntry.event).where(
        AuditEntry.subject_type == "agreement", AuditEntry.subject_id == agreement_id)
        .order_by(AuditEntry.id)))


@pytest.fixture
def people(make):
    p = make_partnership(make)
    p.second_reviewer = make.user("reviewer", org=p.district, email="counsel@riverside.example")
    return p


def test_approve_and_request_changes_at_once(app, db, people, database_url):
    dialect = database_url.split(":", 1)[0].split("+", 1)[0]
    for _ in range(REPEATS):
        aid = _new_agreement(app, people.legal.id, submit=True)
        outcomes = _race(app, _event(aid, people.reviewer.id, "approve"),
                         _event(aid, people.second_reviewer.id, "request_changes"))
        winner = _one_winner(outcomes, dialect)
        db.session.expire_all()
        agreement = db.session.get(Agreement, aid)
        assert agreement.state == ("approved" if winner == 0 else "draft")
        assert agreement.version_id == 3  # created 1, submitted 2, one decision 3
        decided = [e for e in _audit_events(aid) if e in ("approve", "request_changes")]
        assert decided == [("approve", "request_changes")[winner]]
        reviews = db.session.scalars(sa.select(Review.decision).where(
            Review.agreement_id == aid)).all()
        assert reviews == [("approve", "request_changes")[winner]]
    assert verify_chain().ok


def test_two_submits_at_once(app, db, people, database_url):
    dialect = database_url.split(":", 1)[0].split("+", 1)[0]
    for _ in range(REPEATS):
        aid = _new_agreement(app, people.legal.id, submit=False)
        outcomes = _race(app, _event(aid, people.legal.id, "submit"),
                         _event(aid, people.legal.id, "submit"))
        _one_winner(outcomes, dialect)
        db.session.expire_all()
        assert db.session.get(Agreement, aid).state == "in_review"
        assert _audit_events(aid).count("submit") == 1
    assert verify_chain().ok


def test_two_api_clients_decide_at_once(app, db, make, people, database_url):
    """Through the API: one 200 and one 409 whose body names the state it found."""
    tokens = [bearer(make.user_token(people.reviewer)),
              bearer(make.user_token(people.second_reviewer))]
    for _ in range(REPEATS):
        aid = _new_agreement(app, people.legal.id, submit=True)
        barrier = threading.Barrier(2)
        responses: list = [None, None]

        def post(i, event, aid=aid, barrier=barrier, responses=responses):
            client = app.test_client()
            barrier.wait(timeout=30)
            r = client.post(f"/api/v1/agreements/{aid}/events/{event}", json={"version": 2},
                            headers=tokens[i])
            responses[i] = (r.status_code, r.get_json())

        threads = [threading.Thread(target=post, args=(0, "approve")),
                   threading.Thread(target=post, args=(1, "request_changes"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        statuses = sorted(r[0] for r in responses)
        assert statuses == [200, 409], responses
        winner = next(r[1]["data"] for r in responses if r[0] == 200)
        loser = next(r[1]["error"] for r in responses if r[0] == 409)
        assert loser.get("details", {}).get("state") == winner["state"], responses
        db.session.expire_all()
        assert db.session.get(Agreement, aid).state == winner["state"]


def test_two_last_signatures_at_once_execute_once(app, db, people, database_url):
    dialect = database_url.split(":", 1)[0].split("+", 1)[0]
    for _ in range(SIGNING_REPEATS):
        aid = _new_agreement(app, people.legal.id, submit=True, parallel=True)
        with app.test_request_context():
            agreement = db.session.get(Agreement, aid)
            service.run_event(agreement, "approve",
                              actor_for(db.session.get(User, people.reviewer.id)), None)
            service.send_for_signature(
                agreement, actor_for(db.session.get(User, people.legal.id)), None)
            db.session.commit()
            sha = service.signing_document(agreement).sha256
            invited = db.session.scalars(sa.select(Signature.state).where(
                Signature.agreement_id == aid)).all()
        assert invited == ["invited", "invited"]

        def signing(user_id, aid=aid, sha=sha):
            def prepare():
                agreement = db.session.get(Agreement, aid)
                user = db.session.get(User, user_id)
                actor = actor_for(user)
                return lambda: service.sign(agreement, actor, name=user.name,
                                            title="Signatory", authority="",
                                            document_sha256=sha)
            return prepare

        outcomes = _race(app, signing(people.district_signatory.id),
                         signing(people.partner_signatory.id))
        if dialect == "sqlite":
            # A loser that gave up waiting for the lock signs again, as a person would.
            for i, o in enumerate(outcomes):
                if o != "ok":
                    assert _is_refusal(o, dialect), outcomes
                    who = (people.district_signatory, people.partner_signatory)[i]
                    outcomes[i] = _race(app, signing(who.id))[0]
        assert outcomes == ["ok", "ok"], outcomes

        db.session.expire_all()
        agreement = db.session.get(Agreement, aid)
        states = db.session.scalars(sa.select(Signature.state).where(
            Signature.agreement_id == aid)).all()
        assert states == ["signed", "signed"]
        assert agreement.state == "active", "both signed, but the agreement was not executed"
        assert _audit_events(aid).count("execute") == 1
        executed = db.session.scalars(sa.select(AgreementDocument.id).where(
            AgreementDocument.agreement_id == aid,
            AgreementDocument.kind == "executed")).all()
        assert len(executed) == 1
    assert verify_chain().ok


def test_an_edit_and_the_last_signature_at_once(app, db, people, database_url):
    """Either the agreement is executed with the signed text, or the edit makes a new
    revision and every signature is voided: never an executed agreement whose text
    changed, nor a signature on a revision that was replaced."""
    dialect = database_url.split(":", 1)[0].split("+", 1)[0]
    wins = {0: 0, 1: 0}
    for _ in range(SIGNING_REPEATS):
        aid = _new_agreement(app, people.legal.id, submit=True)
        with app.test_request_context():
            agreement = db.session.get(Agreement, aid)
            service.run_event(agreement, "approve",
                              actor_for(db.session.get(User, people.reviewer.id)), None)
            service.send_for_signature(
                agreement, actor_for(db.session.get(User, people.legal.id)), None)
            sha = service.signing_document(agreement).sha256
            signer = db.session.get(User, people.district_signatory.id)
            service.sign(agreement, actor_for(signer), name=signer.name, title="Superintendent",
                         authority="", document_sha256=sha)
            db.session.commit()
            title = agreement.title

        def signing(aid=aid, sha=sha):
            agreement = db.session.get(Agreement, aid)
            user = db.session.get(User, people.partner_signatory.id)
            actor = actor_for(user)
            return lambda: service.sign(agreement, actor, name=user.name, title="Director",
                                        authority="", document_sha256=sha)

        def editing(aid=aid):
            agreement = db.session.get(Agreement, aid)
            actor = actor_for(db.session.get(User, people.legal.id))
            version = agreement.version_id  # the page the editor loaded
            return lambda: service.update_content(agreement, {"title": "Changed at the end"},
                                                  actor, version)

        winner = _one_winner(_race(app, signing, editing), dialect)
        wins[winner] += 1
        db.session.expire_all()
        agreement = db.session.get(Agreement, aid)
        signatures = db.session.execute(sa.select(Signature.revision, Signature.state).where(
            Signature.agreement_id == aid).order_by(Signature.id)).all()
        if winner == 0:
            assert (agreement.state, agreement.revision, agreement.title) == (
                "active", 1, title)
            assert [tuple(s) for s in signatures] == [(1, "signed"), (1, "signed")]
        else:
            assert (agreement.state, agreement.revision, agreement.title) == (
                "draft", 2, "Changed at the end")
            assert [tuple(s) for s in signatures] == [(1, "voided"), (1, "voided")]
            assert db.session.scalar(sa.select(AgreementDocument.id).where(
                AgreementDocument.agreement_id == aid,
                AgreementDocument.kind == "executed")) is None
    assert sum(wins.values()) == SIGNING_REPEATS
    assert verify_chain().ok
