"""Snippet vectors kept in the database (`text_vectors`), so a process that starts reads them.

Each worker and web process used to embed every live snippet as it started: seconds with the
demo's few dozen, minutes with an operator's thousands, paid again on every restart and on
every machine added. Vectors are keyed by the encoder (`Embedder.encoder_key`) and the text's
digest, so an edited snippet or another encoder misses and is embedded once, by whichever
process needs it first.

Rows nothing needs are deleted as vectors are written (`_write`): the encoder's rows for texts
no live snippet has any more (an edited or retired snippet's old text), and other encoders'
rows no process has written or read for `UNUSED_ENCODER_DAYS`. A row is never changed, only
added or deleted, and a text whose row is missing is embedded: a deletion costs a process still
working from an earlier snippet set an embedding, never a wrong vector.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from responder.classify.embedder import Embedder
from responder.db.models import TextVector, utcnow
from responder.db.session import SQLITE_BUSY_MS

log = logging.getLogger(__name__)

_CHUNK = 200  # rows per statement: well under SQLite's bound-parameter limit
#: Another encoder's rows go once no process has written or read them for this many days (a
#: deployment that changed encoders); one going back to it after that embeds its snippets once.
UNUSED_ENCODER_DAYS = 30
#: A row read is marked used again only when its mark is older than this: most starts only read.
USED_MARK_EVERY = timedelta(days=1)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def encode_stored(
    factory: sessionmaker[Session], embedder: Embedder, texts: Sequence[str]
) -> np.ndarray:
    """The vectors of `texts`, the live snippets' texts (all of them: this encoder's rows for
    any other text are deleted), read where stored and embedded (then stored) where not.

    Writing is best effort: a process that cannot write (the database refuses, or on SQLite
    another connection holds the write lock) still has the vectors it computed or read.
    """
    if not texts:
        return embedder.encode(texts)
    started = utcnow()
    key = embedder.encoder_key
    digests = [text_digest(t) for t in texts]
    live = set(digests)
    stored = _read(factory, key)
    found = {d: vector for d, (vector, _) in stored.items() if d in live}
    if len({v.size for v in found.values()}) > 1:
        found = {}  # vectors of one encoder all have its width; anything else is not trusted
    missing = list(dict.fromkeys(t for t, d in zip(texts, digests, strict=True) if d not in found))
    fresh: dict[str, np.ndarray] = {}
    if missing:
        computed = embedder.encode(missing)
        fresh = {text_digest(t): v for t, v in zip(missing, computed, strict=True)}
        found.update(fresh)
    unmarked = [d for d in found if d in stored and stored[d][1] < started - USED_MARK_EVERY]
    gone = [d for d in stored if d not in live]
    if fresh or unmarked or gone:
        _write(factory, key, fresh, sorted(unmarked), sorted(gone), started)
    return np.stack([found[d] for d in digests])


def _read(factory: sessionmaker[Session], key: str) -> dict[str, tuple[np.ndarray, datetime]]:
    """The encoder's stored rows, each vector with when it was last marked used; nothing when
    the store cannot be read (a database not yet upgraded to have it), since the vectors can
    always be computed."""
    found: dict[str, tuple[np.ndarray, datetime]] = {}
    with factory() as session:
        try:
            rows = session.execute(
                select(TextVector.text_digest, TextVector.vector, TextVector.used_at).where(
                    TextVector.encoder == key
                )
            )
            for digest, vector, used_at in rows:
                found[digest] = (np.frombuffer(vector, dtype=np.float32).copy(), used_at)
        except SQLAlchemyError as exc:
            log.info("stored snippet vectors not read (%s); embedding them", exc)
            return {}
    return found


def _write(
    factory: sessionmaker[Session],
    key: str,
    vectors: dict[str, np.ndarray],
    unmarked: list[str],
    gone: list[str],
    started: datetime,
) -> None:
    """Store `vectors`, mark the `unmarked` rows read as used, delete the `gone` texts' rows
    and other encoders' unused ones, in one transaction.

    A `gone` row written or marked since `started` is kept: a process working from an
    earlier snippet set needs it, and one working from a later set may have just stored it.

    On SQLite without waiting for the write lock: the caller may hold it in this very thread
    (a redraft inside its transaction), and waiting would only time out. What is not written
    is written by the next process that builds the index."""
    now = utcnow()
    rows = [
        {
            "encoder": key,
            "text_digest": d,
            "vector": np.asarray(v, np.float32).tobytes(),
            "created_at": now,
            "used_at": now,
        }
        for d, v in sorted(vectors.items())
    ]
    with factory() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        if sqlite:
            from sqlalchemy.dialects.sqlite import insert

            session.execute(text("PRAGMA busy_timeout = 0"))
        else:
            from sqlalchemy.dialects.postgresql import insert
        try:
            for start in range(0, len(rows), _CHUNK):
                statement = insert(TextVector).values(rows[start : start + _CHUNK])
                session.execute(statement.on_conflict_do_nothing())
            mine = TextVector.encoder == key
            for start in range(0, len(unmarked), _CHUNK):
                chunk = unmarked[start : start + _CHUNK]
                session.execute(
                    update(TextVector)
                    .where(mine, TextVector.text_digest.in_(chunk))
                    .values(used_at=now)
                    .execution_options(synchronize_session=False)
                )
            for start in range(0, len(gone), _CHUNK):
                chunk = gone[start : start + _CHUNK]
                session.execute(
                    delete(TextVector)
                    .where(mine, TextVector.text_digest.in_(chunk), TextVector.used_at < started)
                    .execution_options(synchronize_session=False)
                )
            session.execute(
                delete(TextVector)
                .where(
                    TextVector.encoder != key,
                    TextVector.used_at < now - timedelta(days=UNUSED_ENCODER_DAYS),
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            log.info(
                "%d snippet vectors not stored, %d unused ones not deleted (%s); the next "
                "process to build the index tries again",
                len(rows),
                len(gone),
                exc,
            )
        finally:
            if sqlite:
                session.execute(text(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}"))
