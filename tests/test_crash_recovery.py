"""A worker that dies at any point resumes without losing or duplicating anything.

The crash is simulated by a BaseException (like SystemExit on SIGKILL, nothing catches it) raised
before or after each stage in turn; "restart" is a fresh Worker on the same database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from responder.bootstrap import pollers
from responder.channels.maildir_source import MaildirSource
from responder.db.models import Draft, Message, OutboxItem
from responder.db.session import transaction
from responder.pipeline import worker as worker_module
from responder.pipeline.queue import Claim
from responder.pipeline.stages import STAGES, Stage, StageCrash
from responder.pipeline.worker import Worker, state_counts
from responder.review import approve
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import drop, make_email, sent_replies, staff
from tests.test_web_security import login


def crashing(stage_name: str, when: str) -> tuple[Stage, ...]:
    def wrap(stage: Stage) -> Stage:
        if stage.name != stage_name:
            return stage

        def run(
            rt: Runtime, ids: Sequence[int], claim: Claim | None, _run: Callable = stage.run
        ) -> None:
            if when == "before":
                raise StageCrash(f"killed before {stage_name}")
            _run(rt, ids, claim)
            raise StageCrash(f"killed after {stage_name}")

        return Stage(stage.name, stage.takes, run)

    return tuple(wrap(s) for s in STAGES)


def approve_waiting(rt: Runtime) -> None:
    with transaction(rt.factory) as session:
        for message_id in session.scalars(select(Message.id).where(Message.state == "in_review")):
            approve(session, message_id, None, rt.settings.outbound)


def assert_exactly_once(rt: Runtime) -> None:
    with rt.factory() as session:
        assert session.scalar(select(func.count(Message.id)).where(Message.direction == "in")) == 1
        assert session.scalar(select(func.count(Draft.id))) == 1
        assert session.scalar(select(func.count(OutboxItem.id))) == 1
    assert len(sent_replies(rt)) == 1
    assert state_counts(rt)["sent"] == 1


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("stage", ["parse", "classify", "draft", "route", "send"])
def test_restart_after_a_crash_at_each_stage(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, stage: str, when: str
) -> None:
    drop(rt, make_email(), "crash")
    monkeypatch.setattr(worker_module, "STAGES", crashing(stage, when))
    crashed = False
    for _ in range(2):  # before and after approval: the send stage only runs after it
        try:
            Worker(rt, pollers(rt)).drain()
        except StageCrash:
            crashed = True
            monkeypatch.setattr(worker_module, "STAGES", STAGES)
            Worker(rt, pollers(rt)).drain()  # the restart
        approve_waiting(rt)
    assert crashed
    Worker(rt, pollers(rt)).drain()
    assert_exactly_once(rt)


def test_crash_between_delivery_and_commit_does_not_send_twice(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop(rt, make_email(), "mid-send")
    Worker(rt, pollers(rt)).drain()
    approve_waiting(rt)
    original = type(rt.sender).deliver

    def deliver_then_die(self: object, reply: object) -> None:
        original(self, reply)  # type: ignore[arg-type]
        raise StageCrash("killed after the outbox accepted the reply")

    monkeypatch.setattr(type(rt.sender), "deliver", deliver_then_die)
    with pytest.raises(StageCrash):
        Worker(rt, pollers(rt)).drain()
    assert state_counts(rt)["sending"] == 1
    monkeypatch.setattr(type(rt.sender), "deliver", original)
    Worker(rt, pollers(rt)).drain()
    assert_exactly_once(rt)


def test_unknowable_delivery_is_marked_uncertain_not_resent(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like SMTP: after a crash mid-send nobody can ask the server, so staff are told."""
    drop(rt, make_email(), "uncertain")
    Worker(rt, pollers(rt)).drain()
    approve_waiting(rt)
    sender_type = type(rt.sender)
    original = sender_type.deliver

    def deliver_then_die(self: object, reply: object) -> None:
        original(self, reply)  # type: ignore[arg-type]
        raise StageCrash("killed mid-send")

    monkeypatch.setattr(sender_type, "deliver", deliver_then_die)
    monkeypatch.setattr(sender_type, "was_delivered", lambda self, reply: None)
    with pytest.raises(StageCrash):
        Worker(rt, pollers(rt)).drain()
    monkeypatch.setattr(sender_type, "deliver", original)
    Worker(rt, pollers(rt)).drain()
    assert len(sent_replies(rt)) == 1
    with rt.factory() as session:
        message = session.scalar(select(Message).where(Message.direction == "in"))
        item = session.scalar(select(OutboxItem))
        assert message.state == "failed"
        assert "delivery uncertain" in message.state_reason
        assert item.state == "uncertain"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message.id}").text
    said = page.split('id="outbox" data-state="uncertain">', 1)[1].split("</p>", 1)[0]
    assert ": may or may not have gone out. The worker stopped during delivery;" in said
    assert "Check the recipient&#39;s copy before retrying" in said


def test_crash_after_storing_before_moving_the_file_stores_it_once(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = drop(rt, make_email(), "store")
    original = MaildirSource._move_to_cur

    def die(self: MaildirSource, source: object, filename: str) -> None:
        raise StageCrash("killed between commit and rename")

    monkeypatch.setattr(MaildirSource, "_move_to_cur", die)
    with pytest.raises(StageCrash):
        Worker(rt, pollers(rt)).poll_sources()
    assert path.exists()
    monkeypatch.setattr(MaildirSource, "_move_to_cur", original)
    Worker(rt, pollers(rt)).drain()
    assert not path.exists()
    with rt.factory() as session:
        assert session.scalar(select(func.count(Message.id))) == 1
