"""Add, edit, remove and move one action rule with a form; the rules page lists them in words.

Thin: `responder.supervisor.rule_form` turns the form into the rule's data,
`responder.supervisor.rule_toml` puts it into the live TOML in place (comments kept), and
`rule_edit.save_rules` checks and stores that text exactly as it does the TOML editor's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from responder.config import ActionSettings
from responder.content import live_snippets
from responder.db.session import transaction
from responder.drafting.rule_versions import current_rules
from responder.supervisor import rule_edit
from responder.supervisor.rule_form import (
    CONDITIONS,
    RuleFields,
    fields_of,
    file_problems,
    from_form,
    rule_data,
)
from responder.supervisor.rule_toml import moved, placed
from responder.web.auth import requires_supervisor
from responder.web.params import row_id_in
from responder.web.rule_pages import FORM, ran_into, refused
from responder.web.state import runtime as _rt
from responder.web.state import signed_in


def _live(session: Session, request: Request) -> tuple[ActionSettings, int]:
    """The live action rules and their version (0 while config.toml's apply)."""
    rules = current_rules(session, _rt(request).settings)
    return rules.actions, rules.versions["actions"] or 0


def _live_text(request: Request) -> tuple[ActionSettings, int, str]:
    """The live action rules, their version and the TOML the editor shows for them."""
    rt = _rt(request)
    with rt.factory() as session:
        section, version = _live(session, request)
        return section, version, rule_edit.live_text(session, rt.settings, "actions")


def _store(request: Request, text: str, change: str, read: int) -> int:
    """The changed text saved as the TOML editor's is; the new version's number. `read` is the
    version the text was changed from: should another be live by the time of the save (checked
    in the saving transaction), `rule_edit.StaleRules`."""
    rt = _rt(request)
    with transaction(rt.factory) as session:
        saved = rule_edit.save_rules(
            session,
            rt.settings,
            "actions",
            signed_in(request).username,
            text=text,
            change=change,
            read=read,
        )
        return saved.version


def _changed_while_open(version: int) -> str:
    return (
        f"the action rules changed while this form was open (version {version} is live "
        "now): check what changed, then save again"
    )


def _no_version(version: int) -> str:
    """Without the version its page showed, whether the list changed since is unknown."""
    return (
        "the form did not say which version of the action rules it was made on (version "
        f"{version} is live now): check the rule below, then save again"
    )


def _read(form: dict[str, Any]) -> int | None:
    """The version the form's page showed (None: none sent, so nothing to compare)."""
    version = str(form.get("version", "")).strip()
    return row_id_in(version)


def _index(section: ActionSettings, number: int) -> int:
    """Rule 3 in the list is rules[2]; a number past the end is no page."""
    if not 1 <= number <= len(section.rules):
        raise NotFoundException(f"there is no action rule {number}")
    return number - 1


def _page(
    request: Request,
    fields: RuleFields,
    number: int | None,
    version: int,
    *,
    status_code: int = 200,
    read: int | None = None,
) -> Template:
    """The form; refused as stale (`read`: the version its page showed), with what the saves
    since then changed. A rule the saves since removed (its number is past the live list's
    end) is offered as a new rule: its number names no rule to save to any more. So is one
    posted without a version (an old form, a hand-made post): saving to its number again was
    a 404 that lost the typing."""
    gone = None
    with _rt(request).factory() as session:
        snippets = sorted(s.key for s in live_snippets(session))
        live_rules = _live(session, request)[0].rules
    if number is not None and number > len(live_rules):
        gone, number = number, None
    if fields.snippet and fields.snippet not in snippets:
        snippets.append(fields.snippet)  # kept, so the refusal can name it
    context = {
        "user": request.user,
        "rule": fields,
        "rows": fields.rows(),
        "number": number,
        "gone": gone,
        "version": version,
        "conditions": CONDITIONS,
        "snippets": snippets,
        "refused": status_code != 200,
        "changed": ran_into(request, "actions", read) if read is not None else None,
    }
    return Template("supervisor/action_rule.html", context=context, status_code=status_code)


@get("/supervisor/action-rules/new", sync_to_thread=True, guards=[requires_supervisor])
def new_rule_page(request: Request) -> Template:
    with _rt(request).factory() as session:
        _, version = _live(session, request)
    return _page(request, RuleFields(), None, version)


@get("/supervisor/action-rules/{number:int}", sync_to_thread=True, guards=[requires_supervisor])
def edit_rule_page(request: Request, number: FromPath[int]) -> Template:
    with _rt(request).factory() as session:
        section, version = _live(session, request)
    return _page(request, fields_of(section.rules[_index(section, number)]), number, version)


def _save(request: Request, form: dict[str, Any], number: int | None) -> Response[Any]:
    """Validated and stored as the TOML editor's text is; refused, the form comes back as typed
    with each problem beside its field."""
    fields = from_form(form)
    data = rule_data(fields)
    section, version, text = _live_text(request)
    if str(version) != str(form.get("version", "")):
        # Before the rule is looked up: the list may be shorter now, and the typed form is
        # kept, not lost to a "no such rule" page.
        read = _read(form)
        fields.general.append(
            _no_version(version) if read is None else _changed_while_open(version)
        )
        return _page(request, fields, number, version, status_code=409, read=read)
    index = len(section.rules) if number is None else _index(section, number)
    if any(row.problems for row in fields.conditions):
        return _page(request, fields, number, version, status_code=422)
    what = "added" if number is None else "edited"
    change = f"{what} rule {index + 1} {fields.name!r}"
    try:
        saved_version = _store(
            request, placed(text, None if number is None else index, data), change, version
        )
    except rule_edit.StaleRules as exc:  # another save came between the check and this one
        fields.general.append(_changed_while_open(exc.live or 0))
        return _page(request, fields, number, exc.live or 0, status_code=409, read=version)
    except rule_edit.RulesError as exc:
        file_problems(fields, index, exc.problems)
        return _page(request, fields, number, version, status_code=422)
    notice = (
        f"Saved: {what} action rule {index + 1} {fields.name!r}; "
        f"version {saved_version} of the action rules is live for the next drafts."
    )
    return Redirect("/supervisor/rules", query_params={"notice": notice})


@post("/supervisor/action-rules/new", sync_to_thread=True, guards=[requires_supervisor])
def add_rule(request: Request, data: Annotated[dict[str, Any], FORM]) -> Response[Any]:
    return _save(request, data, None)


@post("/supervisor/action-rules/{number:int}", sync_to_thread=True, guards=[requires_supervisor])
def edit_rule(
    request: Request, number: FromPath[int], data: Annotated[dict[str, Any], FORM]
) -> Response[Any]:
    return _save(request, data, number)


@post(
    "/supervisor/action-rules/{number:int}/remove",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def remove_rule(
    request: Request, number: FromPath[int], data: Annotated[dict[str, Any], FORM]
) -> Response[Any]:
    """Removed from the live rules as a new version (the old one can be shown and saved
    again); refused when the list changed since the page showed it."""
    section, version, text = _live_text(request)
    if str(version) != str(data.get("version", "")):
        return _stale_list(request, data, ("remove", "removed"), version)
    index = _index(section, number)
    name = section.rules[index].name
    return _change_list(
        request,
        data,
        version,
        ("remove", "removed"),
        lambda: placed(text, index, None),
        f"removed rule {number} {name!r}",
        f"Removed action rule {number} {name!r}",
    )


def _change_list(
    request: Request,
    data: dict[str, Any],
    version: int,
    verb: tuple[str, str],
    edited: Callable[[], str],
    change: str,
    done: str,
) -> Response[Any]:
    """A remove or a move from the list: refused when the list changed since the page showed
    it (a rule number could name another rule now), before the save or in its transaction,
    else saved as a new version."""
    past = verb[1]
    if str(version) != str(data.get("version", "")):
        return _stale_list(request, data, verb, version)
    try:
        saved_version = _store(request, edited(), change, version)
    except rule_edit.StaleRules as exc:  # another save came between the check and this one
        return _stale_list(request, data, verb, exc.live or 0)
    except rule_edit.RulesError as exc:
        return refused(request, f"Not {past}: {exc}", status=422)
    notice = f"{done}; version {saved_version} of the action rules is live for the next drafts."
    return Redirect("/supervisor/rules", query_params={"notice": notice})


def _stale_list(
    request: Request, data: dict[str, Any], verb: tuple[str, str], live: int
) -> Template:
    """The list changed since the page showed it: a rule number may mean another rule now, or
    none (the list is shorter), so nothing is done; the page says what the saves since did."""
    again, past = verb
    return refused(
        request,
        f"Not {past}: the action rules changed (version {live} is live now); "
        f"check the list and {again} again.",
        read=_read(data),
    )


#: Where each button takes the rule: one place up the list (counted from 1) or one down.
STEPS = {"up": -1, "down": 1}


@post(
    "/supervisor/action-rules/{number:int}/move",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def move_rule(
    request: Request, number: FromPath[int], data: Annotated[dict[str, Any], FORM]
) -> Response[Any]:
    """One place up or down (`direction`), as a new version: the order is the order drafts
    list the offered actions in. Refused when the list changed since the page showed it."""
    section, version, text = _live_text(request)
    if str(version) != str(data.get("version", "")):
        return _stale_list(request, data, ("move", "moved"), version)
    index = _index(section, number)
    step = STEPS.get(str(data.get("direction", "")))
    if step is None or not 0 <= index + step < len(section.rules):
        return refused(request, f"Not moved: rule {number} cannot move that way.", status=400)
    name, to = section.rules[index].name, number + step
    return _change_list(
        request,
        data,
        version,
        ("move", "moved"),
        lambda: moved(text, index, index + step),
        f"moved rule {number} {name!r} to {to}",
        f"Moved action rule {number} {name!r} {data['direction']}: it is rule {to} now",
    )


ROUTES: list[object] = [
    new_rule_page,
    edit_rule_page,
    add_rule,
    edit_rule,
    remove_rule,
    move_rule,
]
