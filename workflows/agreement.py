"""The agreement (MOU / data-sharing agreement) lifecycle."""

from enum import StrEnum

from workflows.base import Workflow, edge
from workflows.guards import (
    actor_has_role,
    actor_is_not_author,
    actor_of_organization,
    fact_missing,
    fact_true,
)


class AgreementState(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    OUT_FOR_SIGNATURE = "out_for_signature"
    EXECUTED = "executed"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    WITHDRAWN = "withdrawn"
    DECLINED = "declined"


S = AgreementState
LEGAL = actor_has_role("legal")
REVIEWER = actor_has_role("reviewer")
SIGNATORY = actor_has_role("signatory")
SYSTEM = actor_has_role("system")
# Role alone is not enough: each guard below also checks the actor's organization.
DRAFTING_ORG = actor_of_organization(
    "source_org_id", "only the drafting organization's legal staff may do this")
REVIEWING_ORG = actor_of_organization(
    "reviewing_org_ids", "your organization does not review this agreement")
PARTY_ORG = actor_of_organization(
    "party_org_ids", "your organization is not a party to this agreement")

AGREEMENT = Workflow(
    "agreement",
    AgreementState,
    (
        edge("submit", S.DRAFT, S.IN_REVIEW, LEGAL, DRAFTING_ORG,
             fact_missing("checklist_missing", "the FERPA checklist is incomplete")),
        edge("request_changes", S.IN_REVIEW, S.DRAFT, REVIEWER, REVIEWING_ORG,
             actor_is_not_author),
        edge("approve", S.IN_REVIEW, S.APPROVED, REVIEWER, REVIEWING_ORG, actor_is_not_author,
             fact_true("reviews_complete", "other required reviewers have not approved yet")),
        edge("send_for_signature", S.APPROVED, S.OUT_FOR_SIGNATURE, LEGAL, DRAFTING_ORG),
        edge("revise", [S.APPROVED, S.OUT_FOR_SIGNATURE], S.DRAFT, LEGAL, DRAFTING_ORG),
        edge("execute", S.OUT_FOR_SIGNATURE, S.EXECUTED,
             fact_true("all_signed", "not every party has signed")),
        edge("decline", S.OUT_FOR_SIGNATURE, S.DECLINED, SIGNATORY, PARTY_ORG),
        edge("withdraw", [S.DRAFT, S.IN_REVIEW, S.APPROVED, S.OUT_FOR_SIGNATURE], S.WITHDRAWN,
             LEGAL, DRAFTING_ORG),
        edge("activate", S.EXECUTED, S.ACTIVE, SYSTEM,
             fact_true("term_started", "the agreement's start date has not come")),
        edge("expire", S.ACTIVE, S.EXPIRED, SYSTEM,
             fact_true("term_ended", "the agreement's end date has not passed")),
        edge("supersede", [S.EXECUTED, S.ACTIVE], S.SUPERSEDED, SYSTEM),
        # Legal staff terminate at once; the system on a noticed date.
        edge("terminate", [S.EXECUTED, S.ACTIVE], S.TERMINATED, actor_has_role("legal", "system"),
             DRAFTING_ORG),
    ),
)

# Events a person may ask for through a request; the rest are fired by the system
# (the last signature executes, the scheduler activates, expires and supersedes).
REQUEST_EVENTS = frozenset(
    {"submit", "request_changes", "approve", "send_for_signature", "revise", "withdraw",
     "terminate"}
)

# States in which an agreement can be in force (subject to its dates).
EXECUTED_STATES = frozenset({S.EXECUTED, S.ACTIVE, S.SUPERSEDED, S.EXPIRED, S.TERMINATED})
