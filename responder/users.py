"""Staff accounts: argon2 password hashes, roles agent < supervisor < admin."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import astuple, dataclass

from argon2 import Parameters, PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from responder.db.models import EndedSession, Message, StaffSession, StaffUser, utcnow
from responder.pipeline.states import AWAITING_REVIEW

ROLES = ("agent", "supervisor", "admin")
# Why an account's sessions were ended, kept per token for the login page to say.
PASSWORD_CHANGED, PASSWORD_RESET, DEACTIVATED = "password_changed", "password_reset", "deactivated"
MIN_PASSWORD = 8
# argon2 hashes any length; a cap keeps a megabyte "password" from costing a hash of it.
MAX_PASSWORD = 1000
_hasher = PasswordHasher()
DUMMY_PASSWORD = "not a real password"
#: Seconds a process keeps the unknown-name check's cost before looking at the stored hashes
#: again, for the passwords other processes hashed anew meanwhile.
DUMMY_REFRESH_SECONDS = 300


@dataclass(frozen=True)
class _Dummy:
    """What a sign-in with an unknown name is checked against, so it takes as long as one with
    a known name: a hash at the cost most stored passwords have. That is not always the
    process's cost: after a cost change each password keeps the old one until its holder
    signs in, and a check at the new cost would tell which names exist meanwhile."""

    hash: str
    parameters: tuple[object, ...]
    made_at: float


_dummy: _Dummy | None = None


def use_hash_cost(time_cost: int, memory_kib: int) -> None:
    """The process's argon2 cost, from its settings, at start-up; hashes made at another cost
    still verify, and `authenticate` makes them again at this one."""
    global _hasher, _dummy
    _dummy = None  # worked out from the stored hashes at the first sign-in
    if (_hasher.time_cost, _hasher.memory_cost) == (time_cost, memory_kib):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def _new_hash(password: str) -> str:
    """A password hashed at the process's cost: the stored costs may change with it, so the
    unknown-name check's is worked out again at the next sign-in."""
    global _dummy
    _dummy = None
    return _hasher.hash(password)


def _stored_cost(session: Session) -> Parameters | None:
    """The parameters most stored password hashes have (the first account's among equals)."""
    counts: Counter[tuple[object, ...]] = Counter()
    found: dict[tuple[object, ...], Parameters] = {}
    for stored in session.scalars(select(StaffUser.password_hash).order_by(StaffUser.id)):
        try:
            parameters = extract_parameters(stored)
        except InvalidHashError:
            continue
        key = astuple(parameters)
        counts[key] += 1
        found.setdefault(key, parameters)
    return found[counts.most_common(1)[0][0]] if counts else None


def _dummy_hash(session: Session) -> str:
    """The unknown-name check's hash, looked at again after a hash was made here or once
    DUMMY_REFRESH_SECONDS have passed (not per sign-in: that reads every account)."""
    global _dummy
    dummy = _dummy
    if dummy is not None and time.monotonic() - dummy.made_at < DUMMY_REFRESH_SECONDS:
        return dummy.hash
    parameters = _stored_cost(session)
    if parameters is None:  # no account yet: the process's cost
        made = _hasher.hash(DUMMY_PASSWORD)
    elif dummy is not None and astuple(parameters) == dummy.parameters:
        made = dummy.hash
    else:
        made = PasswordHasher.from_parameters(parameters).hash(DUMMY_PASSWORD)
    _dummy = _Dummy(made, astuple(extract_parameters(made)), time.monotonic())
    return made


class UserError(ValueError):
    status_code = 422


class WrongCurrentPassword(UserError):
    """Counted against the holder like a failed login: a left-open session must not become a
    way to guess the password without limit."""


class UnknownUser(UserError):
    status_code = 404


SWITCHED_OFF = "Your account is switched off: ask an administrator to switch it on again."


class AccountSwitchedOff(UserError):
    """The right password for a deactivated account: said only once the password checked out,
    so it tells nothing to someone guessing."""

    status_code = 403

    def __init__(self) -> None:
        super().__init__(SWITCHED_OFF)


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
    if len(username) > 100 or any(c.isspace() or not c.isprintable() for c in username):
        raise UserError("username must be at most 100 characters, without spaces")
    check_password(password, username)
    name = _cleaned_name(display_name)
    if len(name) > MAX_DISPLAY_NAME:
        raise UserError(f"the name must be at most {MAX_DISPLAY_NAME} characters")
    if session.scalar(select(StaffUser).where(func.lower(StaffUser.username) == username.lower())):
        raise UserError(f"user {username!r} exists already")
    user = StaffUser(
        username=username,
        password_hash=_new_hash(password),
        role=role,
        display_name=name or username,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The account for these credentials, or None; AccountSwitchedOff when they are right but
    the account is deactivated. The name is matched whatever its case, as `add_user` keeps
    names apart (an exact match first, for two accounts made before it did)."""
    # No stored name holds NUL, and PostgreSQL refuses it in a query: treat it as unknown.
    name = username.strip()
    user = (
        None
        if "\x00" in name
        else session.scalar(
            select(StaffUser)
            .where(func.lower(StaffUser.username) == name.lower())
            .order_by((StaffUser.username == name).desc(), StaffUser.id)
            .limit(1)
        )
    )
    dummy = _dummy_hash(session)  # whoever signs in: its upkeep tells nothing of the name
    try:
        _hasher.verify(user.password_hash if user else dummy, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if not user.active:
        raise AccountSwitchedOff
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _new_hash(password)
    return user


def check_password(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"password must have at most {MAX_PASSWORD} characters")
    if password.strip().lower() == username.strip().lower():
        raise UserError("password must not be the username")


def list_users(session: Session) -> list[tuple[StaffUser, int]]:
    """Every account with how many sessions and API tokens it has open, active ones first
    (an expired one is not open: nothing deletes it until its owner signs out)."""
    open_sessions = (
        select(StaffSession.user_id, func.count(StaffSession.id).label("n"))
        .where(StaffSession.expires_at >= utcnow())
        .group_by(StaffSession.user_id)
        .subquery()
    )
    rows = session.execute(
        select(StaffUser, func.coalesce(open_sessions.c.n, 0))
        .outerjoin(open_sessions, open_sessions.c.user_id == StaffUser.id)
        .order_by(StaffUser.active.desc(), StaffUser.username)
    ).all()
    return [(user, int(count)) for user, count in rows]


def get_user(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise UnknownUser(f"no staff account with id {user_id}")
    return user


def _refuse_losing_last_admin(session: Session, user: StaffUser, what: str) -> None:
    """Someone must always be able to manage accounts from the web."""
    if user.role != "admin" or not user.active:
        return
    others = session.scalar(
        select(func.count(StaffUser.id)).where(
            StaffUser.role == "admin", StaffUser.active.is_(True), StaffUser.id != user.id
        )
    )
    if not others:
        raise UserError(
            f"{user.username} is the last active admin: make another admin before {what}"
        )


def end_sessions(
    session: Session, user_id: int, keep_token_hash: str | None = None, reason: str = ""
) -> int:
    """Signs the account out everywhere (cookies and API tokens), but for the one kept; with a
    `reason`, each ended token remembers it until it would have expired."""
    ending = StaffSession.user_id == user_id
    if keep_token_hash is not None:
        ending = ending & (StaffSession.token_hash != keep_token_hash)
    if reason:
        now = utcnow()
        session.execute(delete(EndedSession).where(EndedSession.expires_at < now))
        session.execute(
            insert(EndedSession).from_select(
                ["token_hash", "reason", "ended_at", "expires_at"],
                select(
                    StaffSession.token_hash,
                    literal(reason),
                    literal(now, EndedSession.ended_at.type),
                    StaffSession.expires_at,
                ).where(ending, StaffSession.token_hash.not_in(select(EndedSession.token_hash))),
            )
        )
    return session.execute(delete(StaffSession).where(ending)).rowcount or 0


def ended_reason(session: Session, token_hash: str) -> str:
    """Why this token's session was ended for its holder, or "" (expired, logged out, unknown)."""
    reason = session.scalar(
        select(EndedSession.reason).where(
            EndedSession.token_hash == token_hash, EndedSession.expires_at >= utcnow()
        )
    )
    return reason or ""


def set_role(session: Session, user_id: int, role: str) -> StaffUser:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    user = get_user(session, user_id)
    if role != "admin":
        _refuse_losing_last_admin(session, user, "taking the admin role away")
    user.role = role
    return user


def set_active(session: Session, user_id: int, active: bool) -> int:
    """A deactivated account keeps its name in the audit log, and can log in again only when
    reactivated; the drafts assigned to it go back to the shared queue, so none waits for
    someone who has left (their versions stay, as `review.assign` leaves them: a page open on
    one still acts on it). Returns how many went back."""
    user = get_user(session, user_id)
    released = 0
    if not active and user.active:
        _refuse_losing_last_admin(session, user, "deactivating this account")
        end_sessions(session, user.id, reason=DEACTIVATED)
        released = (
            session.execute(
                update(Message)
                .where(Message.assignee_id == user.id, Message.state.in_(AWAITING_REVIEW))
                .values(assignee_id=None)
                .execution_options(synchronize_session=False)
            ).rowcount
            or 0
        )
    user.active = active
    return released


#: The column's length; a longer name is refused, not cut.
MAX_DISPLAY_NAME = 200


def _cleaned_name(name: str) -> str:
    """One space between words, no NUL (PostgreSQL text refuses it): on adding and renaming."""
    return " ".join(name.replace("\x00", "").split())


def set_display_name(session: Session, user_id: int, name: str) -> StaffUser:
    """The name colleagues see in the menu, the audit log and assignments' history."""
    cleaned = _cleaned_name(name)
    if not cleaned:
        raise UserError("the name is empty")
    if len(cleaned) > MAX_DISPLAY_NAME:
        raise UserError(f"the name must be at most {MAX_DISPLAY_NAME} characters")
    user = get_user(session, user_id)
    user.display_name = cleaned
    return user


def reset_password(session: Session, user_id: int, password: str) -> StaffUser:
    """An admin's reset: the old password and every open session stop working."""
    user = get_user(session, user_id)
    check_password(password, user.username)
    user.password_hash = _new_hash(password)
    end_sessions(session, user.id, reason=PASSWORD_RESET)
    return user


def change_own_password(
    session: Session, user_id: int, current: str, new: str, keep_token_hash: str
) -> StaffUser:
    """The holder's change: proves the current password; the session making the change stays,
    every other one (a forgotten browser, an old API token) ends."""
    user = get_user(session, user_id)
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise WrongCurrentPassword("the current password is wrong") from None
    if new == current:
        raise UserError("the new password is the same as the current one")
    check_password(new, user.username)
    user.password_hash = _new_hash(new)
    end_sessions(session, user.id, keep_token_hash, reason=PASSWORD_CHANGED)
    return user
