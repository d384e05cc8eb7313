"""Normalised identity values, so the same person matches across channels."""

from __future__ import annotations

import email.utils
import re
from typing import NamedTuple

import phonenumbers

_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]+")
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
PHONE_DIGITS = 7  # the fewest digits taken for a phone number by `phone_forms`
#: Seven digits or more, spaced, dashed or bracketed as numbers are written: text without such a
#: run holds no phone number `phone_forms` would look for.
_DIGIT_RUN = re.compile(rf"(?:\d[\s().\-/]{{0,2}}){{{PHONE_DIGITS},}}")


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


class WrittenPhone(NamedTuple):
    start: int
    end: int
    number: str  # E.164


def phones_written_in(text: str, region: str | None) -> list[WrittenPhone]:
    """The phone numbers a customer wrote in the text, however spaced ("0871 234 567", "+353
    (0)87 123-4567"), each with where it stands and as E.164. POSSIBLE leniency: the reserved
    fiction ranges (UK 07700 900xxx) are real-looking numbers customers write; a number must
    start like one (+, 00 or a trunk 0), so account or reference numbers are not taken for
    phone numbers."""
    if not _DIGIT_RUN.search(text):  # most mail: the matcher's regular expressions cost more
        return []
    matches = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE)
    return [
        WrittenPhone(
            match.start,
            match.end,
            phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164),
        )
        for match in matches
        if match.raw_string.lstrip("(").startswith(("+", "0"))
    ]


def phone_numbers_in(text: str, region: str | None) -> list[str]:
    """The numbers written in the text (`phones_written_in`), E.164, each once."""
    return list(dict.fromkeys(phone.number for phone in phones_written_in(text, region)))


def normalise_handle(value: str) -> str | None:
    value = (value or "").strip().lstrip("@").lower()
    return value or None


def phone_forms(query: str, region: str | None) -> list[str]:
    """A search that is a phone number as a person writes it ("087 123 4567", "+353 (87)
    123-4567") in the forms stored and written: numbers on file and WhatsApp senders are E.164
    ("+353871234567"), a customer writes it in the national form, run together or spaced as
    the country spaces it ("0871234567", "087 123 4567"), or the international one spaced.
    Empty for any other text, and for fewer digits than a number has (a fragment already
    matches as typed)."""
    if not _PHONE_LIKE.fullmatch(query) or sum(c.isdigit() for c in query) < PHONE_DIGITS:
        return []
    if _DATE_LIKE.fullmatch(query):  # "2026-12-05" is a day, not a number to ring
        return []
    compact = ("+" if query.startswith("+") else "") + "".join(filter(str.isdigit, query))
    forms = [compact]
    stored = normalise_phone(query, region)
    if stored:
        number = phonenumbers.parse(stored)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        spaced = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        forms += [stored, "".join(filter(str.isdigit, national)), national, spaced]
    return [form for form in dict.fromkeys(forms) if form != query]
