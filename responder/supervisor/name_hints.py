"""Refusals of a misspelt name that say what was probably meant.

A supervisor who types 'roaming-cruis' wants to hear 'roaming-cruise', not read the list of every
snippet; a list is shown only when it is short enough to read.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import msgspec

#: Longer lists than this are not spelled out; the page that lists them is named instead.
LIST_AT_MOST = 12
#: Where a supervisor finds the whole list of a long vocabulary.
LISTED_ON = {"snippet": "the Templates page", "intent": "the Classifiers page"}
UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]*)`$")


#: How alike (difflib's ratio) a name must be to be offered: 'roming' and 'roaming' are 0.92;
#: 'billing-dispute-reviw' and 'billing-duplicate-charge' (0.67) are not worth saying.
ALIKE = 0.75


def close_to(value: str, known: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(value, sorted(known), n=3, cutoff=ALIKE)


def _either(names: list[str]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def hint(what: str, value: str, known: Iterable[str]) -> str:
    """'did you mean ...?' when something is close, else the short list or where it is."""
    names = sorted(known)
    near = close_to(value, names)
    if near:
        return f"did you mean {_either(near)}?"
    if len(names) <= LIST_AT_MOST:
        return f"known: {', '.join(names)}"
    counted = f"the {len(names)} {what}s"
    listed = LISTED_ON.get(what)
    return (
        f"no {what} is named like it; {counted} are listed on {listed}"
        if listed
        else (f"no {what} is named like it")
    )


def unknown_name(where: str, what: str, value: str, known: Iterable[str]) -> str:
    """unknown snippet 'roaming-cruis' in rule 3: did you mean 'roaming-cruise'?"""
    return f"unknown {what} {value!r} in {where}: {hint(what, value, known)}"


def fields_at(root: type, path: str) -> list[str]:
    """The field names of the struct that msgspec's `$.rules[2]` points into."""
    info: msgspec.inspect.Type = msgspec.inspect.type_info(root)
    for step in re.findall(r"\.(\w+)|\[\d+\]", path):
        if step and isinstance(info, msgspec.inspect.StructType):
            info = next((f.type for f in info.fields if f.name == step), info)
        elif isinstance(info, msgspec.inspect.ListType):
            info = info.item_type
    if isinstance(info, msgspec.inspect.StructType):
        return [f.name for f in info.fields]
    return []


def unknown_field(message: str, root: type, path: str) -> str:
    """msgspec's 'Object contains unknown field `snipet`' with the field meant, or the fields
    there are; any other message as it was."""
    match = UNKNOWN_FIELD.match(message)
    fields = fields_at(root, path) if match else []
    if not match or not fields:
        return message
    field = match.group(1)
    near = close_to(field, fields)
    if near:
        return f"unknown field {field!r}: did you mean {_either(near)}?"
    return f"unknown field {field!r}: the fields here are {', '.join(fields)}"
