"""Network incidents: faults a supervisor records, so outage drafts describe a real one (where,
since when, the expected fix) and never claim one nobody recorded.

Which incident fits a message: an active one whose area the message names (a whole-word match,
capitals and accents aside), else the only active one when it names no area (a fault
everywhere). Customer records hold no address, so where a customer lives picks nothing.

A resolved incident can be reopened within `REOPEN_HOURS` of resolving, as it was (a misclick,
or a fix that did not hold); later, a fault that is back is recorded anew, with its own start.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.db.models import NetworkIncident, utcnow
from responder.search_fold import fold

TITLE_LIMIT = 200
NOTE_LIMIT = 2000
#: How long after resolving an incident can be reopened as it was: long enough to undo a
#: misclick or a fix that did not hold, short enough that drafts never say "since" a start
#: from a fault long over.
REOPEN_HOURS = 24
#: An incident's facts as people name them (an edit's notice, a draft written before it).
FIELD_WORDS = {
    "title": "title",
    "areas": "areas",
    "started_at": "start",
    "expected_fix_at": "expected fix",
    "public_note": "note for customers",
}


class IncidentError(Exception):
    """`field`: the JSON field at fault, which the API's answer names (the page says the
    fact in words, as the message does)."""

    def __init__(self, message: str, status_code: int = 400, field: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.field = field

    def detail(self) -> str:
        """The API's answer: the message led by its field, as other API refusals are."""
        return f"{self.field}: {self}" if self.field else str(self)


@dataclass(frozen=True)
class IncidentInput:
    title: str
    areas: str | Sequence[str]
    started_at: datetime | None
    expected_fix_at: datetime | None = None
    public_note: str = ""


def parse_areas(areas: str | Sequence[str]) -> list[str]:
    """ "Galway, Salthill" (or a list, or one a line) as ["Galway", "Salthill"], each once."""
    pieces = re.split(r"[,;\n]", areas) if isinstance(areas, str) else list(areas)
    cleaned = [" ".join(str(p).split()) for p in pieces]
    return list(dict.fromkeys(p for p in cleaned if p))


@dataclass(frozen=True)
class _Facts:
    title: str
    areas: list[str]
    started_at: datetime
    expected_fix_at: datetime | None
    public_note: str


def _checked(entry: IncidentInput, started: datetime) -> _Facts:
    """The same refusals for a new incident and an edited one."""
    title = " ".join(entry.title.split())
    if not title:
        raise IncidentError("give the incident a short title", field="title")
    if len(title) > TITLE_LIMIT:
        raise IncidentError(f"the title is longer than {TITLE_LIMIT} characters", field="title")
    if len(entry.public_note) > NOTE_LIMIT:
        raise IncidentError(f"the note is longer than {NOTE_LIMIT} characters", field="public_note")
    if entry.expected_fix_at is not None and entry.expected_fix_at < started:
        raise IncidentError("the expected fix is before the start", field="expected_fix_at")
    fix = entry.expected_fix_at.astimezone(UTC) if entry.expected_fix_at else None
    return _Facts(
        title, parse_areas(entry.areas), started.astimezone(UTC), fix, entry.public_note.strip()
    )


def record_incident(session: Session, entry: IncidentInput, by: str) -> NetworkIncident:
    facts = _checked(entry, entry.started_at or utcnow())
    incident = NetworkIncident(
        title=facts.title,
        areas=facts.areas,
        started_at=facts.started_at,
        expected_fix_at=facts.expected_fix_at,
        public_note=facts.public_note,
        created_by=by,
    )
    session.add(incident)
    session.flush()
    return incident


def _same_minute(old: datetime | None, new: datetime | None) -> bool:
    """The page shows and sends times to the minute: a start recorded as "now" (with its
    seconds) sent back unchanged is no change."""
    if old is None or new is None:
        return old is new
    return old.replace(second=0, microsecond=0) == new.replace(second=0, microsecond=0)


def _shown(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def edit_incident(
    session: Session, incident_id: int, entry: IncidentInput
) -> tuple[NetworkIncident, dict[str, dict[str, object]]]:
    """Correct an active incident's facts; what changed, as {field: {"from", "to"}} (empty:
    nothing did). A resolved one is history: a fault that is back is recorded anew."""
    incident = session.get(NetworkIncident, incident_id)
    if incident is None:
        raise IncidentError(f"no incident {incident_id}", 404)
    if incident.resolved_at is not None:
        raise IncidentError(
            f"incident {incident_id} is resolved; reopen it (within {REOPEN_HOURS} hours of"
            " resolving) or record a new one if the fault is back",
            409,
        )
    if entry.started_at is None:
        raise IncidentError(
            "give the start: an incident keeps the time it began", field="started_at"
        )
    facts = _checked(entry, entry.started_at)
    changed: dict[str, dict[str, object]] = {}
    for name in FIELD_WORDS:
        old, new = getattr(incident, name), getattr(facts, name)
        same = _same_minute(old, new) if name.endswith("_at") else old == new
        if not same:
            changed[name] = {"from": _shown(old), "to": _shown(new)}
            setattr(incident, name, new)
    session.flush()
    return incident, changed


def resolve_incident(session: Session, incident_id: int, by: str) -> NetworkIncident:
    incident = session.get(NetworkIncident, incident_id)
    if incident is None:
        raise IncidentError(f"no incident {incident_id}", 404)
    if incident.resolved_at is not None:
        raise IncidentError(f"incident {incident_id} is already resolved", 409)
    incident.resolved_at = utcnow()
    incident.resolved_by = by
    return incident


def reopenable(resolved_at: datetime | None, now: datetime) -> bool:
    """Resolved, and recently enough to come back as it was."""
    return resolved_at is not None and now - resolved_at <= timedelta(hours=REOPEN_HOURS)


def reopen_incident(session: Session, incident_id: int, now: datetime) -> NetworkIncident:
    """Active again, with its facts as they were: who resolved it, and when, is in the audit
    log."""
    incident = session.get(NetworkIncident, incident_id)
    if incident is None:
        raise IncidentError(f"no incident {incident_id}", 404)
    if incident.resolved_at is None:
        raise IncidentError(f"incident {incident_id} is not resolved", 409)
    if not reopenable(incident.resolved_at, now):
        raise IncidentError(
            f"incident {incident_id} was resolved more than {REOPEN_HOURS} hours ago;"
            " record a new one if the fault is back",
            409,
        )
    incident.resolved_at = None
    incident.resolved_by = ""
    session.flush()
    return incident


def minutes_overdue(expected_fix_at: datetime | None, now: datetime) -> int | None:
    """How long ago the expected fix passed, in whole minutes; None: none set, or still ahead."""
    if expected_fix_at is None or expected_fix_at > now:
        return None
    return int((now - expected_fix_at).total_seconds() // 60)


def overdue_words(minutes: int) -> str:
    """40 -> "40 minutes ago", as a person reads it: minutes up to two hours, then hours, then
    days."""
    if minutes < 1:
        return "just now"
    if minutes < 120:
        amount, unit = minutes, "minute"
    elif minutes < 48 * 60:
        amount, unit = minutes // 60, "hour"
    else:
        amount, unit = minutes // (24 * 60), "day"
    return f"{amount} {unit}{'s' if amount != 1 else ''} ago"


def active_incidents(session: Session) -> list[NetworkIncident]:
    query = select(NetworkIncident).where(NetworkIncident.resolved_at.is_(None))
    return list(session.scalars(query.order_by(NetworkIncident.started_at.desc())))


def recent_incidents(session: Session, limit: int = 50) -> list[NetworkIncident]:
    """Active ones first, then the last resolved."""
    query = select(NetworkIncident).order_by(
        NetworkIncident.resolved_at.is_not(None), NetworkIncident.started_at.desc()
    )
    return list(session.scalars(query.limit(limit)))


def incident_row(incident: NetworkIncident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "areas": list(incident.areas or []),
        "started_at": incident.started_at.isoformat(),
        "expected_fix_at": incident.expected_fix_at.isoformat()
        if incident.expected_fix_at
        else None,
        "public_note": incident.public_note,
        "created_by": incident.created_by,
        "created_at": incident.created_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "resolved_by": incident.resolved_by or None,
        "active": incident.resolved_at is None,
    }


def _names(text: str, area: str) -> bool:
    wanted = fold(area).strip()
    return bool(wanted) and re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", text) is not None


def fitting_incident(
    incidents: Sequence[NetworkIncident], text: str
) -> tuple[NetworkIncident | None, str]:
    """The incident that fits the message, and why (`area named` or `the only incident`)."""
    folded = fold(text)
    for incident in incidents:
        if any(_names(folded, area) for area in incident.areas or []):
            return incident, "area named"
    if len(incidents) == 1 and not incidents[0].areas:
        return incidents[0], "the only incident, in no named area"
    return None, ""
