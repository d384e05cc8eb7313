"""Entities in a customer's message: spaCy NER for people, places, dates and money, plus
telecom ones.

An EntityRuler placed before the statistical NER tags plan names, competitor names and amounts
with a currency (its spans win over the model's guesses); phone numbers are found and validated
by `phonenumbers`; invoice, order and account numbers, which spaCy's tokenizer splits on their
hyphens, are matched on the text with the demo operator's formats. Templates get plain lists
of display strings under stable keys (EMPTY_ENTITIES), so a template can rely on every key.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from responder.customers.identity import phone_numbers_in
from responder.drafting.german_places import german_places

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

ENTITY_KEYS = (
    "invoice_numbers",
    "amounts",
    "phone_numbers",
    "competitors",
    "plans",
    "order_numbers",
    "account_numbers",
    "people",
    "places",
    "dates",
)
EMPTY_ENTITIES: dict[str, list[str]] = {key: [] for key in ENTITY_KEYS}

# What the NER keeps: the statistical model needs only its token vectors and the recogniser.
NOT_NEEDED = ["tagger", "parser", "attribute_ruler", "lemmatizer"]
SHARED_TOK2VEC = "tok2vec"
CURRENCY_WORDS = {"eur": "EUR", "€": "EUR", "euro": "EUR", "euros": "EUR", "gbp": "GBP",
                  "£": "GBP", "usd": "USD", "$": "USD"}  # fmt: skip
INVOICE = re.compile(r"\bINV-\d{4}(?:-\d{2})?-\d{3,8}\b", re.IGNORECASE)
ORDER = re.compile(r"\bNW-\d{6}\b", re.IGNORECASE)
ACCOUNT = re.compile(
    r"\b(?:account|acct)\s*(?:number|no\.?|#)?\s*(?:is|:)?\s*((?:NWA-)?\d{6,10})\b", re.IGNORECASE
)


def normalise_amount(number: str, currency: str) -> str | None:
    """`84,20` or `1.200,50` or `38,412.50` -> `EUR 84.20`; the last separator followed by
    one or two digits is the decimal mark, any other is a thousands separator."""
    cleaned = number.strip().rstrip(".,")
    match = re.fullmatch(r"(\d[\d.,]*?)(?:[.,](\d{1,2}))?", cleaned)
    if not match:
        return None
    whole = re.sub(r"[.,]", "", match.group(1))
    cents = (match.group(2) or "").ljust(2, "0")
    try:
        value = float(f"{whole}.{cents}" if cents else whole)
    except ValueError:
        return None
    return f"{currency} {value:,.2f}"


def drop_unheard_tok2vec(nlp: Language) -> None:
    """The small English pipelines' NER embeds its own tok2vec; the shared one feeds only the
    tagger and parser, so with those excluded it is a quarter to a third of the parse time for
    nothing.
    A pipeline whose NER listens to it (a transformer or a custom one) keeps it."""
    shared = nlp.get_pipe(SHARED_TOK2VEC) if SHARED_TOK2VEC in nlp.pipe_names else None
    if shared is not None and not shared.listening_components:  # type: ignore[attr-defined]
        nlp.remove_pipe(SHARED_TOK2VEC)


def _amount_patterns() -> list[dict[str, Any]]:
    words = sorted(CURRENCY_WORDS)
    return [
        {"label": "AMOUNT", "pattern": [{"LOWER": {"IN": words}}, {"LIKE_NUM": True}]},
        {"label": "AMOUNT", "pattern": [{"LIKE_NUM": True}, {"LOWER": {"IN": words}}]},
    ]


#: Where the customer is or is going: towns, districts, countries, streets and buildings (an
#: outage's area, a roaming destination).
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
#: Entities only the statistical model finds (the rest come from rules, patterns and
#: `phonenumbers`, which read any language).
MODEL_LABELS = frozenset({"PERSON", "DATE"}) | PLACE_LABELS


@dataclass(frozen=True)
class _Pipeline:
    nlp: Language
    #: nlp.pipe is not safe to run from two threads at once.
    lock: threading.Lock = field(default_factory=threading.Lock)


_PIPELINES: dict[tuple[str, tuple[str, ...], tuple[str, ...]], _Pipeline] = {}
_PIPELINES_LOCK = threading.Lock()


def _pipeline(model: str, plans: tuple[str, ...], competitors: tuple[str, ...]) -> _Pipeline:
    """One loaded pipeline per model and word lists in a process: every runtime a process
    makes (a web app and its worker, or one per test) shares it instead of loading its own
    hundred thousand objects, which the garbage collector would then walk for as long as
    they live."""
    key = (model, plans, competitors)
    with _PIPELINES_LOCK:
        if key not in _PIPELINES:
            _PIPELINES[key] = _Pipeline(_load(model, plans, competitors))
        return _PIPELINES[key]


def _load(model: str, plans: Sequence[str], competitors: Sequence[str]) -> Language:
    import spacy

    nlp = spacy.load(model, exclude=NOT_NEEDED)
    drop_unheard_tok2vec(nlp)
    ruler = nlp.add_pipe("entity_ruler", before="ner", config={"phrase_matcher_attr": "LOWER"})
    patterns = [{"label": "PLAN", "pattern": p} for p in plans]
    patterns += [{"label": "COMPETITOR", "pattern": c} for c in competitors]
    ruler.add_patterns(patterns + _amount_patterns())  # type: ignore[attr-defined]
    return nlp


class EntityExtractor:
    """Loads the spaCy pipeline once, on first use; `extract_many` batches with nlp.pipe."""

    def __init__(
        self,
        model: str,
        *,
        plans: Sequence[str],
        competitors: Sequence[str],
        phone_region: str = "IE",
        batch_size: int = 32,
    ) -> None:
        self.model = model
        self.plans = tuple(plans)
        self.competitors = tuple(competitors)
        self.phone_region = phone_region
        self.batch_size = batch_size

    @cached_property
    def _pipeline(self) -> _Pipeline:
        return _pipeline(self.model, self.plans, self.competitors)

    @property
    def nlp(self) -> Language:
        return self._pipeline.nlp

    @property
    def loaded(self) -> bool:
        return "_pipeline" in self.__dict__

    def extract(self, text: str, language: str | None = None) -> dict[str, list[str]]:
        return self.extract_many([text], [language])[0]

    def extract_many(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[dict[str, list[str]]]:
        """`languages`: each text's detected language, where known. The statistical model
        reads English: in another language it takes phrases ("Kein Netz", "das Handy") for
        names and dates, so there only the rules and patterns are trusted; German mail's
        `places` are the countries it names (`german_places`)."""
        known = languages or [None] * len(texts)
        results: list[dict[str, list[str]]] = []
        for doc, text, language in zip(self.docs(texts), texts, known, strict=True):
            trust_model = language in (None, self.nlp.lang)
            found = self._from_doc(doc, text, trust_model=trust_model)
            if not trust_model and language == "de":
                found["places"] = _unique(german_places(text))
            results.append(found)
        return results

    def docs(self, texts: Sequence[str]) -> list[Doc]:
        """Parsed in order of length, returned in the given order: the NER steps a batch's
        texts together, so texts of like length waste fewer steps (3-7% on emails)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self._pipeline.lock:
            parsed = self.nlp.pipe([texts[i] for i in order], batch_size=self.batch_size)
            by_position = dict(zip(order, parsed, strict=True))
        return [by_position[i] for i in range(len(texts))]

    def _from_doc(self, doc: Doc, text: str, *, trust_model: bool = True) -> dict[str, list[str]]:
        """`text` is the doc's own text: spaCy rebuilds `doc.text` from every token."""
        found: dict[str, list[str]] = {key: [] for key in ENTITY_KEYS}
        canonical_plans = {p.lower(): p for p in self.plans}
        canonical_competitors = {c.lower(): c for c in self.competitors}
        for ent in doc.ents:
            label, span = ent.label_, ent.text.strip()
            if label == "PLAN":
                found["plans"].append(canonical_plans.get(span.lower(), span))
            elif label == "COMPETITOR":
                found["competitors"].append(canonical_competitors.get(span.lower(), span))
            elif label in ("AMOUNT", "MONEY"):
                amount = _amount_from_span(span)
                if amount:
                    found["amounts"].append(amount)
            elif label in MODEL_LABELS and not trust_model:
                continue
            elif label == "PERSON":
                name = _without_salutation(span.splitlines()[0].strip())
                if name and not _used_as_a_common_word(name, text):
                    found["people"].append(name)
            elif label in PLACE_LABELS:
                found["places"].append(" ".join(span.split()))  # a span over a line break
            elif label == "DATE" and not span.isdigit():
                found["dates"].append(span)
        found["invoice_numbers"] = [m.group(0).upper() for m in INVOICE.finditer(text)]
        found["order_numbers"] = [m.group(0).upper() for m in ORDER.finditer(text)]
        found["account_numbers"] = [m.group(1).upper() for m in ACCOUNT.finditer(text)]
        found["phone_numbers"] = phone_numbers_in(text, self.phone_region)
        return {key: _unique(values) for key, values in found.items()}


#: Greetings and sign-offs the small NER model reads as names ("Cheers," above "Sean").
SALUTATIONS = (
    "best regards", "best wishes", "kind regards", "warm regards", "many thanks", "thank you",
    "yours sincerely", "yours faithfully", "cheers", "thanks", "regards", "best", "sincerely",
    "yours", "hello", "hiya", "hey", "dear", "hi", "thx", "ta",
)  # fmt: skip


def _without_salutation(name: str) -> str:
    """ "Cheers" is no one, "Cheers Sean" is Sean: a greeting or sign-off leading a span goes."""
    lowered = name.lower()
    for word in SALUTATIONS:
        if lowered == word or lowered.startswith(f"{word} ") or lowered.startswith(f"{word},"):
            return name[len(word) :].lstrip(" ,")
    return name


def _used_as_a_common_word(name: str, text: str) -> bool:
    """The small NER model takes a capitalised "Bill" (a subject, a sentence's start) for a
    person; a one-word name the writer also uses in lower case elsewhere is that word."""
    return " " not in name and re.search(rf"\b{re.escape(name.lower())}\b", text) is not None


def _amount_from_span(text: str) -> str | None:
    """An amount only when the span names a currency: a bare MONEY guess like `84.20` is not."""
    lowered = text.lower()
    currency = next(
        (code for word, code in CURRENCY_WORDS.items() if re.search(
            rf"(?<![a-z]){re.escape(word)}(?![a-z])", lowered)),
        None,
    )  # fmt: skip
    number = re.search(r"\d[\d.,]*", text)
    if currency is None or number is None:
        return None
    return normalise_amount(number.group(0), currency)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))
