"""The first name replies greet a customer by, one rule for drafts and acknowledgements (both
say "Sean", neither "Sean McCarthy" in one and "Sean" in the other)."""

from __future__ import annotations

# Words before a name that are not a first name: "Hello Dr.," or "Hello Mr," greets nobody.
TITLES = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "herr", "frau", "fr", "hr"}
    | {"mme", "mlle", "m", "sr", "sra", "srta", "dott"}
)
# What may follow a comma after a name ("Sean McCarthy, Jr.", "Acme, Inc."): not "Last, First".
SUFFIXES = frozenset(
    {"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"}
    | {"inc", "ltd", "llc", "plc", "gmbh", "co", "corp", "sa", "bv", "ag", "teo"}
)


def _word(text: str) -> str:
    return text.strip(" .").lower()


def first_name(name: str) -> str:
    """The name's first word; none for a name that is an address (a provisional customer is
    named after their email) or a handle. Mail programs send "Murphy, Aoife" (surname first,
    as Outlook and Exchange write it) and titles ("Dr. Anna Schmidt"): the greeting takes the
    first name from those, and none when only a title and a surname are left ("Mr Smith")."""
    if "@" in name:
        return ""
    before, comma, after = name.partition(",")
    surname_first = (
        bool(comma)
        and len(before.split()) == 1
        and bool(after.split())
        and "," not in after
        and _word(after.split()[0]) not in SUFFIXES
    )
    words = (after if surname_first else before).split()
    titled = bool(words) and _word(words[0]) in TITLES
    while words and _word(words[0]) in TITLES:
        words = words[1:]
    if titled and not surname_first and len(words) < 2:
        return ""
    return words[0] if words else ""
