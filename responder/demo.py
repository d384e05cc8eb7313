"""Demo data for a fictional telecom operator: customers, staff, and emails in the mailbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from responder.bootstrap import prepare
from responder.channels.maildir_source import deliver_to_maildir
from responder.config import Settings
from responder.customers.importer import KINDS, import_csv
from responder.db.models import NetworkIncident, StaffUser, utcnow
from responder.db.session import transaction
from responder.incidents import IncidentInput, record_incident
from responder.review import audit
from responder.users import add_user

DEMO_USERS = (
    ("agent", "responder-demo", "agent", "Alex Agent"),
    ("supervisor", "responder-demo", "supervisor", "Sam Supervisor"),
    ("admin", "responder-demo", "admin", "Ada Admin"),
)


#: One fault, so the demo shows both kinds of outage draft: the Cork email gets the incident,
#: the others that no fault is known in their area.
DEMO_INCIDENT = {
    "title": "Mast fault, Cork city centre",
    "areas": ["Cork"],
    "note": "A power fault took two masts off air; engineers are on site.",
}


def demo_folder(settings: Settings) -> Path:
    return settings.path("demo")


def load_demo(settings: Settings) -> list[str]:
    rt = prepare(settings)
    folder = demo_folder(settings)
    report: list[str] = []
    for kind in KINDS:
        summary = import_csv(
            rt.factory, kind, folder / f"{kind}.csv", settings=settings, actor="demo"
        )
        report += summary.lines() + summary.errors
    with transaction(rt.factory) as session:
        for username, password, role, name in DEMO_USERS:
            if not session.scalar(select(StaffUser).where(StaffUser.username == username)):
                add_user(session, username, password, role, name)
        if not session.scalar(select(func.count(NetworkIncident.id))):
            now = utcnow()
            incident = record_incident(
                session,
                IncidentInput(
                    title=DEMO_INCIDENT["title"],
                    areas=DEMO_INCIDENT["areas"],
                    started_at=now - timedelta(hours=3),
                    expected_fix_at=now + timedelta(hours=5),
                    public_note=DEMO_INCIDENT["note"],
                ),
                "demo",
            )
            audit(session, "demo", "incident.record", "network_incident", incident.id)
            report.append(f"network incident: {incident.title} (see /supervisor/incidents)")
    report.append("staff: " + ", ".join(f"{u} / {p} ({r})" for u, p, r, _ in DEMO_USERS))
    mailbox = settings.path(settings.maildir.path)
    dropped = 0
    for eml in sorted((folder / "emails").glob("*.eml")):
        name = f"demo-{eml.stem}"
        if any(
            (mailbox / sub / n).exists() for sub in ("new", "cur") for n in (name, f"{name}:2,")
        ):
            continue
        deliver_to_maildir(mailbox, eml.read_bytes(), name)
        dropped += 1
    report.append(f"emails dropped into {mailbox}/new: {dropped}")
    return report
