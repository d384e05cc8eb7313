"""A webhook body that cannot be split does not hold up the others, is given up after a few
tries, and is shown to a person with its error and a Retry; bodies not read or not wholly used
are listed for supervisors."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.channels.social import ingest
from responder.channels.social.ingest import record_delivery, retry_unprocessed
from responder.db.models import AuditEntry, Message, WebhookDelivery
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.social.payloads import encode, messenger_message, post_meta
from tests.test_web_security import csrf, login

BAD = "m_breaks_the_split"
ERROR = "RuntimeError: the split broke on this body"


@pytest.fixture
def breaking(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Splitting a body that holds the message BAD raises, as a bug would; others split."""
    split = ingest.split_meta

    def split_meta(body: Any) -> Any:
        if BAD in encode(body).decode():
            raise RuntimeError("the split broke on this body")
        return split(body)

    monkeypatch.setattr(ingest, "split_meta", split_meta)
    return monkeypatch


def _keys(rt: Runtime) -> list[str]:
    with rt.factory() as session:
        return list(session.scalars(select(Message.external_key).order_by(Message.id)))


def _delivery(rt: Runtime, delivery_id: int) -> WebhookDelivery:
    with rt.factory() as session:
        return session.get(WebhookDelivery, delivery_id)


def test_a_body_that_always_fails_does_not_stop_the_next_and_is_shown_to_a_person(
    rt: Runtime, breaking: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(rt)) as client:
        response = post_meta(client, messenger_message("First, and it breaks", mid=BAD))
    assert response.status_code == 202, "stored, to be tried again"
    bad = response.json()["delivery"]
    assert _delivery(rt, bad).attempts == 1, "the webhook's own try counts"
    # The process died after storing this one: it is split by the workers' retry.
    good = record_delivery(rt.factory, "meta", encode(messenger_message("Second", mid="m_ok")))

    assert retry_unprocessed(rt.factory, older_than=timedelta(0), max_attempts=3) == 1
    assert _keys(rt) == ["m_ok"], "the later body is stored although the earlier one raised"
    assert _delivery(rt, good).processed_at is not None
    assert retry_unprocessed(rt.factory, older_than=timedelta(0), max_attempts=3) == 0
    failed = _delivery(rt, bad)
    assert (failed.attempts, failed.outcome) == (3, ERROR)
    assert failed.failed_at is not None and failed.processed_at is None
    assert retry_unprocessed(rt.factory, older_than=timedelta(0), max_attempts=3) == 0
    assert _delivery(rt, bad).attempts == 3, "given up: the workers try it no more"

    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/problems").text
        row = page.split(f'id="webhook-delivery-{bad}"')[1].split("</tr>")[0]
        assert "Not taken in: given up after 3 attempts. " + ERROR in html.unescape(row)
        assert f'action="/webhook-deliveries/{bad}/retry"' in row
        assert 'id="nav-problems">Needs attention <span class="count alert">1</span>' in page
        listed = client.get("/api/problems", headers=api_token(client)).json()
        assert [d["id"] for d in listed["webhook_deliveries"]] == [bad]
        assert listed["total"] == 1

        breaking.undo()  # the bug is fixed
        retried = client.post(
            f"/webhook-deliveries/{bad}/retry",
            data={"_csrf_token": csrf(client, "/problems")},
            follow_redirects=True,
        )
        assert f"Webhook delivery {bad} taken in: 1 stored" in retried.text
        assert f'id="webhook-delivery-{bad}"' not in retried.text
        again = client.post(f"/api/webhook-deliveries/{bad}/retry", headers=api_token(client))
        assert again.status_code == 409, "taken in already: nothing to retry"
    assert _keys(rt) == ["m_ok", BAD]
    with rt.factory() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.retry"))
    assert (entry.actor, entry.object_id) == ("alice", str(bad))


def test_a_retry_that_fails_again_says_why(rt: Runtime, breaking: pytest.MonkeyPatch) -> None:
    bad = record_delivery(rt.factory, "meta", encode(messenger_message("Breaks", mid=BAD)))
    retry_unprocessed(rt.factory, older_than=timedelta(0), max_attempts=1)
    staff(rt)
    with TestClient(create_app(rt)) as client:
        response = client.post(f"/api/webhook-deliveries/{bad}/retry", headers=api_token(client))
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"webhook delivery {bad} failed again (attempt 2): {ERROR}"
    )
    assert _delivery(rt, bad).failed_at is not None, "still waiting for a person"


def test_supervisors_see_bodies_not_read_or_not_wholly_used(rt: Runtime) -> None:
    postback = messenger_message()
    event = postback["entry"][0]["messaging"][0]
    del event["message"]
    event["postback"] = {"title": "Get started", "payload": "START"}
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, b"{not json").status_code == 400
        assert post_meta(client, postback).status_code == 200
        assert post_meta(client, messenger_message()).status_code == 200
    staff(rt, "sam", "supervisor")
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "sam")
        page = html.unescape(client.get("/supervisor/webhooks").text)
        listed = client.get("/api/supervisor/webhooks", headers=api_token(client, "sam")).json()
        agent = client.get("/api/supervisor/webhooks", headers=api_token(client, "alice"))
    assert "Could not be read (" in page and "answered 400, the body is kept." in page
    assert "not used: messenger event ['postback'] is not handled." in page
    assert [d["outcome"] for d in listed["items"]] == ["ignored", "malformed"], (
        "newest first; the body taken in whole is not listed"
    )
    assert agent.status_code == 403
