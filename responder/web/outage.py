"""503 while the database is unreachable, instead of a 500 and a stack trace per request.

The engine checks each pooled connection before use (`pool_pre_ping`), so once the database is
back the next request works: the web process needs no restart.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from sqlalchemy.exc import DBAPIError

from responder.db.outage import database_unavailable, first_line

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
DETAIL = "The database is unavailable for the moment. Nothing was changed; try again shortly."
PAGE = (
    "<!doctype html><title>503 database unavailable</title>"
    f"<h1>Service unavailable</h1><p>{DETAIL}</p>"
)


def database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    """An outage becomes 503 with Retry-After; any other database error stays a plain 500."""
    if not database_unavailable(exc):
        log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
        return Response({"status_code": 500, "detail": "Internal Server Error"}, status_code=500)
    log.warning("database unavailable on %s: %s", request.url.path, first_line(exc))
    headers = {"retry-after": str(RETRY_AFTER_SECONDS)}
    if request.url.path.startswith(("/api/", "/webhooks/")):
        return Response({"status_code": 503, "detail": DETAIL}, status_code=503, headers=headers)
    return Response(PAGE, status_code=503, headers=headers, media_type=MediaType.HTML)
