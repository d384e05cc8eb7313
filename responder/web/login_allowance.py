"""The per-minute allowance of wrong passwords (`[web] login_attempts_per_minute`), kept in the
database so every web process shares it.

Each try takes its place in the count before its password is checked, one try at a time per
key: checking first and recording the failure afterwards let a burst of parallel guesses all
pass the check before any of them was counted. A right password gives its place back.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from responder.db.models import LoginAttempt, utcnow
from responder.db.session import transaction

WINDOW = timedelta(minutes=1)


def _lock_number(key: str) -> int:
    """A signed 64-bit number for PostgreSQL's advisory lock, the same in every process."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _one_at_a_time(session: Session, key: str, at: datetime) -> LoginAttempt:
    """The try's row, written while no other try of the same key counts. PostgreSQL: an
    advisory lock on the key until the commit. SQLite: the write comes first, which takes its
    one writer's lock before anything is counted."""
    if session.get_bind().dialect.name != "sqlite":
        session.execute(select(func.pg_advisory_xact_lock(_lock_number(key))))
    attempt = LoginAttempt(key=key, at=at, success=False)
    session.add(attempt)
    session.flush()
    return attempt


def take_attempt(factory: sessionmaker[Session], key: str, per_minute: int) -> int | None:
    """The id of this try's place, counted as a wrong password until given back; None, with
    nothing recorded, when the minute's allowance is used up."""
    now = utcnow()
    with transaction(factory) as session:
        attempt = _one_at_a_time(session, key, now)
        failures = session.scalar(
            select(func.count(LoginAttempt.id)).where(
                LoginAttempt.key == key,
                LoginAttempt.at >= now - WINDOW,
                LoginAttempt.success.is_(False),
            )
        )
        if (failures or 0) > per_minute:
            session.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt.id))
            return None
        return attempt.id


def give_back(session: Session, attempt_id: int) -> None:
    """The password was right: the try no longer counts against the allowance."""
    session.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(success=True))
