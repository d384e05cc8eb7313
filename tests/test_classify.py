"""Classifiers as staff meet them: trained, versioned, `unknown` when unsure, corrected by agents,
and the demo emails labelled as their authors meant.
"""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy import select

from responder.bootstrap import pollers, prepare
from responder.classify.embedder import Embedder
from responder.classify.message import classification_text, shared_ngrams
from responder.classify.ngrams import SharedNgrams
from responder.classify.predict import UNKNOWN, LoadedClassifier
from responder.classify.service import train_named
from responder.classify.store import activate, active_examples, active_model
from responder.classify.training import fit_head
from responder.cli import main
from responder.config import Settings
from responder.db.models import ClassifierExample, ClassifierModel, Draft, Message, utcnow
from responder.db.session import transaction
from responder.mail.parse import parse_email
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff

TOY = {
    "billing": [
        "I was charged twice for the same month",
        "why is my bill so high this time",
        "there is a fee on my invoice I don't recognise",
        "you overcharged me again, refund please",
        "what is this 20 euro charge on my statement",
        "my bill doubled and I didn't change anything",
        "please explain the extra charges on my account",
        "the discount I was promised is missing from the bill",
        "charged for a service I never ordered",
        "my direct debit took more than my bill said",
    ],
    "roaming": [
        "does my plan work in Spain",
        "my phone has no data in France, I'm on holiday",
        "how much is roaming in the USA",
        "I'm travelling to Canada next week, what do I need",
        "can I use my minutes abroad",
        "no signal since I landed in Italy",
        "is there a travel pass for Turkey",
        "will I pay extra to use data in Germany",
        "roaming isn't working on my trip to Portugal",
        "what does it cost to call home from Greece",
    ],
    "praise": [
        "thank you so much for the quick help",
        "your agent Sarah was brilliant today",
        "great service, problem solved in minutes",
        "just wanted to say thanks for sorting it out",
        "really happy with the new plan, cheers",
        "brilliant support, much appreciated",
        "thanks for fixing my signal so fast",
        "lovely chat with your team earlier",
        "best customer service I've had in years",
        "many thanks, all working now",
    ],
}


def _write_csv(path: Path, rows: list[tuple[str, str]], header: str = "label") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", header])
        writer.writerows(rows)
    return path


def _toy_rows() -> list[tuple[str, str]]:
    return [(text, label) for label, texts in TOY.items() for text in texts]


def test_below_its_threshold_a_classifier_answers_unknown(embedder: Embedder) -> None:
    texts, labels = zip(*_toy_rows(), strict=True)
    head = fit_head(list(texts), embedder.encode(list(texts)), list(labels))
    message = ["I got charged twice on my bill this month"]
    vectors = embedder.encode(message)
    (sure,) = LoadedClassifier(1, "toy", 1, 0.0, head).predict(message, vectors)
    assert sure.label == "billing"
    assert 0 < sure.confidence <= 1
    assert abs(sum(p for _, p in sure.scores) - 1) < 1e-6, "probabilities over all labels"
    (unsure,) = LoadedClassifier(1, "toy", 1, sure.confidence + 1e-6, head).predict(
        message, vectors
    )
    assert unsure.label == UNKNOWN
    assert unsure.confidence == sure.confidence
    assert unsure.scores[0][0] == "billing", "the best guess is still shown to the reviewer"


def test_an_unsure_intent_sends_the_message_to_a_person_without_a_template(
    settings: Settings, embedder: Embedder
) -> None:
    toml = settings.path("classifiers") / "intent.toml"
    toml.write_text(toml.read_text().replace("threshold = ", "threshold = 0.999 #", 1))
    rt = prepare(settings, embedder=embedder)
    try:
        drop(rt, make_email(), "unsure")
        Worker(rt, pollers(rt)).drain()
        with rt.factory() as session:
            message = session.scalars(select(Message)).one()
            draft = session.scalars(select(Draft)).one()
        assert message.state == "in_review"
        assert message.intent == UNKNOWN
        assert message.classification["intent"]["confidence"] < 0.999
        assert message.classification["intent"]["candidates"], "the guesses stay visible"
        assert draft.body == ""
        assert "no template was guessed" in draft.error
    finally:
        rt.engine.dispose()


def test_heads_sharing_one_ngram_pass_give_what_each_gives_alone(embedder: Embedder) -> None:
    texts, labels = zip(*_toy_rows(), strict=True)
    vectors = embedder.encode(list(texts))
    topic = fit_head(list(texts), vectors, list(labels))
    happy = [label == "praise" for label in labels]
    mood = fit_head(list(texts[::2]), vectors[::2], ["happy" if h else "other" for h in happy[::2]])
    heads = {
        "topic": LoadedClassifier(1, "topic", 1, 0.0, topic),
        "mood": LoadedClassifier(2, "mood", 1, 0.0, mood),
    }
    unseen = [
        "Roaming in Spain is not working, and my bill doubled!",
        "THANKS a lot, zzzqx unseen words here",
        "",
    ]
    unseen_vectors = embedder.encode(unseen)
    ngrams = shared_ngrams(heads).counts(unseen)
    for loaded in heads.values():
        alone = loaded.head.predict_proba(unseen, unseen_vectors)
        shared = loaded.head.predict_proba(unseen, unseen_vectors, ngrams)
        assert np.allclose(alone, shared, atol=1e-6)
        alone_labels = [p.label for p in loaded.predict(unseen, unseen_vectors)]
        assert alone_labels == [p.label for p in loaded.predict(unseen, unseen_vectors, ngrams)]


_FITTED_ON = [
    "Roaming in Spain cost me 80 euro, Σ charges ΑΣ",
    "résumé of my bill: the café wifi data charge",
    "my phone has no signal\tat home\u00a0since monday",
    "cancel my contract, port-out code please",
    "I/O error on the app login... 2fa code never arrives",
]
_SOME_TEXT = st.text(
    alphabet=st.sampled_from("abcdeilnorstu éÉΣςσ İ\t\n\r\x0b\x1c\u00a0\u2028.,-/!0123"),
    max_size=60,
)


@given(texts=st.lists(_SOME_TEXT | st.text(max_size=30), min_size=1, max_size=4))
@settings(max_examples=300, deadline=None, derandomize=True)
@example(texts=["", "   ", "a"])
@example(texts=["billll lllll"])  # one n-gram several times in a word
@example(texts=[_FITTED_ON[0].upper(), "Roaming  roaming\n\nroaming"])
def test_shared_ngram_counts_are_exactly_what_each_vectorizer_gives(texts: list[str]) -> None:
    """The shared pass cuts char_wb n-grams once per distinct word; the TF-IDF features must be
    the vectorizer's own for any text (whitespace of every kind, case, accents)."""
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    fitted = [t.lower() for t in _FITTED_ON]
    chars.fit(fitted)
    words.fit(fitted)
    shared = SharedNgrams([chars, words])
    lowered = [t.lower() for t in texts]
    for repeat in range(2):  # the second pass reads the words' columns from the memo
        counts = shared.counts(texts)
        for vectorizer in (chars, words):
            alone = vectorizer.transform(lowered)
            together = counts.tfidf(vectorizer, lowered)
            assert together.shape == alone.shape
            same_terms = (together != 0) != (alone != 0)
            assert same_terms.nnz == 0, (repeat, vectorizer.analyzer)
            # The shared columns come in another order, so a norm can differ in its last bit.
            assert abs(together - alone).max() <= 1e-12, (repeat, vectorizer.analyzer)


def test_versions_are_kept_and_one_is_active(rt: Runtime, tmp_path: Path) -> None:
    examples = _write_csv(tmp_path / "toy.csv", _toy_rows(), header="category")
    folder = rt.settings.path("classifiers")
    with transaction(rt.factory) as session:
        first = train_named(session, rt.embedder, folder, "toy", examples_csv=examples).model.id
    with transaction(rt.factory) as session:
        second = train_named(session, rt.embedder, folder, "toy", examples_csv=examples).model.id
    with rt.factory() as session:
        models = session.scalars(
            select(ClassifierModel).where(ClassifierModel.name == "toy").order_by("version")
        ).all()
        assert [(m.version, m.active) for m in models] == [(1, False), (2, True)]
        assert models[1].training_set["count"] == 30
        assert models[1].training_set["rows"][0] == [
            "I was charged twice for the same month",
            "billing",
        ]
        assert models[1].metrics["holdout"]["accuracy"] > 0.5
        assert sorted(models[1].labels) == ["billing", "praise", "roaming"]
    assert rt.classifiers(["toy"])["toy"].model_id == second
    with transaction(rt.factory) as session:
        activate(session, first)
    assert rt.classifiers(["toy"])["toy"].version == 1, "the runtime follows the active version"
    with rt.factory() as session:
        assert active_model(session, "toy").id == first  # type: ignore[union-attr]


def test_agent_correction_updates_the_message_and_stores_a_candidate(
    rt: Runtime, worker: Worker
) -> None:
    drop(rt, make_email(), "to-correct")
    worker.drain()
    staff(rt)
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
        assert message.intent == "billing_dispute"
        assert set(message.classification) >= {"intent", "sentiment", "urgency", "language"}
        assert message.language == "en"
        assert message.classification["language"]["confidence"] > 0.5
    before = utcnow()
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        url = f"/api/messages/{message.id}/classification"
        wrong = client.post(url, headers=auth, json={"classifier": "intent", "label": "nonsense"})
        assert wrong.status_code == 400
        assert "not one of the intent labels" in wrong.json()["detail"]
        response = client.post(url, headers=auth, json={"classifier": "intent", "label": "roaming"})
        assert response.status_code == 201, response.text
        assert response.json()["previous"] == "billing_dispute"
        unauthenticated = client.post(url, json={"label": "roaming"})
        assert unauthenticated.status_code == 401
    after = utcnow()
    with rt.factory() as session:
        message = session.get(Message, message.id)
        assert message is not None
        assert message.intent == "roaming"
        assert message.classification["intent"]["corrected_by"] == "alice"
        example = session.scalars(
            select(ClassifierExample).where(ClassifierExample.message_id == message.id)
        ).one()
        assert (example.classifier, example.label, example.status) == (
            "intent",
            "roaming",
            "candidate",
        )
        assert example.source == "correction"
        assert example.created_by == "alice"
        assert before - timedelta(seconds=1) <= example.created_at <= after
        assert example.text == classification_text(message.subject, message.new_text)
        assert example.id not in {r.example_id for r in active_examples(session, "intent")}, (
            "a candidate is not trained on until a supervisor accepts it"
        )


def test_train_and_eval_commands_on_a_small_csv(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(settings.path("config.toml"))
    examples = _write_csv(tmp_path / "toy.csv", _toy_rows())
    assert main(["--config", config, "train", "toy", "--examples", str(examples)]) == 0
    out = capsys.readouterr().out
    assert "model: toy version 1" in out
    assert re.search(r"(?m)^holdout_accuracy: \d\.\d{4}$", out)

    data = _write_csv(
        tmp_path / "eval.csv",
        [
            ("I think you charged me two times", "billing"),
            ("my bill has a strange extra fee", "billing"),
            ("is my phone going to work in Japan", "roaming"),
            ("thanks a lot for your help today", "praise"),
            ("what time does the shop on Main Street open", "out_of_scope"),
        ],
    )
    command = ["--config", config, "eval", "toy", "--data", str(data)]
    assert main([*command, "--out-of-scope-label", "out_of_scope"]) == 0
    out = capsys.readouterr().out
    for key in ("accuracy", "macro_f1", "in_scope_accuracy", "out_of_scope_recall"):
        assert re.search(rf"(?m)^{key}: \d\.\d{{4}}$", out), key
    assert re.search(r"(?m)^in_scope_accuracy: 1\.0000$", out)
    assert "confused: unknown -> " in out, "the out-of-scope row came back as a real label"

    assert main(["--config", config, "eval", "nothing", "--data", str(data)]) == 1
    assert "run `responder train nothing`" in capsys.readouterr().err


def test_train_from_the_definition_prints_cross_validated_accuracy(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(settings.path("config.toml"))
    assert main(["--config", config, "train", "sentiment"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"(?m)^cross_validated_accuracy: 0\.[6-9]\d{3}$", out)
    assert main(["--config", config, "classify", "Thank you, the engineer fixed it!"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"(?m)^sentiment: positive \d\.\d{4}", out)
    assert re.search(r"(?m)^language: en \d\.\d{4}$", out)


@pytest.mark.parametrize("backend", ["onnx-int8", "torch"])
def test_each_demo_email_gets_the_intent_its_author_meant(
    settings: Settings, backend: str, request: pytest.FixtureRequest
) -> None:
    embedder = request.getfixturevalue("int8_embedder" if backend == "onnx-int8" else "embedder")
    rt = prepare(settings, embedder=embedder)
    try:
        wrong = _demo_intents_not_as_meant(rt)
    finally:
        rt.engine.dispose()
    assert not wrong, "\n".join(wrong)


def _demo_intents_not_as_meant(rt: Runtime) -> list[str]:
    demo = rt.settings.path("demo")
    rows = [r for r in csv.DictReader((demo / "expected.csv").open()) if r["draft"] == "yes"]
    texts = []
    for row in rows:
        parsed = parse_email((demo / "emails" / row["file"]).read_bytes())
        texts.append(classification_text(parsed.subject, parsed.new_text or parsed.text))
    intent = rt.classifiers(["intent"])["intent"]
    predictions = intent.predict(texts, rt.embedder.encode(texts))
    return [
        f"{row['file']}: {p.label} {p.confidence:.2f}, meant {row['intent']}"
        for row, p in zip(rows, predictions, strict=True)
        if p.label != row["intent"]
    ]


def test_a_definition_named_with_a_dot_or_an_accent_is_trained_from(
    rt: Runtime, tmp_path: Path
) -> None:
    """`responder train réclamation` (or `order.status`) trains from its definition file, at
    the definition's threshold, as `intent` does: a name outside plain ASCII letters is still
    a file name."""
    for name in ("réclamation", "order.status"):
        _write_csv(tmp_path / f"{name}.csv", _toy_rows())
        (tmp_path / f"{name}.toml").write_text(
            "min_examples = 5\nthreshold = 0.35\n"
            + "".join(f"[labels.{label}]\n" for label in TOY),
            encoding="utf-8",
        )
        with transaction(rt.factory) as session:
            model = train_named(session, rt.embedder, tmp_path, name).model
            assert (model.name, model.threshold) == (name, 0.35)
