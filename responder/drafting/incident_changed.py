"""Whether an outage draft still tells the network as it is: an incident edited, resolved or
recorded since the draft was written makes its text out of date, and the review page says so
(and offers a redraft) rather than let a wrong fix time or area go out. So does the fix time the
draft promised passing before it is sent: the time is judged when the page is looked at (no
job runs as a time passes), by this module's clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.db.models import Draft, Message, NetworkIncident, utcnow
from responder.drafting.incident_facts import INCIDENT_INTENTS, grounding_record
from responder.incidents import (
    FIELD_WORDS,
    active_incidents,
    fitting_incident,
    minutes_overdue,
    overdue_words,
)
from responder.pipeline.states import AWAITING_REVIEW
from responder.review import current_draft


def fix_overdue(record: Mapping[str, Any] | None, now: datetime | None = None) -> str | None:
    """How long ago the expected fix in an incident record (a draft's grounding) passed, in
    words ("40 minutes ago"); None: no fix time, or still ahead."""
    fix = (record or {}).get("expected_fix_at")
    if not fix:
        return None
    minutes = minutes_overdue(datetime.fromisoformat(fix), now or utcnow())
    return None if minutes is None else overdue_words(minutes)


def incident_news(
    session: Session,
    message: Message,
    draft: Draft | None,
    active: Sequence[NetworkIncident] | None = None,
    at: datetime | None = None,
) -> dict[str, Any] | None:
    """What changed since the draft was written, None when nothing did (or the draft reads no
    incidents). `kind`: "changed" (its facts, listed in `fields`), "resolved", "left" (its
    areas no longer cover the message), "other" (another incident fits now), "fits" (one
    fits a message the draft told of no fault) or "passed" (the fix time the draft promised
    has passed, `overdue` saying how long ago); `used` and `now` are the two records.
    `active`: the active incidents, when the caller asks for many messages; `at`: the time the
    fix is judged by (this module's clock without)."""
    grounding = (draft.grounding or {}) if draft is not None else {}
    if grounding.get("intent") not in INCIDENT_INTENTS or "incident" not in grounding:
        return None
    used = grounding["incident"]
    if active is None:
        active = active_incidents(session)
    fits, why = fitting_incident(active, f"{message.subject}\n{message.new_text or message.text}")
    now = grounding_record(fits, why) if fits is not None else None
    news: dict[str, Any] = {"used": used, "now": now, "fields": []}
    if used is None:
        return {**news, "kind": "fits"} if now is not None else None
    if now is None:
        incident = session.get(NetworkIncident, used["id"])
        if incident is None or incident.resolved_at is not None:
            return {**news, "kind": "resolved"}
        return {**news, "kind": "left", "now": grounding_record(incident, "")}
    if now["id"] != used["id"]:
        return {**news, "kind": "other"}
    fields = [words for key, words in FIELD_WORDS.items() if key in used and used[key] != now[key]]
    if fields:
        return {**news, "kind": "changed", "fields": fields}
    # Drafts from before `fix_promised` was recorded promised any fix time they were given.
    promised = used.get("fix_promised", bool(used.get("expected_fix_at")))
    overdue = fix_overdue(used, at) if promised else None
    return {**news, "kind": "passed", "overdue": overdue} if overdue else None


def waiting_out_of_date(session: Session) -> list[int]:
    """The messages waiting for review whose outage draft the incidents now contradict."""
    waiting = session.scalars(
        select(Message)
        .where(
            Message.direction == "in",
            Message.state.in_(AWAITING_REVIEW),
            Message.intent.in_(INCIDENT_INTENTS),
        )
        .order_by(Message.id)
    )
    active = active_incidents(session)
    return [
        m.id for m in waiting if incident_news(session, m, current_draft(session, m.id), active)
    ]
