"""Secrets and message bodies stay out of the logs, even at DEBUG."""

from __future__ import annotations

import logging
import re

import pytest
from litestar.testing import TestClient

from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import drop, make_email, staff

PASSWORD = "correct horse battery"
BODY = "My secret PIN is 4711 and the roaming charge of 80 euro is wrong"


def test_login_and_a_pipeline_pass_log_no_password_token_or_body(
    rt: Runtime, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    staff(rt, "alice")
    drop(rt, make_email(body=BODY), "logs")
    worker.drain()
    with TestClient(create_app(rt)) as client:
        token = client.post("/api/login", json={"username": "alice", "password": PASSWORD})
        token = token.json()["token"]
        client.post("/api/login", json={"username": "alice", "password": "wrong " + PASSWORD})
        page = client.get("/login")
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
        client.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "_csrf_token": csrf},
            follow_redirects=False,
        )
        session = next(c.value for c in client.cookies.jar if c.name == "responder_session")
        client.get("/api/queue", headers={"Authorization": f"Bearer {token}"})
    logged = caplog.text
    assert "drafted" in logged or "in_review" in logged, "the pipeline logged nothing at all"
    for secret in (PASSWORD, token, session, csrf, BODY, "PIN is 4711"):
        assert secret not in logged, f"{secret[:12]}... appeared in the logs"
