"""The pure machines: every (state, event, role, organization) against an expected table."""

from __future__ import annotations

import itertools

import pytest

from workflows import (
    AGREEMENT,
    CONSENT,
    SIGNATURE,
    AgreementState,
    ConsentState,
    InvalidTransition,
    SignatureState,
    TransitionRefused,
)

OWN_ORG, OTHER_ORG = 10, 30


class Record:
    """An agreement or a signature as the machines see it: a state and whose it is."""

    def __init__(self, state, created_by_id=1):
        self.state, self.created_by_id = state, created_by_id
        self.source_org_id = OWN_ORG  # agreement: the drafting organization
        self.reviewing_org_ids = {OWN_ORG, 20}
        self.party_org_ids = {OWN_ORG, 20}
        self.organization_id = OWN_ORG  # signature: the party that signs it


class Actor:
    def __init__(self, role, actor_id=2, organization_id=OWN_ORG):
        self.roles, self.id, self.organization_id = {role}, actor_id, organization_id

    def has_any_role(self, *roles):
        return bool(self.roles.intersection(roles))


ALL_FACTS = {"checklist_missing": [], "reviews_complete": True, "all_signed": True,
             "term_started": True, "term_ended": True, "reason": True}
ROLES = ("admin", "legal", "reviewer", "signatory", "staff", "guardian", "system")
ORGS = {"own": OWN_ORG, "other": OTHER_ORG}

# (event, source) -> (destination, roles that may fire it)
EXPECTED = {
    ("submit", "draft"): ("in_review", {"legal"}),
    ("request_changes", "in_review"): ("draft", {"reviewer"}),
    ("approve", "in_review"): ("approved", {"reviewer"}),
    ("send_for_signature", "approved"): ("out_for_signature", {"legal"}),
    ("revise", "approved"): ("draft", {"legal"}),
    ("revise", "out_for_signature"): ("draft", {"legal"}),
    ("execute", "out_for_signature"): ("executed", set(ROLES)),
    ("decline", "out_for_signature"): ("declined", {"signatory"}),
    ("withdraw", "draft"): ("withdrawn", {"legal"}),
    ("withdraw", "in_review"): ("withdrawn", {"legal"}),
    ("withdraw", "approved"): ("withdrawn", {"legal"}),
    ("withdraw", "out_for_signature"): ("withdrawn", {"legal"}),
    ("activate", "executed"): ("active", {"system"}),
    ("expire", "active"): ("expired", {"system"}),
    ("supersede", "executed"): ("superseded", {"system"}),
    ("supersede", "active"): ("superseded", {"system"}),
    ("terminate", "executed"): ("terminated", {"legal", "system"}),
    ("terminate", "active"): ("terminated", {"legal", "system"}),
}
# Events whose guards do not look at the organization (the last signature executes).
ANY_ORGANIZATION = {"execute"}


def _check(machine, expected, state, event, role, org, organization_free=frozenset()):
    """Apply one (state, event, role, organization) and compare with the table."""
    record = Record(state)
    actor = Actor(role, organization_id=None if role == "system" else ORGS[org])
    outcome = expected.get((event, state))
    if outcome is None:
        with pytest.raises(InvalidTransition):
            machine.apply(record, event, actor, ALL_FACTS)
        assert record.state == state
        return
    own = org == "own" or role == "system" or event in organization_free
    if role in outcome[1] and own:
        assert machine.apply(record, event, actor, ALL_FACTS) == outcome[0]
        return
    with pytest.raises(TransitionRefused) as info:
        machine.apply(record, event, actor, ALL_FACTS)
    assert info.value.kind == "forbidden"
    # The refusal says which check failed: the role first, then the organization.
    assert ("only " in info.value.reason) if role not in outcome[1] else (
        "organization" in info.value.reason)
    assert record.state == state


@pytest.mark.parametrize(("state", "event", "role", "org"), list(itertools.product(
    [s.value for s in AgreementState], AGREEMENT.events, ROLES, ORGS)))
def test_agreement_table(state, event, role, org):
    _check(AGREEMENT, EXPECTED, state, event, role, org, ANY_ORGANIZATION)


# The signature machine: invite and void are the system's (the services fire them when
# a group's turn comes, or a revision or withdrawal voids the signatures).
SIGNATURE_EXPECTED = {
    ("invite", "pending"): ("invited", set(ROLES)),
    ("sign", "invited"): ("signed", {"signatory"}),
    ("decline", "invited"): ("declined", {"signatory"}),
    ("void", "pending"): ("voided", set(ROLES)),
    ("void", "invited"): ("voided", set(ROLES)),
    ("void", "signed"): ("voided", set(ROLES)),
}


@pytest.mark.parametrize(("state", "event", "role", "org"), list(itertools.product(
    [s.value for s in SignatureState], SIGNATURE.events, ROLES, ORGS)))
def test_signature_table(state, event, role, org):
    _check(SIGNATURE, SIGNATURE_EXPECTED, state, event, role, org, {"invite", "void"})


def test_signature_table_covers_every_edge():
    assert {(e.event, s) for e in SIGNATURE.edges for s in e.sources} == set(SIGNATURE_EXPECTED)


def test_table_covers_every_edge():
    edges = {(e.event, s) for e in AGREEMENT.edges for s in e.sources}
    assert edges == set(EXPECTED)


@pytest.mark.parametrize("machine", [AGREEMENT, SIGNATURE], ids=["agreement", "signature"])
def test_bound_machine_has_only_the_allow_listed_events(machine):
    """No automatic `to_<state>` trigger exists on a bound record, from any state."""
    for state in machine.states:
        record = Record(state.value)
        bound = machine.bind(record)
        subject = bound.model
        for target in machine.states:
            assert not hasattr(subject, f"to_{target.value}")
        outgoing = {e.event for e in machine.edges if state.value in e.sources}
        assert set(bound.get_triggers(state.value)) == outgoing
        with pytest.raises(InvalidTransition):
            machine.apply(record, f"to_{state.value}", Actor("admin"), ALL_FACTS)


@pytest.mark.parametrize("machine", [AGREEMENT, SIGNATURE], ids=["agreement", "signature"])
def test_binding_never_changes_a_loaded_state(machine):
    class Watched(Record):
        """Counts writes to `state`, as an ORM row would note them."""

        writes = 0

        def __setattr__(self, name, value):
            if name == "state" and "state" in self.__dict__:
                type(self).writes += 1
            super().__setattr__(name, value)

    for state in machine.states:
        record = Watched(state.value)
        bound = machine.bind(record)
        assert (record.state, bound.model.state) == (state.value, state.value)
        machine.available(record, Actor("legal"), ALL_FACTS)
        assert record.state == state.value
    assert Watched.writes == 0


def test_author_cannot_review_own_draft():
    record = Record("in_review", created_by_id=7)
    with pytest.raises(TransitionRefused) as info:
        AGREEMENT.apply(record, "approve", Actor("reviewer", actor_id=7), ALL_FACTS)
    assert "drafted" in info.value.reason
    assert record.state == "in_review"


def test_incomplete_checklist_names_each_missing_element():
    record = Record("draft")
    facts = {**ALL_FACTS, "checklist_missing": ["purpose", "no re-identification"]}
    with pytest.raises(TransitionRefused) as info:
        AGREEMENT.apply(record, "submit", Actor("legal"), facts)
    assert info.value.kind == "invalid"
    assert "purpose" in info.value.reason and "no re-identification" in info.value.reason


def test_signature_needs_own_organization_and_invitation():
    sig = Record("pending")
    with pytest.raises(InvalidTransition):
        SIGNATURE.apply(sig, "sign", Actor("signatory"))
    SIGNATURE.apply(sig, "invite", Actor("system", organization_id=None))
    with pytest.raises(TransitionRefused) as info:
        SIGNATURE.apply(sig, "sign", Actor("signatory", organization_id=OTHER_ORG))
    assert "own organization" in info.value.reason
    assert SIGNATURE.apply(sig, "sign", Actor("signatory")) == "signed"
    with pytest.raises(InvalidTransition):  # nobody signs twice
        SIGNATURE.apply(sig, "sign", Actor("signatory"))


def test_decline_needs_a_reason():
    sig = Record("invited")
    with pytest.raises(TransitionRefused) as info:
        SIGNATURE.apply(sig, "decline", Actor("signatory"), {"reason": False})
    assert info.value.kind == "invalid" and sig.state == "invited"


def test_consent_lifecycle_needs_authority():
    consent = Record(ConsentState.REQUESTED.value)
    with pytest.raises(TransitionRefused):
        CONSENT.apply(consent, "grant", Actor("guardian"), {"has_authority": False})
    assert CONSENT.apply(consent, "grant", Actor("guardian"), {"has_authority": True}) == "granted"
    assert CONSENT.apply(consent, "revoke", Actor("guardian"), {"has_authority": True}) == "revoked"
    for event in ("grant", "revoke", "expire", "lapse"):
        with pytest.raises(InvalidTransition):
            CONSENT.apply(consent, event, Actor("guardian"), {"has_authority": True})


def test_mermaid_diagram_lists_every_edge():
    diagram = AGREEMENT.mermaid()
    for e in AGREEMENT.edges:
        for source in e.sources:
            assert f"{source} --> {e.dest}: {e.event}" in diagram
