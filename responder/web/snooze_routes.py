"""Snooze on the review page, the snoozed list and the API; the rules are in `responder.snooze`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from msgspec import Struct, structs

from responder.config import business_calendar
from responder.db.models import utcnow
from responder.db.session import transaction
from responder.review import ReviewError
from responder.snooze import DATED, MenuTime, menu_time, snooze, snoozed_list, wake
from responder.web.auth import requires_agent
from responder.web.next_draft import after_action, to_draft
from responder.web.state import runtime, signed_in


class SnoozeForm(Struct):
    """`until`: a menu choice (`1h`, `4h`, `morning`, `week`: "in 1 hour" and "in 4 hours" are
    from when the form is sent, `morning` and `week` the time their label showed, posted as
    `shown_morning` and `shown_week`, while it is still to come; an ISO 8601 time with its offset
    is taken too); `until_local`: a date and time typed in the team's zone (the browser's
    datetime-local), which wins when given."""

    until: str = ""
    until_local: str = ""
    shown_morning: str = ""
    shown_week: str = ""
    note: str = ""
    version: int | None = None


class ApiSnooze(Struct):
    until: str  # ISO 8601 with its offset
    note: str = ""
    version: int | None = None


def _moment(text: str, zone: str | None) -> datetime:
    """`zone`: the zone a time without one is read in; None refuses such a time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ReviewError(f"not a date and time: {text[:40]!r}") from exc
    if moment.tzinfo is None and zone is not None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment


def menu_until(request: Request, form: Mapping[str, Any], now: datetime) -> MenuTime:
    """The time the snooze menu's choice (`form["until"]`) means at `now`, in the team's zone and
    hours: for a label that names a day, the time it showed (`form["shown_<key>"]`) while still
    to come; an explicit ISO 8601 time with its offset (what the menu posted before) as it is."""
    queue = runtime(request).settings.queue
    key = str(form.get("until") or "").strip()
    shown = str(form.get(f"shown_{key}") or "") if key in DATED else ""
    chosen = menu_time(key, shown, now, queue.timezone, business_calendar(queue))
    return chosen if chosen is not None else MenuTime(_moment(key, None))


def _snooze(
    request: Request,
    message_id: int,
    until: datetime,
    note: str,
    version: int | None,
    now: datetime | None = None,
) -> datetime:
    with transaction(runtime(request).factory) as session:
        message = snooze(
            session, message_id, signed_in(request), until, note, expected_version=version, now=now
        )
        assert message.snoozed_until is not None
        return message.snoozed_until


@post("/messages/{message_id:int}/snooze", sync_to_thread=True, guards=[requires_agent])
def snooze_form(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[SnoozeForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    clock = request.app.state.clock
    now = utcnow()  # one moment for the menu's time and the check that it is still to come
    try:
        if data.until_local.strip():
            chosen = MenuTime(_moment(data.until_local, clock.label))
        elif data.until.strip():
            chosen = menu_until(request, structs.asdict(data), now)
        else:
            raise ReviewError("choose when the draft comes back")
        back = _snooze(request, message_id, chosen.until, data.note, data.version, now)
    except ReviewError as exc:
        return to_draft(request, message_id, error=f"Not snoozed: {clock.refusal(exc)}.")
    return after_action(
        request,
        message_id,
        f"Snoozed until {clock.minute(back)} ({clock.label}): back in the queue then, "
        "or as soon as the customer writes again."
        + (f" {chosen.changed}" if chosen.changed else ""),
    )


@post("/messages/{message_id:int}/wake", sync_to_thread=True, guards=[requires_agent])
def wake_form(request: Request, message_id: FromPath[int]) -> Redirect:
    """Back to the message's page, in the queue view it was opened in (none from /snoozed)."""
    try:
        with transaction(runtime(request).factory) as session:
            wake(session, message_id, signed_in(request))
    except ReviewError as exc:
        return to_draft(request, message_id, error=str(exc))
    return to_draft(request, message_id, notice="Back in the queue.")


@get("/snoozed", sync_to_thread=True, guards=[requires_agent])
def snoozed_page(request: Request, cursor: FromQuery[str | None] = None) -> Template:
    with runtime(request).read_factory() as session:
        page = snoozed_list(session, cursor)
    return Template(
        "snoozed.html", context={"items": page.rows, "page": page, "user": request.user}
    )


@post("/api/messages/{message_id:int}/snooze", sync_to_thread=True, guards=[requires_agent])
def api_snooze(
    request: Request, message_id: FromPath[int], data: JSONBody[ApiSnooze]
) -> dict[str, Any]:
    """Out of the queue until `until`; a time without its offset is refused (400)."""
    try:
        back = _snooze(request, message_id, _moment(data.until, None), data.note, data.version)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {"id": message_id, "state": "snoozed", "snoozed_until": back.isoformat()}


@post("/api/messages/{message_id:int}/wake", sync_to_thread=True, guards=[requires_agent])
def api_wake(request: Request, message_id: FromPath[int]) -> dict[str, Any]:
    try:
        with transaction(runtime(request).factory) as session:
            wake(session, message_id, signed_in(request))
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {"id": message_id, "state": "in_review"}


@get("/api/snoozed", sync_to_thread=True, guards=[requires_agent])
def api_snoozed(request: Request, cursor: FromQuery[str | None] = None) -> dict[str, Any]:
    """A page of the snoozed list: `total` counts them all; `next_cursor`, when more follow,
    is passed back as `?cursor=` for the next page (null on the last)."""
    with runtime(request).read_factory() as session:
        page = snoozed_list(session, cursor)
    return {"items": page.rows, "total": page.total, "next_cursor": page.next_cursor}


SNOOZE_ROUTES: list[object] = [
    snooze_form,
    wake_form,
    snoozed_page,
    api_snooze,
    api_wake,
    api_snoozed,
]
