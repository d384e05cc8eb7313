"""Several drafts at once from the queue: assign them, or reject them with one reason. A draft
someone changed after the page was shown is left alone and named; the rest go through."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Message, utcnow
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.html_document import HtmlDocument
from tests.test_web_security import login

SUBJECTS = ["Is the outage over?", "Still no signal", "No service since 9", "Bill question"]


def ticked(page: str) -> dict[int, str]:
    """Message id to the checkbox value the page offers."""
    return {
        int(value.split(":")[0]): value
        for value in re.findall(r'name="ids" value="([^"]+)" form="bulk"', page)
    }


def _drafts_from_customers(rt: Runtime, worker: Worker, subjects: list[str]) -> dict[str, int]:
    """Alice and bob on staff; one draft per subject, each from its own customer; ids by
    subject."""
    staff(rt, "alice")
    staff(rt, "bob")
    for n, subject in enumerate(subjects):
        raw = make_email(
            sender=f"Customer {n} <c{n}@mail.test>", subject=subject, message_id=f"<q{n}@mail.test>"
        )
        drop(rt, raw, f"q{n}")
    worker.drain()
    with rt.factory() as session:
        return dict(session.execute(select(Message.subject, Message.id)).all())


def test_assign_and_reject_several_drafts_from_the_queue(rt: Runtime, worker: Worker) -> None:
    ids = _drafts_from_customers(rt, worker, SUBJECTS)

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/queue").text
        boxes = ticked(page)
        assert sorted(boxes) == sorted(ids.values())
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)

        def bulk(**fields: object) -> str:
            response = client.post("/queue/bulk", data={"_csrf_token": token, **fields})
            assert response.status_code == 200, response.text
            return response.text

        nothing = bulk(action="assign", assignee="bob", back="/queue")
        assert "Nothing changed: tick the drafts first" in nothing
        no_reason = bulk(action="reject", reason=" ", ids=[boxes[ids[SUBJECTS[0]]]], back="/queue")
        assert "Nothing changed: say why the drafts are rejected" in no_reason

        to_bob = [boxes[ids[SUBJECTS[1]]], boxes[ids[SUBJECTS[3]]]]
        assigned = bulk(action="assign", assignee="bob", ids=to_bob, back="/queue")
        assert "Assigned 2 drafts to bob." in assigned
        rows = dict(
            re.findall(r'<tr data-id="(\d+)".*?<td class="assignee">(.*?)</td>', assigned, re.S)
        )
        assert rows == {
            str(ids[SUBJECTS[0]]): "",
            str(ids[SUBJECTS[1]]): "bob",
            str(ids[SUBJECTS[2]]): "",
            str(ids[SUBJECTS[3]]): "bob",
        }

        # Bob saves an edit of one outage draft after alice's page was shown: hers is stale.
        auth = api_token(client, "bob")
        saved = client.post(
            f"/api/messages/{ids[SUBJECTS[2]]}/save", headers=auth, json={"body": "Looking now."}
        )
        assert saved.status_code == 201, saved.text
        outage = [boxes[ids[SUBJECTS[0]]], boxes[ids[SUBJECTS[2]]]]
        rejected = bulk(
            action="reject",
            reason="Answered by the outage status page",
            ids=outage,
            back="/queue?intent=outage_no_service&cursor=abc",
        )
        assert "Rejected 1 draft: Answered by the outage status page" in rejected
        assert f"1 draft not changed: message {ids[SUBJECTS[2]]}:" in rejected

        # Assigning the one alice just rejected, from her old page: refused with what happened.
        late = bulk(action="assign", assignee="bob", ids=outage[:1], back="/queue")
        assert "Assigned 0 drafts" not in late
        assert f"message {ids[SUBJECTS[0]]}: already rejected by alice at" in late

    with rt.factory() as session:
        states = dict(session.execute(select(Message.subject, Message.state)).all())
        reason = session.scalar(select(Message.state_reason).where(Message.id == ids[SUBJECTS[0]]))
    assert states == {
        SUBJECTS[0]: "rejected",
        SUBJECTS[1]: "in_review",
        SUBJECTS[2]: "in_review",
        SUBJECTS[3]: "in_review",
    }
    assert reason == "Answered by the outage status page"


def test_the_queue_form_keeps_its_page_and_enter_never_assigns(rt: Runtime, worker: Worker) -> None:
    """Back on the page the agent was on (filters and cursor); Enter in the reason box submits
    the form's first button, which is Reject, never Assign."""
    staff(rt, "alice")
    drop(rt, make_email(), "one")
    worker.drain()
    with rt.factory() as session:
        intent = session.scalar(select(Message.intent).where(Message.direction == "in"))
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/queue?intent={intent}").text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        assert f'name="back" value="/queue?intent={intent}"' in page
        elements = HtmlDocument(page).elements
        form = elements.index(("form", next(a for t, a in elements if a.get("id") == "bulk")))
        buttons = [a for t, a in elements[form:] if t == "button" and a.get("type") == "submit"]
        assert buttons[0]["value"] == "reject", "the default button: Enter in a field rejects"
        (value,) = ticked(page).values()
        response = client.post(
            "/queue/bulk",
            data={
                "_csrf_token": token,
                "action": "assign",
                "assignee": "alice",
                "ids": value,
                "back": f"/queue?intent={intent}&cursor=x",
            },
            follow_redirects=False,
        )
        location = response.headers["location"]
        assert location.startswith("/queue?") and f"intent={intent}" in location
        assert "cursor=x" in location and "notice=Assigned+1+draft+to+alice" in location


def test_a_run_of_spam_from_several_senders_goes_in_one_step(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    staff(rt, "alice")
    senders = ["deals@bulk-offers.test", "prize@lucky-draw.test", "deals@bulk-offers.test"]
    for n, sender in enumerate(senders):
        raw = make_email(sender=sender, subject=f"You won {n}", message_id=f"<s{n}@junk.test>")
        drop(rt, raw, f"s{n}")
    drop(rt, make_email(message_id="<aoife@mail.test>"), "aoife")  # a customer on file
    worker.drain()
    with rt.factory() as session:
        ids = dict(session.execute(select(Message.subject, Message.id)).all())

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/queue").text
        boxes = ticked(page)
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        picked = [boxes[ids["You won 0"]], boxes[ids["You won 1"]], boxes[ids["You won 2"]]]
        picked.append(boxes[ids["Roaming charges on my bill"]])
        done = client.post(
            "/queue/bulk", data={"_csrf_token": token, "action": "spam", "ids": picked}
        ).text
        assert (
            "Rejected 3 drafts as spam; blocked: deals@bulk-offers.test, prize@lucky-draw.test."
            in done
        )
        assert "1 draft not changed:" in done and "is a customer on file" in done

    with rt.factory() as session:
        states = dict(session.execute(select(Message.subject, Message.state)).all())
    assert states == {
        "You won 0": "rejected",
        "You won 1": "rejected",
        "You won 2": "rejected",
        "Roaming charges on my bill": "in_review",
    }


def test_snooze_several_drafts_until_the_engineers_estimate(rt: Runtime, worker: Worker) -> None:
    """After an outage: the "is it fixed yet?" drafts wait for the engineers' estimate; one a
    colleague edited after the page was drawn is named and stays in the queue."""
    ids = _drafts_from_customers(rt, worker, SUBJECTS[:3])
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/queue").text
        boxes = ticked(page)
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        four_hours = re.search(r'<option value="([^"]+)">In 4 hours</option>', page).group(1)
        assert four_hours == "4h", "the menu posts its choice; the time is worked out on sending"
        saved = client.post(
            f"/api/messages/{ids[SUBJECTS[2]]}/save",
            headers=api_token(client, "bob"),
            json={"body": "Looking now."},
        )
        assert saved.status_code == 201, saved.text
        snoozed = client.post(
            "/queue/bulk",
            data={
                "_csrf_token": token,
                "action": "snooze",
                "until": four_hours,
                "reason": "network team estimate at 18:00",
                "ids": list(boxes.values()),
                "back": "/queue",
            },
        ).text
        assert "Snoozed 2 drafts until" in snoozed
        assert f"message {ids[SUBJECTS[2]]}: this draft changed since you opened it" in snoozed
        assert re.findall(r'<tr data-id="(\d+)"', snoozed) == [str(ids[SUBJECTS[2]])]
        assert "2 snoozed" in snoozed
        listed = client.get("/snoozed").text
        assert listed.count("network team estimate at 18:00") == 2
    with rt.factory() as session:
        back = session.scalar(select(Message.snoozed_until).where(Message.id == ids[SUBJECTS[0]]))
    assert timedelta(hours=3, minutes=59) < back - utcnow() <= timedelta(hours=4)
