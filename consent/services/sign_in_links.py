"""One-time sign-in links for families, sent by email.

The token is random (256 bits) and only its SHA-256 is stored. A link works once and only
for `SIGN_IN_LINK_MINUTES` (default 15); using it is a conditional UPDATE, so two clicks
racing cannot both sign in. Asking for a link answers the same whatever the address, so the
form tells nobody which addresses have accounts; at most `SIGN_IN_LINKS_PER_LIFETIME`
(default 3) links go to one account within a link's lifetime.

A service: it flushes and never commits.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from consent.extensions import db
from consent.links import external_url
from consent.models import SignInLink, User, hash_token, new_token
from consent.services import family_accounts
from consent.services.notifications import enqueue_email
from consent.timeutil import utcnow

logger = logging.getLogger(__name__)
FAMILY_ROLES = ("guardian", "student")
LINK_EMAILS = {  # in the family member's language
    "en": ("Your Accordant sign-in link", "notify/sign_in_link.txt"),
    "es": ("Su enlace para entrar en Accordant", "notify/sign_in_link_es.txt"),
}


def link_lifetime() -> timedelta:
    """How long an emailed link stays usable."""
    return timedelta(minutes=int(current_app.config.get("SIGN_IN_LINK_MINUTES", 15)))


def send_sign_in_link(email: str, language: str = "en") -> bool:
    """Email a one-time link if `email` belongs to an active family account (opened
    from the roster, in `language`, if need be).

    Returns whether a link was sent; callers must not show that to the visitor.
    """
    address = email.strip().lower()
    user = family_accounts.account_for_email(address, language)
    if user is None or not user.active or not user.has_any_role(*FAMILY_ROLES):
        logger.info("sign-in link asked for an address without a family account")
        return False
    token, now = new_token(), utcnow()
    recent = db.session.scalar(sa.select(sa.func.count(SignInLink.id)).where(
        SignInLink.user_id == user.id, SignInLink.created_at > now - link_lifetime()))
    if recent >= int(current_app.config.get("SIGN_IN_LINKS_PER_LIFETIME", 3)):
        # Nobody can flood a family's inbox through the form; the page says the same.
        logger.info("sign-in link for user %s not sent: %s already out", user.id, recent)
        return False
    db.session.add(SignInLink(user_id=user.id, token_hash=hash_token(token), created_at=now,
                              expires_at=now + link_lifetime()))
    minutes = int(link_lifetime().total_seconds() // 60)
    subject, template = LINK_EMAILS.get(user.preferred_language, LINK_EMAILS["en"])
    enqueue_email(user.email, subject, template, urgent=True, user=user, minutes=minutes,
                  link=external_url("sign_in_link.confirm", token=token,
                                    **({"lang": "es"} if user.preferred_language == "es" else {})))
    return True


def sign_in_link_usable(token: str) -> bool:
    """Whether `token` is a link that would still sign someone in (nothing is used up)."""
    return db.session.scalar(sa.select(SignInLink.id).join(
        User, SignInLink.user_id == User.id).where(
        SignInLink.token_hash == hash_token(token), SignInLink.used_at.is_(None),
        SignInLink.expires_at > utcnow(), User.active.is_(True))) is not None


def use_sign_in_link(token: str) -> User | None:
    """The user a still-valid, unused link belongs to, marking the link used; else None."""
    now = utcnow()
    token_hash = hash_token(token)
    claimed = db.session.execute(sa.update(SignInLink).where(
        SignInLink.token_hash == token_hash, SignInLink.used_at.is_(None),
        SignInLink.expires_at > now).values(used_at=now)).rowcount
    if not claimed:
        return None
    user = db.session.scalar(sa.select(User).join(SignInLink, SignInLink.user_id == User.id)
                             .where(SignInLink.token_hash == token_hash))
    return user if user is not None and user.active else None
