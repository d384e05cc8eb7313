"""Email-length customer messages made from variations of the demo emails (for load runs).

Each message keeps one demo email's text, adds a paragraph from another and a reference line,
and gets its own sender, subject and Message-ID, so every text is distinct (no cache hits) and
about 150 words long, like real customer mail. The machine-generated demo mails are left out:
every message here should reach a draft.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from email.utils import format_datetime
from functools import cache
from pathlib import Path

from inscriptis import get_text
from sqlalchemy.orm import Session, sessionmaker

from responder.db.models import Message
from responder.db.session import transaction
from responder.pipeline.states import State

DEMO = Path(__file__).resolve().parents[1] / "demo" / "emails"
NAMES = ["Aoife", "Ciarán", "Maria", "Tomasz", "Grace", "Luca", "Niamh", "Sean", "Priya", "Jan"]
SURNAMES = ["Murphy", "Kelly", "Nowak", "Byrne", "Rossi", "Walsh", "Singh", "Ryan", "Doyle"]


@cache
def _bases() -> tuple[tuple[str, str], ...]:
    found = []
    for path in sorted(DEMO.glob("*.eml")):
        if "-ignored-" in path.name:
            continue
        message = BytesParser(policy=default).parsebytes(path.read_bytes())
        part = message.get_body(preferencelist=("plain", "html"))
        assert part is not None
        text = part.get_content()
        if part.get_content_type() == "text/html":
            text = get_text(text)
        found.append((str(message["Subject"]), text.strip()))
    return tuple(found)


def customer_email(n: int, *, short: bool = False) -> bytes:
    """The n-th message of the corpus (deterministic but for its Date: now, as mail that gets
    automatic mail is written); short keeps the first paragraph only."""
    bases = _bases()
    subject, body = bases[n % len(bases)]
    if short:
        body = next((p for p in body.split("\n\n") if len(p.split()) > 12), body)
    _, extra = bases[(n * 7 + 3) % len(bases)]
    paragraph = next((p for p in extra.split("\n\n") if len(p.split()) > 12), extra)
    first, last = NAMES[n % len(NAMES)], SURNAMES[(n // len(NAMES)) % len(SURNAMES)]
    message = EmailMessage()
    message["From"] = f"{first} {last} <{first.lower()}.{last.lower()}.{n}@mail.test>"
    message["To"] = "support@northwind-mobile.test"
    message["Subject"] = f"{subject} (ref {n})"
    message["Message-ID"] = f"<load-{n}@mail.test>"
    message["Date"] = format_datetime(datetime.now(UTC))
    extra_text = "" if short else f"Also: {paragraph}\n\n"
    message.set_content(f"{body}\n\n{extra_text}My reference is {n} if that helps.\n\n{first}\n")
    return message.as_bytes()


def store_received(
    factory: sessionmaker[Session], channel_id: int, raws: list[bytes], prefix: str = "load"
) -> None:
    """Messages stored raw, as ingestion leaves them: every one waiting for the parse stage."""
    with transaction(factory) as session:
        for n, raw in enumerate(raws):
            session.add(
                Message(
                    channel_id=channel_id,
                    external_key=f"{prefix}-{n}",
                    raw=raw,
                    raw_size=len(raw),
                    state=State.RECEIVED,
                )
            )
