"""A CRM import that links senders leaves their waiting drafts to the workers: the import
returns with them queued, a worker writes them again for the known customer (not one a person
is typing in), and a worker stopped mid-batch leaves the rest to the next, none written twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.customers import redraft_queue
from responder.customers.importer import import_csv
from responder.db.models import (
    AuditEntry,
    Customer,
    Draft,
    ImportRedraft,
    Message,
    ReviewAction,
    StaffUser,
    utcnow,
)
from responder.db.session import transaction
from responder.drafting import customer_known
from responder.drafting.customer_known import redraft_queued
from responder.pipeline.stages import StageCrash
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.customers.own_words import save_own_words
from tests.helpers import api_token, drop, make_email, run_cli, staff
from tests.test_web_security import csrf, login

SENDER = "dbrennan.home@gmail.test"  # Declan Brennan (C1002), from an address not on file
CRM = f"external_id,name,email\nC1002,Declan Brennan,{SENDER}\n"
PAGE = "/api/supervisor/customer-data"


def _declan_wrote(rt: Runtime, worker: Worker, times: int) -> list[int]:
    """Declan's messages from his home address, drafted for a sender nobody knew yet."""
    for n in range(1, times + 1):
        subject = f"Question {n} about my bill"
        drop(
            rt,
            make_email(sender=SENDER, subject=subject, body=f"Hi, {subject.lower()}, please."),
            f"{n}",
        )
    worker.drain()
    with rt.factory() as session:
        ids = list(
            session.scalars(
                select(Message.id).where(Message.direction == "in").order_by(Message.id)
            )
        )
    assert len(ids) == times
    assert all(_versions(rt, m) == [1] for m in ids)
    return ids


def _versions(rt: Runtime, message_id: int) -> list[int]:
    with rt.factory() as session:
        return list(
            session.scalars(
                select(Draft.version).where(Draft.message_id == message_id).order_by(Draft.version)
            )
        )


def _greeting(rt: Runtime, message_id: int) -> str:
    with rt.factory() as session:
        draft = session.scalars(
            select(Draft).where(Draft.message_id == message_id).order_by(Draft.version.desc())
        ).first()
        assert draft is not None
        return draft.body.split("\n")[0]


def _redraft_actions(rt: Runtime) -> list[tuple[int, int | None, dict[str, Any]]]:
    with rt.factory() as session:
        return [
            (m, u, d)
            for m, u, d in session.execute(
                select(ReviewAction.message_id, ReviewAction.user_id, ReviewAction.detail)
                .where(ReviewAction.action == "redraft")
                .order_by(ReviewAction.id)
            )
        ]


def _rows(rt: Runtime) -> list[tuple[int, str, bool]]:
    """Each queued draft: its message, outcome, and whether it is finished."""
    with rt.factory() as session:
        return [
            (m, outcome, done_at is not None)
            for m, outcome, done_at in session.execute(
                select(
                    ImportRedraft.message_id, ImportRedraft.outcome, ImportRedraft.done_at
                ).order_by(ImportRedraft.id)
            )
        ]


def test_a_web_import_returns_with_the_drafts_queued_and_a_worker_writes_them_again(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """Sam imports the CRM file through the API. It answers at once: Declan's three drafts
    will be written again by a worker, none is yet. Bob starts typing in one; the worker's
    round writes the other two for Declan, by Sam, and leaves Bob's as it is."""
    untouched, also_untouched, typing = _declan_wrote(rt, worker, 3)
    staff(rt, "sam", role="supervisor")
    staff(rt, "bob")
    with TestClient(create_app(rt)) as sam, TestClient(create_app(rt)) as bob:
        imported = sam.post(
            PAGE,
            headers=api_token(sam, "sam"),
            data={"kind": "customers", "dry_run": "false"},
            files={"file": ("crm.csv", CRM.encode(), "text/csv")},
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["redrafts"] == (
            "crm.csv: 3 waiting drafts of the senders it linked will be written again for them"
            " by a worker, except any a person has edited or is typing in then (its page offers"
            " a redraft): each draft's history says when."
        )
        assert all(_versions(rt, m) == [1] for m in (untouched, also_untouched, typing))
        assert _rows(rt) == [(m, "", False) for m in (untouched, also_untouched, typing)]
        with rt.factory() as session:
            entry = session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "import.customers", AuditEntry.object_id == "crm.csv"
                )
            ).one()
        assert entry.detail["redrafts_queued"] == 3
        login(bob, "bob")  # Bob starts typing in one before a worker comes to it
        beat = bob.post(
            f"/messages/{typing}/presence",
            data={"editing": "1", "_csrf_token": csrf(bob, f"/messages/{typing}")},
        )
        assert beat.status_code == 200, beat.text

        worker.drain()

        assert _rows(rt) == [
            (untouched, "redrafted", True),
            (also_untouched, "redrafted", True),
            (typing, "being_edited", True),
        ]
        assert all("Declan" in _greeting(rt, m) for m in (untouched, also_untouched))
        assert _versions(rt, typing) == [1], "what a person is typing in is left alone"
        login(sam, "sam")
        assert 'id="redraft-button"' in sam.get(f"/messages/{typing}").text
        history = sam.get(f"/messages/{untouched}").text
        assert "drafted again" in history
    with rt.factory() as session:
        sam_id = session.scalar(select(StaffUser.id).where(StaffUser.username == "sam"))
        declan_id = session.scalar(select(Customer.id).where(Customer.external_id == "C1002"))
        audited = session.scalars(
            select(AuditEntry.object_id).where(AuditEntry.action == "draft.redraft")
        ).all()
    actions = _redraft_actions(rt)
    assert [(m, u) for m, u, _ in actions] == [(untouched, sam_id), (also_untouched, sam_id)]
    assert all(d["imported_from"] == "crm.csv" for _, _, d in actions)
    assert all(d["for_customer"] == declan_id for _, _, d in actions)
    assert sorted(audited) == sorted([str(untouched), str(also_untouched)])

    worker.drain()
    assert _versions(rt, untouched) == [1, 2], "a finished draft is not written again"


def test_responder_import_leave_redrafts_says_they_are_queued_and_worker_once_writes_them(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (message,) = _declan_wrote(rt, worker, 1)
    crm = tmp_path / "crm.csv"
    crm.write_text(CRM)
    out = run_cli(rt, project, "import", "customers", str(crm), "--leave-redrafts", capsys=capsys)
    assert (
        f"{crm}: 1 waiting draft of the senders it linked will be written again for them by a"
        " worker" in out
    )
    assert _versions(rt, message) == [1]
    run_cli(rt, project, "worker", "--once", capsys=capsys)
    assert _versions(rt, message) == [1, 2]
    [(_, user, detail)] = _redraft_actions(rt)
    assert user is None and detail["by"] == "cli" and detail["imported_from"] == str(crm)


def test_responder_import_writes_the_drafts_it_queued_before_it_returns(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No worker runs: the nightly import writes Declan's untouched draft again itself, keeps
    the one Alice saved, and says so."""
    untouched, edited = _declan_wrote(rt, worker, 2)
    staff(rt, "alice")
    with TestClient(create_app(rt)) as alice:
        login(alice, "alice")
        save_own_words(alice, edited)
    crm = tmp_path / "crm.csv"
    crm.write_text(CRM)
    out = run_cli(rt, project, "import", "customers", str(crm), capsys=capsys)
    assert (
        f"{crm}: 1 waiting draft of the senders it linked was written again for them; 1 waiting"
        " draft a person had edited was kept as written: its page offers a redraft.\n" in out
    )
    assert "Declan" in _greeting(rt, untouched)
    assert _versions(rt, edited) == [1, 2], "Alice's saved version, not a redraft"
    assert _rows(rt) == [(untouched, "redrafted", True), (edited, "kept_edited", True)]


def _crash_at(monkeypatch: pytest.MonkeyPatch, calls: int) -> list[int]:
    """The worker dies as it writes its `calls`th draft (in its transaction, not committed);
    the messages it began writing."""
    began: list[int] = []
    write = customer_known.redraft_for_customer

    def dying(rt: Runtime, session: Any, message_id: int, *args: Any, **kwargs: Any) -> Any:
        began.append(message_id)
        if len(began) == calls:
            raise StageCrash("killed mid-batch")
        return write(rt, session, message_id, *args, **kwargs)

    monkeypatch.setattr(customer_known, "redraft_for_customer", dying)
    return began


def _lease_runs_out(rt: Runtime) -> None:
    """Time passes: the claims held on the queue lapse, as a dead worker's do."""
    with transaction(rt.factory) as session:
        session.execute(
            update(ImportRedraft)
            .where(ImportRedraft.claimed_by.is_not(None))
            .values(claimed_until=utcnow() - timedelta(seconds=1))
        )


def test_a_worker_stopped_mid_batch_leaves_the_rest_to_the_next_and_writes_none_twice(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four drafts queued; the first worker writes one and dies writing the second. While its
    lease lasts, another worker takes none of them; once it has run out, the other writes the
    three left, and each draft was written again exactly once."""
    messages = _declan_wrote(rt, worker, 4)
    crm = tmp_path / "crm.csv"
    crm.write_text(CRM)
    summary = import_csv(rt.factory, "customers", crm, settings=rt.settings)
    assert len(summary.redraft_ids) == 4
    began = _crash_at(monkeypatch, calls=2)
    with pytest.raises(StageCrash):
        worker.redraft_imported()
    assert began == messages[:2]
    assert _rows(rt) == [(messages[0], "redrafted", True)] + [(m, "", False) for m in messages[1:]]
    monkeypatch.undo()

    assert redraft_queued(rt, "another-worker") == 0, "the dead worker's lease still holds them"
    _lease_runs_out(rt)
    assert redraft_queued(rt, "another-worker") == 3
    assert _rows(rt) == [(m, "redrafted", True) for m in messages]
    assert all(_versions(rt, m) == [1, 2] for m in messages)
    assert sorted(m for m, _, _ in _redraft_actions(rt)) == messages


def test_a_worker_whose_lease_ran_out_does_not_write_a_draft_another_has_written(
    rt: Runtime, worker: Worker, demo_customers: None, tmp_path: Path
) -> None:
    """A slow worker's claim lapses; a second worker takes the rows and writes them. When the
    slow one comes to them, they are no longer its own: it writes none of them again."""
    messages = _declan_wrote(rt, worker, 2)
    crm = tmp_path / "crm.csv"
    crm.write_text(CRM)
    summary = import_csv(rt.factory, "customers", crm, settings=rt.settings)
    slow = redraft_queue.claim(rt.factory, "slow-worker", 10, 300)
    assert slow == summary.redraft_ids
    _lease_runs_out(rt)
    assert redraft_queued(rt, "quick-worker") == 2
    assert [customer_known._redraft_row(rt, "slow-worker", row) for row in slow] == [0, 0]
    assert all(_versions(rt, m) == [1, 2] for m in messages)
    assert len(_redraft_actions(rt)) == 2


def _queue_declans(rt: Runtime, worker: Worker, tmp_path: Path, times: int) -> list[int]:
    """Declan's messages, drafted, and a CRM import that queued them all to be written again."""
    messages = _declan_wrote(rt, worker, times)
    crm = tmp_path / "crm.csv"
    crm.write_text(CRM)
    summary = import_csv(rt.factory, "customers", crm, settings=rt.settings)
    assert len(summary.redraft_ids) == times
    return messages


def _drafted(rt: Runtime, subject: str) -> bool:
    with rt.factory() as session:
        return (
            session.scalar(
                select(Draft.id)
                .join(Message, Draft.message_id == Message.id)
                .where(Message.subject == subject)
            )
            is not None
        )


def test_a_large_import_is_written_a_batch_a_round_and_new_mail_waits_for_one_batch_only(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Declan's three drafts are queued, two to a batch. Aoife writes in while the worker
    writes the first two: that round writes those two and no more, and the next drafts her
    message before it writes Declan's last one."""
    messages = _queue_declans(rt, worker, tmp_path, 3)
    pipeline = msgspec.structs.replace(rt.settings.pipeline, batch_size=2)
    monkeypatch.setattr(rt, "settings", msgspec.structs.replace(rt.settings, pipeline=pipeline))
    hers = "My router keeps dropping"
    hers_drafted: list[bool] = []  # as each of Declan's drafts is written
    write = customer_known._redraft_row

    def writing(runtime: Runtime, worker_id: str, row_id: int) -> int:
        if not hers_drafted:
            drop(rt, make_email(subject=hers, body="Hi, my router keeps dropping."), "aoife")
        hers_drafted.append(_drafted(rt, hers))
        return write(runtime, worker_id, row_id)

    monkeypatch.setattr(customer_known, "_redraft_row", writing)

    worker.drain()
    assert _rows(rt) == [(m, "redrafted", True) for m in messages[:2]] + [(messages[2], "", False)]
    assert worker.work_event.is_set(), "drafts are left to write: the next round starts at once"

    worker.drain()
    assert _rows(rt) == [(m, "redrafted", True) for m in messages]
    assert hers_drafted == [False, False, True]


def _embedding(monkeypatch: pytest.MonkeyPatch, fails: Any) -> list[tuple[int, ...]]:
    """The messages the workers embed to write their drafts again, each call's; `fails(ids)`
    says whether the model fails that call."""
    embed = customer_known.embed_before_writing
    embedded: list[tuple[int, ...]] = []

    def embedding(runtime: Runtime, *message_ids: int) -> None:
        embedded.append(message_ids)
        if fails(message_ids):
            raise RuntimeError("the embedding model would not load")
        embed(runtime, *message_ids)

    monkeypatch.setattr(customer_known, "embed_before_writing", embedding)
    return embedded


def _time_passes(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """The queue's clock moves on: back-offs run out, finished rows grow old."""
    later = utcnow() + by
    monkeypatch.setattr(redraft_queue, "utcnow", lambda: later)
    monkeypatch.setattr(customer_known, "utcnow", lambda: later)  # back-offs start from it


def _notice(rt: Runtime, message_id: int) -> str:
    """What the draft's page says of the workers' attempts ("" for nothing)."""
    with TestClient(create_app(rt)) as client:
        login(client, "sam")
        page = client.get(f"/messages/{message_id}").text
    start = page.find('id="import-redraft-failed">')
    return "" if start < 0 else page[start:].split(">", 1)[1].split("</p>", 1)[0]


def test_a_draft_the_model_cannot_embed_for_a_while_is_tried_again_and_written(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The embedding model will not load when the worker comes to Declan's two drafts: they
    are not marked failed; each page says why and that it is tried again, and no round tries
    before then. Twice; then the model loads, and the next try writes both for Declan."""
    messages = _queue_declans(rt, worker, tmp_path, 2)
    staff(rt, "sam", role="supervisor")
    loaded = False
    embedded = _embedding(monkeypatch, lambda _: not loaded)

    worker.drain()
    assert _rows(rt) == [(m, "", False) for m in messages]
    assert all(_versions(rt, m) == [1] for m in messages)
    said = _notice(rt, messages[0])
    assert said.startswith(
        f"After the import of {tmp_path / 'crm.csv'}, a worker could not write it again"
        " (RuntimeError: the embedding model would not load; 1 attempt): it tries again at "
    ), said
    embedded.clear()
    worker.drain()
    assert embedded == [], "not before its back-off is over"

    _time_passes(monkeypatch, timedelta(hours=1))
    worker.drain()
    assert _rows(rt) == [(m, "", False) for m in messages]
    assert "2 attempts): it tries again at" in _notice(rt, messages[1])

    _time_passes(monkeypatch, timedelta(hours=2))
    assert "2 attempts): it is tried again at the workers' next round." in _notice(rt, messages[1])
    loaded = True
    worker.drain()
    assert _rows(rt) == [(m, "redrafted", True) for m in messages]
    assert all("Declan" in _greeting(rt, m) for m in messages)
    assert all(_versions(rt, m) == [1, 2] for m in messages)
    assert _notice(rt, messages[0]) == ""


def test_a_draft_whose_message_cannot_be_embedded_fails_alone_after_its_attempts(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The model chokes on Declan's second message, so the batch's embedding fails: the
    worker still writes the other two, and tries that one again after each back-off. After
    the last attempt it is marked failed, its page says why and offers a redraft, and no later
    round takes it again."""
    messages = _queue_declans(rt, worker, tmp_path, 3)
    staff(rt, "sam", role="supervisor")
    choking_on = messages[1]
    embedded = _embedding(monkeypatch, lambda ids: choking_on in ids)
    attempts = rt.settings.pipeline.max_attempts

    worker.drain()
    assert _rows(rt) == [
        (messages[0], "redrafted", True),
        (choking_on, "", False),
        (messages[2], "redrafted", True),
    ]
    for hours in range(1, attempts):
        embedded.clear()
        _time_passes(monkeypatch, timedelta(hours=hours))
        worker.drain()
        assert embedded[-1] == (choking_on,), "tried again, alone"
    assert _rows(rt)[1] == (choking_on, "failed", True)
    assert _versions(rt, choking_on) == [1]
    assert _notice(rt, choking_on) == (
        f"After the import of {tmp_path / 'crm.csv'}, a worker could not write it again"
        f" (RuntimeError: the embedding model would not load; {attempts} attempts): it is no"
        " longer tried by itself."
    )
    with TestClient(create_app(rt)) as sam:
        login(sam, "sam")
        assert 'id="redraft-button"' in sam.get(f"/messages/{choking_on}").text
    embedded.clear()
    _time_passes(monkeypatch, timedelta(days=2))
    _lease_runs_out(rt)
    worker.drain()
    assert embedded == [], "nothing is left to write again"
    assert _versions(rt, choking_on) == [1]


def test_a_draft_whose_writing_kills_the_worker_is_marked_failed_after_its_attempts(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Embedding Declan's second message kills the worker (out of memory): each worker that
    claims it dies before it finishes, its lease runs out, and the next claims it again. After
    `max_attempts` claims it is marked failed, its page saying the worker stopped each time
    and offering a redraft, and no later round takes it again. The first draft was written
    before the first crash; the third, which that crash left behind with it, is tried alone
    as the killer is but goes first once the killer has been tried more, so it is written
    long before the killer is given up."""
    messages = _queue_declans(rt, worker, tmp_path, 3)
    staff(rt, "sam", role="supervisor")
    killing = messages[1]

    def dying(ids: tuple[int, ...]) -> bool:
        if killing in ids:
            raise StageCrash("out of memory")
        return False

    embedded = _embedding(monkeypatch, dying)
    attempts = rt.settings.pipeline.max_attempts
    crashes = 0
    third_written_by: int | None = None
    for _ in range(2 * attempts):  # bounded: a draft that is never given up fails the test
        try:
            worker.redraft_imported()
        except StageCrash:
            crashes += 1
            assert _notice(rt, killing) == "", "nothing to say while it may still be written"
            _lease_runs_out(rt)
        if third_written_by is None and _rows(rt)[2] == (messages[2], "redrafted", True):
            third_written_by = crashes
        if _rows(rt)[1][1] == "failed":
            break
    assert crashes == attempts, "claimed max_attempts times, each ending in the worker's death"
    assert third_written_by == 3, "written in the third worker's turn, not held up by the killer"
    assert _rows(rt) == [
        (messages[0], "redrafted", True),
        (killing, "failed", True),
        (messages[2], "redrafted", True),
    ]
    assert _versions(rt, killing) == [1]
    assert _notice(rt, killing) == (
        f"After the import of {tmp_path / 'crm.csv'}, a worker could not write it again"
        " (the worker writing it stopped each time before it finished: it may have run out of"
        f" memory; {attempts} attempts): it is no longer tried by itself."
    )
    with TestClient(create_app(rt)) as sam:
        login(sam, "sam")
        assert 'id="redraft-button"' in sam.get(f"/messages/{killing}").text
    embedded.clear()
    _lease_runs_out(rt)
    assert worker.redraft_imported() == 0
    assert embedded == [], "nothing is left to write again"


def test_a_draft_that_stopped_a_worker_is_still_tried_alone_after_its_turn_is_given_back(
    rt: Runtime, worker: Worker, demo_customers: None, tmp_path: Path
) -> None:
    """A worker died writing Declan's first draft. The next, which took it alone, is asked to
    stop before it starts and gives its attempt back: the draft is still one that stopped a
    worker, so the one after takes it alone again, not in a batch with the draft nobody has
    tried (which it would cost an attempt if it kills that worker too)."""
    _queue_declans(rt, worker, tmp_path, 2)
    with rt.factory() as session:
        first, second = session.scalars(select(ImportRedraft.id).order_by(ImportRedraft.id))
    lease = rt.settings.pipeline.lease_seconds
    assert redraft_queue.claim(rt.factory, "died", 10, lease, only=[first]) == [first]
    _lease_runs_out(rt)
    assert redraft_queue.claim(rt.factory, "stopped", 10, lease) == [first], "alone"
    redraft_queue.release(rt.factory, "stopped")
    with rt.factory() as session:
        assert session.get(ImportRedraft, first).attempts == 1, "the stopped one's given back"
    assert redraft_queue.claim(rt.factory, "next", 10, lease) == [first], "alone again"
    redraft_queue.release(rt.factory, "next")
    assert redraft_queue.claim(rt.factory, "died", 10, lease, only=[second]) == [second]


def test_a_draft_that_failed_and_then_stopped_its_workers_keeps_the_failures_reason(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The model would not load for Declan's draft once; each worker after that died writing
    it. Given up, its page keeps the first reason and adds that the last worker stopped."""
    (message,) = _queue_declans(rt, worker, tmp_path, 1)
    staff(rt, "sam", role="supervisor")
    dying: list[str] = []

    def failing_then_dying(ids: tuple[int, ...]) -> bool:
        if dying:
            raise StageCrash("out of memory")
        return True

    _embedding(monkeypatch, failing_then_dying)
    assert worker.redraft_imported() == 0
    assert "the embedding model would not load; 1 attempt" in _notice(rt, message)
    attempts = rt.settings.pipeline.max_attempts
    _time_passes(monkeypatch, timedelta(days=1))
    dying.append("from now on")
    for _ in range(2, attempts + 1):
        with pytest.raises(StageCrash):
            worker.redraft_imported()
        _lease_runs_out(rt)
    assert worker.redraft_imported() == 1
    assert _rows(rt) == [(message, "failed", True)]
    assert _notice(rt, message) == (
        f"After the import of {tmp_path / 'crm.csv'}, a worker could not write it again"
        " (RuntimeError: the embedding model would not load; at the last attempt the worker"
        f" writing it stopped before it finished; {attempts} attempts): it is no longer tried"
        " by itself."
    )


def test_a_worker_asked_to_stop_mid_batch_gives_back_the_attempts_it_did_not_make(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker is asked to stop after writing the first of Declan's three drafts: the
    other two are let go of with no attempt counted, and the next round writes them together,
    as drafts nobody has tried."""
    messages = _queue_declans(rt, worker, tmp_path, 3)
    embedded = _embedding(monkeypatch, lambda _: False)
    write = customer_known._redraft_row

    def writing_then_stopped(runtime: Runtime, worker_id: str, row_id: int) -> int:
        written = write(runtime, worker_id, row_id)
        worker.stop_event.set()
        return written

    monkeypatch.setattr(customer_known, "_redraft_row", writing_then_stopped)
    assert worker.redraft_imported() == 1
    monkeypatch.setattr(customer_known, "_redraft_row", write)
    with rt.factory() as session:
        attempts = list(session.scalars(select(ImportRedraft.attempts).order_by(ImportRedraft.id)))
    assert attempts == [1, 0, 0]
    assert _rows(rt) == [(messages[0], "redrafted", True)] + [(m, "", False) for m in messages[1:]]

    embedded.clear()
    assert redraft_queued(rt, "next-worker") == 2
    assert embedded[0] == tuple(messages[1:]), "one batch, not one at a time"
    assert _rows(rt) == [(m, "redrafted", True) for m in messages]


def test_finished_redrafts_are_deleted_after_the_retention_and_recent_ones_kept(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Declan's first draft was written again 20 days ago, his second just now; 15 days on
    (the retention is 30) the workers delete the first's row and keep the second's. The
    draft written stays, and so does its history."""
    written_long_ago, written_now = _queue_declans(rt, worker, tmp_path, 2)
    worker.drain()
    assert _rows(rt) == [(m, "redrafted", True) for m in (written_long_ago, written_now)]
    with transaction(rt.factory) as session:
        session.execute(
            update(ImportRedraft)
            .where(ImportRedraft.message_id == written_long_ago)
            .values(done_at=utcnow() - timedelta(days=20))
        )
    assert rt.settings.pipeline.import_redraft_retention_days == 30
    _time_passes(monkeypatch, timedelta(hours=2))
    worker.drain()
    assert len(_rows(rt)) == 2, "not yet past the retention"

    _time_passes(monkeypatch, timedelta(days=15))
    worker.drain()
    assert _rows(rt) == [(written_now, "redrafted", True)]
    assert _versions(rt, written_long_ago) == [1, 2]
    assert written_long_ago in [m for m, _, _ in _redraft_actions(rt)]
