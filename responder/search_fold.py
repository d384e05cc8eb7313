"""The folding that lets "sean o briain" find "Seán Ó Briain": what search stores and what it
looks for both go through `fold`, so neither capitals nor accents stand between what staff type
and what a customer wrote.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import accumulate
from typing import Any

from sqlalchemy import func

#: The SQL name of `fold` on both databases: SQLite calls this module's function
#: (`responder.db.session`), PostgreSQL runs the same steps in SQL (migrations web_0021 and
#: web_0022); a test holds the two to the same answers.
FOLD_FUNCTION = "search_fold"
#: The combining diacritical marks: the accents of Latin, Greek and Cyrillic letters once
#: decomposed. Only these go, so the SQL twin can name the same range.
_ACCENTS = re.compile("[\u0300-\u036f]")
#: Latin letters that are a letter of their own to Unicode, not a base letter and an accent, but
#: that a person without the keyboard writes as the plain letters: "soren" for "Søren", "lodz"
#: for "Łódź", "strasse" for "Straße". Both cases, so SQL need not rely on its lower() for them.
#: The SQL twin (migration web_0022) spells the same table.
LETTERS = {
    "Ø": "o", "ø": "o", "Ł": "l", "ł": "l", "Đ": "d", "đ": "d", "Ð": "d", "ð": "d",
    "Ħ": "h", "ħ": "h", "Ŧ": "t", "ŧ": "t", "ı": "i",
    "ß": "ss", "ẞ": "ss", "Æ": "ae", "æ": "ae", "Œ": "oe", "œ": "oe", "Þ": "th", "þ": "th",
}  # fmt: skip
_LETTERS = str.maketrans(LETTERS)


def fold(text: str) -> str:
    """Compatibility-decomposed (NFKD: "ﬁ" is "fi", "Á" is "A" and an accent), the letters of
    `LETTERS` spelled plain, lower-cased, accents dropped."""
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", text).translate(_LETTERS).lower())


def folded(column: Any) -> Any:
    """`fold` in SQL, of a column or value."""
    return getattr(func, FOLD_FUNCTION)(column)


def find_folded(text: str, query: str) -> tuple[int, int] | None:
    """Where in `text` the first match of `query` lies, both folded, as a span of `text`
    itself, so a page can mark what the customer wrote ("Seán" for "sean"). None where the
    query is not there, or folding letter by letter differs from folding the whole text (a
    Greek final sigma): the caller shows no excerpt then, never a wrong one."""
    wanted = fold(query)
    if not wanted or wanted not in fold(text):  # a subject or sender match: no letter walk
        return None
    if text.isascii():
        start = text.lower().find(wanted)
        return None if start < 0 else (start, start + len(wanted))
    pieces = [fold(letter) for letter in text]
    origins = [index for index, piece in enumerate(pieces) for _ in piece]
    joined = "".join(pieces)
    bounds = {0, *accumulate(len(piece) for piece in pieces)}
    start = joined.find(wanted)
    # a letter folded to two ("ß" to "ss") is marked whole or not at all: "as" in "aßas" is
    # the last two letters, not "aß"
    while start >= 0 and not (start in bounds and start + len(wanted) in bounds):
        start = joined.find(wanted, start + 1)
    if start < 0:
        return None
    end = origins[start + len(wanted) - 1] + 1
    while end < len(text) and not pieces[end]:  # the accents of the last letter
        end += 1
    return origins[start], end
