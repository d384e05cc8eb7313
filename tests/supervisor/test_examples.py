"""Supervisors curate classifier examples; agents' corrections wait as candidates."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select, text

from responder.corrections import reclassify
from responder.db.models import (
    AuditEntry,
    ClassifierExample,
    Draft,
    Message,
    ReviewAction,
    StaffUser,
)
from responder.db.session import transaction
from responder.review import approve
from responder.runtime import Runtime
from responder.supervisor.examples import accept_candidate
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.supervisor.history import agent_correction, waiting_message
from tests.test_web_security import csrf, login


def _count(rt: Runtime, **where: object) -> int:
    with rt.factory() as session:
        query = select(func.count(ClassifierExample.id))
        for key, value in where.items():
            query = query.where(getattr(ClassifierExample, key) == value)
        return session.scalar(query) or 0


def test_add_move_remove_accept_and_reject(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    first = agent_correction(rt, waiting_message(rt, 1), "billing_dispute", "roaming", "alice")
    second = agent_correction(rt, waiting_message(rt, 2), "outage", "roaming", "bob")
    roaming = _count(rt, classifier="intent", label="roaming", status="active")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/classifiers", params={"name": "intent", "label": "roaming"})
        assert "Corrections by agents" in page.text and "alice" in page.text
        assert page.text.count('class="reject" data-confirm="Reject this correction?') == 2
        token = csrf(client, "/supervisor/classifiers")
        back = "/supervisor/classifiers?name=intent&label=roaming"
        added = client.post(
            "/supervisor/classifiers/intent/add",
            data={
                "label": "roaming",
                "text": "Data abroad is not working",
                "back": back,
                "_csrf_token": token,
            },
        )
        assert "Example added to Roaming." in added.text
        assert _count(rt, label="roaming", status="active") == roaming + 1
        bad = client.post(
            "/supervisor/classifiers/intent/add",
            data={"label": "astrology", "text": "x", "back": back, "_csrf_token": token},
        )
        assert "not one of the intent labels" in bad.text
        with rt.factory() as session:
            new_id = session.scalar(
                select(ClassifierExample.id).where(
                    ClassifierExample.text == "Data abroad is not working"
                )
            )
        moved = client.post(
            f"/supervisor/classifiers/examples/{new_id}/move",
            data={"label": "outage", "back": back, "_csrf_token": token},
        )
        assert "Example moved to Service outage." in moved.text, "the label in words"
        assert _count(rt, id=new_id, label="outage") == 1
        client.post(
            f"/supervisor/classifiers/examples/{new_id}/remove",
            data={"back": back, "_csrf_token": token},
        )
        assert _count(rt, id=new_id) == 0
        client.post(
            f"/supervisor/classifiers/examples/{first}/accept",
            data={"label": "billing_dispute", "back": back, "_csrf_token": token},
        )
        client.post(
            f"/supervisor/classifiers/examples/{second}/reject",
            data={"back": back, "_csrf_token": token},
        )
    assert _count(rt, id=first, status="active", label="billing_dispute") == 1
    assert _count(rt, id=second, status="rejected") == 1
    with rt.factory() as session:
        actions = list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("example.%"))
                .order_by(AuditEntry.id)
            )
        )
    assert actions == [
        "example.add",
        "example.move",
        "example.remove",
        "example.accept",
        "example.reject",
    ]


def _classified(rt: Runtime, message_id: int, **labels: tuple[str, float]) -> None:
    """What the worker's classifiers leave on a message: each label with its confidence."""
    from responder.db.models import Message
    from responder.db.session import transaction

    with transaction(rt.factory) as session:
        message = session.get(Message, message_id)
        message.classification = {
            name: {"label": label, "confidence": confidence, "candidates": [[label, confidence]]}
            for name, (label, confidence) in labels.items()
        }


def test_correcting_to_the_label_it_already_has_is_refused(rt: Runtime) -> None:
    staff(rt, "alice", "agent")
    message = waiting_message(rt, 1)
    _classified(rt, message, intent=("roaming", 0.9), sentiment=("negative", 0.8))
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        token = csrf(client, f"/messages/{message}")
        same = client.post(
            f"/messages/{message}/classification",
            data={"_csrf_token": token, "classifier": "sentiment", "label": "negative"},
        )
        assert "The sentiment is already Negative: nothing was changed" in same.text, (
            "the page names the label in words, not its code"
        )
        assert "Recorded as" not in same.text
        auth = api_token(client, "alice")
        api = client.post(
            f"/api/messages/{message}/classification",
            headers=auth,
            json={"classifier": "sentiment", "label": "negative"},
        )
        assert api.json()["detail"] == (
            "the sentiment is already negative: nothing was changed or recorded"
        ), "the API names the label by its code, as its `label` field does"
        assert api.status_code == 409
    assert _count(rt, message_id=message) == 0, "no candidate example for an unchanged label"
    with rt.factory() as session:
        logged = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "message.reclassify")
        ).all()
    assert logged == []


def test_a_correction_shows_what_the_model_said(rt: Runtime) -> None:
    staff(rt, "alice", "agent")
    staff(rt, "sue", "supervisor")
    message = waiting_message(rt, 1)
    _classified(rt, message, intent=("billing_dispute", 0.62))
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        client.post(
            f"/messages/{message}/classification",
            data={"_csrf_token": csrf(client), "classifier": "intent", "label": "roaming"},
        )
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
    candidates = page.split('id="candidates"', 1)[1].split("</table>", 1)[0]
    assert "model said: Billing dispute <small><code>billing_dispute</code></small> 0.62" in (
        candidates
    )
    assert (
        '<td data-label="Corrected to">Roaming <small><code>roaming</code></small></td>'
        in candidates
    )
    assert '<option value="roaming" selected>Roaming (roaming)</option>' in candidates


def test_accepting_a_correction_returns_to_the_corrections(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    first = agent_correction(rt, waiting_message(rt, 1), "billing_dispute", "roaming", "alice")
    agent_correction(rt, waiting_message(rt, 2), "outage", "roaming", "bob")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        back = "/supervisor/classifiers?name=intent&label=roaming"
        token = csrf(client, back)
        accepted = client.post(
            f"/supervisor/classifiers/examples/{first}/accept",
            data={"label": "billing_dispute", "back": back, "_csrf_token": token},
            follow_redirects=False,
        )
        target = accepted.headers["location"]
        assert target.endswith("#corrections"), "back to the list the supervisor was working on"
        assert "name=intent" in target and "label=roaming" in target
        page = client.get(target.split("#")[0]).text
    corrections = page.split('id="corrections"', 1)[1].split("</table>", 1)[0]
    assert "Correction accepted as a training example." in corrections, "said where one looks"
    assert page.count("Correction accepted") == 1
    assert "» Roaming <small><code>roaming</code></small> (" in page, (
        "still on the roaming examples"
    )


def test_accepting_a_correction_under_another_label_relabels_the_message(rt: Runtime) -> None:
    """Agent: roaming is really billing_dispute; supervisor: no, a complaint. The message says
    complaint, like the training example, and the dashboard still counts one agent correction,
    away from roaming."""
    message_id = waiting_message(rt, 1)
    with transaction(rt.factory) as session:
        message = session.get(Message, message_id)
        message.classification = {"intent": {"label": "roaming", "confidence": 0.71}}
    staff(rt, "alice")
    staff(rt, "sue", "supervisor")
    with transaction(rt.factory) as session:
        alice = session.scalars(select(StaffUser).where(StaffUser.username == "alice")).one()
        example = reclassify(session, message_id, alice, "intent", "billing_dispute").example_id
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        back = "/supervisor/classifiers?name=intent"
        client.post(
            f"/supervisor/classifiers/examples/{example}/accept",
            data={"label": "complaint", "back": back, "_csrf_token": csrf(client, back)},
        )
        page = client.get(f"/messages/{message_id}").text
        chart = client.get("/supervisor/dashboard/export/most_corrected")
        with transaction(rt.factory) as session:  # alice corrected it weeks ago
            for action in session.scalars(select(ReviewAction)):
                if not (action.detail or {}).get("accepted"):
                    action.created_at = datetime(2026, 10, 1, 9, 0)
        since = client.get(
            "/supervisor/dashboard/export/most_corrected", params={"start": "2026-11-01"}
        )
    assert since.content.decode("utf-8-sig").splitlines() == ["intent,corrections"], (
        "the supervisor's label is no agent's correction"
    )
    with rt.factory() as session:
        message = session.get(Message, message_id)
        accepted = session.get(ClassifierExample, example)
    assert (accepted.status, accepted.label) == ("active", "complaint")
    assert message.intent == "complaint"
    intent = message.classification["intent"]
    assert (intent["label"], intent["corrected_by"]) == ("complaint", "sue")
    assert intent["predicted"]["label"] == "roaming", "what the model said is kept"
    drafts = [(d.version, d.grounding.get("intent")) for d in _drafts(rt, message_id)]
    assert drafts[-1] == (2, "complaint"), "the waiting draft is written for a complaint"
    assert "classification corrected by sue" in page and "intent Complaint, on accepting" in page
    figures = chart.content.decode("utf-8-sig").splitlines()
    assert figures == ["intent,corrections", "roaming,1"]


def _drafts(rt: Runtime, message_id: int) -> list[Draft]:
    with rt.factory() as session:
        query = select(Draft).where(Draft.message_id == message_id).order_by(Draft.version)
        return list(session.scalars(query))


def _reject(client: TestClient, example: int) -> str:
    back = "/supervisor/classifiers?name=intent"
    return client.post(
        f"/supervisor/classifiers/examples/{example}/reject",
        data={"back": back, "_csrf_token": csrf(client, back)},
    ).text


def _corrected(rt: Runtime, message_id: int, label: str) -> int:
    """The model said roaming (71%); alice corrects the intent to `label` on the review page's
    terms (the waiting draft follows her correction unless a person saved it)."""
    with transaction(rt.factory) as session:
        message = session.get(Message, message_id)
        message.classification = {
            "intent": {"label": "roaming", "confidence": 0.71, "candidates": [["roaming", 0.71]]}
        }
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        answer = client.post(
            f"/api/messages/{message_id}/classification",
            headers=auth,
            json={"classifier": "intent", "label": label},
        )
        assert answer.status_code == 201, answer.text
    with rt.factory() as session:
        return session.scalar(
            select(ClassifierExample.id).where(ClassifierExample.message_id == message_id)
        )


def test_rejecting_a_correction_takes_the_message_back_to_the_models_intent(
    rt: Runtime,
) -> None:
    """Agent: roaming is really billing_dispute; supervisor: no. The message says roaming again
    (the model's answer, with its confidence), its history says so, the waiting draft is
    written for roaming again, and the dashboard counts no correction by the supervisor."""
    message_id = waiting_message(rt, 1)
    staff(rt, "alice")
    staff(rt, "sue", "supervisor")
    example = _corrected(rt, message_id, "billing_dispute")
    assert _drafts(rt, message_id)[-1].grounding["intent"] == "billing_dispute"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        told = _reject(client, example)
        assert (
            f"Correction rejected: message {message_id} is back to Roaming, the intent the model"
            " gave it." in told
        )
        page = client.get(f"/messages/{message_id}").text
        chart = client.get("/supervisor/dashboard/export/most_corrected")
    with rt.factory() as session:
        message = session.get(Message, message_id)
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "message.reclassify")
            .order_by(AuditEntry.id.desc())
        ).first()
    assert (message.intent, message.intent_confidence) == ("roaming", 0.71)
    assert message.classification["intent"]["label"] == "roaming"
    assert "corrected_by" not in message.classification["intent"]
    assert entry is not None and entry.actor == "sue"
    assert entry.detail["previous"] == "billing_dispute" and entry.detail["rejected"] is True
    versions = [(d.version, d.grounding.get("intent")) for d in _drafts(rt, message_id)]
    assert versions[-1] == (3, "roaming"), "the waiting draft is written for roaming again"
    assert (
        "classification corrected by sue" in page
        and "intent back to Roaming, on rejecting the correction to Billing dispute" in page
    )
    back = page.split('id="intent-back"', 1)[1].split("</div>", 1)[0]
    assert (
        "The intent changed back to Roaming: sue rejected the correction to Billing dispute."
        in back
    )
    assert "The draft is written for Roaming." in back and "redraft-intent" not in back
    figures = chart.content.decode("utf-8-sig").splitlines()
    assert figures == ["intent,corrections", "roaming,1"], "alice's correction, not sue's"


def test_rejecting_a_correction_the_message_has_moved_on_from_says_it_keeps_its_label(
    rt: Runtime,
) -> None:
    """Alice corrected roaming to billing_dispute; the message says outage since. Rejecting her
    correction leaves outage, and the notice says so rather than a bare "Correction rejected."."""
    message_id = waiting_message(rt, 1)
    staff(rt, "alice")
    staff(rt, "sue", "supervisor")
    example = _corrected(rt, message_id, "billing_dispute")
    with transaction(rt.factory) as session:
        message = session.get(Message, message_id)
        message.classification = {"intent": {"label": "outage", "confidence": 0.8}}
        message.intent = "outage"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        told = _reject(client, example)
    assert (
        f"Correction rejected: message {message_id} keeps its intent Service outage (it changed"
        " since"
        " the correction)." in told
    )
    with rt.factory() as session:
        assert session.get(Message, message_id).intent == "outage"


def test_a_saved_draft_for_the_rejected_intent_stays_and_the_page_offers_a_redraft(
    rt: Runtime,
) -> None:
    message_id = waiting_message(rt, 1)
    staff(rt, "alice")
    staff(rt, "sue", "supervisor")
    example = _corrected(rt, message_id, "billing_dispute")
    own = "Hello Aoife,\n\nI have refunded the charge on your bill.\n"
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        client.post(f"/api/messages/{message_id}/save", headers=auth, json={"body": own})
        login(client, "sue")
        _reject(client, example)
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        back = page.split('id="intent-back"', 1)[1].split("</div>", 1)[0]
        assert (
            "The intent changed back to Roaming: sue rejected the correction to Billing dispute."
            " This draft was written for Billing dispute, and a person has edited it since, so"
            " it was not written again by itself."
        ) in back
        form = back.split('action="/messages/', 1)[1]
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
        assert "Redraft for Roaming" in form
        redrafted = client.post(f"/messages/{message_id}/redraft", data=fields)
        assert "The draft was written again for the intent Roaming (v4)." in redrafted.text
    drafts = _drafts(rt, message_id)
    assert drafts[2].body == own, "the person's draft is kept until a person asks"
    assert drafts[-1].grounding["intent"] == "roaming"


def test_rejecting_a_correction_of_an_answered_message_only_changes_the_label_back(
    rt: Runtime,
) -> None:
    message_id = waiting_message(rt, 1)
    staff(rt, "alice")
    staff(rt, "sue", "supervisor")
    example = _corrected(rt, message_id, "billing_dispute")
    with transaction(rt.factory) as session:
        alice = session.scalars(select(StaffUser).where(StaffUser.username == "alice")).one()
        approve(session, message_id, alice, rt.settings.outbound)
    before = [d.version for d in _drafts(rt, message_id)]
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        _reject(client, example)
        page = client.get(f"/messages/{message_id}").text
    with rt.factory() as session:
        assert session.get(Message, message_id).intent == "roaming"
    assert [d.version for d in _drafts(rt, message_id)] == before, "no draft for a sent reply"
    assert "intent back to Roaming, on rejecting the correction" in page
    assert 'id="intent-back"' not in page


def _correct(client: TestClient, agent: str, message_id: int, label: str) -> None:
    """`agent` corrects the message's intent to `label` through the API, as the review page does."""
    answer = client.post(
        f"/api/messages/{message_id}/classification",
        headers=api_token(client, agent),
        json={"classifier": "intent", "label": label},
    )
    assert answer.status_code == 201, answer.text


def _candidate_row(page: str, example: int) -> str:
    return page.split(f'<tr data-id="{example}">', 1)[1].split("</tr>", 1)[0]


def _decide(client: TestClient, page: str, example: int, action: str, label: str = "") -> str:
    """The Accept or Reject form of the candidate's row on `page`, sent as the page filled it
    (`label`: another choice in the Accept form's list)."""
    form = _candidate_row(page, example).split(f"/examples/{example}/{action}", 1)[1]
    form = form.split("</form>", 1)[0]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    chosen = re.search(r'<option value="([^"]+)" selected>', form)
    if chosen:
        fields["label"] = label or chosen.group(1)
    fields = {key: value.replace("&amp;", "&") for key, value in fields.items()}
    return client.post(f"/supervisor/classifiers/examples/{example}/{action}", data=fields).text


def _active_examples(rt: Runtime, message_id: int) -> list[tuple[int, str]]:
    with rt.factory() as session:
        rows = session.execute(
            select(ClassifierExample.id, ClassifierExample.label)
            .where(ClassifierExample.message_id == message_id, ClassifierExample.status == "active")
            .order_by(ClassifierExample.id)
        )
        return [(row.id, row.label) for row in rows]


def _accepted_then_corrected_again(rt: Runtime, client: TestClient) -> tuple[int, int, int]:
    """The model said outage; alice corrected it to roaming, which sue accepted; bob corrects
    the same message to billing_dispute. The message, alice's example and bob's candidate."""
    message_id = waiting_message(rt, 1, intent="outage")
    _classified(rt, message_id, intent=("outage", 0.64))
    for name, role in (("alice", "agent"), ("bob", "agent"), ("sue", "supervisor")):
        staff(rt, name, role)
    _correct(client, "alice", message_id, "roaming")
    with rt.factory() as session:
        first = session.scalar(
            select(ClassifierExample.id).where(ClassifierExample.message_id == message_id)
        )
    login(client, "sue")
    page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
    assert "Correction accepted as a training example." in _decide(client, page, first, "accept")
    _correct(client, "bob", message_id, "billing_dispute")
    with rt.factory() as session:
        second = session.scalars(
            select(ClassifierExample).where(
                ClassifierExample.message_id == message_id, ClassifierExample.status == "candidate"
            )
        ).one()
    assert (second.id != first, second.created_by) == (True, "bob")
    return message_id, first, second.id


def test_accepting_a_second_correction_of_a_message_moves_its_example(rt: Runtime) -> None:
    """One message is one training example: bob's accepted correction moves the example
    accepted from alice's to billing_dispute instead of teaching the same text two intents."""
    with TestClient(create_app(rt)) as client:
        message_id, first, second = _accepted_then_corrected_again(rt, client)
        page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
        row = _candidate_row(page, second)
        assert "model said: Service outage <small><code>outage</code></small> 0.64" in row
        assert (
            "already a training example of Roaming <small><code>roaming</code></small> (an"
            " earlier correction, accepted)" in row
        ), "what the model said does not hide the example already accepted"
        told = _decide(client, page, second, "accept")
    assert (
        f"Correction accepted: message {message_id} already had a training example, under"
        " Roaming: it was moved to Billing dispute rather than a second one added." in told
    )
    assert _active_examples(rt, message_id) == [(first, "billing_dispute")]
    assert _count(rt, id=second, status="merged") == 1, "bob's correction stays on record"
    with rt.factory() as session:
        moves = session.scalars(select(AuditEntry).where(AuditEntry.action == "example.move"))
        logged = [
            (int(m.object_id), m.actor, m.detail["previous"], m.detail["label"]) for m in moves
        ]
        message = session.get(Message, message_id)
    assert logged == [(first, "sue", "roaming", "billing_dispute")]
    assert message.intent == "billing_dispute"


def test_accepting_a_second_correction_under_the_first_label_adds_nothing(rt: Runtime) -> None:
    with TestClient(create_app(rt)) as client:
        message_id, first, second = _accepted_then_corrected_again(rt, client)
        page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
        told = _decide(client, page, second, "accept", label="roaming")
    assert (
        f"Correction accepted: message {message_id} already had a training example under"
        " Roaming, which stays its only one (none was added)." in told
    )
    assert _active_examples(rt, message_id) == [(first, "roaming")]
    with rt.factory() as session:
        assert session.get(Message, message_id).intent == "roaming"
    assert _drafts(rt, message_id)[-1].grounding["intent"] == "roaming"


def test_rejecting_a_second_correction_goes_back_to_the_accepted_label(rt: Runtime) -> None:
    """Rejecting bob's correction takes the message back to roaming, which sue accepted, not
    to the model's outage, and the waiting draft is written for roaming again."""
    with TestClient(create_app(rt)) as client:
        message_id, first, second = _accepted_then_corrected_again(rt, client)
        assert _drafts(rt, message_id)[-1].grounding["intent"] == "billing_dispute"
        page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
        assert (
            "a message it relabelled goes back to Roaming, the label of its accepted training"
            " example, and its waiting draft is written again." in _candidate_row(page, second)
        )
        told = _decide(client, page, second, "reject")
        review = client.get(f"/messages/{message_id}").text
    assert (
        f"Correction rejected: message {message_id} is back to Roaming, the intent of the"
        " training example accepted from an earlier correction." in told
    )
    with rt.factory() as session:
        message = session.get(Message, message_id)
    assert message.intent == "roaming" and message.classification["intent"]["label"] == "roaming"
    assert message.classification["intent"]["predicted"]["label"] == "outage"
    assert _active_examples(rt, message_id) == [(first, "roaming")]
    assert _drafts(rt, message_id)[-1].grounding["intent"] == "roaming"
    assert "intent back to Roaming, on rejecting the correction to Billing dispute" in review


def _recorrected_after_the_page_showed_it(rt: Runtime, client: TestClient) -> tuple[int, int, str]:
    """Sue's page shows alice's correction to billing_dispute; bob then corrects the message
    to complaint, which updates the same candidate. The message, the candidate, sue's page."""
    message_id = waiting_message(rt, 1)
    _classified(rt, message_id, intent=("roaming", 0.71))
    for name, role in (("alice", "agent"), ("bob", "agent"), ("sue", "supervisor")):
        staff(rt, name, role)
    _correct(client, "alice", message_id, "billing_dispute")
    login(client, "sue")
    page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
    _correct(client, "bob", message_id, "complaint")
    with rt.factory() as session:
        example = session.scalars(
            select(ClassifierExample).where(ClassifierExample.message_id == message_id)
        ).one()
    assert (example.status, example.label, example.created_by) == ("candidate", "complaint", "bob")
    return message_id, example.id, page


STALE = (
    "The correction changed since this page showed it: it now says Complaint; check it and"
    " decide again"
)


def test_accepting_a_correction_changed_since_the_page_showed_it_is_refused(rt: Runtime) -> None:
    with TestClient(create_app(rt)) as client:
        message_id, example, page = _recorrected_after_the_page_showed_it(rt, client)
        told = _decide(client, page, example, "accept")
    corrections = told.split('id="corrections"', 1)[1].split("</table>", 1)[0]
    assert STALE in corrections, "said where the supervisor acted"
    assert _count(rt, id=example, status="candidate", label="complaint") == 1, "nothing changed"
    assert '<option value="complaint" selected>' in _candidate_row(told, example)
    with rt.factory() as session:
        assert session.get(Message, message_id).intent == "complaint"
        assert not session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("example.%"))
        ).all()


def test_rejecting_a_correction_changed_since_the_page_showed_it_is_refused(rt: Runtime) -> None:
    with TestClient(create_app(rt)) as client:
        message_id, example, page = _recorrected_after_the_page_showed_it(rt, client)
        told = _decide(client, page, example, "reject")
    assert STALE in told.split('id="corrections"', 1)[1]
    assert _count(rt, id=example, status="candidate", label="complaint") == 1
    with rt.factory() as session:
        assert session.get(Message, message_id).intent == "complaint", "not taken back"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has one writer
@pytest.mark.parametrize("action", ["reject", "accept"])
def test_a_correction_decided_twice_at_the_same_moment_refuses_the_second(
    rt: Runtime, action: str
) -> None:
    """Tom's accept holds the candidate when sue's reject (or accept) arrives: hers waits for
    his, then finds it accepted and changes nothing, instead of overwriting his decision."""
    message_id = waiting_message(rt, 1)
    staff(rt, "alice")
    staff(rt, "sue", "supervisor")
    example = _corrected(rt, message_id, "billing_dispute")
    answers: list[str] = []
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
        with transaction(rt.factory) as session:
            accept_candidate(session, example, "tom")
            session.flush()  # his writes are in the database, not yet committed
            sue = threading.Thread(
                target=lambda: answers.append(_decide(client, page, example, action))
            )
            sue.start()
            _wait_for_a_lock_wait(rt)
        sue.join(timeout=120)
    assert answers and (
        f"This correction was already accepted (example {example}): nothing was changed"
        in answers[0]
    )
    assert _count(rt, id=example, status="active", label="billing_dispute") == 1
    with rt.factory() as session:
        assert session.get(Message, message_id).intent == "billing_dispute"
        decisions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("example.%"))
        ).all()
    assert decisions == ["example.accept"]


def _wait_for_a_lock_wait(rt: Runtime) -> None:
    """Until another connection waits for a row lock (sue's request, on tom's candidate)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with rt.factory() as session:
            if session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                return
        time.sleep(0.05)
    raise AssertionError("no request waited for the candidate's lock")
