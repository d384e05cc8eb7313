"""Supervisor pages: the dashboard, content editing, classifier examples and policies.

Thin controllers: each checks the supervisor role (a guard), then calls a plain service in
`responder.supervisor` or `responder.dashboard` that tests call directly too.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import Body
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from responder.classify import retrain
from responder.content import live_templates, template_key
from responder.dashboard import (
    RECENT_DAYS,
    Period,
    Table,
    dashboard_tables,
    display_names,
    drafts_per_snippet,
    load_history,
    sla_by_intent,
)
from responder.db.models import Channel, ClassifierExample, Snippet, StaffUser, utcnow
from responder.db.models import Template as TemplateRow
from responder.db.session import transaction
from responder.drafting.service import (
    REDRAFTED_ON,
    embed_before_writing,
    redraft_after_correction,
)
from responder.review import ReviewError
from responder.runtime import Runtime
from responder.supervisor import auto_send, auto_send_figures, examples
from responder.supervisor.charts import bar_chart, share_chart
from responder.supervisor.content_edit import (
    ContentError,
    Preview,
    diff_lines,
    preview_choices,
    rollback_template,
    save_template,
    template_preview,
    template_versions,
)
from responder.supervisor.content_files import snippet_file_text
from responder.supervisor.content_search import matches, words_of
from responder.supervisor.preview_pick import fitting_message, template_intents
from responder.supervisor.snippet_edit import (
    SnippetFields,
    live_snippets_all,
    rollback_snippet,
    save_snippet,
    snippet_preview,
    snippet_versions,
)
from responder.supervisor.template_names import template_title
from responder.web.action_rule_pages import ROUTES as ACTION_RULE_ROUTES
from responder.web.auth import requires_supervisor
from responder.web.rule_pages import ROUTES as RULE_ROUTES
from responder.web.snippet_form import SnippetFieldsForm
from responder.web.state import runtime as _rt
from responder.web.state import signed_in as _user


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


class DashboardView(NamedTuple):
    period: Period
    tables: dict[str, Table]
    channels: list[str]
    covered: str  # the days and mailbox the figures cover, in words
    names: dict[str, str]  # user name to display name


def _tables(
    request: Request, start: str | None, end: str | None, channel: str | None, span: str = ""
) -> DashboardView:
    """No days set: the last 30 days, or all time when `span` is "all"."""
    zone = _rt(request).settings.queue.timezone
    if start or end or span == "all":
        period = Period(start=_day(start), end=_day(end), channel=channel or None, timezone=zone)
    else:
        period = Period.recent(utcnow(), zone, channel or None)
    with _rt(request).factory() as session:
        messages, corrections = load_history(session, period.scope())
        channels = list(session.scalars(select(Channel.name).order_by(Channel.name)))
        names = display_names(session)
    tables = dashboard_tables(messages, corrections, period, utcnow())
    return DashboardView(period, tables, channels, period.words(messages), names)


def _charts(tables: dict[str, Table], names: dict[str, str]) -> dict[str, object]:
    def pairs(name: str, value_index: int = 1) -> list[tuple[str, float]]:
        return [(str(r[0]), float(r[value_index] or 0)) for r in tables[name].rows]

    def shares(name: str) -> list[dict[str, object]]:
        columns = tables[name].columns
        return [dict(zip(("group", *columns[1:]), row, strict=True)) for row in tables[name].rows]

    # A measure with nothing measured yet (no approvals) is left out, not drawn as 0 minutes.
    timings = [
        (f"{str(r[0]).replace('_', ' ')}, {label}", float(r[index]))
        for r in tables["timings"].rows
        for label, index in (("median", 2), ("95% within", 3))
        if r[index] is not None
    ]
    breaches = tables["sla_breaches"]
    sla = sla_by_intent(dict(zip(breaches.columns, row, strict=True)) for row in breaches.rows)
    return {
        "volume_by_day": bar_chart(pairs("volume_by_day"), "Messages by day"),
        "volume_by_channel": bar_chart(pairs("volume_by_channel"), "Messages by mailbox"),
        "volume_by_intent": bar_chart(pairs("volume_by_intent"), "Messages by intent"),
        "outcomes": share_chart(shares("outcomes"), "Outcomes"),
        "outcomes_by_template": share_chart(shares("outcomes_by_template"), "Outcome by template"),
        "outcomes_by_snippet": share_chart(shares("outcomes_by_snippet"), "Outcome by snippet"),
        "outcomes_by_intent": share_chart(shares("outcomes_by_intent"), "Outcome by intent"),
        "outcomes_by_person": share_chart(
            shares("outcomes_by_person"), "Outcome by person", names=names
        ),
        "review_time_by_person": bar_chart(
            pairs("review_time_by_person", 2), "Median minutes to decision", " min", names=names
        ),
        "edit_distance": bar_chart(pairs("edit_distance"), "Median edit distance", " chars"),
        "timings": bar_chart(timings, "Minutes", " min"),
        "sla_breaches": bar_chart(sla, "SLA breaches by intent"),
        "most_corrected": bar_chart(pairs("most_corrected"), "Corrected intents"),
    }


#: The tables whose first column is a person: shown by display name, the user name small.
PERSON_TABLES = ("outcomes_by_person", "review_time_by_person")


@get("/supervisor/dashboard", sync_to_thread=True, guards=[requires_supervisor])
def dashboard_page(
    request: Request,
    start: str | None = None,
    end: str | None = None,
    channel: str | None = None,
    span: str = "",
) -> Template:
    view = _tables(request, start, end, channel, span)
    query = _query(start, end, channel, span)
    context = {
        "user": request.user,
        "tables": view.tables,
        "charts": _charts(view.tables, view.names),
        "channels": view.channels,
        "filters": {"start": start or "", "end": end or "", "channel": channel or ""},
        "all_time": span == "all" and not (start or end),
        "recent_days": view.period.recent_days,
        "links": {
            "all_time": f"/supervisor/dashboard?{_query(None, None, channel, 'all')}",
            "recent": f"/supervisor/dashboard?{_query(None, None, channel, '')}".rstrip("?"),
            "days": RECENT_DAYS,
        },
        "query": query,
        "period": view.period,
        "covered": view.covered,
        "names": view.names,
        "person_tables": PERSON_TABLES,
        "date_problem": _date_problem(start, end, view.period),
    }
    return Template("supervisor/dashboard.html", context=context)


def _query(start: str | None, end: str | None, channel: str | None, span: str) -> str:
    """The page's filters for its CSV links, so an export holds what the page shows."""
    pairs = (("start", start), ("end", end), ("channel", channel), ("span", span))
    return urlencode([(k, v) for k, v in pairs if v])


def _date_problem(start: str | None, end: str | None, period: Period) -> str:
    """What is wrong with the days asked for, said on the page (the figures then cover what
    could be read: a day that is not one is no bound)."""
    for name, typed, read in (("From", start, period.start), ("To", end, period.end)):
        if typed and read is None:
            return f"{name} {typed!r} is not a day (YYYY-MM-DD): it is not applied."
    if period.start and period.end and period.start > period.end:
        return f"From {period.start} is after To {period.end}: nothing falls between."
    return ""


#: Leads the dashboard's CSV files: without it Excel reads UTF-8 as the local code page, and a
#: customer's "Seán" or a "€" comes out garbled.
BYTE_ORDER_MARK = "\ufeff"


@get("/supervisor/dashboard/export/{name:str}", sync_to_thread=True, guards=[requires_supervisor])
def dashboard_csv(
    request: Request,
    name: str,
    start: str | None = None,
    end: str | None = None,
    channel: str | None = None,
    span: str = "",
) -> Response[str]:
    table = _tables(request, start, end, channel, span).tables.get(name)
    if table is None:
        raise NotFoundException(f"no chart named {name!r}")
    buffer = io.StringIO()
    buffer.write(BYTE_ORDER_MARK)
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv",  # Litestar adds "; charset=utf-8" itself
        headers={"content-disposition": f'attachment; filename="{name}.csv"'},
    )


ROUTES: list[object] = [dashboard_page, dashboard_csv]


# -- templates and snippets ----------------------------------------------------------------------


class PreviewRequest(Struct):
    body: str
    message_id: int | None = None
    customer_id: int | None = None


class PreviewResponse(Struct):
    text: str
    error: str


class EditForm(SnippetFieldsForm, kw_only=True):
    body: str  # required: a form without it is refused, never saved as an empty template
    message_id: str = ""
    customer_id: str = ""


NOT_RENDERED = "Nothing to preview: the text as submitted does not render (the problem is above)."
SAVED_MEANWHILE = (
    "not saved: someone saved a new version a moment ago; your text is below, "
    "look at the versions and save again"
)


def _int(value: str | int | None) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if value and str(value).isdigit() else None


@get("/supervisor/templates", sync_to_thread=True, guards=[requires_supervisor])
def content_list(request: Request, q: str | None = None) -> Template:
    words = words_of(q)
    with _rt(request).factory() as session:
        templates = sorted(
            (
                t
                for t in live_templates(session, switched_off=True).values()
                if matches(words, (template_key(t.name, t.language, t.tone), _title(t), t.body))
            ),
            key=_title,
        )
        snippets = sorted(
            (
                s
                for s in live_snippets_all(session)
                if matches(words, (s.key, s.title, " ".join(map(str, s.tags or [])), s.body))
            ),
            key=lambda s: s.key,
        )
        used = drafts_per_snippet(session)
        rows = {
            "templates": [
                (
                    t.id,
                    _title(t),
                    template_key(t.name, t.language, t.tone),
                    t.version,
                    t.author,
                    t.created_at,
                    t.active,
                )
                for t in templates
            ],
            "snippets": [
                (
                    s.id,
                    s.key,
                    s.title,
                    s.version,
                    s.author,
                    s.created_at,
                    s.active,
                    used.get(s.key, 0),
                    ", ".join(map(str, s.tags or [])),
                )
                for s in snippets
            ],
        }
    context = {"user": request.user, "q": q or "", **rows}
    return Template("supervisor/content_list.html", context=context)


def _title(template: TemplateRow) -> str:
    return template_title(template.name, template.language, template.tone)


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
) -> dict[str, object]:
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
            title = template_key(item.name, item.language, item.tone)
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
            title = f"snippet {item.key}"
            fields = fields or SnippetFields.of(live)
            text = body if body is not None else live.body
            preview = snippet_preview(session, rt.settings, live.id, text, message_id, customer_id)
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
            _version_text(before) if before else "",
            _version_text(shown),
            f"version {before.version}" if before else "(nothing)",
            f"version {shown.version}",
        )
    return {
        "user": request.user,
        "kind": kind,
        "item_id": live.id,
        "diff_switch": _switch(before, shown),
        "title": title,
        "snippet": fields if kind == "snippets" else None,
        "template_active": live.active if kind == "templates" else None,
        "intents": intents,
        "languages": rt.settings.classify.languages,
        "plan_names": rt.settings.drafting.plan_names,
        "tier_names": rt.settings.value.tier_names,
        "body": text,
        "live_version": live.version,
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


def preview_problem(preview: Preview, refusal: str) -> str:
    """What the preview pane says under its text. A refused save whose problem is the
    preview's own names it once, as the save's, and the pane points there: never blank, as
    if the text as submitted had not been looked at."""
    if preview.error and preview.error in refusal:
        return NOT_RENDERED
    return preview.error


def _switch(before: TemplateRow | Snippet | None, version: TemplateRow | Snippet) -> str:
    """ "switched off" or "switched on" where a version changed that (its text may be the same)."""
    was, now = getattr(before, "active", None), getattr(version, "active", None)
    if before is None or was is None or was == now:
        return ""
    return "switched on" if now else "switched off"


def _version_text(version: TemplateRow | Snippet) -> str:
    """What a version's diff compares: a snippet's fields differ too, so it reads as its file."""
    return snippet_file_text(version) if isinstance(version, Snippet) else version.body


def _page(request: Request, kind: str, item_id: int, **query: Any) -> Template:
    context = _editor_context(request, kind, item_id, **query)
    return Template("supervisor/editor.html", context=context)


def _save(request: Request, kind: str, item_id: int, data: EditForm) -> Response[Any]:
    rt = _rt(request)
    message_id, customer_id = _int(data.message_id), _int(data.customer_id)
    author = _user(request).username
    try:
        with transaction(rt.factory) as session:
            if kind == "templates":
                active = None if data.offered is None else data.offered != "no"
                saved: TemplateRow | Snippet = save_template(
                    session, rt.settings, item_id, data.body, author, active=active
                )
            else:
                saved = save_snippet(
                    session, rt.settings, item_id, data.body, author, fields=data.snippet_fields()
                )
            saved_id, saved_version = saved.id, saved.version
    except (ContentError, IntegrityError) as exc:
        # IntegrityError: a colleague saved the same next version between our read and write.
        error = str(exc) if isinstance(exc, ContentError) else SAVED_MEANWHILE
        context = _editor_context(
            request,
            kind,
            item_id,
            body=data.body,
            message_id=message_id,
            customer_id=customer_id,
            error=error,
            fields=data.snippet_fields(),
        )
        status = 422 if isinstance(exc, ContentError) else 409
        return Template("supervisor/editor.html", context=context, status_code=status)
    query = {"notice": f"Saved: version {saved_version} is live."}
    if message_id:
        query["message"] = str(message_id)
    if customer_id:
        query["customer"] = str(customer_id)
    return Redirect(f"/supervisor/{kind}/{saved_id}", query_params=query)


def _preview(request: Request, kind: str, item_id: int, data: PreviewRequest) -> PreviewResponse:
    rt = _rt(request)
    render = template_preview if kind == "templates" else snippet_preview
    with rt.factory() as session:
        result = render(session, rt.settings, item_id, data.body, data.message_id, data.customer_id)
    return PreviewResponse(text=result.text, error=result.error)


def _rollback(request: Request, kind: str, item_id: int) -> Redirect:
    rt = _rt(request)
    undo = rollback_template if kind == "templates" else rollback_snippet
    try:
        with transaction(rt.factory) as session:
            source = session.get(TemplateRow if kind == "templates" else Snippet, item_id)
            earlier = source.version if source else None
            restored = undo(session, rt.settings, item_id, _user(request).username)
            target, version = restored.id, restored.version
    except ContentError as exc:
        return Redirect(f"/supervisor/{kind}/{item_id}", query_params={"notice": str(exc)})
    notice = f"Rolled back to version {earlier}: its text is live again, as version {version}."
    return Redirect(f"/supervisor/{kind}/{target}", query_params={"notice": notice})


FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


@get("/supervisor/templates/{item_id:int}", sync_to_thread=True, guards=[requires_supervisor])
def template_editor(
    request: Request,
    item_id: int,
    message: int | None = None,
    customer: int | None = None,
    diff: int | None = None,
    notice: str = "",
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
def template_save(request: Request, item_id: int, data: Annotated[EditForm, FORM]) -> Response[Any]:
    return _save(request, "templates", item_id, data)


@post(
    "/supervisor/templates/{item_id:int}/preview",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def template_preview_route(request: Request, item_id: int, data: PreviewRequest) -> PreviewResponse:
    return _preview(request, "templates", item_id, data)


@post(
    "/supervisor/templates/{item_id:int}/rollback",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def template_rollback(request: Request, item_id: int) -> Redirect:
    return _rollback(request, "templates", item_id)


@get("/supervisor/snippets/{item_id:int}", sync_to_thread=True, guards=[requires_supervisor])
def snippet_editor(
    request: Request,
    item_id: int,
    message: int | None = None,
    customer: int | None = None,
    diff: int | None = None,
    notice: str = "",
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
def snippet_save(request: Request, item_id: int, data: Annotated[EditForm, FORM]) -> Response[Any]:
    return _save(request, "snippets", item_id, data)


@post(
    "/supervisor/snippets/{item_id:int}/preview",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def snippet_preview_route(request: Request, item_id: int, data: PreviewRequest) -> PreviewResponse:
    return _preview(request, "snippets", item_id, data)


@post(
    "/supervisor/snippets/{item_id:int}/rollback",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def snippet_rollback(request: Request, item_id: int) -> Redirect:
    return _rollback(request, "snippets", item_id)


ROUTES += [
    content_list,
    template_editor,
    template_save,
    template_preview_route,
    template_rollback,
    snippet_editor,
    snippet_save,
    snippet_preview_route,
    snippet_rollback,
]


# -- classifier examples -------------------------------------------------------------------------


class LabelForm(Struct):
    label: str = ""
    text: str = ""
    back: str = ""


@get("/supervisor/classifiers", sync_to_thread=True, guards=[requires_supervisor])
def classifiers_page(
    request: Request,
    name: str = "intent",
    label: str | None = None,
    notice: str = "",
    error: str = "",
    at: str = "",
) -> Template:
    with _rt(request).factory() as session:
        names = examples.classifier_names(session)
        counts = examples.labels(session, name)
        chosen = label if label in counts else next(iter(counts), None)
        context = {
            "user": request.user,
            "names": names,
            "name": name,
            "counts": counts,
            "label": chosen,
            "examples": examples.examples(session, name, chosen) if chosen else [],
            "candidates": examples.candidates(session, name),
            "current": retrain.current_model(session, name),
            "job": retrain.latest_job(session, name),
            "notice": notice,
            "error": error,
            "at": at if at in ("corrections", "examples-per-label") else "",
        }
    return Template("supervisor/classifiers.html", context=context)


def _back(
    data: LabelForm, fallback: str, notice: str = "", error: str = "", section: str = ""
) -> Redirect:
    """To the page the form was on, scrolled to the `section` it was sent from: a supervisor
    going down the corrections stays on them instead of landing at the top."""
    target = data.back if data.back.startswith("/supervisor/classifiers") else fallback
    path, _, query = target.partition("?")
    params = dict(parse_qsl(query))
    for stale in ("notice", "error", "at"):
        params.pop(stale, None)
    if notice:
        params["notice"] = notice
    if error:
        params["error"] = error
    if section:
        params["at"] = section  # the page shows the notice there, where the eye is
    address = f"{path}?{urlencode(params)}" if params else path
    return Redirect(f"{address}#{section}" if section else address)


def _example_action(
    request: Request, data: LabelForm, action: Any, notice: str | Callable[[], str], section: str
) -> Redirect:
    """`notice` is said after the action; a callable, when the action decides its words."""
    fallback = "/supervisor/classifiers"
    try:
        with transaction(_rt(request).factory) as session:
            action(session)
    except ReviewError as exc:
        return _back(data, fallback, error=str(exc), section=section)
    said = notice if isinstance(notice, str) else notice()
    return _back(data, fallback, notice=said, section=section)


@post("/supervisor/classifiers/{name:str}/add", sync_to_thread=True, guards=[requires_supervisor])
def example_add(request: Request, name: str, data: Annotated[LabelForm, FORM]) -> Redirect:
    actor = _user(request).username
    return _example_action(
        request,
        data,
        lambda s: examples.add_example(s, name, data.label, data.text, actor),
        f"Example added to {data.label}.",
        "examples-per-label",
    )


@post(
    "/supervisor/classifiers/examples/{example_id:int}/move",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def example_move(request: Request, example_id: int, data: Annotated[LabelForm, FORM]) -> Redirect:
    actor = _user(request).username
    return _example_action(
        request,
        data,
        lambda s: examples.move_example(s, example_id, data.label, actor),
        f"Example moved to {data.label}.",
        "examples-per-label",
    )


@post(
    "/supervisor/classifiers/examples/{example_id:int}/remove",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def example_remove(request: Request, example_id: int, data: Annotated[LabelForm, FORM]) -> Redirect:
    actor = _user(request).username
    return _example_action(
        request,
        data,
        lambda s: examples.remove_example(s, example_id, actor),
        "Example removed.",
        "examples-per-label",
    )


@post(
    "/supervisor/classifiers/examples/{example_id:int}/accept",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def example_accept(request: Request, example_id: int, data: Annotated[LabelForm, FORM]) -> Redirect:
    rt, user = _rt(request), _user(request)
    relabelled: list[tuple[int, str]] = []

    def accept(session: Session) -> None:
        before = session.get(ClassifierExample, example_id)
        label = before.label if before else None
        row = examples.accept_candidate(
            session, example_id, user.username, data.label or None, queue=rt.settings.queue
        )
        if row.message_id is not None and row.label != label:
            relabelled.append((row.message_id, row.classifier))

    answer = _example_action(
        request, data, accept, "Correction accepted as a training example.", "corrections"
    )
    # A draft still waiting was written for the agent's label: write it for the one accepted.
    _redraft_relabelled(rt, user, relabelled)
    return answer


@post(
    "/supervisor/classifiers/examples/{example_id:int}/reject",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def example_reject(request: Request, example_id: int, data: Annotated[LabelForm, FORM]) -> Redirect:
    rt, user = _rt(request), _user(request)
    restored: list[tuple[int, str]] = []
    told: list[str] = []

    def reject(session: Session) -> None:
        row, label = examples.reject_candidate(
            session, example_id, user.username, queue=rt.settings.queue
        )
        told.append(examples.rejection_notice(session, row, label))
        if row.message_id is not None and label is not None:
            restored.append((row.message_id, row.classifier))

    answer = _example_action(request, data, reject, lambda: told[0], "corrections")
    # A draft still waiting was written for the agent's label: write it for the model's again.
    _redraft_relabelled(rt, user, restored)
    return answer


def _redraft_relabelled(rt: Runtime, user: StaffUser, relabelled: list[tuple[int, str]]) -> None:
    """Each waiting draft rewritten for its message's new label, one transaction each, the
    message embedded first outside any (so no write waits on the model)."""
    for message_id, classifier in relabelled:
        if classifier in REDRAFTED_ON:
            embed_before_writing(rt, message_id)
            with transaction(rt.factory) as session:
                redraft_after_correction(rt, session, message_id, classifier, user)


ROUTES += [
    classifiers_page,
    example_add,
    example_move,
    example_remove,
    example_accept,
    example_reject,
]


# -- auto-send policy ----------------------------------------------------------------------------


class PolicyForm(Struct):
    channel_id: int
    intent: str
    threshold: str = ""


@get("/supervisor/auto-send", sync_to_thread=True, guards=[requires_supervisor])
def auto_send_page(
    request: Request,
    notice: str = "",
    error: str = "",
    channel_id: int | None = None,
    intent: str = "",
    threshold: str = "",
) -> Template:
    """A refused threshold comes back in its own field (channel_id, intent, threshold), as typed."""
    with _rt(request).factory() as session:
        channels = auto_send.policies(session)
        intents = auto_send.intents(session)
        now = utcnow()
        rows, _ = load_history(session, auto_send_figures.scope(now))
        figures = auto_send_figures.intent_figures(
            session, rows, now, [(str(c["name"]), i) for c in channels for i in intents]
        )
    context = {
        "user": request.user,
        "channels": channels,
        "intents": intents,
        "figures": figures,
        "summary": auto_send_figures.summary,
        "as_percent": auto_send.as_percent,
        "days": auto_send_figures.DAYS,
        "refused": (channel_id, intent, threshold) if error and channel_id else None,
        "notice": notice,
        "error": error,
    }
    return Template("supervisor/auto_send.html", context=context)


@post("/supervisor/auto-send/set", sync_to_thread=True, guards=[requires_supervisor])
def auto_send_save(request: Request, data: Annotated[PolicyForm, FORM]) -> Redirect:
    try:
        with transaction(_rt(request).factory) as session:
            value = auto_send.set_auto_send(
                session, data.channel_id, data.intent, data.threshold, _user(request).username
            )
    except ReviewError as exc:
        kept = {"channel_id": str(data.channel_id), "intent": data.intent}
        return Redirect(
            "/supervisor/auto-send",
            query_params={"error": str(exc), **kept, "threshold": data.threshold},
        )
    state = (
        f"on at {auto_send.as_percent(value)}% confidence or more" if value is not None else "off"
    )
    notice = f"Auto-send for {data.intent} is {state}."
    return Redirect("/supervisor/auto-send", query_params={"notice": notice})


ROUTES += [auto_send_page, auto_send_save]


# -- retraining ----------------------------------------------------------------------------------


def _launch(request: Request, name: str) -> int:
    rt = _rt(request)
    folder = rt.settings.path(rt.settings.classify.definitions_dir)
    return retrain.launch(rt.factory, rt.embedder, folder, name, _user(request).username)


def _decide(request: Request, job_id: int, decision: str) -> str:
    """Activates or discards a retrained version; says what happened."""
    actor = _user(request).username
    with transaction(_rt(request).factory) as session:
        if decision == "activate":
            model = retrain.activate_job(session, job_id, actor)
            return f"Version {model.version} of {model.name} is now active."
        version = retrain.discard_job(session, job_id, actor)
        return f"Version {version} was discarded; the active model is unchanged."


def _classifiers_redirect(name: str, notice: str = "", error: str = "") -> Redirect:
    params = {"name": name}
    if notice:
        params["notice"] = notice
    if error:
        params["error"] = error
    return Redirect("/supervisor/classifiers", query_params=params)


@post(
    "/supervisor/classifiers/{name:str}/retrain", sync_to_thread=True, guards=[requires_supervisor]
)
def retrain_form(request: Request, name: str) -> Redirect:
    try:
        _launch(request, name)
    except retrain.RetrainError as exc:
        return _classifiers_redirect(name, error=str(exc))
    return _classifiers_redirect(name, notice=f"Retraining {name} from its current examples.")


@get(
    "/supervisor/classifiers/jobs/{job_id:int}/status",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def retrain_status(request: Request, job_id: int) -> dict[str, Any]:
    """Polled by retrain.js while the page shows a running job."""
    with _rt(request).factory() as session:
        try:
            return retrain.job_view(session, job_id).as_json()
        except retrain.RetrainError as exc:
            raise NotFoundException(str(exc)) from exc


def _decision_form(request: Request, job_id: int, decision: str) -> Redirect:
    with _rt(request).factory() as session:
        try:
            name = retrain.job_view(session, job_id).classifier
        except retrain.RetrainError as exc:
            raise NotFoundException(str(exc)) from exc
    try:
        notice = _decide(request, job_id, decision)
    except retrain.RetrainError as exc:
        return _classifiers_redirect(name, error=str(exc))
    return _classifiers_redirect(name, notice=notice)


@post(
    "/supervisor/classifiers/jobs/{job_id:int}/activate",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def retrain_activate_form(request: Request, job_id: int) -> Redirect:
    return _decision_form(request, job_id, "activate")


@post(
    "/supervisor/classifiers/jobs/{job_id:int}/discard",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def retrain_discard_form(request: Request, job_id: int) -> Redirect:
    return _decision_form(request, job_id, "discard")


def _api_error(exc: retrain.RetrainError) -> HTTPException:
    return HTTPException(status_code=exc.status_code, detail=str(exc))


@post(
    "/api/supervisor/classifiers/{name:str}/retrain",
    sync_to_thread=True,
    guards=[requires_supervisor],
    status_code=202,
)
def api_retrain(request: Request, name: str) -> dict[str, Any]:
    """Starts a retrain; poll the job until its state is no longer `running`."""
    try:
        job_id = _launch(request, name)
    except retrain.RetrainError as exc:
        raise _api_error(exc) from exc
    with _rt(request).factory() as session:
        return retrain.job_view(session, job_id).as_json()


@get(
    "/api/supervisor/classifiers/jobs/{job_id:int}",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def api_retrain_status(request: Request, job_id: int) -> dict[str, Any]:
    with _rt(request).factory() as session:
        try:
            return retrain.job_view(session, job_id).as_json()
        except retrain.RetrainError as exc:
            raise _api_error(exc) from exc


def _api_decide(request: Request, job_id: int, decision: str) -> dict[str, Any]:
    try:
        _decide(request, job_id, decision)
    except retrain.RetrainError as exc:
        raise _api_error(exc) from exc
    with _rt(request).factory() as session:
        return retrain.job_view(session, job_id).as_json()


@post(
    "/api/supervisor/classifiers/jobs/{job_id:int}/activate",
    sync_to_thread=True,
    guards=[requires_supervisor],
    status_code=200,
)
def api_retrain_activate(request: Request, job_id: int) -> dict[str, Any]:
    return _api_decide(request, job_id, "activate")


@post(
    "/api/supervisor/classifiers/jobs/{job_id:int}/discard",
    sync_to_thread=True,
    guards=[requires_supervisor],
    status_code=200,
)
def api_retrain_discard(request: Request, job_id: int) -> dict[str, Any]:
    return _api_decide(request, job_id, "discard")


ROUTES += [
    retrain_form,
    retrain_status,
    retrain_activate_form,
    retrain_discard_form,
    api_retrain,
    api_retrain_status,
    api_retrain_activate,
    api_retrain_discard,
]

ROUTES += RULE_ROUTES + ACTION_RULE_ROUTES
