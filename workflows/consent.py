"""A family's consent for one student, recipient, purpose and data category."""

from enum import StrEnum

from workflows.base import Workflow, edge
from workflows.guards import fact_true


class ConsentState(StrEnum):
    REQUESTED = "requested"
    GRANTED = "granted"
    REFUSED = "refused"
    REVOKED = "revoked"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    LAPSED = "lapsed"


S = ConsentState
HAS_AUTHORITY = fact_true(
    "has_authority", "you do not hold educational rights for this student", "forbidden"
)

CONSENT = Workflow(
    "consent",
    ConsentState,
    (
        edge("grant", S.REQUESTED, S.GRANTED, HAS_AUTHORITY),
        edge("refuse", S.REQUESTED, S.REFUSED, HAS_AUTHORITY),
        edge("revoke", S.GRANTED, S.REVOKED, HAS_AUTHORITY),
        edge("expire", S.GRANTED, S.EXPIRED),
        # A later answer replaces the current one, a refusal as much as a grant, so
        # there is one current answer per student, recipient, purpose and category.
        edge("supersede", [S.GRANTED, S.REFUSED], S.SUPERSEDED),
        edge("lapse", [S.REQUESTED, S.GRANTED], S.LAPSED),
    ),
)
