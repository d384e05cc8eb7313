"""An audit entry's detail as a supervisor reads it: "reason: Wrong customer", not a line of
JSON; a long value (a whole rule set, a template's text) folded away behind its start."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

LONG = 120
GLIMPSE = 60


class Field(NamedTuple):
    name: str
    text: str
    long: bool

    @property
    def glimpse(self) -> str:
        return self.text[:GLIMPSE].rstrip() + "…"


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value) if value else "none"
    return json.dumps(value, ensure_ascii=False)


def audit_fields(detail: Any) -> list[Field]:
    """One field per key, named in words (`draft_version` reads "draft version")."""
    if not isinstance(detail, dict):
        return [Field("detail", _text(detail), len(_text(detail)) > LONG)] if detail else []
    fields = []
    for key, value in detail.items():
        text = _text(value)
        fields.append(Field(str(key).replace("_", " "), text, len(text) > LONG))
    return fields
