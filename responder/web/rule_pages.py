"""The tone and action rules page (and its JSON API): action rules listed in words (each with a
form: `action_rule_pages`), both kinds editable as TOML, refused until valid.

Thin: `responder.supervisor.rule_edit` validates and stores; drafting reads the live version
with `responder.drafting.rule_versions.current_rules`.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import ResponseSpec
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from msgspec import UNSET, Meta, Struct, UnsetType

from responder.db.session import transaction
from responder.drafting.rule_versions import KINDS, current_rules
from responder.supervisor import rule_edit
from responder.supervisor.rule_conflict import Conflict, conflict
from responder.supervisor.rule_form import sentence
from responder.web.auth import requires_supervisor
from responder.web.params import row_id_in
from responder.web.state import runtime as _rt
from responder.web.state import signed_in

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


def _actor(request: Request) -> str:
    return signed_in(request).username


#: How each kind reads in a sentence: "action rules", not "actions rules".
NOUNS = {"tone": "tone", "actions": "action"}


def _context(
    request: Request,
    *,
    texts: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    shown: dict[str, int] | None = None,
    notice: str = "",
    error: str = "",
    conflicts: dict[str, Conflict] | None = None,
) -> dict[str, Any]:
    rt = _rt(request)
    sections = []
    with rt.factory() as session:
        rules = current_rules(session, rt.settings)
        live = rules.versions
        for kind in KINDS:
            versions = rule_edit.history(session, kind)
            text = (texts or {}).get(kind)
            loaded = next((v for v in versions if v.version == (shown or {}).get(kind)), None)
            if text is None:
                text = loaded.text if loaded else rule_edit.live_text(session, rt.settings, kind)
            sections.append(
                {
                    "kind": kind,
                    "title": "Tone rules" if kind == "tone" else "Action rules",
                    "noun": NOUNS[kind],
                    "live": live[kind],
                    "text": text,
                    "loaded": loaded.version if loaded else None,
                    "problems": (errors or {}).get(kind, []),
                    "history": versions,
                    "conflict": (conflicts or {}).get(kind),
                }
            )
    actions = rules.actions
    listed = [
        {
            "number": number,
            "name": rule.name,
            "label": rule.label,
            "when": sentence(rule, actions.contact_days),
            "snippet": rule.snippet,
        }
        for number, rule in enumerate(actions.rules, start=1)
    ]
    return {
        "user": request.user,
        "sections": sections,
        "notice": notice,
        "error": error,
        "action_rules": listed,
        "actions_version": live["actions"] or 0,
    }


@get("/supervisor/rules", sync_to_thread=True, guards=[requires_supervisor])
def rules_page(
    request: Request,
    tone: FromQuery[int | None] = None,
    actions: FromQuery[int | None] = None,
    notice: FromQuery[str] = "",
    error: FromQuery[str] = "",
    toml: FromQuery[bool] = False,
) -> Template:
    """`?tone=N` or `?actions=N` loads an old version into the editor (save it to go back);
    `?toml=1` opens the action rules' TOML editor (the rule form links to it)."""
    shown = {k: v for k, v in (("tone", tone), ("actions", actions)) if v is not None}
    context = _context(request, shown=shown, notice=notice, error=error)
    context["toml_open"] = toml
    return Template("supervisor/rules.html", context=context)


def ran_into(request: Request, kind: str, read: int, mine: str | None = None) -> Conflict | None:
    """The saves made since `read` that refused a change, read afresh (None: none)."""
    rt = _rt(request)
    with rt.factory() as session:
        return conflict(session, rt.settings, kind, read, mine)


def refused(
    request: Request, error: str, *, status: int = 409, read: int | None = None
) -> Template:
    """The rules page again with why a button's change was not made (409: the list changed
    since the page showed it, so a rule number may no longer mean the rule meant); `read`,
    the version the page showed, to say what the saves since then changed."""
    context = _context(request, error=error)
    context["toml_open"] = False
    context["changed"] = ran_into(request, "actions", read) if read is not None else None
    return Template("supervisor/rules.html", context=context, status_code=status)


class RulesForm(Struct):
    """The TOML typed, and the version live when the page showed it (left out: no check).
    `over` is the live version a refused save's page showed, sent by its one button ("Save my
    text over version N"): the text is saved over that version on purpose (and refused should
    yet another save have come since)."""

    text: str = ""
    version: str = ""
    over: str = ""


@post("/supervisor/rules/{kind:str}/save", sync_to_thread=True, guards=[requires_supervisor])
def rules_save(
    request: Request, kind: FromPath[str], data: Annotated[RulesForm, FORM]
) -> Response[Any]:
    if kind not in KINDS:
        raise NotFoundException(f"no rules named {kind!r}")
    rt = _rt(request)
    made_on, over = row_id_in(data.version.strip()), row_id_in(data.over.strip())
    read, started = made_on, None
    if made_on is not None and over is not None and over > made_on:  # saved over on purpose
        read, started = over, made_on
    try:
        with transaction(rt.factory) as session:
            saved = rule_edit.save_rules(
                session,
                rt.settings,
                kind,
                _actor(request),
                text=data.text,
                read=read,
                started=started,
            )
            version = saved.version
    except rule_edit.RulesError as exc:  # StaleRules (409) too: the text stays to copy from
        # Any refusal of text made on an older version (a typo in a save over theirs too)
        # comes back with the saves since, so it is never resent as made on the live one.
        found = ran_into(request, kind, made_on, data.text) if made_on is not None else None
        problems: list[str] = list(exc.problems)
        if found and isinstance(exc, rule_edit.StaleRules):
            problems = [exc.reason]  # the conflict below says what to do
        context = _context(
            request,
            texts={kind: data.text},
            errors={kind: problems},
            conflicts={kind: found} if found else None,
        )
        return Template("supervisor/rules.html", context=context, status_code=exc.status_code)
    notice = f"Saved: version {version} of the {NOUNS[kind]} rules is live for the next drafts."
    return Redirect("/supervisor/rules", query_params={"notice": notice})


class ApiRules(Struct):
    """Either TOML text (as on the page) or the section as JSON (`rules`), and the `version`
    they were read at, so a save made meanwhile is not silently undone."""

    text: str | None = None
    rules: dict[str, Any] | None = None
    version: (
        Annotated[
            int | None,
            Meta(
                description=(
                    "The version the change was made on, as `GET /api/supervisor/rules` gave "
                    "it (null or 0: config.toml's rules, none saved yet). When another is live "
                    "the save is refused with 409 and nothing changes. Left out, the save "
                    "overwrites whatever is live, also a save made at the same moment (it is "
                    "saved again over that one, once: a 409 then means saves keep coming)."
                )
            ),
        ]
        | UnsetType
    ) = UNSET


def _live(request: Request) -> dict[str, Any]:
    rt = _rt(request)
    with rt.factory() as session:
        rules = current_rules(session, rt.settings)
    return {
        "tone": {"version": rules.versions["tone"], "rules": msgspec.to_builtins(rules.tone)},
        "actions": {
            "version": rules.versions["actions"],
            "rules": msgspec.to_builtins(rules.actions),
        },
    }


@get("/api/supervisor/rules", sync_to_thread=True, guards=[requires_supervisor])
def api_rules(request: Request) -> dict[str, Any]:
    """The live rules; `version` is null where config.toml's still apply."""
    return _live(request)


@post(
    "/api/supervisor/rules/{kind:str}",
    sync_to_thread=True,
    guards=[requires_supervisor],
    summary="Save the tone or action rules as a new version",
    description=(
        "Send `text` (TOML, as on the rules page) or `rules` (the section as "
        "`GET /api/supervisor/rules` gives it), and `version`: the version the change was made "
        "on. Should another save have come since, the answer is 409 with the live version in "
        "`detail` and `extra.version`, and nothing is saved. Without `version` the save "
        "overwrites whatever is live, a save made at the same moment included (saved again "
        "over it, once; a 409 then means saves keep landing at that moment). Answers with the "
        "live rules, as `GET` does."
    ),
    responses={
        409: ResponseSpec(
            None,
            description=(
                "The rules changed since `version` was read (or, without `version`, saves "
                "kept landing at the same moment): nothing saved"
            ),
        ),
        422: ResponseSpec(None, description="Refused: the problems found, nothing saved"),
    },
)
def api_rules_save(
    request: Request, kind: FromPath[str], data: JSONBody[ApiRules]
) -> dict[str, Any]:
    if (data.text is None) == (data.rules is None):
        raise HTTPException(status_code=400, detail="send either `text` (TOML) or `rules`")
    read = None if data.version is UNSET else data.version or 0
    try:
        _api_save(request, kind, data, read)
    except rule_edit.StaleRules as exc:
        extra = {"version": exc.live}
        raise HTTPException(status_code=409, detail=str(exc), extra=extra) from exc
    except rule_edit.RulesError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return _live(request)


def _api_save(request: Request, kind: str, data: ApiRules, read: int | None) -> None:
    """Without a version the save overwrites what is live: a save that took the new version's
    number at the same moment is live now, so this one is saved again over it, once."""
    rt = _rt(request)
    for last in (False, True):
        try:
            with transaction(rt.factory) as session:
                rule_edit.save_rules(
                    session,
                    rt.settings,
                    kind,
                    _actor(request),
                    text=data.text,
                    data=data.rules,
                    read=read,
                )
            return
        except rule_edit.StaleRules as exc:
            if last or read is not None or not exc.raced:
                raise


ROUTES: list[object] = [rules_page, rules_save, api_rules, api_rules_save]
