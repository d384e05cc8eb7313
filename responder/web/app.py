"""The Litestar app: review pages for staff and the same actions as a JSON API.

Controllers stay thin: they check who is asking, then call the review service that the CLI
uses too.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from anyio import to_thread
from jinja2 import Environment, FileSystemLoader
from litestar import Litestar, Request, Response, Router, get, post
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie, ResponseHeader, State
from litestar.enums import RequestEncodingType
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.logging.config import LoggingConfig
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_301_MOVED_PERMANENTLY
from litestar.template.config import TemplateConfig
from msgspec import Struct
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from responder.acknowledge import unsent_acknowledgements
from responder.channels.imap_state import GONE
from responder.channels.social.deliveries import failed_deliveries
from responder.classify.titles import LabelTitles
from responder.config import DraftingSettings, business_calendar
from responder.corrections import AlreadyLabelled, Correction, reclassify
from responder.customers.view import from_words
from responder.db.models import Message, StaffUser, utcnow
from responder.db.session import transaction
from responder.display import headline
from responder.drafting.render import money_filter
from responder.drafting.service import (
    REDRAFTED_ON,
    AlreadyInDraft,
    Redraft,
    embed_before_writing,
    pick_action,
    redraft_after_correction,
)
from responder.mentions import mark_seen, unseen_count
from responder.notes import EDIT_WINDOW, MAX_NOTE_CHARS, mark_changeable
from responder.pipeline.states import state_words
from responder.presence import HEARTBEAT_SECONDS, new_page_id, present, record
from responder.review import (
    ReviewError,
    approve,
    assign,
    open_for_review,
    reject,
    retry,
    save_draft,
    undo_approval,
)
from responder.runtime import Runtime
from responder.sizes import readable_size
from responder.snooze import snooze_choices, snoozed_count
from responder.users import SWITCHED_OFF, AccountSwitchedOff, authenticate, role_at_least
from responder.web.acknowledgement_pages import ROUTES as ACKNOWLEDGEMENT_PAGE_ROUTES
from responder.web.acknowledgement_routes import ACKNOWLEDGEMENT_ROUTES
from responder.web.action_rule_pages import ROUTES as ACTION_RULE_ROUTES
from responder.web.api_docs import EndpointList
from responder.web.assets import asset
from responder.web.attachment_routes import ATTACHMENT_ROUTES
from responder.web.audit_detail import action_words, audit_fields
from responder.web.auth import (
    COOKIE,
    ENDED_BECAUSE,
    AuthMiddleware,
    SessionEnded,
    close_session,
    open_session,
    requires_agent,
    requires_supervisor,
)
from responder.web.auto_send_pages import ROUTES as AUTO_SEND_ROUTES
from responder.web.blocked_pages import ROUTES as BLOCKED_ROUTES
from responder.web.bulk import BULK_ROUTES
from responder.web.classifier_pages import ROUTES as CLASSIFIER_ROUTES
from responder.web.clock import PageClock
from responder.web.content_editor_pages import ROUTES as CONTENT_EDITOR_ROUTES
from responder.web.content_list_pages import ROUTES as CONTENT_LIST_ROUTES
from responder.web.content_new_pages import ROUTES as NEW_CONTENT_ROUTES
from responder.web.content_retire_pages import ROUTES as CONTENT_RETIRE_ROUTES
from responder.web.customer_data_pages import PAGE as CUSTOMER_DATA_PAGE
from responder.web.customer_data_pages import ROUTES as CUSTOMER_DATA_ROUTES
from responder.web.customer_data_pages import customer_data_router, too_large_page
from responder.web.customers import CUSTOMER_ROUTES
from responder.web.dashboard_pages import ROUTES as DASHBOARD_ROUTES
from responder.web.delivery_words import delivery_words
from responder.web.hostile_input import CheckedRequest, refuse_impossible_path_values
from responder.web.ignored_pages import ROUTES as IGNORED_ROUTES
from responder.web.incident_pages import ROUTES as INCIDENT_ROUTES
from responder.web.login_allowance import give_back, take_attempt
from responder.web.mention_pages import ROUTES as MENTION_ROUTES
from responder.web.next_draft import after_action, first_free, following, to_draft, waiting_to_send
from responder.web.note_routes import NOTE_ROUTES, TypedNote
from responder.web.operations import metrics, readyz
from responder.web.outage import database_error
from responder.web.params import RowId, row_id_in
from responder.web.presence_routes import PRESENCE_ROUTES, open_by, presence_notice
from responder.web.queue_view import (
    QueueView,
    filter_form,
    filters_from,
    next_page_link,
    previous_cursor,
    view_in,
)
from responder.web.queue_watch import QUEUE_WATCH_ROUTES, newest_message
from responder.web.raw_routes import RAW_ROUTES
from responder.web.redraft_routes import REDRAFT_ROUTES
from responder.web.reopen_routes import REOPEN_ROUTES
from responder.web.reply_file_routes import (
    FORM_BODY_LIMIT,
    REPLY_FILE_ROUTES,
    ReviewForm,
    apply_files,
    review_form,
)
from responder.web.reply_window import window_warning
from responder.web.resolved_hints import resolve_hints
from responder.web.retrain_pages import ROUTES as RETRAIN_ROUTES
from responder.web.rule_pages import ROUTES as RULE_ROUTES
from responder.web.search import SEARCH_ROUTES, SEARCHABLE_ENTITIES
from responder.web.session_cache import SessionCache, start_session_listener
from responder.web.snippet_insert import SNIPPET_ROUTES
from responder.web.snooze_routes import SNOOZE_ROUTES
from responder.web.spam_routes import SPAM_ROUTES
from responder.web.staff_pages import ROUTES as STAFF_ROUTES
from responder.web.state import runtime as _rt
from responder.web.state import signed_in as _form_user
from responder.web.unsent_routes import UNSENT_ROUTES
from responder.web.views import (
    CORRECTABLE,
    AuditFilter,
    CountsCache,
    audit_entries,
    channel_choices,
    labels_of,
    message_detail,
    problem_count,
    problem_items,
    queue_counts,
    queue_items,
)
from responder.web.warm import start_warming
from responder.web.webhook_delivery_pages import ROUTES as WEBHOOK_DELIVERY_ROUTES
from responder.web.webhooks import WEBHOOK_ROUTES
from responder.web.write_routes import WRITE_ROUTES, undo_written, undo_written_form

HERE = Path(__file__).parent
PUBLIC_PATHS = [
    "^/login$",
    "^/healthz$",
    "^/readyz$",
    "^/metrics$",
    "^/webhooks/",
    "^/static/",
    "^/favicon.ico$",
    "^/api/login$",
]


# -- pages ---------------------------------------------------------------------------------------


def _local_path(target: str) -> bool:
    """A path on this site: "//host" and "/\\host" are other sites to a browser."""
    return target.startswith("/") and not target.startswith(("//", "/\\"))


@get("/login", sync_to_thread=False)
def login_page(
    next: FromQuery[str] = "/queue", ended: FromQuery[bool] = False, because: FromQuery[str] = ""
) -> Template:
    """`ended`: a form was sent after the session ended; what it asked was not done.
    `because`: why the session was ended (a password change or reset, a deactivation)."""
    said = [ENDED_BECAUSE[because]] if because in ENDED_BECAUSE else []
    if ended:
        said.append(
            (
                "What you sent was not done, so nothing was changed: sign in and do it again"
                if said
                else "Your session ended before that was done, so nothing was changed: "
                "sign in and do it again"
            )
            + " (text you typed in a draft is kept in this browser and offered back on its page)."
        )
    context = {"next": next, "error": "", "notice": " ".join(said)}
    return Template("login.html", context=context)


class LoginForm(Struct):
    username: str
    password: str
    next: str = "/queue"


def _client_key(request: Request, username: str) -> str:
    host = request.client.host if request.client else "unknown"
    name = username.strip().lower().replace("\x00", "")  # PostgreSQL text refuses NUL
    return f"{name[:150]}|{host}"  # the key's column holds 200: no account's name is longer


@post("/login", sync_to_thread=True)
def login_submit(
    request: Request, data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Response[Any]:
    rt = _rt(request)
    key = _client_key(request, data.username)
    # A refused attempt's page gives the name back, so only the password is typed again.
    again = {"next": data.next, "username": data.username.replace("\x00", "")[:150]}
    attempt = take_attempt(rt.factory, key, rt.settings.web.login_attempts_per_minute)
    if attempt is None:
        return Template(
            "login.html",
            context={**again, "error": "Too many attempts: wait a minute."},
            status_code=429,
        )
    with transaction(rt.factory) as session:
        try:
            user = authenticate(session, data.username, data.password)
        except AccountSwitchedOff:
            context = {**again, "error": SWITCHED_OFF}
            return Template("login.html", context=context, status_code=403)
        if user is None:
            error = "Unknown user or wrong password."
            context = {**again, "error": error}
            return Template("login.html", context=context, status_code=401)
        give_back(session, attempt)
        token = open_session(session, user, "cookie", rt.settings.web.session_hours)
    target = data.next if _local_path(data.next) else "/queue"
    return Redirect(
        target,
        cookies=[
            Cookie(
                key=COOKIE,
                value=token,
                httponly=True,
                secure=rt.settings.web.secure_cookies,
                samesite="lax",
                max_age=rt.settings.web.session_hours * 3600,
                path="/",
            )
        ],
    )


@post("/logout", sync_to_thread=True, guards=[requires_agent])
def logout(request: Request) -> Redirect:
    with transaction(_rt(request).factory) as session:
        close_session(session, str(request.auth))
    # This process forgets at once; the others when the trigger's NOTIFY reaches them.
    request.app.state.sessions.forget_all()
    response = Redirect("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@get("/", sync_to_thread=False, guards=[requires_agent])
def home() -> Redirect:
    return Redirect("/queue")


@get("/queue", sync_to_thread=False, guards=[requires_agent])
def queue_page(
    request: Request,
    channel: FromQuery[str] = "",
    intent: FromQuery[str | None] = None,
    tier: FromQuery[str | None] = None,
    assignee: FromQuery[str] = "",
    cursor: FromQuery[str | None] = None,
    sentiment: FromQuery[str | None] = None,
) -> Template:
    """Runs on the event loop, not in a thread: its indexed queries take about a millisecond,
    and the hand-off to a thread and back cost a fifth of the page's CPU under load (one web
    process per core serves the pages in parallel)."""
    rt = _rt(request)
    me = _form_user(request).id
    filters = filters_from(channel, intent, tier, assignee, sentiment, me=me)
    view = QueueView(filters)
    page_size = rt.settings.queue.page_size
    with rt.read_factory() as session:
        cached = request.app.state.counts.get(session)
        # one row more than the page: a page exactly full at the queue's end has no next page
        rows = queue_items(
            session,
            limit=page_size + 1,
            filters=filters,
            cursor=cursor,
            channels=cached.channels,
        )
        items, more = rows[:page_size], len(rows) > page_size
        counts = queue_counts(session, filters, request.app.state.counts)
        channels = channel_choices(session, request.app.state.counts)
        snoozed = snoozed_count(session)
        others = present(session, (i["id"] for i in items), besides=me)
        first = first_free(session, items, others, view, me, more=more)
        previous = previous_cursor(session, filters, cursor, page_size)
        newest = newest_message(session)
    context = {
        "items": items,
        # who else has each row's review page open now (presence, not the claim's ten minutes)
        "open_by": others,
        "counts": counts,
        "problems": cached.problems,
        # Not from the counts cache: an agent who just snoozed a draft looks for it here.
        "snoozed": snoozed,
        "snooze_choices": snooze_choices(
            utcnow(), rt.settings.queue.timezone, business_calendar(rt.settings.queue)
        ),
        "staff": cached.staff,
        "notice": request.query_params.get("notice", ""),
        "approved": waiting_to_send(request),
        "opening": request.app.state.clock.opening(business_calendar(rt.settings.queue), utcnow()),
        "error": request.query_params.get("error", ""),
        "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "user": request.user,
        # the filter form: each value chosen is an option, even where nothing matches it
        **filter_form(view, counts, channels, cached.staff, me),
        # the rows' links and the pager keep the filters; a review page opened from a row keeps
        # them too, for its next draft and its way back here
        "view": view,
        # the draft "next" and `j` open: the first row no colleague has open, as the review
        # page's next draft passes over them
        "next": first,
        "next_cursor": items[-1]["cursor"] if more else None,
        # "" is the first page; None: this is the first page
        "previous_cursor": previous,
        # the page's check for drafts come in since (static/queue_watch.js)
        "watch": {"after": newest, "every": rt.settings.queue.watch_seconds},
    }
    return Template("queue.html", context=context)


def _previous(request: Request) -> int | None:
    """The draft a person came from (`?from=`, set by "next" and by the move on after an
    action), for the "previous" link and `k`; anything else in it is ignored."""
    return row_id_in(request.query_params.get("from", ""))


@get("/messages/{message_id:int}", sync_to_thread=True, guards=[requires_agent])
def review_page(
    request: Request,
    message_id: FromPath[int],
    channel: FromQuery[str] = "",
    intent: FromQuery[str | None] = None,
    tier: FromQuery[str | None] = None,
    assignee: FromQuery[str] = "",
    sentiment: FromQuery[str | None] = None,
) -> Template | Redirect:
    """The queue's filters (the view it was opened from) are taken, and refused, as the queue
    takes them; `_review_page` reads them from the query string, as the actions' pages do."""
    ours = _our_message_page(request, message_id)
    if ours is not None:
        return ours
    filters_from(channel, intent, tier, assignee, sentiment, me=_form_user(request).id)
    return _review_page(request, message_id, error=request.query_params.get("error", ""))


def _ours(request: Request, message_id: int) -> int | None:
    """The customer of a new message staff wrote (our outbound row); None for theirs."""
    with _rt(request).factory() as session:
        row = session.execute(
            select(Message.direction, Message.customer_id).where(Message.id == message_id)
        ).first()
    if row is None or row.direction != "out":
        return None
    return row.customer_id


def _our_message_page(request: Request, message_id: int) -> Redirect | None:
    """A new message staff wrote (our outbound row) has no review page: it is shown, and
    retried when it could not be sent, in its customer's timeline. Needs attention, the audit
    log and a retry's answer link here; their notice or error goes along."""
    customer_id = _ours(request, message_id)
    if customer_id is None:
        return None
    said = {k: v for k in ("notice", "error") if (v := request.query_params.get(k))}
    query = f"?{urlencode(said)}" if said else ""
    return Redirect(f"/customers/{customer_id}{query}#message-{message_id}")


def _review_page(
    request: Request,
    message_id: int,
    *,
    error: str = "",
    unsaved: str | None = None,
    sent_version: int | None = None,
    typed_note: TypedNote | None = None,
    status_code: int = 200,
) -> Template:
    """`unsaved`: the text of a save or approve that was refused. Where the message changed
    meanwhile (`sent_version` is not its version now) it is shown beside the latest draft to
    copy across; otherwise (too long for the channel, a file too big) it stays in the editor
    to be mended, so Approve again cannot send the draft it replaced. `typed_note`: a note
    refused, back in its form; an edit that can no longer be made, in the new-note form."""
    rt = _rt(request)
    me = _form_user(request)
    view = view_in(request.query_params, me.id)
    page = new_page_id()  # this drawing of the page, which its heartbeats and beacon name
    with transaction(rt.factory) as session:
        open_for_review(session, message_id, me, rt.settings.queue.soft_claim_minutes)
        opened = session.get(Message, message_id)
        if opened is not None:
            mark_seen(session, me.id, opened)
            record(session, message_id, me.id, page=page)
    with rt.factory() as session:
        detail = message_detail(
            session,
            message_id,
            rt.settings.customers,
            request.app.state.titles,
            supervising=role_at_least(me.role, "supervisor"),
        )
        if detail is None:
            raise NotFoundException(f"message {message_id} not found")
        after = following(session, message_id, view, me.id)
        window = window_warning(session, message_id, rt.settings.social, utcnow())
        staff = session.scalars(
            select(StaffUser.username)
            .where(StaffUser.active.is_(True))
            .order_by(StaffUser.username)
        ).all()
        others = present(session, [message_id], besides=me.id).get(message_id, [])
    mark_changeable(detail["notes"], me.username, utcnow())
    if typed_note is not None and not any(
        n["id"] == typed_note.note_id and n["changeable"] for n in detail["notes"]
    ):
        typed_note = dataclasses.replace(typed_note, note_id=None)
    if unsaved is not None and detail["draft"] and sent_version == detail["version"]:
        detail["draft"]["body"], unsaved = unsaved, None
    with rt.factory() as session:
        labels = labels_of(session, CORRECTABLE)
    context = {
        "labels": labels,
        "m": detail,
        "window": window,
        "max_reply_files": rt.settings.outbound.max_reply_files_bytes,
        "acknowledge_when": rt.settings.acknowledge.when,
        "quotes_customer": rt.settings.outbound.quote_original,
        "user": request.user,
        "error": error,
        "unsaved": unsaved,
        "typed_note": typed_note,
        "notice": request.query_params.get("notice", ""),
        "approved": waiting_to_send(request, message_id),
        "next": after,
        "previous": _previous(request),
        # the queue view the page was opened from, kept on its links and forms
        "view": view,
        # who else has the page open now, said where the draft is and kept current by its
        # heartbeat (static/presence.js)
        "presence_notice": presence_notice(others, request.app.state.clock),
        "presence_every": HEARTBEAT_SECONDS,
        "presence_page": page,
        "staff": staff,
        "searchable_entities": SEARCHABLE_ENTITIES,
        "edit_minutes": int(EDIT_WINDOW.total_seconds() // 60),
        # the note forms stop typing where `responder.notes` refuses a note
        "max_note_chars": MAX_NOTE_CHARS,
        "snooze_choices": snooze_choices(
            utcnow(), rt.settings.queue.timezone, business_calendar(rt.settings.queue)
        ),
    }
    return Template("review.html", context=context, status_code=status_code)


class RejectForm(Struct):
    reason: str
    version: int | None = None


def _attempt(
    request: Request,
    message_id: int,
    act: Callable[[Session], object],
    unsaved: str | None = None,
    sent_version: int | None = None,
) -> Redirect | Template | None:
    """Run a review action in one transaction; on refusal, back to the page with the reason,
    and with `unsaved` (the text the person sent, for `sent_version` of the message) on it
    where there is one to keep."""
    try:
        with transaction(_rt(request).factory) as session:
            act(session)
    except ReviewError as exc:
        said = request.app.state.clock.refusal(exc)
        if unsaved is not None:
            return _review_page(
                request,
                message_id,
                error=said,
                unsaved=unsaved,
                sent_version=sent_version,
                status_code=409,
            )
        return to_draft(request, message_id, error=said)
    return None


@post(
    "/messages/{message_id:int}/approve",
    guards=[requires_agent],
    request_max_body_size=FORM_BODY_LIMIT,
)
async def approve_form(request: Request, message_id: FromPath[int]) -> Redirect | Template:
    """The draft form (multipart: files to send ride along) approves the text as shown."""
    form = await review_form(request)
    return await to_thread.run_sync(_approve, request, message_id, form)


def _with_files(
    request: Request,
    message_id: int,
    form: ReviewForm,
    action: Callable[[Session, StaffUser], object],
) -> Redirect | Template | None:
    """The form's file changes and the action in one transaction: a refusal keeps neither, and
    keeps the text sent on the page (`_review_page` says where)."""
    rt = _rt(request)
    user = _form_user(request)

    def act(session: Session) -> None:
        apply_files(session, message_id, form, user, rt.settings.outbound.max_reply_files_bytes)
        action(session, user)

    return _attempt(request, message_id, act, unsaved=form.body, sent_version=form.version)


def _approve(request: Request, message_id: int, form: ReviewForm) -> Redirect | Template:
    outbound = _rt(request).settings.outbound
    failed = _with_files(
        request,
        message_id,
        form,
        lambda session, user: approve(
            session,
            message_id,
            user,
            outbound,
            body=form.body,
            expected_version=form.version,
            timezone=_rt(request).settings.queue.timezone,
            settings=_rt(request).settings,
        ),
    )
    return failed or after_action(request, message_id, undoable=outbound.undo_seconds > 0)


@post("/messages/{message_id:int}/undo", sync_to_thread=True, guards=[requires_agent])
def undo_form(request: Request, message_id: FromPath[int]) -> Redirect:
    """Undo send: the reply stays unsent and its draft is back on the page, as approved; a new
    message staff wrote is back on its write form."""
    customer_id = _ours(request, message_id)
    if customer_id is not None:
        return undo_written_form(request, customer_id, message_id)
    failed = _attempt(
        request, message_id, lambda session: undo_approval(session, message_id, _form_user(request))
    )
    return failed or to_draft(
        request, message_id, notice="Not sent: the reply is back here as a draft."
    )


@post("/messages/{message_id:int}/reject", sync_to_thread=True, guards=[requires_agent])
def reject_form(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[RejectForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    failed = _attempt(
        request,
        message_id,
        lambda session: reject(
            session, message_id, _form_user(request), data.reason, expected_version=data.version
        ),
    )
    rejected = f"Rejected the draft for message {message_id}: nothing was sent to the customer."
    return failed or after_action(request, message_id, rejected)


@post("/messages/{message_id:int}/retry", sync_to_thread=True, guards=[requires_agent])
def retry_form(request: Request, message_id: FromPath[int]) -> Redirect:
    resent: list[str] = []

    def act(session: Session) -> None:
        message = retry(session, message_id, _form_user(request).username)
        if message.state == "approved":  # a new message staff wrote, or a reply
            resent.append("message" if message.direction == "out" else "reply")
        elif message.state == "quarantined":  # IMAP mail the server would not return
            resent.append("")
        elif message.state == "ignored":  # and never will: its UID no longer names it
            resent.append(message.state_reason)

    failed = _attempt(request, message_id, act)
    if resent and resent[0].startswith(GONE):
        notice = f"Not fetched: {resent[0]}. It is under Ignored mail now."
    elif resent and not resent[0]:
        notice = (
            "Asked the mail server for it again on the mailbox's next check: reload soon to "
            "see how it went."
        )
    elif resent:
        notice = f"The {resent[0]} is queued to be sent again."
    else:
        notice = "Sent to be read again from the mail as received: reload soon to see how it went."
    return failed or to_draft(request, message_id, notice=notice)


class AssignForm(Struct):
    assignee: str = ""


@post(
    "/messages/{message_id:int}/save",
    guards=[requires_agent],
    request_max_body_size=FORM_BODY_LIMIT,
)
async def save_form(request: Request, message_id: FromPath[int]) -> Redirect | Template:
    form = await review_form(request)
    return await to_thread.run_sync(_save, request, message_id, form)


def _save(request: Request, message_id: int, form: ReviewForm) -> Redirect | Template:
    failed = _with_files(
        request,
        message_id,
        form,
        lambda session, user: save_draft(
            session,
            message_id,
            user,
            form.body,
            expected_version=form.version,
            settings=_rt(request).settings,
        ),
    )
    return failed or to_draft(request, message_id, notice="Draft saved.")


@post("/messages/{message_id:int}/assign", sync_to_thread=True, guards=[requires_agent])
def assign_form(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[AssignForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    try:
        with transaction(_rt(request).factory) as session:
            assign(session, message_id, _form_user(request), data.assignee or None)
    except ReviewError as exc:
        return to_draft(request, message_id, error=request.app.state.clock.refusal(exc))
    notice = f"Assigned to {data.assignee}." if data.assignee else "Back in the shared queue."
    return to_draft(request, message_id, notice=notice)


class ClassificationForm(Struct):
    label: str
    classifier: str = "intent"


@post("/messages/{message_id:int}/classification", sync_to_thread=True, guards=[requires_agent])
def classification_form(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[ClassificationForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    """An agent's correction: stored as a candidate example for the supervisor to accept."""
    try:
        _, redraft = _correct(request, message_id, data.classifier, data.label)
    except AlreadyLabelled as exc:
        return to_draft(request, message_id, error=exc.said(request.app.state.titles))
    except ReviewError as exc:
        return to_draft(request, message_id, error=str(exc))
    said = request.app.state.titles(data.label, data.classifier)
    notice = f"Recorded as {said}; a supervisor reviews it as a new example."
    if redraft.draft_version is not None:
        notice += f" The draft was written again for it (v{redraft.draft_version})."
    elif redraft.kept_saved:
        notice += " The draft a person saved was kept as it is."
    return to_draft(request, message_id, notice=notice)


def _correct(
    request: Request, message_id: int, classifier: str, label: str
) -> tuple[Correction, Redraft]:
    """The correction, and the draft following it, in one transaction."""
    rt = _rt(request)
    user = _form_user(request)
    if classifier in REDRAFTED_ON:
        embed_before_writing(rt, message_id)
    with transaction(rt.factory) as session:
        done = reclassify(session, message_id, user, classifier, label, queue=rt.settings.queue)
        return done, redraft_after_correction(rt, session, message_id, classifier, user)


class ActionForm(Struct):
    action: str
    version: int | None = None


@post("/messages/{message_id:int}/action", sync_to_thread=True, guards=[requires_agent])
def action_form(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[ActionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    rt = _rt(request)
    embed_before_writing(rt, message_id)
    try:
        with transaction(rt.factory) as session:
            picked = pick_action(
                rt, session, message_id, data.action, _form_user(request),
                expected_version=data.version,
            )  # fmt: skip
            error = picked.draft.error
    except AlreadyInDraft as exc:
        return to_draft(request, message_id, notice=f"{exc}.")
    except ReviewError as exc:
        return to_draft(request, message_id, error=str(exc))
    if error:
        return to_draft(request, message_id, error=error)
    notice = (
        f"Added {picked.label} to your edited draft."
        if picked.added_to_edited
        else "Draft updated."
    )
    return to_draft(request, message_id, notice=notice)


@get("/problems", sync_to_thread=True, guards=[requires_agent])
def problems_page(request: Request, before: RowId = None) -> Template:
    """Mail that could not be taken in and replies that could not be delivered, with why."""
    rt = _rt(request)
    page_size = rt.settings.queue.page_size
    with rt.read_factory() as session:
        items = problem_items(session, before_id=before, limit=page_size)
        total = problem_count(session)
        acknowledgements = unsent_acknowledgements(session, rt.settings) if before is None else []
        deliveries = failed_deliveries(session) if before is None else []
    context = {
        "items": items,
        "total": total,
        "acknowledgements": acknowledgements,
        "webhook_deliveries": deliveries,
        "acknowledge_when": rt.settings.acknowledge.when,
        "notice": request.query_params.get("notice", ""),
        "error": request.query_params.get("error", ""),
        "user": request.user,
        "older": items[-1]["id"] if len(items) == page_size else None,
        "paged": before is not None,
    }
    return Template("problems.html", context=context)


@get("/api/problems", sync_to_thread=True, guards=[requires_agent])
def api_problems(request: Request, before: RowId = None) -> dict[str, Any]:
    rt = _rt(request)
    with rt.read_factory() as session:
        items = problem_items(session, before_id=before, limit=rt.settings.queue.page_size)
        return {
            "total": problem_count(session),
            "items": items,
            "acknowledgements": unsent_acknowledgements(session, rt.settings)
            if before is None
            else [],
            "webhook_deliveries": failed_deliveries(session) if before is None else [],
        }


#: The audit log's page: "Older" goes on from its last entry.
AUDIT_PAGE = 200


@get("/audit", sync_to_thread=True, guards=[requires_supervisor])
def audit_page(
    request: Request,
    before: RowId = None,
    actor: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    on: FromQuery[str | None] = None,
) -> Template:
    filters = AuditFilter.clean(actor, action, on)
    with _rt(request).factory() as session:
        entries = audit_entries(session, before=before, limit=AUDIT_PAGE, filters=filters)
    context = {
        "entries": entries,
        "user": request.user,
        "filters": filters,
        "older": entries[-1]["id"] if len(entries) == AUDIT_PAGE else None,
        "paged": before is not None,
        # the filters kept from page to page
        "kept": {k: v for k, v in dataclasses.asdict(filters).items() if v},
    }
    return Template("audit.html", context=context)


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/favicon.ico", sync_to_thread=False, include_in_schema=False)
def favicon() -> Redirect:
    """Browsers ask for /favicon.ico whatever the page's icon link says: send them to it."""
    return Redirect("/static/favicon.svg", status_code=HTTP_301_MOVED_PERMANENTLY)


# -- JSON API ------------------------------------------------------------------------------------


class ApiLogin(Struct):
    username: str
    password: str


class ApiToken(Struct):
    token: str
    username: str
    role: str


class ApiApprove(Struct):
    body: str | None = None
    version: int | None = None


class ApiReject(Struct):
    reason: str
    version: int | None = None


class ApiClassification(Struct):
    label: str
    classifier: str = "intent"


class ApiCorrection(Struct):
    id: int
    classifier: str
    label: str
    previous: str | None
    example_id: int
    draft_version: int | None = None  # the draft written again after the correction
    kept_saved_draft: bool = False


class ApiResult(Struct):
    id: int
    state: str
    outbox_message_id: str | None = None


@post("/api/login", sync_to_thread=True)
def api_login(request: Request, data: JSONBody[ApiLogin]) -> ApiToken:
    rt = _rt(request)
    key = _client_key(request, data.username)
    attempt = take_attempt(rt.factory, key, rt.settings.web.login_attempts_per_minute)
    if attempt is None:
        raise HTTPException(status_code=429, detail="too many attempts: wait a minute")
    with transaction(rt.factory) as session:
        try:
            user = authenticate(session, data.username, data.password)
        except AccountSwitchedOff:
            user, switched_off = None, True
        else:
            switched_off = False
        if user is not None:
            give_back(session, attempt)
        token = open_session(session, user, "api", rt.settings.web.session_hours) if user else None
        result = ApiToken(token=token, username=user.username, role=user.role) if user else None
    if switched_off:
        raise PermissionDeniedException(SWITCHED_OFF)
    if result is None:  # the attempt was counted before the password was checked
        raise NotAuthorizedException("unknown user or wrong password")
    return result


#: `GET /api/queue`'s words on `/schema` and in the OpenAPI document.
API_QUEUE_SAID = (
    "Soonest due first, `limit` at a time (1 to 500, 50 if not given), as a list. Each row's "
    "`cursor`, passed back as `?cursor=`, continues after that row's place in the order, as "
    '`/api/queue/page` and the queue page do; the response\'s `Link` header (`rel="next"`) is '
    "the next page's address, filters, `limit` and cursor in it, absent on the last page. "
    "`after` (a message id; `cursor` wins when both are given) still continues after that "
    "message's place as it is now. The queue page's filters narrow it, taken as the page takes "
    "them: `channel` (an id; empty for all), `assignee` (a staff account's id, `none` for the "
    "drafts nobody has, `mine_or_none` for the asker's and those; empty for everyone), "
    "`intent`, `tier` and `sentiment` (codes, as the page's links write them). A channel or "
    "assignee not so given is a 400 naming it (`extra`: `key`, `message`)."
)


@get(
    "/api/queue",
    sync_to_thread=True,
    guards=[requires_agent],
    summary="Drafts waiting for review, in the queue's order, in the queue page's filters",
    description=API_QUEUE_SAID,
    response_headers=[
        ResponseHeader(
            name="Link",
            description='`<the next page\'s address>; rel="next"`, absent on the last page',
            documentation_only=True,
        )
    ],
)
def api_queue(
    request: Request,
    limit: FromQuery[int] = 50,
    after: RowId = None,
    cursor: FromQuery[str | None] = None,
    channel: FromQuery[str] = "",
    intent: FromQuery[str | None] = None,
    tier: FromQuery[str | None] = None,
    assignee: FromQuery[str] = "",
    sentiment: FromQuery[str | None] = None,
) -> Response[list[dict[str, Any]]]:
    """One row more than the page is read, so the last page says it is the last."""
    limit = min(max(limit, 1), 500)
    filters = filters_from(channel, intent, tier, assignee, sentiment, me=_form_user(request).id)
    with _rt(request).factory() as session:
        rows = queue_items(session, limit=limit + 1, after_id=after, filters=filters, cursor=cursor)
    items = rows[:limit]
    headers: dict[str, str] = {}
    if len(rows) > limit:
        headers["Link"] = next_page_link(request.url.path, QueueView(filters), limit, items[-1])
    return Response(items, headers=headers)


@get("/api/messages/{message_id:int}", sync_to_thread=True, guards=[requires_agent])
def api_message(request: Request, message_id: FromPath[int]) -> dict[str, Any]:
    """`open_by`: who else has its review page open now (not the person asking), first opener
    first, and whether they are typing in its draft."""
    rt = _rt(request)
    with rt.factory() as session:
        detail = message_detail(
            session,
            message_id,
            rt.settings.customers,
            request.app.state.titles,
            supervising=role_at_least(_form_user(request).role, "supervisor"),
        )
        if detail is None:
            raise NotFoundException(f"message {message_id} not found")
        others = present(session, [message_id], besides=_form_user(request).id)
    detail["open_by"] = open_by(others.get(message_id, []))
    return detail


def _review_error(exc: ReviewError) -> HTTPException:
    return HTTPException(status_code=exc.status_code, detail=str(exc))


@post("/api/messages/{message_id:int}/approve", sync_to_thread=True, guards=[requires_agent])
def api_approve(
    request: Request, message_id: FromPath[int], data: JSONBody[ApiApprove]
) -> ApiResult:
    rt = _rt(request)
    try:
        with transaction(rt.factory) as session:
            item = approve(
                session,
                message_id,
                _form_user(request),
                rt.settings.outbound,
                body=data.body,
                expected_version=data.version,
                timezone=rt.settings.queue.timezone,
                settings=rt.settings,
            )
            return ApiResult(
                id=message_id, state="approved", outbox_message_id=item.message_id_header
            )
    except ReviewError as exc:
        raise _review_error(exc) from exc


@post("/api/messages/{message_id:int}/undo", sync_to_thread=True, guards=[requires_agent])
def api_undo(request: Request, message_id: FromPath[int]) -> ApiResult:
    """Stop an approved reply inside its `[outbound] undo_seconds` window (409 once too late):
    back in review. A new message staff wrote (`POST /api/customers/{id}/messages`) stays
    unsent for good."""
    ours = _ours(request, message_id) is not None
    try:
        if ours:
            undo_written(request, message_id)
        else:
            with transaction(_rt(request).factory) as session:
                undo_approval(session, message_id, _form_user(request))
    except ReviewError as exc:
        raise _review_error(exc) from exc
    return ApiResult(id=message_id, state="unsent" if ours else "in_review")


@post("/api/messages/{message_id:int}/reject", sync_to_thread=True, guards=[requires_agent])
def api_reject(request: Request, message_id: FromPath[int], data: JSONBody[ApiReject]) -> ApiResult:
    try:
        with transaction(_rt(request).factory) as session:
            reject(
                session, message_id, _form_user(request), data.reason, expected_version=data.version
            )
    except ReviewError as exc:
        raise _review_error(exc) from exc
    return ApiResult(id=message_id, state="rejected")


@post("/api/messages/{message_id:int}/retry", sync_to_thread=True, guards=[requires_agent])
def api_retry(request: Request, message_id: FromPath[int]) -> ApiResult:
    try:
        with transaction(_rt(request).factory) as session:
            message = retry(session, message_id, _form_user(request).username)
            return ApiResult(id=message_id, state=message.state)
    except ReviewError as exc:
        raise _review_error(exc) from exc


class ApiSave(Struct):
    body: str
    version: int | None = None


class ApiAssign(Struct):
    assignee: str | None = None


class ApiQueue(Struct):
    items: list[dict[str, Any]]
    counts: dict[str, Any]
    next_cursor: str | None


@get("/api/queue/page", sync_to_thread=True, guards=[requires_agent])
def api_queue_page(
    request: Request,
    channel: FromQuery[str] = "",
    intent: FromQuery[str | None] = None,
    tier: FromQuery[str | None] = None,
    assignee: FromQuery[str] = "",
    cursor: FromQuery[str | None] = None,
    limit: FromQuery[int] = 50,
    sentiment: FromQuery[str | None] = None,
) -> ApiQueue:
    """The queue page's rows and counts: its filters are taken, and refused, as it takes them.
    One row more than the page is read, so `next_cursor` is null on the last page."""
    limit = min(max(limit, 1), 500)
    filters = filters_from(channel, intent, tier, assignee, sentiment, me=_form_user(request).id)
    with _rt(request).factory() as session:
        channels = request.app.state.counts.get(session).channels
        rows = queue_items(
            session, limit=limit + 1, filters=filters, cursor=cursor, channels=channels
        )
        counts = queue_counts(session, filters, request.app.state.counts)
    items = rows[:limit]
    next_cursor = items[-1]["cursor"] if len(rows) > limit else None
    return ApiQueue(items=items, counts=counts, next_cursor=next_cursor)


@post("/api/messages/{message_id:int}/save", sync_to_thread=True, guards=[requires_agent])
def api_save(
    request: Request, message_id: FromPath[int], data: JSONBody[ApiSave]
) -> dict[str, Any]:
    rt = _rt(request)
    try:
        with transaction(rt.factory) as session:
            draft = save_draft(
                session,
                message_id,
                _form_user(request),
                data.body,
                expected_version=data.version,
                settings=rt.settings,
            )
            return {"id": message_id, "draft_version": draft.version}
    except ReviewError as exc:
        raise _review_error(exc) from exc


class ApiPickAction(Struct):
    action: str
    version: int | None = None


@post("/api/messages/{message_id:int}/action", sync_to_thread=True, guards=[requires_agent])
def api_pick_action(
    request: Request, message_id: FromPath[int], data: JSONBody[ApiPickAction]
) -> dict[str, Any]:
    """A new draft version with a suggested action's snippet: written again, or the text a
    person saved with the snippet's paragraph added (`added_to_edited_draft`)."""
    rt = _rt(request)
    embed_before_writing(rt, message_id)
    try:
        with transaction(rt.factory) as session:
            picked = pick_action(
                rt, session, message_id, data.action, _form_user(request),
                expected_version=data.version,
            )  # fmt: skip
            return {
                "id": message_id,
                "draft_version": picked.draft.version,
                "error": picked.draft.error,
                "added_to_edited_draft": picked.added_to_edited,
            }
    except ReviewError as exc:
        raise _review_error(exc) from exc


@post("/api/messages/{message_id:int}/assign", sync_to_thread=True, guards=[requires_agent])
def api_assign(
    request: Request, message_id: FromPath[int], data: JSONBody[ApiAssign]
) -> dict[str, Any]:
    try:
        with transaction(_rt(request).factory) as session:
            assign(session, message_id, _form_user(request), data.assignee)
    except ReviewError as exc:
        raise _review_error(exc) from exc
    return {"id": message_id, "assignee": data.assignee}


@get("/api/audit", sync_to_thread=True, guards=[requires_supervisor])
def api_audit(
    request: Request,
    before: RowId = None,
    actor: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    on: FromQuery[str | None] = None,
) -> list[dict[str, Any]]:
    """Newest first, 200 at a time (`before` pages on); `actor`, `action` (or its prefix) and
    `on` (`message 12`) narrow it, as on the page."""
    with _rt(request).factory() as session:
        return audit_entries(session, before=before, filters=AuditFilter.clean(actor, action, on))


@post("/api/messages/{message_id:int}/classification", sync_to_thread=True, guards=[requires_agent])
def api_reclassify(
    request: Request, message_id: FromPath[int], data: JSONBody[ApiClassification]
) -> ApiCorrection:
    """An agent's correction: updates the message, stores a candidate example and, for the
    intent or the sentiment, writes the draft again (unless a person saved it)."""
    try:
        done, redraft = _correct(request, message_id, data.classifier, data.label)
    except ReviewError as exc:
        raise _review_error(exc) from exc
    return ApiCorrection(
        id=message_id,
        classifier=done.classifier,
        label=done.label,
        previous=done.previous,
        example_id=done.example_id,
        draft_version=redraft.draft_version,
        kept_saved_draft=redraft.kept_saved,
    )


# -- assembly ------------------------------------------------------------------------------------


def _machine_path(path: str) -> bool:
    """Paths answered to programs (JSON), not to people in a browser (pages)."""
    return path.startswith(("/api/", "/webhooks/", "/schema"))


def _not_authorized(request: Request, exc: Exception) -> Response[Any]:
    if _machine_path(request.url.path):
        return Response({"status_code": 401, "detail": str(exc)}, status_code=401)
    because = {"because": exc.reason} if isinstance(exc, SessionEnded) else {}
    if request.method != "GET":  # a form sent too late: back to the page it was sent from
        came_from = urlsplit(request.headers.get("referer", ""))
        same_site = came_from.netloc == request.url.netloc and _local_path(came_from.path)
        page = came_from.path + (f"?{came_from.query}" if came_from.query else "")
        return Redirect(
            "/login",
            query_params={"next": page if same_site else "/queue", "ended": "true", **because},
        )
    asked = request.url.path  # a search or a filtered queue comes back as it was asked for
    if request.url.query:
        asked += f"?{request.url.query}"
    return Redirect("/login", query_params={"next": asked, **because})


def _forbidden(request: Request, exc: Exception) -> Response[Any]:
    if _machine_path(request.url.path):
        return Response({"status_code": 403, "detail": str(exc)}, status_code=403)
    detail = getattr(exc, "detail", "") or str(exc)  # the words, not "403: ..." before them
    # The signed-in person keeps the menu, their account and Log out: a dead end otherwise.
    context = {"status": 403, "detail": detail, "user": request.scope.get("user")}
    return Template("error.html", context=context, status_code=403)


def _client_error(request: Request, exc: HTTPException) -> Response[Any]:
    """A page for a person who followed an old link or edited the address, as 403s get; the
    API keeps Litestar's JSON (`status_code`, `detail`, `extra`)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    if _machine_path(request.url.path):
        body = {"status_code": exc.status_code, "detail": exc.detail}
        return Response({**body, "extra": extra} if extra else body, status_code=exc.status_code)
    problems = [
        f"{item.get('key', '')}: {item.get('message', '')}"
        for item in extra
        if isinstance(item, dict)
    ]
    detail = exc.detail
    if isinstance(exc, NotFoundException) and detail == "Not Found":  # no such route
        detail = f"There is no page at {request.url.path}."
    if isinstance(exc, MethodNotAllowedException):  # a form's address, opened or reloaded
        detail = "This address takes a form sent from its page, not a visit: go back to the page."
    context = {
        "status": exc.status_code,
        "detail": "; ".join([detail, *problems]),
        "user": request.scope.get("user"),
    }
    return Template("error.html", context=context, status_code=exc.status_code)


#: A review form that carries the reply's files: refused whole when over FORM_BODY_LIMIT.
_DRAFT_FORM = re.compile(r"/messages/(\d+)/(?:approve|save)")


def _too_large(request: Request, exc: RequestEntityTooLarge) -> Response[Any]:
    """An upload over its route's limit, refused before any handler runs."""
    if request.url.path.startswith((CUSTOMER_DATA_PAGE, f"/api{CUSTOMER_DATA_PAGE}")):
        return too_large_page(request, exc)
    draft = _DRAFT_FORM.fullmatch(request.url.path)
    if draft is None:
        return _client_error(request, exc)
    limit = readable_size(_rt(request).settings.outbound.max_reply_files_bytes)
    detail = (
        "The files attached come to far more than a reply can carry, so nothing was saved or "
        f"sent. One reply carries at most {limit} of files in all: go back to the draft and "
        "attach fewer or smaller ones (a link to a large file can go in the text instead). "
        "The text you typed is kept in this browser and offered back on the draft's page"
    )
    context = {
        "status": 413,
        "heading": "Files too large",
        "detail": detail,
        # the draft's page, in the queue view the form was sent from
        "back": (
            f"/messages/{draft.group(1)}"
            f"{view_in(request.query_params, getattr(request.scope.get('user'), 'id', 0)).query}",
            "Back to the draft",
        ),
        "user": request.scope.get("user"),
    }
    return Template("error.html", context=context, status_code=413)


#: What Litestar raises when the client hangs up while its request body is being read.
CLIENT_LEFT = "client disconnected prematurely"

SECURITY_HEADERS = {
    # Scripts only from our own files: inbound HTML can never run code in a staff browser.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


async def _security_headers(response: Response[Any]) -> Response[Any]:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


ROUTES = [
    login_page,
    login_submit,
    logout,
    home,
    queue_page,
    review_page,
    approve_form,
    undo_form,
    reject_form,
    retry_form,
    healthz,
    favicon,
    *WEBHOOK_ROUTES,
    *WEBHOOK_DELIVERY_ROUTES,
    readyz,
    metrics,
    api_login,
    api_queue,
    api_message,
    api_approve,
    api_undo,
    api_reject,
    api_retry,
    save_form,
    assign_form,
    action_form,
    classification_form,
    audit_page,
    problems_page,
    api_problems,
    api_queue_page,
    api_save,
    api_assign,
    api_pick_action,
    api_audit,
    *DASHBOARD_ROUTES,
    *CONTENT_LIST_ROUTES,
    *CONTENT_EDITOR_ROUTES,
    *CONTENT_RETIRE_ROUTES,
    *CLASSIFIER_ROUTES,
    *AUTO_SEND_ROUTES,
    *RETRAIN_ROUTES,
    *RULE_ROUTES,
    *ACTION_RULE_ROUTES,
    *NEW_CONTENT_ROUTES,
    *CUSTOMER_ROUTES,
    *WRITE_ROUTES,
    *SEARCH_ROUTES,
    *STAFF_ROUTES,
    *NOTE_ROUTES,
    *ATTACHMENT_ROUTES,
    *RAW_ROUTES,
    *REPLY_FILE_ROUTES,
    *SPAM_ROUTES,
    *REOPEN_ROUTES,
    *SNOOZE_ROUTES,
    *REDRAFT_ROUTES,
    *ACKNOWLEDGEMENT_ROUTES,
    *ACKNOWLEDGEMENT_PAGE_ROUTES,
    *UNSENT_ROUTES,
    *BLOCKED_ROUTES,
    *INCIDENT_ROUTES,
    *IGNORED_ROUTES,
    *MENTION_ROUTES,
    *BULK_ROUTES,
    *SNIPPET_ROUTES,
    *PRESENCE_ROUTES,
    *QUEUE_WATCH_ROUTES,
    api_reclassify,
]

# One router, so Litestar registers each handler once: handlers added one by one to a path that
# already has one re-register it, which wraps a sync_to_thread handler twice (it then answers 500
# with an unawaited coroutine). Built once per process: each app that registers it gets a deep
# copy, handlers and all (litestar-org/litestar#3103), so no two apps share a handler, and the
# tests' hundreds of apps do not each rebuild its routes.
PAGES = Router(path="/", route_handlers=ROUTES)
resolve_hints([*ROUTES, *CUSTOMER_DATA_ROUTES])


def sentence(text: str) -> str:
    """A message shown as a page's banner starts with a capital, whatever raised it: the same
    words also end up mid-sentence ("Not saved: the name is empty"), so they are written lower."""
    return text[:1].upper() + text[1:]


def _template_engine(
    clock: PageClock, titles: LabelTitles, drafting: DraftingSettings
) -> JinjaTemplateEngine:
    """Templates are compiled once per process: no file checks on every page (restart to edit)."""
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, auto_reload=False
    )
    # Filters, not `.replace(...)` or `'%.0f'|format(...)` in the templates: a method call goes
    # through Jinja's getattr and context.call, a tenth of the queue page's rendering.
    environment.filters["minute"] = clock.minute
    environment.filters["second"] = clock.second
    environment.filters["time_of_day"] = clock.time_of_day
    environment.filters["day"] = clock.day
    environment.filters["clock"] = clock.clock
    environment.globals["zone"] = clock.label
    environment.globals["asset"] = asset
    environment.filters["percent"] = _percent
    environment.filters["sentence"] = sentence
    environment.filters["state"] = state_words
    environment.filters["delivery"] = delivery_words
    # Amounts as English drafts write them (`drafting.locales`, `drafting.currency`): "€25.00".
    environment.filters["money"] = money_filter(
        drafting.locales.get("en", "en_IE"), drafting.currency
    )
    environment.filters["headline"] = headline
    environment.filters["size"] = readable_size
    environment.filters["audit_fields"] = partial(audit_fields, clock=clock)
    environment.filters["action_words"] = action_words
    environment.filters["label_title"] = titles
    environment.filters["from_words"] = from_words
    environment.globals["needs_attention"] = _needs_attention
    environment.globals["mentions_waiting"] = _mentions_waiting
    return JinjaTemplateEngine.from_environment(environment)


def _needs_attention(request: Request) -> int:
    """The nav's count of quarantined and failed messages, from the queue's few-seconds cache
    (no query while it is warm). A page that needs no database of its own still opens while the
    database is down: the menu then shows no count."""
    rt = _rt(request)
    try:
        with rt.read_factory() as session:
            return request.app.state.counts.get(session).problems
    except DBAPIError:
        return 0


def _mentions_waiting(request: Request) -> int:
    """The menu's count of notes naming the signed-in person that they have not opened yet
    (one indexed count); none while the database is down."""
    user = request.scope.get("user")
    if not isinstance(user, StaffUser):
        return 0
    try:
        with _rt(request).read_factory() as session:
            return unseen_count(session, user.id)
    except DBAPIError:
        return 0


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


def _logging_config() -> LoggingConfig:
    """Leave the root logger as configure_logging set it (JSON lines, redaction) and send
    Litestar's own records, exceptions included, through it: Litestar's default replaces the
    root handlers at start-up, which silently dropped redaction in `responder serve`. A client's
    error (a 404, a visit after the session ended, a refused form) is answered, not logged as an
    ERROR with its traceback: only what the server failed at is."""
    return LoggingConfig(
        configure_root_logger=False,
        loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}},
        log_exceptions="always",
        disable_stack_trace=set(range(400, 500)),
        exception_logging_handler=_log_exception,
    )


def _log_exception(logger: Any, scope: Any, _traceback: list[str]) -> None:
    """Litestar's own line for a fault, traceback and all, except for a person who went away
    while their request was still arriving (a live preview overtaken by Save, a closed tab):
    nothing of ours failed, so that is a line of information."""
    exc = sys.exc_info()[1]
    if isinstance(exc, InternalServerException) and exc.detail == CLIENT_LEFT:
        logger.info("client left before its request arrived (path=%r)", scope["path"])
        return
    logger.exception(
        "Uncaught exception (connection_type=%s, path=%r):", scope["type"], scope["path"]
    )


@asynccontextmanager
async def _session_listener(app: Litestar) -> AsyncIterator[None]:
    """The session cache is used only while this listener hears the database (PostgreSQL).
    At shutdown the cache goes unused at once; the thread ends within its heartbeat."""
    rt: Runtime = app.state.rt
    stop = threading.Event()
    if rt.settings.web.session_cache_seconds > 0:
        start_session_listener(
            app.state.sessions, rt.engine, stop, listen_url=rt.settings.database.listen_url
        )
    try:
        yield
    finally:
        stop.set()
        app.state.sessions.deaf()


@asynccontextmanager
async def _warm_models(app: Litestar) -> AsyncIterator[None]:
    app.state.warming = start_warming(app.state.rt)
    yield


def create_app(rt: Runtime, csrf_secret: str | None = None) -> Litestar:
    sessions = SessionCache(ttl_seconds=rt.settings.web.session_cache_seconds)
    clock = PageClock(rt.settings.queue.timezone)
    titles = LabelTitles.from_folder(rt.settings.path(rt.settings.classify.definitions_dir))
    return Litestar(
        logging_config=_logging_config(),
        route_handlers=[
            PAGES,
            customer_data_router(rt.settings),
            create_static_files_router(path="/static", directories=[HERE / "static"]),
        ],
        state=State(
            {
                "rt": rt,
                "counts": CountsCache(),
                "sessions": sessions,
                "clock": clock,
                "titles": titles,
            }
        ),
        lifespan=[_session_listener, _warm_models],
        middleware=[DefineMiddleware(AuthMiddleware, exclude=PUBLIC_PATHS)],
        csrf_config=CSRFConfig(
            secret=csrf_secret or secrets.token_hex(32),
            cookie_name="responder_csrf",
            cookie_httponly=True,
            cookie_secure=rt.settings.web.secure_cookies,
            cookie_samesite="strict",
            exclude=["/api/", "/webhooks/"],
        ),
        template_config=TemplateConfig(
            instance=_template_engine(clock, titles, rt.settings.drafting)
        ),
        after_request=_security_headers,
        before_request=refuse_impossible_path_values,
        request_class=CheckedRequest,
        openapi_config=OpenAPIConfig(
            title="Responder",
            version="0.1.0",
            openapi_router=Router(path="/schema", route_handlers=[], guards=[requires_agent]),
            render_plugins=[EndpointList(path="/")],
        ),
        exception_handlers={
            NotAuthorizedException: _not_authorized,
            PermissionDeniedException: _forbidden,
            NotFoundException: _client_error,
            MethodNotAllowedException: _client_error,
            ValidationException: _client_error,
            RequestEntityTooLarge: _too_large,
            DBAPIError: database_error,
        },
    )
