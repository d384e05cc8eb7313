"""The acknowledgement's text: a sandboxed Jinja template from config, checked at start-up so
a typo stops the service with its line, not the first acknowledgement at night."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, match_skeleton
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from responder.customers.names import first_name

_ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_EXAMPLE = {"name": "Aoife Murphy", "subject": "Roaming charges", "opens": "Mon 07 Dec 08:00"}


@functools.cache
def _compiled(text: str):  # type: ignore[no-untyped-def]
    return _ENVIRONMENT.from_string(text)


def render_acknowledgement(text: str, *, name: str, subject: str, opens: str) -> str:
    """`first_name` comes from `name` by the drafts' rule, so both greet "Sean" alike; `name`
    stays for texts written before it (and for a formal "Guten Tag Sean McCarthy")."""
    return (
        _compiled(text)
        .render(name=name, first_name=first_name(name), subject=subject, opens=opens)
        .strip()
        + "\n"
    )


def acknowledgement_body(text: str, *, name: str, subject: str, opens: str, signature: str) -> str:
    """What the customer reads: the text, then the sign-off the drafts end with
    (`drafting.signature`), so the team signs the same way twice."""
    return (
        render_acknowledgement(text, name=name, subject=subject, opens=opens) + f"\n{signature}\n"
    )


def opens_words(moment: datetime, zone: str, locale: str = "") -> str:
    """`opens` as the text gets it, in the text's language: "Mon 07 Dec 08:00 (Europe/Dublin)"
    without a locale or in English (as always, so English texts read the same), else the
    locale's own day and time, e.g. de_DE "Montag, 7. Dezember, 08:00 (Europe/Dublin)". The
    zone keeps its name: the opening hours are given in it."""
    local = moment.astimezone(ZoneInfo(zone))
    if not locale or re.split("[_-]", locale)[0] == "en":
        return f"{local:%a %d %b %H:%M} ({zone})"
    parsed = Locale.parse(locale)
    day = format_date(local.date(), _day_pattern(parsed), locale=parsed)
    time = format_time(local, "short", tzinfo=local.tzinfo, locale=parsed)
    return f"{parsed.datetime_formats['long'].format(time, day)} ({zone})"


def _day_pattern(locale: Locale) -> str:
    """The locale's weekday, day and month (no year, as in English), with the weekday written
    out: CLDR only has the short form ("Mo., 7. Dezember") and Babel does not widen it."""
    pattern = str(locale.datetime_skeletons[match_skeleton("MMMMEd", locale.datetime_skeletons)])
    parts = pattern.split("'")  # even parts are pattern letters, odd ones quoted literals
    return "'".join(
        re.sub("E+", "EEEE", part) if index % 2 == 0 else part for index, part in enumerate(parts)
    )


def text_locale(locales: Mapping[str, str], language: str) -> str:
    """The Babel locale `opens` is written in for `acknowledge.texts.<language>`: the drafts'
    (`drafting.locales`), else the language itself; "" for the default text (English)."""
    return (locales.get(language) or language) if language else ""


def locale_problem(locale: str) -> str:
    """Why `opens` cannot be written in `locale` ("" when it can): checked at start-up, so an
    unknown locale stops the service rather than the route stage."""
    try:
        Locale.parse(locale)
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        return f"Babel does not know the locale {locale!r} ({exc})"
    return ""


def template_problem(text: str) -> str:
    """Why the text cannot be the acknowledgement ("" when it can), with the line."""
    if not text.strip():
        return "empty"
    try:
        render_acknowledgement(text, **_EXAMPLE)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        return f"line {line}: {exc.message}" if line else str(exc.message or exc)
    return ""
