"""SLA clocks that count the team's opening hours, holidays and closed days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
from sqlalchemy import select

from responder.config import QueueSettings
from responder.db.models import Message
from responder.pipeline.worker import Worker
from responder.queue_order import due_at
from responder.runtime import Runtime
from tests.helpers import drop, make_email, start_up_refusal

WEEKDAYS_8_TO_8 = {day: "08:00-20:00" for day in ("mon", "tue", "wed", "thu", "fri")}
DUBLIN = QueueSettings(
    timezone="Europe/Dublin",
    business_hours={**WEEKDAYS_8_TO_8, "sat": "09:00-13:00"},
    holidays_country="IE",
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def normal(received: datetime, settings: QueueSettings, urgency: str = "normal") -> datetime:
    return due_at(received, urgency=urgency, tier="", churn_high=False, settings=settings)


def test_friday_evening_mail_is_due_on_monday_not_in_the_night() -> None:
    # Friday 4 December 2026, 19:00 in Dublin (UTC in winter): 60 minutes that evening,
    # 240 on Saturday morning, the other 180 from 08:00 on Monday.
    assert normal(utc(2026, 12, 4, 19, 0), DUBLIN) == utc(2026, 12, 7, 11, 0)
    # Round the clock (no business hours) it would have been due at 03:00 on Saturday.
    assert normal(utc(2026, 12, 4, 19, 0), QueueSettings()) == utc(2026, 12, 5, 3, 0)


def test_mail_arriving_while_closed_starts_its_clock_at_opening() -> None:
    # Sunday 6 December, 23:00: nothing counts until Monday 08:00.
    assert normal(utc(2026, 12, 6, 23, 0), DUBLIN) == utc(2026, 12, 7, 16, 0)


def test_public_holidays_and_closed_dates_do_not_count() -> None:
    # Thursday 24 December 19:00: one hour that evening; Christmas Day (Friday) and St
    # Stephen's Day (Saturday) are Irish public holidays; Sunday is closed; Monday from 08:00.
    assert normal(utc(2026, 12, 24, 19, 0), DUBLIN) == utc(2026, 12, 28, 15, 0)
    closing_early = msgspec.structs.replace(DUBLIN, closed_dates=["2026-12-28"])
    assert normal(utc(2026, 12, 24, 19, 0), closing_early) == utc(2026, 12, 29, 15, 0)


def test_hours_are_local_across_a_daylight_saving_change() -> None:
    # Summer: Dublin is UTC+1, so the office opens at 07:00 UTC. Friday 3 July 2026, 18:30 UTC
    # is 19:30 local: 30 minutes that day, then Saturday from 09:00 local (08:00 UTC).
    assert normal(utc(2026, 7, 3, 18, 30), DUBLIN, "high") == utc(2026, 7, 4, 8, 30)
    # Saturday 24 October 2026, 12:30 UTC = 13:30 local, closed. The clocks go back on Sunday;
    # Monday is the October bank holiday; Tuesday opens at 08:00 local, now 08:00 UTC, not 07:00.
    assert normal(utc(2026, 10, 24, 12, 30), DUBLIN, "high") == utc(2026, 10, 27, 9, 0)


def test_a_day_with_a_lunch_break_and_round_the_clock_urgent_mail() -> None:
    split = QueueSettings(
        business_hours={"mon": "09:00-12:00, 13:00-17:00"},
        round_the_clock_urgencies=["high"],
    )
    # Monday 7 December 11:30 UTC: 30 minutes before lunch and 240 after it (270 of the
    # normal 480); next Monday 180 before lunch, and the last 30 from 13:00.
    assert normal(utc(2026, 12, 7, 11, 30), split) == utc(2026, 12, 14, 13, 30)
    # Low (1440): 270 + 420 + 420 over three Mondays, then 180 and 150 on the fourth.
    assert normal(utc(2026, 12, 7, 11, 30), split, "low") == utc(2026, 12, 28, 15, 30)
    # High runs round the clock here: an hour later, lunch or not.
    assert normal(utc(2026, 12, 7, 11, 30), split, "high") == utc(2026, 12, 7, 12, 30)
    office_only = msgspec.structs.replace(split, round_the_clock_urgencies=[])
    assert normal(utc(2026, 12, 7, 11, 30), office_only, "high") == utc(2026, 12, 7, 13, 30)


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ('business_hours = { monday = "08:00-20:00" }', "queue.business_hours: monday"),
        ('business_hours = { mon = "8-20" }', "queue.business_hours.mon: '8-20'"),
        ('business_hours = { mon = "20:00-08:00" }', "must open before it closes"),
        ('business_hours = { mon = "08:00-13:00, 12:00-17:00" }', "overlap"),
        ('business_hours = { mon = "closed" }', "no day has open hours"),
        ('timezone = "Europe/Dubln"', "queue.timezone: unknown time zone 'Europe/Dubln'"),
        (
            'business_hours = { mon = "08:00-20:00" }\nholidays_country = "XX"',
            "queue.holidays_country: Country XX not available",
        ),
        (
            'business_hours = { mon = "08:00-20:00" }\nclosed_dates = ["24/12/2026"]',
            "queue.closed_dates:",
        ),
    ],
)
def test_a_bad_opening_hours_setting_stops_start_up_naming_it(
    tmp_path: Path, setting: str, named: str
) -> None:
    assert named in start_up_refusal(tmp_path, "queue", setting)


def test_the_route_stage_gives_waiting_mail_its_due_time_in_open_hours(
    rt: Runtime, worker: Worker
) -> None:
    """Open ten minutes a day (00:00-00:10 UTC): a normal message's 480 minutes take 48 days
    of openings, whatever time of day the test runs."""
    every_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    rt.settings = msgspec.structs.replace(
        rt.settings,
        queue=msgspec.structs.replace(
            rt.settings.queue, business_hours=dict.fromkeys(every_day, "00:00-00:10")
        ),
    )
    drop(rt, make_email(), "a")
    worker.drain()
    with rt.factory() as session:
        message = session.execute(
            select(Message.received_at, Message.due_at, Message.urgency, Message.state)
        ).one()
    assert message.state == "in_review" and message.urgency == "normal"
    received = message.received_at
    midnight = received.replace(hour=0, minute=0, second=0, microsecond=0)
    window = timedelta(minutes=10)
    open_today = max(timedelta(0), midnight + window - received)
    days, rest = divmod(timedelta(minutes=480) - open_today, window)
    if rest:
        expected = midnight + timedelta(days=days + 1) + rest
    else:
        expected = midnight + timedelta(days=days) + window
    assert message.due_at == expected
    assert message.due_at - received > timedelta(days=47)


def test_pages_show_times_in_the_teams_time_zone(rt: Runtime) -> None:
    """Berlin is UTC+1 in December: a draft due at 15:00 UTC shows as due at 16:00."""
    from litestar.testing import TestClient

    from responder.db.session import transaction
    from responder.web.app import create_app
    from tests.helpers import staff
    from tests.supervisor.history import waiting_message
    from tests.test_web_security import login

    message_id = waiting_message(rt, 1, received_at=utc(2026, 12, 7, 7, 0))
    with transaction(rt.factory) as session:
        session.get(Message, message_id).due_at = utc(2026, 12, 7, 15, 0)
    staff(rt, "alice")
    for zone, due, received in (
        ("UTC", "2026-12-07 15:00", "2026-12-07 07:00"),
        ("Europe/Berlin", "2026-12-07 16:00", "2026-12-07 08:00"),
    ):
        rt.settings = msgspec.structs.replace(
            rt.settings, queue=msgspec.structs.replace(rt.settings.queue, timezone=zone)
        )
        with TestClient(create_app(rt)) as client:
            login(client, "alice")
            queue = client.get("/queue").text
            review = client.get(f"/messages/{message_id}").text
        assert f"<th>Due ({zone})</th>" in queue and due in queue
        assert 'id="opening"' not in queue, "round the clock: no opening hours to show"
        assert f"Due {due} {zone}" in review and f">{received} {zone}</span> ·" in review
    with rt.factory() as session:
        stored = session.get(Message, message_id).due_at
    assert stored == utc(2026, 12, 7, 15, 0), "the database keeps UTC"


def test_changed_opening_hours_move_the_due_times_of_waiting_mail(
    rt: Runtime, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`responder queue recompute-due`: the route stage fixed due times when mail arrived; after
    the opening hours change, the mail already waiting is due by the new ones."""
    from responder.db.session import transaction
    from tests.helpers import run_cli
    from tests.supervisor.history import waiting_message

    waiting = waiting_message(rt, 1, received_at=utc(2026, 12, 4, 19, 0))  # a Friday evening
    handled = waiting_message(rt, 2, received_at=utc(2026, 12, 4, 19, 0))
    with transaction(rt.factory) as session:
        session.get(Message, waiting).due_at = utc(2026, 12, 5, 3, 0)  # round the clock
        answered = session.get(Message, handled)
        answered.state, answered.due_at = "sent", utc(2026, 12, 5, 3, 0)
    config = project / "config.toml"
    hours = ", ".join(f'{day} = "08:00-20:00"' for day in ("mon", "tue", "wed", "thu", "fri"))
    config.write_text(
        config.read_text()
        .replace('timezone = "UTC"', 'timezone = "Europe/Dublin"')
        .replace("business_hours = {}", f'business_hours = {{ {hours}, sat = "09:00-13:00" }}')
    )
    out = run_cli(rt, project, "queue", "recompute-due", capsys=capsys)
    assert "due times recomputed for 1 waiting message(s)" in out
    with rt.factory() as session:
        assert session.get(Message, waiting).due_at == utc(2026, 12, 7, 11, 0)
        assert session.get(Message, handled).due_at == utc(2026, 12, 5, 3, 0), "answered: kept"


def test_the_replys_quote_line_is_in_the_teams_time(rt: Runtime, worker: Worker) -> None:
    from litestar.testing import TestClient

    from responder.web.app import create_app
    from tests.helpers import api_token, sent_replies, staff

    rt.settings = msgspec.structs.replace(
        rt.settings,
        queue=msgspec.structs.replace(rt.settings.queue, timezone="America/New_York"),
    )
    staff(rt, "alice")
    drop(rt, make_email(), "roaming")
    worker.drain()
    with rt.factory() as session:
        message_id, received = session.execute(
            select(Message.id, Message.received_at).where(Message.direction == "in")
        ).one()
    with TestClient(create_app(rt)) as client:
        headers = api_token(client)
        version = client.get(f"/api/messages/{message_id}", headers=headers).json()["version"]
        approved = client.post(
            f"/api/messages/{message_id}/approve", json={"version": version}, headers=headers
        )
        assert approved.status_code == 201, approved.text
    worker.drain()
    (reply,) = sent_replies(rt)
    local = received.astimezone(ZoneInfo("America/New_York"))
    assert f"On {local:%Y-%m-%d %H:%M %Z}, Aoife Murphy" in reply.get_body(("plain",)).get_content()


def test_the_calendar_says_whether_the_team_is_in_and_until_when() -> None:
    from responder.config import business_calendar

    dublin = business_calendar(DUBLIN)
    # Friday 4 December 19:00: open until 20:00; 20:30: closed until Saturday 09:00.
    assert dublin.status(utc(2026, 12, 4, 19, 0)) == (True, utc(2026, 12, 4, 20, 0))
    assert dublin.status(utc(2026, 12, 4, 20, 30)) == (False, utc(2026, 12, 5, 9, 0))
    # Christmas Eve evening: the next opening is after Christmas, St Stephen's Day and Sunday.
    assert dublin.status(utc(2026, 12, 24, 21, 0)) == (False, utc(2026, 12, 28, 8, 0))
    # Spans that touch are one opening: round the clock has no closing time.
    always = business_calendar(
        QueueSettings(
            business_hours=dict.fromkeys(
                ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00"
            )
        )
    )
    assert always.status(utc(2026, 12, 4, 19, 0)) == (True, None)
    nights = business_calendar(
        QueueSettings(business_hours={"mon": "20:00-24:00", "tue": "00:00-06:00, 20:00-24:00"})
    )
    assert nights.status(utc(2026, 12, 7, 21, 0)) == (True, utc(2026, 12, 8, 6, 0))


def test_the_queue_says_whether_the_team_is_in(rt: Runtime) -> None:
    from litestar.testing import TestClient

    from responder.web.app import create_app
    from tests.helpers import staff
    from tests.test_web_security import login

    every_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    rt.settings = msgspec.structs.replace(
        rt.settings,
        queue=msgspec.structs.replace(
            rt.settings.queue,
            timezone="Europe/Dublin",
            business_hours=dict.fromkeys(every_day, "00:00-24:00"),
        ),
    )
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        queue = client.get("/queue").text
    assert "Open round the clock (Europe/Dublin): due times count open hours only." in queue


def test_the_opening_line_reads_in_the_teams_time() -> None:
    from responder.config import business_calendar
    from responder.web.clock import PageClock

    clock, dublin = PageClock("Europe/Dublin"), business_calendar(DUBLIN)
    assert clock.opening(dublin, utc(2026, 12, 4, 19, 0)) == "Open until Fri 04 Dec 20:00"
    assert clock.opening(dublin, utc(2026, 12, 24, 21, 0)) == "Closed: opens Mon 28 Dec 08:00"
    summer = clock.opening(dublin, utc(2026, 7, 3, 20, 0))  # 21:00 local
    assert summer == "Closed: opens Sat 04 Jul 09:00"
    assert clock.opening(None, utc(2026, 7, 3, 20, 0)) == ""
