"""One party's signature on one revision of an agreement."""

from enum import StrEnum

from workflows.base import Workflow, edge
from workflows.guards import actor_has_role, actor_of_organization, fact_true


class SignatureState(StrEnum):
    PENDING = "pending"
    INVITED = "invited"
    SIGNED = "signed"
    DECLINED = "declined"
    VOIDED = "voided"


S = SignatureState
SIGNATORY = actor_has_role("signatory")
# The signature row names its party; only that organization's signatories act on it.
OWN_ORG = actor_of_organization("organization_id",
                                "you may only sign for your own organization")

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
