"""The supervisors' read-only page (and its API twin) on the automatic acknowledgements: whether
and when they go out, what a customer receives, how many went out lately. They are set in
config.toml, so there is nothing to change here; `responder.acknowledgement_overview` reads it."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from responder.acknowledgement_overview import overview
from responder.config import business_calendar
from responder.db.models import utcnow
from responder.web.auth import requires_supervisor
from responder.web.state import runtime

PAGE = "/supervisor/acknowledgements"


def _overview(request: Request) -> dict[str, Any]:
    settings = runtime(request).settings
    with runtime(request).factory() as session:
        return overview(session, settings, utcnow())


@get(PAGE, sync_to_thread=True, guards=[requires_supervisor])
def acknowledgements_page(request: Request) -> Template:
    settings = runtime(request).settings
    calendar = business_calendar(settings.queue)
    context = {
        "user": request.user,
        "ack": _overview(request),
        "opening_now": request.app.state.clock.opening(calendar, utcnow()),
    }
    return Template("supervisor/acknowledgements.html", context=context)


@get(
    f"/api{PAGE}",
    sync_to_thread=True,
    guards=[requires_supervisor],
    summary="How the automatic acknowledgements are set and what a customer receives",
    description=(
        "Read-only: whether they are on, when they go out (`summary`, and `opening_hours` in "
        "`timezone` when they go out only while closed), per channel, each text (`raw`) with "
        "what a sample customer receives (`rendered`), and `last_7_days` counts (`sent`, "
        "`failed`, `needs_attention`, `returned`: sent, then returned by the recipient's "
        "server). They change in config.toml under [acknowledge] "
        "(`settings_keys`), after a restart."
    ),
)
def api_acknowledgements(request: Request) -> dict[str, Any]:
    return _overview(request)


ROUTES: list[object] = [acknowledgements_page, api_acknowledgements]
