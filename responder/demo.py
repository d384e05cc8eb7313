"""Demo data for a fictional telecom operator: customers, staff, and emails in the mailbox."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from responder.bootstrap import prepare
from responder.channels.maildir_source import deliver_to_maildir
from responder.config import Settings
from responder.customers.importer import KINDS, import_csv
from responder.db.models import StaffUser
from responder.db.session import transaction
from responder.users import add_user

DEMO_USERS = (
    ("agent", "responder-demo", "agent", "Alex Agent"),
    ("supervisor", "responder-demo", "supervisor", "Sam Supervisor"),
    ("admin", "responder-demo", "admin", "Ada Admin"),
)


def demo_folder(settings: Settings) -> Path:
    return settings.path("demo")


def load_demo(settings: Settings) -> list[str]:
    rt = prepare(settings)
    folder = demo_folder(settings)
    report: list[str] = []
    for kind in KINDS:
        summary = import_csv(rt.factory, kind, folder / f"{kind}.csv", settings=settings)
        report += summary.lines() + summary.errors
    with transaction(rt.factory) as session:
        for username, password, role, name in DEMO_USERS:
            if not session.scalar(select(StaffUser).where(StaffUser.username == username)):
                add_user(session, username, password, role, name)
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
