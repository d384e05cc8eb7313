"""Sandboxed template rendering: a supervisor's template can never reach Python internals.

A failing template (syntax error, missing variable, sandbox violation) raises TemplateFailure
with a message that names the template, so the draft is withheld and the error shown.

Compiling a template costs far more than rendering it, so environments are kept per template
set: `cached_environment` is keyed by the set's names and sources (and locale, currency). A
supervisor saving a new version changes a source, so the next draft, in any process, gets a
freshly compiled set; the old set ages out of the small LRU.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_time
from babel.numbers import format_currency
from jinja2 import (
    DictLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

from responder.drafting.countries import countries


class TemplateFailure(Exception):
    def __init__(self, template: str, problem: str) -> None:
        super().__init__(f"template {template!r}: {problem}")
        self.template = template
        self.problem = problem


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def money_filter(locale: str, default_currency: str) -> Callable[..., str]:
    """`{{ customer.monthly_spend | money }}` -> `€45.00` (en_IE) or `45,00 €` (de_DE)."""

    def money(value: Any, currency: str = "") -> str:
        if value is None or value == "":
            return ""
        return format_currency(float(value), currency or default_currency, locale=locale)

    return money


def date_filter(locale: str) -> Callable[..., str]:
    """`{{ customer.contract_end | date }}` -> `10 December 2026` / `10. Dezember 2026`."""

    def date_text(value: Any, style: str = "long") -> str:
        day = _day(value)
        if day is None:
            return str(value or "")
        return format_date(day, style, locale=locale)

    return date_text


def time_filter(locale: str) -> Callable[..., str]:
    """`{{ incident.expected_fix_at | time }}` -> `18:00`, in the zone the value carries (the
    team's, for incidents); a value without a time of day gives ""."""

    def time_text(value: Any, style: str = "short") -> str:
        if not isinstance(value, datetime):
            try:
                value = datetime.fromisoformat(str(value))
            except ValueError:
                return ""
        return format_time(value, style, tzinfo=value.tzinfo, locale=locale)

    return time_text


def make_environment(
    templates: Mapping[str, str], locale: str = "en_IE", currency: str = "EUR"
) -> SandboxedEnvironment:
    # Immutable: a template or snippet may read the draft's data but not change it (an
    # `entities.people.clear()` would alter what the template then sees and the grounding).
    env = ImmutableSandboxedEnvironment(
        loader=DictLoader(dict(templates)),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money_filter(locale, currency)
    env.filters["date"] = date_filter(locale)
    env.filters["time"] = time_filter(locale)
    env.filters["countries"] = countries
    return env


_ENVIRONMENTS: OrderedDict[tuple[object, ...], SandboxedEnvironment] = OrderedDict()
_ENVIRONMENTS_LOCK = threading.Lock()
CACHED_ENVIRONMENTS = 256


def cached_environment(
    templates: Mapping[str, str], locale: str = "en_IE", currency: str = "EUR"
) -> SandboxedEnvironment:
    """The environment for exactly this template set; Jinja keeps its compiled templates."""
    key = (tuple(sorted(templates.items())), locale, currency)
    with _ENVIRONMENTS_LOCK:
        env = _ENVIRONMENTS.get(key)
        if env is not None:
            _ENVIRONMENTS.move_to_end(key)
            return env
    env = make_environment(templates, locale, currency)
    with _ENVIRONMENTS_LOCK:
        _ENVIRONMENTS[key] = env
        while len(_ENVIRONMENTS) > CACHED_ENVIRONMENTS:
            _ENVIRONMENTS.popitem(last=False)
    return env


def render(env: SandboxedEnvironment, name: str, context: Mapping[str, Any]) -> str:
    try:
        text = env.get_template(name).render(**context)
    except TemplateSyntaxError as exc:
        where = exc.name or name
        raise TemplateFailure(where, f"syntax error on line {exc.lineno}: {exc.message}") from exc
    except UndefinedError as exc:
        raise TemplateFailure(name, undefined_words(str(exc))) from exc
    except (TemplateError, ValueError, TypeError, ArithmeticError, LookupError) as exc:
        # Filters and tests run supervisor-chosen arguments: their errors are template errors.
        raise TemplateFailure(name, f"{type(exc).__name__}: {exc}") from exc
    return _tidy(text)


def undefined_words(message: str) -> str:
    """Jinja's "'dict object' has no attribute 'nope'" as a supervisor reads it: which name is
    not there, and the likely cause."""
    unknown = re.fullmatch(r"'(.+)' is undefined", message)
    if unknown:
        return f"unknown name '{unknown.group(1)}': is it spelt right?"
    missing = re.fullmatch(r"'.+' (?:object )?has no attribute '(.+)'", message)
    if missing:
        return f"no value called '{missing.group(1)}': is it spelt right?"
    return f"unknown value: {message}"


def render_string(
    source: str,
    context: Mapping[str, Any],
    name: str = "<snippet>",
    locale: str = "en_IE",
    currency: str = "EUR",
) -> str:
    return render(cached_environment({name: source}, locale, currency), name, context)


def _tidy(text: str) -> str:
    """Collapse the blank-line runs that conditional blocks leave behind."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if not line and tidy and not tidy[-1]:
            continue
        tidy.append(line)
    return "\n".join(tidy) + "\n"
