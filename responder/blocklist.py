"""Blocked senders: spam and abuse are stored like all mail but never drafted.

An agent blocks the exact address a spam message came from; a supervisor can also block a
whole email domain. A blocked sender's messages are ignored with a reason naming the block,
who set it and why, so nothing is lost: unblocking puts the drafts it rejected back in the
queue, and can send the messages it stopped through the pipeline again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from responder.blocked_drafts import marked_spam, rejected_counts, restore_rejected
from responder.db.keyset import Page, after, decode_cursor, encode_cursor
from responder.db.like import escape_like
from responder.db.models import BlockedSender, Message, StaffUser, utcnow
from responder.pipeline.reparse import parse_again
from responder.pipeline.states import State

REASON_PREFIX = "blocked sender: "
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


class BlockError(Exception):
    """A block that cannot be set or lifted; the text says why, for the person who tried.
    `field`: the block form's field at fault ("sender", "reason"), "" when none is."""

    status_code = 422

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class UnknownBlock(BlockError):
    status_code = 404


class AlreadyBlocked(BlockError):
    status_code = 409


@dataclass(frozen=True)
class Pattern:
    kind: str  # "address" or "domain"
    value: str

    @property
    def shown(self) -> str:
        return f"@{self.value}" if self.kind == "domain" else self.value


def parse_pattern(text: str) -> Pattern:
    """`someone@example.com` or a social sender id blocks that sender; `@example.com` (or
    `example.com`) the whole domain."""
    value = text.strip().lower()
    if not value:
        raise BlockError("say which address or domain to block", field="sender")
    if len(value) > 320 or any(ch.isspace() for ch in value):
        raise BlockError(f"{text.strip()[:80]!r} is not an address or a domain", field="sender")
    if value.startswith("@") or ("@" not in value and "." in value and not value[0].isdigit()):
        domain = value.removeprefix("@")
        if not DOMAIN.match(domain):
            raise BlockError(f"{domain!r} is not a domain", field="sender")
        return Pattern("domain", domain)
    return Pattern("address", value)


class BlockList:
    """The blocks as one batch of the parse stage sees them. Up to `read_all_up_to` blocks are
    read once and matched in memory; a longer list (a spam list carried over from another
    helpdesk) is asked per sender, by its address and its domain, each sender once a batch."""

    def __init__(self, session: Session, read_all_up_to: int = 5_000) -> None:
        self.session = session
        self.hits: Counter[int] = Counter()
        self.blocks: dict[tuple[str, str], BlockedSender | None] = {}
        count = session.scalar(select(func.count(BlockedSender.id))) or 0
        self.complete = count <= read_all_up_to
        if self.complete and count:
            self.blocks = {(b.kind, b.value): b for b in session.scalars(select(BlockedSender))}

    def _lookup(self, address: str) -> BlockedSender | None:
        keys = [("address", address)]
        if "@" in address:
            keys.append(("domain", address.rsplit("@", 1)[1]))
        if not self.complete and any(key not in self.blocks for key in keys):
            self.blocks.update(dict.fromkeys(keys))
            for found in self.session.scalars(
                select(BlockedSender).where(
                    or_(*(and_(BlockedSender.kind == k, BlockedSender.value == v) for k, v in keys))
                )
            ):
                self.blocks[(found.kind, found.value)] = found
        return next((b for b in (self.blocks.get(key) for key in keys) if b is not None), None)

    def reason(self, sender: str) -> str | None:
        if self.complete and not self.blocks:
            return None
        block = self._lookup(sender.strip().lower())
        if block is None:
            return None
        self.hits[block.id] += 1
        return ignore_reason(block)

    def record_hits(self, session: Session) -> None:
        """In id order, so two workers counting hits on the same blocks never deadlock."""
        now = utcnow()
        for block_id, count in sorted(self.hits.items()):
            session.execute(
                update(BlockedSender)
                .where(BlockedSender.id == block_id)
                .values(hits=BlockedSender.hits + count, last_hit_at=now)
            )


def ignore_reason(block: BlockedSender) -> str:
    pattern = Pattern(block.kind, block.value)
    why = f": {block.reason}" if block.reason else ""
    return (
        f"{REASON_PREFIX}{pattern.shown} (blocked by {block.blocked_by} "
        f"on {block.created_at:%Y-%m-%d}{why})"
    )


def block(
    session: Session,
    pattern: Pattern,
    reason: str,
    by: str,
    *,
    own_addresses: frozenset[str] = frozenset(),
) -> BlockedSender:
    reason = reason.strip()
    if len(reason) > 500:
        raise BlockError("the reason is longer than 500 characters", field="reason")
    own_domains = {a.rsplit("@", 1)[-1] for a in own_addresses}
    if pattern.value in own_addresses or (
        pattern.kind == "domain" and pattern.value in own_domains
    ):
        raise BlockError(
            f"{pattern.shown} is our own; our own mail is never answered anyway", field="sender"
        )
    existing = find_block(session, pattern)
    if existing is not None:
        raise AlreadyBlocked(
            f"{pattern.shown} is already blocked (by {existing.blocked_by} "
            f"on {existing.created_at:%Y-%m-%d})",
            field="sender",
        )
    entry = BlockedSender(kind=pattern.kind, value=pattern.value, reason=reason, blocked_by=by)
    try:
        with session.begin_nested():  # two people blocking one sender at once: one block
            session.add(entry)
    except IntegrityError as exc:
        raise AlreadyBlocked(
            f"{pattern.shown} has just been blocked by someone else", field="sender"
        ) from exc
    return entry


def find_block(session: Session, pattern: Pattern) -> BlockedSender | None:
    return session.scalar(
        select(BlockedSender).where(
            BlockedSender.kind == pattern.kind, BlockedSender.value == pattern.value
        )
    )


def block_covering(session: Session, sender: str) -> BlockedSender | None:
    """The block that stops this sender now, by its address or its domain (the address's first)."""
    address = sender.strip().lower()
    if not address:
        return None
    keys = [("address", address)]
    if "@" in address:
        keys.append(("domain", address.rsplit("@", 1)[1]))
    found = {
        (b.kind, b.value): b
        for b in session.scalars(
            select(BlockedSender).where(
                or_(*(and_(BlockedSender.kind == k, BlockedSender.value == v) for k, v in keys))
            )
        )
    }
    return next((found[key] for key in keys if key in found), None)


def blocks_covering(session: Session, senders: Iterable[str]) -> list[dict[str, object]]:
    """The blocks that stop any of these senders (a customer's addresses and ids): why a
    known customer's mail gets no draft."""
    addresses = {s.strip().lower() for s in senders} - {""}
    domains = {a.rsplit("@", 1)[1] for a in addresses if "@" in a}
    if not addresses:
        return []
    entries = session.scalars(
        select(BlockedSender)
        .where(
            or_(
                and_(BlockedSender.kind == "address", BlockedSender.value.in_(sorted(addresses))),
                and_(BlockedSender.kind == "domain", BlockedSender.value.in_(sorted(domains))),
            )
        )
        .order_by(BlockedSender.id)
    ).all()
    rejected = rejected_counts(session, (e.id for e in entries))
    spam = marked_spam(session, (e.id for e in entries))
    return [
        {**block_row(e, rejected.get(e.id, 0)), "marked_spam": spam.get(e.id, [])} for e in entries
    ]


def stopped_messages(session: Session, entry: BlockedSender) -> list[int]:
    """The messages this block kept from a draft (by the reason it gave them)."""
    prefix = escape_like(f"{REASON_PREFIX}{Pattern(entry.kind, entry.value).shown} (")
    return list(
        session.scalars(
            select(Message.id)
            .where(
                Message.state == State.IGNORED,
                Message.state_reason.like(f"{prefix}%", escape="\\"),
            )
            .order_by(Message.id)
        )
    )


@dataclass(frozen=True)
class Unblocked:
    pattern: Pattern
    processed_again: int
    restored: list[int]  # the drafts the block rejected, back in the queue
    spam_restored: list[int] = field(default_factory=list)  # marked as spam, put back as asked
    spam_kept: list[int] = field(default_factory=list)  # marked as spam, still rejected


def unblock(
    session: Session,
    block_id: int,
    *,
    process_stopped: bool,
    by: str,
    user: StaffUser | None = None,
    restore_spam: bool = False,
) -> Unblocked:
    """Lift a block: the drafts it rejected when it was set are back in the queue as they
    were; with `restore_spam`, so is the message a person marked as spam (else it stays
    rejected); with `process_stopped`, the messages it stopped are parsed again from their raw
    bytes (their attachment rows are made again from the raw too)."""
    entry = session.get(BlockedSender, block_id)
    if entry is None:
        raise UnknownBlock(f"no block {block_id}")
    pattern = Pattern(entry.kind, entry.value)
    spam = [m["message_id"] for m in marked_spam(session, [entry.id]).get(entry.id, [])]
    why = f"{pattern.shown} unblocked"
    restored = restore_rejected(session, entry, why, by, user, with_spam=restore_spam)
    again = parse_again(session, stopped_messages(session, entry)) if process_stopped else 0
    session.delete(entry)
    return Unblocked(
        pattern,
        again,
        [m for m in restored if m not in spam],
        spam_restored=[m for m in restored if m in spam],
        spam_kept=[m for m in spam if m not in restored],
    )


def blocked_rows(session: Session) -> list[dict[str, object]]:
    """Every block, newest first (`responder blocked list`; the page and the API read
    `blocked_list`, a page at a time)."""
    entries = session.scalars(
        select(BlockedSender).order_by(BlockedSender.created_at.desc(), BlockedSender.id.desc())
    ).all()
    return _rows(session, entries)


#: The Blocked senders page's length: a carried-over spam list runs to thousands.
PAGE_SIZE = 100


def blocked_list(
    session: Session, cursor: str | None = None, search: str = "", size: int = PAGE_SIZE
) -> Page:
    """One page of the blocks, newest first; `search`: a piece of the address or domain as the
    list shows it (`@example` finds the domain example.com), matched as typed."""
    matching = select(BlockedSender)
    if needle := search_text(search):
        shown = case(
            (BlockedSender.kind == "domain", literal("@") + BlockedSender.value),
            else_=BlockedSender.value,
        )
        matching = matching.where(shown.like(f"%{escape_like(needle)}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    query = matching.order_by(BlockedSender.created_at.desc(), BlockedSender.id.desc())
    decoded = decode_cursor(cursor) if cursor else None
    before = 0
    if decoded is not None and decoded[0] is not None and decoded[0].tzinfo is not None:
        position = (decoded[0], decoded[1])
        past = after(BlockedSender.created_at, BlockedSender.id, position, descending=True)
        query = query.where(past)
        before = session.scalar(select(func.count()).select_from(matching.where(~past).subquery()))
    entries = session.scalars(query.limit(size + 1)).all()
    rows = _rows(session, entries[:size])
    last = entries[size - 1] if len(entries) > size else None
    next_cursor = encode_cursor(last.created_at.isoformat(), last.id) if last else None
    return Page(rows, total, before or 0, next_cursor)


def blocked_count(session: Session) -> int:
    return session.scalar(select(func.count(BlockedSender.id))) or 0


def search_text(search: str) -> str:
    """What a search box's text is matched as: the list's letter case, no edge spaces or NULs."""
    return search.replace("\x00", "").strip().lower()[:320]


def _rows(session: Session, entries: Sequence[BlockedSender]) -> list[dict[str, object]]:
    rejected = rejected_counts(session, (e.id for e in entries))
    spam = marked_spam(session, (e.id for e in entries))
    return [
        {**block_row(e, rejected.get(e.id, 0)), "marked_spam": spam.get(e.id, [])} for e in entries
    ]


def block_row(entry: BlockedSender, drafts_rejected: int = 0) -> dict[str, object]:
    """`messages_stopped`: the drafts it rejected when it was set, and the mail it kept from a
    draft since."""
    last: datetime | None = entry.last_hit_at
    return {
        "id": entry.id,
        "kind": entry.kind,
        "sender": Pattern(entry.kind, entry.value).shown,
        "reason": entry.reason,
        "blocked_by": entry.blocked_by,
        "blocked_at": entry.created_at.isoformat(),
        "messages_stopped": entry.hits + drafts_rejected,
        "drafts_rejected": drafts_rejected,
        "last_stopped_at": last.isoformat() if last else None,
    }
