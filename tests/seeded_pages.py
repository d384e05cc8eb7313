"""A little of everything the lists show, with long addresses and reasons as real mail has them,
so a layout test sees each page's tables and forms filled."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from responder.db.models import (
    Acknowledgement,
    AuditEntry,
    BlockedSender,
    ClassifierExample,
    ClassifierModel,
    Message,
    OutboxItem,
    PendingImport,
    Snippet,
    Template,
    utcnow,
)
from responder.db.session import transaction
from responder.incidents import IncidentInput, record_incident, resolve_incident
from responder.mentions import record_mentions
from responder.notes import add_note
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.snooze import snooze
from tests.helpers import drop, make_email, staff, staff_member

FAR = "someone.with.a.rather.long.address@a-subdomain.somewhere-far-away.test"
EXPORT = "crm-export-from-the-billing-system-2026-12-06-full-customer-list.csv"
SMTP_REFUSAL = (
    "550 5.1.1 <someone.with.a.rather.long.address@a-subdomain.somewhere-far-away.test>: "
    "Recipient address rejected: User unknown in virtual mailbox table"
)


def seed_every_list(rt: Runtime, worker: Worker) -> dict[str, int | str]:
    """Messages in each state a page lists, staff, notes, blocks, incidents, examples and
    audit entries, a customer-data upload waiting for alice's confirmation; returns the ids of
    a template and a snippet to open in the editor, the upload's token, and a noted message and
    its customer (for the review and customer pages)."""
    for number in range(6):
        raw = make_email(
            sender=f"Stranger {number} <{FAR}>",
            subject=f"Internet down again at the house, number {number}",
            body="My broadband has been down since Tuesday. Please help, this is urgent.",
            message_id=f"<seed{number}@mail.test>",
        )
        drop(rt, raw, f"seed-{number}")
    worker.drain()
    staff(rt, "alice", role="admin")
    staff(rt, "bartholomew.o.callaghan", role="supervisor")
    staff(rt, "cliodhna", role="agent")
    with transaction(rt.factory) as session:
        ids = list(session.scalars(select(Message.id).where(Message.direction == "in")))
        quarantined, failed, ignored, snoozed, acknowledged, noted = ids[:6]
        session.execute(
            update(Message)
            .where(Message.id == quarantined)
            .values(
                state="quarantined",
                state_reason="over the 3,000 byte limit ([pipeline] max_message_bytes)",
            )
        )
        session.execute(
            update(Message)
            .where(Message.id == ignored)
            .values(state="ignored", state_reason="automatic reply (Auto-Submitted: auto-replied)")
        )
        message = session.get(Message, failed)
        message.state = "failed"
        session.add(
            OutboxItem(
                message_id=failed,
                channel_id=message.channel_id,
                message_id_header="<reply-seed@responder.test>",
                recipients=[FAR],
                state="failed",
                attempts=3,
                last_error=SMTP_REFUSAL,
            )
        )
        session.add(
            Acknowledgement(
                message_id=acknowledged,
                channel_id=message.channel_id,
                message_id_header="<ack-seed@responder.test>",
                recipients=[FAR],
                subject="We have your message",
                raw=b"",
                state="failed",
                attempts=2,
                last_error=SMTP_REFUSAL,
            )
        )
        alice = staff_member(session, "alice")
        snooze(
            session,
            snoozed,
            alice,
            utcnow() + timedelta(days=2),
            "waiting for the network team to confirm the outage in the area",
        )
        note = add_note(
            session,
            noted,
            "cliodhna",
            "@alice can you call her back? She says the engineer never came on Tuesday and "
            "https://status.example.test/incidents/2026/galway-city-mast-fault says fixed.",
        )
        record_mentions(session, note)
        session.add(
            BlockedSender(
                kind="domain",
                value="a-subdomain.somewhere-far-away.test",
                reason="sends the same complaint every five minutes from a script",
                blocked_by="bartholomew.o.callaghan",
                hits=7,
                last_hit_at=utcnow(),
            )
        )
        for when, by in ((None, ""), (utcnow(), "alice")):
            incident = record_incident(
                session,
                IncidentInput(
                    title="Mast fault, Galway city and the surrounding townlands",
                    areas="Galway, Salthill, Knocknacarra, Oranmore, Barna",
                    started_at=utcnow() - timedelta(hours=3),
                    expected_fix_at=utcnow() + timedelta(hours=5),
                    public_note="Engineers are on site; mobile data may be slow until then.",
                ),
                "bartholomew.o.callaghan",
            )
            if when:
                resolve_incident(session, incident.id, by)
        session.add(
            ClassifierExample(
                classifier="intent",
                label="outage",
                text="Internet down again at the house. " * 12,
                status="candidate",
                source="correction",
                message_id=noted,
                created_by="cliodhna",
            )
        )
        intent = session.scalars(
            select(ClassifierModel).where(ClassifierModel.name == "intent")
        ).one()  # trained by the worker, without a held-out measure
        session.add(  # a later version, made active and then stepped back from; it lacks a
            ClassifierModel(  # label, so its row names it and carries the box to tick
                name="intent",
                version=intent.version + 1,
                kind=intent.kind,
                threshold=intent.threshold,
                labels=[label for label in intent.labels if label != "account_change"],
                metrics={"holdout": {"accuracy": 0.8642, "macro_f1": 0.8511, "count": 140}},
                training_set={"count": 702},
                head=intent.head,
                created_by="bartholomew.o.callaghan",
            )
        )
        session.add(
            AuditEntry(
                actor="bartholomew.o.callaghan",
                action="sender.block",  # as responder/web/blocked_pages.py writes it
                object_type="blocked_sender",
                object_id="1",
                detail={
                    "sender": "@a-subdomain.somewhere-far-away.test",
                    "reason": SMTP_REFUSAL,
                    "also_rejected": [],
                },
            )
        )
        session.add(
            PendingImport(
                token="seeded-upload",
                kind="customers",
                filename=EXPORT,
                content=b"external_id,email\n",
                uploaded_by="alice",
                preview={
                    "kind": "customers",
                    "filename": EXPORT,
                    "rows": 1250,
                    "created": 1200,
                    "updated": 48,
                    "skipped": 2,
                    "problems": [
                        f"{EXPORT}:17: email {FAR!r} already belongs to another customer",
                        f"{EXPORT}:90: "
                        "3 values where the header has 15 columns (a quote opened here and closed "
                        "lines later, or never): row skipped, nothing on file changed",
                    ],
                },
            )
        )
        template = session.scalars(select(Template.id).order_by(Template.id)).first()
        snippet = session.scalars(select(Snippet.id).order_by(Snippet.id)).first()
        customer = session.scalar(select(Message.customer_id).where(Message.id == noted))
    assert template and snippet, "the migrated database holds the shipped content"
    return {
        "template": template,
        "snippet": snippet,
        "upload": "seeded-upload",
        "message": noted,
        "customer": customer,
    }


# each page and the button or link it is there for (which must be on the screen, not past its edge)
PAGES = [
    ("/problems", "form[action$='/send-again'] button"),
    ("/ignored", "form.filters button[type=submit]"),
    ("/snoozed", "form[action$='/wake'] button"),
    ("/mentions", "form[action='/mentions/seen'] button"),
    ("/account", "#change-password button[type=submit]"),
    ("/customers/{customer}/write", "#write-send"),
    ("/admin/staff", "#add-staff button[type=submit]"),
    ("/audit", "#audit-filters button[type=submit]"),
    ("/supervisor/dashboard", "form.filters button[type=submit]"),
    ("/supervisor/templates", "#new-template-link"),
    ("/supervisor/templates/{template}", "#save"),
    ("/supervisor/snippets/{snippet}", "#save"),
    ("/supervisor/snippets/{snippet}/retire", "#retire-confirm"),
    ("/supervisor/templates/new?intent=praise&language=de", "#new-template button[type=submit]"),
    ("/supervisor/snippets/new", "#new-snippet button[type=submit]"),
    ("/supervisor/classifiers?name=intent", "#candidates button.accept"),
    ("/supervisor/classifiers?name=intent&label=outage", "#add-example button[type=submit]"),
    ("/supervisor/classifiers?name=intent", "#version-list button"),
    ("/supervisor/rules", "#tone-save"),
    ("/supervisor/rules", "#add-rule"),
    ("/supervisor/rules", "#move-down-3"),
    ("/supervisor/action-rules/new", "#rule-save"),
    ("/supervisor/action-rules/3", "#rule-save"),
    ("/supervisor/auto-send", "form[action='/supervisor/auto-send/set'] button"),
    ("/supervisor/blocked", "#block-form button[type=submit]"),
    ("/supervisor/incidents", "#incident-form button[type=submit]"),
    ("/supervisor/customer-data", "#upload-form button[type=submit]"),
    ("/supervisor/customer-data/{upload}", "#confirm-import button[type=submit]"),
]
