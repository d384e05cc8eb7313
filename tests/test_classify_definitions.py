"""A supervisor's broken definition file is refused with the file, the line and the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from responder.classify.definitions import DefinitionError, load_definition
from responder.classify.titles import LabelTitles
from responder.supervisor.template_names import title_of_key
from tests.conftest import ROOT


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("sentiment.toml", "sentiment.csv"):
        shutil.copy(ROOT / "classifiers" / name, tmp_path / name)
    return tmp_path


def _append(path: Path, text: str) -> int:
    """Appends text; returns the line number the text starts on."""
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines) + "\n" + text, encoding="utf-8")
    return len(lines) + 1


def test_the_shipped_definitions_load() -> None:
    for name in ("intent", "sentiment", "urgency"):
        definition = load_definition(ROOT / "classifiers", name)
        assert len(definition.labels) >= 3
        assert len(definition.examples) >= definition.min_examples * len(definition.labels)


def test_unknown_label_names_file_and_line(folder: Path) -> None:
    line = _append(folder / "sentiment.csv", "my bill is wrong,angry\n")
    with pytest.raises(DefinitionError) as caught:
        load_definition(folder, "sentiment")
    assert str(caught.value) == f"{folder / 'sentiment.csv'}:{line}: unknown label 'angry'"


def test_bad_csv_names_the_line_where_the_record_starts(folder: Path) -> None:
    line = _append(folder / "sentiment.csv", '"no closing quote, negative\nthanks,positive\n')
    with pytest.raises(DefinitionError) as caught:
        load_definition(folder, "sentiment")
    assert caught.value.path == folder / "sentiment.csv"
    assert caught.value.line == line
    assert "bad CSV" in caught.value.problem


def test_missing_column_names_the_line(folder: Path) -> None:
    line = _append(folder / "sentiment.csv", "just some text without a label\n")
    with pytest.raises(DefinitionError, match=rf"sentiment.csv:{line}: expected 2 columns, got 1"):
        load_definition(folder, "sentiment")


def test_too_few_examples_names_the_label(folder: Path) -> None:
    csv = folder / "sentiment.csv"
    kept = [row for row in csv.read_text().splitlines() if not row.endswith(",positive")]
    csv.write_text("\n".join([*kept, "thanks a million,positive"]) + "\n")
    with pytest.raises(DefinitionError) as caught:
        load_definition(folder, "sentiment")
    assert caught.value.path == csv
    assert "too few examples (at least 25): positive has 1" in caught.value.problem


def test_bad_toml_names_the_line(folder: Path) -> None:
    toml = folder / "sentiment.toml"
    line = _append(toml, "threshold = = 0.3\n")
    with pytest.raises(DefinitionError) as caught:
        load_definition(folder, "sentiment")
    assert caught.value.path == toml
    assert caught.value.line == line


def test_threshold_out_of_range_is_refused(folder: Path) -> None:
    toml = folder / "sentiment.toml"
    toml.write_text(toml.read_text().replace("threshold = 0.0", "threshold = 1.5"))
    with pytest.raises(DefinitionError, match="threshold must be a number between 0 and 1"):
        load_definition(folder, "sentiment")


def test_every_shipped_intent_has_a_title_and_pages_read_labels_in_words() -> None:
    definition = load_definition(ROOT / "classifiers", "intent")
    assert set(definition.titles) == set(definition.labels)
    titles = LabelTitles.from_folder(ROOT / "classifiers")
    assert titles("billing_dispute") == "Billing dispute"
    assert titles("slow_data_coverage") == "Slow data and coverage"
    assert titles("port_out", "intent") == "Port-out to a competitor"
    # a label no definition titles (a CSV-trained classifier's) reads as its code in words
    assert titles("late_refund") == "Late refund"
    assert titles("negative", "sentiment") == "Negative"
    assert titles("unknown") == titles(None) == "Not classified"
    # a template is named by its intent's title; an intent no definition has, in words
    assert title_of_key("intents/outage.de.j2", titles) == "Service outage — German"
    assert title_of_key("intents/port_out.en.empathetic.j2", titles) == (
        "Port-out to a competitor, empathetic tone — English"
    )
    assert title_of_key("intents/other.en.j2", titles) == "Other — English"


def test_a_title_that_is_not_words_names_the_file_and_line(folder: Path) -> None:
    toml = folder / "sentiment.toml"
    text = toml.read_text().replace("[labels.neutral]\n", "[labels.neutral]\ntitle = 3\n")
    toml.write_text(text)
    line = text.splitlines().index("title = 3") + 1
    with pytest.raises(DefinitionError) as caught:
        load_definition(folder, "sentiment")
    assert str(caught.value) == (
        f"{toml}:{line}: the title of label 'neutral' must be words in quotes"
    )


def test_a_titled_label_loads_and_other_keys_under_a_label_are_still_accepted(
    folder: Path,
) -> None:
    toml = folder / "sentiment.toml"
    toml.write_text(
        toml.read_text().replace(
            "[labels.negative]\n", '[labels.negative]\ntitle = "Unhappy"\ncolour = "red"\n'
        )
    )
    definition = load_definition(folder, "sentiment")
    assert definition.titles == {"negative": "Unhappy"}
    assert LabelTitles.from_folder(folder)("negative", "sentiment") == "Unhappy"
