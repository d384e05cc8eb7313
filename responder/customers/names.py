"""The first name replies greet a customer by, one rule for drafts and acknowledgements (both
say "Sean", neither "Sean McCarthy" in one and "Sean" in the other)."""

from __future__ import annotations


def first_name(name: str) -> str:
    """The name's first word; none for a name that is an address (a provisional customer is
    named after their email) or a handle."""
    if "@" in name:
        return ""
    parts = name.replace(",", " ").split()
    return parts[0] if parts else ""
