"""Probes and metrics for load balancers and Prometheus; no login, so nothing private here.

/readyz answers whether this process can serve (database reachable, models loaded or loadable)
and is public like /healthz. /metrics has no login either but answers only the addresses in
`[metrics] allow_from` (loopback by default): scrape it locally or from a listed address, and
keep the reverse proxy from forwarding it.
"""

from __future__ import annotations

import ipaddress

from litestar import Request, Response, get
from litestar.exceptions import PermissionDeniedException

from responder.ops.health import readiness
from responder.ops.metrics import CONTENT_TYPE, exposition
from responder.runtime import Runtime


@get("/readyz", sync_to_thread=True)
def readyz(request: Request) -> Response[dict[str, object]]:
    rt: Runtime = request.app.state.rt
    ready, checks = readiness(rt)
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return Response(body, status_code=200 if ready else 503)


def _allowed(host: str, allow_from: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host in allow_from  # e.g. "testclient" in tests, or a unix socket peer name
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allow_from)


@get("/metrics", sync_to_thread=True)
def metrics(request: Request) -> Response[bytes]:
    rt: Runtime = request.app.state.rt
    host = request.client.host if request.client else ""
    if not _allowed(host, rt.settings.metrics.allow_from):
        raise PermissionDeniedException("metrics are not served to this address")
    return Response(exposition(rt.factory), media_type=CONTENT_TYPE)
