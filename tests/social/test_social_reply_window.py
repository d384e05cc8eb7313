"""The review page warns, beside Approve, when the platform's reply window has closed or is
about to, by the same rule the sender holds replies with."""

from __future__ import annotations

import html
from typing import Any

from litestar.testing import TestClient

from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.social.payloads import messenger_message, post_meta, post_x, whatsapp_message, x_dm
from tests.test_web_security import login


def _review_page(rt: Runtime, worker: Worker, payload: dict[str, Any], x: bool = False) -> str:
    staff(rt)
    with TestClient(create_app(rt)) as client:
        assert (post_x if x else post_meta)(client, payload).json()["stored"] == 1
        worker.drain()
        (item,) = client.get("/api/queue", headers=api_token(client)).json()
        login(client, "alice")
        return client.get(f"/messages/{item['id']}").text


def _warning(page: str) -> str:
    start = page.index('id="reply-window">')
    return html.unescape(page[start + len('id="reply-window">') : page.index("</p>", start)])


def test_a_closed_messenger_window_is_named_before_approving(rt: Runtime, worker: Worker) -> None:
    page = _review_page(rt, worker, messenger_message(hours_ago=25))
    warning = _warning(page)
    assert warning.startswith("The Messenger reply window closed at ")
    assert "accepts replies only within 24 hours of the customer's last message" in warning
    assert "will be held, not sent" in warning
    assert page.index('id="reply-window"') < page.index('id="approve-button"'), "near Approve"


def test_a_window_closing_within_the_hour_says_when(rt: Runtime, worker: Worker) -> None:
    warning = _warning(_review_page(rt, worker, whatsapp_message(hours_ago=23.5)))
    assert warning.startswith("The WhatsApp reply window closes at ")
    assert "(in 29 minutes)" in warning or "(in 30 minutes)" in warning
    assert "approve before then or the reply is held" in warning


def test_with_a_whatsapp_template_the_warning_says_it_is_sent_instead(
    rt: Runtime, worker: Worker
) -> None:
    rt.settings.social.whatsapp_template = "service_follow_up"
    warning = _warning(_review_page(rt, worker, whatsapp_message(hours_ago=30)))
    assert 'Approving sends the approved template "service_follow_up" instead' in warning
    assert "which is held, not sent, until the customer writes again" in warning


def test_no_warning_while_the_window_is_open(rt: Runtime, worker: Worker) -> None:
    page = _review_page(rt, worker, messenger_message(hours_ago=2))
    assert 'id="approve-button"' in page and 'id="reply-window"' not in page


def test_no_warning_where_the_platform_has_no_window(rt: Runtime, worker: Worker) -> None:
    page = _review_page(rt, worker, x_dm(), x=True)
    assert 'id="approve-button"' in page and 'id="reply-window"' not in page
