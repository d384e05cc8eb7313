"""The folding that lets "sean o briain" find "Seán Ó Briain": what search stores and what it
looks for both go through `fold`, so neither capitals nor accents stand between what staff type
and what a customer wrote.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import func

#: The SQL name of `fold` on both databases: SQLite calls this module's function
#: (`responder.db.session`), PostgreSQL runs the same steps in SQL (migration web_0021); a test
#: holds the two to the same answers.
FOLD_FUNCTION = "search_fold"
#: The combining diacritical marks: the accents of Latin, Greek and Cyrillic letters once
#: decomposed. Only these go, so the SQL twin can name the same range.
_ACCENTS = re.compile("[\u0300-\u036f]")


def fold(text: str) -> str:
    """Compatibility-decomposed (NFKD: "ﬁ" is "fi", "Á" is "A" and an accent), lower-cased,
    accents dropped. Letters that are not a base letter and an accent stay ("ø", "ł", "ß")."""
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", text).lower())


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
    start = "".join(pieces).find(wanted)
    if start < 0:
        return None
    end = origins[start + len(wanted) - 1] + 1
    while end < len(text) and not pieces[end]:  # the accents of the last letter
        end += 1
    return origins[start], end
