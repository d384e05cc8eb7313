"""Internal notes: one agent leaves word for the next on a conversation; the customer never
sees it, not in the reply, not in any later draft."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import AuditEntry, Draft, Message, Note
from responder.db.session import transaction
from responder.notes import MAX_NOTE_CHARS
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, sent_replies, staff
from tests.test_crash_recovery import approve_waiting
from tests.test_web_security import csrf, login

NOTE = (
    "Called her at 10:40: the roaming bundle was added late, credit of EUR 80 agreed with billing."
)


def ids(rt: Runtime) -> list[int]:
    with rt.factory() as session:
        return list(
            session.scalars(
                select(Message.id).where(Message.direction == "in").order_by(Message.id)
            )
        )


def test_a_note_follows_the_conversation_and_never_reaches_the_customer(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    staff(rt, "bob")
    drop(rt, make_email(message_id="<first@mail.test>"), "first")
    worker.drain()
    (first,) = ids(rt)

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        empty = client.post(
            f"/messages/{first}/notes?intent=roaming",
            data={"body": "  \n ", "_csrf_token": csrf(client, f"/messages/{first}")},
        )
        assert empty.status_code == 422 and "Note not added: the note is empty." in empty.text
        assert 'id="queue-link" href="/queue?intent=roaming"' in empty.text, "in its queue view"
        typed = "Called her: " + "x" * 5000
        too_long = client.post(
            f"/messages/{first}/notes",
            data={"body": typed, "_csrf_token": csrf(client, f"/messages/{first}")},
        ).text
        assert f'aria-describedby="note-form-error">{typed}</textarea>' in too_long, "kept"
        assert (
            '<span class="error field-error" id="note-form-error">A note holds at most 5,000 '
            "characters (5,012 given).</span>"
        ) in too_long
        page = client.post(
            f"/messages/{first}/notes",
            data={"body": NOTE, "_csrf_token": csrf(client, f"/messages/{first}")},
        ).text
        assert "Note added" in page
        assert "Internal notes (1)" in page
        # Typing stops where the server refuses: the new note's form and her note's edit form.
        assert page.count(f'<textarea name="body" rows="2" maxlength="{MAX_NOTE_CHARS}"') == 2
        note = re.search(
            r'<div class="note" id="note-\d+"><small>(.*?)</small><pre>(.*?)</pre>', page, re.S
        )
        assert note and note.group(1).startswith("alice · ") and "credit of EUR 80" in note.group(2)

    # The customer writes again in the same thread; bob opens the new message and sees alice's note.
    follow_up = make_email(
        message_id="<second@mail.test>",
        subject="Re: Roaming charges on my bill",
        body="Any news on the refund? Still nothing on my account.",
        headers={"In-Reply-To": "<first@mail.test>"},
    )
    drop(rt, follow_up, "second")
    worker.drain()
    second = ids(rt)[-1]
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "bob")
        detail = client.get(f"/api/messages/{second}", headers=auth).json()
        assert [(n["author"], n["message_id"]) for n in detail["notes"]] == [("alice", first)]
        added = client.post(
            f"/api/messages/{second}/notes",
            headers=auth,
            json={"body": "Refund approved, see case 4411."},
        )
        assert added.status_code == 201 and added.json()["author"] == "bob"
        too_long = client.post(
            f"/api/messages/{second}/notes", headers=auth, json={"body": "x" * 5001}
        )
        assert (
            too_long.status_code == 422 and "at most 5,000 characters" in too_long.json()["detail"]
        )
        missing = client.post("/api/messages/999999/notes", headers=auth, json={"body": "hello"})
        assert missing.status_code == 404
        login(client, "bob")
        page = client.get(f"/messages/{second}").text
        assert "Internal notes (2)" in page and "on an earlier message" in page
        # when each note was written, in the zone the page's other times name
        assert len(re.findall(r"<small>\w+ · \d{4}-\d\d-\d\d \d\d:\d\d UTC", page)) == 2
        with rt.factory() as session:
            customer = session.scalar(select(Message.customer_id).where(Message.id == second))
        profile = client.get(f"/customers/{customer}").text
        shown = re.findall(r'<div class="note" id="note-\d+"><small>(\w+) ·', profile)
        assert shown == ["bob", "alice"], "newest first on the customer's page"
        assert re.search(r"<small>bob · \d{4}-\d\d-\d\d \d\d:\d\d UTC · on", profile)

    with rt.factory() as session:
        drafts = session.scalars(select(Draft.body)).all()
        audited = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "note.add")
        ).all()
    assert drafts and not any("EUR 80 agreed" in d or "case 4411" in d for d in drafts)
    assert sorted(audited) == ["alice", "bob"]

    approve_waiting(rt)
    worker.drain()
    replies = sent_replies(rt)
    assert len(replies) == 2
    for reply in replies:
        text = reply.get_body(("plain",)).get_content()
        assert "EUR 80 agreed" not in text and "case 4411" not in text


def test_the_author_mends_a_note_for_ten_minutes_then_it_stands(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    staff(rt, "bob")
    staff(rt, "Aoife@company.ie")
    drop(rt, make_email(message_id="<mend@mail.test>"), "mend")
    worker.drain()
    (message_id,) = ids(rt)
    with TestClient(create_app(rt)) as client:
        alice = api_token(client, "alice")
        typo = client.post(
            f"/api/messages/{message_id}/notes", headers=alice, json={"body": "Calld her at 10"}
        ).json()
        spare = client.post(
            f"/api/messages/{message_id}/notes", headers=alice, json={"body": "Wrong ticket"}
        ).json()

        login(client, "bob")
        assert "Edit or delete" not in client.get(f"/messages/{message_id}").text
        bob = api_token(client, "bob")
        refused = client.post(f"/api/notes/{typo['id']}", headers=bob, json={"body": "x"})
        assert refused.status_code == 403
        assert "only alice, who wrote it, can change this note" in refused.json()["detail"]

        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        assert page.count("Edit or delete (for 10 minutes after writing)") == 2
        assert page.count('data-confirm="Delete this note?') == 2, "asked first"
        changed = client.post(
            f"/messages/{message_id}/notes/{typo['id']}/edit",
            data={
                "body": "Called her at 10; @bob please follow up.",
                "_csrf_token": csrf(client, f"/messages/{message_id}"),
            },
        ).text
        assert "Note changed." in changed
        assert "Called her at 10; @bob please follow up." in changed and "Calld" not in changed
        assert re.search(rf'id="note-{typo["id"]}"><small>alice · [^<]* · edited', changed)
        gone = client.delete(f"/api/notes/{spare['id']}", headers=alice)
        assert gone.status_code == 204
        assert "Wrong ticket" not in client.get(f"/messages/{message_id}").text
        assert [m["author"] for m in client.get("/api/mentions", headers=bob).json()] == ["alice"]

        # @bob was the wrong colleague: mended, the note is no longer his, but Aoife's (her
        # name is her address, written in any case).
        moved = client.post(
            f"/api/notes/{typo['id']}",
            headers=alice,
            json={"body": "Called her at 10; @AOIFE@company.ie, please follow up."},
        ).json()
        assert (moved["mentioned"], moved["unmatched"]) == (["Aoife@company.ie"], [])
        assert client.get("/api/mentions", headers=bob).json() == []
        aoife = api_token(client, "Aoife@company.ie")
        assert [m["note_id"] for m in client.get("/api/mentions", headers=aoife).json()] == [
            typo["id"]
        ]

        # Refused, the edit stays in its box; a line break counts once, as the browser counts.
        edit_url = f"/messages/{message_id}/notes/{typo['id']}/edit"
        refused = client.post(
            edit_url,
            data={"body": "y" * 5001, "_csrf_token": csrf(client, f"/messages/{message_id}")},
        )
        assert refused.status_code == 422
        assert '<details class="note-edit" open>' in refused.text
        assert f'aria-describedby="note-{typo["id"]}-error">{"y" * 5001}</textarea>' in refused.text
        lines = "Called her at 10;\r\n" + "-\r\n" * 1660 + "@aoife@company.ie please follow up."
        assert len(lines) > 5000 > len(lines.replace("\r\n", "\n"))
        kept = client.post(
            edit_url, data={"body": lines, "_csrf_token": csrf(client, f"/messages/{message_id}")}
        )
        assert "Note changed." in kept.text

        # Eleven minutes on, the note stands as it is; what was typed goes in a new note's box.
        with transaction(rt.factory) as session:
            note = session.get(Note, typo["id"])
            note.created_at = note.created_at - timedelta(minutes=11)
        late = client.post(f"/api/notes/{typo['id']}", headers=alice, json={"body": "again"})
        assert late.status_code == 409 and "add a new note instead" in late.json()["detail"]
        again = "Called her at 10; @bob, she rang back."
        late = client.post(
            edit_url, data={"body": again, "_csrf_token": csrf(client, f"/messages/{message_id}")}
        )
        assert late.status_code == 409 and "Edit or delete" not in late.text
        assert f'aria-describedby="note-form-error">{again}</textarea>' in late.text
        assert "add a new note instead.</span>" in late.text

    with rt.factory() as session:
        trail = session.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(["note.edit", "note.delete"]))
        ).all()
        assert [
            (
                e.action,
                e.detail.get("before") or e.detail.get("body"),
                e.detail.get("no_longer_named"),
            )
            for e in sorted(trail, key=lambda e: e.id)
        ] == [
            ("note.edit", "Calld her at 10", []),
            ("note.delete", "Wrong ticket", None),
            ("note.edit", "Called her at 10; @bob please follow up.", ["bob"]),
            ("note.edit", "Called her at 10; @AOIFE@company.ie, please follow up.", []),
        ]
