"""The dashboard reads real history from the database and offers each chart as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import msgspec
from alembic import command
from litestar.testing import TestClient
from sqlalchemy import event, select

from responder.corrections import reclassify
from responder.dashboard import Period, dashboard_tables, load_history, local_day
from responder.db.migrate import alembic_config, upgrade
from responder.db.models import (
    Draft,
    DraftSnippet,
    Message,
    ReviewAction,
    Snippet,
    StaffUser,
    Template,
)
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.review import approve, reject
from responder.runtime import Runtime
from responder.supervisor import auto_send_figures
from responder.web.app import create_app
from tests.helpers import drop, make_email, staff
from tests.supervisor.history import agent_correction, waiting_message
from tests.test_web_security import login


def test_dashboard_counts_decisions_and_exports_csv(rt: Runtime) -> None:
    ids = [waiting_message(rt, number) for number in range(3)]
    staff(rt, "sue", "supervisor")
    with transaction(rt.factory) as session:
        sue = session.query(StaffUser).filter_by(username="sue").one()
        approve(session, ids[0], sue, rt.settings.outbound)
        approve(session, ids[1], sue, rt.settings.outbound, body="Hello,\n\nA new reply.\n")
        reject(session, ids[2], sue, "handled by phone")
    with rt.factory() as session:
        rows, _ = load_history(session)
    assert sorted(r.outcome for r in rows) == ["approved", "edited", "rejected"]
    assert {r.template for r in rows} == {rows[0].template}
    assert rows[0].template == "intents/roaming"
    edited = next(r for r in rows if r.outcome == "edited")
    assert edited.edit_distance and edited.edit_distance > 0

    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/dashboard")
        assert page.status_code == 200
        assert "<svg" in page.text and "Messages by day" in page.text
        # Each share is written on its bar, and the legend says which approvals were unchanged.
        outcomes = page.text.split('id="chart-outcomes"', 1)[1].split("</svg>", 1)[0]
        assert outcomes.count(">33%</text>") == 3
        assert ">approved unchanged</text>" in outcomes
        assert ">edited, then approved</text>" in outcomes
        exported = client.get("/supervisor/dashboard/export/outcomes")
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        assert exported.content.startswith(b"\xef\xbb\xbf"), "Excel reads it as UTF-8"
        table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert table == [
            {
                "group": "all",
                "decided": "3",
                "approved": "1",
                "edited": "1",
                "rejected": "1",
                "approved_share": "0.3333",
                "edited_share": "0.3333",
                "rejected_share": "0.3333",
            }
        ]
        assert "Outcome by person" in page.text
        people = _exported(client, "/supervisor/dashboard/export/outcomes_by_person")
        (sue_row,) = list(csv.DictReader(io.StringIO(people)))
        assert (sue_row["person"], sue_row["decided"], sue_row["edited"]) == ("sue", "3", "1")
        timing = _exported(client, "/supervisor/dashboard/export/review_time_by_person")
        (row,) = list(csv.DictReader(io.StringIO(timing)))
        assert (row["person"], row["decided"]) == ("sue", "3")
        other_mailbox = client.get("/supervisor/dashboard/export/outcomes?channel=nowhere")
        assert other_mailbox.text.strip().count("\n") == 0
        assert client.get("/supervisor/dashboard/export/nonsense").status_code == 404
        backwards = client.get("/supervisor/dashboard?start=2026-11-05&end=2026-11-01").text
        assert 'id="date-problem">From 2026-11-05 is after To 2026-11-01' in backwards
        garbage = client.get("/supervisor/dashboard?start=last+week").text
        assert "From &#39;last week&#39; is not a day" in garbage


def test_a_measure_with_nothing_measured_is_not_drawn_as_zero_minutes(rt: Runtime) -> None:
    waiting_message(rt, 0)  # drafted, nobody has approved anything yet
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/dashboard").text
        chart = page[
            page.index("<title>Minutes</title>") : page.index(
                "</svg>", page.index("<title>Minutes</title>")
            )
        ]
        assert "arrival to draft, median" in chart
        assert "arrival to draft, 95% within" in chart
        assert "draft to approval" not in chart
        # a chart with nothing to draw says so, with no empty Figures table under it
        panels = {
            section.split('"', 1)[0]: section
            for section in page.split('<section class="panel chart-panel" id="chart-')[1:]
        }
        assert "No decided drafts in this period." in panels["outcomes"]
        assert "<summary>Figures</summary>" not in panels["outcomes"]
        assert "Nothing in this period." in panels["edit_distance"]
        assert "<summary>Figures</summary>" not in panels["edit_distance"]
        assert "<summary>Figures</summary>" in panels["volume_by_day"]
        timings = _exported(client, "/supervisor/dashboard/export/timings")
        rows = {row["measure"]: row for row in csv.DictReader(io.StringIO(timings))}
        assert rows["draft_to_approval"]["count"] == "0"
        assert rows["draft_to_approval"]["median_minutes"] == ""


def _used_snippets(rt: Runtime, message_id: int) -> list[str]:
    with rt.factory() as session:
        draft = session.scalars(select(Draft).where(Draft.message_id == message_id)).one()
    return sorted(s["key"] for s in draft.grounding["snippets"] if s.get("used"))


def test_outcome_by_snippet_follows_real_drafts_and_survives_an_upgrade(
    rt: Runtime, worker: Worker
) -> None:
    """Which approved answers staff send unchanged and which they rewrite: counted from the
    snippets that went into each draft, also for drafts made before the table existed."""
    for number in range(2):
        drop(rt, make_email(message_id=f"<roam{number}@mail.test>"), f"roam{number}")
    worker.drain()
    with rt.factory() as session:
        ids = sorted(session.scalars(select(Message.id).where(Message.direction == "in")))
    used = _used_snippets(rt, ids[0])
    assert used and used == _used_snippets(rt, ids[1]), "both roaming drafts use a snippet"
    staff(rt, "sue", "supervisor")
    with transaction(rt.factory) as session:
        sue = session.query(StaffUser).filter_by(username="sue").one()
        approve(session, ids[0], sue, rt.settings.outbound)
        approve(session, ids[1], sue, rt.settings.outbound, body="Hello,\n\nMy own words.\n")

    def by_snippet() -> dict[str, dict[str, str]]:
        with TestClient(create_app(rt)) as client:
            login(client, "sue")
            assert "Outcome by snippet" in client.get("/supervisor/dashboard").text
            exported = _exported(client, "/supervisor/dashboard/export/outcomes_by_snippet")
        return {row["snippet"]: row for row in csv.DictReader(io.StringIO(exported))}

    table = by_snippet()
    assert set(table) == set(used)
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        listing = client.get("/supervisor/templates").text
    for key in used:
        row = listing[listing.index(f'<tr data-key="{key}">') :]
        assert '<td class="drafts">2</td>' in row[: row.index("</tr>")], (
            "the list counts its drafts"
        )
    for key in used:
        row = table[key]
        assert (row["decided"], row["approved"], row["edited"]) == ("2", "1", "1"), row

    # A database from before draft_snippets: the upgrade reads the drafts' grounding.
    rt.engine.dispose()
    command.downgrade(alembic_config(rt.engine), "web_0014")
    upgrade(rt.engine)
    rt.engine.dispose()
    assert by_snippet() == table


def test_a_saved_edit_approved_as_it_stands_counts_as_edited(rt: Runtime) -> None:
    """Save draft, then Approve: the reply is the person's text, not Responder's."""
    from responder.review import save_draft

    message_id = waiting_message(rt, 0)
    staff(rt, "alice")
    with transaction(rt.factory) as session:
        alice = session.query(StaffUser).filter_by(username="alice").one()
        save_draft(
            session,
            message_id,
            alice,
            "Hello Aoife,\n\nI called you about it.\n",
            expected_version=None,
        )
    with transaction(rt.factory) as session:
        alice = session.query(StaffUser).filter_by(username="alice").one()
        approve(session, message_id, alice, rt.settings.outbound)
    with rt.factory() as session:
        (row,) = load_history(session)[0]
    assert row.outcome == "edited" and row.edit_distance and row.edit_distance > 0


def _exported(client: TestClient, path: str, params: dict[str, str] | None = None) -> str:
    """A dashboard CSV as text, its byte-order mark (there for Excel) left off."""
    return client.get(path, params=params).content.decode("utf-8-sig")


def _chart(page: str, name: str) -> str:
    return page.split(f'id="chart-{name}"', 1)[1].split("</section>", 1)[0]


def test_the_page_says_its_period_names_unclassified_mail_and_people_by_name(
    rt: Runtime,
) -> None:
    day = datetime(2026, 11, 3, 10, 0)
    answered = waiting_message(rt, 0, received_at=day)
    waiting_message(rt, 1, received_at=day + timedelta(days=9))
    with transaction(rt.factory) as session:
        machine = session.get(Message, waiting_message(rt, 2, received_at=day))
        machine.state, machine.intent = "ignored", None
    staff(rt, "sue", "supervisor")
    with transaction(rt.factory) as session:
        sue = session.query(StaffUser).filter_by(username="sue").one()
        sue.display_name = "Sue Sullivan"
        approve(session, answered, sue, rt.settings.outbound)
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        opening = client.get("/supervisor/dashboard").text
        today = local_day(datetime.now(UTC), rt.settings.queue.timezone)
        month = f"{today - timedelta(days=29)} to {today}"
        assert f'id="period">Covers the last 30 days ({month}), all mailboxes.' in opening
        assert "Messages by intent" in opening and "Ignored, not classified" not in opening
        page = client.get("/supervisor/dashboard", params={"span": "all"}).text
        assert (
            '<p class="help" id="period">Covers all time (2026-11-03 to 2026-11-12), all mailboxes.'
        ) in page
        assert 'href="/supervisor/dashboard">the last 30 days</a>' in page
        intents = _chart(page, "volume_by_intent")
        assert ">Ignored, not classified</text>" in intents and "(none)" not in intents
        # intents in words on the page; the CSV keeps the codes rules and filters use
        assert ">Roaming</text>" in intents and "<td>Roaming</td>" in intents
        intents_csv = _exported(
            client, "/supervisor/dashboard/export/volume_by_intent", params={"span": "all"}
        )
        assert "roaming,2" in intents_csv and "ignored, not classified" in intents_csv
        people = _chart(page, "outcomes_by_person")
        assert 'Sue Sullivan <tspan class="key">sue</tspan> (1)</text>' in people
        assert "<td>Sue Sullivan <small>sue</small></td>" in people
        timing = _chart(page, "review_time_by_person")
        assert 'Sue Sullivan <tspan class="key">sue</tspan></text>' in timing
        shorter = client.get(
            "/supervisor/dashboard?start=2026-11-01&end=2026-11-05&channel=support"
        )
        assert 'id="period">Covers 2026-11-01 to 2026-11-05, mailbox support.' in shorter.text
        assert _exported(client, "/supervisor/dashboard/export/outcomes_by_person").count("\n") == 1
        people_csv = _exported(
            client, "/supervisor/dashboard/export/outcomes_by_person", params={"span": "all"}
        )
        (sue_row,) = csv.DictReader(io.StringIO(people_csv))
        assert sue_row["person"] == "sue", "the export keeps the user name, a stable key"


def _decided_at(rt: Runtime, message_id: int, action: str, when: datetime) -> None:
    with transaction(rt.factory) as session:
        for row in session.scalars(
            select(ReviewAction).where(
                ReviewAction.message_id == message_id, ReviewAction.action == action
            )
        ):
            row.created_at = when


def test_a_period_reads_its_own_mail_and_still_counts_its_corrections(rt: Runtime) -> None:
    """The dashboard reads only a period's messages from the database (a year of mail made
    every load slow), yet a correction made in the period to older mail still counts, as the
    period counts corrections by when they were made."""
    older = waiting_message(rt, 0, intent="outage", received_at=datetime(2026, 11, 3, 10, 0))
    inside = waiting_message(rt, 1, received_at=datetime(2026, 11, 11, 9, 0))
    waiting_message(rt, 2, received_at=datetime(2026, 11, 20, 9, 0))  # after the period
    agent_correction(rt, older, "roaming", "outage", "alice")
    _decided_at(rt, older, "reclassify", datetime(2026, 11, 11, 12, 0, tzinfo=UTC))
    period = Period(start=date(2026, 11, 10), end=date(2026, 11, 12), timezone="Europe/Dublin")
    now = datetime(2026, 11, 30, tzinfo=UTC)
    with rt.factory() as session:
        messages, corrections = load_history(session, period.scope())
        everything = load_history(session)
    assert [m.id for m in messages] == [inside]
    tables = dashboard_tables(messages, corrections, period, now)
    assert tables == dashboard_tables(*everything, period, now)
    assert tables["volume_by_intent"].rows == [("roaming", 1)]
    assert tables["most_corrected"].rows == [("outage", 1)]


def test_the_auto_send_figures_count_a_recent_decision_on_older_mail(rt: Runtime) -> None:
    """The page reads only what a person acted on in the last 30 days, by when they acted, not
    when the mail came in."""
    now = datetime.now(UTC)
    staff(rt, "sue", "supervisor")
    late = waiting_message(rt, 0, received_at=now - timedelta(days=40))
    stale = waiting_message(rt, 1, received_at=now - timedelta(days=50))
    with transaction(rt.factory) as session:
        sue = session.query(StaffUser).filter_by(username="sue").one()
        approve(session, late, sue, rt.settings.outbound)
        approve(session, stale, sue, rt.settings.outbound)
    _decided_at(rt, late, "approve", now - timedelta(days=2))
    _decided_at(rt, stale, "approve", now - timedelta(days=45))
    pairs = [("support", "roaming")]
    with rt.factory() as session:
        rows, _ = load_history(session, auto_send_figures.scope(now))
        figures = auto_send_figures.intent_figures(session, rows, now, pairs)
        whole = auto_send_figures.intent_figures(session, load_history(session)[0], now, pairs)
    assert [r.id for r in rows] == [late]
    assert figures == whole
    assert figures[("support", "roaming")].decided == 1


def test_sla_and_correction_charts_name_mail_without_an_intent_as_the_others_do(
    rt: Runtime,
) -> None:
    """A late message nobody classified and a correction of one are "not classified", in the
    words of the intent charts, never a bare "(none)"."""
    day = datetime(2026, 11, 3, 10, 0)
    late = waiting_message(rt, 0, received_at=day)
    corrected = waiting_message(rt, 1, received_at=day)
    with transaction(rt.factory) as session:
        for message_id in (late, corrected):
            message = session.get(Message, message_id)
            message.intent, message.classification = None, None
            message.due_at = day + timedelta(hours=1)
    staff(rt, "alice")
    staff(rt, "sue", "supervisor")
    with transaction(rt.factory) as session:
        alice = session.query(StaffUser).filter_by(username="alice").one()
        reclassify(session, corrected, alice, "intent", "roaming")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/dashboard", params={"span": "all"}).text
        sla = _chart(page, "sla_breaches")
        assert ">In review, not classified</text>" in sla and "(none)" not in sla
        fixed = _chart(page, "most_corrected")
        assert ">Not classified</text>" in fixed and "(none)" not in fixed
        breaches = _exported(
            client, "/supervisor/dashboard/export/sla_breaches", params={"span": "all"}
        )
        assert {row["intent"] for row in csv.DictReader(io.StringIO(breaches))} == {
            "in_review, not classified",
            "roaming",
        }


def test_drafts_without_a_template_are_named_in_the_template_charts_and_exports(
    rt: Runtime,
) -> None:
    """A reply whose first draft had no template (drafting found none for its intent) is
    said in words in both template charts and their exports, never a bare "(none)"."""
    day = datetime(2026, 11, 3, 10, 0)
    untemplated = waiting_message(rt, 0, intent="cruise_ship_wifi", received_at=day)
    staff(rt, "sue", "supervisor")
    with transaction(rt.factory) as session:
        assert (
            session.scalar(select(Draft.template_id).where(Draft.message_id == untemplated)) is None
        )
        sue = session.query(StaffUser).filter_by(username="sue").one()
        approve(session, untemplated, sue, rt.settings.outbound)
    words = "no template (drafting error, or written by hand)"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/dashboard", params={"span": "all"}).text
        for chart in ("outcomes_by_template", "edit_distance"):
            shown = _chart(page, chart)
            assert words in shown and "(none)" not in shown, chart
            exported = _exported(
                client, f"/supervisor/dashboard/export/{chart}", params={"span": "all"}
            )
            assert [row["template"] for row in csv.DictReader(io.StringIO(exported))] == [words]


def test_a_snippet_approved_while_the_dashboard_loads_does_not_break_the_page(
    rt: Runtime,
) -> None:
    """A new snippet version approved, and a draft made with it and a new template, while the
    history is being read (all time reads a year of mail, for seconds): the page counts the
    draft by its snippet's key instead of failing with a 500, and names its template."""
    message_id = waiting_message(rt, 0)
    staff(rt, "sue", "supervisor")
    with transaction(rt.factory) as session:
        sue = session.query(StaffUser).filter_by(username="sue").one()
        approve(session, message_id, sue, rt.settings.outbound)
    done: list[bool] = []

    def approved_meanwhile(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if done or "draft_snippets" not in statement or "LEFT OUTER JOIN" not in statement:
            return
        done.append(True)
        with transaction(rt.factory) as session:
            snippet = Snippet(
                key="roaming-refund-new", title="Roaming refund", body="We refunded the charge."
            )
            session.add(snippet)
            session.flush()
            template = Template(name="intents/outage", tone="brand_new", body="Hello")
            session.add(template)
            session.flush()
            draft = session.scalars(select(Draft).where(Draft.message_id == message_id)).one()
            draft.template_id = template.id
            session.add(DraftSnippet(draft_id=draft.id, snippet_id=snippet.id))

    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        event.listen(rt.engine, "before_cursor_execute", approved_meanwhile)
        try:
            page = client.get("/supervisor/dashboard?span=all")
        finally:
            event.remove(rt.engine, "before_cursor_execute", approved_meanwhile)
    assert done, "the history was read"
    assert page.status_code == 200, page.text
    snippets = page.text.split('id="chart-outcomes_by_snippet"', 1)[1].split("</svg>", 1)[0]
    assert 'Roaming refund <tspan class="key">roaming-refund-new</tspan> (1)' in snippets, (
        "the snippet by its title, its key small"
    )
    assert "<td>Roaming refund <small>roaming-refund-new</small></td>" in page.text
    templates = page.text.split('id="chart-outcomes_by_template"', 1)[1].split("</svg>", 1)[0]
    assert "Service outage" in templates, "a template added meanwhile is named, not left blank"
    assert "<td>Service outage <small>intents/outage</small></td>" in page.text, (
        "its intent's title"
    )


def test_days_at_the_ends_of_the_calendar_show_the_figures_not_an_error(rt: Runtime) -> None:
    """A date field set to the last day the picker offers (9999-12-31), or the first: the
    day after it, or its midnight east of UTC, is no datetime; the page and the CSV count
    every message instead of failing with a 500."""
    waiting_message(rt, 0)
    staff(rt, "sue", "supervisor")
    rt.settings = msgspec.structs.replace(
        rt.settings, queue=msgspec.structs.replace(rt.settings.queue, timezone="Europe/Berlin")
    )
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        for days in ("end=9999-12-31", "start=0001-01-01", "start=0001-01-01&end=9999-12-31"):
            page = client.get(f"/supervisor/dashboard?{days}")
            assert page.status_code == 200, days
            exported = _exported(client, f"/supervisor/dashboard/export/volume_by_channel?{days}")
            assert list(csv.DictReader(io.StringIO(exported))) == [
                {"channel": "support", "messages": "1"}
            ]
