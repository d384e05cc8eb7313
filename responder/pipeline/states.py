"""The states of an inbound message; the message table is the work queue."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    RECEIVED = "received"
    PARSED = "parsed"
    IGNORED = "ignored"
    QUARANTINED = "quarantined"
    CLASSIFIED = "classified"
    DRAFTED = "drafted"
    IN_REVIEW = "in_review"
    #: Put aside by a person until a time (`Message.snoozed_until`); back in review then.
    SNOOZED = "snoozed"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    REJECTED = "rejected"
    FAILED = "failed"
    #: A reply that could not be delivered, left unsent by a person (`responder.unsent`); or a
    #: new message staff wrote, left unsent or taken back with Undo send (`responder.outbound`).
    UNSENT = "unsent"


#: States a worker picks up; the others wait for a person or are final.
WORK_STATES = (
    State.RECEIVED,
    State.PARSED,
    State.CLASSIFIED,
    State.DRAFTED,
    State.APPROVED,
    State.SENDING,
)
#: A draft a person will review: in the queue, or put aside until a time.
AWAITING_REVIEW = (State.IN_REVIEW, State.SNOOZED)
#: States a person can send back to the start of the pipeline.
RETRYABLE_STATES = (State.QUARANTINED, State.FAILED)
FINAL_STATES = (State.IGNORED, State.SENT, State.REJECTED, State.UNSENT)

#: What each state means to a person reading a page (the API keeps the codes).
STATE_WORDS: dict[str, str] = {
    State.RECEIVED: "received",
    State.PARSED: "being read",
    State.IGNORED: "ignored",
    State.QUARANTINED: "quarantined",
    State.CLASSIFIED: "being drafted",
    State.DRAFTED: "being drafted",
    State.IN_REVIEW: "awaiting review",
    State.SNOOZED: "snoozed",
    State.APPROVED: "approved, to send",
    State.SENDING: "sending",
    State.SENT: "sent",
    State.REJECTED: "rejected",
    State.FAILED: "failed",
    State.UNSENT: "reply not sent",
}


#: Our own new message (staff wrote it: `direction` out) where its words differ from a
#: customer's message's: nobody approves it, and it is the message, not a reply, not sent.
OUR_STATE_WORDS: dict[str, str] = {
    State.APPROVED: "waiting to be sent",
    State.UNSENT: "not sent",
}


def state_words(state: str, ours: bool = False) -> str:
    """`ours`: the state of a new message staff wrote."""
    if ours and state in OUR_STATE_WORDS:
        return OUR_STATE_WORDS[state]
    return STATE_WORDS.get(state, state)
