"""A starting process reads the approved snippets' vectors from the database instead of
embedding every snippet again; an edited snippet is embedded once, by whoever needs it first,
and the rows no snippet needs any more are deleted."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import func, select, update

from responder.classify.embedder import Embedder
from responder.classify.stored_vectors import UNUSED_ENCODER_DAYS, text_digest
from responder.content import live_snippets
from responder.db.models import TextVector, utcnow
from responder.db.session import transaction
from responder.runtime import Runtime
from responder.supervisor.snippet_edit import save_snippet
from tests.conftest import MODEL_CACHE


def restarted(rt: Runtime) -> Runtime:
    """Another process on the same database: its own runtime and an encoder not yet loaded."""
    return Runtime(
        rt.settings, embedder=Embedder(backend=rt.embedder.backend, cache_dir=MODEL_CACHE)
    )


def test_a_restarted_process_ranks_snippets_without_embedding_them_again(rt: Runtime) -> None:
    with rt.factory() as session:
        first = rt.snippet_index(session)
        stored = session.scalar(select(func.count()).select_from(TextVector))
        live = len(live_snippets(session))
    assert stored == live > 0

    again = restarted(rt)
    with again.factory() as session:
        index = again.snippet_index(session)
    assert not again.embedder.loaded, "the snippets were embedded again on start"
    assert [s.key for s in index.snippets] == [s.key for s in first.snippets]
    np.testing.assert_allclose(index.vectors, first.vectors, atol=1e-6)
    again.engine.dispose()


def _digests(rt: Runtime) -> set[str]:
    with rt.factory() as session:
        return set(
            session.scalars(
                select(TextVector.text_digest).where(TextVector.encoder == rt.embedder.encoder_key)
            )
        )


def test_an_edited_snippet_is_embedded_once_and_the_rest_are_read(rt: Runtime) -> None:
    """The old text's row goes as the new one is stored; the live ones stay and are read."""
    with rt.factory() as session:
        first = rt.snippet_index(session)
        target = next(s for s in live_snippets(session) if s.key == "roaming-eu-pass")
    old = next(s for s in first.snippets if s.key == "roaming-eu-pass")
    with transaction(rt.factory) as session:
        save_snippet(
            session,
            rt.settings,
            target.id,
            target.body + " Calls to the UK are included too.",
            "sue",
        )

    again = restarted(rt)
    with again.factory() as session:
        index = again.snippet_index(session)
        count = session.scalar(select(func.count()).select_from(TextVector))
    assert again.embedder.loaded, "the edited snippet's new text was never embedded"
    position = [s.key for s in index.snippets].index("roaming-eu-pass")
    fresh = rt.embedder.encode([index.snippets[position].embedding_text])[0]
    np.testing.assert_allclose(index.vectors[position], fresh, atol=1e-5)
    assert "Calls to the UK" in index.snippets[position].body
    assert count == len(index.snippets)
    assert _digests(again) == {text_digest(s.embedding_text) for s in index.snippets}
    assert text_digest(old.embedding_text) not in _digests(again), "the old text's row stays"

    third = restarted(again)
    with third.factory() as session:
        third.snippet_index(session)
    assert not third.embedder.loaded
    again.engine.dispose()
    third.engine.dispose()


def test_vectors_of_another_encoder_are_not_used(rt: Runtime) -> None:
    with rt.factory() as session:
        rt.snippet_index(session)
    other = Runtime(rt.settings, embedder=Embedder(backend="onnx-int8", cache_dir=MODEL_CACHE))
    assert other.embedder.encoder_key != rt.embedder.encoder_key
    with other.factory() as session:
        other.snippet_index(session)
        keys = set(session.scalars(select(TextVector.encoder)))
    assert other.embedder.loaded
    assert keys == {rt.embedder.encoder_key, other.embedder.encoder_key}
    other.engine.dispose()


def test_another_encoders_rows_go_once_unused_and_read_rows_stay_marked_used(rt: Runtime) -> None:
    """A deployment that changed encoders: the old encoder's rows are deleted once no process
    has used them for UNUSED_ENCODER_DAYS; this encoder's rows, only read for as long, are
    marked used as they are read and stay, and are read without embedding."""
    with rt.factory() as session:
        rt.snippet_index(session)
    now = utcnow()
    long_ago = now - timedelta(days=UNUSED_ENCODER_DAYS + 1)
    with transaction(rt.factory) as session:
        session.execute(update(TextVector).values(used_at=long_ago))
        for encoder, used_at in (("retired-encoder", long_ago), ("recent-encoder", now)):
            session.add(
                TextVector(encoder=encoder, text_digest="0" * 64, vector=b"\0" * 8, used_at=used_at)
            )

    again = restarted(rt)
    with again.factory() as session:
        again.snippet_index(session)
        encoders = set(session.scalars(select(TextVector.encoder)))
        oldest = session.scalar(select(func.min(TextVector.used_at)))
    assert not again.embedder.loaded
    assert encoders == {rt.embedder.encoder_key, "recent-encoder"}
    assert oldest > now - timedelta(minutes=5), "rows read were not marked used"
    again.engine.dispose()
