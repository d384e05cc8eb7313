"""The database side of IMAP ingestion: message keys, folder checkpoints, leases, flag jobs.

A folder's checkpoint (UIDVALIDITY, last UID) moves in the same transaction that stores the
raw messages, and only while this poller holds the folder's lease, so a crash or a second
process can neither lose a message nor store one twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, delete, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from responder.audit import audit
from responder.db.models import ImapFlagJob, ImapFolder, Message, utcnow
from responder.db.session import transaction
from responder.mail.parse import message_id_of
from responder.pipeline.notify import announce_work
from responder.pipeline.states import State

KEY_PREFIX = "imap:"
#: Message keys one query looks up (well under every database's limit on parameters).
KEYS_PER_QUERY = 500


class LeaseLost(Exception):
    """Another poller took this folder (our lease ran out): stop touching it."""


@dataclass(frozen=True)
class ImapKey:
    folder: str
    uidvalidity: int
    uid: int


def external_key(folder: str, uidvalidity: int, uid: int) -> str:
    return f"{KEY_PREFIX}{uidvalidity}:{uid}:{folder}"


def parse_key(key: str) -> ImapKey | None:
    if not key.startswith(KEY_PREFIX):
        return None
    try:
        uidvalidity, uid, folder = key[len(KEY_PREFIX) :].split(":", 2)
        return ImapKey(folder, int(uidvalidity), int(uid))
    except ValueError:  # another source's key that merely starts with "imap:"
        return None


@dataclass(frozen=True)
class Checkpoint:
    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class Fetched:
    """One UID's outcome: its bytes, or (`problem` set) why it is stored quarantined instead,
    so that no UID the checkpoint moves past is lost without a trace."""

    uid: int
    raw: bytes
    problem: str = ""


#: How the reason of a message the server would not return begins (Retry fetches it again).
UNFETCHED = "the IMAP server would not return UID "
#: How the reason of one over [pipeline] max_message_bytes begins: only its header is stored.
HEADER_ONLY = "only the header was fetched: "


#: How the reason of such mail begins once it can never be fetched: it is ignored, not lost.
GONE = "the mail server no longer holds this message as it was stored: "


def renumbered_reason(key: ImapKey) -> str:
    return (
        f"{GONE}the server renumbered {key.folder} (its UIDVALIDITY changed), so UID {key.uid} "
        "no longer names it and it cannot be fetched again (if it is still in the folder, "
        "look for it in the queue or in the mailbox)"
    )


def expunged_reason(key: ImapKey) -> str:
    return (
        f"{GONE}UID {key.uid} is no longer in {key.folder} (deleted or moved on the server), "
        "so it cannot be fetched again"
    )


def unfetched_reason(uid: int, folder: str, answer: str) -> str:
    return f"{UNFETCHED}{uid} in {folder}: {answer}"


def header_only_reason(uid: int, folder: str, size: int, limit: int) -> str:
    return (
        f"{HEADER_ONLY}the message is {size:,} bytes, over the {limit:,} byte limit ([pipeline] "
        f"max_message_bytes); the rest stays on the IMAP server as UID {uid} in {folder}: raise "
        "the limit, restart the workers and Retry to fetch it whole"
    )


@dataclass(frozen=True)
class FlagJob:
    id: int
    key: ImapKey
    message_id_header: str | None
    flag: str


#: The `imap_flag_jobs.flag` of a job that asks the poller to fetch a message again (Retry on
#: one the server would not return), rather than to set a flag.
FETCH_AGAIN = "fetch again"


@dataclass(frozen=True)
class FetchJob:
    id: int
    message_id: int
    key: ImapKey


class FolderState:
    """One folder's row: checkpoint and lease, for the poller identified by `owner`."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        channel_id: int,
        folder: str,
        owner: str,
        lease_seconds: int,
    ) -> None:
        self.factory = factory
        self.channel_id = channel_id
        self.folder = folder
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.row_id = self._ensure_row()

    def _ensure_row(self) -> int:
        query = select(ImapFolder.id).where(
            ImapFolder.channel_id == self.channel_id, ImapFolder.folder == self.folder
        )
        try:
            with transaction(self.factory) as session:
                found = session.scalar(query)
                if found is not None:
                    return found
                row = ImapFolder(channel_id=self.channel_id, folder=self.folder)
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:  # another process created it first
            with self.factory() as session:
                found = session.scalar(query)
                assert found is not None
                return found

    def acquire(self) -> bool:
        """Take or renew the lease; False while another live poller holds it."""
        now = utcnow()
        with transaction(self.factory) as session:
            result = session.execute(
                update(ImapFolder)
                .where(
                    ImapFolder.id == self.row_id,
                    or_(
                        ImapFolder.lease_owner.is_(None),
                        ImapFolder.lease_owner == self.owner,
                        ImapFolder.lease_until < now,
                    ),
                )
                .values(lease_owner=self.owner, lease_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def release(self) -> None:
        with transaction(self.factory) as session:
            session.execute(
                update(ImapFolder)
                .where(ImapFolder.id == self.row_id, ImapFolder.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )

    def checkpoint(self) -> Checkpoint:
        with self.factory() as session:
            row = session.get(ImapFolder, self.row_id)
            assert row is not None
            return Checkpoint(row.uidvalidity, row.last_uid)

    def store(self, uidvalidity: int, last_uid: int | None, fetched: Sequence[Fetched]) -> int:
        """Store raw messages and move the checkpoint to last_uid, all or nothing (None: it
        stays, as during a first sync, which moves it once, when done).

        A message already stored under its key, or (after a UIDVALIDITY change) under its
        Message-ID by a row not ignored as never to be fetched, is skipped: the checkpoint
        still moves past it; one stored with its header alone under another UIDVALIDITY
        takes its new key instead (see `_found_again`). One with a `problem` is stored quarantined
        with it as the reason, shown where quarantined mail is.
        """
        stored = 0
        now = utcnow()
        moved = {} if last_uid is None else {"uidvalidity": uidvalidity, "last_uid": last_uid}
        with transaction(self.factory) as session:
            held = session.execute(
                update(ImapFolder)
                .where(ImapFolder.id == self.row_id, ImapFolder.lease_owner == self.owner)
                .values(lease_until=now + self.lease, **moved)
                .execution_options(synchronize_session=False)
            )
            if held.rowcount != 1:
                raise LeaseLost(f"lost the lease on {self.folder}")
            for item in fetched:
                key = external_key(self.folder, uidvalidity, item.uid)
                message_id = message_id_of(item.raw) if item.raw else None
                known, renumbered = self._known(session, uidvalidity, key, message_id)
                if renumbered is not None:
                    stored += _found_again(session, renumbered, key, item)
                if known:
                    continue
                session.add(
                    Message(
                        channel_id=self.channel_id,
                        direction="in",
                        external_key=key,
                        raw=item.raw,
                        raw_size=len(item.raw),
                        message_id_header=message_id,
                        state=State.QUARANTINED if item.problem else State.RECEIVED,
                        state_reason=item.problem,
                    )
                )
                session.flush()
                stored += 1
            if stored:
                announce_work(session)
        return stored

    def _known(
        self, session: Session, uidvalidity: int, key: str, message_id: str | None
    ) -> tuple[bool, Message | None]:
        """Stored already: under its key, or under its Message-ID by a row other than one
        ignored because it can never be fetched (see `give_up`): a header-only row ended by a
        renumbering holds the Message-ID, and the copy still in the folder is the one to read.
        With it, the row of this folder not fetched whole under another UIDVALIDITY that holds
        the Message-ID: the same message, renumbered (see `_found_again`)."""
        base = select(Message.id).where(Message.channel_id == self.channel_id)
        if session.scalar(base.where(Message.external_key == key)) is not None:
            return True, None
        if message_id is None:
            return False, None
        never_fetched = and_(
            Message.state == State.IGNORED,
            Message.state_reason.startswith(GONE, autoescape=True),
        )
        holders = session.execute(
            select(Message.id, Message.external_key, Message.state, Message.state_reason).where(
                Message.channel_id == self.channel_id,
                Message.direction == "in",
                Message.message_id_header == message_id,
                not_(never_fetched),
            )
        ).all()
        for row in holders:
            stored = parse_key(row.external_key)
            if (
                stored is not None
                and stored.folder == self.folder
                and stored.uidvalidity != uidvalidity
                and row.state == State.QUARANTINED
                and row.state_reason.startswith((UNFETCHED, HEADER_ONLY))
            ):
                return True, session.get(Message, row.id)
        return bool(holders), None

    def flag_jobs(self) -> list[FlagJob]:
        with self.factory() as session:
            rows = session.execute(
                select(
                    ImapFlagJob.id,
                    ImapFlagJob.flag,
                    Message.external_key,
                    Message.message_id_header,
                )
                .join(Message, Message.id == ImapFlagJob.message_id)
                .where(ImapFlagJob.channel_id == self.channel_id, ImapFlagJob.flag != FETCH_AGAIN)
                .order_by(ImapFlagJob.id)
            ).all()
        jobs = []
        for row in rows:
            key = parse_key(row.external_key)
            if key is not None and key.folder == self.folder:
                jobs.append(FlagJob(row.id, key, row.message_id_header, row.flag))
        return jobs

    def fetch_jobs(self) -> list[FetchJob]:
        """This folder's messages a person asked to be fetched again (see `ask_refetch`)."""
        with self.factory() as session:
            rows = session.execute(
                select(ImapFlagJob.id, Message.id.label("message_id"), Message.external_key)
                .join(Message, Message.id == ImapFlagJob.message_id)
                .where(ImapFlagJob.channel_id == self.channel_id, ImapFlagJob.flag == FETCH_AGAIN)
                .order_by(ImapFlagJob.id)
            ).all()
        jobs = []
        for row in rows:
            key = parse_key(row.external_key)
            if key is not None and key.folder == self.folder:
                jobs.append(FetchJob(row.id, row.message_id, key))
        return jobs

    def refetched(self, job: FetchJob, item: Fetched) -> int:
        """The answer to a fetch job: the message's bytes (it goes to the parse stage: 1), or
        why it still could not be fetched (it stays quarantined with that reason: 0), or why
        it never can be (a `GONE` reason: it is ignored, see `give_up`: 0)."""
        with transaction(self.factory) as session:
            session.execute(delete(ImapFlagJob).where(ImapFlagJob.id == job.id))
            message = session.get(Message, job.message_id)
            if message is None or message.state != State.QUARANTINED:
                return 0
            if item.problem.startswith(GONE):
                give_up(session, message, item.problem, "system")
                return 0
            message.state_reason = item.problem
            if item.problem:
                return 0
            _fetched_whole(session, message, item.raw)
            return 1

    def stored_uids(self, uidvalidity: int, uids: Sequence[int]) -> set[int]:
        """Those of `uids` already stored from this folder under this UIDVALIDITY (a first
        sync cut short stored them): their bodies need not be fetched again."""
        found: set[int] = set()
        with self.factory() as session:
            for start in range(0, len(uids), KEYS_PER_QUERY):
                keys = {
                    external_key(self.folder, uidvalidity, uid): uid
                    for uid in uids[start : start + KEYS_PER_QUERY]
                }
                rows = session.scalars(
                    select(Message.external_key).where(
                        Message.channel_id == self.channel_id, Message.external_key.in_(keys)
                    )
                )
                found.update(keys[key] for key in rows)
        return found

    def renumbered(self, uidvalidity: int) -> int:
        """Once the folder was read again after its UIDVALIDITY changed: its mail stored
        without its bytes under another UIDVALIDITY, or with its header alone and not found
        again by its Message-ID (no longer in the folder), can never be fetched again, so it
        leaves Needs attention for the ignored mail, with the reason; returns how many.
        Asked every round, so the rows are looked at without their bytes."""
        with self.factory() as session:
            rows = session.execute(
                select(Message.id, Message.external_key).where(
                    Message.channel_id == self.channel_id,
                    Message.state == State.QUARANTINED,
                    Message.external_key.startswith(KEY_PREFIX, autoescape=True),
                    or_(
                        Message.state_reason.startswith(UNFETCHED, autoescape=True),
                        Message.state_reason.startswith(HEADER_ONLY, autoescape=True),
                    ),
                )
            ).all()
        stale = [
            row.id
            for row in rows
            if (key := parse_key(row.external_key)) is not None
            and key.folder == self.folder
            and key.uidvalidity != uidvalidity
        ]
        ended = 0
        if not stale:
            return ended
        with transaction(self.factory) as session:
            for message in session.scalars(select(Message).where(Message.id.in_(stale))):
                key = parse_key(message.external_key)
                if key is not None and key.uidvalidity != uidvalidity and unfetched(message):
                    give_up(session, message, renumbered_reason(key), "system")
                    ended += 1
        return ended

    def flag_done(self, job_id: int) -> None:
        with transaction(self.factory) as session:
            session.execute(delete(ImapFlagJob).where(ImapFlagJob.id == job_id))


def _found_again(session: Session, message: Message, key: str, item: Fetched) -> int:
    """A message stored with its header alone (see `findable`), found again by its Message-ID
    after the folder was renumbered: its row takes the new key, so Retry fetches the new UID
    and the message is neither stored twice nor ignored. Still over the limit, it stays
    quarantined, its reason naming the new UID (0); fetched whole now the limit allows it, it
    goes to the parse stage (1)."""
    message.external_key = key
    if item.problem:
        message.state_reason = item.problem
        message.version += 1
        return 0
    _fetched_whole(session, message, item.raw)
    return 1


def _fetched_whole(session: Session, message: Message, raw: bytes) -> None:
    """IMAP mail stored quarantined, fetched whole at last: parsed like new mail."""
    message.raw = raw
    message.raw_size = len(raw)
    message.message_id_header = message_id_of(raw)
    message.state = State.RECEIVED
    message.state_reason = ""
    message.attempts = 0
    message.next_attempt_at = None
    message.version += 1
    announce_work(session)


def record_answered(session: Session, message: Message) -> None:
    """Called with the send's commit: the poller sets \\Answered on the original later."""
    if parse_key(message.external_key) is None:
        return
    exists = session.scalar(select(ImapFlagJob.id).where(ImapFlagJob.message_id == message.id))
    if exists is None:
        session.add(
            ImapFlagJob(message_id=message.id, channel_id=message.channel_id, flag="\\Answered")
        )


def unfetched(message: Message) -> bool:
    """IMAP mail stored quarantined without its bytes (the server would not return it) or with
    its header alone (over [pipeline] max_message_bytes): Retry fetches it from the server."""
    return (
        message.state == State.QUARANTINED
        and parse_key(message.external_key) is not None
        and message.state_reason.startswith((UNFETCHED, HEADER_ONLY))
    )


def findable(message: Message) -> bool:
    """`unfetched` mail whose header was stored (over the size limit), which holds its
    Message-ID: found again by it when the folder is renumbered."""
    return unfetched(message) and message.message_id_header is not None


def gone(message: Message) -> bool:
    """IMAP mail ignored because it can never be fetched (see `give_up`): nothing to draft."""
    return message.state == State.IGNORED and message.state_reason.startswith(GONE)


def give_up(session: Session, message: Message, reason: str, actor: str) -> None:
    """IMAP mail that can never be fetched (its UID no longer names it on the server): ignored
    with the reason, so it leaves Needs attention for the ignored mail, where it can still be
    found; its raw bytes (none, or its header) stay as they are. Audited, the reason it had
    been quarantined for beside the new one; no fetch job of it is left."""
    was = message.state_reason
    kept = "its header, as fetched, is kept here" if message.raw_size else "none of it was fetched"
    reason = f"{reason}; {kept}"
    message.state = State.IGNORED
    message.state_reason = reason
    message.attempts = 0
    message.next_attempt_at = None
    message.version += 1
    session.execute(
        delete(ImapFlagJob).where(
            ImapFlagJob.message_id == message.id, ImapFlagJob.flag == FETCH_AGAIN
        )
    )
    audit(session, actor, "message.unfetchable", "message", message.id, reason=reason, was=was)


def ask_refetch(session: Session, message: Message, actor: str) -> bool:
    """Retry on an `unfetched` message: its folder's poller fetches it again by UID on its next
    round (True). Once the folder's UIDVALIDITY has changed, the UID no longer names this
    message and, stored without its bytes, it can never be fetched: it is ignored with that
    reason instead (False). One stored with its header alone is found again by its Message-ID
    while the poller reads the renumbered folder, so its job waits for that (see
    `FolderState.renumbered`)."""
    key = parse_key(message.external_key)
    assert key is not None
    folder = session.scalar(
        select(ImapFolder).where(
            ImapFolder.channel_id == message.channel_id, ImapFolder.folder == key.folder
        )
    )
    renumbered = folder is not None and folder.uidvalidity not in (0, key.uidvalidity)
    if renumbered and not findable(message):  # folder.uidvalidity 0: a first sync
        give_up(session, message, renumbered_reason(key), actor)
        return False
    exists = session.scalar(select(ImapFlagJob.id).where(ImapFlagJob.message_id == message.id))
    if exists is None:
        session.add(
            ImapFlagJob(message_id=message.id, channel_id=message.channel_id, flag=FETCH_AGAIN)
        )
    return True
