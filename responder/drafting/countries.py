"""Which of the places a customer names are countries (a roaming question's destinations), by
Babel's English country names and the names people use for a few of them."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from babel import Locale

#: Country names in common use that are not Babel's own (its are "United States", "United
#: Kingdom", "Netherlands", ...), lower case.
EVERYDAY_NAMES = frozenset(
    {
        "america", "the states", "usa", "us", "u.s.", "u.s.a.", "uk", "u.k.", "britain",
        "great britain", "england", "scotland", "wales", "northern ireland", "holland",
        "the netherlands", "the us", "the usa", "the uk", "czech republic", "turkey",
    }
)  # fmt: skip


@cache
def _country_names() -> frozenset[str]:
    """Babel's names and the everyday ones, lower case: built once, looked up for each draft."""
    territories = Locale.parse("en").territories
    return EVERYDAY_NAMES | {
        name.lower() for code, name in territories.items() if len(code) == 2 and code.isalpha()
    }


def countries(places: Iterable[str], home: str = "") -> list[str]:
    """The places that are countries, as the customer first wrote each, in their order;
    without `home` (the customer's own country: where they are going is abroad)."""
    found: dict[str, str] = {}
    for place in places:
        name = place.strip().lower()
        if name in _country_names() and name != home.strip().lower():
            found.setdefault(name, place.strip())
    return list(found.values())
