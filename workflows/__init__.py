"""Pure state machines for agreements, signatures and consents.

Nothing here imports Flask, SQLAlchemy or the `consent` package: the machines only
move a `state` attribute on whatever record they are bound to, and guards read the
actor and the facts the caller passes in.
"""

from workflows.agreement import AGREEMENT, AgreementState
from workflows.agreement import REQUEST_EVENTS as AGREEMENT_REQUEST_EVENTS
from workflows.base import Workflow
from workflows.consent import CONSENT, ConsentState
from workflows.errors import InvalidTransition, Refusal, TransitionRefused, WorkflowError
from workflows.signature import SIGNATURE, SignatureState

__all__ = [
    "AGREEMENT",
    "AGREEMENT_REQUEST_EVENTS",
    "AgreementState",
    "CONSENT",
    "ConsentState",
    "InvalidTransition",
    "Refusal",
    "SIGNATURE",
    "SignatureState",
    "TransitionRefused",
    "Workflow",
    "WorkflowError",
]
