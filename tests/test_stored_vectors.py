"""A starting process reads the approved snippets' vectors from the database instead of
embedding every snippet again; an edited snippet is embedded once, by whoever needs it first."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select

from responder.classify.embedder import Embedder
from responder.content import live_snippets
from responder.db.models import TextVector
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


def test_an_edited_snippet_is_embedded_once_and_the_rest_are_read(rt: Runtime) -> None:
    with rt.factory() as session:
        rt.snippet_index(session)
        target = next(s for s in live_snippets(session) if s.key == "roaming-eu-pass")
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
    assert count == len(index.snippets) + 1  # the old text's vector stays; nothing else added

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
