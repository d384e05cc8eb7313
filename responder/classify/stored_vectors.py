"""Snippet vectors kept in the database (`text_vectors`), so a process that starts reads them.

Each worker and web process used to embed every live snippet as it started: seconds with the
demo's few dozen, minutes with an operator's thousands, paid again on every restart and on
every machine added. Vectors are keyed by the encoder (`Embedder.encoder_key`) and the text's
digest, so an edited snippet or another encoder misses and is embedded once, by whichever
process needs it first.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from responder.classify.embedder import Embedder
from responder.db.models import TextVector
from responder.db.session import SQLITE_BUSY_MS

log = logging.getLogger(__name__)

_CHUNK = 200  # rows per statement: well under SQLite's bound-parameter limit


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def encode_stored(
    factory: sessionmaker[Session], embedder: Embedder, texts: Sequence[str]
) -> np.ndarray:
    """The texts' vectors, read where stored and embedded (then stored) where not.

    Storing is best effort: a process that cannot write them (the database refuses, another
    process stored the same ones first) still has the vectors it computed.
    """
    if not texts:
        return embedder.encode(texts)
    key = embedder.encoder_key
    digests = [text_digest(t) for t in texts]
    found = _read(factory, key, sorted(set(digests)))
    if len({v.size for v in found.values()}) > 1:
        found = {}  # vectors of one encoder all have its width; anything else is not trusted
    missing = list(dict.fromkeys(t for t, d in zip(texts, digests, strict=True) if d not in found))
    if missing:
        computed = embedder.encode(missing)
        fresh = {text_digest(t): v for t, v in zip(missing, computed, strict=True)}
        found.update(fresh)
        _store(factory, key, fresh)
    return np.stack([found[d] for d in digests])


def _read(factory: sessionmaker[Session], key: str, digests: list[str]) -> dict[str, np.ndarray]:
    """What is stored; nothing when the store cannot be read (a database not yet upgraded to
    have it), since the vectors can always be computed."""
    found: dict[str, np.ndarray] = {}
    with factory() as session:
        try:
            for start in range(0, len(digests), _CHUNK):
                rows = session.execute(
                    select(TextVector.text_digest, TextVector.vector).where(
                        TextVector.encoder == key,
                        TextVector.text_digest.in_(digests[start : start + _CHUNK]),
                    )
                )
                for digest, vector in rows:
                    found[digest] = np.frombuffer(vector, dtype=np.float32).copy()
        except SQLAlchemyError as exc:
            log.info("stored snippet vectors not read (%s); embedding them", exc)
            return {}
    return found


def _store(factory: sessionmaker[Session], key: str, vectors: dict[str, np.ndarray]) -> None:
    """On SQLite without waiting for the write lock: the caller may hold it in this very thread
    (a redraft inside its transaction), and waiting would only time out. Unstored vectors are
    embedded again by the next process that starts."""
    rows = [
        {"encoder": key, "text_digest": d, "vector": np.asarray(v, np.float32).tobytes()}
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
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            log.info(
                "%d snippet vectors not stored (%s); the next start embeds them", len(rows), exc
            )
        finally:
            if sqlite:
                session.execute(text(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}"))
