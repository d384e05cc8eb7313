"""IMAP ingestion with imapclient: one poller per watched folder.

Backfill is by UID, never by date or unread state: everything above the folder's checkpoint is
fetched with BODY.PEEK[] (so \\Seen stays as the mailbox's people left it), stored raw and
committed with the checkpoint before any flag is set. \\Answered is set once our reply has been
sent, from flag jobs the send stage records. IDLE where the server offers it (re-issued every
`idle_seconds`), polling otherwise; a dropped connection or a restarted server is retried with
exponential backoff, and the checkpoint picks up whatever arrived meanwhile.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, IMAPClientReadOnlyError
from sqlalchemy.orm import Session, sessionmaker

from responder.channels.imap_state import (
    Checkpoint,
    Fetched,
    FolderState,
    LeaseLost,
    expunged_reason,
    header_only_reason,
    renumbered_reason,
    unfetched_reason,
)
from responder.config import ImapMailboxSettings, ImapSettings, PipelineSettings

log = logging.getLogger(__name__)

#: What a network or server failure looks like: reconnect later, never crash the process.
CONNECTION_ERRORS = (IMAPClientError, OSError)
#: What is fetched: the whole message, leaving \\Seen alone.
BODY = "BODY.PEEK[]"
#: UIDs whose sizes one FETCH asks for.
SIZE_CHUNK = 500
#: Length of the short IDLE that follows every sync (see FolderPoller._idle).
PROBE_SECONDS = 1.0


class FolderPoller:
    """Watches one folder of one mailbox; `poll()` for a worker loop, `run()` for a thread."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        mailbox: ImapMailboxSettings,
        imap: ImapSettings,
        channel_id: int,
        folder: str,
        *,
        pipeline: PipelineSettings | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.imap = imap
        #: max_message_bytes and max_header_bytes: mail over the limit is not fetched whole.
        self.pipeline = pipeline or PipelineSettings()
        self.folder = folder
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.state = FolderState(factory, channel_id, folder, owner, imap.lease_seconds)
        self.client: IMAPClient | None = None
        self.can_idle = False
        #: The server opens the folder read-only: no flags are set there.
        self.read_only = False
        #: Set while an IDLE command is outstanding (lets tests and health checks see it).
        self.idling = threading.Event()
        #: IDLE commands issued so far (each lasts at most `idle_seconds`).
        self.idle_count = 0
        self._delay = imap.reconnect_base_seconds
        self._retry_at = 0.0
        #: Called after `run()` stored new mail, so a worker in this process starts at once.
        self.on_stored: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"FolderPoller({self.mailbox.name}/{self.folder})"

    # -- connection ------------------------------------------------------------------------------

    def _connect(self) -> IMAPClient:
        mailbox = self.mailbox
        context = None
        if mailbox.security != "none":
            context = ssl.create_default_context(cafile=mailbox.ca_file or None)
        client = IMAPClient(
            mailbox.host,
            port=mailbox.port,
            ssl=mailbox.security == "tls",
            ssl_context=context,
            timeout=self.imap.timeout_seconds,
        )
        try:
            if mailbox.security == "starttls":
                client.starttls(context)
            client.login(mailbox.user, os.environ.get(mailbox.password_env, ""))
            self.can_idle = client.has_capability("IDLE")
        except BaseException:
            _quietly_close(client)
            raise
        log.info("%r connected (IDLE %s)", self, "offered" if self.can_idle else "not offered")
        return client

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            _quietly_close(client)

    def _connected(self) -> IMAPClient:
        if self.client is None:
            self.client = self._connect()
        return self.client

    def _backoff(self, exc: BaseException) -> float:
        delay = self._delay
        log.warning("%r: %s; reconnecting in %.1fs", self, exc, delay)
        self.close()
        self._delay = min(delay * 2, self.imap.reconnect_max_seconds)
        return delay

    # -- one round -------------------------------------------------------------------------------

    def sync(self) -> int:
        """Store everything above the checkpoint, then apply pending flags; returns stored."""
        client = self._connected()
        selected = self._select(client)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        checkpoint = self.state.checkpoint()
        first = not checkpoint.uidvalidity
        if first:
            uids, highest = self._first_sync(client, selected, uidvalidity)
        else:
            last_uid = checkpoint.last_uid
            if checkpoint.uidvalidity != uidvalidity:
                log.warning(
                    "%r: UIDVALIDITY changed %s -> %s; resyncing (Message-IDs guard duplicates "
                    "and find again the mail stored with its header alone)",
                    self,
                    checkpoint.uidvalidity,
                    uidvalidity,
                )
                last_uid = 0
            # `UID n:*` always returns the highest UID, even when it is below n.
            uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
            highest = max(uids, default=last_uid)
        # A first sync moves the checkpoint once it is done (past the older mail it leaves on
        # the server): cut short, the next round is a first sync again, never a fetch of all.
        stored = self._fetch_all(uids, uidvalidity, move_checkpoint=not first)
        if first or (not uids and checkpoint != Checkpoint(uidvalidity, highest)):
            self.state.store(uidvalidity, highest, [])
        if not first:
            self._end_renumbered(uidvalidity)
        stored += self._refetch(uidvalidity)
        self._apply_flags(self._in_folder(uidvalidity), uidvalidity)
        self._delay = self.imap.reconnect_base_seconds
        return stored

    def _first_sync(
        self, client: IMAPClient, selected: dict[bytes, Any], uidvalidity: int
    ) -> tuple[list[int], int]:
        """A folder never read before: only its mail of the last `[imap] first_sync_days`
        (INTERNALDATE, by SEARCH SINCE; 0: none), so connecting a mailbox with years of
        history does not draft, acknowledge or auto-send about all of it. Returns those UIDs
        not stored yet (a first sync cut short stored some: they are not fetched again) and
        the highest UID in the folder, which the checkpoint moves to."""
        days = self.imap.first_sync_days
        if b"UIDNEXT" in selected:
            highest, count = int(selected[b"UIDNEXT"]) - 1, int(selected.get(b"EXISTS", 0))
        else:
            everything = client.search(["ALL"])
            highest, count = max(everything, default=0), len(everything)
        since = (datetime.now(UTC) - timedelta(days=days)).date()
        uids = sorted(client.search(["SINCE", since])) if days else []
        highest = max([highest, *uids])
        stored = self.state.stored_uids(uidvalidity, uids)
        log.info(
            "%r: first sync: %d message(s) since %s fetched (%d more stored already), %d older "
            "left on the server ([imap] first_sync_days = %d)",
            self,
            len(uids) - len(stored),
            since,
            len(stored),
            max(count - len(uids), 0),
            days,
        )
        return [uid for uid in uids if uid not in stored], highest

    def _end_renumbered(self, uidvalidity: int) -> None:
        """The folder is read up to its last UID: mail not fetched whole that is still stored
        under an earlier UIDVALIDITY was not found again (see `FolderState.renumbered`). Asked
        every round, for a resync cut short goes on in the next one, which cannot tell."""
        ended = self.state.renumbered(uidvalidity)
        if ended:
            log.warning(
                "%r: %d message(s) not fetched whole, stored before the folder was renumbered "
                "and not in it any more, are now ignored, for they never can be fetched",
                self,
                ended,
            )

    def _select(self, client: IMAPClient) -> dict[bytes, Any]:
        """Select the folder (its UIDVALIDITY, UIDNEXT, EXISTS). A folder the server opens
        read-only (a shared mailbox we may only read) is EXAMINEd instead, for imaplib refuses
        that SELECT: its mail is read all the same, and \\Answered is not set there."""
        try:
            selected = client.select_folder(self.folder)
            self.read_only = False
        except IMAPClientReadOnlyError:
            selected = client.select_folder(self.folder, readonly=True)
            if not self.read_only:
                log.warning("%r is read-only: mail is read, \\Answered is not set", self)
            self.read_only = True
        return selected

    def _in_folder(self, uidvalidity: int) -> IMAPClient:
        """The connection, made again (the folder selected) if the server hung up on us."""
        if self.client is not None:
            return self.client
        client = self._connected()
        if int(self._select(client)[b"UIDVALIDITY"]) != uidvalidity:
            raise ConnectionResetError(f"{self.folder} was renumbered (UIDVALIDITY changed)")
        return client

    # -- fetching --------------------------------------------------------------------------------

    def _fetch_all(self, uids: Sequence[int], uidvalidity: int, *, move_checkpoint: bool) -> int:
        """Store `uids` in FETCHes of at most `fetch_batch` messages and `fetch_batch_bytes`
        (by RFC822.SIZE, asked for first), each with the checkpoint in one transaction."""
        stored = 0
        for start in range(0, len(uids), SIZE_CHUNK):
            chunk = uids[start : start + SIZE_CHUNK]
            sizes = self._sizes(chunk, uidvalidity)
            limit = self.pipeline.max_message_bytes
            for batch in batches(
                chunk, sizes, self.imap.fetch_batch, self.imap.fetch_batch_bytes, limit
            ):
                fetched = self._fetch(batch, sizes, uidvalidity)
                last_uid = batch[-1] if move_checkpoint else None
                stored += self.state.store(uidvalidity, last_uid, fetched)
        return stored

    def _sizes(self, uids: Sequence[int], uidvalidity: int) -> dict[int, int]:
        """RFC822.SIZE of each UID the server tells (one it will not is then fetched alone)."""
        data = self._fetch_or_refused(uids, ["RFC822.SIZE"], uidvalidity, "sizes not known")
        return {
            uid: int(item[b"RFC822.SIZE"]) for uid, item in data.items() if b"RFC822.SIZE" in item
        }

    def _fetch_or_refused(
        self, uids: Sequence[int], items: list[str], uidvalidity: int, then: str
    ) -> dict[int, dict[bytes, Any]]:
        """The FETCH's answer, or nothing when the server refuses it (a NO, or a hang-up after
        "FETCH failed"): logged, the connection closed after a hang-up, and the caller goes on
        (`then` says how). A socket failure is raised, for the poller's backoff."""
        try:
            return self._in_folder(uidvalidity).fetch(uids, items)
        except IMAPClientError as exc:
            answer = refusal(exc)
            if answer is None:
                raise
            log.warning("%r: FETCH of %d refused (%s); %s", self, len(uids), answer, then)
            if _hung_up(exc):
                self.close()
            return {}

    def _fetch(
        self, batch: Sequence[int], sizes: dict[int, int], uidvalidity: int
    ) -> list[Fetched]:
        """The batch's messages in one FETCH. When the server refuses it (a NO, or a hang-up
        after "FETCH failed"), each UID is fetched on its own, so one message it will not
        return costs only that message: it is stored quarantined, the rest as usual."""
        data: dict[int, dict[bytes, bytes]] = {}
        if len(batch) > 1:
            data = self._fetch_or_refused(batch, [BODY], uidvalidity, "FETCH, one by one")
        found = []
        for uid in batch:
            body = data.get(uid, {}).get(b"BODY[]")
            if body is not None:
                found.append(Fetched(uid, bytes(body)))
            elif (item := self._fetch_one(uid, uidvalidity, sizes.get(uid))) is not None:
                found.append(item)
        return found

    def _fetch_one(self, uid: int, uidvalidity: int, size: int | None = None) -> Fetched | None:
        """One UID on its own: its bytes, or quarantined with the server's answer, or None when
        it left the folder (deleted or moved) since the search. A hang-up is tried once more on
        a new connection, for it may have been a restarting server rather than this message.
        One over [pipeline] max_message_bytes is quarantined anyway: only its header is fetched
        (at most `max_header_bytes`), never the whole message into memory."""
        if size is None:
            size = self._sizes([uid], uidvalidity).get(uid)
        limit = self.pipeline.max_message_bytes
        whole = size is None or size <= limit
        part = BODY if whole else f"BODY.PEEK[HEADER]<0.{self.pipeline.max_header_bytes}>"
        answer = ""
        for _ in range(2):
            client = self._in_folder(uidvalidity)
            try:
                data = client.fetch([uid], [part])
            except IMAPClientError as exc:
                answer = refusal(exc) or ""
                if not answer:
                    raise
                if not _hung_up(exc):
                    break
                self.close()
                continue
            body = data.get(uid, {}).get(b"BODY[]" if whole else b"BODY[HEADER]<0>")
            if body is not None and whole:
                return Fetched(uid, bytes(body))
            if body is not None and size is not None:
                reason = header_only_reason(uid, self.folder, size, limit)
                return Fetched(uid, bytes(body), reason)
            if uid not in data and not client.search(["UID", str(uid)]):
                log.info("%r: UID %s left the folder before it was fetched", self, uid)
                return None
            answer = "it answered without the message's bytes"
            break
        log.warning("%r: UID %s not fetched: %s", self, uid, answer)
        return Fetched(uid, b"", unfetched_reason(uid, self.folder, answer))

    def _refetch(self, uidvalidity: int) -> int:
        """Fetch again what a person pressed Retry on (mail the server would not return). One
        whose UID no longer names it (the folder renumbered, or the message deleted or moved
        on the server) never can be: its job ends and it is ignored, saying so."""
        stored = 0
        for job in self.state.fetch_jobs():
            uid = job.key.uid
            if job.key.uidvalidity != uidvalidity:
                item: Fetched | None = Fetched(uid, b"", renumbered_reason(job.key))
            else:
                item = self._fetch_one(uid, uidvalidity)
            if item is None:
                log.info("%r: UID %s is gone from the folder; not fetched again", self, uid)
                item = Fetched(uid, b"", expunged_reason(job.key))
            stored += self.state.refetched(job, item)
        return stored

    def _apply_flags(self, client: IMAPClient, uidvalidity: int) -> None:
        """Each recorded flag is tried once: a server that refuses it (a NO, as a shared
        mailbox without the right to set flags answers) is logged and the job dropped, so the
        poller goes on to IDLE; only a broken connection is retried, on a new one."""
        for job in self.state.flag_jobs():
            if self.read_only:
                log.info("%r: %s not set on UID %s: read-only", self, job.flag, job.key.uid)
                self.state.flag_done(job.id)
                continue
            try:
                if job.key.uidvalidity == uidvalidity:
                    uids: Sequence[int] = [job.key.uid]
                elif job.message_id_header:
                    uids = client.search(["HEADER", "Message-ID", job.message_id_header])
                else:
                    uids = []
                if uids:
                    client.add_flags(uids, [job.flag.encode()])
            except IMAPClientError as exc:
                answer = refusal(exc)
                if answer is None or _hung_up(exc):
                    raise
                log.warning(
                    "%r: the server refused %s on UID %s (%s); not tried again",
                    self,
                    job.flag,
                    job.key.uid,
                    answer,
                )
            self.state.flag_done(job.id)

    def poll(self) -> int:
        """One round for a worker loop: skipped while another poller holds the folder."""
        if time.monotonic() < self._retry_at:
            return 0
        try:
            if not self.state.acquire():
                self.close()
                return 0
            reused = self.client is not None
            try:
                return self.sync()
            except CONNECTION_ERRORS:
                if not reused:
                    raise
                self.close()  # a connection kept since the last round may have timed out
                return self.sync()
        except LeaseLost:
            self.close()
            return 0
        except CONNECTION_ERRORS as exc:
            self._retry_at = time.monotonic() + self._backoff(exc)
            return 0

    # -- the long-running watcher ----------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """IDLE (or poll) until `stop` is set; survives disconnects and server restarts."""
        try:
            while not stop.is_set():
                try:
                    if not self.state.acquire():
                        self.close()
                        stop.wait(self.imap.idle_seconds)
                        continue
                    if self.sync() and self.on_stored is not None:
                        self.on_stored()
                    if self.can_idle:
                        self._idle(stop)
                    else:
                        stop.wait(self.imap.poll_seconds)
                except LeaseLost:
                    self.close()
                except CONNECTION_ERRORS as exc:
                    stop.wait(self._backoff(exc))
                except Exception:
                    log.exception("%r failed; retrying", self)
                    stop.wait(self._backoff(RuntimeError("unexpected error")))
        finally:
            self.close()
            self.state.release()

    def _idle(self, stop: threading.Event) -> None:
        """IDLE until new mail, `idle_seconds` passing (then it is re-issued) or `stop`.

        Mail that arrived between our last UID SEARCH and the IDLE command is reported only
        when that IDLE ends (Dovecot does so), so a short first IDLE flushes it out.
        """
        if not self._idle_once(stop, min(PROBE_SECONDS, self.imap.idle_seconds)):
            self._idle_once(stop, self.imap.idle_seconds)

    def _idle_once(self, stop: threading.Event, seconds: float) -> bool:
        """One IDLE command; True when the server reported a change to the folder."""
        client = self._connected()
        client.idle()
        self.idle_count += 1
        self.idling.set()
        changed = False
        try:
            deadline = time.monotonic() + seconds
            while not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(remaining, 1.0)
                started = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if not responses and time.monotonic() - started < wait / 2:
                    # imapclient returns nothing, at once, when the server closed the socket
                    raise ConnectionResetError("the server closed the connection during IDLE")
                if any(_changed(r) for r in responses):
                    changed = True
                    break
        finally:
            self.idling.clear()
        return any([_changed(r) for r in client.idle_done()[1]]) or changed


def batches(
    uids: Sequence[int], sizes: dict[int, int], count: int, total: int, limit: int
) -> Iterator[list[int]]:
    """`uids` in order, in batches of at most `count` messages and `total` bytes; a message
    bigger than `total`, over `limit` (only its header is fetched) or of unknown size alone."""
    batch: list[int] = []
    held = 0
    for uid in uids:
        size = sizes.get(uid)
        alone = size is None or size > limit or size > total
        if batch and (alone or len(batch) >= count or held + (size or 0) > total):
            yield batch
            batch, held = [], 0
        batch.append(uid)
        held += size or 0
        if alone:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def refusal(exc: IMAPClientError) -> str | None:
    """The server's answer to a command it refused, in words; None when the connection itself
    failed (imaplib reports a broken socket as an "abort" too)."""
    text = str(exc)
    if isinstance(exc, IMAPClientAbortError) and "socket error" in text:
        return None
    text = re.sub(r"^command: \w+ => ", "", text)  # imaplib, for a hang-up during a command
    text = re.sub(r"^\w+ failed: ", "", text)  # imapclient, for a NO
    bad = re.fullmatch(r"\w+ command error: (\w+) \[(.*)\]", text, re.S)  # imaplib, for a BAD
    if bad:
        said = re.findall(r"b'((?:[^'\\]|\\.)*)'|b\"((?:[^\"\\]|\\.)*)\"", bad.group(2))
        text = " ".join([bad.group(1), *(a or b for a, b in said)])
    return " ".join(text.split())[:500] or type(exc).__name__


def _hung_up(exc: IMAPClientError) -> bool:
    """The server closed the connection with its answer (Dovecot does after "FETCH failed")."""
    return isinstance(exc, IMAPClientAbortError)


def _is_bye(response: tuple[object, ...]) -> bool:
    return bool(response) and response[0] == b"BYE"


def _changed(response: tuple[object, ...]) -> bool:
    if _is_bye(response):
        raise ConnectionResetError("server said BYE during IDLE")
    return len(response) > 1 and response[1] in (b"EXISTS", b"EXPUNGE", b"RECENT")


def _quietly_close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            log.debug("closing an IMAP connection failed", exc_info=True)
