"""Errors raised when a workflow event cannot be applied."""


class WorkflowError(Exception):
    """Base class for workflow errors."""


class InvalidTransition(WorkflowError):
    """The event does not exist or is not possible from the current state."""

    def __init__(self, event: str, state: str):
        super().__init__(f"'{event}' is not possible while the record is {state}")
        self.event, self.state = event, state


class Refusal:
    """Why a guard refused: `kind` is forbidden (who), conflict (when) or invalid (what)."""

    __slots__ = ("kind", "reason")

    def __init__(self, kind: str, reason: str):
        self.kind, self.reason = kind, reason

    def __repr__(self):
        return f"Refusal({self.kind!r}, {self.reason!r})"


class TransitionRefused(WorkflowError):
    """The event exists from this state but a guard refused it."""

    def __init__(self, event: str, state: str, refusal: Refusal):
        super().__init__(refusal.reason)
        self.event, self.state = event, state
        self.kind, self.reason = refusal.kind, refusal.reason
