"""Dovecot stopped in the middle of a poll (between two fetched batches) and started again.

The IDLE case is in tests/test_imap_ingestion.py; this is the worker loop's `poll()`: the batch
committed before the stop is kept, the poll backs off instead of failing the worker, and the
next poll after the restart fetches the rest, each message exactly once.
"""

from __future__ import annotations

from sqlalchemy import select

from responder.bootstrap import imap_pollers
from responder.db.models import ImapFolder
from responder.runtime import Runtime
from tests.dovecot import Dovecot, dovecot
from tests.smtp_server import smtp_server
from tests.test_imap_ingestion import email, inbound, settings, wait_until

__all__ = ["dovecot", "settings", "smtp_server"]


def test_server_stopped_mid_poll_backfills_each_message_once(rt: Runtime, dovecot: Dovecot) -> None:
    rt.settings.imap.fetch_batch = 2
    (poller,) = imap_pollers(rt)
    for n in range(1, 6):
        dovecot.append(email(n))
    store = poller.state.store
    batches: list[int] = []

    def store_then_server_stops(*args: object) -> int:
        stored = store(*args)  # type: ignore[arg-type]
        batches.append(stored)
        if len(batches) == 1:
            dovecot.stop()  # the real server goes away between two FETCHes of one poll
        return stored

    poller.state.store = store_then_server_stops  # type: ignore[method-assign]
    assert poller.poll() == 0  # the connection error is backed off, not raised
    assert [m.message_id_header for m in inbound(rt)] == [
        "<imap-1@mail.test>",
        "<imap-2@mail.test>",
    ]

    dovecot.deliver_offline(email(6), "six")
    dovecot.start()
    wait_until(lambda: poller.poll() >= 0 and len(inbound(rt)) == 6, "the rest after the restart")
    assert poller.poll() == 0

    messages = inbound(rt)
    assert sorted(m.message_id_header for m in messages) == sorted(
        f"<imap-{n}@mail.test>" for n in range(1, 7)
    )
    assert len({m.external_key for m in messages}) == 6
    with rt.factory() as session:
        folder = session.scalar(select(ImapFolder))
        assert folder is not None and folder.last_uid == 6
