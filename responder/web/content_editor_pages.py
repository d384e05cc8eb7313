"""The editor for a reply template or an answer snippet: its text with a live preview against
a real message, its versions and their diffs, save (held to the checks: it must render) and
roll back. Templates and snippets share one editor page, so one module serves both.

The form carries the version it was opened on (`based_on`): a save or roll-back made on a
version a colleague has changed since is refused (409) with their change shown beside the
supervisor's own, which stays in the editor to merge and save over theirs on purpose.

Thin: `responder.supervisor.content_edit` and `snippet_edit` validate, store and audit.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.exc import IntegrityError

from responder.content import template_key
from responder.db.models import Snippet
from responder.db.models import Template as TemplateRow
from responder.db.session import transaction
from responder.supervisor import examples
from responder.supervisor.content_conflict import ContentConflict, content_conflict, version_text
from responder.supervisor.content_edit import (
    ContentError,
    StaleContent,
    diff_lines,
    preview_choices,
    rollback_template,
    save_template,
    template_preview,
    template_versions,
)
from responder.supervisor.preview_pick import fitting_message, template_intents
from responder.supervisor.retire import retired_one
from responder.supervisor.snippet_edit import (
    SnippetFields,
    _snippet,
    rollback_snippet,
    save_snippet,
    snippet_preview,
    snippet_versions,
)
from responder.supervisor.template_names import template_title
from responder.web.auth import requires_supervisor
from responder.web.content_preview import PreviewRequest, PreviewResponse, preview_problem
from responder.web.params import row_id_in
from responder.web.snippet_form import SnippetFieldsForm
from responder.web.state import runtime as _rt
from responder.web.state import signed_in as _user


class EditForm(SnippetFieldsForm, kw_only=True):
    body: str  # required: a form without it is refused, never saved as an empty template
    message_id: str = ""
    customer_id: str = ""
    # The live version when the editor was opened (left out: no check), and the live version
    # a refused save's page showed, sent by its "Save my text over version N" button.
    based_on: str = ""
    over: str = ""


class RollbackForm(Struct):
    based_on: str = ""  # the live version the page showed (left out: no check)


SAVED_MEANWHILE = (
    "not saved: someone saved a new version a moment ago; your text is below, "
    "look at the versions and save again"
)
ROLLED_BACK_MEANWHILE = (
    "not rolled back: someone saved a new version a moment ago; look at it, then roll back "
    "again if still meant"
)


def _int(value: str | int | None) -> int | None:
    if isinstance(value, int):
        return value
    return row_id_in(str(value)) if value else None


def _editor_context(
    request: Request,
    kind: str,
    item_id: int,
    *,
    body: str | None = None,
    message_id: int | None = None,
    customer_id: int | None = None,
    diff: int | None = None,
    error: str = "",
    notice: str = "",
    fields: SnippetFields | None = None,
    based_on: int | None = None,
    conflict: ContentConflict | None = None,
    offered: str | None = None,
    offered_shown: str | None = None,
) -> dict[str, object]:
    """`based_on`, `offered` and `offered_shown`: a refused save's, so the page sent again
    still says what the first one was opened on and showed."""
    rt = _rt(request)
    with rt.factory() as session:
        intents = list(examples.labels(session, "intent"))
        if kind == "templates":
            item = session.get(TemplateRow, item_id)
            if item is None:
                raise NotFoundException(f"template {item_id} not found")
            if message_id is None:
                message_id = fitting_message(session, template_intents(item.name), item.language)
            choices = preview_choices(session, also=message_id)
            versions = template_versions(session, item)
            title = template_title(item.name, item.language, item.tone, request.app.state.titles)
            file = template_key(item.name, item.language, item.tone)
            live = versions[0]
            text = body if body is not None else live.body
            preview = template_preview(session, rt.settings, live.id, text, message_id, customer_id)
        else:
            item = session.get(Snippet, item_id)
            if item is None:
                raise NotFoundException(f"snippet {item_id} not found")
            versions = snippet_versions(session, item.key)
            live = versions[0]
            if message_id is None:
                message_id = fitting_message(session, list(live.intents or []), live.language)
            choices = preview_choices(session, also=message_id)
            title, file = f"snippet {item.key}", ""
            fields = fields or SnippetFields.of(live)
            text = body if body is not None else live.body
            preview = snippet_preview(
                session, rt.settings, live.id, text, message_id, customer_id, fields.language
            )
        retired = retired_one(session, live)
        older = {
            v.version: next((o for o in versions if o.version < v.version), None) for v in versions
        }
        history = [
            {
                "id": v.id,
                "version": v.version,
                "author": v.author,
                "at": v.created_at,
                "switch": _switch(older[v.version], v),
            }
            for v in versions
        ]
        shown = next((v for v in versions if v.id == diff), versions[0])
        before = older[shown.version]
        diff_rows = diff_lines(
            version_text(before) if before else "",
            version_text(shown),
            f"version {before.version}" if before else "(nothing)",
            f"version {shown.version}",
        )
    return {
        "user": request.user,
        "kind": kind,
        "item_id": live.id,
        "diff_switch": _switch(before, shown),
        "title": title,
        "file": file,  # a template's file name, small beside its title
        "snippet": fields if kind == "snippets" else None,
        "template_active": (
            (offered != "no" if offered is not None else live.active)
            if kind == "templates"
            else None
        ),
        "offered_shown": offered_shown or ("yes" if live.active else "no"),
        "retired": retired,
        "intents": intents,
        "languages": rt.settings.classify.languages,
        "plan_names": rt.settings.drafting.plan_names,
        "tier_names": rt.settings.value.tier_names,
        "body": text,
        "live_version": live.version,
        "based_on": based_on if based_on is not None else live.version,
        "conflict": conflict,
        "preview": preview,
        "preview_error": preview_problem(preview, error),
        "history": history,
        "diff": diff_rows,
        "diff_version": shown.version,
        "choices": choices,
        "message_id": message_id,
        "customer_id": customer_id,
        "error": error,
        "notice": notice,
    }


def _switch(before: TemplateRow | Snippet | None, version: TemplateRow | Snippet) -> str:
    """ "switched off" or "switched on" where a version changed that (its text may be the same)."""
    was, now = getattr(before, "active", None), getattr(version, "active", None)
    if before is None or was is None or was == now:
        return ""
    return "switched on" if now else "switched off"


def _page(request: Request, kind: str, item_id: int, **query: Any) -> Template:
    context = _editor_context(request, kind, item_id, **query)
    return Template("supervisor/editor.html", context=context)


def _save(request: Request, kind: str, item_id: int, data: EditForm) -> Response[Any]:
    rt = _rt(request)
    message_id, customer_id = _int(data.message_id), _int(data.customer_id)
    made_on, over = _int(data.based_on), _int(data.over)
    author = _user(request).username
    try:
        with transaction(rt.factory) as session:
            if kind == "templates":
                active = data.offered != "no" if data.offered_changed() else None
                saved: TemplateRow | Snippet = save_template(
                    session,
                    rt.settings,
                    item_id,
                    data.body,
                    author,
                    active=active,
                    based_on=made_on,
                    over=over,
                )
            else:
                fields = data.snippet_fields()
                if fields is not None and not data.offered_changed():
                    live = snippet_versions(session, _snippet(session, item_id).key)[0]
                    fields = dataclasses.replace(fields, active=live.active)
                saved = save_snippet(
                    session,
                    rt.settings,
                    item_id,
                    data.body,
                    author,
                    fields=fields,
                    based_on=made_on,
                    over=over,
                )
            saved_id, saved_version = saved.id, saved.version
    except (ContentError, IntegrityError) as exc:
        # IntegrityError: a colleague saved the same next version between our read and write.
        error = str(exc) if isinstance(exc, ContentError) else SAVED_MEANWHILE
        raced = not isinstance(exc, ContentError) or isinstance(exc, StaleContent)
        # A save over a colleague's version refused for a typo keeps showing their change.
        found = _ran_into(request, kind, item_id, made_on, data) if raced or over else None
        context = _editor_context(
            request,
            kind,
            item_id,
            body=data.body,
            message_id=message_id,
            customer_id=customer_id,
            error=error,
            fields=data.snippet_fields(),
            based_on=made_on,
            conflict=found,
            offered=data.offered,
            offered_shown=data.offered_shown,
        )
        status = 409 if raced else 422
        return Template("supervisor/editor.html", context=context, status_code=status)
    query = {"notice": f"Saved: version {saved_version} is live."}
    if message_id:
        query["message"] = str(message_id)
    if customer_id:
        query["customer"] = str(customer_id)
    return Redirect(f"/supervisor/{kind}/{saved_id}", query_params=query)


def _ran_into(
    request: Request, kind: str, item_id: int, made_on: int | None, data: EditForm
) -> ContentConflict | None:
    """The saves since the version the refused text was made on, read afresh (None: none)."""
    if made_on is None:
        return None
    fields = data.snippet_fields()
    if fields is not None and not data.offered_changed():  # as the page showed it
        fields = dataclasses.replace(fields, active=data.offered_shown != "no")
    with _rt(request).factory() as session:
        item = session.get(TemplateRow if kind == "templates" else Snippet, item_id)
        return content_conflict(session, item, made_on, data.body, fields) if item else None


def _preview(request: Request, kind: str, item_id: int, data: PreviewRequest) -> PreviewResponse:
    rt = _rt(request)
    with rt.factory() as session:
        where = (session, rt.settings, item_id, data.body, data.message_id, data.customer_id)
        if kind == "templates":
            result = template_preview(*where)
        else:
            result = snippet_preview(*where, data.language or None)
    return PreviewResponse(text=result.text, error=result.error)


def _rollback(request: Request, kind: str, item_id: int, data: RollbackForm | None) -> Redirect:
    rt = _rt(request)
    undo = rollback_template if kind == "templates" else rollback_snippet
    based_on = _int(data.based_on) if data else None
    try:
        with transaction(rt.factory) as session:
            source = session.get(TemplateRow if kind == "templates" else Snippet, item_id)
            earlier = source.version if source else None
            restored = undo(
                session, rt.settings, item_id, _user(request).username, based_on=based_on
            )
            target, version = restored.id, restored.version
    except (ContentError, IntegrityError) as exc:
        # The page shows the live version's changes first: a colleague's, when one came first.
        said = str(exc) if isinstance(exc, ContentError) else ROLLED_BACK_MEANWHILE
        return Redirect(f"/supervisor/{kind}/{item_id}", query_params={"notice": said})
    notice = f"Rolled back to version {earlier}: its text is live again, as version {version}."
    return Redirect(f"/supervisor/{kind}/{target}", query_params={"notice": notice})


FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


@get("/supervisor/templates/{item_id:int}", sync_to_thread=True, guards=[requires_supervisor])
def template_editor(
    request: Request,
    item_id: FromPath[int],
    message: FromQuery[int | None] = None,
    customer: FromQuery[int | None] = None,
    diff: FromQuery[int | None] = None,
    notice: FromQuery[str] = "",
) -> Template:
    return _page(
        request,
        "templates",
        item_id,
        message_id=message,
        customer_id=customer,
        diff=diff,
        notice=notice,
    )


@post("/supervisor/templates/{item_id:int}/save", sync_to_thread=True, guards=[requires_supervisor])
def template_save(
    request: Request, item_id: FromPath[int], data: Annotated[EditForm, FORM]
) -> Response[Any]:
    return _save(request, "templates", item_id, data)


@post(
    "/supervisor/templates/{item_id:int}/preview",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def template_preview_route(
    request: Request, item_id: FromPath[int], data: JSONBody[PreviewRequest]
) -> PreviewResponse:
    return _preview(request, "templates", item_id, data)


@post(
    "/supervisor/templates/{item_id:int}/rollback",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def template_rollback(
    request: Request, item_id: FromPath[int], data: Annotated[RollbackForm | None, FORM] = None
) -> Redirect:
    return _rollback(request, "templates", item_id, data)


@get("/supervisor/snippets/{item_id:int}", sync_to_thread=True, guards=[requires_supervisor])
def snippet_editor(
    request: Request,
    item_id: FromPath[int],
    message: FromQuery[int | None] = None,
    customer: FromQuery[int | None] = None,
    diff: FromQuery[int | None] = None,
    notice: FromQuery[str] = "",
) -> Template:
    return _page(
        request,
        "snippets",
        item_id,
        message_id=message,
        customer_id=customer,
        diff=diff,
        notice=notice,
    )


@post("/supervisor/snippets/{item_id:int}/save", sync_to_thread=True, guards=[requires_supervisor])
def snippet_save(
    request: Request, item_id: FromPath[int], data: Annotated[EditForm, FORM]
) -> Response[Any]:
    return _save(request, "snippets", item_id, data)


@post(
    "/supervisor/snippets/{item_id:int}/preview",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def snippet_preview_route(
    request: Request, item_id: FromPath[int], data: JSONBody[PreviewRequest]
) -> PreviewResponse:
    return _preview(request, "snippets", item_id, data)


@post(
    "/supervisor/snippets/{item_id:int}/rollback",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def snippet_rollback(
    request: Request, item_id: FromPath[int], data: Annotated[RollbackForm | None, FORM] = None
) -> Redirect:
    return _rollback(request, "snippets", item_id, data)


ROUTES: list[object] = [
    template_editor,
    template_save,
    template_preview_route,
    template_rollback,
    snippet_editor,
    snippet_save,
    snippet_preview_route,
    snippet_rollback,
]
