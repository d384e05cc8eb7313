"""Snippet retrieval on the labelled demo emails: recall@1 and recall@3.

Runs the real path on a throw-away database: the demo customers are imported (plan and tier
filters apply), each email is parsed to its new text, subject + new text are embedded, and the
intent is the classifier's prediction (what the pipeline would have). `--expected-intent` uses
the labelled intent instead, to score retrieval alone. `--verbose` lists the misses.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from responder.bootstrap import prepare  # noqa: E402
from responder.config import load_settings  # noqa: E402
from responder.customers.importer import import_customers  # noqa: E402
from responder.knowledge.labelled import evaluate_retrieval, load_labelled, recall_at  # noqa: E402


def main() -> None:
    expected_intent = "--expected-intent" in sys.argv
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        for name in ("templates", "classifiers", "demo"):
            shutil.copytree(ROOT / name, project / name)
        shutil.copy(ROOT / "config.toml", project / "config.toml")
        settings = load_settings(
            project / "config.toml", environ={"RESPONDER_DATABASE__URL": "sqlite:///bench.db"}
        )
        rt = prepare(settings)
        import_customers(rt.factory, project / "demo" / "customers.csv")
        cases = load_labelled(project / "demo")
        outcomes = evaluate_retrieval(rt, cases, predicted_intent=not expected_intent)
        rt.engine.dispose()
    print(f"cases: {len(outcomes)}")
    print(f"intent: {'expected' if expected_intent else 'predicted'}")
    print(f"recall_at_1: {recall_at(outcomes, 1):.3f}")
    print(f"recall_at_3: {recall_at(outcomes, 3):.3f}")
    if "--verbose" in sys.argv:
        for o in outcomes:
            if not o.hit_at(1):
                got = ", ".join(o.ranked_keys[:3])
                print(f"miss {o.case.file} ({o.intent}): want {o.case.snippet_key}, got {got}")


if __name__ == "__main__":
    main()
