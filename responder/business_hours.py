"""Opening hours for SLA clocks: an 8-hour answer time counts the hours the team is in.

A helpdesk that answers weekdays 08:00-20:00 has not breached a normal message's SLA by
Saturday morning because it arrived on Friday evening. `[queue] business_hours` names the open
hours per weekday in `[queue] timezone`; public holidays come from the `holidays` package for
`holidays_country` (and its subdivision), extra closed days from `closed_dates`. Without
business hours the clock runs round the clock, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from holidays import HolidayBase

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# A week without a single open minute in a year's search is refused by validation; this bound
# only keeps a calendar closed for years by holidays from looping for ever.
_MAX_DAYS = 3660


def team_day(now: datetime, timezone: str) -> date:
    """The date on the team's calendar (`[queue] timezone`): a snippet valid until 31 March is
    offered until midnight there, not in UTC or the server's zone."""
    return now.astimezone(ZoneInfo(timezone)).date()


class CalendarError(ValueError):
    """A business-hours setting that cannot be read; the message names the key."""


@dataclass(frozen=True)
class BusinessCalendar:
    zone: ZoneInfo
    week: Mapping[int, tuple[tuple[int, int], ...]]  # weekday -> open spans, minutes of the day
    closed_dates: frozenset[date] = frozenset()
    public: HolidayBase | None = field(default=None, compare=False)

    def is_closed(self, day: date) -> bool:
        return day in self.closed_dates or (self.public is not None and day in self.public)

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment `minutes` of open time after `start` (UTC in, UTC out)."""
        remaining = timedelta(minutes=minutes)
        cursor = start.astimezone(UTC)
        for opens, closes in self._spans(cursor):
            opens = max(cursor, opens)
            if opens >= closes:
                continue
            if remaining <= closes - opens:
                return opens + remaining
            remaining -= closes - opens
        raise CalendarError(f"no open hours within {_MAX_DAYS} days of {start.isoformat()}")

    def status(self, now: datetime) -> tuple[bool, datetime | None]:
        """Open at `now`, and when that changes; None when open for a week without a break
        (round the clock)."""
        now = now.astimezone(UTC)
        until: datetime | None = None
        for opens, closes in self._spans(now):
            if until is not None:  # open now: spans that touch carry on
                if opens > until:
                    return True, until
                until = max(until, closes)
                if until - now > timedelta(days=7):
                    return True, None
            elif closes > now:
                if opens > now:
                    return False, opens
                until = closes
        return until is not None, until

    def next_opening(self, after: datetime) -> datetime:
        """The first opening at or after `after` (UTC in, UTC out)."""
        after = after.astimezone(UTC)
        for opens, _closes in self._spans(after):
            if opens >= after:
                return opens
        raise CalendarError(f"no open hours within {_MAX_DAYS} days of {after.isoformat()}")

    def _spans(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open spans (UTC) in order, from the local day of `start` on."""
        day = start.astimezone(self.zone).date()
        for _ in range(_MAX_DAYS):
            if not self.is_closed(day):
                for opens, closes in self.week.get(day.weekday(), ()):
                    yield self._at(day, opens), self._at(day, closes)
            day += timedelta(days=1)

    def _at(self, day: date, minute: int) -> datetime:
        """A wall-clock minute of a local day as UTC (24:00 is the next day's midnight)."""
        # Aware arithmetic moves the wall clock and the zone gives that wall time's offset, so
        # 09:00 on the day clocks change is 09:00 local, whatever the offset was at midnight.
        local = datetime.combine(day, time(0), tzinfo=self.zone) + timedelta(minutes=minute)
        return local.astimezone(UTC)


def parse_spans(key: str, text: str) -> tuple[tuple[int, int], ...]:
    """`08:00-12:30, 13:30-20:00` -> minutes of the day; `closed` or empty -> none."""
    if text.strip().lower() in ("", "closed"):
        return ()
    spans = []
    for part in text.split(","):
        found = _SPAN.match(part)
        if not found:
            raise CalendarError(f"{key}: {part.strip()!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        opens, closes = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or closes > 24 * 60 or opens >= closes:
            raise CalendarError(f"{key}: {part.strip()!r} must open before it closes, by 24:00")
        spans.append((opens, closes))
    spans.sort()
    for (_, end), (start, _) in pairwise(spans):
        if start < end:
            raise CalendarError(f"{key}: the opening hours {text!r} overlap")
    return tuple(spans)


def build_calendar(
    *,
    timezone: str,
    business_hours: Mapping[str, str],
    holidays_country: str = "",
    holidays_subdivision: str = "",
    closed_dates: Sequence[str] = (),
) -> BusinessCalendar | None:
    """None when no business hours are set: SLA minutes then run round the clock."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"queue.timezone: unknown time zone {timezone!r}") from exc
    if not business_hours:
        return None
    unknown = sorted(set(business_hours) - set(WEEKDAYS))
    if unknown:
        raise CalendarError(
            f"queue.business_hours: {', '.join(unknown)} is not a weekday ({', '.join(WEEKDAYS)})"
        )
    week = {
        WEEKDAYS.index(name): parse_spans(f"queue.business_hours.{name}", text)
        for name, text in business_hours.items()
    }
    if not any(week.values()):
        raise CalendarError("queue.business_hours: no day has open hours")
    public = None
    if holidays_country:
        import holidays  # 0.1 s to import: only when a country is set

        try:
            public = holidays.country_holidays(
                holidays_country, subdiv=holidays_subdivision or None
            )
        except NotImplementedError as exc:
            raise CalendarError(f"queue.holidays_country: {exc}") from exc
    try:
        closed = frozenset(date.fromisoformat(d) for d in closed_dates)
    except ValueError as exc:
        raise CalendarError(f"queue.closed_dates: {exc} (write YYYY-MM-DD)") from exc
    return BusinessCalendar(zone, week, closed, public)


@lru_cache(maxsize=16)
def cached_calendar(
    timezone: str,
    business_hours: tuple[tuple[str, str], ...],
    holidays_country: str,
    holidays_subdivision: str,
    closed_dates: tuple[str, ...],
) -> BusinessCalendar | None:
    """One calendar per distinct setting: the route stage asks for it once a message."""
    return build_calendar(
        timezone=timezone,
        business_hours=dict(business_hours),
        holidays_country=holidays_country,
        holidays_subdivision=holidays_subdivision,
        closed_dates=closed_dates,
    )
