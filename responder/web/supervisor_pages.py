"""Supervisor pages: the dashboard, content editing, classifier examples and policies.

Thin controllers: each checks the supervisor role (a guard), then calls a plain service in
`responder.supervisor` or `responder.dashboard` that tests call directly too.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import select

from responder.dashboard import Period, Table, dashboard_tables, load_history
from responder.db.models import Channel, utcnow
from responder.runtime import Runtime
from responder.supervisor.charts import bar_chart, share_chart
from responder.web.auth import requires_supervisor


def _rt(request: Request) -> Runtime:
    return request.app.state.rt


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _tables(
    request: Request, start: str | None, end: str | None, channel: str | None
) -> tuple[Period, dict[str, Table], list[str]]:
    period = Period(start=_day(start), end=_day(end), channel=channel or None)
    with _rt(request).factory() as session:
        messages, corrections = load_history(session)
        channels = list(session.scalars(select(Channel.name).order_by(Channel.name)))
    return period, dashboard_tables(messages, corrections, period, utcnow()), channels


def _charts(tables: dict[str, Table]) -> dict[str, object]:
    def pairs(name: str, value_index: int = 1) -> list[tuple[str, float]]:
        return [(str(r[0]), float(r[value_index] or 0)) for r in tables[name].rows]

    def shares(name: str) -> list[dict[str, object]]:
        columns = tables[name].columns
        return [dict(zip(("group", *columns[1:]), row, strict=True)) for row in tables[name].rows]

    timings = [
        (f"{r[0]} {label}", float(r[index] or 0))
        for r in tables["timings"].rows
        for label, index in (("median", 2), ("p95", 3))
    ]
    sla = {}
    for row in tables["sla_breaches"].rows:
        sla[str(row[2] or "(none)")] = sla.get(str(row[2] or "(none)"), 0) + 1
    return {
        "volume_by_day": bar_chart(pairs("volume_by_day"), "Messages by day"),
        "volume_by_channel": bar_chart(pairs("volume_by_channel"), "Messages by mailbox"),
        "volume_by_intent": bar_chart(pairs("volume_by_intent"), "Messages by intent"),
        "outcomes": share_chart(shares("outcomes"), "Outcomes"),
        "outcomes_by_template": share_chart(shares("outcomes_by_template"), "Outcome by template"),
        "outcomes_by_intent": share_chart(shares("outcomes_by_intent"), "Outcome by intent"),
        "edit_distance": bar_chart(pairs("edit_distance"), "Median edit distance", " chars"),
        "timings": bar_chart(timings, "Minutes", " min"),
        "sla_breaches": bar_chart(
            sorted(sla.items(), key=lambda i: -i[1]), "SLA breaches by intent"
        ),
        "most_corrected": bar_chart(pairs("most_corrected"), "Corrected intents"),
    }


@get("/supervisor/dashboard", sync_to_thread=True, guards=[requires_supervisor])
def dashboard_page(
    request: Request, start: str | None = None, end: str | None = None, channel: str | None = None
) -> Template:
    period, tables, channels = _tables(request, start, end, channel)
    query = "&".join(
        f"{k}={v}" for k, v in (("start", start), ("end", end), ("channel", channel)) if v
    )
    context = {
        "user": request.user,
        "tables": tables,
        "charts": _charts(tables),
        "channels": channels,
        "filters": {"start": start or "", "end": end or "", "channel": channel or ""},
        "query": query,
        "period": period,
    }
    return Template("supervisor/dashboard.html", context=context)


@get("/supervisor/dashboard/export/{name:str}", sync_to_thread=True, guards=[requires_supervisor])
def dashboard_csv(
    request: Request,
    name: str,
    start: str | None = None,
    end: str | None = None,
    channel: str | None = None,
) -> Response[str]:
    _, tables, _ = _tables(request, start, end, channel)
    table = tables.get(name)
    if table is None:
        raise NotFoundException(f"no chart named {name!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}.csv"'},
    )


ROUTES = [dashboard_page, dashboard_csv]
