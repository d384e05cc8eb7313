"""Search: find a customer's messages and the customer, by name, address, subject or words.

Substring matches that ignore capitals and accents (`responder.search_fold`), on both
databases; a search reads a page of messages, newest first (`before` pages on), and of
customers. A message is
matched by the folded text its parse wrote (`responder.search_text`), which PostgreSQL indexes
by trigrams (migration web_0013) and SQLite by an FTS5 trigram table (web_0019); customers'
values are folded in SQL, by trigram indexes on PostgreSQL (web_0021). A phone number is also
looked for in the forms it is stored and written in; the messages can be narrowed to a state,
a channel and the days they came in (in the team's time zone).
Not on the queue's hot path: the queue page never searches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template
from sqlalchemy import (
    Integer,
    Select,
    Text,
    and_,
    column,
    literal_column,
    or_,
    select,
    table,
    union,
)
from sqlalchemy.orm import Session

from responder.customers.identity import phone_forms, phones_written_in
from responder.db.like import escape_like
from responder.db.models import Channel, Customer, CustomerIdentity, Message, MessageSearchText
from responder.db.search_indexes import SQLITE_INDEX_SHORTEST, SQLITE_MESSAGE_INDEX
from responder.display import headline, sender_label
from responder.pipeline.states import AWAITING_REVIEW, RETRYABLE_STATES, State
from responder.search_fold import find_folded, fold, folded
from responder.web.auth import requires_agent
from responder.web.params import PickedDate, RowId, picked_date
from responder.web.queue_view import channel_from
from responder.web.state import runtime as _rt
from responder.web.views import channel_choices

SHORTEST = 2  # characters: one letter would match most of the mailbox
LONGEST = 200  # characters: longer is a paste, not a search; the rest is ignored
RESULTS = 50
EXCERPT_AROUND = 70  # characters either side of a match
EXCERPT_SCAN = 20_000  # characters of a message's text looked through for the excerpt
_WHITESPACE = re.compile(r"\s+")
_BEYOND_ASCII = "*[^ -~]*"  # GLOB: holds a character outside printable ASCII


#: The state filter's choices: what staff look for ("what did we send about roaming", "which
#: of this customer's mail is still waiting"), each a group of states, in the page's order.
STATE_FILTERS: dict[str, tuple[str, tuple[State, ...]]] = {
    "waiting": ("awaiting review or snoozed", AWAITING_REVIEW),
    "answered": ("answered", (State.APPROVED, State.SENDING, State.SENT)),
    "rejected": ("rejected or left unsent", (State.REJECTED, State.UNSENT)),
    "ignored": ("ignored", (State.IGNORED,)),
    "problems": ("problems", RETRYABLE_STATES),
    "working": (
        "being read or drafted",
        (State.RECEIVED, State.PARSED, State.CLASSIFIED, State.DRAFTED),
    ),
}


#: What the review page's "Found in the message" links to a search: the numbers and names that
#: find the customer's other mail, and the places that find others' mail from the same area (one
#: phone's fault, or a district's), not amounts or dates.
SEARCHABLE_ENTITIES = frozenset(
    {"account_numbers", "invoice_numbers", "order_numbers", "phone_numbers", "people", "places"}
)


def like_pattern(text: str) -> str:
    return f"%{escape_like(text)}%"


def search_query(text: str) -> str:
    """What is searched for: trimmed, at most LONGEST characters, NUL removed (PostgreSQL
    refuses it in a query)."""
    return " ".join(text.replace("\x00", "").split())[:LONGEST]


def _matches(pattern: str, *columns: Any, sqlite: bool = False) -> Any:
    """`pattern` from a folded query; each column folded as the stored search text is."""
    return or_(*(_folded_like(column, pattern, sqlite) for column in columns))


def _folded_like(column: Any, pattern: str, sqlite: bool) -> Any:
    matched = folded(column).like(pattern, escape="\\")
    if not sqlite:
        return matched
    # On SQLite the fold is a Python call a row. A value in printable ASCII folds to its lower
    # case, which SQLite's own LIKE already ignores; only the other values pay for the call.
    return or_(column.like(pattern, escape="\\"), and_(column.op("GLOB")(_BEYOND_ASCII), matched))


MESSAGE_COLUMNS = (
    Message.id,
    Message.received_at,
    Message.state,
    Message.subject,
    Message.sender_name,
    Message.sender_address,
    Message.intent,
    Message.customer_id,
    Message.new_text,
    Channel.name,
    Channel.kind,
)
_SQLITE_INDEX = table(SQLITE_MESSAGE_INDEX, column("rowid", Integer), column("text", Text))


def messages_matching(
    query: str,
    limit: int = RESULTS,
    *,
    indexed: bool = False,
    before: int | None = None,
    state: str | None = None,
    channel: int | None = None,
    received: tuple[datetime | None, datetime | None] = (None, None),
    also: Sequence[str] = (),
) -> Select[Any]:
    """Inbound messages whose parsed text holds `query` (or one of `also`, other spellings of
    it), folded as the text is, newest first; with `before`, those older than that message (the
    next page); `state` (a key of `STATE_FILTERS`), `channel` (an id) and `received` (from,
    before: UTC times, either open; `received_between`) narrow them.
    `indexed`: SQLite's FTS5 trigram index exists (`sqlite_index_usable`)."""
    found = _matching(_folded_terms(query, also), limit, indexed, before)
    return _narrowed(found, state, channel, received)


def received_between(
    since: date | None, until: date | None, timezone: str
) -> tuple[datetime | None, datetime | None]:
    """The UTC times a search from day `since` to day `until` (both included, as the team's
    calendar has them) covers: staff in Dublin asking for 1 July mean their 1 July."""
    zone = ZoneInfo(timezone)

    def midnight(day: date | None, later: int = 0) -> datetime | None:
        """None for no bound, and for a day at the calendar's ends (9999-12-31 and on, 0001-01-01
        east of UTC): no time lies beyond them, as the dashboard's periods take them."""
        if day is None:
            return None
        try:
            return datetime.combine(day + timedelta(days=later), time(), zone).astimezone(UTC)
        except OverflowError:
            return None

    return midnight(since), midnight(until, later=1)


def _folded_terms(query: str, also: Sequence[str]) -> list[str]:
    """The query and its other spellings, folded as the stored text is, each once."""
    return list(dict.fromkeys(fold(term) for term in (query, *also)))


def _narrowed(
    found: Select[Any],
    state: str | None,
    channel: int | None,
    received: tuple[datetime | None, datetime | None],
) -> Select[Any]:
    if state:
        found = found.where(Message.state.in_(STATE_FILTERS[state][1]))
    if channel is not None:
        found = found.where(Message.channel_id == channel)
    start, end = received
    if start is not None:
        found = found.where(Message.received_at >= start)
    if end is not None:
        found = found.where(Message.received_at < end)
    return found


def _matching(terms: list[str], limit: int, indexed: bool, before: int | None) -> Select[Any]:
    if indexed and all(_index_answers(term) for term in terms):
        # FTS5 reads its matches in rowid (message id) order, so a page stops early here too.
        found = (
            select(*MESSAGE_COLUMNS)
            .select_from(_SQLITE_INDEX)
            .join(Message, Message.id == _SQLITE_INDEX.c.rowid)
            .outerjoin(Channel, Channel.id == Message.channel_id)
            .where(
                _SQLITE_INDEX.c.text.match(" OR ".join(map(_phrase, terms))),
                Message.direction == "in",
            )
            .order_by(_SQLITE_INDEX.c.rowid.desc())
            .limit(limit)
        )
        return found if before is None else found.where(_SQLITE_INDEX.c.rowid < before)
    found = (
        select(*MESSAGE_COLUMNS)
        .select_from(MessageSearchText)
        .join(Message, Message.id == MessageSearchText.message_id)
        .outerjoin(Channel, Channel.id == Message.channel_id)
        .where(
            or_(*(MessageSearchText.text.like(like_pattern(t), escape="\\") for t in terms)),
            Message.direction == "in",
        )
        # the search table's own key, so the newest matches are read first and a common word
        # stops after a page (messages of the search table are inbound, ids the same)
        .order_by(MessageSearchText.message_id.desc())
        .limit(limit)
    )
    return found if before is None else found.where(MessageSearchText.message_id < before)


def customers_matching(
    query: str, limit: int = RESULTS, *, sqlite: bool = False, also: Sequence[str] = ()
) -> Select[tuple[Customer]]:
    """Customers whose name, external id or an identity (address, handle, number) holds
    `query` (or one of `also`), all folded, by name. `sqlite`: the query runs there
    (`_folded_like`)."""
    patterns = [like_pattern(term) for term in _folded_terms(query, also)]
    # A union, not ORs: PostgreSQL reads no index for a condition ORed with a subquery, and
    # prices eight ORed LIKEs (a phone number's four spellings in two columns) above reading
    # every row, folding each value eight times; each arm here reads its two indexes.
    matching = union(
        *(
            arm
            for pattern in patterns
            for arm in (
                select(Customer.id).where(
                    _matches(pattern, Customer.name, Customer.external_id, sqlite=sqlite)
                ),
                select(CustomerIdentity.customer_id).where(
                    _matches(
                        pattern, CustomerIdentity.value, CustomerIdentity.display, sqlite=sqlite
                    )
                ),
            )
        )
    )
    return (
        select(Customer)
        .where(Customer.id.in_(matching))
        .order_by(Customer.name, Customer.id)
        .limit(limit)
    )


def _index_answers(query: str) -> bool:
    """A trigram phrase needs three characters; shorter reads the rows."""
    return len(query) >= SQLITE_INDEX_SHORTEST


def _phrase(query: str) -> str:
    """An FTS5 phrase: with the trigram tokenizer, the query as a substring; % and _ are plain
    characters."""
    return '"' + query.replace('"', '""') + '"'


def sqlite_index_usable(session: Session) -> bool:
    if session.get_bind().dialect.name != "sqlite":
        return False
    found = session.execute(
        select(literal_column("1"))
        .select_from(table("sqlite_master", column("name")))
        .where(literal_column("name") == SQLITE_MESSAGE_INDEX)
    )
    return found.first() is not None


def search(
    session: Session,
    text: str,
    limit: int = RESULTS,
    *,
    before: int | None = None,
    state: str | None = None,
    channel: int | None = None,
    since: date | None = None,
    until: date | None = None,
    timezone: str = "UTC",
    phone_region: str | None = None,
) -> dict[str, Any]:
    """Customers and the newest `limit` messages; `before` (a message id, the last page's
    `older`) pages on through older messages, without customers; `state`, `channel` and the
    days `since` to `until` (both included, in `timezone`) narrow the messages (not the
    customers: one is looked for whatever state and age their mail is). A phone number is also
    looked for as stored (`phone_forms`, `phone_region` for one written without its country
    code)."""
    if state and state not in STATE_FILTERS:
        raise ValidationException(
            f"unknown state filter {state!r}: one of {', '.join(STATE_FILTERS)}"
        )
    query = search_query(text)
    also = phone_forms(query, phone_region)
    asked = {
        "query": query,
        "before": before,
        "state": state or "",
        "channel": channel,
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
        "dates_reversed": bool(since and until and since > until),
        "also": also,
    }
    nothing = {**asked, "messages": [], "customers": [], "too_short": False, "older": None}
    if len(fold(query).strip()) < SHORTEST:  # two accents alone fold to nothing, found everywhere
        return {**nothing, "too_short": bool(query)}
    sqlite = session.get_bind().dialect.name == "sqlite"
    if asked["dates_reversed"]:  # said on the page; the days narrow messages, not customers
        found = customers_matching(query, limit, sqlite=sqlite, also=also)
        return {**nothing, "customers": [] if before else _customer_rows(session.scalars(found))}
    indexed = sqlite_index_usable(session)
    matching = messages_matching(
        query,
        limit,
        indexed=indexed,
        before=before,
        state=state,
        channel=channel,
        received=received_between(since, until, timezone),
        also=also,
    )
    messages = session.execute(matching).all()
    customers = (
        []
        if before
        else session.scalars(customers_matching(query, limit, sqlite=sqlite, also=also)).all()
    )
    return {
        **asked,
        "too_short": False,
        "older": messages[-1].id if len(messages) == limit else None,
        "messages": [
            {
                "id": m.id,
                "received_at": m.received_at.isoformat(),
                "state": m.state,
                "subject": m.subject,
                "title": headline(m.subject, m.new_text),
                "sender": sender_label(m.kind, m.sender_name, m.sender_address),
                "sender_address": m.sender_address,
                "intent": m.intent,
                "customer_id": m.customer_id,
                "channel": m.name or "",
                "excerpt": excerpt(m.new_text or "", query, also, phone_region),
            }
            for m in messages
        ],
        "customers": _customer_rows(customers),
    }


def _customer_rows(customers: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "name": c.name,
            "external_id": c.external_id,
            "tier": c.tier,
            "plan": c.plan,
            "provisional": c.provisional,
        }
        for c in customers
    ]


def excerpt(
    text: str, query: str, also: Sequence[str] = (), phone_region: str | None = None
) -> dict[str, Any] | None:
    """The words around the first match in the customer's new text (of `query`, else of one of
    `also`, else a phone number written there whose E.164 form is one of `also`), the match
    apart so the page can mark it as the customer wrote it; None where only the subject or
    sender held it."""
    scanned = text[:EXCERPT_SCAN]
    span = next(filter(None, (find_folded(scanned, term) for term in (query, *also))), None)
    if span is None and also:
        written = phones_written_in(scanned, phone_region)
        span = next(((p.start, p.end) for p in written if p.number in also), None)
    if span is None:
        return None
    start, end = span
    lead = scanned[max(0, start - EXCERPT_AROUND) : start]
    tail = scanned[end : end + EXCERPT_AROUND]
    cut_before, cut_after = start > EXCERPT_AROUND, end + EXCERPT_AROUND < len(text)
    if cut_before:  # begin and end on whole words
        lead = lead.partition(" ")[2]
    if cut_after:
        tail = tail.rpartition(" ")[0]
    return {
        "before": _one_line(lead),
        "match": _one_line(scanned[start:end]),
        "after": _one_line(tail),
        "cut_before": cut_before,
        "cut_after": cut_after,
    }


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text)


#: The filters that narrow the messages, which a link to the next page keeps.
NARROWING = ("state", "channel", "since", "until")

#: `?state=`: "state" is a name Litestar keeps for the application's state
StateParameter = Annotated[str, QueryParameter(name="state")]


@get("/search", sync_to_thread=True, guards=[requires_agent])
def search_page(
    request: Request,
    q: FromQuery[str] = "",
    before: RowId = None,
    in_state: StateParameter = "",
    channel: FromQuery[str] = "",
    since: PickedDate = "",
    until: PickedDate = "",
) -> Template:
    """`channel`: taken, and refused, as the queue takes it (`channel_from`)."""
    settings = _rt(request).settings
    with _rt(request).read_factory() as session:
        found = search(
            session,
            q,
            before=before,
            state=in_state,
            channel=channel_from(channel),
            since=picked_date(since, "since"),
            until=picked_date(until, "until"),
            timezone=settings.queue.timezone,
            phone_region=settings.customers.default_region,
        )
        channels = channel_choices(session, request.app.state.counts)
    context = {
        "found": found,
        "channels": channels,
        "states": {key: words for key, (words, _) in STATE_FILTERS.items()},
        # the filters a link to the next page keeps
        "narrowed": [(key, found[key]) for key in NARROWING if found[key]],
        "user": request.user,
    }
    return Template("search.html", context=context)


@get("/api/search", sync_to_thread=True, guards=[requires_agent])
def api_search(
    request: Request,
    q: FromQuery[str] = "",
    before: RowId = None,
    in_state: StateParameter = "",
    channel: FromQuery[str] = "",
    since: PickedDate = "",
    until: PickedDate = "",
) -> dict[str, Any]:
    """`since` and `until`: days, YYYY-MM-DD, in the team's time zone (`[queue] timezone`);
    `channel`: an id (empty for all), taken and refused as the queue and the page take it."""
    settings = _rt(request).settings
    with _rt(request).read_factory() as session:
        return search(
            session,
            q,
            before=before,
            state=in_state,
            channel=channel_from(channel),
            since=picked_date(since, "since"),
            until=picked_date(until, "until"),
            timezone=settings.queue.timezone,
            phone_region=settings.customers.default_region,
        )


SEARCH_ROUTES = [search_page, api_search]
