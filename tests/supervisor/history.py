"""Messages waiting for review, written straight to the database (no model run needed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from responder.db.models import Channel, Draft, Message, Template
from responder.db.session import transaction
from responder.runtime import Runtime


def waiting_message(
    rt: Runtime,
    number: int,
    *,
    channel: str = "support",
    intent: str = "roaming",
    subject: str = "Roaming charges on my bill",
    text: str = "I was charged 80 euro for roaming in Spain.",
    received_at: datetime | None = None,
) -> int:
    """An inbound email in review with a first draft made from the live intent template."""
    with transaction(rt.factory) as session:
        found = session.scalar(select(Channel).where(Channel.name == channel))
        if found is None:
            found = Channel(name=channel, kind="maildir", address=f"{channel}@example.test")
            session.add(found)
            session.flush()
        template = session.scalar(
            select(Template)
            .where(Template.name == f"intents/{intent}", Template.language == "en")
            .order_by(Template.version.desc())
        )
        message = Message(
            channel_id=found.id,
            external_key=f"k{number}",
            raw=b"",
            state="in_review",
            sender_address=f"customer{number}@example.test",
            sender_name="Aoife Murphy",
            subject=subject,
            text=text,
            new_text=text,
            intent=intent,
            intent_confidence=0.9,
            message_id_header=f"<h{number}@example.test>",
        )
        if received_at is not None:
            message.received_at = received_at
        session.add(message)
        session.flush()
        session.add(
            Draft(
                message_id=message.id,
                body="Hello Aoife,\n\nThanks for writing.\n",
                template_id=template.id if template else None,
            )
        )
        return message.id


def agent_correction(rt: Runtime, message_id: int, label: str, previous: str, agent: str) -> int:
    """What an agent's reclassification leaves behind: a candidate example and a review action."""
    from responder.db.models import ClassifierExample, ReviewAction

    with transaction(rt.factory) as session:
        message = session.get(Message, message_id)
        example = ClassifierExample(
            classifier="intent",
            label=label,
            text=f"{message.subject}\n{message.new_text}",
            status="candidate",
            source="correction",
            message_id=message_id,
            created_by=agent,
        )
        session.add(example)
        session.add(
            ReviewAction(
                message_id=message_id,
                action="reclassify",
                detail={"classifier": "intent", "from": previous, "to": label},
            )
        )
        session.flush()
        return example.id
