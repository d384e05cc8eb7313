"""Times on pages, in the team's time zone (`[queue] timezone`, which opening hours use too).

The database and the API keep UTC; only what a person reads is local, so an agent in Berlin sees
a draft due at 17:00 when the queue says 17:00, not 16:00 "UTC".
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from responder.business_hours import BusinessCalendar
from responder.review import AlreadyHandled


class PageClock:
    def __init__(self, timezone: str = "UTC") -> None:
        self.zone = ZoneInfo(timezone)
        self.label = timezone
        self._utc = timezone in ("UTC", "Etc/UTC")

    def _local(self, value: str | datetime) -> datetime:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # stored times are UTC
        return moment.astimezone(self.zone)

    def minute(self, value: str | datetime | None) -> str:
        """2026-12-03 14:05. UTC ISO strings (most of what pages show) are cut, not parsed:
        the queue page shows fifty of them."""
        if not value:
            return ""
        if self._utc and isinstance(value, str):
            return value[:16].replace("T", " ")
        return self._local(value).strftime("%Y-%m-%d %H:%M")

    def refusal(self, exc: Exception) -> str:
        """A refusal as a page says it: a colleague's time in the team's zone, not UTC."""
        if isinstance(exc, AlreadyHandled) and exc.at is not None:
            return f"{exc.words} at {self.minute(exc.at)} {self.label}"
        return str(exc)

    def second(self, value: str | datetime | None) -> str:
        return self._local(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    def time_of_day(self, value: str | datetime | None) -> str:
        return self._local(value).strftime("%H:%M") if value else ""

    def clock(self, value: str | datetime | None) -> str:
        return self._local(value).strftime("%H:%M:%S") if value else ""

    def day(self, value: str | datetime | None) -> str:
        return self._local(value).strftime("%Y-%m-%d") if value else ""

    def opening(self, calendar: BusinessCalendar | None, now: datetime) -> str:
        """The queue's line on the team's hours: "Open until Fri 04 Dec 20:00", "Closed: opens
        Mon 07 Dec 08:00"; empty without business hours."""
        if calendar is None:
            return ""
        is_open, change = calendar.status(now)
        if change is None:
            return "Open round the clock" if is_open else ""
        when = self._local(change).strftime("%a %d %b %H:%M")
        return f"Open until {when}" if is_open else f"Closed: opens {when}"
