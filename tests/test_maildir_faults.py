"""A full or read-only disk under the Maildirs: a clear error, nothing lost, done once it clears.

Root ignores chmod, and CI runs as root, so the faults are real: a 64 KiB tmpfs that is filled
up (ENOSPC) or remounted read-only (EROFS). Without root the tests skip (fail under
RESPONDER_REQUIRE_SERVERS=1, like a missing server).
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from responder.channels.maildir_source import deliver_to_maildir
from responder.config import Settings
from responder.db.models import Message, OutboxItem, utcnow
from responder.db.session import transaction
from responder.pipeline.worker import Worker, state_counts
from responder.review import approve
from responder.runtime import Runtime
from tests.conftest import need_server
from tests.helpers import drop, make_email


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 64 KiB tmpfs of our own, unmounted afterwards."""
    if os.geteuid() != 0:
        need_server("a tmpfs mount (full and read-only disks) needs root")
    path = Path(tempfile.mkdtemp(prefix="rfs", dir="/tmp"))
    mounted = _mount("-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(path))
    if mounted.returncode:
        path.rmdir()
        need_server(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)
    path.rmdir()


def read_only(path: Path, on: bool) -> None:
    result = _mount("-o", f"remount,{'ro' if on else 'rw'}", str(path))
    assert result.returncode == 0, result.stderr


def fill(path: Path) -> Path:
    """Write zeros until the disk refuses: ENOSPC from then on, for root too."""
    filler = path / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


@pytest.fixture
def settings(settings: Settings, small_disk: Path) -> Settings:
    settings.outbound.sent_maildir = str(small_disk / "Sent")
    settings.maildir.path = str(small_disk / "inbox")
    for sub in ("tmp", "new", "cur"):
        (small_disk / "Sent" / sub).mkdir(parents=True)
        (small_disk / "inbox" / sub).mkdir(parents=True)
    return settings


def approved_reply(rt: Runtime, worker: Worker) -> None:
    drop(rt, make_email(), "disk")
    worker.drain()
    with transaction(rt.factory) as session:
        message_id = session.scalar(select(Message.id).where(Message.state == "in_review"))
        assert message_id is not None
        approve(session, message_id, None, rt.settings.outbound)


def outbox(rt: Runtime) -> tuple[Message, OutboxItem]:
    with rt.factory() as session:
        message = session.scalar(select(Message).where(Message.direction == "in"))
        item = session.scalar(select(OutboxItem))
        assert message is not None and item is not None
        return message, item


def time_passes(rt: Runtime) -> None:
    """The retry is due: what the clock would do, without waiting for it."""
    past = utcnow() - timedelta(seconds=1)
    with transaction(rt.factory) as session:
        session.execute(update(OutboxItem).values(next_attempt_at=past))
        session.execute(
            update(Message).where(Message.state == "approved").values(next_attempt_at=past)
        )


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_outbox_fault_is_shown_then_sent_once_when_it_clears(
    rt: Runtime,
    worker: Worker,
    small_disk: Path,
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = small_disk / "Sent"
    approved_reply(rt, worker)
    filler = fill(small_disk) if fault == "full" else None
    if fault == "read-only":
        read_only(small_disk, True)
    with caplog.at_level(logging.WARNING):
        worker.drain()

    expected = "No space left on device" if fault == "full" else "Read-only file system"
    message, item = outbox(rt)
    assert message.state == "approved" and message.next_attempt_at is not None
    assert expected in message.state_reason and "retrying" in message.state_reason
    assert expected in item.last_error and item.state == "queued"
    assert any(expected in r.getMessage() for r in caplog.records), "not in the log"
    assert not list((sent / "cur").iterdir())
    assert not list((sent / "tmp").iterdir()), "a partial reply was left behind"

    if filler:
        filler.unlink()
    else:
        read_only(small_disk, False)
    time_passes(rt)
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "sent" and item.state == "sent"
    files = list((sent / "cur").iterdir())
    assert len(files) == 1 and files[0].read_bytes() == item.raw


def test_read_only_inbox_stores_everything_once_and_says_so(
    rt: Runtime, worker: Worker, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = small_disk / "inbox"
    for n in range(3):
        raw = make_email(sender=f"c{n} <c{n}@mail.test>", message_id=f"<ro{n}@mail.test>")
        deliver_to_maildir(inbox, raw, f"ro{n}")
    read_only(small_disk, True)
    with caplog.at_level(logging.ERROR):
        worker.poll_sources()
        worker.poll_sources()  # the files are still in new/: stored once, not twice

    def stored() -> int:
        with rt.factory() as session:
            return session.scalar(select(func.count(Message.id))) or 0

    assert stored() == 3, "every message is stored although it cannot be moved"
    assert len(list((inbox / "new").iterdir())) == 3
    problem = [r for r in caplog.records if "left in" in str(r.exc_info and r.exc_info[1])]
    assert problem and "Read-only file system" in str(problem[0].exc_info[1])  # type: ignore[index]

    read_only(small_disk, False)
    worker.drain()
    assert stored() == 3
    assert not list((inbox / "new").iterdir()) and len(list((inbox / "cur").iterdir())) == 3
    assert state_counts(rt)["in_review"] == 3
