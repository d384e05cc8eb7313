"""The embedded default's outbox: each reply becomes one file in a Maildir (`mailbox/.Sent`).

The file name derives from the Message-ID, so delivering the same reply twice leaves one file,
and after a crash the outbox can tell whether the reply was already written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from pathlib import Path

from responder.channels.delivery import OutgoingReply, TemporaryDeliveryError


class MaildirOutbox:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _name(self, reply: OutgoingReply) -> str:
        digest = hashlib.sha256(reply.message_id_header.encode()).hexdigest()[:32]
        return f"{digest}.{socket.gethostname().replace('/', '_')}:2,S"

    def _existing(self, reply: OutgoingReply) -> Path | None:
        prefix = hashlib.sha256(reply.message_id_header.encode()).hexdigest()[:32] + "."
        for sub in ("cur", "new"):
            folder = self.path / sub
            if folder.is_dir():
                for name in os.listdir(folder):
                    if name.startswith(prefix):
                        return folder / name
        return None

    def deliver(self, reply: OutgoingReply) -> None:
        if self._existing(reply):
            return
        name = self._name(reply)
        tmp = self.path / "tmp" / f"{name}.{os.getpid()}.{time.monotonic_ns()}"
        try:
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as handle:
                handle.write(reply.raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path / "cur" / name)
        except OSError as exc:
            # A full disk leaves a partial file in tmp/: never in cur/, and removed here.
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise TemporaryDeliveryError(f"cannot write to outbox {self.path}: {exc}") from exc

    def was_delivered(self, reply: OutgoingReply) -> bool | None:
        return self._existing(reply) is not None

    def sent_files(self) -> list[Path]:
        folder = self.path / "cur"
        return sorted(folder.iterdir()) if folder.is_dir() else []
