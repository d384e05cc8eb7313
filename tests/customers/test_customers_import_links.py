"""A CRM import that links a sender who wrote in first: their waiting drafts are written again
for the known customer by a worker (a person's edits and typing are kept), and an agent linking
the same sender from its page while the batch runs does not fail the import."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from responder.customers import importer
from responder.customers.importer import ImportSummary, import_csv
from responder.customers.links import active_link, link_customers
from responder.customers.redraft_queue import outcomes
from responder.customers.resolve import find_customer, resolve_identity
from responder.db.models import (
    AuditEntry,
    Channel,
    Customer,
    CustomerLink,
    Draft,
    ImportRedraft,
    Message,
    ReviewAction,
)
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.customers.own_words import save_own_words
from tests.helpers import drop, make_email, run_cli, staff
from tests.test_web_security import csrf, login

SENDER = "dbrennan.home@gmail.test"  # Declan Brennan (C1002), from an address not on file


def _latest(rt: Runtime, message_id: int) -> Draft:
    with rt.factory() as session:
        draft = session.scalars(
            select(Draft).where(Draft.message_id == message_id).order_by(Draft.version.desc())
        ).first()
        assert draft is not None
        return draft


def test_an_import_linking_a_sender_writes_their_waiting_drafts_again_but_not_a_persons(
    rt: Runtime,
    worker: Worker,
    demo_customers: None,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Declan wrote three times from his home address before the CRM had it. Alice saved her
    own words in one draft. The nightly import names the address and leaves the drafts to the
    workers; Bob starts typing in another before the worker comes to it. The untouched draft
    greets Declan now; Alice's and Bob's drafts stay as they are, and their pages offer the
    redraft."""
    for n, subject in enumerate(("Roaming charges", "Please send my PAC code", "Lost phone"), 1):
        body = f"Hi, {subject.lower()}, please."
        drop(
            rt,
            make_email(sender=SENDER, subject=subject, body=body, message_id=f"<h{n}@gmail.test>"),
            f"{n}",
        )
    worker.drain()
    with rt.factory() as session:
        untouched, edited, typing = session.scalars(
            select(Message.id).where(Message.direction == "in").order_by(Message.id)
        )
        declan_id = session.scalar(select(Customer.id).where(Customer.external_id == "C1002"))
    assert all(_latest(rt, m).body.startswith("Hello,") for m in (untouched, edited, typing))
    staff(rt, "alice")
    staff(rt, "bob")
    with TestClient(create_app(rt)) as alice, TestClient(create_app(rt)) as bob:
        login(alice, "alice")
        own = save_own_words(alice, edited)

        crm = tmp_path / "crm.csv"
        crm.write_text(f"external_id,name,email\nC1002,Declan Brennan,{SENDER}\n")
        out = run_cli(
            rt, project, "import", "customers", str(crm), "--leave-redrafts", capsys=capsys
        )
        assert f"{crm}:2: email '{SENDER}' wrote to us before the CRM had them" in out
        assert (
            f"{crm}: 3 waiting drafts of the senders it linked will be written again for them by"
            " a worker" in out
        )
        login(bob, "bob")  # Bob starts typing in one before a worker comes to it
        beat = bob.post(
            f"/messages/{typing}/presence",
            data={"editing": "1", "_csrf_token": csrf(bob, f"/messages/{typing}")},
        )
        assert beat.status_code == 200, beat.text
        worker.drain()
        with rt.factory() as session:
            queued = session.scalars(select(ImportRedraft.id)).all()
            assert outcomes(session, queued).words(str(crm)) == (
                f"{crm}: 1 waiting draft of the senders it linked was written again for them; 1"
                " waiting draft a person had edited was kept as written: its page offers a"
                " redraft; 1 waiting draft a person was typing in was left alone: its page"
                " offers a redraft."
            ), "what `responder import` says when it writes them itself"
        assert "Declan" in _latest(rt, untouched).body.split("\n")[0], "greets the known customer"
        assert _latest(rt, edited).body == own, "a person's words are never replaced unasked"
        assert _latest(rt, typing).version == 1, "nor what a person is typing"
        kept = alice.get(f"/messages/{edited}").text
        assert "written before the customer was known to be Declan Brennan" in kept
        assert "A person has edited it since" in kept
        assert 'id="redraft-button"' in alice.get(f"/messages/{typing}").text
        assert 'id="customer-changed"' not in alice.get(f"/messages/{untouched}").text
    with rt.factory() as session:
        redrafts = session.execute(
            select(ReviewAction.message_id, ReviewAction.user_id, ReviewAction.detail).where(
                ReviewAction.action == "redraft"
            )
        ).all()
    assert [(m, u) for m, u, _ in redrafts] == [(untouched, None)]
    assert redrafts[0].detail["by"] == "cli" and redrafts[0].detail["for_customer"] == declan_id
    assert redrafts[0].detail["imported_from"] == str(crm)


def _provisional_with_message(session: Session, channel: Channel, address: str, name: str) -> int:
    sender = resolve_identity(session, "email", address, name)
    session.add(
        Message(
            channel_id=channel.id,
            external_key=address,
            raw=b"",
            customer_id=sender.id,
            sender_address=address,
            sender_name=name,
            subject="My bill",
            text="Where is my bill?",
            new_text="Where is my bill?",
            state="in_review",
        )
    )
    return sender.id


def _senders_and_customers(rt: Runtime) -> dict[str, int]:
    """Bob and Cy wrote in first; C2, C3 and C4 are on file, without their addresses."""
    with transaction(rt.factory) as session:
        channel = Channel(name="mail", kind="maildir")
        known = [
            Customer(name=n, external_id=e) for e, n in (("C2", "Bob"), ("C3", "Cy"), ("C4", "Al"))
        ]
        session.add_all([channel, *known])
        session.flush()
        ids = {c.external_id or "": c.id for c in known}
        ids["bob"] = _provisional_with_message(session, channel, "bob@x.test", "Bob Ray")
        ids["cy"] = _provisional_with_message(session, channel, "cy@x.test", "Cy Dunne")
    return ids


def _one_link_each(rt: Runtime, ids: dict[str, int]) -> dict[str, tuple[int, str]]:
    """Each sender's link (target, by whom), checking it is its only one, with its message."""
    found: dict[str, tuple[int, str]] = {}
    with rt.factory() as session:
        for sender in ("bob", "cy"):
            links = session.scalar(
                select(func.count(CustomerLink.id)).where(CustomerLink.source_id == ids[sender])
            )
            link = active_link(session, ids[sender])
            if link is None:
                continue
            assert links == 1, f"{sender} was linked twice"
            moved = session.scalars(
                select(Message.customer_id).where(Message.sender_address == f"{sender}@x.test")
            ).all()
            assert moved == [link.target_id]
            found[sender] = (link.target_id, link.linked_by)
    return found


def test_an_agent_linking_a_sender_while_the_import_batch_runs_is_reported_not_a_failure(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch has read who holds the addresses; before it links, Alice links Bob to C2 and
    Cy to C4 on their customer pages. The import does not fail: Bob's line says Alice linked
    him, Cy's that he went to C4, so C3 is imported without his address."""
    ids = _senders_and_customers(rt)
    staff(rt, "alice")
    crm = tmp_path / "crm.csv"
    crm.write_text("external_id,name,email\nC2,Bob Ray,bob@x.test\nC3,Cy Dunne,cy@x.test\n")
    read = importer.ruled_out
    with TestClient(create_app(rt)) as client:
        login(client, "alice")

        def alice_links_first(session: Session, *args: Any) -> Any:
            for sender, target in (("bob", "C2"), ("cy", "C4")):
                linked = client.post(
                    f"/customers/{ids[sender]}/link",
                    data={
                        "target_id": str(ids[target]),
                        "_csrf_token": csrf(client, f"/customers/{ids[sender]}"),
                    },
                )
                assert "Linked to" in linked.text, linked.text
            monkeypatch.setattr(importer, "ruled_out", read)
            return read(session, *args)

        monkeypatch.setattr(importer, "ruled_out", alice_links_first)
        summary = import_csv(rt.factory, "customers", crm, settings=rt.settings)
    assert (summary.updated, summary.errors, summary.stopped) == (2, [], "")
    assert summary.linked == [
        f"{crm}:2: email 'bob@x.test' wrote to us before the CRM had them: alice linked that"
        " provisional customer to C2 while this import ran, with its messages"
    ]
    assert summary.not_linked == [
        f"{crm}:3: email 'cy@x.test' wrote to us before the CRM had them, but alice linked that"
        " provisional customer to C4 while this import ran: not linked to C3, which is"
        " imported without it"
    ]
    assert _one_link_each(rt, ids) == {"bob": (ids["C2"], "alice"), "cy": (ids["C4"], "alice")}
    with rt.factory() as session:
        assert find_customer(session, "email", "cy@x.test").id == ids["C4"]
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "import.customers")
        ).one()
        assert (entry.detail["linked"], entry.detail["not_linked"]) == (
            summary.linked,
            summary.not_linked,
        )


def _until_waiting_on_a_lock(rt: Runtime, racer: threading.Thread) -> None:
    """Until another session of this database waits for a row lock (or `racer` ended): asked
    of PostgreSQL again and again, never slept on."""
    deadline = time.monotonic() + 60
    with rt.engine.connect() as watcher:
        while racer.is_alive() and time.monotonic() < deadline:
            waiting = watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            watcher.rollback()
            if waiting:
                return
    assert not racer.is_alive(), "the import never came to wait for Alice"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_import_linking_a_sender_an_agent_is_linking_waits_for_the_agent(
    rt: Runtime, tmp_path: Path
) -> None:
    """Alice's link of Bob is written but not committed when the batch comes to link him: the
    batch waits for her commit and then finds her link, rather than moving his messages a
    second time under a link of its own (PostgreSQL: SQLite lets one writer in at a time)."""
    ids = _senders_and_customers(rt)
    crm = tmp_path / "crm.csv"
    crm.write_text("external_id,name,email\nC2,Bob Ray,bob@x.test\n")
    summaries: list[ImportSummary] = []
    failures: list[BaseException] = []

    def run_import() -> None:
        try:
            summaries.append(import_csv(rt.factory, "customers", crm, settings=rt.settings))
        except BaseException as exc:
            failures.append(exc)

    batch = threading.Thread(target=run_import, name="import")
    with transaction(rt.factory) as alice:
        link_customers(alice, ids["bob"], ids["C2"], "alice")
        batch.start()
        _until_waiting_on_a_lock(rt, batch)
    batch.join(60)
    assert not failures, failures
    [summary] = summaries
    assert summary.errors == [] and summary.linked == [
        f"{crm}:2: email 'bob@x.test' wrote to us before the CRM had them: alice linked that"
        " provisional customer to C2 while this import ran, with its messages"
    ]
    assert _one_link_each(rt, ids) == {"bob": (ids["C2"], "alice")}
