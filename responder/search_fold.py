"""The folding that lets "sean o briain" find "Seán Ó Briain": what search stores and what it
looks for both go through `fold`, so neither capitals nor accents stand between what staff type
and what a customer wrote.
"""

from __future__ import annotations

import re
import unicodedata

#: The SQL name of `fold` on both databases: SQLite calls this module's function
#: (`responder.db.session`), PostgreSQL runs the same steps in SQL (migration web_0021); a test
#: holds the two to the same answers.
FOLD_FUNCTION = "search_fold"
#: The combining diacritical marks: the accents of Latin, Greek and Cyrillic letters once
#: decomposed. Only these go, so the SQL twin can name the same range.
ACCENTS = "\u0300-\u036f"
_ACCENTS = re.compile(f"[{ACCENTS}]")


def fold(text: str) -> str:
    """Compatibility-decomposed (NFKD: "ﬁ" is "fi", "Á" is "A" and an accent), lower-cased,
    accents dropped. Letters that are not a base letter and an accent stay ("ø", "ł", "ß")."""
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", text).lower())
