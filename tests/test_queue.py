"""The queue's order, filters, counts and pages, on a constructed set of waiting drafts."""

from __future__ import annotations

import html
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from responder.config import QueueSettings
from responder.db.models import Channel, Customer, Draft, Message, MessagePresence, StaffUser
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.presence import GONE_AFTER
from responder.queue_order import due_at
from responder.runtime import Runtime
from responder.web.app import create_app
from responder.web.views import (
    CountsCache,
    QueueFilter,
    ShownChannel,
    queue_counts,
    queue_items,
)
from tests.helpers import api_token, drop, make_email, staff
from tests.html_document import HtmlDocument
from tests.test_web_security import login

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_due_time_folds_urgency_tier_and_churn() -> None:
    settings = QueueSettings()
    normal = due_at(NOW, urgency="normal", tier="Average", churn_high=False, settings=settings)
    assert normal == NOW + timedelta(minutes=480)
    best_leaving = due_at(NOW, urgency="normal", tier="Best", churn_high=True, settings=settings)
    assert best_leaving == NOW + timedelta(minutes=120)
    urgent = due_at(NOW, urgency="high", tier="Worst", churn_high=False, settings=settings)
    assert urgent == NOW + timedelta(minutes=60)
    # a normal message that has waited 7 hours is due before an urgent one that just came in
    old = due_at(
        NOW - timedelta(hours=7.5), urgency="normal", tier="", churn_high=False, settings=settings
    )
    assert old < urgent


def test_churn_is_read_from_the_draft_grounding() -> None:
    from responder.queue_order import churn_is_high

    assert churn_is_high({"customer": {"churn": {"risk": "high", "score": 0.7}}})
    assert not churn_is_high({"customer": {"churn": {"risk": "medium"}}})
    assert not churn_is_high({})


def fill(rt: Runtime) -> list[int]:
    """12 waiting drafts: intents alternate, tiers cycle, due one minute apart in reverse."""
    with transaction(rt.factory) as session:
        channel = Channel(name="support", kind="maildir")
        session.add(channel)
        session.flush()
        ids = []
        for i in range(12):
            message = Message(
                channel_id=channel.id,
                external_key=f"q{i}",
                raw=b"",
                state="in_review",
                subject=f"message {i}",
                intent="roaming" if i % 2 else "outage",
                customer_tier=("Best", "Average", "Worst")[i % 3],
                due_at=NOW + timedelta(minutes=12 - i),
            )
            session.add(message)
            session.flush()
            session.add(Draft(message_id=message.id, version=1, body="Hello"))
            ids.append(message.id)
        session.add(Message(channel_id=channel.id, external_key="done", raw=b"", state="sent"))
        session.add(Customer(name="unused"))
    return ids


def test_queue_is_ordered_by_due_time_and_pages_by_cursor(rt: Runtime) -> None:
    ids = fill(rt)
    with rt.factory() as session:
        first = queue_items(session, limit=5)
        assert [i["id"] for i in first] == list(reversed(ids))[:5]
        seen = [i["id"] for i in first]
        cursor = first[-1]["cursor"]
        while True:
            page = queue_items(session, limit=5, cursor=cursor)
            if not page:
                break
            seen += [i["id"] for i in page]
            cursor = page[-1]["cursor"]
        assert seen == list(reversed(ids)), "every waiting draft once, in order"


def test_filters_and_counts(rt: Runtime) -> None:
    ids = fill(rt)
    with rt.factory() as session:
        roaming = queue_items(session, filters=QueueFilter(intent="roaming"))
        assert len(roaming) == 6 and {i["intent"] for i in roaming} == {"roaming"}
        best_roaming = queue_items(session, filters=QueueFilter(intent="roaming", tier="Best"))
        assert {i["tier"] for i in best_roaming} == {"Best"} and len(best_roaming) == 2
        counts = queue_counts(session, QueueFilter(intent="roaming"), CountsCache())
        assert counts["total"] == 6
        assert counts["intent"] == {"roaming": 6, "outage": 6}  # other intents stay visible
        assert counts["tier"] == {"Best": 2, "Average": 2, "Worst": 2}
        assert counts["channel"] == {"support": 6}
        unfiltered = queue_counts(session)
        assert unfiltered["total"] == 12
        newest = session.scalar(select(Message.id).order_by(Message.id.desc()).limit(1))
    # An open queue page asks, in its own view, how many drafts came in after it was drawn.
    staff(rt, "alice")
    staff(rt, "bob")
    with transaction(rt.factory) as session:  # bob has the first in the order, alice the third
        people = dict(session.execute(select(StaffUser.username, StaffUser.id)).all())
        session.get(Message, ids[11]).assignee_id = people["bob"]
        session.get(Message, ids[9]).assignee_id = people["alice"]
    alice, bob = str(people["alice"]), str(people["bob"])
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/queue?intent=roaming").text
        assert f'data-url="/queue/changes?after={newest}&amp;intent=roaming"' in page
        assert 'data-show="/queue?intent=roaming" data-every="30"' in page
        since_sixth = {"after": ids[5], "intent": "roaming"}
        assert client.get("/queue/changes", params=since_sixth).json() == {"total": 6, "new": 3}
        assert client.get("/queue/changes", params={"after": newest}).json()["new"] == 0
        assert client.get("/queue/changes", params={"after": "x"}).status_code == 400
        # The API takes the page's filters, as the page takes them, and pages on in them.
        auth = api_token(client)
        best = {"intent": "roaming", "tier": "Best", "channel": "", "assignee": ""}
        api = client.get("/api/queue", params=best, headers=auth).json()
        assert [i["id"] for i in api] == [ids[9], ids[3]]
        rest = client.get("/api/queue", params={**best, "after": ids[9]}, headers=auth).json()
        assert [i["id"] for i in rest] == [ids[3]]
        onward = client.get("/api/queue", params={**best, "cursor": api[0]["cursor"]}, headers=auth)
        assert [i["id"] for i in onward.json()] == [ids[3]] and "link" not in onward.headers
        # A program walks a filtered view page by page by the `Link` header's next page: each
        # draft once, in order, and no next page after the last (a full one).
        walked, url = [], "/api/queue?intent=roaming&assignee=none&limit=2"
        while url:
            listed = client.get(url, headers=auth)
            walked.append([i["id"] for i in listed.json()])
            url = listed.links.get("next", {}).get("url")
        assert walked == [[ids[7], ids[5]], [ids[3], ids[1]]]
        refused = client.get("/api/queue", params={"channel": "support"}, headers=auth)
        assert refused.status_code == 400
        (said,) = refused.json()["extra"]
        assert said["key"] == "channel" and "'support' is not a channel's id" in said["message"]
        page = client.get("/queue", params={"assignee": "alice"})
        assert page.status_code == 400
        assert "assignee: 'alice' is not a staff account's id" in html.unescape(page.text)

        # Her drafts and the unassigned: bob's is not listed, nor opened next, in the queue or
        # after the draft she opens; her own ("me", her id, as before) stays in the view.
        mine = client.get("/queue", params={"assignee": "mine_or_none", "channel": ""}).text
        assert _rows(mine) == [ids[i] for i in (10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)]
        assert _links(mine)["next"] == f"/messages/{ids[10]}?assignee=mine_or_none"
        opened = _links(client.get(_links(mine)["next"]).text)
        assert opened["next"] == f"/messages/{ids[9]}?from={ids[10]}&assignee=mine_or_none"
        assert _choices(mine, "assignee") == [
            ("", "everyone", False),
            ("none", "unassigned (10)", False),
            (alice, "me (1)", False),
            ("mine_or_none", "me or unassigned (11)", True),
            (bob, "bob (1)", False),
        ]
        unassigned = client.get("/api/queue", params={"assignee": "none"}, headers=auth).json()
        assert [i["id"] for i in unassigned] == [ids[i] for i in (10, 8, 7, 6, 5, 4, 3, 2, 1, 0)]
        paged = client.get(  # her one draft: exactly one full page, and no next one
            "/api/queue/page", params={"channel": "", "assignee": alice, "limit": 1}, headers=auth
        )
        assert [i["id"] for i in paged.json()["items"]] == [ids[9]]
        assert paged.json()["next_cursor"] is None
        counted = paged.json()["counts"]
        assert counted["total"] == 1 and counted["assignee"] == {"none": 10, alice: 1, bob: 1}
        # /api/queue/page and search refuse a channel in the queue's words
        for path, headers in (("/api/queue/page", auth), ("/api/search", auth), ("/search", {})):
            refused = client.get(path, params={"channel": "support"}, headers=headers)
            assert refused.status_code == 400, path
            said = refused.json()["extra"][0]["message"] if headers else html.unescape(refused.text)
            assert "'support' is not a channel's id" in said, path
        assert client.get("/api/search", params={"channel": ""}, headers=auth).status_code == 200

        # Nothing of bob's is about outages: the chosen intent stays chosen, at 0, and the page
        # says the filters leave nothing, not that nothing waits.
        none_left = client.get("/queue", params={"intent": "outage", "assignee": bob}).text
        assert _rows(none_left) == []
        assert ("outage", "Service outage (0)", True) in _choices(none_left, "intent")
        assert ("none", "unassigned (6)", False) in _choices(none_left, "assignee")
        assert "No drafts match these filters" in none_left and "Nothing waiting" not in none_left
        assert _links(none_left)["clear-filters"] == "/queue"


def test_each_row_shows_its_latest_draft_version(rt: Runtime) -> None:
    ids = fill(rt)
    with transaction(rt.factory) as session:
        # a later version emptied by an agent; a stale one; one that failed to render
        session.add(Draft(message_id=ids[0], version=2, body=" \n\t"))
        session.add(Draft(message_id=ids[1], version=2, body="Hello again", stale=True))
        session.add(Draft(message_id=ids[2], version=2, body="", error="template failed"))
    with rt.read_factory() as session:
        rows = {i["id"]: i for i in queue_items(session)}
    assert len(rows) == 12, "one row a message, whatever its number of drafts"
    assert not rows[ids[0]]["has_draft"]
    assert rows[ids[1]]["has_draft"] and rows[ids[1]]["stale"]
    assert not rows[ids[2]]["has_draft"] and rows[ids[2]]["draft_error"] == "template failed"
    assert rows[ids[3]]["has_draft"] and not rows[ids[3]]["stale"]
    assert rows[ids[3]]["draft_error"] == ""


def test_cursor_pages_through_drafts_due_at_the_same_time(rt: Runtime) -> None:
    ids = fill(rt)
    with transaction(rt.factory) as session:
        for message in session.scalars(select(Message).where(Message.id.in_(ids))):
            message.due_at = NOW  # one tie across the whole queue: the id decides the order
    with rt.factory() as session:
        seen: list[int] = []
        cursor = None
        for _ in range(len(ids)):
            page = queue_items(session, limit=5, cursor=cursor)
            if not page:
                break
            seen += [i["id"] for i in page]
            cursor = page[-1]["cursor"]
        assert seen == sorted(ids)


def test_stale_counts_are_shown_while_a_thread_recounts(rt: Runtime) -> None:
    """The page never waits for a recount once it has counts to show."""
    fill(rt)
    cache = CountsCache(ttl_seconds=0.0)
    with rt.read_factory() as session:
        assert queue_counts(session, cache=cache)["total"] == 12
    with transaction(rt.factory) as session:
        channel_id = session.scalar(select(Channel.id))
        session.add(Message(channel_id=channel_id, external_key="new", raw=b"", state="in_review"))
    with rt.read_factory() as session:
        assert queue_counts(session, cache=cache)["total"] == 12, "the old counts, at once"
        cache.wait(timeout=30)
        assert queue_counts(session, cache=cache)["total"] == 13, "then the recount's"
    cache.wait(timeout=30)


def test_channel_and_assignee_filters_page_by_cursor(rt: Runtime) -> None:
    """Every filter is bound into the page's one prepared query, with or without a cursor."""
    ids = fill(rt)
    with transaction(rt.factory) as session:
        other = Channel(name="social", kind="whatsapp")
        agent = StaffUser(username="ann", password_hash="x", role="agent")
        session.add_all([other, agent])
        session.flush()
        moved = ids[::2]  # the outage ones
        for message in session.scalars(select(Message).where(Message.id.in_(moved))):
            message.channel_id = other.id
            message.assignee_id = agent.id if message.id in moved[:4] else None
        other_id, agent_id = other.id, agent.id
    with rt.factory() as session:
        by_channel = QueueFilter(channel_id=other_id)
        first = queue_items(session, limit=4, filters=by_channel)
        rest = queue_items(session, limit=4, filters=by_channel, cursor=first[-1]["cursor"])
        assert [i["id"] for i in first + rest] == sorted(moved, reverse=True)
        assert {i["channel"] for i in first + rest} == {"social"}
        mine = queue_items(session, filters=QueueFilter(channel_id=other_id, assignee_id=agent_id))
        assert sorted(i["id"] for i in mine) == sorted(moved[:4])
        none_here = queue_items(session, filters=QueueFilter(intent="roaming", channel_id=other_id))
        assert none_here == []


def test_a_failed_recount_keeps_the_last_counts_and_says_why(
    rt: Runtime, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    fill(rt)
    cache = CountsCache(ttl_seconds=0.0)
    with rt.read_factory() as session:
        assert queue_counts(session, cache=cache)["total"] == 12
    unreachable = create_engine(f"sqlite:///{tmp_path}/missing/folder/db.sqlite")
    with Session(unreachable) as broken, caplog.at_level(logging.ERROR):
        assert queue_counts(broken, cache=cache)["total"] == 12
        cache.wait(timeout=30)
        assert queue_counts(broken, cache=cache)["total"] == 12, "still the last good counts"
        cache.wait(timeout=30)
    assert "recounting the queue failed" in caplog.text
    with transaction(rt.factory) as session:
        channel_id = session.scalar(select(Channel.id))
        session.add(Message(channel_id=channel_id, external_key="late", raw=b"", state="in_review"))
    with rt.read_factory() as session:
        queue_counts(session, cache=cache)
        cache.wait(timeout=30)
        assert queue_counts(session, cache=cache)["total"] == 13, "recounts once reachable again"
    cache.wait(timeout=30)


def test_rows_name_their_channel_and_who_has_them_open(rt: Runtime) -> None:
    """Names come apart from the page's query: from the names the caller holds, else looked
    up, so a channel created after the counts cache was filled still shows its name."""
    ids = fill(rt)
    with transaction(rt.factory) as session:
        social = Channel(name="social", kind="whatsapp")
        bob = StaffUser(username="bob", password_hash="x", role="agent")
        cara = StaffUser(username="cara", password_hash="x", role="agent")
        session.add_all([social, bob, cara])
        session.flush()
        rows = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(ids[:4])))}
        rows[ids[0]].channel_id = social.id
        rows[ids[1]].viewer_id, rows[ids[1]].viewed_at = bob.id, datetime.now(UTC)
        # cara and bob opened these an hour ago: the claims have lapsed, so no name is shown,
        # though bob has another one open now
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        rows[ids[2]].viewer_id, rows[ids[2]].viewed_at = cara.id, an_hour_ago
        rows[ids[3]].viewer_id, rows[ids[3]].viewed_at = bob.id, an_hour_ago
        support_id = rows[ids[1]].channel_id
    with rt.read_factory() as session:
        # what a counts cache filled before "social" existed
        known = {support_id: ShownChannel("support", "maildir")}
        items = {i["id"]: i for i in queue_items(session, channels=known)}
    assert items[ids[0]]["channel"] == "social"
    assert items[ids[1]]["channel"] == "support"
    assert items[ids[1]]["viewer"] == "bob"
    assert items[ids[2]]["viewer"] is None
    assert items[ids[3]]["viewer"] is None
    assert all(items[i]["viewer"] is None for i in ids[4:])


def test_the_queue_and_the_page_name_who_else_has_a_draft_open_not_oneself(rt: Runtime) -> None:
    """Presence: what bob has open, alice's queue, review page, heartbeat and API name, never
    herself; once he has not been heard from for GONE_AFTER, or has left the page, he is gone.
    Each page view counts on its own: a reload's late leaving beacon, or one of two tabs closed,
    leaves him shown while another page of his is open, editing if he types in any. Moving on
    from a draft passes over those a colleague has open, inside the agent's queue view."""
    ids = fill(rt)
    staff(rt, "alice")
    staff(rt, "bob")
    target = ids[4]
    with TestClient(create_app(rt)) as alice, TestClient(create_app(rt)) as bob:
        login(alice, "alice")
        login(bob, "bob")
        bob_page = bob.get(f"/messages/{target}").text
        assert "has this draft open" not in bob_page, "nobody else has it open"
        alice_page = alice.get(f"/messages/{target}").text
        assert "bob has this draft open (since" in alice_page
        assert "alice has this draft open" not in alice_page, "she knows she has it open"
        queue = alice.get("/queue").text
        assert "open by bob" in queue
        assert "open by alice" not in queue
        assert "open by alice" in bob.get("/queue").text

        def beat(client: TestClient, page: str, message_id: int = target, **form: str) -> Any:
            token = re.search(r'id="presence"[^>]* data-csrf="([^"]+)"', page).group(1)
            view = re.search(r'id="presence"[^>]* data-page="([^"]+)"', page).group(1)
            return client.post(
                f"/messages/{message_id}/presence",
                data={"_csrf_token": token, "page": view, **form},
            )

        def seen_by_alice() -> list[tuple[str, bool]]:
            answer = beat(alice, alice_page).json()
            return [(p["username"], p["editing"]) for p in answer["open_by"]]

        assert beat(bob, bob_page, editing="1").status_code == 200
        answer = beat(alice, alice_page).json()
        assert "bob is editing the draft (open since" in answer["notice"]
        assert [(p["username"], p["editing"]) for p in answer["open_by"]] == [("bob", True)]
        assert "open by bob (editing)" in alice.get("/queue").text
        api = alice.get(f"/api/messages/{target}", headers=api_token(alice)).json()
        assert [p["username"] for p in api["open_by"]] == ["bob"]

        refused = alice.post(f"/messages/{target}/presence", data={"editing": ""})
        assert refused.status_code == 403, "no CSRF token"
        assert beat(alice, alice_page, message_id=999_999).status_code == 404

        with transaction(rt.factory) as session:  # bob's tab went quiet long enough ago
            session.execute(
                update(MessagePresence)
                .where(MessagePresence.message_id == target)
                .values(seen_at=datetime.now(UTC) - GONE_AFTER - timedelta(seconds=1))
            )
        assert beat(alice, alice_page).json() == {"open_by": [], "notice": ""}
        assert "open by bob" not in alice.get("/queue").text
        assert "bob has this draft open" not in alice.get(f"/messages/{target}").text

        beat(bob, bob_page)
        assert beat(alice, alice_page).json()["open_by"][0]["username"] == "bob"
        beat(bob, bob_page, left="1")
        assert beat(alice, alice_page).json()["open_by"] == [], "bob left the page"

        # bob reloads: the old page's leaving beacon arrives after the new page was drawn
        first = bob.get(f"/messages/{target}").text
        since = beat(alice, alice_page).json()["open_by"][0]["since"]
        reloaded = bob.get(f"/messages/{target}").text
        beat(bob, first, left="1")
        answer = beat(alice, alice_page).json()
        assert [(p["username"], p["since"]) for p in answer["open_by"]] == [("bob", since)]

        # and opens a second tab, typing in either: shown once, editing, until both are left
        second = bob.get(f"/messages/{target}").text
        beat(bob, second, editing="1")
        assert seen_by_alice() == [("bob", True)]
        assert "open by bob (editing)" in alice.get("/queue").text
        beat(bob, second, left="1")
        assert seen_by_alice() == [("bob", False)], "the reloaded page is still open"
        beat(bob, reloaded, editing="1")
        assert seen_by_alice() == [("bob", True)]

        # a page drawn before page views had ids (open during an upgrade) beats without one;
        # its leaving takes away only itself
        token = re.search(r'id="presence"[^>]* data-csrf="([^"]+)"', reloaded).group(1)
        legacy = {"_csrf_token": token}
        assert bob.post(f"/messages/{target}/presence", data=legacy).status_code == 200
        bob.post(f"/messages/{target}/presence", data={**legacy, "left": "1"})
        assert seen_by_alice() == [("bob", True)]
        too_long = bob.post(f"/messages/{target}/presence", data={**legacy, "page": "x" * 33})
        assert too_long.status_code == 400

        # page views never left (a crashed browser) are deleted when he is next recorded
        with transaction(rt.factory) as session:
            session.execute(
                update(MessagePresence).values(
                    seen_at=datetime.now(UTC) - GONE_AFTER - timedelta(seconds=1)
                )
            )
        bob.get(f"/messages/{ids[5]}")
        with rt.factory() as session:
            rows = session.scalars(
                select(MessagePresence.message_id)
                .join(StaffUser)
                .where(StaffUser.username == "bob")
            ).all()
        assert rows == [ids[5]]

        _moving_on_stays_in_the_view(alice, bob, ids, rt)


def _rows(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-id="(\d+)"', page)]


def _choices(page: str, name: str) -> list[tuple[str, str, bool]]:
    """The queue's filter form's options for `name`: value, words, chosen."""
    form = page.split('<form class="filters" method="get"', 1)[1].split("</form>", 1)[0]
    select = form.split(f'<select name="{name}">', 1)[1].split("</select>", 1)[0]
    return [
        (html.unescape(value), html.unescape(words), bool(chosen))
        for value, chosen, words in re.findall(
            r'<option value="([^"]*)" ?(selected)?>([^<]*)</option>', select
        )
    ]


def _links(page: str) -> dict[str, str]:
    """The page's links and form targets by element id (or the row's message id), as a
    browser reads them (entities decoded)."""
    found = {}
    for tag, attrs in HtmlDocument(page).elements:
        target = attrs.get("href") or attrs.get("action") or attrs.get("formaction")
        if tag in ("a", "form", "button") and attrs.get("id") and target:
            found[str(attrs["id"])] = str(target)
        elif tag == "a" and "open" in str(attrs.get("class")):
            found[str(target).split("?")[0].rsplit("/", 1)[1]] = str(target)
    return found


def _moving_on_stays_in_the_view(
    alice: TestClient, bob: TestClient, ids: list[int], rt: Runtime
) -> None:
    """Alice works the roaming drafts: each row, the review page's links and forms and the move
    on after an action keep her filter; a draft bob has open is passed over while any other is
    left, and then offered with a word that he has it open, by the review page's next draft and
    the queue's alike. The forms on a draft not waiting for review come back in her filter too.
    The queue pages back as well as forward, in its filters."""
    roaming = [ids[i] for i in (11, 9, 7, 5, 3, 1)]  # in the queue's order; bob has ids[5] open
    queue = _links(alice.get("/queue?intent=roaming&tier=").text)
    assert queue[str(roaming[0])] == f"/messages/{roaming[0]}?intent=roaming"
    bob.get(f"/messages/{roaming[1]}")
    bob.get(f"/messages/{roaming[5]}")
    page = alice.get(queue[str(roaming[0])]).text
    links = _links(page)
    assert links["queue-link"] == "/queue?intent=roaming"
    assert links["next"] == f"/messages/{roaming[2]}?from={roaming[0]}&intent=roaming"
    for form in ("approve", "save-button", "reject", "snooze"):
        assert links[form].endswith("?intent=roaming"), form
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)

    def reject(message_id: int) -> str:
        done = alice.post(
            f"/messages/{message_id}/reject?intent=roaming",
            data={"_csrf_token": token, "reason": "answered by phone"},
            follow_redirects=False,
        )
        return done.headers["location"]

    with transaction(rt.factory) as session:
        session.get(Message, roaming[0]).classification = {"intent": {"label": "roaming"}}
    same = alice.post(  # a correction to the label it has is refused, in the view
        f"/messages/{roaming[0]}/classification?intent=roaming",
        data={"_csrf_token": token, "classifier": "intent", "label": "roaming"},
        follow_redirects=False,
    ).headers["location"]
    assert same.startswith(
        f"/messages/{roaming[0]}?intent=roaming&error=the+intent+is+already+Roaming"
    )
    moved_on = reject(roaming[0])
    assert moved_on.startswith(f"/messages/{roaming[2]}?from={roaming[0]}&intent=roaming&")
    assert "notice=Rejected+the+draft" in moved_on
    assert _links(alice.get(moved_on).text)["prev"] == f"/messages/{roaming[0]}?intent=roaming"
    queue = _links(alice.get("/queue?intent=roaming").text)
    assert queue["next"] == f"/messages/{roaming[2]}?intent=roaming", "bob's first row passed over"
    assert reject(roaming[2]).startswith(f"/messages/{roaming[4]}?"), "bob's passed over"
    offered = reject(roaming[4])  # only bob's are left after it
    assert offered.startswith(f"/messages/{roaming[5]}?from={roaming[4]}&intent=roaming&")
    shown = alice.get(offered).text
    assert "Every draft left here is open by a colleague: bob has this one open." in shown
    assert "next (j)" not in shown
    done = reject(roaming[5])
    assert done.startswith("/queue?intent=roaming&notice="), "none left after: the view"
    left = alice.get("/queue?intent=roaming").text  # roaming[1] and [3], both bob's
    assert _links(left)["next"] == f"/messages/{roaming[1]}?intent=roaming"
    assert "Every draft left here is open by a colleague: bob has this one open." in left
    assert alice.get(f"/messages/{ids[0]}?channel=x").status_code == 400, "as the queue"

    rt.settings = msgspec.structs.replace(
        rt.settings, queue=msgspec.structs.replace(rt.settings.queue, page_size=2)
    )

    first = alice.get("/queue?intent=outage").text  # ids 10, 8, 6, 4, 2, 0
    assert _rows(first) == [ids[10], ids[8]]
    assert "first" not in _links(first) and "previous" not in _links(first)
    second = alice.get(_links(first)["more"]).text
    third = alice.get(_links(second)["more"]).text
    assert _rows(second) == [ids[6], ids[4]] and _rows(third) == [ids[2], ids[0]]
    assert _links(second)["first"] == _links(second)["previous"] == "/queue?intent=outage"
    back = _links(third)["previous"]
    assert "intent=outage" in back and _rows(alice.get(back).text) == _rows(second)
    assert _links(third)["first"] == "/queue?intent=outage"
    assert "more" not in _links(third), "the last page is full: no empty page after it"
    bob.get(f"/messages/{ids[10]}")
    bob.get(f"/messages/{ids[8]}")
    first = alice.get("/queue?intent=outage").text
    assert _links(first)["next"] == f"/messages/{ids[6]}?intent=outage", "from a later page"

    # Drafts not waiting for review: each form on the page keeps the view, and so do the pages
    # they come back to, refused or done.
    with transaction(rt.factory) as session:
        for message_id, state in ((ids[0], "snoozed"), (ids[2], "ignored"), (ids[4], "failed")):
            session.get(Message, message_id).state = state
        session.get(Message, ids[0]).snoozed_until = datetime.now(UTC) + timedelta(hours=1)
    for message_id in (ids[0], ids[2], ids[4], roaming[0]):
        shown = alice.get(f"/messages/{message_id}?intent=outage").text
        forms = re.findall(r'<form method="post" action="(/messages/[^"]+)"', shown)
        assert forms and all(f.endswith("?intent=outage") for f in forms), forms

    def sent(action: str, message_id: int) -> str:
        done = alice.post(
            f"/messages/{message_id}/{action}?intent=outage",
            data={"_csrf_token": token, "reason": "phoned the customer"},
            follow_redirects=False,
        )
        return done.headers["location"]

    assert sent("wake", ids[0]) == f"/messages/{ids[0]}?intent=outage&notice=Back+in+the+queue."
    assert sent("reopen", roaming[0]).startswith(f"/messages/{roaming[0]}?intent=outage&notice=")
    for action in ("reopen", "leave-unsent", "draft-anyway", "retry", "wake"):
        refused = sent(action, ids[6])  # waiting for review: none of them applies
        assert refused.startswith(f"/messages/{ids[6]}?intent=outage&error="), action


def test_mail_taken_in_late_says_when_it_was_written(rt: Runtime, worker: Worker) -> None:
    """The demo's mail and mail fetched after an outage arrive days after their Date: the page
    says both, where the conversation below it showed one time and the heading another."""
    staff(rt, "alice")
    drop(rt, make_email(date="Mon, 23 Nov 2026 09:00:00 +0000"), "late")
    drop(rt, make_email(message_id="<now@mail.test>"), "now")
    worker.drain()
    with rt.factory() as session:
        late, now = session.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id)
        ).all()
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        late_page = client.get(f"/messages/{late.id}").text
        now_page = client.get(f"/messages/{now.id}").text
    received = late.received_at.strftime("%Y-%m-%d %H:%M")
    # the zone named, as the due time and the other pages' times are
    assert f'id="written-at">written 2026-11-23 09:00, received {received} UTC</span>' in late_page
    assert 'id="written-at"' not in now_page, "written as it arrived: one time"
    arrived = now.received_at.strftime("%Y-%m-%d %H:%M")
    assert f'id="received-at">{arrived} UTC</span>' in now_page


def test_the_review_page_names_the_template_in_words_and_links_supervisors_to_it(
    rt: Runtime, worker: Worker
) -> None:
    """Agents read which template a draft came from ("Billing dispute — English"; an intent
    with a title by its title, "Service outage — English"), not its file name; a supervisor
    also sees the file name and opens the template's editor, titled the same way, from it."""
    staff(rt, "alice")
    staff(rt, "sam", role="supervisor")
    drop(rt, make_email(), "one")
    worker.drain()
    with rt.factory() as session:
        message_id, grounding = session.execute(select(Draft.message_id, Draft.grounding)).one()
    template = grounding["template"]
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        agent = client.get(f"/messages/{message_id}").text
        login(client, "sam")
        supervisor = client.get(f"/messages/{message_id}").text
        editor_link = f"/supervisor/templates/{template['id']}?message={message_id}"
        editor = client.get(editor_link)
        assert editor.status_code == 200
        with transaction(rt.factory) as session:
            draft = session.scalars(select(Draft).where(Draft.message_id == message_id)).one()
            outage = {**template, "key": "intents/outage.en.j2"}
            draft.grounding = {**draft.grounding, "template": outage}
        login(client, "alice")
        outage_page = client.get(f"/messages/{message_id}").text

    def line(page: str) -> str:
        return page.split('id="draft-template">', 1)[1].split("</p>", 1)[0]

    assert " — English v" in line(agent)
    assert template["key"] not in agent and "/supervisor/templates/" not in line(agent)
    assert f'<a href="{editor_link}">' in line(supervisor)
    assert f'<code class="file">{template["key"]}</code>' in line(supervisor)
    title = line(agent).split("Template ", 1)[1].split(" v", 1)[0]
    assert f'<h1>{title} <small class="file">{template["key"]}</small>' in editor.text
    assert "Service outage — English v" in line(outage_page), "the intent's title"


def test_queue_and_review_page_show_intents_in_words_and_keep_codes_as_values(
    rt: Runtime,
) -> None:
    """`billing_dispute` reads "Billing dispute" where people read it; the filter's and the
    correction's values, the URLs and the data stay codes."""
    staff(rt, "alice")
    with transaction(rt.factory) as session:
        channel = Channel(name="support", kind="maildir")
        session.add(channel)
        session.flush()
        message = Message(
            channel_id=channel.id,
            external_key="bill",
            raw=b"",
            state="in_review",
            subject="my bill",
            intent="billing_dispute",
            intent_confidence=0.9,
            classification={
                "intent": {
                    "label": "billing_dispute",
                    "confidence": 0.9,
                    "candidates": [["billing_dispute", 0.9], ["port_out", 0.08]],
                },
                "sentiment": {"label": "negative", "confidence": 0.8, "candidates": []},
            },
            due_at=NOW,
        )
        session.add(message)
        session.flush()
        session.add(Draft(message_id=message.id, version=1, body="Hello"))
        message_id = message.id
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        queue = client.get("/queue").text
        filtered = client.get("/queue?intent=billing_dispute").text
        review = client.get(f"/messages/{message_id}").text
    for page in (queue, review):  # nothing before the doctype, or browsers render in quirks mode
        assert page.lstrip().lower().startswith("<!doctype html>"), page[:80]
    assert '<td class="intent" title="billing_dispute">Billing dispute <small>90%</small>' in queue
    assert '<option value="billing_dispute" >Billing dispute (1)</option>' in queue
    assert '<option value="billing_dispute" selected>Billing dispute (1)</option>' in filtered
    intent_row = review.split('id="classified-intent"', 1)[1].split("</tr>", 1)[0]
    assert "<strong>Billing dispute</strong>" in intent_row
    assert "or Port-out to a competitor 8%" in intent_row
    assert '<option value="billing_dispute" selected>Billing dispute</option>' in intent_row
    assert '<option value="slow_data_coverage" >Slow data and coverage</option>' in intent_row
    assert '<option value="sim_device" >SIM and device</option>' in intent_row
    sentiment_row = review.split('id="classified-sentiment"', 1)[1].split("</tr>", 1)[0]
    assert "<strong>Negative</strong>" in sentiment_row
