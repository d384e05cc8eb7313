"""The network incidents as a draft sees them: the active ones and the one that fits the
message, with times in the team's time zone (a fault since 00:30 Dublin time started on that
day there, not the day before in UTC), and the grounding record the review page shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from responder.db.models import Message, NetworkIncident
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


def _for_template(incident: NetworkIncident, zone: ZoneInfo) -> dict[str, Any]:
    fix = incident.expected_fix_at
    return {
        "title": incident.title,
        "areas": list(incident.areas or []),
        "started_at": incident.started_at.astimezone(zone),
        "expected_fix_at": fix.astimezone(zone) if fix else None,
        "note": incident.public_note,
    }


def incident_facts(session: Session, message: Message, timezone: str) -> IncidentFacts:
    if message.intent not in INCIDENT_INTENTS:
        return IncidentFacts()
    active = active_incidents(session)
    if not active:
        return IncidentFacts()
    zone = ZoneInfo(timezone)
    fits, why = fitting_incident(active, f"{message.subject}\n{message.new_text or message.text}")
    if fits is None:
        return IncidentFacts([_for_template(i, zone) for i in active])
    record = grounding_record(fits, why)
    shown = [_for_template(i, zone) for i in active]
    return IncidentFacts(shown, _for_template(fits, zone), record)


def grounding_record(incident: NetworkIncident, why: str) -> dict[str, Any]:
    """The incident's facts as the draft used them, kept with the draft: the review page
    compares them with the incident as it is now."""
    row = incident_row(incident)
    return {**{key: row[key] for key in GROUNDED_FACTS}, "matched": why}
