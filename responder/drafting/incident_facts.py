"""The network incidents as a draft sees them: the active ones and the one that fits the
message, with times in the team's time zone (a fault since 00:30 Dublin time started on that
day there, not the day before in UTC), and the grounding record the review page shows.

An expected fix already passed when the draft is written is not offered to the template
(`expected_fix_at` is None, `fix_passed` True): a draft never promises a time gone by, whatever
its template says. The grounding records whether the fix was promised (`fix_promised`), so the
review page can warn when that time passes before the draft is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from responder.db.models import Message, NetworkIncident, utcnow
from responder.incidents import active_incidents, fitting_incident, incident_row

#: What a draft keeps of the incident it used, to tell later whether the incident changed.
GROUNDED_FACTS = ("id", "title", "areas", "started_at", "expected_fix_at", "public_note")

#: The intents whose drafts read the incidents: the others spend no query on them.
INCIDENT_INTENTS = frozenset({"outage"})


@dataclass(frozen=True)
class IncidentFacts:
    incidents: list[dict[str, Any]] = field(default_factory=list)
    incident: dict[str, Any] | None = None
    grounding: dict[str, Any] | None = None


def _ahead(incident: NetworkIncident, now: datetime) -> bool:
    return incident.expected_fix_at is not None and incident.expected_fix_at > now


def _for_template(incident: NetworkIncident, zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    """`expected_fix_at`: only a fix still ahead; `fix_passed`: one was expected by now."""
    fix = incident.expected_fix_at
    return {
        "title": incident.title,
        "areas": list(incident.areas or []),
        "started_at": incident.started_at.astimezone(zone),
        "expected_fix_at": fix.astimezone(zone) if fix and _ahead(incident, now) else None,
        "fix_passed": fix is not None and not _ahead(incident, now),
        "note": incident.public_note,
    }


def incident_facts(
    session: Session, message: Message, timezone: str, now: datetime | None = None
) -> IncidentFacts:
    """`now`: when the draft is written, which fix times are judged by (this module's clock
    without)."""
    if message.intent not in INCIDENT_INTENTS:
        return IncidentFacts()
    now = now or utcnow()
    active = active_incidents(session)
    if not active:
        return IncidentFacts()
    zone = ZoneInfo(timezone)
    fits, why = fitting_incident(active, f"{message.subject}\n{message.new_text or message.text}")
    shown = [_for_template(i, zone, now) for i in active]
    if fits is None:
        return IncidentFacts(shown)
    record = {**grounding_record(fits, why), "fix_promised": _ahead(fits, now)}
    return IncidentFacts(shown, _for_template(fits, zone, now), record)


def grounding_record(incident: NetworkIncident, why: str) -> dict[str, Any]:
    """The incident's facts as the draft used them, kept with the draft: the review page
    compares them with the incident as it is now."""
    row = incident_row(incident)
    return {**{key: row[key] for key in GROUNDED_FACTS}, "matched": why}
