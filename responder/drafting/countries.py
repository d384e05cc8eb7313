"""Which of the places a customer names are countries (a roaming question's destinations), by
Babel's English and German country names and the names people use for a few of them."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from babel import Locale

#: The languages whose country names are known: English mail's places come from spaCy's NER,
#: German mail's from `german_places` over these same names.
LANGUAGES = ("en", "de")

#: Country names in common use that are not Babel's own (its are "United States", "United
#: Kingdom", "Netherlands", "Vereinigte Staaten", ...), lower case, with the country's code.
EVERYDAY_NAMES: dict[str, str] = {
    "america": "US", "the states": "US", "usa": "US", "us": "US", "u.s.": "US", "u.s.a.": "US",
    "the us": "US", "the usa": "US", "uk": "GB", "u.k.": "GB", "the uk": "GB", "britain": "GB",
    "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "holland": "NL", "the netherlands": "NL", "czech republic": "CZ",
    "turkey": "TR",
    "amerika": "US", "großbritannien": "GB", "schottland": "GB", "nordirland": "GB",
    "hongkong": "HK",
}  # fmt: skip

#: German names as they read after "in den" or "im" ("in den Niederlanden", "im Vereinigten
#: Königreich"), with the name a sentence can use on its own.
GERMAN_DATIVES: dict[str, str] = {
    "Niederlanden": "Niederlande",
    "Vereinigten Staaten": "Vereinigte Staaten",
    "Vereinigten Königreich": "Vereinigtes Königreich",
    "Vereinigten Arabischen Emiraten": "Vereinigte Arabische Emirate",
}
_DATIVES = {dative.lower(): name for dative, name in GERMAN_DATIVES.items()}


#: Two-letter territory codes Babel names that are no place a phone roams in ("European Union",
#: "United Nations", "Unknown Region", the pseudo-locales).
NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"})


@cache
def babel_names(language: str) -> dict[str, str]:
    """Babel's country names in `language`, as Babel writes them, with each one's code."""
    territories = Locale.parse(language).territories
    return {
        name: code
        for code, name in territories.items()
        if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
    }


@cache
def country_codes() -> dict[str, str]:
    """Every known way to name a country, lower case, with its code."""
    codes = {
        name.lower(): code for language in LANGUAGES for name, code in babel_names(language).items()
    }
    codes.update(EVERYDAY_NAMES)
    codes.update({dative: codes[name.lower()] for dative, name in _DATIVES.items()})
    return codes


def countries(places: Iterable[str], home: str = "") -> list[str]:
    """The places that are countries, each once as the customer first wrote it (a German one
    after "in den" as it reads on its own), in their order; without `home` (the customer's own
    country, named in any known language: where they are going is abroad)."""
    codes = country_codes()
    home_name = home.strip().lower()
    home_code = codes.get(home_name)
    found: dict[str, str] = {}
    for place in places:
        written = _DATIVES.get(place.strip().lower(), place.strip())
        name = written.lower()
        code = codes.get(name)
        if code is None or name == home_name or (home_code is not None and code == home_code):
            continue
        found.setdefault(name, written)
    return list(found.values())
