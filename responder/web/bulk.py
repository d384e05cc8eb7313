"""Acting on several drafts from the queue at once: assign them, reject them with one reason
(after an outage, dozens of "is it fixed yet?" answered by the status page), snooze them until
a time (the same dozens, until the engineers' estimate is due), or mark them spam (a run of
junk from many addresses: each sender blocked). Each draft is its own transaction, so one that
someone else has just handled is reported and the rest go through."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from litestar import Request, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from responder.blocklist import BlockError
from responder.db.models import utcnow
from responder.db.session import transaction
from responder.review import ReviewError, assign, reject
from responder.snooze import MenuTime, snooze
from responder.spam import mark_spam
from responder.web.auth import requires_agent
from responder.web.params import row_id_in
from responder.web.queue_view import NAMES
from responder.web.snooze_routes import menu_until
from responder.web.state import runtime, signed_in

MAX_AT_ONCE = 500


def picked_drafts(values: object) -> list[tuple[int, int]]:
    """`id:version` pairs from the ticked boxes; anything else is ignored."""
    raw = [values] if isinstance(values, str) else list(values or [])  # type: ignore[call-overload]
    picked = []
    for value in raw:
        message_id, _, version = str(value).partition(":")
        pair = row_id_in(message_id), row_id_in(version)
        if pair[0] is not None and pair[1] is not None:
            picked.append((pair[0], pair[1]))
    return list(dict.fromkeys(picked))


def _back(data: dict[str, Any], **message: str) -> Redirect:
    """To the queue page the form came from, its filters and its page (cursor) kept, with what
    happened. The drafts handled leave it, so the page shows the ones after them."""
    back = urlsplit(str(data.get("back") or "/queue"))
    kept = {key: value for key, value in parse_qsl(back.query) if key in (*NAMES, "cursor")}
    return Redirect("/queue", query_params={**kept, **message})


def _refusal(picked: list[tuple[int, int]], action: object, reason: str) -> str:
    """Why nothing can be done with this form, or "" when it can."""
    if not picked:
        return "tick the drafts first (the boxes at the left of the queue)"
    if len(picked) > MAX_AT_ONCE:
        return f"at most {MAX_AT_ONCE} drafts at once"
    if action not in ("assign", "reject", "snooze", "spam"):
        return "choose Assign, Reject, Snooze or Spam"
    if action == "reject" and not reason:
        return "say why the drafts are rejected"
    return ""


def _until(request: Request, data: dict[str, Any]) -> MenuTime | None:
    """The snooze menu's choice, worked out once: every draft ticked gets the same time."""
    try:
        return menu_until(request, data, utcnow())
    except ReviewError:
        return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@post("/queue/bulk", sync_to_thread=True, guards=[requires_agent])
def queue_bulk(
    request: Request,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    rt = runtime(request)
    user = signed_in(request)
    picked = picked_drafts(data.get("ids"))
    action = data.get("action")
    reason = str(data.get("reason") or "").strip()
    assignee = str(data.get("assignee") or "").strip() or None
    problem = _refusal(picked, action, reason)
    until = _until(request, data) if action == "snooze" else None
    if not problem and action == "snooze" and until is None:
        problem = "choose when the drafts come back"
    if problem:
        return _back(data, error=f"Nothing changed: {problem}.")
    done, refused, blocked = 0, [], []
    cleared: set[int] = set()  # rejected with an earlier pick's sender
    for message_id, version in picked:
        if message_id in cleared:
            continue
        try:
            with transaction(rt.factory) as session:
                if action == "assign":
                    assign(session, message_id, user, assignee)
                elif action == "spam":
                    marked = mark_spam(
                        session,
                        message_id,
                        user,
                        expected_version=version,
                        own_addresses=rt.own_addresses,
                    )
                    blocked.append(marked.sender)
                    cleared.update(marked.also_rejected)
                    done += len(marked.also_rejected)
                elif action == "snooze":
                    assert until is not None
                    snooze(session, message_id, user, until.until, reason, expected_version=version)
                else:
                    reject(session, message_id, user, reason, expected_version=version)
            done += 1
        except (ReviewError, BlockError) as exc:
            refused.append(f"message {message_id}: {request.app.state.clock.refusal(exc)}")
    if action == "assign":
        notice = f"Assigned {_plural(done, 'draft')} to {assignee or 'the shared queue'}."
    elif action == "snooze":
        clock = request.app.state.clock
        assert until is not None
        notice = (
            f"Snoozed {_plural(done, 'draft')} until {clock.minute(until.until)} ({clock.label}): "
            f"each comes back then, or when its customer writes again. {until.changed}"
        ).strip()
    elif action == "spam":
        senders = ", ".join(dict.fromkeys(blocked))
        notice = f"Rejected {_plural(done, 'draft')} as spam; blocked: {senders}."
    else:
        notice = f"Rejected {_plural(done, 'draft')}: {reason}"
    if not refused:
        return _back(data, notice=notice)
    error = f"{_plural(len(refused), 'draft')} not changed: " + "; ".join(refused)
    return _back(data, notice=notice, error=error) if done else _back(data, error=error)


BULK_ROUTES: list[object] = [queue_bulk]
