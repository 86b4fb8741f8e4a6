"""The actor behind a change: a person, an API client or the system, plus where from."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import has_request_context, request

from consent.models import User


@dataclass(frozen=True)
class Actor:
    user: User | None
    label: str
    roles: frozenset[str] = field(default_factory=frozenset)
    organization_id: int | None = None
    channel: str = "web"
    ip: str | None = None
    user_agent: str | None = None

    @property
    def id(self) -> int | None:
        return self.user.id if self.user else None

    def has_any_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def _request_origin() -> tuple[str | None, str | None]:
    if not has_request_context():
        return None, None
    return request.remote_addr, (request.user_agent.string or None)


def actor_for(user: User, channel: str = "web") -> Actor:
    """The actor for a signed-in person in the current request."""
    ip, ua = _request_origin()
    return Actor(user, f"{user.name} <{user.email}>", frozenset(user.role_names),
                 user.organization_id, channel, ip, ua)


def client_actor(token_id: int, organization_id: int) -> Actor:
    """The actor for an enforcer client's API token."""
    ip, ua = _request_origin()
    return Actor(None, f"api-client:{token_id}", frozenset({"client"}), organization_id, "api",
                 ip, ua)


SYSTEM = Actor(None, "system", frozenset({"system"}), None, "scheduler")
# Whoever runs administration commands on the server acts with full rights.
COMMAND_LINE = Actor(None, "command line", frozenset({"admin"}), None, "cli")
