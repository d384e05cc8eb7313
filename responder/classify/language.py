"""Language of a message, by lingua: a maintained detector that is reliable on short texts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder


@dataclass(frozen=True)
class DetectedLanguage:
    code: str  # ISO 639-1, lower case; "" when the text gives nothing to go on
    confidence: float

    def as_json(self) -> dict[str, object]:
        return {"label": self.code or "unknown", "confidence": round(self.confidence, 4)}

    def for_reply(self, min_confidence: float) -> str | None:
        """The language to answer in, or None when the guess is too weak to act on: "ok" reads
        as Polish and "still no signal" as Swedish, and such a guess would pick the reply's
        language over the customer's own."""
        return self.code if self.code and self.confidence >= min_confidence else None


def language_name(code: str) -> str:
    """`de` -> `German`, for people; an unknown code is shown as it is."""
    try:
        language = Language.from_iso_code_639_1(IsoCode639_1.from_str(code.strip().lower()))
    except ValueError:
        return code
    return language.name.capitalize()


class LanguageIdentifier:
    """Detects among the configured languages only: fewer candidates, fewer wrong guesses."""

    def __init__(self, codes: Sequence[str]) -> None:
        self.codes = tuple(codes)

    @cached_property
    def detector(self) -> LanguageDetector:
        isos = [IsoCode639_1.from_str(code.strip().lower()) for code in self.codes]
        if len(isos) < 2:
            raise ValueError("language detection needs at least two candidate languages")
        return LanguageDetectorBuilder.from_iso_codes_639_1(*isos).build()

    def detect(self, texts: Sequence[str]) -> list[DetectedLanguage]:
        found = []
        for values in self.detector.compute_language_confidence_values_in_parallel(list(texts)):
            if not values or values[0].value <= 0:
                found.append(DetectedLanguage("", 0.0))
                continue
            best = values[0]
            found.append(
                DetectedLanguage(best.language.iso_code_639_1.name.lower(), float(best.value))
            )
        return found
