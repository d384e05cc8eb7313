"""Write to this customer: a new email from the customer page, and its API twin. The rules
and the queueing are in `responder.outbound`; the worker sends it as it sends replies, after
the same undo window, and Undo send (`/messages/{id}/undo`, as for a reply) brings it back
to this form unsent."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.exc import IntegrityError

from responder.db.models import Customer
from responder.db.session import transaction
from responder.outbound import (
    MAX_SUBJECT,
    KeyReused,
    Written,
    email_addresses,
    undo_write,
    write_to_customer,
    written_text,
)
from responder.review import ReviewError
from responder.web.auth import requires_agent
from responder.web.state import runtime, signed_in


class WriteForm(Struct):
    to: str = ""
    subject: str = ""
    body: str = ""
    #: Idempotency: the form page draws one; the same key twice queues one message.
    key: str = ""


class WriteResult(Struct):
    id: int
    conversation_id: int
    outbox_id: int
    message_id_header: str
    to: str
    state: str = "approved"
    #: True when `key` had already queued this message (nothing new was queued).
    repeated: bool = False
    #: Until when `POST /api/messages/{id}/undo` can take it back (ISO 8601, UTC); null when
    #: it goes out at once (`[outbound] undo_seconds` 0).
    undo_until: str | None = None


def _form_page(
    request: Request,
    customer_id: int,
    form: WriteForm,
    *,
    error: str = "",
    notice: str = "",
    status_code: int = 200,
) -> Template:
    """The form, with what was typed when it comes back refused."""
    rt = runtime(request)
    with rt.factory() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFoundException(f"customer {customer_id} not found")
        addresses = email_addresses(session, customer_id)
    context = {
        "user": request.user,
        "customer": {"id": customer.id, "name": customer.name},
        "addresses": addresses,
        "form": form,
        "error": error,
        "notice": notice,
        "sender": rt.settings.outbound.from_address,
        "max_subject": MAX_SUBJECT,
    }
    return Template("customer_write.html", context=context, status_code=status_code)


def _write(request: Request, customer_id: int, form: WriteForm) -> Written:
    rt = runtime(request)
    for attempt in (1, 2):
        try:
            with transaction(rt.factory) as session:
                return write_to_customer(
                    session,
                    rt.settings.outbound,
                    customer_id,
                    signed_in(request),
                    to=form.to,
                    subject=form.subject,
                    body=form.body,
                    key=form.key,
                )
        except IntegrityError:
            # Two submissions with one key at the same moment: the other one's insert won,
            # and a second look finds its message.
            if attempt == 2 or not form.key:
                raise
    raise AssertionError("unreachable")


@get("/customers/{customer_id:int}/write", sync_to_thread=True, guards=[requires_agent])
def write_page(
    request: Request, customer_id: FromPath[int], again: FromQuery[int | None] = None
) -> Template:
    """`again`: a message to this customer taken back with Undo send (or left unsent), its
    address, subject and text on the form to send anew (with a new key: a new message)."""
    form = WriteForm(key=secrets.token_urlsafe(16))
    if again is not None:
        with runtime(request).factory() as session:
            text = written_text(session, customer_id, again)
        if text is not None:
            form = WriteForm(text.to, text.subject, text.body, key=form.key)
    return _form_page(request, customer_id, form, notice=request.query_params.get("notice", ""))


@post("/customers/{customer_id:int}/write", sync_to_thread=True, guards=[requires_agent])
def write_form(
    request: Request,
    customer_id: FromPath[int],
    data: Annotated[WriteForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect | Template:
    """Queued for the worker to send; refused, the form comes back with the reason and the
    text as typed (400)."""
    try:
        written = _write(request, customer_id, data)
    except KeyReused as exc:
        fresh = WriteForm(data.to, data.subject, data.body, key=secrets.token_urlsafe(16))
        return _form_page(request, customer_id, fresh, error=str(exc), status_code=409)
    except ReviewError as exc:
        if exc.status_code == 404:
            raise NotFoundException(str(exc)) from exc
        return _form_page(request, customer_id, data, error=str(exc), status_code=400)
    notice = (
        f"Your message to {written.to} is on its way: it is in the timeline below, and the "
        "customer's answer joins its conversation."
    )
    if written.repeated:
        notice = f"That message to {written.to} was already on its way: it was not sent twice."
    shown = {"notice": notice}
    if written.goes_out_at is not None:  # the page offers Undo send while it waits
        shown["approved"] = str(written.message_id)
    return Redirect(f"/customers/{customer_id}", query_params=shown)


def undo_written(request: Request, message_id: int) -> None:
    """Undo send on a new message (`ReviewError` when too late), for the API and the page."""
    with transaction(runtime(request).factory) as session:
        undo_write(session, message_id, signed_in(request))


def undo_written_form(request: Request, customer_id: int, message_id: int) -> Redirect:
    """Undo send on a new message: back on the form with its address, subject and text, to
    change and send again or leave; too late, the customer's timeline says why."""
    try:
        undo_written(request, message_id)
    except ReviewError as exc:
        said = request.app.state.clock.refusal(exc)
        return Redirect(
            f"/customers/{customer_id}?{urlencode({'error': said})}#message-{message_id}"
        )
    notice = "Not sent: your message is back here, to change and send again."
    return Redirect(
        f"/customers/{customer_id}/write",
        query_params={"again": str(message_id), "notice": notice},
    )


@post("/api/customers/{customer_id:int}/messages", sync_to_thread=True, guards=[requires_agent])
def api_write(
    request: Request, customer_id: FromPath[int], data: JSONBody[WriteForm]
) -> WriteResult:
    """A new email to the customer (`to`: one of their email addresses, `subject`, `body`),
    sent as approved replies are: a fresh Message-ID, no In-Reply-To (400 for an empty subject
    or body or an address not theirs, 404 for no such customer). An optional `key` (8-100
    letters, digits, `-`, `_`) makes a retried request safe: the same key again answers with
    the message it queued first (`repeated: true`) and sends nothing more; the same key with
    another address, subject or text is a 409 and nothing is sent. A person's message waits
    `[outbound] undo_seconds` (`undo_until`), and `POST /api/messages/{id}/undo` takes it back
    meanwhile, as for a reply."""
    try:
        written = _write(request, customer_id, data)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return WriteResult(
        id=written.message_id,
        conversation_id=written.conversation_id,
        outbox_id=written.outbox_id,
        message_id_header=written.message_id_header,
        to=written.to,
        repeated=written.repeated,
        undo_until=written.goes_out_at.isoformat() if written.goes_out_at else None,
    )


WRITE_ROUTES: list[object] = [write_page, write_form, api_write]
