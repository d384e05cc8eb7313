"""Sandboxed template rendering: a supervisor's template can never reach Python internals.

A failing template (syntax error, missing variable, sandbox violation) raises TemplateFailure
with a message that names the template, so the draft is withheld and the error shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import DictLoader, StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment


class TemplateFailure(Exception):
    def __init__(self, template: str, problem: str) -> None:
        super().__init__(f"template {template!r}: {problem}")
        self.template = template
        self.problem = problem


def _money(value: Any, currency: str = "EUR") -> str:
    if value is None or value == "":
        return ""
    return f"{currency} {float(value):,.2f}"


def make_environment(templates: Mapping[str, str]) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=DictLoader(dict(templates)),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _money
    return env


def render(env: SandboxedEnvironment, name: str, context: Mapping[str, Any]) -> str:
    try:
        text = env.get_template(name).render(**context)
    except TemplateSyntaxError as exc:
        where = exc.name or name
        raise TemplateFailure(where, f"syntax error on line {exc.lineno}: {exc.message}") from exc
    except TemplateError as exc:
        raise TemplateFailure(name, f"{type(exc).__name__}: {exc}") from exc
    return _tidy(text)


def render_string(source: str, context: Mapping[str, Any], name: str = "<snippet>") -> str:
    return render(make_environment({name: source}), name, context)


def _tidy(text: str) -> str:
    """Collapse the blank-line runs that conditional blocks leave behind."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if not line and tidy and not tidy[-1]:
            continue
        tidy.append(line)
    return "\n".join(tidy) + "\n"
