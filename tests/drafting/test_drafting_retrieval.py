"""Snippet retrieval on the labelled demo emails, and the per-version embedding cache."""

from __future__ import annotations

from sqlalchemy import select

from responder.db.models import Snippet
from responder.db.session import transaction
from responder.knowledge.labelled import evaluate_retrieval, load_labelled
from responder.runtime import Runtime


def test_the_labelled_snippet_ranks_first_for_every_demo_email(
    rt: Runtime, demo_customers: None
) -> None:
    cases = load_labelled(rt.settings.path("demo"))
    assert len(cases) >= 45
    outcomes = evaluate_retrieval(rt, cases, predicted_intent=False)
    misses = [
        f"{o.case.file}: want {o.case.snippet_key}, got {o.ranked_keys[:3]}"
        for o in outcomes
        if not o.hit_at(1)
    ]
    assert not misses, "\n".join(misses)


def test_plan_and_tier_filters_pick_the_offer_for_the_customer(
    rt: Runtime, demo_customers: None
) -> None:
    cases = {c.file[:2]: c for c in load_labelled(rt.settings.path("demo"))}
    best, average = cases["15"], cases["17"]  # Declan (Best tier), Chloe (Average tier)
    outcomes = evaluate_retrieval(rt, [best, average], predicted_intent=False)
    assert "retention-offer-standard" not in outcomes[0].ranked_keys
    assert "retention-offer-best" not in outcomes[1].ranked_keys


def test_snippet_vectors_are_reused_until_a_snippet_gets_a_new_version(rt: Runtime) -> None:
    with rt.factory() as session:
        first = rt.snippet_index(session)
        assert rt.snippet_index(session) is first
    with transaction(rt.factory) as session:
        old = session.scalars(select(Snippet).where(Snippet.key == "praise-thanks")).one()
        session.add(
            Snippet(
                key=old.key,
                version=2,
                title=old.title,
                intents=old.intents,
                tags=old.tags,
                language=old.language,
                body="Thank you so much for taking the time to tell us about the great service.",
            )
        )
    with rt.factory() as session:
        second = rt.snippet_index(session)
    assert second is not first
    position = [s.key for s in second.snippets].index("praise-thanks")
    assert second.snippets[position].version == 2
    assert (second.vectors[position] != first.vectors[position]).any()
