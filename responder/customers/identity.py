"""Normalised identity values, so the same person matches across channels."""

from __future__ import annotations

import email.utils

import phonenumbers


def normalise_email(value: str) -> str | None:
    _, address = email.utils.parseaddr(value or "")
    address = address.strip()
    if "@" not in address:
        return None
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}".lower() if local else None


def normalise_phone(value: str, default_region: str | None = None) -> str | None:
    """E.164 (`+353871234567`), or None when the number is not valid."""
    if not value or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value.strip(), default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_handle(value: str) -> str | None:
    value = (value or "").strip().lstrip("@").lower()
    return value or None
