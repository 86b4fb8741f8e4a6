"""One party's signature on one revision of an agreement."""

from enum import StrEnum

from workflows.base import Workflow, edge
from workflows.guards import actor_has_role, fact_true


class SignatureState(StrEnum):
    PENDING = "pending"
    INVITED = "invited"
    SIGNED = "signed"
    DECLINED = "declined"
    VOIDED = "voided"


S = SignatureState
SIGNATORY = actor_has_role("signatory")
OWN_ORG = fact_true("own_organization", "you may only sign for your own organization", "forbidden")

SIGNATURE = Workflow(
    "signature",
    SignatureState,
    (
        edge("invite", S.PENDING, S.INVITED),
        edge("sign", S.INVITED, S.SIGNED, SIGNATORY, OWN_ORG),
        edge("decline", S.INVITED, S.DECLINED, SIGNATORY, OWN_ORG,
             fact_true("reason", "a reason is required to decline", "invalid")),
        edge("void", [S.PENDING, S.INVITED, S.SIGNED], S.VOIDED),
    ),
)
