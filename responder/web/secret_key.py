"""The key that signs CSRF tokens: RESPONDER_SECRET_KEY when set, else one made on the first
start and kept in the database, so a restart leaves the forms of pages already open working."""

from __future__ import annotations

import os
import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from responder.db.models import AppSecret

SECRET_ENV = "RESPONDER_SECRET_KEY"
CSRF = "csrf"


def csrf_secret(factory: sessionmaker[Session]) -> str:
    """The environment's key, else the stored one, made and stored when there is none yet (two
    processes starting at once both end up with the one stored first)."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    with factory() as session:
        if session.get(AppSecret, CSRF) is None:
            session.add(AppSecret(name=CSRF, value=secrets.token_hex(32)))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
    with factory() as session:
        return session.get(AppSecret, CSRF).value  # type: ignore[union-attr]
