"""Sessions and API tokens kept server-side, so any web process can check them and logout works.

Pages authenticate by an HttpOnly cookie (and CSRF on every form); the JSON API only by an
`Authorization: Bearer` token, so no cookie can be used to forge an API call. The read-only
OpenAPI schema takes either.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from responder.db.models import StaffSession, StaffUser, utcnow
from responder.users import (
    DEACTIVATED,
    PASSWORD_CHANGED,
    PASSWORD_RESET,
    ended_reason,
    role_at_least,
)
from responder.web.session_cache import SessionCache

COOKIE = "responder_session"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: StaffUser, kind: str, hours: int) -> str:
    """A fresh random token for every login: an old cookie can never be promoted (fixation)."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=hash_token(token),
            user_id=user.id,
            kind=kind,
            expires_at=utcnow() + timedelta(hours=hours),
        )
    )
    return token


def close_session(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_hash == hash_token(token)))


# Built once: the check runs on every request, and building the SELECT cost more Python than
# running it. The values go in as bound parameters.
_SESSION_USER = (
    select(StaffUser, StaffSession.expires_at)
    .join(StaffSession, StaffSession.user_id == StaffUser.id)
    .where(
        StaffSession.token_hash == bindparam("token_hash"),
        StaffSession.kind == bindparam("kind"),
        StaffUser.active.is_(True),
    )
)


def cached_user(cache: SessionCache, token: str, kind: str) -> StaffUser | None:
    """This process's remembered answer (PostgreSQL only, see session_cache), else None."""
    return cache.lookup(hash_token(token), kind)


def user_for_token(
    session: Session, token: str, kind: str, cache: SessionCache
) -> StaffUser | None:
    """One indexed query: the session row joined to its active user, which comes back detached
    and is offered to the cache (kept only where the cache can be trusted)."""
    token_hash = hash_token(token)
    generation = cache.generation
    row = session.execute(_SESSION_USER, {"token_hash": token_hash, "kind": kind}).first()
    if row is None or row.expires_at < utcnow():
        return None
    user = row.StaffUser
    session.expunge(user)
    cache.store(token_hash, kind, user, row.expires_at, generation)
    return user


#: What the holder of an ended session is told, by why it was ended (see users.end_sessions).
ENDED_BECAUSE = {
    PASSWORD_CHANGED: "Your session ended because your password was changed.",
    PASSWORD_RESET: "Your session ended because an administrator reset your password.",
    DEACTIVATED: "Your account was switched off, which ended your session: ask an administrator.",
}


class SessionEnded(NotAuthorizedException):
    """A token that was valid until its account's password or state changed: says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(ENDED_BECAUSE[reason])
        self.reason = reason


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        rt = connection.app.state.rt
        path = connection.scope["path"]
        header = connection.headers.get("authorization", "")
        # The OpenAPI schema is read by people (cookie) and by API clients' tools (token).
        if path.startswith("/api/") or (path.startswith("/schema") and header):
            scheme, _, token = header.partition(" ")
            kind = "api"
            if scheme.lower() != "bearer" or not token:
                raise NotAuthorizedException("send an API token: Authorization: Bearer <token>")
        else:
            token = connection.cookies.get(COOKIE, "")
            kind = "cookie"
            if not token:
                raise NotAuthorizedException("log in first")
        token = token.strip()
        cache: SessionCache = connection.app.state.sessions
        user = cached_user(cache, token, kind)
        if user is None:
            with rt.read_factory() as session:
                user = user_for_token(session, token, kind, cache)
        if user is None:
            with rt.read_factory() as session:  # only on the way out: no cost to a good token
                reason = ended_reason(session, hash_token(token))
            if reason in ENDED_BECAUSE:
                raise SessionEnded(reason)
            raise NotAuthorizedException("session expired or unknown: log in again")
        return AuthenticationResult(user=user, auth=token)


def _require(role: str):
    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        user = connection.user
        if not isinstance(user, StaffUser) or not role_at_least(user.role, role):
            raise PermissionDeniedException(f"this needs the {role} role")

    guard.__name__ = f"requires_{role}"
    return guard


requires_agent = _require("agent")
requires_supervisor = _require("supervisor")
requires_admin = _require("admin")
