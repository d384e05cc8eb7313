"""Retire and restore a reply template or an answer snippet: a confirm page that says what
drafts lose (an intent's last template, an action rule offering the snippet) and takes a
reason, the two posts behind it, and the same pair in the JSON API.

Thin: `responder.supervisor.retire` checks, stores and audits.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, JSONBody
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.exc import IntegrityError

from responder.content import template_key
from responder.dashboard import drafts_per_snippet
from responder.db.models import Snippet
from responder.db.models import Template as TemplateRow
from responder.db.session import transaction
from responder.supervisor.content_edit import ContentError, _needed, template_versions
from responder.supervisor.retire import (
    REASON_LENGTH,
    restore_snippet,
    restore_template,
    retire_snippet,
    retire_template,
    retired_one,
    retiring_warnings,
)
from responder.supervisor.snippet_edit import _named_by_actions, snippet_versions
from responder.supervisor.template_names import template_title
from responder.web.auth import requires_supervisor
from responder.web.state import runtime as _rt
from responder.web.state import signed_in as _user

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
KINDS = ("templates", "snippets")


class RetireForm(Struct):
    reason: str = ""


class ApiRetire(Struct):
    reason: str = ""


class ApiRetired(Struct):
    """Where an item stands after a retire or restore."""

    kind: str
    id: int  # the live version's id (a new version: the one the call added)
    key: str
    version: int
    retired: bool


def _live(session: Any, kind: str, item_id: int) -> TemplateRow | Snippet:
    if kind == "templates":
        template = session.get(TemplateRow, item_id)
        if template is None:
            raise NotFoundException(f"template {item_id} not found")
        return template_versions(session, template)[0]
    snippet = session.get(Snippet, item_id)
    if snippet is None:
        raise NotFoundException(f"snippet {item_id} not found")
    return snippet_versions(session, snippet.key)[0]


def _name(item: TemplateRow | Snippet) -> str:
    if isinstance(item, TemplateRow):
        return template_key(item.name, item.language, item.tone)
    return f"snippet {item.key}"


def _title(request: Request, item: TemplateRow | Snippet) -> str:
    """A template in words, as the list names it ("Service outage — English")."""
    if isinstance(item, TemplateRow):
        return template_title(item.name, item.language, item.tone, request.app.state.titles)
    return _name(item)


def _confirm_context(request: Request, kind: str, item_id: int) -> dict[str, object]:
    rt = _rt(request)
    with rt.factory() as session:
        live = _live(session, kind, item_id)
        if isinstance(live, TemplateRow):
            warnings = retiring_warnings(session, rt.settings, live, request.app.state.titles)
            refused = _needed(session, rt.settings, live) if live.name == "layout" else None
            used = None
        else:
            warnings = []
            refused = _named_by_actions(session, rt.settings, live.key)
            used = drafts_per_snippet(session).get(live.key, 0)
        retired = retired_one(session, live)
        return {
            "user": request.user,
            "kind": kind,
            "item_id": live.id,
            "title": _title(request, live),
            "file": _name(live) if isinstance(live, TemplateRow) else "",
            "version": live.version,
            "retired": retired,
            "warnings": warnings,
            "refused": refused,
            "used": used,
        }


def _act(request: Request, kind: str, item_id: int, retire: bool, reason: str = "") -> Any:
    """The new live version; ContentError where it is refused (nothing changed)."""
    rt = _rt(request)
    author = _user(request).username
    try:
        with transaction(rt.factory) as session:
            live = _live(session, kind, item_id)
            if kind == "templates":
                if retire:
                    done: TemplateRow | Snippet = retire_template(
                        session, rt.settings, live.id, author, reason
                    )
                else:
                    done = restore_template(session, rt.settings, live.id, author)
            elif retire:
                done = retire_snippet(session, rt.settings, live.id, author, reason)
            else:
                done = restore_snippet(session, rt.settings, live.id, author)
            key = live.key if isinstance(live, Snippet) else _name(live)
            return ApiRetired(kind, done.id, key, done.version, not done.active)
    except IntegrityError as exc:  # a colleague's save took the same next version meanwhile
        verb = "retire" if retire else "restore"
        raise ContentError(
            f"not {verb}d: someone saved a new version a moment ago; look at it, then "
            f"{verb} it again"
        ) from exc


def _confirm(request: Request, kind: str, item_id: int) -> Template:
    context = _confirm_context(request, kind, item_id)
    return Template("supervisor/retire.html", context=context)


def _retire(request: Request, kind: str, item_id: int, reason: str) -> Redirect:
    try:
        done = _act(request, kind, item_id, True, reason)
    except ContentError as exc:
        return Redirect(f"/supervisor/{kind}/{item_id}", query_params={"notice": str(exc)})
    notice = f"Retired: new drafts leave it out (version {done.version}); restore it here."
    return Redirect(f"/supervisor/{kind}/{done.id}", query_params={"notice": notice})


def _restore(request: Request, kind: str, item_id: int) -> Redirect:
    try:
        done = _act(request, kind, item_id, False)
    except ContentError as exc:
        return Redirect(f"/supervisor/{kind}/{item_id}", query_params={"notice": str(exc)})
    notice = f"Restored: version {done.version} is live, and new drafts use it again."
    return Redirect(f"/supervisor/{kind}/{done.id}", query_params={"notice": notice})


API_RESPONSES = {
    400: ResponseSpec(None, description="A reason longer than 500 characters"),
    404: ResponseSpec(None, description="No such template or snippet"),
    409: ResponseSpec(
        None,
        description="Refused (already so; drafts depend on it; a restore that no longer "
        "renders or names an intent, plan or tier gone; a colleague's save at the same "
        "moment): the reason in `detail`, nothing changed",
    ),
}


def _api(request: Request, kind: str, item_id: int, retire: bool, reason: str = "") -> ApiRetired:
    try:
        return _act(request, kind, item_id, retire, reason)
    except ContentError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc


def _routes(kind: str) -> list[object]:
    """One handler per path: Litestar wraps a sync handler given several paths twice."""
    page = f"/supervisor/{kind}/{{item_id:int}}"
    api = f"/api/supervisor/{kind}/{{item_id:int}}"
    one = kind.removesuffix("s")

    @get(f"{page}/retire", sync_to_thread=True, guards=[requires_supervisor])
    def retire_confirm(request: Request, item_id: FromPath[int]) -> Template:
        return _confirm(request, kind, item_id)

    @post(f"{page}/retire", sync_to_thread=True, guards=[requires_supervisor])
    def retire_post(
        request: Request, item_id: FromPath[int], data: Annotated[RetireForm, FORM]
    ) -> Redirect:
        return _retire(request, kind, item_id, data.reason)

    @post(f"{page}/restore", sync_to_thread=True, guards=[requires_supervisor])
    def restore_post(request: Request, item_id: FromPath[int]) -> Redirect:
        return _restore(request, kind, item_id)

    @post(
        f"{api}/retire",
        sync_to_thread=True,
        guards=[requires_supervisor],
        status_code=200,
        summary=f"Retire a {one}",
        description=(
            f"`item_id` is any version's id. New drafts leave the {one} out (an intent whose "
            "last template is retired gets no draft); drafts already written keep their text, "
            "every version stays. `reason` (optional) is kept in the audit log."
        ),
        responses=API_RESPONSES,
    )
    def api_retire(
        request: Request, item_id: FromPath[int], data: JSONBody[ApiRetire | None] = None
    ) -> ApiRetired:
        reason = data.reason if data else ""
        if len(reason) > REASON_LENGTH:
            # Refused as other API text over its limit is, not cut without a word.
            raise ClientException(f"reason: longer than {REASON_LENGTH} characters")
        return _api(request, kind, item_id, True, reason)

    @post(
        f"{api}/restore",
        sync_to_thread=True,
        guards=[requires_supervisor],
        status_code=200,
        summary=f"Restore a retired {one}",
        description="Its latest version goes into new drafts again, if it still renders.",
        responses=API_RESPONSES,
    )
    def api_restore(request: Request, item_id: FromPath[int]) -> ApiRetired:
        return _api(request, kind, item_id, False)

    return [retire_confirm, retire_post, restore_post, api_retire, api_restore]


ROUTES: list[object] = [route for kind in KINDS for route in _routes(kind)]
