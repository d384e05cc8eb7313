"""A note that names a colleague (@bob) waits for them under Mentions, counted in the menu,
until they open the conversation; addresses and unknown names are just text."""

from __future__ import annotations

import html
import re

from litestar.testing import TestClient
from sqlalchemy import insert, select

from responder.db.models import Message, Note, NoteMention, StaffUser
from responder.db.session import transaction
from responder.mentions import mentioned_names
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.test_web_security import csrf, login


def menu_count(page: str) -> int:
    found = re.search(
        r'id="nav-mentions">Mentions(?: <span class="count alert">(\d+)</span>)?', page
    )
    assert found, "the menu has a Mentions link"
    return int(found.group(1) or 0)


def test_a_colleague_named_in_a_note_finds_it_under_mentions(rt: Runtime, worker: Worker) -> None:
    staff(rt, "alice")
    staff(rt, "Bob")
    staff(rt, "carol")
    drop(rt, make_email(message_id="<first@mail.test>"), "first")
    worker.drain()
    with rt.factory() as session:
        message_id = session.scalars(select(Message.id)).one()

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        added = client.post(
            f"/messages/{message_id}/notes",
            data={
                "body": "@bob she asked for you; cc @nobody. Her address is aoife@gmail.test.",
                "_csrf_token": csrf(client, f"/messages/{message_id}"),
            },
        )
        assert "Bob will find it under Mentions." in added.text
        assert "Nobody called @nobody was told" in added.text, "a misspelt name is noticed"
        assert menu_count(added.text) == 0, "alice named nobody for herself"

        login(client, "carol")
        assert menu_count(client.get("/queue").text) == 0
        assert "Nobody has named you in a note yet." in client.get("/mentions").text

        login(client, "Bob")
        queue = client.get("/queue").text
        assert menu_count(queue) == 1
        mentions = client.get("/mentions").text
        assert "<strong>new</strong> · alice" in mentions
        zone = re.escape(rt.settings.queue.timezone)
        assert re.search(rf"· alice · \d{{4}}-\d\d-\d\d \d\d:\d\d {zone} · on", mentions), (
            "its zone"
        )
        assert f'href="/messages/{message_id}#notes"' in mentions
        (row,) = client.get("/api/mentions", headers=api_token(client, "Bob")).json()
        assert row["author"] == "alice" and row["seen"] is False

        # Opening the conversation is reading the note.
        opened = client.get(f"/messages/{message_id}").text
        assert "she asked for you" in opened
        assert menu_count(opened) == 0
        assert "<strong>new</strong>" not in client.get("/mentions").text

        # A reply to him from the API, and "Mark all seen".
        auth = api_token(client, "carol")
        answer = client.post(
            f"/api/messages/{message_id}/notes", headers=auth, json={"body": "@Bob, @alice: done."}
        )
        assert (answer.json()["mentioned"], answer.json()["unmatched"]) == (["alice", "Bob"], [])
        assert menu_count(client.get("/queue").text) == 1
        client.post("/mentions/seen", data={"_csrf_token": csrf(client, "/mentions")})
        assert menu_count(client.get("/queue").text) == 0

        # More than a page names him: each counted and reached, newest first.
        seeded = _named_in_bulk(rt, message_id, "Bob", 130)
        first = client.get("/mentions").text
        assert '<span class="count" id="total">132</span>' in first
        assert "Showing 1–100 of 132" in first and menu_count(first) == 130
        more = re.search(r'id="next-page" rel="next" href="([^"]+)"', first).group(1)
        second = client.get(html.unescape(more)).text
        assert "Showing 101–132 of 132" in second and 'id="next-page"' not in second
        assert 'id="first-page" href="/mentions"' in second
        shown = [re.findall(r'id="mention-(\d+)"', page) for page in (first, second)]
        assert [len(notes) for notes in shown] == [100, 32]
        assert [int(n) for n in shown[0] + shown[1]][:130] == seeded[::-1]
        bob = api_token(client, "Bob")
        page = client.get("/api/mentions", headers=bob).json()
        rest = client.get("/api/mentions", params={"cursor": page[-1]["cursor"]}, headers=bob)
        assert [len(page), len(rest.json())] == [100, 32]
        assert (
            rest.json()[-1]["body"]
            == "@bob she asked for you; cc @nobody. Her address is aoife@gmail.test."
        )


def _named_in_bulk(rt: Runtime, message_id: int, username: str, count: int) -> list[int]:
    """Notes naming one colleague, written in two statements; their ids, oldest first."""
    with transaction(rt.factory) as session:
        user_id = session.scalars(select(StaffUser.id).where(StaffUser.username == username)).one()
        notes = [
            {"message_id": message_id, "author": "alice", "body": f"@{username} call {n}"}
            for n in range(count)
        ]
        ids = list(
            session.scalars(insert(Note).returning(Note.id, sort_by_parameter_order=True), notes)
        )
        session.execute(insert(NoteMention), [{"note_id": i, "user_id": user_id} for i in ids])
        return ids


def test_what_counts_as_a_mention() -> None:
    assert mentioned_names("@bob, can you call? (@Carol)") == {"bob", "carol"}
    assert mentioned_names("@bob,@carol; @dan/@erin please look") == {"bob", "carol", "dan", "erin"}
    assert mentioned_names("write to aoife@gmail.test or @ here") == set()
    assert mentioned_names("email@@bob and x.@bob") == set()
    assert mentioned_names("@j.smith: thanks!") == {"j.smith"}
    assert mentioned_names("@@bob, (@...) or @!") == set()
    # A colleague's name may hold "@" or end in punctuation: the longest one spelt is meant.
    known = {"aoife@company.ie", "aoife", "ann."}
    assert mentioned_names("@Aoife@Company.ie, and @aoife. @ann.!", known) == {
        "aoife@company.ie",
        "aoife",
        "ann.",
    }
    assert mentioned_names("@aoife@gmail.test", known) == {"aoife@gmail.test"}, "not aoife"
