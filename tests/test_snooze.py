"""Snooze: a person puts a draft aside until a time; it leaves the queue, comes back by itself
when the time comes (a worker's round) or at once when the customer writes again, and its due
time stands meanwhile."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import insert, select, update

from responder.business_hours import build_calendar
from responder.db.models import Message, StaffUser, utcnow
from responder.db.session import transaction
from responder.mentions import mention_rows, unseen_count
from responder.pipeline.worker import Worker
from responder.review import (
    AlreadyHandled,
    ReviewError,
    approve,
    assign,
    current_draft,
    save_draft,
)
from responder.runtime import Runtime
from responder.snooze import (
    REMINDER_AUTHOR,
    choice_time,
    menu_time,
    snooze,
    snooze_choices,
    snoozed_items,
    wake,
)
from responder.web import app as web_app
from responder.web import snooze_routes
from responder.web.app import create_app
from responder.web.views import queue_items
from tests.browser_support import on_sqlite_only
from tests.helpers import api_token, drop, make_email, staff, staff_member
from tests.test_web_security import login

WHY = "waiting for the network team to confirm the outage"


def _in_review(rt: Runtime, worker: Worker) -> int:
    staff(rt, "alice")
    drop(rt, make_email(), "roaming")
    worker.drain()
    with rt.factory() as session:
        return session.scalars(select(Message.id).where(Message.direction == "in")).one()


def _queue_ids(rt: Runtime) -> list[int]:
    with rt.factory() as session:
        return [item["id"] for item in queue_items(session)]


def _time_passes(rt: Runtime, message_id: int) -> None:
    """What the clock does: the snooze time is reached."""
    with transaction(rt.factory) as session:
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(snoozed_until=utcnow() - timedelta(seconds=1))
        )


def test_a_snoozed_draft_leaves_the_queue_and_comes_back_when_its_time_comes(
    rt: Runtime, worker: Worker
) -> None:
    message_id = _in_review(rt, worker)
    with rt.factory() as session:
        due = session.get(Message, message_id).due_at
    with transaction(rt.factory) as session:
        snooze(session, message_id, staff_member(session), utcnow() + timedelta(hours=2), WHY)
    assert _queue_ids(rt) == []
    with rt.factory() as session:
        (item,) = snoozed_items(session)
    assert (item["id"], item["by"], item["note"]) == (message_id, "alice", WHY)

    worker.drain()
    assert _queue_ids(rt) == [], "a worker's round before the time leaves it asleep"

    _time_passes(rt, message_id)
    worker.drain()
    assert _queue_ids(rt) == [message_id]
    with rt.factory() as session:
        (shown,) = queue_items(session)
        message = session.get(Message, message_id)
        assert shown["back_from_snooze"] is True
        assert message.state == "in_review" and message.due_at == due, "the SLA clock ran on"
        assert snoozed_items(session) == []
        alice = staff_member(session)
        assert unseen_count(session, alice.id) == 1, "she is told, under Mentions"
        (reminder,) = mention_rows(session, alice.id)
    assert reminder["message_id"] == message_id
    assert reminder["author"] == REMINDER_AUTHOR
    assert reminder["body"] == (
        f"@alice back from snooze: the time you set has come. Your note: {WHY}"
    )
    worker.drain()
    with rt.factory() as session:
        assert len(mention_rows(session, alice.id)) == 1, "told once"


def test_the_customer_writing_again_wakes_a_snoozed_draft(rt: Runtime, worker: Worker) -> None:
    first = _in_review(rt, worker)
    with transaction(rt.factory) as session:
        snooze(session, first, staff_member(session), utcnow() + timedelta(days=3), WHY)
    drop(
        rt,
        make_email(
            subject="Re: Roaming charges on my bill",
            body="Any news? I am still in Spain and the charges keep coming.",
            message_id="<m2@mail.test>",
            headers={"In-Reply-To": "<m1@mail.test>", "References": "<m1@mail.test>"},
        ),
        "again",
    )
    worker.drain()
    with rt.factory() as session:
        woken = session.get(Message, first)
        assert woken.state == "in_review"
        assert current_draft(session, first).stale, "its draft predates the customer's news"
        (reminder,) = mention_rows(session, staff_member(session).id)
    assert sorted(_queue_ids(rt)) == sorted([first, first + 1])
    assert reminder["message_id"] == first
    assert reminder["body"].startswith("@alice back from snooze: the customer wrote again.")


def test_snooze_refuses_what_cannot_be_put_aside(rt: Runtime, worker: Worker) -> None:
    message_id = _in_review(rt, worker)
    now = utcnow()
    refused = [
        (now - timedelta(hours=1), "still to come"),
        (now + timedelta(days=91), "at most 90 days"),
        (datetime(2030, 1, 1, 9, 0), "with its zone"),
    ]
    for until, problem in refused:
        with pytest.raises(ReviewError, match=problem), transaction(rt.factory) as session:
            snooze(session, message_id, staff_member(session), until)
    with transaction(rt.factory) as session:  # drawn on two pages; a colleague assigns it
        drawn = session.get(Message, message_id).version
        assign(session, message_id, staff_member(session), "alice")
    with transaction(rt.factory) as session:  # an assignment alone: the first page saves
        save_draft(session, message_id, staff_member(session), "Checking.", expected_version=drawn)
    stale = pytest.raises(AlreadyHandled, match="changed since you opened it")
    with stale, transaction(rt.factory) as session:
        later = now + timedelta(hours=1)
        snooze(session, message_id, staff_member(session), later, expected_version=drawn)
    asleep = pytest.raises(AlreadyHandled, match="not snoozed")
    with asleep, transaction(rt.factory) as session:
        wake(session, message_id, staff_member(session))
    with transaction(rt.factory) as session:
        approve(session, message_id, staff_member(session), rt.settings.outbound)
    handled = pytest.raises(AlreadyHandled, match="already approved with edits by alice")
    with handled, transaction(rt.factory) as session:
        snooze(session, message_id, staff_member(session), now + timedelta(hours=1))


def _menu(now: datetime, weekday_hours: str | None) -> list[str]:
    """The menu's times after the first two, in Dublin, open those hours Monday to Friday
    (None: no opening hours kept)."""
    calendar = weekday_hours and build_calendar(
        timezone="Europe/Dublin",
        business_hours=dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), weekday_hours),
        holidays_country="",
        holidays_subdivision="",
        closed_dates=(),
    )
    labels = [c.label for c in snooze_choices(now, "Europe/Dublin", calendar or None)]
    assert labels[:2] == ["In 1 hour", "In 4 hours"]
    return labels[2:]


FRIDAY_EVENING = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
TUESDAY_MORNING = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_the_menu_offers_the_next_working_morning_in_the_teams_time() -> None:
    """Friday 18:00 in Dublin with weekday hours 08:00-20:00: the next morning is Monday's
    opening, so "next week" is not offered twice."""
    assert _menu(FRIDAY_EVENING, "08:00-20:00") == ["Next morning (Mon 07 Dec 08:00)"]
    assert _menu(TUESDAY_MORNING, None) == [
        "Next morning (Wed 02 Dec 09:00)",
        "Next week (Mon 07 Dec 09:00)",
    ]
    # The menu posts its choice; the time is worked out when the form is sent, so a page left
    # open three hours still snoozes "in 4 hours" for four.
    later = TUESDAY_MORNING + timedelta(hours=3)
    assert choice_time("4h", later, "Europe/Dublin", None) == later + timedelta(hours=4)
    assert choice_time("week", later, "Europe/Dublin", None) == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert choice_time("2026-12-07T09:00:00+00:00", later, "Europe/Dublin", None) is None
    # A form without the time its label showed gets the choice worked out then, and is told so.
    unsaid = menu_time("morning", "", later, "Europe/Dublin", None)
    assert unsaid is not None and unsaid.until == datetime(2026, 12, 2, 9, tzinfo=UTC)
    assert unsaid.changed.startswith("The page did not say which next morning it showed")


def test_before_dawn_the_next_morning_is_this_one() -> None:
    """01:40 on Tuesday in Dublin: "next morning" is Tuesday 09:00, not Wednesday's; at 06:00
    "in 4 hours" already reaches 09:00, so it is Wednesday's."""
    assert _menu(datetime(2026, 12, 1, 1, 40, tzinfo=UTC), None)[0] == (
        "Next morning (Tue 01 Dec 09:00)"
    )
    assert _menu(datetime(2026, 12, 1, 6, 0, tzinfo=UTC), None)[0] == (
        "Next morning (Wed 02 Dec 09:00)"
    )


def test_a_round_the_clock_team_gets_its_draft_back_in_the_morning_not_at_midnight() -> None:
    """Open 00:00-24:00 on weekdays: "next morning" is 09:00, not the midnight the hours open."""
    assert _menu(TUESDAY_MORNING, "00:00-24:00") == [
        "Next morning (Wed 02 Dec 09:00)",
        "Next week (Mon 07 Dec 09:00)",
    ]
    assert _menu(FRIDAY_EVENING, "00:00-24:00") == ["Next morning (Mon 07 Dec 09:00)"]


def test_snooze_and_wake_on_the_pages_and_the_api(
    rt: Runtime, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt.settings = msgspec.structs.replace(
        rt.settings, queue=msgspec.structs.replace(rt.settings.queue, timezone="Europe/Berlin")
    )
    message_id = _in_review(rt, worker)
    berlin = ZoneInfo("Europe/Berlin")
    tomorrow = datetime.now(berlin).date() + timedelta(days=1)
    local = datetime.combine(tomorrow, time(9, 30), tzinfo=berlin)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        assert 'id="snooze-until"' in page and "In 4 hours" in page
        token = page.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        version = page.split('name="version" value="', 1)[1].split('"', 1)[0]
        snoozed = client.post(
            f"/messages/{message_id}/snooze",
            data={
                "_csrf_token": token,
                "version": version,
                "until": "",
                "until_local": local.strftime("%Y-%m-%dT%H:%M"),
                "note": WHY,
            },
            follow_redirects=True,
        )
        shown = f"{tomorrow:%Y-%m-%d} 09:30"
        assert f"Snoozed until {shown} (Europe/Berlin)" in snoozed.text
        again = client.post(  # the same form sent twice: who did it, when, in the team's time
            f"/messages/{message_id}/snooze",
            data={"_csrf_token": token, "version": version, "until": "1h"},
            follow_redirects=True,
        )
        said = r"Not snoozed: already snoozed by alice at \d{4}-\d\d-\d\d \d\d:\d\d Europe/Berlin\."
        assert re.search(said, again.text), "in the history's words and the page's zone"
        assert "1 snoozed" in snoozed.text and "Nothing waiting" in snoozed.text
        with rt.factory() as session:
            assert session.get(Message, message_id).snoozed_until == local.astimezone(UTC)
        listed = client.get("/snoozed").text
        assert shown in listed and WHY in listed and "alice" in listed
        own_page = client.get(f"/messages/{message_id}").text
        assert f"Snoozed until {shown} Europe/Berlin" in own_page
        assert 'id="approve"' not in own_page, "woken first, then answered"
        back = client.post(
            f"/messages/{message_id}/wake", data={"_csrf_token": token}, follow_redirects=True
        )
        assert "Back in the queue." in back.text and 'id="approve"' in back.text
        assert f"snoozed until {shown} Europe/Berlin by alice" in back.text
        assert 'id="back-from-snooze"' in back.text

        # A page drawn on Monday evening and sent on Tuesday morning snoozes to the morning its
        # label named, not Wednesday's; sent once that has passed, to the next one, saying so.
        with monkeypatch.context() as clock:
            clock.setattr(web_app, "utcnow", lambda: datetime(2026, 11, 30, 17, tzinfo=UTC))
            drawn = client.get(f"/messages/{message_id}").text
        assert "Next morning (Tue 01 Dec 09:00)" in drawn
        label_time = re.search(r'name="shown_morning" value="([^"]+)"', drawn).group(1)
        passed = "The next morning the page showed (Tue 01 Dec 09:00) had passed when it was sent"
        for sent_at, back_at in (
            (datetime(2026, 12, 1, 6, 30, tzinfo=UTC), datetime(2026, 12, 1, 8, tzinfo=UTC)),
            (datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 2, 8, tzinfo=UTC)),
        ):
            with rt.factory() as session:
                version = session.get(Message, message_id).version
            with monkeypatch.context() as clock:
                clock.setattr(snooze_routes, "utcnow", lambda at=sent_at: at)
                sent = client.post(
                    f"/messages/{message_id}/snooze",
                    data={
                        "_csrf_token": token,
                        "version": version,
                        "until": "morning",
                        "shown_morning": label_time,
                    },
                    follow_redirects=True,
                ).text
            assert f"Snoozed until {back_at.astimezone(berlin):%Y-%m-%d %H:%M}" in sent
            assert (passed in sent) == (back_at.day == 2), "told only when it is not as shown"
            with rt.factory() as session:
                assert session.get(Message, message_id).snoozed_until == back_at
            client.post(f"/messages/{message_id}/wake", data={"_csrf_token": token})

        headers = api_token(client)
        version = client.get(f"/api/messages/{message_id}", headers=headers).json()["version"]
        naive = client.post(
            f"/api/messages/{message_id}/snooze",
            json={"until": local.strftime("%Y-%m-%dT%H:%M"), "version": version},
            headers=headers,
        )
        assert naive.status_code == 400 and "with its zone" in naive.text
        put_aside = client.post(
            f"/api/messages/{message_id}/snooze",
            json={"until": local.isoformat(), "note": WHY, "version": version},
            headers=headers,
        )
        assert put_aside.status_code == 201, put_aside.text
        assert put_aside.json()["snoozed_until"] == local.astimezone(UTC).isoformat()
        (item,) = client.get("/api/snoozed", headers=headers).json()["items"]
        assert (item["id"], item["note"]) == (message_id, WHY)
        assert client.get("/api/queue", headers=headers).json() == []
        woken = client.post(f"/api/messages/{message_id}/wake", headers=headers)
        assert (woken.status_code, woken.json()["state"]) == (201, "in_review")
        assert client.post(f"/api/messages/{message_id}/wake", headers=headers).status_code == 409

        # A bulk snooze puts aside more than a page holds: every one is counted and reachable.
        bulk = _put_aside_in_bulk(rt, 350)
        assert "350 snoozed" in client.get("/queue").text
        first = client.get("/snoozed").text
        assert '<span class="count" id="total">350</span>' in first
        assert "Showing 1–200 of 350" in first and 'id="first-page"' not in first
        more = re.search(r'id="next-page" rel="next" href="([^"]+)"', first).group(1)
        second = client.get(html.unescape(more)).text
        assert "Showing 201–350 of 350" in second and 'id="next-page"' not in second
        assert 'id="first-page" href="/snoozed"' in second
        shown = [re.findall(r'<tr data-id="(\d+)"', page) for page in (first, second)]
        assert [len(rows) for rows in shown] == [200, 150]
        assert [int(i) for i in shown[0] + shown[1]] == bulk, "soonest back first, none twice"
        api = client.get("/api/snoozed", headers=headers).json()
        assert (len(api["items"]), api["total"]) == (200, 350)
        rest = client.get("/api/snoozed", params={"cursor": api["next_cursor"]}, headers=headers)
        assert [i["id"] for i in api["items"] + rest.json()["items"]] == bulk
        assert rest.json()["next_cursor"] is None
        pasted = f"/api/snoozed?cursor={api['next_cursor']}"  # unencoded: its "+" reads as " "
        assert client.get(pasted, headers=headers).json()["items"] == rest.json()["items"]


def _put_aside_in_bulk(rt: Runtime, count: int) -> list[int]:
    """What a bulk snooze leaves, written in one statement: drafts asleep, two by two back a
    minute apart (a tie is ordered by id). Their ids, soonest back first."""
    with transaction(rt.factory) as session:
        channel_id = session.scalars(select(Message.channel_id)).first()
        soon = utcnow() + timedelta(hours=1)
        rows = [
            {
                "channel_id": channel_id,
                "external_key": f"bulk-{n}",
                "raw": b"",
                "state": "snoozed",
                "subject": f"Roaming question {n}",
                "snoozed_until": soon + timedelta(minutes=n // 2),
            }
            for n in range(count)
        ]
        return list(
            session.scalars(
                insert(Message).returning(Message.id, sort_by_parameter_order=True), rows
            )
        )


@on_sqlite_only
def test_snooze_by_keyboard_in_the_browser(rt: Runtime, worker: Worker) -> None:
    from playwright.sync_api import expect

    from tests.browser_support import browser, log_in
    from tests.live_server import serve

    message_id = _in_review(rt, worker)
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        log_in(page, base, "alice", "correct horse battery")
        page.goto(f"{base}/messages/{message_id}")
        page.keyboard.press("s")
        expect(page.locator("#snooze-until")).to_be_focused()
        page.keyboard.press("ArrowDown")  # "In 4 hours"
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/queue" in url)
        expect(page.locator("#notice")).to_contain_text("Snoozed until")
        expect(page.locator("#snoozed-link")).to_have_text(
            "1 snoozed: out of the queue until their time comes."
        )
    with rt.factory() as session:
        message = session.get(Message, message_id)
        assert message.state == "snoozed"
        hours = (message.snoozed_until - utcnow()).total_seconds() / 3600
    assert 3.5 < hours <= 4, "the second choice, four hours from when the page was drawn"


def test_snoozed_drafts_follow_their_people_and_their_senders(rt: Runtime, worker: Worker) -> None:
    """A snoozed draft assigned to someone who leaves goes back to the shared queue; one whose
    sender is marked as spam is rejected with the sender's other drafts."""
    from responder.spam import mark_spam
    from responder.users import set_active

    staff(rt, "bob")
    first = _in_review(rt, worker)
    drop(
        rt,
        make_email(subject="Win a phone", body="Click here", message_id="<m2@mail.test>"),
        "more",
    )
    worker.drain()
    second = first + 1
    with transaction(rt.factory) as session:
        assign(session, first, staff_member(session), "bob")
        snooze(session, first, staff_member(session), utcnow() + timedelta(hours=2), WHY)
        bob = session.scalars(select(StaffUser).where(StaffUser.username == "bob")).one()
        assert set_active(session, bob.id, False) == 1
    with rt.factory() as session:
        assert session.get(Message, first).assignee_id is None
    with transaction(rt.factory) as session:
        marked = mark_spam(session, second, staff_member(session))
    assert marked.also_rejected == [first]
    with rt.factory() as session:
        assert session.get(Message, first).state == "rejected"
