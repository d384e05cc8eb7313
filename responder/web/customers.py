"""The customer page and its JSON API: the single customer view, link suggestions (to link, to
dismiss, and to take a dismissal back), link/unlink.

Thin handlers: the customer services (responder.customers) hold the rules, as the CLI's do.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from msgspec import Struct

from responder.blocklist import blocks_covering
from responder.customers.dismissals import undo_dismissal
from responder.customers.links import (
    LinkError,
    dismiss_suggestion,
    suggest_links,
    unlink_customers,
)
from responder.customers.view import customer_profile
from responder.db.models import Customer, utcnow
from responder.db.session import transaction
from responder.drafting.customer_known import LinkOutcome, link_and_redraft
from responder.notes import notes_of_customer
from responder.web.auth import requires_agent
from responder.web.customer_find import LinkSearch, link_search
from responder.web.next_draft import to_draft, waiting_to_send
from responder.web.state import runtime as _rt
from responder.web.state import signed_in


def _username(request: Request) -> str:
    return signed_in(request).username


def _profile(request: Request, customer_id: int) -> dict[str, Any]:
    rt = _rt(request)
    with rt.factory() as session:
        profile = customer_profile(session, customer_id, rt.settings, utcnow())
        if profile is not None:
            profile["notes"] = notes_of_customer(session, customer_id)
            profile["blocked"] = blocks_covering(
                session, (i["value"] for i in profile["identities"])
            )
    if profile is None:
        raise NotFoundException(f"customer {customer_id} not found")
    return profile


class LinkForm(Struct):
    target_id: int


class SuggestionForm(Struct):
    """From the customer page, or from a message's review page (`message_id`: back to it)."""

    target_id: int
    message_id: int | None = None


class DismissResult(Struct):
    source_id: int
    target_id: int
    dismissed_by: str
    dismissed_at: str


class LinkResult(Struct):
    link_id: int
    source_id: int
    target_id: int
    moved: dict[str, int]
    linked: bool
    redrafted: dict[str, int] = {}
    kept_edited: list[int] = []


@get("/customers/{customer_id:int}", sync_to_thread=True, guards=[requires_agent])
def customer_page(
    request: Request, customer_id: FromPath[int], find: FromQuery[str] = ""
) -> Template:
    """`find`: the known customer looked for, to link a provisional one by hand."""
    profile = _profile(request, customer_id)
    found = LinkSearch()
    if find and profile["provisional"] and not profile["linked_to"]:
        rt = _rt(request)
        with rt.read_factory() as session:
            found = link_search(session, customer_id, find, rt.settings.customers.default_region)
    context = {
        "c": profile,
        "find": found,
        "user": request.user,
        "error": request.query_params.get("error", ""),
        "notice": request.query_params.get("notice", ""),
        # a new message just written, while Undo send can still stop it
        "approved": waiting_to_send(request, customer_id=customer_id),
    }
    return Template("customer.html", context=context)


def _back(request: Request, customer_id: int, data: SuggestionForm, **query: str) -> Redirect:
    """To the review page the form was sent from (in the queue view it was opened in), else to
    the customer page."""
    if data.message_id:
        return to_draft(request, data.message_id, **query)
    return Redirect(f"/customers/{customer_id}", query_params=query)


@post("/customers/{customer_id:int}/link", sync_to_thread=True, guards=[requires_agent])
def link_form(
    request: Request,
    customer_id: FromPath[int],
    data: Annotated[SuggestionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    """The link, and the waiting drafts written again for the known customer (see
    responder.drafting.customer_known); the page says which were and which a person's edits
    kept."""
    try:
        outcome = link_and_redraft(_rt(request), customer_id, data.target_id, signed_in(request))
    except LinkError as exc:
        return _back(request, customer_id, data, error=str(exc))
    notice = link_notice(outcome, data.message_id)
    if data.message_id:
        return _back(request, customer_id, data, notice=notice)
    return Redirect(f"/customers/{data.target_id}", query_params={"notice": notice})


def link_notice(outcome: LinkOutcome, message_id: int | None) -> str:
    """What became of the drafts: the one on the page (`message_id`) first, then the others."""
    said = [f"Linked to {outcome.target_name}."]
    if message_id in outcome.redrafted:
        said.append(f"The draft was written again for them (v{outcome.redrafted[message_id]}).")
    elif message_id in outcome.kept_edited:
        said.append("A person had edited the draft, so it stays as it is: redraft it below.")
    if redrafted := len(outcome.redrafted.keys() - {message_id}):
        drafts, were = _drafts(redrafted, message_id)
        said.append(f"{drafts} {were} written again for them.")
    if kept := len(set(outcome.kept_edited) - {message_id}):
        drafts, were = _drafts(kept, message_id)
        pages = "its page offers" if kept == 1 else "their pages offer"
        said.append(f"{drafts} a person had edited {were} kept as written: {pages} a redraft.")
    return " ".join(said)


def _drafts(count: int, message_id: int | None) -> tuple[str, str]:
    """("2 other waiting drafts", "were") beside the one on the page, ("1 waiting draft", "was")."""
    other = " other" if message_id else ""
    if count == 1:
        return f"1{other} waiting draft", "was"
    return f"{count}{other} waiting drafts", "were"


@post("/customers/{customer_id:int}/dismiss", sync_to_thread=True, guards=[requires_agent])
def dismiss_form(
    request: Request,
    customer_id: FromPath[int],
    data: Annotated[SuggestionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    """An agent's "not this customer": that suggestion goes, the others stay."""
    try:
        with transaction(_rt(request).factory) as session:
            dismiss_suggestion(session, customer_id, data.target_id, _username(request))
            target = session.get(Customer, data.target_id)
            notice = f"Not {target.name if target else 'that customer'}: not suggested again."
    except LinkError as exc:
        return _back(request, customer_id, data, error=str(exc))
    return _back(request, customer_id, data, notice=notice)


@post("/customers/{customer_id:int}/dismiss/undo", sync_to_thread=True, guards=[requires_agent])
def undo_dismiss_form(
    request: Request,
    customer_id: FromPath[int],
    data: Annotated[SuggestionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    """ "Not this customer" taken back: the suggestion returns if the evidence still holds."""
    try:
        with transaction(_rt(request).factory) as session:
            name = undo_dismissal(session, customer_id, data.target_id, _username(request))
    except LinkError as exc:
        return _back(request, customer_id, data, error=str(exc))
    return _back(
        request, customer_id, data, notice=f"Undone: {name} is no longer ruled out for this sender."
    )


@post("/customers/{customer_id:int}/unlink", sync_to_thread=True, guards=[requires_agent])
def unlink_form(request: Request, customer_id: FromPath[int]) -> Redirect:
    try:
        with transaction(_rt(request).factory) as session:
            unlink_customers(session, customer_id, _username(request))
    except LinkError as exc:
        return Redirect(f"/customers/{customer_id}", query_params={"error": str(exc)})
    return Redirect(f"/customers/{customer_id}")


@get("/api/customers/{customer_id:int}", sync_to_thread=True, guards=[requires_agent])
def api_customer(request: Request, customer_id: FromPath[int]) -> dict[str, Any]:
    return _profile(request, customer_id)


@get("/api/customers/{customer_id:int}/suggestions", sync_to_thread=True, guards=[requires_agent])
def api_suggestions(request: Request, customer_id: FromPath[int]) -> list[dict[str, Any]]:
    rt = _rt(request)
    with rt.factory() as session:
        return [s.as_dict() for s in suggest_links(session, customer_id, rt.settings.customers)]


def _result(link: Any, linked: bool) -> LinkResult:
    return LinkResult(
        link_id=link.id,
        source_id=link.source_id,
        target_id=link.target_id,
        moved={k: len(v) for k, v in (link.moved or {}).items()},
        linked=linked,
    )


@post("/api/customers/{customer_id:int}/link", sync_to_thread=True, guards=[requires_agent])
def api_link(request: Request, customer_id: FromPath[int], data: JSONBody[LinkForm]) -> LinkResult:
    """Waiting drafts are written again for the known customer (`redrafted`: message id to the
    new version), except those a person edited (`kept_edited`)."""
    try:
        outcome = link_and_redraft(_rt(request), customer_id, data.target_id, signed_in(request))
    except LinkError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return LinkResult(
        link_id=outcome.link_id,
        source_id=outcome.source_id,
        target_id=outcome.target_id,
        moved=outcome.moved,
        linked=True,
        redrafted={str(k): v for k, v in outcome.redrafted.items()},
        kept_edited=outcome.kept_edited,
    )


@post("/api/customers/{customer_id:int}/dismiss", sync_to_thread=True, guards=[requires_agent])
def api_dismiss(
    request: Request, customer_id: FromPath[int], data: JSONBody[LinkForm]
) -> DismissResult:
    """The suggestion of `target_id` for this provisional customer is wrong: not offered again."""
    try:
        with transaction(_rt(request).factory) as session:
            done = dismiss_suggestion(session, customer_id, data.target_id, _username(request))
            return DismissResult(
                source_id=done.source_id,
                target_id=done.target_id,
                dismissed_by=done.dismissed_by,
                dismissed_at=done.dismissed_at.isoformat(),
            )
    except LinkError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc


@post("/api/customers/{customer_id:int}/dismiss/undo", sync_to_thread=True, guards=[requires_agent])
def api_undo_dismiss(
    request: Request, customer_id: FromPath[int], data: JSONBody[LinkForm]
) -> dict[str, Any]:
    """`target_id` may be suggested for this customer again (404: it was not dismissed)."""
    try:
        with transaction(_rt(request).factory) as session:
            undo_dismissal(session, customer_id, data.target_id, _username(request))
    except LinkError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {"source_id": customer_id, "target_id": data.target_id, "dismissed": False}


@post("/api/customers/{customer_id:int}/unlink", sync_to_thread=True, guards=[requires_agent])
def api_unlink(request: Request, customer_id: FromPath[int]) -> LinkResult:
    try:
        with transaction(_rt(request).factory) as session:
            link = unlink_customers(session, customer_id, _username(request))
            return _result(link, False)
    except LinkError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc


CUSTOMER_ROUTES = [
    customer_page,
    link_form,
    dismiss_form,
    undo_dismiss_form,
    unlink_form,
    api_customer,
    api_suggestions,
    api_link,
    api_dismiss,
    api_undo_dismiss,
    api_unlink,
]
