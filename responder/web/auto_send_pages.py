"""The auto-send policy page: per mailbox and intent, the confidence at or above which a
draft is sent without review (or off), beside how such drafts fared lately.

Thin: `responder.supervisor.auto_send` validates, stores and audits a threshold.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct

from responder.dashboard import load_history
from responder.db.models import utcnow
from responder.db.session import transaction
from responder.review import ReviewError
from responder.supervisor import auto_send, auto_send_figures
from responder.web.auth import requires_supervisor
from responder.web.state import runtime as _rt
from responder.web.state import signed_in as _user

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


class PolicyForm(Struct):
    channel_id: int
    intent: str
    threshold: str = ""


@get("/supervisor/auto-send", sync_to_thread=True, guards=[requires_supervisor])
def auto_send_page(
    request: Request,
    notice: FromQuery[str] = "",
    error: FromQuery[str] = "",
    channel_id: FromQuery[int | None] = None,
    intent: FromQuery[str] = "",
    threshold: FromQuery[str] = "",
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


ROUTES: list[object] = [auto_send_page, auto_send_save]
