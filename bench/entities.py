"""Entity extraction speed on email-length texts: `words_per_second:`.

The texts are the demo emails' new text (parsed like the pipeline does), repeated to 400
messages, run through the same EntityExtractor the draft stage uses (spaCy with only the
EntityRuler and NER, which embeds its own tok2vec; nlp.pipe in batches; phone and identifier
matching included).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from responder.config import load_settings  # noqa: E402
from responder.drafting.entities import EntityExtractor  # noqa: E402
from responder.mail.parse import parse_email  # noqa: E402

MESSAGES = 400


def main() -> None:
    settings = load_settings(ROOT / "config.toml", environ={})
    texts = []
    for path in sorted((ROOT / "demo" / "emails").glob("*.eml")):
        parsed = parse_email(path.read_bytes())
        texts.append(f"{parsed.subject}\n{parsed.new_text or parsed.text}")
    batch = (texts * (MESSAGES // len(texts) + 1))[:MESSAGES]
    extractor = EntityExtractor(
        settings.models.spacy_model,
        plans=settings.drafting.plan_names,
        competitors=settings.churn.competitors,
        phone_region=settings.customers.default_region,
        batch_size=settings.models.batch_size,
    )
    started = time.perf_counter()
    extractor.extract("warm up: load the pipeline")
    load_seconds = time.perf_counter() - started
    words = sum(len(t.split()) for t in batch)
    started = time.perf_counter()
    extractor.extract_many(batch)
    seconds = time.perf_counter() - started
    print(f"messages: {len(batch)}")
    print(f"mean_words_per_message: {words / len(batch):.0f}")
    print(f"load_seconds: {load_seconds:.2f}")
    print(f"words_per_second: {words / seconds:.0f}")


if __name__ == "__main__":
    main()
