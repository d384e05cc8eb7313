"""What staff do to a draft: approve (as is or edited), reject, retry. Shared by web and CLI.

Every action checks the message's version, so two people acting on the same draft cannot both
win: the second is told who handled it and how, and no second reply is queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rapidfuzz.distance import Levenshtein
from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from responder.audit import audit
from responder.channels import EMAIL_KINDS
from responder.channels.imap_state import ask_refetch, unfetched
from responder.channels.social.outside import is_outside, outside_words
from responder.channels.social.senders import length_problem
from responder.config import OutboundSettings, Settings
from responder.conversations import written_after
from responder.db.models import (
    Channel,
    Draft,
    DraftSnippet,
    Message,
    OutboxItem,
    ReplyFile,
    ReviewAction,
    StaffUser,
    utcnow,
)
from responder.drafting.compose import used_snippet_ids
from responder.drafting.used import regrounded
from responder.mail.compose import build_reply, make_message_id, reply_subject, with_quote
from responder.mail.message_ids import thread_references
from responder.mail.parse import Address
from responder.pipeline.notify import announce_work
from responder.pipeline.reparse import forget_parse
from responder.pipeline.states import AWAITING_REVIEW, RETRYABLE_STATES, State, state_words
from responder.reply_files import pending


class ReviewError(Exception):
    status_code = 400


class NotFound(ReviewError):
    status_code = 404


def inbound_message(session: Session, message_id: int) -> Message:
    """A customer's message by id; our own outbound rows are not something staff act on."""
    message = session.get(Message, message_id)
    if message is None or message.direction != "in":
        raise NotFound(f"message {message_id} not found")
    return message


class AlreadyHandled(ReviewError):
    """`at`: when a colleague handled it, said in UTC here (the API, the command line); a page
    says it in the team's zone (`PageClock.refusal`)."""

    status_code = 409

    def __init__(self, words: str, at: datetime | None = None) -> None:
        self.words = words
        self.at = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
        super().__init__(f"{words} at {self.at:%Y-%m-%d %H:%M} UTC" if self.at else words)


def current_draft(session: Session, message_id: int) -> Draft | None:
    return session.scalar(
        select(Draft).where(Draft.message_id == message_id).order_by(Draft.version.desc()).limit(1)
    )


def composed_draft(session: Session, message_id: int) -> Draft | None:
    """The latest draft Responder composed (not a version a person saved or edited)."""
    for draft in session.scalars(
        select(Draft).where(Draft.message_id == message_id).order_by(Draft.version.desc())
    ):
        grounding = draft.grounding or {}
        if "saved_by" not in grounding and "edited_from_version" not in grounding:
            return draft
    return None


def current_drafts(session: Session, message_ids: Sequence[int]) -> dict[int, Draft]:
    """The latest draft of each message that has one, for a whole batch in one query."""
    latest: dict[int, Draft] = {}
    if message_ids:
        rows = session.scalars(
            select(Draft).where(Draft.message_id.in_(message_ids)).order_by(Draft.version)
        )
        for draft in rows:
            latest[draft.message_id] = draft
    return latest


def _actor(user: StaffUser | None) -> str:
    return user.username if user else "auto-send"


#: A review action as the history on a message's page says it ("edit" is an approval whose
#: text a person changed: the acceptance figures count it apart, people read it as approved).
HISTORY_WORDS = {
    "approve": "approved",
    "edit": "approved with edits",
    "reject": "rejected",
    "save": "edit saved",
    "assign": "assigned",
    "snooze": "snoozed",
    "wake": "woken",
    "undo": "approval undone",
    "edit_again": "back to edit, the reply not delivered",
    "restore": "back in the queue (block lifted)",
    "reopen": "reopened",
    "reclassify": "classification corrected",
    "redraft": "drafted again",
    "pick_action": "action chosen",
    "unsent": "left unsent",
    # a new message staff wrote (responder.outbound): its author, and an Undo send
    "write": "written",
    "take_back": "taken back with Undo send",
}


def _already_handled(session: Session, message: Message) -> AlreadyHandled:
    """Who did what to the message, and when, in the history's words."""
    last = session.scalar(
        select(ReviewAction)
        .where(ReviewAction.message_id == message.id)
        .order_by(ReviewAction.id.desc())
        .limit(1)
    )
    if last is None:
        return AlreadyHandled(
            f"this message is no longer waiting for review (it is {message.state})"
        )
    who = session.get(StaffUser, last.user_id).username if last.user_id else "auto-send"
    words = HISTORY_WORDS.get(last.action, last.action.replace("_", " "))
    return AlreadyHandled(f"already {words} by {who}", last.created_at)


def take_in_review(
    session: Session,
    message_id: int,
    expected_version: int | None,
    new_state: State,
    *,
    from_states: tuple[State, ...] = (State.IN_REVIEW,),
) -> Message:
    """Move in_review (or `from_states`) -> new_state only if nobody else did first
    (compare-and-set). A person's decision on a draft in review ends its "back from snooze"
    mark: approved and undone later, or rejected and reopened, it is not back from one. One
    decided on while asleep keeps its time, for a lifted block to put it back to sleep
    (`blocked_drafts.restore_rejected`); snoozing sets the time anew."""
    message = inbound_message(session, message_id)
    conditions = [Message.id == message_id, Message.state.in_(from_states)]
    if expected_version is not None:
        conditions.append(Message.version == expected_version)
    result = session.execute(
        update(Message)
        .where(*conditions)
        .values(
            state=new_state,
            version=Message.version + 1,
            snoozed_until=case((Message.state == State.SNOOZED, Message.snoozed_until), else_=None),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(message)
    if result.rowcount != 1:
        if message.state in from_states:
            raise changed_since_opened(session, message)
        raise _already_handled(session, message)
    return message


def changed_since_opened(session: Session, message: Message) -> AlreadyHandled:
    """A page's version is out of date: said plainly when the conversation moved on under
    the draft (`mark_waiting_drafts_stale` moved the version), as only a reload shows it."""
    later = _overtaken_by(session, message)
    if later is not None and is_outside(later):
        channel = session.get(Channel, later.channel_id)
        return AlreadyHandled(
            f"this conversation was {outside_words(channel.kind if channel else '')} since "
            "this draft was made: reload to read that reply, so the customer does not get a "
            "second answer"
        )
    if later is not None:
        return AlreadyHandled(
            "the customer wrote again since this draft was made: reload to read their new "
            "message before you answer"
        )
    return AlreadyHandled(
        "this draft changed since you opened it; reload to see the latest version"
    )


def _overtaken_by(session: Session, message: Message) -> Message | None:
    """What came last after `message` in its conversation when its draft is stale: the
    customer's newer message, or a colleague's reply from outside Responder."""
    draft = current_draft(session, message.id)
    if draft is None or not draft.stale or message.conversation_id is None:
        return None
    others = session.scalars(
        select(Message).where(
            Message.conversation_id == message.conversation_id,
            Message.id != message.id,
            Message.state.not_in([State.IGNORED, State.QUARANTINED]),
        )
    )
    later = [
        m for m in others if (m.direction == "in" or is_outside(m)) and written_after(m, message)
    ]
    return max(later, key=lambda m: (m.received_at, m.id), default=None)


def reply_recipients(message: Message) -> tuple[Address, ...]:
    pairs = message.reply_to or ([[message.sender_name, message.sender_address]])
    return _addresses(pairs)


def cc_copied(message: Message) -> list[list[str]]:
    """The [name, address] pairs the reply copies: `reply_cc` but those a person left off."""
    off = set(message.reply_cc_off or [])
    return [pair for pair in message.reply_cc or [] if str(pair[1]).lower() not in off]


def cc_left_off(message: Message) -> list[list[str]]:
    """The pairs of `reply_cc` a person unticked, still listed so they can be ticked again."""
    off = set(message.reply_cc_off or [])
    return [pair for pair in message.reply_cc or [] if str(pair[1]).lower() in off]


def choose_cc(
    session: Session, message_id: int, unticked: set[str], ticked: set[str]
) -> tuple[list[str], list[str]]:
    """Take copied addresses off the reply (one the customer copied in by mistake, say), or put
    ones left off back on: `unticked` were shown ticked, `ticked` were shown unticked, so a page
    drawn before a colleague's change undoes nothing it did not show. Every address stays in
    `reply_cc`, so a Save never loses one. Returns the addresses left off and put back now."""
    message = session.get(Message, message_id)
    if message is None or not message.reply_cc or not (unticked or ticked):
        return [], []
    addresses = [str(pair[1]) for pair in message.reply_cc]
    before = set(message.reply_cc_off or [])
    after = (before | {a.lower() for a in unticked}) - {a.lower() for a in ticked}
    after &= {a.lower() for a in addresses}
    if after != before:
        message.reply_cc_off = [a.lower() for a in addresses if a.lower() in after]
    off = [a for a in addresses if a.lower() in after - before]
    back = [a for a in addresses if a.lower() in before - after]
    return off, back


def _addresses(pairs: list[Any]) -> tuple[Address, ...]:
    return tuple(Address(name=str(n or ""), address=str(a)) for n, a in pairs if a)


def _reply_language(message: Message, draft: Draft) -> str:
    """The language the reply is written in: its template's, else the customer's message's."""
    template = (draft.grounding or {}).get("template") or {}
    return str(template.get("language") or message.language or "")


def _quoted(message: Message, draft: Draft, timezone: str) -> str:
    """The reply over the customer's new words (not the history they quoted themselves)."""
    language = ((draft.grounding or {}).get("template") or {}).get("language") or "en"
    return with_quote(
        draft.body,
        message.new_text or message.text,
        sender=Address(message.sender_name, message.sender_address),
        written_at=message.received_at,  # our clock, not the sender's Date header
        language=language,
        timezone=timezone,
    )


def queue_reply(
    session: Session,
    message: Message,
    draft: Draft,
    outbound: OutboundSettings,
    *,
    auto_submitted: bool = False,
    now: datetime | None = None,
    timezone: str = "UTC",
) -> OutboxItem:
    """Fix the reply's bytes and Message-ID before any attempt, so a retry is the same mail
    (only its Date is set anew by each attempt, in the send stage).
    `timezone`: the team's (`[queue] timezone`), for the quote's "On ... wrote:" line."""
    channel = session.get(Channel, message.channel_id)
    assert channel is not None
    subject = reply_subject(message.subject or "")
    domain = outbound.from_address.rpartition("@")[2] or "localhost"
    message_id = make_message_id(domain)
    recipients = reply_recipients(message)
    files = pending(session, message.id, with_content=True)
    if files and channel.kind not in EMAIL_KINDS:
        raise ReviewError(
            f"{len(files)} file(s) are attached, and {channel.kind} replies carry text only: "
            "remove them first"
        )
    raw = None
    copies: tuple[Address, ...] = ()
    if channel.kind in EMAIL_KINDS:
        copies = _addresses(cc_copied(message))
        references = thread_references(
            message.references or [], message.in_reply_to, message.message_id_header
        )
        try:
            raw = build_reply(
                to=recipients,
                from_=Address(outbound.from_name, outbound.from_address),
                subject=subject,
                body=_quoted(message, draft, timezone) if outbound.quote_original else draft.body,
                message_id=message_id,
                in_reply_to=message.message_id_header,
                references=references,
                date=now or utcnow(),
                auto_submitted=auto_submitted,
                attachments=[(f.filename, f.content_type, f.content) for f in files],
                cc=copies,
                language=_reply_language(message, draft),
            )
        except ValueError as exc:  # the composer's refusal is the reviewer's to read
            raise ReviewError(f"the reply cannot be sent: {exc}") from exc
    item = OutboxItem(
        message_id=message.id,
        draft_id=draft.id,
        channel_id=channel.id,
        message_id_header=message_id,
        recipients=[a.address for a in (*recipients, *copies)],
        subject=subject,
        body=draft.body,
        raw=raw,
        state="queued",
    )
    session.add(item)
    session.flush()
    for file in files:  # part of this reply's bytes now: no longer pending or removable
        file.outbox_id = item.id
    return item


#: Approving without a reply's words: refused whatever the form or the API sent.
NOTHING_TO_SEND = "the reply is empty: write a reply first"


def approve(
    session: Session,
    message_id: int,
    user: StaffUser | None,
    outbound: OutboundSettings,
    *,
    body: str | None = None,
    expected_version: int | None = None,
    auto_submitted: bool = False,
    timezone: str = "UTC",
    settings: Settings | None = None,
) -> OutboxItem:
    """`settings`, when `body` may be a person's edit: the live snippets it holds are then
    counted as used (`_person_version`), those inserted by hand included."""
    message = take_in_review(session, message_id, expected_version, State.APPROVED)
    draft = current_draft(session, message_id)
    if draft is None:
        raise ReviewError("there is no draft to approve: write a reply first")
    # The text sent, else the draft's: a form posts its editor left empty as "", which is no
    # more a reply than an empty draft (drafting leaves one when it cannot write the reply).
    text = draft.body if body is None else body.replace("\r\n", "\n")
    if not text.strip():
        raise ReviewError(NOTHING_TO_SEND)
    composed = composed_draft(session, message_id) or draft
    if text.strip() != draft.body.strip():
        draft = _person_version(
            session,
            settings,
            message_id,
            draft,
            text.strip() + "\n",
            {"edited_from_version": draft.version},
            user,
        )
        session.add(draft)
        session.flush()
    # Measured against what Responder wrote: a text a person saved, or approved before and
    # took back with Undo, is still their edit when approved as it stands.
    action, distance = "approve", None
    if draft.body.strip() != composed.body.strip():
        action, distance = "edit", Levenshtein.distance(composed.body, draft.body)
    channel = session.get(Channel, message.channel_id)
    problem = length_problem(channel.kind, draft.body.strip()) if channel else None
    if problem:
        raise ReviewError(problem)
    item = queue_reply(
        session, message, draft, outbound, auto_submitted=auto_submitted, timezone=timezone
    )
    session.add(
        ReviewAction(
            message_id=message_id,
            draft_id=draft.id,
            user_id=user.id if user else None,
            action=action,
            edit_distance=distance,
            detail={"outbox_id": item.id, "auto": user is None},
        )
    )
    # The log says what happened to the message (it was approved), the edit is its detail; the
    # review actions keep "edit" apart for the acceptance figures.
    edits = {"edited": True, "edit_distance": distance} if action == "edit" else {}
    actor = _actor(user)
    audit(session, actor, "draft.approve", "message", message_id, draft=draft.version, **edits)
    hold_for_undo(session, message, outbound, user)
    return item


def hold_for_undo(
    session: Session, message: Message, outbound: OutboundSettings, user: StaffUser | None
) -> None:
    """A person's approved reply, or new message, waits `undo_seconds` before workers may
    claim it (their poll interval later at most); until then `stop_in_undo_window` can take it
    back. Auto-sent replies, and every one with no window, go out at once."""
    if user is not None and outbound.undo_seconds > 0:
        message.next_attempt_at = utcnow() + timedelta(seconds=outbound.undo_seconds)
    else:
        announce_work(session)  # the send stage: out now, not after a worker's idle wait


def stop_in_undo_window(
    session: Session, message: Message, new_state: State, noun: str = "reply"
) -> OutboxItem:
    """Undo send: `message` (approved, waiting out its window) moves to `new_state` and its
    queued outbox row is returned, for the caller to take back. A compare-and-set on the state,
    the window and the lease: once a worker has claimed it, it is too late. `noun` names it in
    refusals ("reply", or "message" for a new one staff wrote)."""
    now = utcnow()
    result = session.execute(
        update(Message)
        .where(
            Message.id == message.id,
            Message.state == State.APPROVED,
            Message.next_attempt_at > now,
            or_(Message.claimed_until.is_(None), Message.claimed_until < now),
        )
        .values(
            state=new_state,
            version=Message.version + 1,
            next_attempt_at=None,
            state_reason="",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(message)
    item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message.id))
    if result.rowcount != 1 or item is None or item.attempts:
        if result.rowcount == 1:
            raise ReviewError(f"the {noun} has already been tried; it cannot be stopped now")
        if message.state == State.SENT:
            raise AlreadyHandled(f"too late to undo: the {noun} has been sent")
        if message.state in (State.APPROVED, State.SENDING):
            raise AlreadyHandled(f"too late to undo: the {noun} is already on its way")
        raise _already_handled(session, message)
    return item


def undo_approval(session: Session, message_id: int, user: StaffUser) -> Message:
    """Stop a reply still inside its undo window: the message is back in review with the
    approved text as its draft, its files pending again."""
    message = inbound_message(session, message_id)
    item = stop_in_undo_window(session, message, State.IN_REVIEW)
    session.execute(update(ReplyFile).where(ReplyFile.outbox_id == item.id).values(outbox_id=None))
    session.delete(item)
    _record_on_current_draft(session, message_id, user, "undo")
    return message


def reject(
    session: Session,
    message_id: int,
    user: StaffUser,
    reason: str,
    *,
    expected_version: int | None = None,
) -> None:
    reason = reason.strip()
    if not reason:
        raise ReviewError("say why the draft is rejected")
    # A snoozed draft can be rejected where it sleeps (answered by phone meanwhile; its sender
    # marked as spam); approving one needs it back in review, where its draft can be read.
    take_in_review(
        session, message_id, expected_version, State.REJECTED, from_states=AWAITING_REVIEW
    )
    message = session.get(Message, message_id)
    assert message is not None
    message.state_reason = reason
    _record_on_current_draft(session, message_id, user, "reject", reason=reason)


def _record_on_current_draft(
    session: Session, message_id: int, user: StaffUser, action: str, reason: str = ""
) -> None:
    """A decision on the draft as it stands, in the review history and the audit log."""
    draft = current_draft(session, message_id)
    session.add(
        ReviewAction(
            message_id=message_id,
            draft_id=draft.id if draft else None,
            user_id=user.id,
            action=action,
            reason=reason,
        )
    )
    details = {"reason": reason} if reason else {}
    audit(session, user.username, f"draft.{action}", "message", message_id, **details)


def retry(session: Session, message_id: int, actor: str) -> Message:
    """Send a quarantined or failed message through the pipeline again, raw bytes unchanged.
    IMAP mail the server would not return stays quarantined until its folder's poller has
    fetched it again (then it is parsed as new); once the folder was renumbered, mail stored
    without its bytes can never be, and is ignored with that reason instead."""
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    if message.state not in RETRYABLE_STATES:
        raise ReviewError(
            f"only quarantined or failed messages can be retried (it is {message.state})"
        )
    if unfetched(message):  # the IMAP server would not return it: ask it again, by UID
        # A compare-and-set on the version seen first: a second Retry pressed at the same
        # moment waits for this one and is refused, instead of adding a second fetch job.
        taken = session.execute(
            update(Message)
            .where(Message.id == message_id, Message.version == message.version)
            .values(version=Message.version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        session.refresh(message)
        if taken != 1 or not unfetched(message):
            raise AlreadyHandled(
                f"someone retried or handled it meanwhile (it is {state_words(message.state)})"
            )
        if ask_refetch(session, message, actor):  # else it is gone from the server: ignored
            audit(session, actor, "message.retry", "message", message_id)
        return message
    outbox = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
    # A compare-and-set on the state seen, so a Leave unsent (or another Retry) pressed meanwhile
    # wins or loses whole: an unsent reply never goes out after all.
    taken = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.state == message.state)
        .values(
            state=State.APPROVED if outbox is not None else State.RECEIVED,
            state_reason="",
            attempts=0,
            next_attempt_at=None,
            version=Message.version + 1,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(message)
    if taken != 1:
        if message.state == State.UNSENT:
            raise _already_handled(session, message)
        raise AlreadyHandled(
            f"someone retried or handled it meanwhile (it is {state_words(message.state)})"
        )
    before: dict[str, Any] = {}
    if outbox is not None:
        # Its attempts start again: after "gave up after 6 attempts", a Retry is worth as many.
        # The log keeps the ones made before, with their error.
        before = {"attempts": outbox.attempts, "error": outbox.last_error}
        outbox.state, outbox.next_attempt_at = "queued", None
        outbox.attempts, outbox.last_error = 0, ""
    else:  # failed before a reply was queued, or quarantined: parsed again from the raw
        forget_parse(session, [message_id], keep_platform_files=True)
    announce_work(session)
    audit(session, actor, "message.retry", "message", message_id, **before)
    return message


def _person_version(
    session: Session,
    settings: Settings | None,
    message_id: int,
    previous: Draft | None,
    body: str,
    extra: dict[str, Any],
    user: StaffUser | None,
) -> Draft:
    """The version after `previous` with a person's text `body`: the grounding copied, its
    snippets judged against `body`, and (with `settings`) every other live snippet `body` holds
    marked used too; a `draft_snippets` row for each snippet used, as a composed draft has."""
    grounding = regrounded((previous.grounding or {}) if previous else {}, body)
    if settings is not None:
        # Imported here: the supervisor's rendering code imports this module.
        from responder.drafting.held import with_held_snippets

        grounding = with_held_snippets(session, settings, message_id, grounding, body)
    grounding = {**grounding, **extra}
    return Draft(
        message_id=message_id,
        version=(previous.version + 1) if previous else 1,
        body=body,
        template_id=previous.template_id if previous else None,
        grounding=grounding,
        confidence=previous.confidence if previous else None,
        created_by_id=user.id if user else None,
        snippets_used=[DraftSnippet(snippet_id=i) for i in sorted(used_snippet_ids(grounding))],
    )


def save_draft(
    session: Session,
    message_id: int,
    user: StaffUser,
    body: str,
    *,
    expected_version: int | None,
    settings: Settings | None = None,
) -> Draft:
    """Keep an edit without sending it: a new draft version, still in review. With
    `settings`, every live snippet the text holds counts as used (`_person_version`)."""
    message = inbound_message(session, message_id)
    if message.state != State.IN_REVIEW:
        raise _already_handled(session, message)
    if expected_version is not None and message.version != expected_version:
        raise changed_since_opened(session, message)
    body = body.replace("\r\n", "\n").strip() + "\n"
    previous = current_draft(session, message_id)
    if previous is not None and previous.body.strip() == body.strip():
        return previous
    draft = _person_version(
        session, settings, message_id, previous, body, {"saved_by": user.username}, user
    )
    session.add(draft)
    message.version += 1
    session.flush()
    session.add(
        ReviewAction(
            message_id=message_id,
            draft_id=draft.id,
            user_id=user.id,
            action="save",
            edit_distance=Levenshtein.distance(previous.body, body) if previous else None,
        )
    )
    audit(session, user.username, "draft.save", "message", message_id, draft=draft.version)
    return draft


ASSIGNABLE_STATES = (*AWAITING_REVIEW, *RETRYABLE_STATES)
"""A message is someone's to handle while it waits for a person: a draft to review, mail that
could not be taken in, a reply that could not be delivered."""


def assign(session: Session, message_id: int, user: StaffUser, assignee: str | None) -> Message:
    """Hand a draft to a colleague (or take it back to the shared queue with None); one a
    colleague handled meanwhile is refused with who did what, as approving it would be.
    The message's version stays: its draft did not change, so a page open on it (or a whole
    queue of them, after a bulk assign) still saves, approves and snoozes."""
    message = inbound_message(session, message_id)
    if message.state not in ASSIGNABLE_STATES:
        raise _already_handled(session, message)
    target = None
    if assignee:
        target = session.scalar(select(StaffUser).where(StaffUser.username == assignee))
        if target is None or not target.active:
            raise ReviewError(f"no active staff user {assignee!r}")
    message.assignee_id = target.id if target else None
    session.add(
        ReviewAction(
            message_id=message_id,
            user_id=user.id,
            action="assign",
            detail={"assignee": target.username if target else None},
        )
    )
    audit(session, user.username, "message.assign", "message", message_id, to=assignee or None)
    return message


def open_for_review(session: Session, message_id: int, user: StaffUser, claim_minutes: int) -> None:
    """A soft claim: others see who has the draft open; it never blocks them."""
    message = session.get(Message, message_id)
    if message is None or message.state != State.IN_REVIEW:
        return
    now = utcnow()
    held_by_other = (
        message.viewer_id not in (None, user.id)
        and message.viewed_at is not None
        and message.viewed_at > now - timedelta(minutes=claim_minutes)
    )
    if not held_by_other:
        message.viewer_id = user.id
        message.viewed_at = now
