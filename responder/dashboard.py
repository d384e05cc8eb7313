"""Dashboard figures: plain functions over plain rows, so they can be checked by hand.

`load_history` is the only part that reads the database; everything else takes `MessageRow`
and `CorrectionRow` lists and returns plain tables (lists of tuples or dicts) that the page
draws as SVG and the CSV export writes unchanged.
"""

from __future__ import annotations

import gc
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, distinct, func, select
from sqlalchemy.orm import Session

from responder.db.models import (
    Channel,
    Draft,
    DraftSnippet,
    Message,
    ReviewAction,
    Snippet,
    StaffUser,
    Template,
)


@contextmanager
def _collector_held() -> Iterator[None]:
    """Python's cyclic garbage collector held off while the history loads and the tables are
    built. A year of mail makes half a million rows, tuples and lists that all stay alive; each
    time their count passes the collector's threshold it walks every object the process holds,
    and that was 40% of the all-time load (bench/README.md `dashboard`). The rows are no cycles
    to collect, and any garbage the work leaves is collected as usual once it is done. Left
    alone if something else turned the collector off (or another request is holding it off:
    that one turns it back on). Used as a decorator (`contextmanager` objects are)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


OUTCOMES = ("approved", "edited", "rejected")
RECENT_DAYS = 30  # the dashboard's period until a supervisor sets days or asks for all time
DECISIONS = {"approve": "approved", "edit": "edited", "reject": "rejected"}
#: A decision taken back (an approval undone, a reply not delivered sent back to edit, a block
#: lifted): the one made after it counts.
TAKEN_BACK = ("undo", "edit_again", "restore")
AUTO_SEND = "auto-send"


@dataclass(frozen=True, slots=True)  # slots: a year of mail is 100,000 of these
class MessageRow:
    """One inbound message and what became of its draft."""

    id: int
    channel: str
    intent: str
    received_at: datetime
    drafted_at: datetime | None = None
    decided_at: datetime | None = None
    outcome: str | None = None  # approved (unchanged), edited, rejected; None while waiting
    template: str = ""
    edit_distance: int | None = None
    due_at: datetime | None = None
    decided_by: str = ""  # the staff member's username, or "auto-send"
    snippets: tuple[str, ...] = ()  # keys of the snippets whose text went into the first draft
    #: Rejections a person reopened since, (rejected at, by whom, reopened at) each: decisions
    #: that stood; the outcome above is the one after them.
    reopened: tuple[tuple[datetime, str, datetime], ...] = ()
    state: str = ""  # the message's state now: mail that is `ignored` was never classified


#: A message that had no intent, where its state is not known (a correction's starting point).
NOT_CLASSIFIED = "not classified"


def intent_group(row: MessageRow) -> str:
    """The intent, or why there is none: ignored machine mail is never classified, and a bare
    "(none)" left supervisors guessing."""
    return row.intent or (f"{row.state}, not classified" if row.state else NOT_CLASSIFIED)


#: A first draft with no template: drafting could not pick one (the intent was uncertain, or
#: had no template), or a person wrote the reply with no draft before it.
NO_TEMPLATE = "no template (drafting error, or written by hand)"


def template_group(row: MessageRow) -> str:
    """The template of the first draft, or why there was none (never a bare "(none)")."""
    return row.template or NO_TEMPLATE


@dataclass(frozen=True)
class CorrectionRow:
    """An agent changed a message's classification from one label to another."""

    message_id: int
    channel: str
    classifier: str
    previous: str
    label: str
    at: datetime


@dataclass(frozen=True)
class Period:
    """Date range (inclusive days, by arrival, on the team's calendar: `timezone`, `[queue]
    timezone`) and mailbox; None means no limit."""

    start: date | None = None
    end: date | None = None
    channel: str | None = None
    timezone: str = "UTC"
    recent_days: int = 0  # the period is the last this many days, as the page opens

    @classmethod
    def recent(cls, now: datetime, timezone: str, channel: str | None = None) -> Period:
        """The period the page opens on: a supervisor asks how the team is doing now, and a
        year of history made every load slow (`bench/dashboard.py`)."""
        today = local_day(now, timezone)
        return cls(
            start=today - timedelta(days=RECENT_DAYS - 1),
            end=today,
            channel=channel,
            timezone=timezone,
            recent_days=RECENT_DAYS,
        )

    def words(self, rows: Sequence[MessageRow]) -> str:
        """What the figures cover, said on the page: with no days set, all time, and the days
        of the first and last message that falls in it."""
        start, end = self.start, self.end
        if start and end and self.recent_days:
            days = f"the last {self.recent_days} days ({start.isoformat()} to {end.isoformat()})"
        elif start and end:
            days = f"{start.isoformat()} to {end.isoformat()}"
        elif start:
            days = f"{start.isoformat()} onwards"
        elif end:
            days = f"everything up to {end.isoformat()}"
        else:
            zone = ZoneInfo(self.timezone)
            seen = {_aware(r.received_at).astimezone(zone).date() for r in in_period(rows, self)}
            days = f"all time ({min(seen)} to {max(seen)})" if seen else "all time"
        mailbox = f"mailbox {self.channel}" if self.channel else "all mailboxes"
        return f"{days}, {mailbox}"

    def scope(self) -> HistoryScope:
        """The rows the period can need, for `load_history` to read no others: a year of
        mail is read in full only when the period is all time."""
        zone = ZoneInfo(self.timezone)

        def midnight(day: date | None, after: int = 0) -> datetime | None:
            """None (no bound) where that midnight is past the calendar's ends (a date field
            set to 9999-12-31, or to 0001-01-01 east of UTC): nothing is stored beyond them."""
            if day is None:
                return None
            try:
                moment = datetime.combine(day + timedelta(days=after), time(0), tzinfo=zone)
                return moment.astimezone(UTC)
            except OverflowError:
                return None

        return HistoryScope(
            received_from=midnight(self.start),
            received_before=midnight(self.end, after=1),
            channel=self.channel,
        )

    def keeps(self, at: datetime, channel: str) -> bool:
        if self.channel and channel != self.channel:
            return False
        if self.start is None and self.end is None:
            return True  # all time: no day to work out (a year of mail, `bench/dashboard.py`)
        day = local_day(at, self.timezone)
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class HistoryScope:
    """Which messages `load_history` reads (None: no bound). Corrections are kept by when
    they were made, as `corrections_in_period` counts them, whatever the message's arrival."""

    received_from: datetime | None = None
    received_before: datetime | None = None
    channel: str | None = None
    acted_since: datetime | None = None  # only messages a review action touched since then

    def messages(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [Message.direction == "in"]
        if self.received_from is not None:
            found.append(Message.received_at >= self.received_from)
        if self.received_before is not None:
            found.append(Message.received_at < self.received_before)
        if self.channel:
            found.append(
                Message.channel_id.in_(select(Channel.id).where(Channel.name == self.channel))
            )
        if self.acted_since is not None:
            found.append(
                Message.id.in_(
                    select(ReviewAction.message_id).where(
                        ReviewAction.created_at >= self.acted_since
                    )
                )
            )
        return found

    def corrections(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [ReviewAction.action == "reclassify"]
        if self.received_from is not None:
            found.append(ReviewAction.created_at >= self.received_from)
        if self.received_before is not None:
            found.append(ReviewAction.created_at < self.received_before)
        if self.acted_since is not None:
            found.append(ReviewAction.created_at >= self.acted_since)
        return found


def local_day(at: datetime, timezone: str) -> date:
    """The day a stored (UTC) time falls on for the team: mail at 01:24 UTC came in the evening
    before in New York."""
    return _aware(at).astimezone(ZoneInfo(timezone)).date()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def in_period(rows: Iterable[MessageRow], period: Period) -> list[MessageRow]:
    if period.start is None and period.end is None and not period.channel:
        return list(rows)
    return [r for r in rows if period.keeps(r.received_at, r.channel)]


def corrections_in_period(rows: Iterable[CorrectionRow], period: Period) -> list[CorrectionRow]:
    return [r for r in rows if period.keeps(r.at, r.channel)]


# -- volume --------------------------------------------------------------------------------------


def volume_by_day(rows: Iterable[MessageRow], timezone: str = "UTC") -> list[tuple[str, int]]:
    zone = ZoneInfo(timezone)
    counts = Counter(_aware(r.received_at).astimezone(zone).date() for r in rows)
    return sorted((day.isoformat(), n) for day, n in counts.items())


def volume_by(
    rows: Iterable[MessageRow], key: Callable[[MessageRow], str]
) -> list[tuple[str, int]]:
    """Counts per group, largest first (ties by name, so the order is stable)."""
    counts = Counter(key(r) or "(none)" for r in rows)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


# -- outcomes ------------------------------------------------------------------------------------


def decisions(rows: Iterable[MessageRow]) -> Iterator[MessageRow]:
    """Each decision once: a rejection reopened and then approved is one rejection (by whoever
    rejected it) and one approval, not a rejection that vanished. A decision after a reopen is
    timed from the reopen, when the draft was back before people."""
    for row in rows:
        for at, by, _ in row.reopened:
            yield replace(
                row,
                outcome="rejected",
                decided_at=at,
                decided_by=by,
                edit_distance=None,
                reopened=(),
            )
        if row.reopened:
            yield replace(row, drafted_at=row.reopened[-1][2], reopened=())
        else:
            yield row


def outcome_shares(
    rows: Iterable[MessageRow], key: Callable[[MessageRow], str] | None = None
) -> list[dict[str, object]]:
    """Per group: decided drafts approved unchanged, edited and rejected, as counts and shares."""
    return _decided_shares(_decided(rows), key)


def _decided(rows: Iterable[MessageRow]) -> list[MessageRow]:
    """The decisions (`decisions`) whose outcome counts, for the outcome tables to share."""
    return [row for row in decisions(rows) if row.outcome in OUTCOMES]


def _decided_shares(
    decided: Iterable[MessageRow], key: Callable[[MessageRow], str] | None = None
) -> list[dict[str, object]]:
    if key is None:
        return _share_table(("all", row.outcome) for row in decided)
    return _share_table(((key(row) or "(none)"), row.outcome) for row in decided)


def outcome_shares_by_snippet(rows: Iterable[MessageRow]) -> list[dict[str, object]]:
    """Per snippet: what became of the drafts it went into (a draft with two counts for both);
    drafts that used none are the "(no snippet)" group, to compare against."""
    return _snippet_shares(_decided(rows))


def _snippet_shares(decided: Iterable[MessageRow]) -> list[dict[str, object]]:
    return _share_table(
        (snippet, row.outcome) for row in decided for snippet in (row.snippets or ("(no snippet)",))
    )


def _share_table(outcomes: Iterable[tuple[str, str | None]]) -> list[dict[str, object]]:
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for (group, outcome), count in Counter(outcomes).items():
        groups[group][str(outcome)] += count
    table: list[dict[str, object]] = []
    for group in sorted(groups):
        counts = groups[group]
        total = sum(counts.values())
        entry: dict[str, object] = {"group": group, "decided": total}
        for outcome in OUTCOMES:
            entry[outcome] = counts[outcome]
            entry[f"{outcome}_share"] = counts[outcome] / total
        table.append(entry)
    return table


def median_edit_distance(rows: Iterable[MessageRow]) -> list[tuple[str, float, int]]:
    """Per template: median characters changed between draft and sent text (unchanged = 0)."""
    by_template: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row.outcome == "approved":
            by_template[template_group(row)].append(0)
        elif row.outcome == "edited":
            by_template[template_group(row)].append(row.edit_distance or 0)
    return sorted(
        (
            (name, float(statistics.median(values)), len(values))
            for name, values in by_template.items()
        ),
        key=lambda item: (-item[1], item[0]),
    )


# -- timings -------------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of values at or below."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def timing_summary(rows: Iterable[MessageRow]) -> list[dict[str, object]]:
    """Minutes from arrival to draft and from draft to the reviewer's approval; an approval
    after a reopen is timed from the reopen (`decisions`), as the per-person table times it,
    not from the first draft days before."""
    rows = list(rows)
    to_draft = [
        (row.drafted_at - row.received_at).total_seconds() / 60
        for row in rows
        if row.drafted_at is not None
    ]
    to_approval = [
        (row.decided_at - row.drafted_at).total_seconds() / 60
        for row in decisions(rows)
        if row.drafted_at is not None
        and row.decided_at is not None
        and row.outcome in ("approved", "edited")
    ]
    table = []
    for name, values in (("arrival_to_draft", to_draft), ("draft_to_approval", to_approval)):
        values.sort()  # once: the median and the percentile then find them in order
        table.append(
            {
                "measure": name,
                "count": len(values),
                "median_minutes": float(statistics.median(values)) if values else None,
                "p95_minutes": float(percentile(values, 0.95)) if values else None,
            }
        )
    return table


def review_time_by_person(rows: Iterable[MessageRow]) -> list[dict[str, object]]:
    """Per person: drafts decided, and minutes from the draft to their decision (approval,
    edit or rejection): who carries the queue and whose drafts wait. Auto-send is left out."""
    return _review_times(decisions(rows))


def _review_times(decided: Iterable[MessageRow]) -> list[dict[str, object]]:
    minutes: dict[str, list[float]] = defaultdict(list)
    for row in decided:
        if row.decided_by in ("", AUTO_SEND) or not (row.drafted_at and row.decided_at):
            continue
        minutes[row.decided_by].append((row.decided_at - row.drafted_at).total_seconds() / 60)
    return [
        {
            "person": person,
            "decided": len(values),
            "median_minutes": float(statistics.median(values)),
            "p95_minutes": float(percentile(values, 0.95)),
        }
        for person, values in sorted((p, sorted(v)) for p, v in minutes.items())
    ]


# -- SLA -----------------------------------------------------------------------------------------


def sla_breaches(rows: Iterable[MessageRow], now: datetime) -> list[dict[str, object]]:
    """Answered after its due time, or still waiting past it. Rejections end the wait in time."""
    found = []
    for row in rows:
        if row.due_at is None:
            continue
        if row.decided_at is not None:
            late = row.outcome in ("approved", "edited") and row.decided_at > row.due_at
            kind = "answered late"
        else:
            late = now > row.due_at
            kind = "still waiting"
        if late:
            until = row.decided_at or now
            found.append(
                {
                    "message_id": row.id,
                    "channel": row.channel,
                    "intent": intent_group(row),
                    "kind": kind,
                    "minutes_late": round((until - row.due_at).total_seconds() / 60, 1),
                }
            )
    return sorted(found, key=lambda b: (-float(b["minutes_late"]), int(b["message_id"])))  # type: ignore[arg-type]


def sla_by_intent(breaches: Iterable[dict[str, object]]) -> list[tuple[str, int]]:
    """Breaches per intent, worded as the other intent charts word mail without one."""
    counts = Counter(str(b["intent"] or NOT_CLASSIFIED) for b in breaches)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


# -- corrections ---------------------------------------------------------------------------------


def most_corrected(
    corrections: Iterable[CorrectionRow], classifier: str = "intent"
) -> list[tuple[str, int]]:
    """The labels agents corrected away from most often (one message counts once); a message
    corrected before it had a label is "not classified", as the other intent charts say."""
    seen: dict[int, str] = {}
    for row in sorted(corrections, key=lambda c: c.at):
        if row.classifier == classifier and row.message_id not in seen:
            seen[row.message_id] = row.previous or NOT_CLASSIFIED
    counts = Counter(seen.values())
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


# -- reading the database ------------------------------------------------------------------------


def display_names(session: Session) -> dict[str, str]:
    """User name to the name people know each other by, for the per-person charts."""
    rows = session.execute(select(StaffUser.username, StaffUser.display_name)).all()
    return {username: name for username, name in rows if name and name != username}


def snippet_titles(session: Session) -> dict[str, str]:
    """Snippet key to the title of its latest version, for the per-snippet chart: the key is
    what the figures and the CSV count by, the title what supervisors know the answer by."""
    titles: dict[str, str] = {}
    for key, title in session.execute(select(Snippet.key, Snippet.title).order_by(Snippet.version)):
        titles[key] = title
    return {key: title for key, title in titles.items() if title and title != key}


@_collector_held()
def load_history(
    session: Session, scope: HistoryScope | None = None
) -> tuple[list[MessageRow], list[CorrectionRow]]:
    """Every inbound message in `scope` (all of them without one) with its first draft, its
    decision and its template name, and the corrections made in it."""
    scope = scope or HistoryScope()
    in_scope = scope.messages()
    decided: dict[int, tuple[str, datetime, int | None, int | None]] = {}
    reopened: dict[int, list[tuple[datetime, int | None, datetime]]] = defaultdict(list)
    for message_id, action, acted_at, edit_distance, user_id in session.execute(
        select(
            ReviewAction.message_id,
            ReviewAction.action,
            ReviewAction.created_at,
            ReviewAction.edit_distance,
            ReviewAction.user_id,
        )
        .join(Message, Message.id == ReviewAction.message_id)
        .where(*in_scope, ReviewAction.action.in_([*DECISIONS, *TAKEN_BACK, "reopen"]))
        .order_by(ReviewAction.id)
    ):
        if action in DECISIONS:
            decided.setdefault(message_id, (DECISIONS[action], acted_at, edit_distance, user_id))
        elif action in TAKEN_BACK:  # decided again later
            decided.pop(message_id, None)
        elif message_id in decided:  # a reopened decision stood until then
            _, at, _, who = decided.pop(message_id)
            reopened[message_id].append((at, who, acted_at))
    found_corrections = session.execute(
        select(
            ReviewAction.message_id,
            ReviewAction.created_at,
            ReviewAction.detail,
            Message.channel_id,
        )
        .join(Message, Message.id == ReviewAction.message_id)
        .where(*scope.corrections())
        .order_by(ReviewAction.id)
    ).all()
    # Each message with its first draft (lowest version) and that draft's snippets, in one
    # read: a year of mail is 100,000 rows, and each further pass over them cost a third of a
    # second (bench/README.md `dashboard`).
    first: dict[int, tuple[Row[Any], list[int]]] = {}
    for found in session.execute(
        select(
            Message.id,
            Message.channel_id,
            Message.intent,
            Message.received_at,
            Message.due_at,
            Message.state,
            Draft.version,
            Draft.id,
            Draft.created_at,
            Draft.template_id,
            DraftSnippet.snippet_id,
        )
        .outerjoin(Draft, Draft.message_id == Message.id)
        .outerjoin(DraftSnippet, DraftSnippet.draft_id == Draft.id)
        .where(*in_scope)
    ):
        held = first.get(found[0])
        if held is None or (found[6] is not None and found[6] < held[0][6]):
            held = first[found[0]] = (found, [])
        elif found[6] != held[0][6]:
            continue  # a later version
        if found[10] is not None:
            held[1].append(found[10])
    # The names are read last, so a snippet, template, channel or person added while the rows
    # above were read has its name here too (none of them is ever deleted).
    snippet_keys = dict(session.execute(select(Snippet.id, Snippet.key)).all())
    channels = dict(session.execute(select(Channel.id, Channel.name)).all())
    templates = dict(session.execute(select(Template.id, Template.name)).all())
    people = dict(session.execute(select(StaffUser.id, StaffUser.username)).all())

    def by(user_id: int | None) -> str:
        return people.get(user_id, "") if user_id else AUTO_SEND

    corrections: list[CorrectionRow] = []
    for message_id, acted_at, detail, channel_id in found_corrections:
        detail = detail or {}
        if {"accepted", "rejected"} & set(detail):
            continue  # a supervisor's label on accepting or rejecting one is not an agent's
        corrections.append(
            CorrectionRow(
                message_id=message_id,
                channel=channels.get(channel_id, ""),
                classifier=str(detail.get("classifier", "intent")),
                previous=str(detail.get("from") or ""),
                label=str(detail.get("to") or ""),
                at=acted_at,
            )
        )
    rows = []
    for found, snippets in first.values():
        (
            message_id,
            channel_id,
            intent,
            received_at,
            due_at,
            state,
            _,
            _,
            drafted_at,
            template_id,
            _,
        ) = found
        decision = decided.get(message_id)
        rows.append(
            MessageRow(
                message_id,
                channels.get(channel_id, ""),
                intent or "",
                received_at,
                drafted_at,
                decision[1] if decision else None,
                decision[0] if decision else None,
                templates.get(template_id, "") if template_id else "",
                decision[2] if decision else None,
                due_at,
                by(decision[3]) if decision else "",
                tuple(sorted(snippet_keys[i] for i in snippets)),
                tuple((at, by(who), until) for at, who, until in reopened.get(message_id, ())),
                state,
            )
        )
    return rows, corrections


def drafts_per_snippet(session: Session) -> dict[str, int]:
    """How many messages' drafts each snippet (all its versions) is in, composed, saved or
    approved with an edit (`DraftSnippet`): a message counts once however many of its versions
    hold the snippet, so saving a draft twice does not make an answer look used more."""
    return dict(
        session.execute(
            select(Snippet.key, func.count(distinct(Draft.message_id)))
            .join(DraftSnippet, DraftSnippet.snippet_id == Snippet.id)
            .join(Draft, Draft.id == DraftSnippet.draft_id)
            .group_by(Snippet.key)
        ).all()
    )


# -- the page's tables (also its CSV exports) ----------------------------------------------------


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]


def _shares(table: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (
            entry["group"],
            entry["decided"],
            *(entry[o] for o in OUTCOMES),
            *(round(float(entry[f"{o}_share"]), 4) for o in OUTCOMES),  # type: ignore[arg-type]
        )
        for entry in table
    ]


SHARE_COLUMNS = ("decided", *OUTCOMES, *(f"{o}_share" for o in OUTCOMES))


@_collector_held()
def dashboard_tables(
    messages: Sequence[MessageRow],
    corrections: Sequence[CorrectionRow],
    period: Period,
    now: datetime,
) -> dict[str, Table]:
    rows = in_period(messages, period)
    breaches = sla_breaches(rows, now)
    every = list(decisions(rows))  # each decision once, for every per-decision table
    decided = [row for row in every if row.outcome in OUTCOMES]
    return {
        "volume_by_day": Table(
            "Messages by day", ("day", "messages"), volume_by_day(rows, period.timezone)
        ),
        "volume_by_channel": Table(
            "Messages by mailbox", ("channel", "messages"), volume_by(rows, lambda r: r.channel)
        ),
        "volume_by_intent": Table(
            "Messages by intent", ("intent", "messages"), volume_by(rows, intent_group)
        ),
        "outcomes": Table(
            "Drafts approved unchanged, edited, rejected",
            ("group", *SHARE_COLUMNS),
            _shares(_decided_shares(decided)),
        ),
        "outcomes_by_template": Table(
            "Outcome by template",
            ("template", *SHARE_COLUMNS),
            _shares(_decided_shares(decided, template_group)),
        ),
        "outcomes_by_snippet": Table(
            "Outcome by snippet (drafts it went into)",
            ("snippet", *SHARE_COLUMNS),
            _shares(_snippet_shares(decided)),
        ),
        "outcomes_by_intent": Table(
            "Outcome by intent",
            ("intent", *SHARE_COLUMNS),
            _shares(_decided_shares(decided, intent_group)),
        ),
        "outcomes_by_person": Table(
            "Outcome by person (who approved unchanged, edited or rejected)",
            ("person", *SHARE_COLUMNS),
            _shares(_decided_shares(decided, lambda r: r.decided_by)),
        ),
        "review_time_by_person": Table(
            "Minutes from draft to decision, per person",
            ("person", "decided", "median_minutes", "p95_minutes"),
            [tuple(t.values()) for t in _review_times(every)],
        ),
        "edit_distance": Table(
            "Median edit distance, draft to sent, per template",
            ("template", "median_edit_distance", "replies"),
            list(median_edit_distance(rows)),
        ),
        "timings": Table(
            "Minutes from arrival to draft and from draft to approval",
            ("measure", "count", "median_minutes", "p95_minutes"),
            [tuple(t.values()) for t in timing_summary(rows)],
        ),
        "sla_breaches": Table(
            "SLA breaches",
            ("message_id", "channel", "intent", "kind", "minutes_late"),
            [tuple(b.values()) for b in breaches],
        ),
        "most_corrected": Table(
            "Intents agents corrected most",
            ("intent", "corrections"),
            most_corrected(corrections_in_period(corrections, period)),
        ),
    }
