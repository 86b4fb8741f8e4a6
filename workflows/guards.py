"""Reusable guards. Each returns None to allow, or a Refusal saying why not."""

from workflows.base import Event
from workflows.errors import Refusal


def actor_has_role(*roles: str):
    """Allow actors holding any of `roles`."""

    def guard(ev: Event):
        if ev.actor is None or not ev.actor.has_any_role(*roles):
            return Refusal("forbidden", f"only {' or '.join(roles)} users may do this")
        return None

    guard.__name__ = f"actor_has_role_{'_'.join(roles)}"
    return guard


def fact_true(name: str, reason: str, kind: str = "conflict"):
    """Allow when the caller-supplied fact `name` is truthy."""

    def guard(ev: Event):
        return None if ev.facts.get(name) else Refusal(kind, reason)

    guard.__name__ = f"fact_{name}"
    return guard


def fact_missing(name: str, reason: str):
    """Allow when the caller-supplied list `name` is empty (e.g. missing checklist items)."""

    def guard(ev: Event):
        missing = ev.facts.get(name) or []
        return Refusal("invalid", f"{reason}: {', '.join(missing)}") if missing else None

    guard.__name__ = f"no_{name}"
    return guard


def actor_is_not_author(ev: Event):
    """Nobody reviews their own draft."""
    author = getattr(ev.record, "created_by_id", None)
    if ev.actor is not None and author is not None and getattr(ev.actor, "id", None) == author:
        return Refusal("forbidden", "you cannot review an agreement you drafted")
    return None


def actor_of_organization(attribute: str, reason: str):
    """Allow actors whose organization is the record's `attribute` (an id, or a collection
    of ids). The system acts for every organization, so it always passes."""

    def guard(ev: Event):
        if ev.actor is not None and ev.actor.has_any_role("system"):
            return None
        allowed = getattr(ev.record, attribute, None)
        allowed = set(allowed) if isinstance(allowed, (set, frozenset, list, tuple)) else {allowed}
        org = getattr(ev.actor, "organization_id", None)
        if org is None or org not in allowed:
            return Refusal("forbidden", reason)
        return None

    guard.__name__ = f"actor_of_{attribute}"
    return guard
