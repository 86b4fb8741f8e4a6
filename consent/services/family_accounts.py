"""Family accounts come from the roster: a guardian signs in with the email address the
district has on record for them.

A roster import creates guardian records, not accounts. The first time someone asks for
a sign-in link with a guardian's address, the account is opened (without a password: the
emailed link proves the address) and tied to that guardian record, which is what shows
them their children. An account that already has the address and the guardian role
(say, made with `accordant users create`) is tied to the record the same way.

A service: it flushes and never commits.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from consent.extensions import db
from consent.models import Guardian, Role, StudentGuardian, User
from consent.models.users import RoleName
from consent.services import audit
from consent.services.actors import SYSTEM

logger = logging.getLogger(__name__)


def account_for_email(address: str, language: str = "en") -> User | None:
    """The account for `address` (lower-case), opened or tied to the roster's guardian
    record first when the roster has exactly one guardian with that address. An account
    opened here speaks `language` (the one the sign-in page was read in)."""
    user = db.session.scalar(sa.select(User).where(User.email == address))
    guardian = _untied_guardian(address)
    if guardian is None:
        return user
    if user is None:
        user = User(email=address, name=guardian.display_name, roles=[_guardian_role()],
                    preferred_language=language)
        db.session.add(user)
        db.session.flush()
        audit.record("user_created", "user", user.id, SYSTEM,
                     data={"roles": [RoleName.GUARDIAN.value], "guardian": guardian.sourced_id})
    elif not user.has_role(RoleName.GUARDIAN):
        # A staff account with a family's address: staff roles and a family's children
        # do not mix without someone deciding so.
        logger.warning("user %s has a guardian's address but no guardian role", user.id)
        return user
    guardian.user_id = user.id
    db.session.flush()
    audit.record("guardian_account_linked", "user", user.id, SYSTEM,
                 data={"guardian": guardian.sourced_id})
    return user


def _untied_guardian(address: str) -> Guardian | None:
    """The one guardian with `address`, linked to a child and to no account yet."""
    rows = db.session.scalars(sa.select(Guardian).where(
        Guardian.email == address,
        Guardian.id.in_(sa.select(StudentGuardian.guardian_id)))).all()
    if len(rows) != 1:
        if len(rows) > 1:  # which person is meant is for the district to settle
            logger.warning("%s guardian records share one address; none tied", len(rows))
        return None
    return rows[0] if rows[0].user_id is None else None


def _guardian_role() -> Role:
    role = db.session.scalar(sa.select(Role).where(Role.name == RoleName.GUARDIAN.value))
    if role is None:
        role = Role(name=RoleName.GUARDIAN.value)
        db.session.add(role)
    return role
