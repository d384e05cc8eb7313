"""The acknowledgement's text: a sandboxed Jinja template from config, checked at start-up so
a typo stops the service with its line, not the first acknowledgement at night."""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from responder.customers.names import first_name

_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
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


def opens_words(moment: datetime, zone: str) -> str:
    """`opens` as the text gets it: "Mon 07 Dec 08:00 (Europe/Dublin)"."""
    return f"{moment.astimezone(ZoneInfo(zone)):%a %d %b %H:%M} ({zone})"


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
