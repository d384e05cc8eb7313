"""The supervisor dashboard: volume, outcomes, timings and SLA figures for a span of days
and a mailbox, drawn as charts, each table also a CSV file holding what the page shows.

Thin: `responder.dashboard` computes the figures (tests call it directly too), this module
reads the filters and renders them.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import NamedTuple
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy import select

from responder.classify.titles import LabelTitles
from responder.dashboard import (
    NO_TEMPLATE,
    RECENT_DAYS,
    Period,
    Table,
    dashboard_tables,
    display_names,
    load_history,
    sla_by_intent,
    snippet_titles,
)
from responder.db.models import Channel, utcnow
from responder.supervisor.charts import bar_chart, share_chart
from responder.supervisor.template_names import template_subject
from responder.web.auth import requires_supervisor
from responder.web.state import runtime as _rt


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


class DashboardView(NamedTuple):
    period: Period
    tables: dict[str, Table]
    channels: list[str]
    covered: str  # the days and mailbox the figures cover, in words
    names: dict[str, str]  # user name to display name
    snippets: dict[str, str]  # snippet key to its title


def _tables(
    request: Request, start: str | None, end: str | None, channel: str | None, span: str = ""
) -> DashboardView:
    """No days set: the last 30 days, or all time when `span` is "all"."""
    zone = _rt(request).settings.queue.timezone
    if start or end or span == "all":
        period = Period(start=_day(start), end=_day(end), channel=channel or None, timezone=zone)
    else:
        period = Period.recent(utcnow(), zone, channel or None)
    with _rt(request).factory() as session:
        messages, corrections = load_history(session, period.scope())
        channels = list(session.scalars(select(Channel.name).order_by(Channel.name)))
        names = display_names(session)
        snippets = snippet_titles(session)
    tables = dashboard_tables(messages, corrections, period, utcnow())
    return DashboardView(period, tables, channels, period.words(messages), names, snippets)


#: The tables with an intent code in a column (its index): the page shows it in words, the CSV
#: keeps the code.
INTENT_COLUMNS = {
    "volume_by_intent": 0,
    "outcomes_by_intent": 0,
    "most_corrected": 0,
    "sla_breaches": 2,
}


#: The tables whose first column is a template (`intents/outage`, every language of it): the
#: page says what it is for in words ("Service outage"), the file name small; the CSV keeps it.
TEMPLATE_TABLES = ("outcomes_by_template", "edit_distance")


def _template_words(tables: dict[str, Table], titles: LabelTitles) -> dict[str, str]:
    """Each template the tables name, in words; a row without a template says so already."""
    return {
        str(row[0]): template_subject(str(row[0]), titles)
        for name in TEMPLATE_TABLES
        for row in tables[name].rows
        if row[0] != NO_TEMPLATE
    }


def _charts(view: DashboardView, titles: LabelTitles) -> dict[str, object]:
    tables, names = view.tables, view.names
    template_words = _template_words(tables, titles)

    def shown(name: str, group: object) -> str:
        if name in INTENT_COLUMNS:
            return titles(group)
        if name in TEMPLATE_TABLES:
            return template_words.get(str(group), str(group))
        return str(group)

    def pairs(name: str, value_index: int = 1) -> list[tuple[str, float]]:
        return [(shown(name, r[0]), float(r[value_index] or 0)) for r in tables[name].rows]

    def shares(name: str) -> list[dict[str, object]]:
        columns = tables[name].columns
        return [
            {**dict(zip(("group", *columns[1:]), row, strict=True)), "group": shown(name, row[0])}
            for row in tables[name].rows
        ]

    # A measure with nothing measured yet (no approvals) is left out, not drawn as 0 minutes.
    timings = [
        (f"{str(r[0]).replace('_', ' ')}, {label}", float(r[index]))
        for r in tables["timings"].rows
        for label, index in (("median", 2), ("95% within", 3))
        if r[index] is not None
    ]
    breaches = tables["sla_breaches"]
    sla = [
        (titles(intent), count)
        for intent, count in sla_by_intent(
            dict(zip(breaches.columns, row, strict=True)) for row in breaches.rows
        )
    ]
    return {
        "volume_by_day": bar_chart(pairs("volume_by_day"), "Messages by day"),
        "volume_by_channel": bar_chart(pairs("volume_by_channel"), "Messages by mailbox"),
        "volume_by_intent": bar_chart(pairs("volume_by_intent"), "Messages by intent"),
        "outcomes": share_chart(shares("outcomes"), "Outcomes"),
        "outcomes_by_template": share_chart(shares("outcomes_by_template"), "Outcome by template"),
        "outcomes_by_snippet": share_chart(
            shares("outcomes_by_snippet"), "Outcome by snippet", names=view.snippets
        ),
        "outcomes_by_intent": share_chart(shares("outcomes_by_intent"), "Outcome by intent"),
        "outcomes_by_person": share_chart(
            shares("outcomes_by_person"), "Outcome by person", names=names
        ),
        "review_time_by_person": bar_chart(
            pairs("review_time_by_person", 2), "Median minutes to decision", " min", names=names
        ),
        "edit_distance": bar_chart(pairs("edit_distance"), "Median edit distance", " chars"),
        "timings": bar_chart(timings, "Minutes", " min"),
        "sla_breaches": bar_chart(sla, "SLA breaches by intent"),
        "most_corrected": bar_chart(pairs("most_corrected"), "Corrected intents"),
    }


#: The tables whose first column is a person: shown by display name, the user name small.
PERSON_TABLES = ("outcomes_by_person", "review_time_by_person")


@get("/supervisor/dashboard", sync_to_thread=True, guards=[requires_supervisor])
def dashboard_page(
    request: Request,
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None,
    span: FromQuery[str] = "",
) -> Template:
    view = _tables(request, start, end, channel, span)
    query = _query(start, end, channel, span)
    context = {
        "user": request.user,
        "tables": view.tables,
        "charts": _charts(view, request.app.state.titles),
        "channels": view.channels,
        "filters": {"start": start or "", "end": end or "", "channel": channel or ""},
        "all_time": span == "all" and not (start or end),
        "recent_days": view.period.recent_days,
        "links": {
            "all_time": f"/supervisor/dashboard?{_query(None, None, channel, 'all')}",
            "recent": f"/supervisor/dashboard?{_query(None, None, channel, '')}".rstrip("?"),
            "days": RECENT_DAYS,
        },
        "query": query,
        "period": view.period,
        "covered": view.covered,
        "names": view.names,
        "person_tables": PERSON_TABLES,
        "intent_columns": INTENT_COLUMNS,
        "template_words": _template_words(view.tables, request.app.state.titles),
        "template_tables": TEMPLATE_TABLES,
        "snippet_titles": view.snippets,
        "date_problem": _date_problem(start, end, view.period),
    }
    return Template("supervisor/dashboard.html", context=context)


def _query(start: str | None, end: str | None, channel: str | None, span: str) -> str:
    """The page's filters for its CSV links, so an export holds what the page shows."""
    pairs = (("start", start), ("end", end), ("channel", channel), ("span", span))
    return urlencode([(k, v) for k, v in pairs if v])


def _date_problem(start: str | None, end: str | None, period: Period) -> str:
    """What is wrong with the days asked for, said on the page (the figures then cover what
    could be read: a day that is not one is no bound)."""
    for name, typed, read in (("From", start, period.start), ("To", end, period.end)):
        if typed and read is None:
            return f"{name} {typed!r} is not a day (YYYY-MM-DD): it is not applied."
    if period.start and period.end and period.start > period.end:
        return f"From {period.start} is after To {period.end}: nothing falls between."
    return ""


#: Leads the dashboard's CSV files: without it Excel reads UTF-8 as the local code page, and a
#: customer's "Seán" or a "€" comes out garbled.
BYTE_ORDER_MARK = "\ufeff"


@get("/supervisor/dashboard/export/{name:str}", sync_to_thread=True, guards=[requires_supervisor])
def dashboard_csv(
    request: Request,
    name: FromPath[str],
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None,
    span: FromQuery[str] = "",
) -> Response[str]:
    table = _tables(request, start, end, channel, span).tables.get(name)
    if table is None:
        raise NotFoundException(f"no chart named {name!r}")
    buffer = io.StringIO()
    buffer.write(BYTE_ORDER_MARK)
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv",  # Litestar adds "; charset=utf-8" itself
        headers={"content-disposition": f'attachment; filename="{name}.csv"'},
    )


ROUTES: list[object] = [dashboard_page, dashboard_csv]
