"""Staff accounts: argon2 password hashes, roles agent < supervisor < admin."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.db.models import StaffUser

ROLES = ("agent", "supervisor", "admin")
_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps timing the same for both cases.
_DUMMY_HASH = _hasher.hash("not a real password")


class UserError(ValueError):
    pass


def role_at_least(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def add_user(
    session: Session, username: str, password: str, role: str = "agent", display_name: str = ""
) -> StaffUser:
    username = username.strip()
    if not username:
        raise UserError("username is empty")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise UserError("password must have at least 8 characters")
    if session.scalar(select(StaffUser).where(StaffUser.username == username)):
        raise UserError(f"user {username!r} exists already")
    user = StaffUser(
        username=username,
        password_hash=_hasher.hash(password),
        role=role,
        display_name=display_name or username,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    # No stored name holds NUL, and PostgreSQL refuses it in a query: treat it as unknown.
    name = username.strip()
    user = (
        None
        if "\x00" in name
        else session.scalar(select(StaffUser).where(StaffUser.username == name))
    )
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user
