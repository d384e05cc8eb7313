"""Label codes in words for people: `billing_dispute` reads "Billing dispute" on the pages.

Codes stay what rules, filters, the API, CSV exports and URLs use; only the text people read
changes. Titles come from each definition's `title` (read once at start, no query per row); a
label without one (from a CSV-trained classifier, say) reads as its code in words.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from responder.classify.definitions import DefinitionError, definition_names, read_labels

log = logging.getLogger(__name__)

#: What a message without a label reads as, as the dashboard words mail without an intent.
NOT_CLASSIFIED = "Not classified"


def code_in_words(code: str) -> str:
    """`port_out` -> `Port out`; no label (or `unknown`) -> `Not classified`."""
    words = code.replace("_", " ").strip()
    if not words or words == "unknown":
        return NOT_CLASSIFIED
    return words[:1].upper() + words[1:]


class LabelTitles:
    """(classifier, label code) -> the label in words, from the definitions read at start."""

    def __init__(self, titles: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._titles = {name: dict(labels) for name, labels in (titles or {}).items()}

    @classmethod
    def from_folder(cls, folder: Path) -> LabelTitles:
        """A definition that does not read is left to its code in words: the pages still open,
        and training refuses the file with its line where a supervisor sees it."""
        titles: dict[str, dict[str, str]] = {}
        for name in definition_names(folder) if folder.is_dir() else []:
            try:
                titles[name] = read_labels(folder / f"{name}.toml")[2]
            except (DefinitionError, OSError, UnicodeDecodeError) as exc:
                log.warning("label titles not read: %s", exc)
        return cls(titles)

    def __call__(self, code: object, classifier: str = "intent") -> str:
        text = "" if code is None else str(code)
        return self._titles.get(classifier, {}).get(text) or code_in_words(text)
