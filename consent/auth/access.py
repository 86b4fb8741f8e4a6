"""Route access declarations, checked for every request before the view runs.

Every view must declare who may call it: `public`, `signed_in`, `roles_accepted(...)`
for pages, or `api_access(...)` for the JSON API. A view that declares nothing is
refused (fail closed), so a new route without a check cannot leak.
"""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from consent.auth.principal import load_principal
from consent.errors import DomainError
from consent.extensions import db


class Unauthenticated(DomainError):
    status, code = 401, "unauthenticated"


class AccessDenied(DomainError):
    status, code = 403, "forbidden"


def _declare(view, kind: str, roles: tuple[str, ...] = (), clients: bool = False):
    view._access = (kind, frozenset(roles), clients)
    return view


def public(view):
    """Anyone may call this view."""
    return _declare(view, "public")


def signed_in(view):
    """Any signed-in person may call this view (it checks objects itself)."""
    return _declare(view, "signed_in")


def roles_accepted(*roles: str):
    """Signed-in people holding at least one of `roles` may call this view."""

    def decorator(view):
        return _declare(view, "roles", roles)

    return decorator


def api_access(*roles: str, clients: bool = False):
    """API callers with a person's token holding one of `roles` (any role if none
    given), and, when `clients` is true, enforcer clients' tokens."""

    def decorator(view):
        return _declare(view, "api", roles, clients)

    return decorator


def reads_only(view):
    """Declare that `view` never writes. Its requests run their statements in autocommit
    (no BEGIN and ROLLBACK around them: two round trips fewer on PostgreSQL). Under
    READ COMMITTED each statement sees the newest committed data either way.
    """
    view._reads_only = True
    return view


def access_of(view):
    """The declaration on `view` (None when it declared nothing)."""
    return getattr(view, "_access", None)


def check_request_access() -> None:
    """before_request hook: apply the declaration of the endpoint being called.

    :raises Unauthenticated: nobody is signed in where somebody must be.
    :raises AccessDenied: the caller lacks the role, or the view declared nothing.
    """
    if request.endpoint is None:  # 404/405: let routing report it
        return
    view = current_app.view_functions.get(request.endpoint)
    reads = getattr(view, "_reads_only", False)
    if reads:
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    declared = access_of(view)
    if declared is None:
        raise AccessDenied("this page has no access rule")
    kind, roles, clients = declared
    if kind == "public":
        return
    if kind == "api":
        principal = load_principal(read_rules_version=reads)
        if principal is None:
            raise Unauthenticated("send a valid API token as 'Authorization: Bearer <token>'")
        if principal.is_client:
            if not clients:
                raise AccessDenied("API client tokens may not use this endpoint")
            return
        if roles and not principal.user.has_any_role(*roles):
            raise AccessDenied(f"requires one of the roles: {', '.join(sorted(roles))}")
        return
    if not current_user.is_authenticated:
        raise Unauthenticated("sign in to continue")
    if kind == "roles" and not current_user.has_any_role(*roles):
        raise AccessDenied("you do not have access to this page")

