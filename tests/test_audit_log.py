"""The audit log answers "who did what" and "what happened to this": filters by person, by
action (or its family, `staff.`), and by object, newest first."""

from __future__ import annotations

import html
import re

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Message
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.test_web_security import login


def test_filter_the_audit_log_by_who_what_and_on_what(rt: Runtime, worker: Worker) -> None:
    staff(rt, "ada", "admin")
    staff(rt, "alice")
    for n in range(2):
        drop(rt, make_email(message_id=f"<a{n}@mail.test>", subject=f"Bill {n}"), f"a{n}")
    worker.drain()
    with rt.factory() as session:
        first, second = session.scalars(
            select(Message.id).where(Message.direction == "in").order_by(Message.id)
        ).all()
    with TestClient(create_app(rt)) as client:
        alice = api_token(client, "alice")
        client.post(f"/api/messages/{first}/reject", headers=alice, json={"reason": "spam"})
        client.post(f"/api/messages/{second}/assign", headers=alice, json={"assignee": "ada"})
        ada = api_token(client, "ada")
        made = client.post(
            "/api/admin/staff",
            headers=ada,
            json={"username": "bob", "password": "a long password", "role": "agent"},
        )
        assert made.status_code == 201

        def audit(**params: str) -> list[tuple[str, str, str]]:
            entries = client.get("/api/audit", headers=ada, params=params).json()
            return [(e["actor"], e["action"], e["object"]) for e in entries]

        assert audit(actor="alice") == [
            ("alice", "message.assign", f"message {second}"),
            ("alice", "draft.reject", f"message {first}"),
        ]
        assert audit(action="staff.") == [("ada", "staff.add", f"staff {made.json()['id']}")]
        assert audit(action="draft.reject") == [("alice", "draft.reject", f"message {first}")]
        assert audit(action="draft_") == [], "an underscore is itself, not any character"
        assert [a for _, a, _ in audit(on=f"message {second}")] == ["message.assign"]
        assert {o for _, _, o in audit(on="message")} == {f"message {first}", f"message {second}"}
        assert audit(actor="alice", action="staff.") == []
        assert audit(actor="Alice") == audit(actor="alice"), "a name as people write it"
        assert client.get("/api/audit", headers=ada, params={"actor": "a\x00"}).status_code == 200

        login(client, "ada")
        page = client.get("/audit", params={"actor": "alice"}).text
        assert 'value="alice"' in page and "Show everything" in page
        rows = re.findall(r"<tr><td[ >].*?</tr>", page, re.S)
        assert len(rows) == 2
        assert f'<a href="/messages/{first}">message {first}</a>' in page
        empty = client.get("/audit", params={"actor": "nobody"}).text
        assert "No entries match these filters." in empty
        older = client.get("/audit", params={"actor": "alice", "before": 10**9}).text
        assert '<a id="first-page" href="/audit?actor=alice">Newest</a>' in older, "a way back"


def test_an_approval_with_edits_is_logged_as_an_approval_that_was_edited(
    rt: Runtime, worker: Worker
) -> None:
    """What happened to message 12 is answered by the log: it was approved, and changed first;
    an entry saying only "draft.edit" hid that the reply went out."""
    staff(rt, "ada", "admin")
    staff(rt, "alice")
    for n in range(2):
        drop(rt, make_email(message_id=f"<e{n}@mail.test>", subject=f"Roaming {n}"), f"e{n}")
    worker.drain()
    with rt.factory() as session:
        as_written, edited = session.scalars(
            select(Message.id).where(Message.direction == "in").order_by(Message.id)
        ).all()
    with TestClient(create_app(rt)) as client:
        alice = api_token(client, "alice")
        approved = client.post(f"/api/messages/{as_written}/approve", headers=alice, json={})
        assert approved.status_code == 201
        changed = client.post(
            f"/api/messages/{edited}/approve",
            headers=alice,
            json={"body": "Hello,\n\nYour roaming pass is active again.\n\nAlice"},
        )
        assert changed.status_code == 201
        entries = client.get(
            "/api/audit", headers=api_token(client, "ada"), params={"action": "draft.approve"}
        ).json()
    by_message = {e["object"]: e for e in entries}
    assert set(by_message) == {f"message {as_written}", f"message {edited}"}
    assert by_message[f"message {edited}"]["detail"]["edited"] is True
    assert by_message[f"message {edited}"]["detail"]["edit_distance"] > 0
    assert "edited" not in by_message[f"message {as_written}"]["detail"]


def test_entries_on_a_staff_account_name_it_and_filter_by_name_or_id(rt: Runtime) -> None:
    staff(rt, "ada", "admin")
    with TestClient(create_app(rt)) as client:
        ada = api_token(client, "ada")
        made = client.post(
            "/api/admin/staff",
            headers=ada,
            json={"username": "bob", "password": "bobs long pass", "role": "agent"},
        )
        bob = made.json()["id"]
        client.post(f"/api/admin/staff/{bob}", headers=ada, json={"role": "supervisor"})
        login(client, "ada")
        page = client.get("/audit", params={"action": "staff."}).text
        ons = re.findall(r'<td data-label="On">(?:<a [^>]*>)?(staff [^<]*)(?:</a>)?</td>', page)
        assert ons == ["staff bob", "staff bob"], "the account's name, not its number"
        assert f"staff {bob}<" not in page
        assert f'href="/audit?on=staff+{bob}"' in page, "what else was done to this account"
        by_name = client.get("/audit", params={"on": "staff bob"}).text
        by_id = client.get("/audit", params={"on": f"staff {bob}"}).text
        for filtered in (by_name, by_id):
            assert len(re.findall(r"<tr><td[ >].*?</tr>", filtered, re.S)) == 2
        api = client.get("/api/audit", headers=ada, params={"on": "staff bob"}).json()
        assert [e["object"] for e in api] == [f"staff {bob}"] * 2
        assert [e["shown"] for e in api] == ["staff bob"] * 2


def test_the_detail_reads_as_named_fields_with_a_long_one_folded(rt: Runtime) -> None:
    """It was a line of JSON: a whole rule set filled the screen in braces and quotes."""
    from responder.db.session import transaction
    from responder.review import audit

    staff(rt, "ada", "admin")
    rules = {"rules": [{"name": "cruise_info", "intents": ["roaming"]}] * 5}
    with transaction(rt.factory) as session:
        audit(session, "sam", "draft.reject", "message", 7, reason="Wrong customer")
        audit(session, "sam", "rules.save", "rules", "actions", rules=rules, previous=None)
    with TestClient(create_app(rt)) as client:
        login(client, "ada")
        page = client.get("/audit").text
    assert "<b>reason</b>: Wrong customer" in page
    assert "<b>previous</b>: none" in page
    folded = re.search(r"<b>rules</b>: <details><summary>(.*?)</summary><pre>(.*?)</pre>", page)
    assert folded is not None
    glimpse = html.unescape(folded.group(1))
    assert glimpse.endswith("…") and len(glimpse) <= 61
    assert "cruise_info" in folded.group(2)
    assert "{&#34;reason&#34;" not in page and '{"reason"' not in page


def test_actions_read_in_words_with_the_code_small_and_the_api_keeps_codes(rt: Runtime) -> None:
    """It read `template.save` and `message.reopen`: codes, where pages name states in words."""
    from responder.db.session import transaction
    from responder.review import audit

    staff(rt, "ada", "admin")
    with transaction(rt.factory) as session:
        audit(session, "sam", "template.save", "template", "intents/roaming.en.j2", version=2)
        audit(session, "sam", "message.reopen", "message", 7)
        audit(session, "cli", "import.customers", "import", "crm.csv")
        audit(session, "sam", "robot.dance", "message", 8)
    with TestClient(create_app(rt)) as client:
        login(client, "ada")
        page = client.get("/audit").text
        api = client.get("/api/audit", headers=api_token(client, "ada")).json()
    what = re.findall(r'<td data-label="What">(.*?)</td>', page)
    assert what == [
        '<span class="action" title="robot.dance">robot.dance</span>',  # no words: its code
        '<span class="action" title="import.customers">Customer import</span>'
        ' <small class="code">import.customers</small>',
        '<span class="action" title="message.reopen">Message reopened</span>'
        ' <small class="code">message.reopen</small>',
        '<span class="action" title="template.save">Template saved</span>'
        ' <small class="code">template.save</small>',
    ]
    assert [e["action"] for e in api] == [
        "robot.dance",
        "import.customers",
        "message.reopen",
        "template.save",
    ]


def test_a_reason_that_only_looks_like_a_time_is_shown_as_typed(rt: Runtime) -> None:
    """A detail read as a time ("until") is shown in the page's zone; a reason someone typed
    that looks like one but is no date (30 February), or a time the page's zone cannot write
    (past the year 9999 there), is shown as typed, not a server error for the whole log."""
    import msgspec

    from responder.db.session import transaction
    from responder.review import audit

    rt.settings = msgspec.structs.replace(
        rt.settings, queue=msgspec.structs.replace(rt.settings.queue, timezone="Europe/Berlin")
    )
    staff(rt, "ada", "admin")
    with transaction(rt.factory) as session:
        audit(session, "sam", "draft.reject", "message", 7, reason="2026-02-30T09:00Z")
        audit(session, "sam", "draft.reject", "message", 8, reason="9999-12-31T23:30:00+00:00")
        audit(session, "sam", "message.snooze", "message", 9, until="2026-12-08T18:06:44+00:00")
    with TestClient(create_app(rt)) as client:
        login(client, "ada")
        answer = client.get("/audit")
    assert answer.status_code == 200
    assert "<b>reason</b>: 2026-02-30T09:00Z" in answer.text
    assert "<b>reason</b>: 9999-12-31T23:30:00+00:00" in answer.text
    assert "<b>until</b>: 2026-12-08 19:06 Europe/Berlin" in answer.text
