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
#: Kingdom", "Netherlands", "Vereinigte Staaten", ...), as they are written, with the country's
#: code.
EVERYDAY_NAMES: dict[str, str] = {
    "America": "US", "the States": "US", "USA": "US", "US": "US", "U.S.": "US", "U.S.A.": "US",
    "the US": "US", "the USA": "US", "UK": "GB", "U.K.": "GB", "the UK": "GB", "Britain": "GB",
    "Great Britain": "GB", "England": "GB", "Scotland": "GB", "Wales": "GB",
    "Northern Ireland": "GB", "Holland": "NL", "the Netherlands": "NL", "Czech Republic": "CZ",
    "Turkey": "TR",
    "Amerika": "US", "Großbritannien": "GB", "Schottland": "GB", "Nordirland": "GB",
    "Hongkong": "HK",
}  # fmt: skip

#: German names as they read after "in den" or "im" ("in den Niederlanden", "im Vereinigten
#: Königreich"), with the name a sentence can use on its own.
GERMAN_DATIVES: dict[str, str] = {
    "Niederlanden": "Niederlande",
    "Vereinigten Staaten": "Vereinigte Staaten",
    "Vereinigten Königreich": "Vereinigtes Königreich",
    "Vereinigten Arabischen Emiraten": "Vereinigte Arabische Emirate",
}


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
def spellings() -> dict[str, tuple[str, str]]:
    """Every known way to name a country, lower case, with how it is written and its code (a
    German name after "in den" with the name as it reads on its own)."""
    known = {
        name.lower(): (name, code)
        for language in LANGUAGES
        for name, code in babel_names(language).items()
    }
    known.update({name.lower(): (name, code) for name, code in EVERYDAY_NAMES.items()})
    known.update({dative.lower(): known[name.lower()] for dative, name in GERMAN_DATIVES.items()})
    return known


def countries(places: Iterable[str], home: str = "") -> list[str]:
    """The places that are countries, each country once, in the order the customer first named
    them, spelt as Babel or everyday use writes them (an informal "spanien" is named back as
    "Spanien", "in den Niederlanden" as "Niederlande"); without `home` (the customer's own
    country, named in any known language: where they are going is abroad)."""
    known = spellings()
    home_code = known[home.strip().lower()][1] if home.strip().lower() in known else None
    found: dict[str, str] = {}
    for place in places:
        name, code = known.get(place.strip().lower(), ("", None))
        if code is not None and code != home_code:
            found.setdefault(code, name)
    return list(found.values())
