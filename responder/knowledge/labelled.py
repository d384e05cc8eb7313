"""The labelled retrieval set: which approved snippet answers which demo email.

Shared by `bench/retrieval.py` and the retrieval tests, so both score exactly the same thing:
the email is parsed like the pipeline parses it, and its subject and new text are embedded.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from responder.mail.parse import parse_email

if TYPE_CHECKING:
    from responder.runtime import Runtime


@dataclass(frozen=True)
class LabelledEmail:
    file: str
    intent: str
    snippet_key: str
    sender: str
    subject: str
    new_text: str

    @property
    def query_text(self) -> str:
        """The text the pipeline embeds for a message (see pipeline.stages.classification_text)."""
        return f"{self.subject}\n{self.new_text}"[:4000]


def load_labelled(demo_dir: Path) -> list[LabelledEmail]:
    """Demo emails with a labelled snippet (rows without one are not retrieval cases)."""
    cases = []
    with (demo_dir / "expected.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if not row.get("snippet_id"):
                continue
            parsed = parse_email((demo_dir / "emails" / row["file"]).read_bytes())
            cases.append(
                LabelledEmail(
                    file=row["file"],
                    intent=row["intent"],
                    snippet_key=row["snippet_id"],
                    sender=parsed.sender.address if parsed.sender else "",
                    subject=parsed.subject,
                    new_text=parsed.new_text or parsed.text,
                )
            )
    return cases


@dataclass(frozen=True)
class RetrievalOutcome:
    case: LabelledEmail
    intent: str
    ranked_keys: tuple[str, ...]

    def hit_at(self, k: int) -> bool:
        return self.case.snippet_key in self.ranked_keys[:k]


def recall_at(outcomes: list[RetrievalOutcome], k: int) -> float:
    return sum(o.hit_at(k) for o in outcomes) / len(outcomes) if outcomes else 0.0


def evaluate_retrieval(
    rt: Runtime, cases: list[LabelledEmail], *, predicted_intent: bool, top_k: int = 5
) -> list[RetrievalOutcome]:
    """Rank snippets for each case exactly as the draft stage does, customer filters included."""
    from responder.customers.context import build_context, find_customer_by_email
    from responder.knowledge.retrieve import rank_snippets

    vectors = rt.embedder.encode([c.query_text for c in cases])
    outcomes = []
    with rt.factory() as session:
        index = rt.snippet_index(session)
        if predicted_intent:
            intent = rt.classifiers(["intent"])["intent"]
            predictions = intent.predict([c.query_text for c in cases], vectors)
            intents = [p.label for p in predictions]
            weights = [dict(p.scores) for p in predictions]
        else:
            intents = [c.intent for c in cases]
            weights = [{c.intent: 1.0} for c in cases]
        for case, vector, intent, weight in zip(cases, vectors, intents, weights, strict=True):
            context = build_context(find_customer_by_email(session, case.sender))
            ranked = rank_snippets(
                vector,
                index.snippets,
                index.vectors,
                intent=intent,
                intent_weights=weight,
                plan=context.plan,
                tier=context.tier,
                top_k=top_k,
                min_score=rt.settings.drafting.snippet_min_score,
            )
            keys = tuple(s.snippet.key for s in ranked)
            outcomes.append(RetrievalOutcome(case, intent, keys))
    return outcomes
