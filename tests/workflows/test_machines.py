"""The pure machines: every (state, event, role) pair against an expected table."""

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
    TransitionRefused,
)


class Record:
    def __init__(self, state, created_by_id=1):
        self.state, self.created_by_id = state, created_by_id


class Actor:
    def __init__(self, role, actor_id=2):
        self.roles, self.id = {role}, actor_id

    def has_any_role(self, *roles):
        return bool(self.roles.intersection(roles))


ALL_FACTS = {"checklist_missing": [], "reviews_complete": True, "all_signed": True,
             "term_started": True, "term_ended": True}
ROLES = ("admin", "legal", "reviewer", "signatory", "staff", "guardian", "system")

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


@pytest.mark.parametrize(("state", "event", "role"), list(itertools.product(
    [s.value for s in AgreementState], AGREEMENT.events, ROLES)))
def test_agreement_table(state, event, role):
    record = Record(state)
    expected = EXPECTED.get((event, state))
    if expected is None:
        with pytest.raises(InvalidTransition):
            AGREEMENT.apply(record, event, Actor(role), ALL_FACTS)
        assert record.state == state
    elif role in expected[1]:
        assert AGREEMENT.apply(record, event, Actor(role), ALL_FACTS) == expected[0]
    else:
        with pytest.raises(TransitionRefused) as info:
            AGREEMENT.apply(record, event, Actor(role), ALL_FACTS)
        assert info.value.kind == "forbidden"
        assert record.state == state


def test_table_covers_every_edge():
    edges = {(e.event, s) for e in AGREEMENT.edges for s in e.sources}
    assert edges == set(EXPECTED)


def test_no_automatic_to_state_triggers():
    record = Record("draft")
    for state in AgreementState:
        with pytest.raises(InvalidTransition):
            AGREEMENT.apply(record, f"to_{state.value}", Actor("admin"), ALL_FACTS)
    assert record.state == "draft"


def test_binding_never_changes_a_loaded_state():
    for state in AgreementState:
        record = Record(state.value)
        AGREEMENT.available(record, Actor("legal"), ALL_FACTS)
        assert record.state == state.value


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
        SIGNATURE.apply(sig, "sign", Actor("signatory"), {"own_organization": True})
    SIGNATURE.apply(sig, "invite", Actor("system"), {})
    with pytest.raises(TransitionRefused):
        SIGNATURE.apply(sig, "sign", Actor("signatory"), {"own_organization": False})
    assert SIGNATURE.apply(sig, "sign", Actor("signatory"), {"own_organization": True}) == "signed"
    with pytest.raises(InvalidTransition):  # nobody signs twice
        SIGNATURE.apply(sig, "sign", Actor("signatory"), {"own_organization": True})


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
