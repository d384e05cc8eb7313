"""Where a reviewer lands after acting on a draft: the next one in the queue's order, inside the
queue view they were working in (`queue_view`), passing over drafts a colleague has open; and
the draft the queue page itself opens next, chosen the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.db.models import Message, OutboxItem, utcnow
from responder.display import headline
from responder.pipeline.states import State
from responder.presence import Present, present
from responder.web.params import row_id_in
from responder.web.queue_view import QueueView, view_in
from responder.web.state import runtime, signed_in
from responder.web.views import queue_items

#: Drafts looked at a time for one a colleague has not open; a full batch of open ones (a team
#: on the same few drafts) reads the next, so the walk ends at most a batch past the last open.
_BATCH = 10


@dataclass(frozen=True)
class Following:
    id: int
    #: who else has it open: not empty only when every draft left in the view is open by someone
    open_by: list[Present]

    @property
    def said(self) -> str:
        """Why a draft someone has open is offered: "" when nobody else has it open."""
        if not self.open_by:
            return ""
        names = ", ".join(p.username for p in self.open_by)
        have = "has" if len(self.open_by) == 1 else "have"
        return f"Every draft left here is open by a colleague: {names} {have} this one open."


def _walk(
    session: Session,
    view: QueueView,
    me: int,
    *,
    after_id: int | None = None,
    cursor: str | None = None,
) -> Following | None:
    """The first draft in the view's order after `after_id` (or `cursor`) that no colleague has
    open; when each one left is open by someone, the first of those."""
    taken: Following | None = None
    while True:
        batch = queue_items(
            session,
            limit=_BATCH,
            after_id=after_id if cursor is None else None,
            filters=view.filters,
            cursor=cursor,
        )
        others = present(session, [item["id"] for item in batch], besides=me)
        for item in batch:
            if item["id"] not in others:
                return Following(item["id"], [])
            taken = taken or Following(item["id"], others[item["id"]])
        if len(batch) < _BATCH:
            return taken
        cursor = batch[-1]["cursor"]


def following(session: Session, message_id: int, view: QueueView, me: int) -> Following | None:
    """The draft after `message_id` in the view's order that no colleague has open; when each
    one left is open by someone, the first of those (so the last drafts still get done)."""
    return _walk(session, view, me, after_id=message_id)


def first_free(
    session: Session,
    rows: Sequence[Mapping[str, Any]],
    others: Mapping[int, list[Present]],
    view: QueueView,
    me: int,
    *,
    more: bool,
) -> Following | None:
    """The queue page's next draft (its "next" link, `j`): the first of its `rows` that no
    colleague has open (`others`, as the rows say "open by"), else the first such draft on the
    view's later pages (`more`: there are some); when each one is open by someone, the page's
    first row, as the review page's next draft is chosen."""
    for row in rows:
        if row["id"] not in others:
            return Following(row["id"], [])
    if not rows:
        return None
    if more:
        later = _walk(session, view, me, cursor=rows[-1]["cursor"])
        if later is not None and not later.open_by:
            return later
    return Following(rows[0]["id"], others[rows[0]["id"]])


def to_draft(request: Request, message_id: int, **shown: str) -> Redirect:
    """Back to a draft's page (a refusal, a save), in the queue view the action came from."""
    back = {**view_in(request.query_params, signed_in(request).id).params(), **shown}
    page = f"/messages/{message_id}"
    return Redirect(page, query_params=back) if back else Redirect(page)


def after_action(
    request: Request, message_id: int, notice: str = "", *, undoable: bool = False
) -> Redirect:
    """`undoable`: the reply just approved waits out its undo window; the next page offers the
    Undo button for it (`approved=<id>`). The view comes from the action's query string."""
    me = signed_in(request).id
    view = view_in(request.query_params, me)
    with runtime(request).factory() as session:
        found = following(session, message_id, view, me)
    if found is not None and found.open_by:
        notice = f"{notice} {found.said}" if notice else found.said
    shown = {"notice": notice} if notice else {}
    if undoable:
        shown["approved"] = str(message_id)
    if found is not None:
        return Redirect(
            f"/messages/{found.id}",
            query_params={"from": str(message_id), **view.params(), **shown},
        )
    back = {**view.params(), **shown}
    return Redirect("/queue", query_params=back) if back else Redirect("/queue")


def waiting_to_send(
    request: Request, shown: int | None = None, customer_id: int | None = None
) -> dict[str, object] | None:
    """The reply named by `approved=<id>` (else the page's own message, `shown`) while it still
    waits out its undo window: whom it goes to, for the Undo bar. Once it is out or undone, or
    its window is over, the bar is not offered. A new message staff wrote (`ours`) waits the
    same way; the customer page shows its bar (`customer_id`: only for that customer's own)."""
    asked = row_id_in(request.query_params.get("approved", ""))
    if asked is not None:
        shown = asked
    if shown is None:
        return None
    with runtime(request).factory() as session:
        message = session.get(Message, shown)
        item = session.execute(
            select(OutboxItem.attempts, OutboxItem.recipients).where(OutboxItem.message_id == shown)
        ).first()
        if (
            message is None
            or item is None
            or message.state != State.APPROVED
            or message.next_attempt_at is None
            or message.next_attempt_at <= utcnow()
            or item.attempts
            or (customer_id is not None and message.customer_id != customer_id)
        ):  # a reply already tried waits for its retry, not in an undo window
            return None
        ours = message.direction == "out"
        return {
            "id": message.id,
            "ours": ours,
            "to": ", ".join(item.recipients or ())
            if ours
            else message.sender_name or message.sender_address,
            "subject": headline(message.subject, message.new_text or message.text),
            "until": message.next_attempt_at,
        }
