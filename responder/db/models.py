"""SQLAlchemy 2.0 models: the message table is also the pipeline's work queue.

Portable types only (no SQLite- or PostgreSQL-only SQL), so the same schema and migrations run
on the embedded default and at scale.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            # combine, not replace(tzinfo=...): a fifth of the time (~0.3 against ~1.5 µs a
            # value), and the dashboard's all-time load reads 390,000 of them (bench/README.md)
            return datetime.combine(value, value.time(), UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Channel(Base):
    """A mailbox or social account that messages come in on and replies go out through."""

    __tablename__ = "channels"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(
        String(20)
    )  # maildir, imap, messenger, instagram, whatsapp, x
    address: Mapped[str] = mapped_column(String(320), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    auto_send: Mapped[dict[str, Any]] = mapped_column(default=dict)  # intent -> min confidence
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    language: Mapped[str] = mapped_column(String(10), default="en")
    segment: Mapped[str] = mapped_column(String(30), default="")
    plan: Mapped[str] = mapped_column(String(100), default="")
    monthly_spend: Mapped[float | None] = mapped_column(Float)
    contract_start: Mapped[str] = mapped_column(String(10), default="")
    contract_end: Mapped[str] = mapped_column(String(10), default="")
    lines: Mapped[int | None] = mapped_column(Integer)
    addons: Mapped[list[Any]] = mapped_column(default=list)
    followers: Mapped[int] = mapped_column(Integer, default=0)
    tier: Mapped[str] = mapped_column(String(30), default="")
    value_score: Mapped[float | None] = mapped_column(Float)
    value_parts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    identities: Mapped[list[CustomerIdentity]] = relationship(back_populates="customer")


class CustomerIdentity(Base):
    """One way to reach a customer: email, E.164 phone, or a social id per channel kind."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(320))
    display: Mapped[str] = mapped_column(String(320), default="")
    customer: Mapped[Customer] = relationship(back_populates="identities")


class Subscription(Base):
    """An account or subscription from billing; the customer row summarises the active ones."""

    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    plan: Mapped[str] = mapped_column(String(100), default="")
    monthly_spend: Mapped[float | None] = mapped_column(Float)
    addons: Mapped[list[Any]] = mapped_column(default=list)
    contract_start: Mapped[str] = mapped_column(String(10), default="")
    contract_end: Mapped[str] = mapped_column(String(10), default="")
    lines: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="active")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SupportCase(Base):
    """A case from the CRM (open or closed); an open complaint raises churn risk."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    category: Mapped[str] = mapped_column(String(50), default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    subject: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()


class Interaction(Base):
    """A contact outside Responder's channels (call-centre note, shop visit), imported."""

    __tablename__ = "interactions"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(30), default="phone")
    direction: Mapped[str] = mapped_column(String(3), default="in")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    summary: Mapped[str] = mapped_column(Text, default="")
    agent: Mapped[str] = mapped_column(String(100), default="")


class CustomerLink(Base):
    """An agent's decision that a provisional customer is a known one; what moved, to undo it."""

    __tablename__ = "customer_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    moved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    linked_by: Mapped[str] = mapped_column(String(100), default="")
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    unlinked_by: Mapped[str | None] = mapped_column(String(100))
    unlinked_at: Mapped[datetime | None] = mapped_column()


class CustomerLinkDismissal(Base):
    """An agent's word that a provisional customer is not this known one: not suggested again."""

    __tablename__ = "customer_link_dismissals"
    __table_args__ = (UniqueConstraint("source_id", "target_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    dismissed_by: Mapped[str] = mapped_column(String(100), default="")
    dismissed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    thread_key: Mapped[str] = mapped_column(String(500), default="")
    subject_key: Mapped[str] = mapped_column(String(500), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """An inbound or outbound message. Inbound rows are the work queue (state + lease)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_key"),
        Index("ix_messages_state_id", "state", "id"),
        Index("ix_messages_state_due", "state", "due_at", "id"),
        # One per queue filter, in the queue's order, so a filtered page reads only its rows.
        Index("ix_messages_state_intent_due", "state", "intent", "due_at", "id"),
        Index("ix_messages_state_tier_due", "state", "customer_tier", "due_at", "id"),
        Index("ix_messages_state_channel_due", "state", "channel_id", "due_at", "id"),
        Index("ix_messages_state_assignee_due", "state", "assignee_id", "due_at", "id"),
        # The sender cap: one sender's last hour, whatever the size of the table.
        Index("ix_messages_sender_key_received", "sender_key", "received_at"),
        # Covers the queue's grouped counts: an index-only pass, the table is not read.
        Index(
            "ix_messages_queue_counts",
            "state",
            "intent",
            "customer_tier",
            "channel_id",
            "assignee_id",
            "sentiment",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    direction: Mapped[str] = mapped_column(String(3), default="in")
    external_key: Mapped[str] = mapped_column(String(500))
    # Deferred: only the parse stage reads the raw bytes; every later stage and page that loads
    # a message would otherwise fetch a mail of many megabytes again each time.
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    raw_size: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20), default="received")
    state_reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    # Set to a conversation started in the same transaction: the flush inserts the batch's new
    # conversations together and fills conversation_id. Never loaded (read conversation_id).
    conversation: Mapped[Conversation | None] = relationship(lazy="raise")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    message_id_header: Mapped[str | None] = mapped_column(String(500), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    references: Mapped[list[Any]] = mapped_column(default=list)
    sender_address: Mapped[str] = mapped_column(String(320), default="")
    #: The address lower-cased, as the sender cap counts it (email; "" until parsed).
    sender_key: Mapped[str] = mapped_column(String(320), default="", server_default="")
    sender_name: Mapped[str] = mapped_column(String(300), default="")
    reply_to: Mapped[list[Any]] = mapped_column(default=list)
    #: [name, address] pairs a reply to all copies (the message's other To and Cc addresses);
    #: staff may take any off before approving.
    reply_cc: Mapped[list[Any] | None] = mapped_column(JSON)
    #: The addresses of `reply_cc` (lower-cased) a person unticked: the reply leaves them off,
    #: the review page still lists them, unticked, so they can be ticked again.
    reply_cc_off: Mapped[list[Any] | None] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column()
    text: Mapped[str] = mapped_column(Text, default="")
    new_text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    defects: Mapped[list[Any]] = mapped_column(default=list)
    classification: Mapped[dict[str, Any]] = mapped_column(default=dict)
    intent: Mapped[str | None] = mapped_column(String(50), index=True)
    intent_confidence: Mapped[float | None] = mapped_column(Float)
    language: Mapped[str | None] = mapped_column(String(10))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    # Review queue: when the answer is due (urgency, tier and churn shorten the SLA), the tier
    # at routing time (for fast filters), and who has the draft open (a soft claim).
    due_at: Mapped[datetime | None] = mapped_column()
    urgency: Mapped[str] = mapped_column(String(10), default="")
    # The classifier's (or an agent's) label, for the queue's mood badge and filter.
    sentiment: Mapped[str] = mapped_column(String(10), default="", server_default="")
    # A person decided this message deserves a draft although an ignore rule (auto-reply,
    # list, sender cap, blocked sender) stopped it: the parse stage skips those rules for it.
    guard_override: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    customer_tier: Mapped[str] = mapped_column(String(30), default="")
    viewer_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    viewed_at: Mapped[datetime | None] = mapped_column()
    #: Snoozed until then; kept once it is back in review, so the queue can say so, until a
    #: person approves or rejects it there (reopened or undone later, it is not back from
    #: snooze); one rejected while asleep keeps it, for a lifted block to put it back to sleep.
    snoozed_until: Mapped[datetime | None] = mapped_column()
    # social DMs: platform id, handle, display name, followers (None for email)
    sender_profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Email: our receiving server's verdict on the From address (mail/sender_check.py), when
    #: [guard] trusted_authserv_id is set; None when not checked.
    sender_check: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class MessageSearchText(Base):
    """What search matches for an inbound message (subject, sender, new text), written once at
    the parse. Apart from `messages` because a message row gets a new version at every state
    change, and on PostgreSQL each would index its whole text again (migration web_0013)."""

    __tablename__ = "message_search"
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    text: Mapped[str] = mapped_column(Text)


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str | None] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: A social DM's file on the platform (`platform` plus `url` or WhatsApp `media_id`), fetched
    #: by the workers after the parse; `fetch_due_at` is set while a fetch is owed.
    remote: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    fetch_due_at: Mapped[datetime | None] = mapped_column(index=True)
    fetch_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fetch_error: Mapped[str | None] = mapped_column(String(500))


class Draft(Base):
    """A reply proposal; editing creates a new version, the latest current one is shown."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("message_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    body: Mapped[str] = mapped_column(Text, default="")
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"))
    grounding: Mapped[dict[str, Any]] = mapped_column(default=dict)
    confidence: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str] = mapped_column(Text, default="")
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    snippets_used: Mapped[list[DraftSnippet]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class DraftSnippet(Base):
    """A snippet version whose whole text a draft version holds: one Responder composed, or a
    person's saved or edited approved text (an answer they inserted by hand included). The
    grounding JSON says the same per draft; this table lets the supervisors' pages count per
    snippet without reading it."""

    __tablename__ = "draft_snippets"
    draft_id: Mapped[int] = mapped_column(
        ForeignKey("drafts.id", ondelete="CASCADE"), primary_key=True
    )
    snippet_id: Mapped[int] = mapped_column(ForeignKey("snippets.id"), primary_key=True, index=True)


class Note(Base):
    """Staff's internal note on a message and its conversation; never shown to the customer."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    author: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column()


class NoteMention(Base):
    """A colleague named in a note ("@bob, can you call her back?"): it waits for them under
    Mentions until they open the conversation."""

    __tablename__ = "note_mentions"
    __table_args__ = (
        UniqueConstraint("note_id", "user_id"),
        Index("ix_note_mentions_user_seen", "user_id", "seen_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    seen_at: Mapped[datetime | None] = mapped_column()


class MessagePresence(Base):
    """Who has a message's review page open now (`responder.presence`), a row per page view
    (`page`, its random id; "" for a page drawn before page views had ids): written when the page
    is drawn and by its heartbeat, deleted when that page is left; a row not heard from for
    `presence.GONE_AFTER` counts as gone. `editing`: they have typed in the draft, unsaved."""

    __tablename__ = "message_presence"
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    page: Mapped[str] = mapped_column(String(32), primary_key=True, server_default="")
    opened_at: Mapped[datetime] = mapped_column()
    seen_at: Mapped[datetime] = mapped_column()
    editing: Mapped[bool] = mapped_column(Boolean, default=False)


class BlockedSender(Base):
    """An address (or, set by a supervisor, a whole email domain) whose mail is stored and
    ignored: spam and abuse get no draft. `hits` counts the messages it stopped."""

    __tablename__ = "blocked_senders"
    __table_args__ = (UniqueConstraint("kind", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(500), default="")
    blocked_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    last_hit_at: Mapped[datetime | None] = mapped_column()


class NetworkIncident(Base):
    """A network fault a supervisor recorded: outage drafts describe it to customers in its
    areas until it is resolved, and say no known fault when none fits."""

    __tablename__ = "network_incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    areas: Mapped[list[Any]] = mapped_column(default=list)
    started_at: Mapped[datetime] = mapped_column()
    expected_fix_at: Mapped[datetime | None] = mapped_column()
    public_note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(index=True)
    resolved_by: Mapped[str] = mapped_column(String(100), default="")


class BlockRejection(Base):
    """A waiting draft a block rejected when it was set, and how it stood: lifting the block
    puts exactly these back (not drafts people rejected, nor those of an earlier block); the
    message marked as spam is remembered too, and put back only if the supervisor says so."""

    __tablename__ = "block_rejections"
    id: Mapped[int] = mapped_column(primary_key=True)
    blocked_sender_id: Mapped[int] = mapped_column(
        ForeignKey("blocked_senders.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    from_state: Mapped[str] = mapped_column(String(20))
    from_reason: Mapped[str] = mapped_column(Text, default="")
    rejected_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Who marked this message as spam (the click that set or met the block); "" for a draft
    #: the block rejected. Lifting the block puts it back only when asked.
    spam_marked_by: Mapped[str] = mapped_column(String(100), default="", server_default="")


class StaffUser(Base):
    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(500))
    role: Mapped[str] = mapped_column(String(20), default="agent")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffSession(Base):
    """Server-side sessions (cookie or API token): revocable, shared by all web processes."""

    __tablename__ = "staff_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default="cookie")  # cookie or api
    csrf_token: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class EndedSession(Base):
    """Why a session was ended for its holder (password changed or reset, account switched off),
    kept until it would have expired, so the browser coming back is told instead of just asked
    to log in."""

    __tablename__ = "ended_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))
    ended_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AppSecret(Base):
    """A secret made once and kept, so a restart does not change it: the CSRF signing key, when
    RESPONDER_SECRET_KEY is unset (a new key each start made every open page's forms fail)."""

    __tablename__ = "app_secrets"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PendingImport(Base):
    """An uploaded customer-data CSV between its preview and the supervisor's confirmation:
    kept in the database, not on one web process's disk, so the confirmation may reach any
    process. Deleted when imported or dropped; one left unconfirmed for a day no longer counts
    and goes at the next upload."""

    __tablename__ = "pending_imports"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    preview: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ImportRedraft(Base):
    """A waiting draft of a sender a CRM import linked to a known customer, to be written
    again for that customer by a worker: queued in the import's last transaction, so the
    import returns at once and a crash loses none. A worker claims rows with a lease, and
    writes the draft and marks its row done (`outcome`) in one transaction, so a worker
    stopped mid-batch leaves the rest to the next and none is written twice."""

    __tablename__ = "import_redrafts"
    __table_args__ = (
        # The workers' claim (not done, due) and the purge of rows done long ago.
        Index("ix_import_redrafts_done_due", "done_at", "next_attempt_at", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    imported_from: Mapped[str] = mapped_column(String(500))
    #: Who ran the import: a staff account (web) or "cli".
    queued_by: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column()
    #: Set once finished; a finished row is deleted `[pipeline] import_redraft_retention_days`
    #: after (`customers.redraft_queue.purge_done`).
    done_at: Mapped[datetime | None] = mapped_column()
    #: redrafted, kept_edited, being_edited, unchanged (nothing to write again: unlinked or
    #: redrafted since), failed (after `[pipeline] max_attempts`; its page says why and offers
    #: a redraft)
    outcome: Mapped[str] = mapped_column(String(20), default="")
    draft_version: Mapped[int | None] = mapped_column(Integer)
    #: Failed attempts at writing it; each waits its back-off (`next_attempt_at`), as a failing
    #: stage's message does, and the last one makes it failed.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    #: Why the last attempt failed ("" when none did), shown on the draft's page.
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")


class TextVector(Base):
    """An approved snippet's embedding under one encoder, so a starting worker or web process
    reads the vectors instead of embedding every snippet again. Keyed by the encoder and the
    text's digest: an edited snippet or a new encoder simply misses and is embedded once.
    `used_at` (written, or read a day or more after it was last set) tells when another
    encoder's rows are no longer used (`stored_vectors.UNUSED_ENCODER_DAYS`)."""

    __tablename__ = "text_vectors"
    encoder: Mapped[str] = mapped_column(String(64), primary_key=True)
    text_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    success: Mapped[bool] = mapped_column(Boolean, default=False)


class ReviewAction(Base):
    __tablename__ = "review_actions"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    action: Mapped[str] = mapped_column(String(20))  # approve, edit, reject, restore, ...
    reason: Mapped[str] = mapped_column(Text, default="")
    edit_distance: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The auto-send page reads the last 30 days' decisions, the dashboard a period's corrections.
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OutboxItem(Base):
    """A reply to deliver. One per inbound message; its Message-ID is fixed before any attempt."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    message_id_header: Mapped[str] = mapped_column(String(500), unique=True)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    #: When a worker last took it to send: a WhatsApp template recorded by that take is dated
    #: so (`responder.pipeline.template_going`). None for ones taken before it was kept.
    taken_at: Mapped[datetime | None] = mapped_column()
    #: Held (a reply WhatsApp's window stopped) behind a template another send recorded as
    #: going out: that template's Message-ID, so withdrawing it queues this one again
    #: (`responder.pipeline.template_going`). None when held by the window alone, or before.
    held_behind: Mapped[str | None] = mapped_column(String(500), index=True)
    # social: the platform's id for the sent message, and what the platform reported since
    external_id: Mapped[str] = mapped_column(String(200), default="", server_default="", index=True)
    delivery_status: Mapped[str] = mapped_column(String(20), default="", server_default="")


class MessageIdClaim(Base):
    """The one inbound copy of a Message-ID that goes on to a draft: mail to support@ with
    billing@ copied arrives once in each mailbox. Two workers parsing the two copies at once
    both insert the key; the unique key makes the second wait for the first and then lose, so
    the parse stage ignores its copy naming the first."""

    __tablename__ = "message_id_claims"
    message_id_header: Mapped[str] = mapped_column(String(500), primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )


class Acknowledgement(Base):
    """An automatic "we have your message" for one inbound email, sent apart from its reply.
    Its bytes and Message-ID are fixed when it is queued, so a retry is the same mail, and a
    worker that stopped mid-send asks the sender whether it went out before trying again."""

    __tablename__ = "acknowledgements"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    message_id_header: Mapped[str] = mapped_column(String(500), unique=True)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    #: queued, sending, sent, failed, uncertain (stopped mid-send; nobody can tell), dismissed,
    #: bounced (a delivery status report for it came back; `last_error` is the answer),
    #: not_sent (a platform's reply window stopped it, `DeliveryHeld`: nothing to retry; queued
    #: again if a WhatsApp template it was held behind is withdrawn, `template_going`)
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    claimed_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    #: As `OutboxItem.taken_at`: when a worker last took it to send.
    taken_at: Mapped[datetime | None] = mapped_column()
    #: As `OutboxItem.held_behind`: the template it was left unsent behind (`not_sent`).
    held_behind: Mapped[str | None] = mapped_column(String(500), index=True)


class ReplyFile(Base):
    """A file staff send with the reply to an inbound message: pending until the reply is
    queued, then part of that reply's bytes (`outbox_id`)."""

    __tablename__ = "reply_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))


class WebhookDelivery(Base):
    """The raw body of every signed webhook POST, stored before it is split into messages."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # meta, x
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set once it has been split; None while it waits to be (again), or was given up.
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
    #: What splitting it gave, in words; while unsplit, the last attempt's error.
    outcome: Mapped[str] = mapped_column(Text, default="")
    #: Tries at splitting it that raised; at `[pipeline] max_attempts` it waits for a person.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When it was given up, still unsplit: it waits for a person under Needs attention.
    failed_at: Mapped[datetime | None] = mapped_column(index=True)


class PendingUnsend(Base):
    """A customer's unsend (Messenger, Instagram) that came before the message it names was
    stored (its body still waiting to be split, or not come yet): the message is stored without
    its words when it comes. Dropped then, or unused after `PENDING_UNSEND_DAYS`."""

    __tablename__ = "pending_unsends"
    __table_args__ = (UniqueConstraint("kind", "account_id", "external_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[str] = mapped_column(String(320))
    external_key: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: The webhook body the unsend came in, for whoever traces it (not a foreign key).
    delivery_id: Mapped[int | None] = mapped_column(Integer)


class Template(Base):
    """A versioned reply template; the highest version per (name, language, tone) is live."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("name", "language", "tone", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(10), default="en")
    tone: Mapped[str] = mapped_column(String(30), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    body: Mapped[str] = mapped_column(Text)
    #: False: switched off, no draft uses it (a language or tone variant nobody wants any more).
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    author: Mapped[str] = mapped_column(String(100), default="seed")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Snippet(Base):
    """A versioned approved answer; the highest version per key is live."""

    __tablename__ = "snippets"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(300), default="")
    intents: Mapped[list[Any]] = mapped_column(default=list)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    language: Mapped[str] = mapped_column(String(10), default="en")
    body: Mapped[str] = mapped_column(Text)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    author: Mapped[str] = mapped_column(String(100), default="seed")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClassifierExample(Base):
    """A labelled example; corrections made by agents arrive as candidates."""

    __tablename__ = "classifier_examples"
    id: Mapped[int] = mapped_column(primary_key=True)
    classifier: Mapped[str] = mapped_column(String(50), index=True)
    label: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    # active, candidate, rejected, or merged: accepted into the message's earlier example.
    status: Mapped[str] = mapped_column(String(20), default="active")
    source: Mapped[str] = mapped_column(String(100), default="seed")
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClassifierModel(Base):
    """A trained head, versioned per classifier name; exactly one per name is active."""

    __tablename__ = "classifier_models"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(50), default="")
    threshold: Mapped[float] = mapped_column(Float, default=0.0)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    training_set: Mapped[dict[str, Any]] = mapped_column(default=dict)  # source, ids, rows
    head: Mapped[bytes] = mapped_column(LargeBinary)  # joblib of the fitted scikit-learn head
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClassifierTrainingJob(Base):
    """A retrain started from the supervisor page: its progress, then the model awaiting a
    decision (trained), and what the supervisor decided (activated, discarded)."""

    __tablename__ = "classifier_training_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    classifier: Mapped[str] = mapped_column(String(50), index=True)
    state: Mapped[str] = mapped_column(String(20), default="running")  # + trained, failed, ...
    stage: Mapped[str] = mapped_column(Text, default="")
    percent: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    model_id: Mapped[int | None] = mapped_column(ForeignKey("classifier_models.id"))
    version: Mapped[int | None] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_by: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class RuleVersion(Base):
    """A supervisor's edit of the tone or action rules (`kind`); the highest version is live,
    and with none the `[tone]` / `[actions]` sections of config.toml apply."""

    __tablename__ = "rule_versions"
    __table_args__ = (UniqueConstraint("kind", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # tone, actions
    version: Mapped[int] = mapped_column(Integer, default=1)
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the validated section
    text: Mapped[str] = mapped_column(Text, default="")  # as the supervisor wrote it (TOML)
    author: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    # The audit page's filters, newest first: who did what, and what happened to one object.
    __table_args__ = (
        Index("ix_audit_log_actor_id", "actor", "id"),
        Index("ix_audit_log_object", "object_type", "object_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100), default="system")
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50), default="")
    object_id: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ImapFolder(Base):
    """One watched IMAP folder: its checkpoint (UIDVALIDITY, last UID) and its poller's lease."""

    __tablename__ = "imap_folders"
    __table_args__ = (UniqueConstraint("channel_id", "folder"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger, default=0)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ImapFlagJob(Base):
    """Work for a folder's poller on a stored message: \\Answered still to be set on an original
    (recorded with the send), or `flag` "fetch again": a Retry on mail the server would not
    return (channels/imap_state.py)."""

    __tablename__ = "imap_flag_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), index=True)
    flag: Mapped[str] = mapped_column(String(50), default="\\Answered")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
