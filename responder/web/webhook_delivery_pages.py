"""Webhook deliveries for people: the supervisors' list of bodies not (wholly) used, and the
retry of one given up (listed under Needs attention). The rules are in
`responder.channels.social.deliveries`."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from responder.channels.social.deliveries import notable_deliveries, retry_delivery
from responder.channels.social.ingest import IngestOutcome
from responder.review import ReviewError
from responder.web.auth import requires_agent, requires_supervisor
from responder.web.params import RowId
from responder.web.state import runtime, signed_in

PAGE = "/supervisor/webhooks"


def _items(request: Request, before: int | None) -> list[dict[str, Any]]:
    rt = runtime(request)
    with rt.read_factory() as session:
        return notable_deliveries(session, before_id=before, limit=rt.settings.queue.page_size)


@get(PAGE, sync_to_thread=True, guards=[requires_supervisor])
def webhooks_page(request: Request, before: RowId = None) -> Template:
    items = _items(request, before)
    settings = runtime(request).settings
    page_size = settings.queue.page_size
    context = {
        "items": items,
        "user": request.user,
        "max_attempts": settings.pipeline.max_attempts,
        "older": items[-1]["id"] if len(items) == page_size else None,
        "paged": before is not None,
    }
    return Template("supervisor/webhooks.html", context=context)


@get(
    f"/api{PAGE}",
    sync_to_thread=True,
    guards=[requires_supervisor],
    summary="Webhook deliveries not taken in, not readable, or with events not used",
    description=(
        "Newest first (`before` pages on): each with `outcome` (`failed`, `retrying`, "
        "`malformed`, `ignored`), what it means in `words`, and the stored `detail`."
    ),
)
def api_webhooks(request: Request, before: RowId = None) -> dict[str, Any]:
    return {"items": _items(request, before)}


def _retry(request: Request, delivery_id: int) -> IngestOutcome:
    rt = runtime(request)
    return retry_delivery(
        rt.factory, delivery_id, signed_in(request).username, rt.settings.pipeline.max_attempts
    )


@post("/webhook-deliveries/{delivery_id:int}/retry", sync_to_thread=True, guards=[requires_agent])
def retry_form(request: Request, delivery_id: FromPath[int]) -> Redirect:
    try:
        outcome = _retry(request, delivery_id)
    except ReviewError as exc:
        return Redirect("/problems", query_params={"error": str(exc)})
    notice = f"Webhook delivery {delivery_id} taken in: {outcome.summary()}."
    return Redirect("/problems", query_params={"notice": notice})


@post(
    "/api/webhook-deliveries/{delivery_id:int}/retry",
    sync_to_thread=True,
    guards=[requires_agent],
    summary="Split a webhook delivery given up (Needs attention) again",
)
def api_retry(request: Request, delivery_id: FromPath[int]) -> dict[str, Any]:
    try:
        outcome = _retry(request, delivery_id)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {
        "delivery": delivery_id,
        "stored": outcome.stored,
        "duplicates": outcome.duplicates,
        "receipts": outcome.receipts,
        "ignored": list(outcome.ignored),
        "malformed": outcome.malformed,
    }


ROUTES: list[object] = [webhooks_page, api_webhooks, retry_form, api_retry]
