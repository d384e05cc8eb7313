"""The embedded default's inbox: a Maildir. Raw bytes are committed before the file moves on.

A file moves from new/ to cur/ only after the database commit; if the process dies between the
two, the next poll finds the file again, sees it is stored, and only moves it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from responder.db.models import Channel, Message
from responder.db.session import transaction
from responder.pipeline.notify import announce_work
from responder.pipeline.states import State

log = logging.getLogger(__name__)


class MaildirError(Exception):
    pass


def ensure_channel(factory: sessionmaker[Session], name: str, kind: str, address: str) -> int:
    with transaction(factory) as session:
        channel = session.scalar(select(Channel).where(Channel.name == name))
        if channel is None:
            channel = Channel(name=name, kind=kind, address=address)
            session.add(channel)
            session.flush()
        return channel.id


def _key(filename: str) -> str:
    return filename.split(":", 1)[0]


def deliver_to_maildir(path: Path, raw: bytes, name: str) -> Path:
    """Drop a message the way an MTA would: write in tmp/, then rename into new/."""
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    tmp = path / "tmp" / name
    tmp.write_bytes(raw)
    target = path / "new" / name
    os.replace(tmp, target)
    return target


class MaildirSource:
    def __init__(self, path: Path, channel_id: int) -> None:
        self.path = path
        self.channel_id = channel_id

    def poll(self, factory: sessionmaker[Session]) -> int:
        """Store every message waiting in new/; returns how many were newly stored."""
        new = self.path / "new"
        if not new.is_dir():
            raise MaildirError(f"{new} is not a folder: check maildir.path in config.toml")
        stored = 0
        stuck: list[MaildirError] = []
        for filename in sorted(os.listdir(new)):
            if filename.startswith("."):
                continue
            source = new / filename
            try:
                raw = source.read_bytes()
            except OSError as exc:
                log.error("cannot read %s: %s", source, exc)
                continue
            if self._store(factory, _key(filename), raw):
                stored += 1
            try:
                self._move_to_cur(source, filename)
            except MaildirError as exc:
                stuck.append(exc)  # stored: the next poll only retries the move
        if stuck:
            raise MaildirError(
                f"{len(stuck)} message(s) stored but left in {new} (read-only or full folder?); "
                f"they are not stored twice. First: {stuck[0]}"
            )
        return stored

    def _store(self, factory: sessionmaker[Session], key: str, raw: bytes) -> bool:
        try:
            with transaction(factory) as session:
                exists = session.scalar(
                    select(Message.id).where(
                        Message.channel_id == self.channel_id, Message.external_key == key
                    )
                )
                if exists:
                    return False
                session.add(
                    Message(
                        channel_id=self.channel_id,
                        direction="in",
                        external_key=key,
                        raw=raw,
                        raw_size=len(raw),
                        state=State.RECEIVED,
                    )
                )
                announce_work(session)
        except IntegrityError:
            return False
        return True

    def _move_to_cur(self, source: Path, filename: str) -> None:
        target = self.path / "cur" / (filename if ":2," in filename else f"{filename}:2,")
        try:
            os.replace(source, target)
        except OSError as exc:
            raise MaildirError(f"stored {filename} but cannot move it to cur/: {exc}") from exc
