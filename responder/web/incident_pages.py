"""Network incidents page and API: supervisors record a fault (areas, start, expected fix, a
note for customers), correct it as it moves, resolve it and reopen it within a day (a
misclick); outage drafts describe the one that fits. Agents may read the list, to check the
incident a draft names. A refused form comes back as typed, the problem beside its field. An
active incident whose fix time passed says so, judged by this module's clock. Rules in
`responder.incidents`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Response, Template
from msgspec import Struct, structs

from responder.db.models import NetworkIncident, utcnow
from responder.db.session import transaction
from responder.drafting.incident_changed import waiting_out_of_date
from responder.incidents import (
    FIELD_WORDS,
    REOPEN_HOURS,
    IncidentError,
    IncidentInput,
    edit_incident,
    incident_row,
    minutes_overdue,
    overdue_words,
    recent_incidents,
    record_incident,
    reopen_incident,
    reopenable,
    resolve_incident,
)
from responder.review import audit
from responder.web.auth import requires_agent, requires_supervisor
from responder.web.state import runtime, signed_in

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
PAGE = "/supervisor/incidents"


class IncidentForm(Struct):
    """Times as the browser's datetime-local sends them, in the team's time zone."""

    title: str = ""
    areas: str = ""
    started_at: str = ""
    expected_fix_at: str = ""
    public_note: str = ""


class ApiIncident(Struct):
    """Times in ISO 8601 with their offset; `started_at` left out is now."""

    title: str = ""
    areas: list[str] | str = ""
    started_at: str = ""
    expected_fix_at: str = ""
    public_note: str = ""


class ApiIncidentEdit(Struct):
    """A field left out stays as it is; `expected_fix_at` "" clears the fix time."""

    title: str | None = None
    areas: list[str] | str | None = None
    started_at: str | None = None
    expected_fix_at: str | None = None
    public_note: str | None = None


#: The times an incident can hold: each can be shown in any time zone (a day either side of
#: UTC) without passing the calendar's ends, where working it out crashed the request.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def _moment(text: str, zone: str | None, what: str, field: str) -> datetime | None:
    """`zone`: where a time without an offset is read; None refuses such a time. `field`:
    the JSON field it came from, named by the API's refusal."""
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise IncidentError(f"{what} is not a date and time: {text[:40]!r}", field=field) from exc
    if moment.tzinfo is None:
        if zone is None:
            raise IncidentError(
                f"{what} needs its offset (e.g. 2026-12-06T09:00:00+00:00)", field=field
            )
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    try:
        in_range = EARLIEST <= moment.astimezone(UTC) <= LATEST
    except OverflowError:  # the offset takes it past year 1 or 9999
        in_range = False
    if not in_range:
        raise IncidentError(f"{what} is outside the years 1 to 9999: {text[:40]!r}", field=field)
    return moment


def _record(request: Request, data: IncidentForm | ApiIncident, zone: str | None) -> dict[str, Any]:
    entry = IncidentInput(
        title=data.title,
        areas=data.areas,
        started_at=_moment(data.started_at, zone, "the start", "started_at"),
        expected_fix_at=_moment(data.expected_fix_at, zone, "the expected fix", "expected_fix_at"),
        public_note=data.public_note,
    )
    user = signed_in(request)
    with transaction(runtime(request).factory) as session:
        incident = record_incident(session, entry, user.username)
        row = incident_row(incident)
        audit(
            session,
            user.username,
            "incident.record",
            "network_incident",
            incident.id,
            title=row["title"],
            areas=row["areas"],
            started_at=row["started_at"],
            expected_fix_at=row["expected_fix_at"],
        )
        return row


def _edit(
    request: Request, incident_id: int, data: IncidentForm | ApiIncidentEdit, zone: str | None
) -> dict[str, Any]:
    """The incident as it is now, `changed` (field: from, to) and `out_of_date_drafts`: the
    waiting outage drafts the incidents now contradict, each offered a redraft on its page."""
    user = signed_in(request)
    with transaction(runtime(request).factory) as session:
        current = session.get(NetworkIncident, incident_id)
        if current is None:
            raise IncidentError(f"no incident {incident_id}", 404)
        fix = data.expected_fix_at
        entry = IncidentInput(
            title=current.title if data.title is None else data.title,
            areas=list(current.areas or []) if data.areas is None else data.areas,
            started_at=current.started_at
            if data.started_at is None
            else _moment(data.started_at, zone, "the start", "started_at"),
            expected_fix_at=current.expected_fix_at
            if fix is None
            else _moment(fix, zone, "the expected fix", "expected_fix_at"),
            public_note=current.public_note if data.public_note is None else data.public_note,
        )
        incident, changed = edit_incident(session, incident_id, entry)
        row = incident_row(incident)
        if changed:
            audit(
                session,
                user.username,
                "incident.edit",
                "network_incident",
                incident_id,
                title=row["title"],
                changed=changed,
            )
        return {**row, "changed": changed, "out_of_date_drafts": waiting_out_of_date(session)}


def _resolve(request: Request, incident_id: int) -> dict[str, Any]:
    """The incident resolved and `out_of_date_drafts`: the waiting outage drafts that still tell
    of it, each offered a redraft on its page."""
    user = signed_in(request)
    with transaction(runtime(request).factory) as session:
        incident = resolve_incident(session, incident_id, user.username)
        row = incident_row(incident)
        audit(
            session,
            user.username,
            "incident.resolve",
            "network_incident",
            incident_id,
            title=row["title"],
            areas=row["areas"],
        )
        return {**row, "out_of_date_drafts": waiting_out_of_date(session)}


def _reopen(request: Request, incident_id: int) -> dict[str, Any]:
    """The incident active again and `out_of_date_drafts`: the waiting outage drafts written
    while it was resolved, which told of no fault."""
    user = signed_in(request)
    with transaction(runtime(request).factory) as session:
        incident = reopen_incident(session, incident_id, utcnow())
        row = incident_row(incident)
        audit(
            session,
            user.username,
            "incident.reopen",
            "network_incident",
            incident_id,
            title=row["title"],
            areas=row["areas"],
        )
        return {**row, "out_of_date_drafts": waiting_out_of_date(session)}


def _rows(request: Request) -> list[dict[str, Any]]:
    with runtime(request).factory() as session:
        return [incident_row(i) for i in recent_incidents(session)]


def _local(moment: str | None, zone: str) -> str:
    """An ISO time as the edit form's datetime-local field takes it, in the team's zone."""
    if not moment:
        return ""
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def _out_of_date(row: dict[str, Any]) -> str:
    """The waiting drafts the incidents now contradict, for the notice ("" when none)."""
    stale = row["out_of_date_drafts"]
    if not stale:
        return ""
    ids = ", ".join(str(i) for i in stale)
    drafts = "draft no longer matches" if len(stale) == 1 else "drafts no longer match"
    return (
        f" {len(stale)} waiting outage {drafts} the incidents (message {ids}):"
        " each one's page says so and offers a redraft."
    )


def _edited_notice(row: dict[str, Any]) -> str:
    if not row["changed"]:
        return f"Nothing changed in {row['title']}."
    fields = ", ".join(FIELD_WORDS[name] for name in row["changed"])
    notice = f"Changed {row['title']}: {fields}. Outage drafts written from now on use it as it is."
    return notice + _out_of_date(row)


def _typed(row: dict[str, Any], zone: str) -> dict[str, str]:
    """An incident's facts as its edit form's fields hold them."""
    return {
        "title": row["title"],
        "areas": ", ".join(row["areas"]),
        "started_at": _local(row["started_at"], zone),
        "expected_fix_at": _local(row["expected_fix_at"], zone),
        "public_note": row["public_note"],
    }


def _overdue(row: dict[str, Any], now: datetime) -> str:
    """ "40 minutes ago" for an active incident whose fix time passed, else ""."""
    fix = row["expected_fix_at"]
    minutes = minutes_overdue(datetime.fromisoformat(fix), now) if row["active"] and fix else None
    return "" if minutes is None else overdue_words(minutes)


def _page(
    request: Request,
    *,
    notice: str = "",
    error: str = "",
    typed: IncidentForm | None = None,
    refused: IncidentError | None = None,
    editing: int | None = None,
    status_code: int = 200,
) -> Template:
    """The list and the forms. Refused (`refused`), the form posted comes back with `typed`
    (the new incident's form, or `editing`'s edit form, open; the new incident's form when
    `editing` is no longer active) and the problem beside its field."""
    zone = runtime(request).settings.queue.timezone
    now = utcnow()
    rows = [
        {
            **r,
            "form": _typed(r, zone),
            "overdue": _overdue(r, now),
            "reopenable": reopenable(
                datetime.fromisoformat(r["resolved_at"]) if r["resolved_at"] else None, now
            ),
        }
        for r in _rows(request)
    ]
    problems = {refused.field: str(refused)} if refused is not None and refused.field else {}
    for r in rows:
        r["open"] = r["id"] == editing
        r["problems"] = problems if r["open"] else {}
        if r["open"] and typed is not None:
            r["form"] = structs.asdict(typed)
    # Resolved (or gone) while it was being edited: its row has no edit form, so what was typed
    # goes to the new incident's form, to record anew or keep at hand while reopening it.
    edit_gone = editing is not None and not any(r["active"] and r["open"] for r in rows)
    if edit_gone and typed is not None:
        error += " What you typed is in the Record incident form above."
    new_form = typed if typed is not None and (editing is None or edit_gone) else IncidentForm()
    context = {
        "user": request.user,
        "active": [r for r in rows if r["active"]],
        "resolved": [r for r in rows if not r["active"]],
        "notice": notice,
        "error": error,
        "zone": zone,
        "form": structs.asdict(new_form),
        "problems": problems if editing is None or edit_gone else {},
        "reopen_hours": REOPEN_HOURS,
    }
    return Template("supervisor/incidents.html", context=context, status_code=status_code)


@get(PAGE, sync_to_thread=True, guards=[requires_agent])
def incidents_page(
    request: Request, notice: FromQuery[str] = "", error: FromQuery[str] = ""
) -> Template:
    return _page(request, notice=notice, error=error)


@post(PAGE, sync_to_thread=True, guards=[requires_supervisor])
def incident_form(request: Request, data: Annotated[IncidentForm, FORM]) -> Response[Any]:
    try:
        row = _record(request, data, runtime(request).settings.queue.timezone)
    except IncidentError as exc:
        error = f"Not recorded: {exc}."
        return _page(request, error=error, typed=data, refused=exc, status_code=exc.status_code)
    notice = f"Recorded: {row['title']}. Outage drafts for its areas describe it from now on."
    return Redirect(PAGE, query_params={"notice": notice})


@post(f"{PAGE}/{{incident_id:int}}", sync_to_thread=True, guards=[requires_supervisor])
def edit_form(
    request: Request, incident_id: FromPath[int], data: Annotated[IncidentForm, FORM]
) -> Response[Any]:
    try:
        row = _edit(request, incident_id, data, runtime(request).settings.queue.timezone)
    except IncidentError as exc:
        return _page(
            request,
            error=f"Not changed: {exc}.",
            typed=data,
            refused=exc,
            editing=incident_id,
            status_code=exc.status_code,
        )
    return Redirect(PAGE, query_params={"notice": _edited_notice(row)})


@post(f"{PAGE}/{{incident_id:int}}/resolve", sync_to_thread=True, guards=[requires_supervisor])
def resolve_form(request: Request, incident_id: FromPath[int]) -> Redirect:
    try:
        row = _resolve(request, incident_id)
    except IncidentError as exc:
        return Redirect(PAGE, query_params={"error": f"Not resolved: {exc}."})
    notice = (
        f"Resolved: {row['title']}. New outage drafts no longer mention it."
        f" Resolved by mistake? Reopen it below within {REOPEN_HOURS} hours." + _out_of_date(row)
    )
    return Redirect(PAGE, query_params={"notice": notice})


@post(f"{PAGE}/{{incident_id:int}}/reopen", sync_to_thread=True, guards=[requires_supervisor])
def reopen_form(request: Request, incident_id: FromPath[int]) -> Redirect:
    try:
        row = _reopen(request, incident_id)
    except IncidentError as exc:
        return Redirect(PAGE, query_params={"error": f"Not reopened: {exc}."})
    notice = (
        f"Reopened: {row['title']}, as it was. Outage drafts for its areas describe it again."
        + _out_of_date(row)
    )
    return Redirect(PAGE, query_params={"notice": notice})


@get(f"/api{PAGE}", sync_to_thread=True, guards=[requires_agent])
def api_incidents(request: Request) -> list[dict[str, Any]]:
    """Active incidents first, then the last resolved."""
    return _rows(request)


@post(f"/api{PAGE}", sync_to_thread=True, guards=[requires_supervisor])
def api_record(request: Request, data: JSONBody[ApiIncident]) -> dict[str, Any]:
    try:
        return _record(request, data, None)
    except IncidentError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.detail()) from exc


@post(f"/api{PAGE}/{{incident_id:int}}", sync_to_thread=True, guards=[requires_supervisor])
def api_edit(
    request: Request, incident_id: FromPath[int], data: JSONBody[ApiIncidentEdit]
) -> dict[str, Any]:
    """Times in ISO 8601 with their offset; `changed` is empty when nothing did."""
    try:
        return _edit(request, incident_id, data, None)
    except IncidentError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.detail()) from exc


@post(f"/api{PAGE}/{{incident_id:int}}/resolve", sync_to_thread=True, guards=[requires_supervisor])
def api_resolve(request: Request, incident_id: FromPath[int]) -> dict[str, Any]:
    try:
        return _resolve(request, incident_id)
    except IncidentError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.detail()) from exc


@post(f"/api{PAGE}/{{incident_id:int}}/reopen", sync_to_thread=True, guards=[requires_supervisor])
def api_reopen(request: Request, incident_id: FromPath[int]) -> dict[str, Any]:
    """Within `REOPEN_HOURS` of resolving; later, 409: record a new one."""
    try:
        return _reopen(request, incident_id)
    except IncidentError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.detail()) from exc


ROUTES: list[object] = [
    incidents_page,
    incident_form,
    edit_form,
    resolve_form,
    reopen_form,
    api_incidents,
    api_record,
    api_edit,
    api_resolve,
    api_reopen,
]
