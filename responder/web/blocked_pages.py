"""Supervisors' list of blocked senders: add an address or a whole domain, lift a block (the
drafts it rejected come back) and, if it stopped real mail, send those messages through again.
Rules in `responder.blocklist`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from msgspec import Struct

from responder.blocked_drafts import reject_waiting_from
from responder.blocklist import (
    AlreadyBlocked,
    BlockError,
    Unblocked,
    block,
    block_row,
    blocked_count,
    blocked_list,
    parse_pattern,
    search_text,
    unblock,
)
from responder.db.session import transaction
from responder.review import audit
from responder.web.auth import requires_supervisor
from responder.web.state import runtime, signed_in

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
PAGE = "/supervisor/blocked"


class BlockForm(Struct):
    """`q` and `cursor`: the search and the page the form was on, kept across the redirect
    (the search) or the refusal (both)."""

    sender: str = ""
    reason: str = ""
    reject_waiting: str = ""
    q: str = ""
    cursor: str = ""


class ApiBlock(Struct):
    sender: str = ""
    reason: str = ""
    reject_waiting: bool = False


class UnblockForm(Struct):
    """`q` and `cursor`: the search and the page the row was on, kept across the redirect."""

    process_stopped: str = ""
    restore_spam: str = ""
    q: str = ""
    cursor: str = ""


class ApiUnblock(Struct):
    """`restore_spam`: the message marked as spam goes back to the queue too."""

    process_stopped: bool = False
    restore_spam: bool = False


def _block(request: Request, sender: str, reason: str, reject_waiting: bool) -> dict[str, Any]:
    rt = runtime(request)
    user = signed_in(request)
    with transaction(rt.factory) as session:
        pattern = parse_pattern(sender)
        entry = block(session, pattern, reason, user.username, own_addresses=rt.own_addresses)
        rejected = reject_waiting_from(session, entry, user) if reject_waiting else []
        row = block_row(entry, len(rejected))
        audit(
            session,
            user.username,
            "sender.block",
            "blocked_sender",
            entry.id,
            sender=row["sender"],
            reason=entry.reason,
            also_rejected=rejected,
        )
        return {**row, "rejected_waiting": rejected}


def _unblock(
    request: Request, block_id: int, process_stopped: bool, restore_spam: bool
) -> Unblocked:
    user = signed_in(request)
    with transaction(runtime(request).factory) as session:
        done = unblock(
            session,
            block_id,
            process_stopped=process_stopped,
            by=user.username,
            user=user,
            restore_spam=restore_spam,
        )
        audit(
            session,
            user.username,
            "sender.unblock",
            "blocked_sender",
            block_id,
            sender=done.pattern.shown,
            processed_again=done.processed_again,
            restored=done.restored,
            spam_restored=done.spam_restored,
            spam_kept_rejected=done.spam_kept,
        )
        return done


def _page(
    request: Request,
    q: str,
    cursor: str | None,
    *,
    notice: str = "",
    error: str = "",
    typed: BlockForm | None = None,
    refused: BlockError | None = None,
    status_code: int = 200,
) -> Template:
    """The list at `q` and `cursor`. Refused (`refused`), the block form comes back as `typed`
    with the problem beside its field."""
    with runtime(request).factory() as session:
        page = blocked_list(session, cursor, q)
        everyone = page.total if not search_text(q) else blocked_count(session)
    context = {
        "user": request.user,
        "rows": page.rows,
        "page": page,
        "q": search_text(q),
        "cursor": cursor or "",
        "blocked": everyone,
        "notice": notice,
        "error": error,
        "form": typed or BlockForm(),
        "problems": {refused.field: str(refused)} if refused and refused.field else {},
    }
    return Template("supervisor/blocked.html", context=context, status_code=status_code)


@get(PAGE, sync_to_thread=True, guards=[requires_supervisor])
def blocked_page(
    request: Request,
    notice: FromQuery[str] = "",
    error: FromQuery[str] = "",
    q: FromQuery[str] = "",
    cursor: FromQuery[str | None] = None,
) -> Template:
    """`q`: find blocks by a piece of their address or domain; `cursor`: the next page's."""
    return _page(request, q, cursor, notice=notice, error=error)


@post(PAGE, sync_to_thread=True, guards=[requires_supervisor])
def block_form(request: Request, data: Annotated[BlockForm, FORM]) -> Template | Redirect:
    """Back to the search's first page, where the new block (the newest) is listed. Refused,
    the page it was on, the form as typed and the problem beside its field: 409 when the
    sender is already blocked, else 400."""
    try:
        row = _block(request, data.sender, data.reason, bool(data.reject_waiting))
    except BlockError as exc:
        return _page(
            request,
            data.q,
            data.cursor or None,
            error=f"Not blocked: {exc}.",
            typed=data,
            refused=exc,
            status_code=409 if isinstance(exc, AlreadyBlocked) else 400,
        )
    notice = f"{row['sender']} is blocked: its mail is stored and ignored from now on."
    if waiting := len(row["rejected_waiting"]):
        notice += f" {waiting} waiting draft{'s' if waiting != 1 else ''} from it rejected."
    return _back(data.q, "", notice=notice)


@post(f"{PAGE}/{{block_id:int}}/unblock", sync_to_thread=True, guards=[requires_supervisor])
def unblock_form(
    request: Request, block_id: FromPath[int], data: Annotated[UnblockForm, FORM]
) -> Redirect:
    """Back to the page the row was on, with its search; to the first when that page is now
    empty (its last row lifted)."""
    try:
        done = _unblock(request, block_id, bool(data.process_stopped), bool(data.restore_spam))
    except BlockError as exc:
        return _back(data.q, data.cursor, error=f"Not unblocked: {exc}.")
    cursor = data.cursor
    if cursor:
        with runtime(request).factory() as session:
            if not blocked_list(session, cursor, data.q, size=1).rows:
                cursor = ""
    notice = f"{done.pattern.shown} is no longer blocked."
    if back := len(done.restored):
        notice += (
            f" {back} draft{'s' if back != 1 else ''} it rejected "
            f"{'are' if back != 1 else 'is'} back in the queue."
        )
    if again := done.processed_again:
        notice += f" {again} message{'s' if again != 1 else ''} it stopped will be drafted now."
    notice += _spam_notice(done)
    return _back(data.q, cursor, notice=notice)


def _back(q: str, cursor: str, **said: str) -> Redirect:
    """The list as the supervisor had it: their search and page, with what became of the form."""
    kept = {"q": search_text(q), "cursor": cursor}
    return Redirect(PAGE, query_params={k: v for k, v in {**kept, **said}.items() if v})


def _spam_notice(done: Unblocked) -> str:
    """What became of the message marked as spam, which the other drafts' restore leaves."""
    said = ""
    for ids, fate in (
        (done.spam_restored, "back in the queue"),
        (done.spam_kept, "still rejected"),
    ):
        if ids:
            listed = ", ".join(str(i) for i in ids)
            one = len(ids) == 1
            said += (
                f" The message{'' if one else 's'} marked as spam (message {listed}) "
                f"{'is' if one else 'are'} {fate}."
            )
    return said


@get(
    f"/api{PAGE}",
    sync_to_thread=True,
    guards=[requires_supervisor],
    summary="A page of the blocked senders, newest first",
    description=(
        "`items`: 100 blocks at most, each as the page lists it; `total`: how many blocks match; "
        "`next_cursor`, when more follow, is passed back as `?cursor=` for the next page (null "
        "on the last). `?q=` finds blocks by a piece of their address or domain, as the page's "
        "search box does (`@example` finds the domain example.com)."
    ),
)
def api_blocked(
    request: Request, cursor: FromQuery[str | None] = None, q: FromQuery[str] = ""
) -> dict[str, Any]:
    with runtime(request).factory() as session:
        page = blocked_list(session, cursor, q)
    return {"items": page.rows, "total": page.total, "next_cursor": page.next_cursor}


@post(f"/api{PAGE}", sync_to_thread=True, guards=[requires_supervisor])
def api_block(request: Request, data: JSONBody[ApiBlock]) -> dict[str, Any]:
    try:
        return _block(request, data.sender, data.reason, data.reject_waiting)
    except BlockError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc


@post(f"/api{PAGE}/{{block_id:int}}/unblock", sync_to_thread=True, guards=[requires_supervisor])
def api_unblock(
    request: Request, block_id: FromPath[int], data: JSONBody[ApiUnblock]
) -> dict[str, Any]:
    try:
        done = _unblock(request, block_id, data.process_stopped, data.restore_spam)
    except BlockError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {
        "unblocked": done.pattern.shown,
        "processed_again": done.processed_again,
        "restored": done.restored,
        "spam_restored": done.spam_restored,
        "spam_kept_rejected": done.spam_kept,
    }


ROUTES: list[object] = [blocked_page, block_form, unblock_form, api_blocked, api_block, api_unblock]
