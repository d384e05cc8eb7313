"""Supervisors curate classifier examples; agents' corrections wait as candidates."""

from __future__ import annotations

from datetime import datetime

from litestar.testing import TestClient
from sqlalchemy import func, select

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
from responder.runtime import Runtime
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
        assert "Example added" in added.text
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
        client.post(
            f"/supervisor/classifiers/examples/{new_id}/move",
            data={"label": "outage", "back": back, "_csrf_token": token},
        )
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
        assert "sentiment is already negative" in same.text
        assert "Recorded as negative" not in same.text
        auth = api_token(client, "alice")
        api = client.post(
            f"/api/messages/{message}/classification",
            headers=auth,
            json={"classifier": "sentiment", "label": "negative"},
        )
        assert api.status_code == 409 and "already negative" in api.json()["detail"]
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
    assert "model said: billing_dispute 0.62" in candidates
    assert '<td data-label="Corrected to">roaming</td>' in candidates


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
    assert "&raquo; roaming" in page or "» roaming (" in page, "still on the roaming examples"


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
    assert "classification corrected by sue" in page and "intent complaint, on accepting" in page
    figures = chart.content.decode("utf-8-sig").splitlines()
    assert figures == ["intent,corrections", "roaming,1"]


def _drafts(rt: Runtime, message_id: int) -> list[Draft]:
    with rt.factory() as session:
        query = select(Draft).where(Draft.message_id == message_id).order_by(Draft.version)
        return list(session.scalars(query))
