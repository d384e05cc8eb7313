"""Operations: readiness without loading models, Prometheus metrics, JSON logs without contacts."""

from __future__ import annotations

import io
import json
import logging
import socket
import time

import msgspec
import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from responder.classify.embedder import Embedder
from responder.config import Settings
from responder.db.models import Customer, CustomerIdentity, Message
from responder.db.session import after_commit, transaction
from responder.ops.logs import configure_logging, redact
from responder.outbound import write_to_customer
from responder.pipeline.worker import Worker, state_counts
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.conftest import MODEL_CACHE
from tests.helpers import (
    api_token,
    auto_send_every_intent,
    drop,
    make_email,
    staff,
    staff_member,
)
from tests.live_server import serve


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_readyz_reports_models_without_loading_them(settings: Settings) -> None:
    rt = Runtime(settings, embedder=Embedder())
    with TestClient(create_app(rt)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["embedding_model"]["state"] == "loadable"
    assert checks["spacy_model"]["state"] == "loadable"
    assert not rt.embedder.loaded
    rt.engine.dispose()


def test_a_web_process_loads_the_models_a_redraft_needs_as_it_starts(settings: Settings) -> None:
    """So the first corrected intent after a start does not wait seconds for the encoder."""
    warm = msgspec.structs.replace(settings.web, warm_models=True)
    rt = Runtime(
        msgspec.structs.replace(settings, web=warm),
        embedder=Embedder(backend="onnx-int8", cache_dir=MODEL_CACHE),
    )
    with TestClient(create_app(rt)) as client:
        client.app.state.warming.join(timeout=600)  # the first int8 load on a machine exports it
        checks = client.get("/readyz").json()["checks"]
    assert checks["embedding_model"]["state"] == "loaded"
    assert checks["spacy_model"]["state"] == "loaded"
    rt.engine.dispose()


def test_readyz_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    unreachable = msgspec.structs.replace(
        settings.database, url="postgresql+psycopg://postgres@127.0.0.1:1/none"
    )
    rt = Runtime(msgspec.structs.replace(settings, database=unreachable), embedder=Embedder())
    with TestClient(create_app(rt)) as client:
        response = client.get("/readyz")
        health = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False
    assert health.status_code == 200


def test_metrics_show_the_queue_stages_and_model_batches(rt: Runtime, worker: Worker) -> None:
    for n in range(3):
        drop(rt, make_email(message_id=f"<m{n}@mail.test>", subject=f"Roaming {n}"), f"m{n}")
    worker.poll_sources()
    staff(rt, "alice")
    with transaction(rt.factory) as session:  # a new message staff wrote: the send stage's
        customer = Customer(name="Aoife Murphy")
        customer.identities.append(CustomerIdentity(kind="email", value="aoife@mail.test"))
        session.add(customer)
        session.flush()
        write_to_customer(
            session,
            rt.settings.outbound,
            customer.id,
            staff_member(session),
            to="aoife@mail.test",
            subject="Your repair is done",
            body="Collect it at the shop.",
        )
    app = create_app(rt)
    with TestClient(app) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 403
        rt.settings = msgspec.structs.replace(
            rt.settings,
            metrics=msgspec.structs.replace(rt.settings.metrics, allow_from=["testclient"]),
        )
        before = _samples(client.get("/metrics").text)
        worker.drain()
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)
    assert before[("responder_messages", (("state", "received"),))] == 3
    assert before[("responder_queue_depth", (("stage", "parse"),))] == 3
    assert before[("responder_queue_oldest_seconds", (("stage", "parse"),))] >= 0
    assert before[("responder_messages", (("state", "approved"),))] == 1
    assert before[("responder_queue_depth", (("stage", "send"),))] == 1
    assert after[("responder_messages", (("state", "in_review"),))] == 3
    assert after[("responder_messages", (("state", "sent"),))] == 1
    assert after[("responder_queue_depth", (("stage", "send"),))] == 0
    assert after[("responder_queue_depth", (("stage", "parse"),))] == 0
    key = ("responder_stage_duration_seconds_count", (("stage", "classify"),))
    assert after[key] >= before.get(key, 0) + 1
    batches = ("responder_model_batch_size_count", (("model", "embedding"),))
    assert after[batches] >= 1
    assert after[("responder_poller_lag_seconds", (("mailbox", "support"),))] >= 0


def test_json_logs_have_one_event_per_state_change_and_no_contacts(
    rt: Runtime, worker: Worker
) -> None:
    body = "Please ring me on 087 123 4567 about the roaming charge of 80 euro in Spain."
    drop(rt, make_email(body=body), "one")
    stream = io.StringIO()
    settings = msgspec.structs.replace(rt.settings.logging, format="json")
    handler = configure_logging(settings, "INFO", stream=stream)
    try:
        worker.drain()
        logging.getLogger("responder.test").warning("reply to aoife.murphy@gmail.test failed")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    changes = [(e["message_id"], e["state"]) for e in lines if "state" in e]
    message_id = changes[0][0]
    assert changes == [
        (message_id, "parsed"),
        (message_id, "classified"),
        (message_id, "drafted"),
        (message_id, "in_review"),
    ]
    text = stream.getvalue()
    assert "aoife.murphy@gmail.test" not in text and "[email]" in text
    assert "087 123 4567" not in text and "roaming charge" not in text


def test_redaction_keeps_message_ids_and_dates() -> None:
    assert redact("message 12345678 -> parsed at 2026-11-23 09:00") == (
        "message 12345678 -> parsed at 2026-11-23 09:00"
    )
    assert redact("from +353 87 123 4567 / a.b@c.ie") == "from [phone] / [email]"


class _ReadsTheDatabase(logging.Handler):
    """On each state-change event, reads that message's state over another connection, as a
    person or another process reading the log at that moment would."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(logging.INFO)
        self.rt = rt
        self.seen: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        state = getattr(record, "state", None)
        if state is None:
            return
        with self.rt.factory() as session:
            stored = session.scalar(select(Message.state).where(Message.id == record.message_id))
        self.seen.append((state, stored))


def test_a_logged_state_change_is_already_in_the_database(rt: Runtime, worker: Worker) -> None:
    # the drafting transaction also approves, in a savepoint, and a later one sends
    auto_send_every_intent(rt)
    drop(rt, make_email(subject="Roaming", body="Roaming in Spain costs 80 euro?"), "roam")
    drop(rt, make_email(message_id="<o@mail.test>", body="My broadband is down since 9."), "out")
    handler = _ReadsTheDatabase(rt)
    stages = logging.getLogger("responder.pipeline.stages")
    stages.addHandler(handler)
    stages.setLevel(logging.INFO)
    try:
        worker.drain()
    finally:
        stages.removeHandler(handler)
        stages.setLevel(logging.NOTSET)
    assert state_counts(rt)["sent"] == 2, "each reply once, not again as our stored copy"
    assert [logged for logged, _ in handler.seen].count("sent") == 2, handler.seen
    for logged, stored in handler.seen:
        # in_review and approved commit together when the reply goes out without a person
        assert stored == logged or (logged, stored) == ("in_review", "approved"), handler.seen


def test_a_callback_after_commit_needs_a_unit_of_work_that_runs_it(rt: Runtime) -> None:
    ran: list[str] = []
    with rt.factory() as session, pytest.raises(RuntimeError, match="transaction"):
        after_commit(session, lambda: ran.append("hand-committed"))
    with pytest.raises(ValueError), transaction(rt.factory) as session:
        after_commit(session, lambda: ran.append("rolled back"))
        raise ValueError("the unit of work fails")
    with transaction(rt.factory) as session:
        after_commit(session, lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_client_that_hangs_up_mid_request_is_not_logged_as_a_fault(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """A live preview overtaken by Save, a tab closed while a form was sent: the request body
    never arrives whole. Nothing of ours failed, so no ERROR line with a traceback."""
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
    with serve(rt) as base, caplog.at_level(logging.INFO):
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(
                b"POST /api/messages/1/notes HTTP/1.1\r\nHost: responder\r\n"
                + f"Authorization: {auth['Authorization']}\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
                + b'{"body": "half a no'
            )
        for _ in range(200):  # polling the log for the server's answer, up to 10 s
            if "client left before its request arrived" in caplog.text:
                break
            time.sleep(0.05)
    assert "client left before its request arrived (path='/api/messages/1/notes')" in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_only_server_faults_are_logged_as_errors(
    rt: Runtime, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bot's 404, a visit after the session ended and a refused request are answered, not
    logged as errors with tracebacks (an alert on ERROR lines would fire all day); a fault of
    ours still is, with its traceback."""
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client, caplog.at_level(logging.INFO):
        assert client.get("/wp-login.php").status_code == 404
        assert client.get("/queue", follow_redirects=False).status_code in (302, 303)
        auth = api_token(client)
        refused = client.get("/api/search", params={"q": "x1", "state": "open"}, headers=auth)
        assert refused.status_code == 400
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug of ours")

        monkeypatch.setattr("responder.web.search.search", broken)
        assert client.get("/api/search", params={"q": "xy"}, headers=auth).status_code == 500
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "path='/api/search'" in error.getMessage()
    assert "RuntimeError: a bug of ours" in caplog.text, "with its traceback"
