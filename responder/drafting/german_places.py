"""Countries named in German mail, for `places`: no German spaCy pipeline is installed, so a
PhraseMatcher on a blank German tokenizer finds the country names `countries` knows in German
(Babel's, the everyday ones, the forms after "in den" or "im")."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from responder.drafting.countries import EVERYDAY_NAMES, GERMAN_DATIVES, babel_names

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.matcher import PhraseMatcher

#: The everyday names German mail uses (the rest of EVERYDAY_NAMES are English: "the states").
GERMAN_EVERYDAY = ("USA", "Amerika", "England", "Schottland", "Wales", "Nordirland",
                   "Großbritannien", "Holland", "Hongkong")  # fmt: skip


@dataclass(frozen=True)
class _Matcher:
    nlp: Language
    matcher: PhraseMatcher
    #: The tokenizer's cache and the matcher are not safe to share between threads at once.
    lock: threading.Lock = field(default_factory=threading.Lock)


@cache
def _matcher() -> _Matcher:
    """Built once per process: some three hundred names to tokenize."""
    import spacy
    from spacy.matcher import PhraseMatcher

    nlp = spacy.blank("de")
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    names = [*babel_names("de"), *GERMAN_DATIVES]
    names += [name for name in GERMAN_EVERYDAY if name in EVERYDAY_NAMES]
    matcher.add("COUNTRY", list(nlp.tokenizer.pipe(names)))
    return _Matcher(nlp, matcher)


def german_places(text: str) -> list[str]:
    """The country names in `text` as written, in order; the longest where two overlap."""
    from spacy.util import filter_spans

    found = _matcher()
    with found.lock:
        doc = found.nlp.make_doc(text)
        spans = found.matcher(doc, as_spans=True)
    return [" ".join(span.text.split()) for span in filter_spans(spans)]
