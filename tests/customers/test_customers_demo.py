"""The demo: one customer reached on two channels, and a Best-tier customer at churn risk whose
draft differs because of it."""

from __future__ import annotations

import dataclasses

import msgspec
from litestar.testing import TestClient
from sqlalchemy import select

from responder.content import live_templates
from responder.customers.churn import ChurnRisk
from responder.customers.importer import KINDS, import_csv
from responder.customers.resolve import resolve_identity
from responder.customers.view import customer_profile, load_context
from responder.db.models import Customer, Draft, Message, utcnow
from responder.db.session import transaction
from responder.drafting.compose import compose_draft
from responder.pipeline.worker import Worker
from responder.review import approve
from responder.runtime import Runtime
from responder.users import set_display_name
from responder.web.app import create_app
from tests.helpers import api_token, drop, staff, staff_member
from tests.test_web_security import login

RETENTION_CALL = "asked a senior member of our retention team to call you within one working day"


def _load_demo(rt: Runtime, *emails: str) -> None:
    demo = rt.settings.path("demo")
    for kind in KINDS:
        summary = import_csv(rt.factory, kind, demo / f"{kind}.csv", settings=rt.settings)
        assert not summary.errors
    for name in emails:
        path = next((demo / "emails").glob(f"{name}-*.eml"))
        drop(rt, path.read_bytes(), f"demo-{path.stem}")


def _draft_for(rt: Runtime, sender: str) -> tuple[Message, Draft]:
    with rt.factory() as session:
        message = session.scalar(select(Message).where(Message.sender_address == sender))
        assert message is not None
        draft = session.scalar(select(Draft).where(Draft.message_id == message.id))
        assert draft is not None
        return message, draft


def test_demo_customer_view_drives_the_draft_and_spans_channels(
    rt: Runtime, worker: Worker
) -> None:
    _load_demo(rt, "01", "15", "17")
    worker.drain()
    message, draft = _draft_for(rt, "declan.brennan@brennanlogistics.test")
    assert message.intent == "port_out"
    churn = draft.grounding["customer"]["churn"]
    assert draft.grounding["customer"]["tier"] == "Best"
    assert churn["risk"] == "high"
    codes = [r["code"] for r in churn["reasons"]]
    assert codes[:2] == ["leaving_intent", "competitor"]
    assert "competitor named: Fabrikam Mobile" in [r["text"] for r in churn["reasons"]]
    assert RETENTION_CALL in draft.body
    assert "all 5 of your lines" in draft.body

    # The same customer and message without the churn risk: the paragraph is not there.
    with rt.factory() as session:
        customer = session.get(Customer, message.customer_id)
        current = session.get(Message, message.id)
        context = load_context(session, customer, current, rt.settings, utcnow())
        templates = live_templates(session)
    calm = dataclasses.replace(context, churn=ChurnRisk())
    bodies = [
        compose_draft(
            templates={k: t.body for k, t in templates.items()},
            template_ids={k: t.id for k, t in templates.items()},
            intent="port_out",
            language="en",
            customer=c,
            subject=message.subject,
            new_text=message.new_text,
            snippets=[],
            drafting=rt.settings.drafting,
        ).body
        for c in (context, calm)
    ]
    assert RETENTION_CALL in bodies[0]
    assert RETENTION_CALL not in bodies[1]

    # Chloe also names a competitor, but she is not Best tier.
    _, chloe = _draft_for(rt, "chloe.martin@outlook.test")
    assert "competitor" in [r["code"] for r in chloe.grounding["customer"]["churn"]["reasons"]]
    assert chloe.grounding["customer"]["tier"] != "Best"
    assert RETENTION_CALL not in chloe.body

    # Oliver Grant wrote by email and on X: one customer, one timeline across both channels.
    with transaction(rt.factory) as session:
        oliver = resolve_identity(session, "x_handle", "@OllieGrant")
        message = session.scalar(
            select(Message).where(Message.sender_address == "oliver.grant@outlook.test")
        )
        assert message is not None and message.customer_id == oliver.id
        profile = customer_profile(session, oliver.id, rt.settings, utcnow())
    assert profile is not None
    assert profile["channels"] == ["email", "x"]
    assert [(e["channel"], e["direction"]) for e in profile["timeline"]] == [
        ("email", "in"),
        ("x", "out"),
        ("x", "in"),
    ]
    assert profile["tier"] and set(profile["value_parts"]) == {
        "monthly_spend",
        "projected_spend",
        "influence",
        "tenure",
    }


def test_the_review_page_counts_the_customers_lines(rt: Runtime, worker: Worker) -> None:
    _load_demo(rt, "02", "15")  # Aoife Murphy has one line, Declan Brennan's business five
    worker.drain()
    staff(rt, "alice")
    aoife, _ = _draft_for(rt, "aoife.murphy@gmail.test")
    declan, _ = _draft_for(rt, "declan.brennan@brennanlogistics.test")
    # The page shows spend in the team's currency (`[drafting] currency`), as drafts write it.
    drafting = msgspec.structs.replace(rt.settings.drafting, currency="GBP")
    rt.settings = msgspec.structs.replace(rt.settings, drafting=drafting)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        assert "Smart 20GB · £25.00/month · 1 line</p>" in client.get(f"/messages/{aoife.id}").text
        declan_page = client.get(f"/messages/{declan.id}").text
        assert "· 5 lines</p>" in declan_page
        # Demo contracts: Aoife's ended 2026-03-13, Declan's runs to 2026-12-10 (the demo's
        # "contract ends 10 Dec"); the page says which, as of today.
        today = utcnow().date().isoformat()
        aoife_page = client.get(f"/messages/{aoife.id}").text
        assert ("Out of contract since 2026-03-13" in aoife_page) == (today > "2026-03-13")
        assert ("Contract ends 2026-12-10" in declan_page) == (today <= "2026-12-10")

        # Each reply we sent names, on the customer's timeline, who approved it, by the name
        # colleagues know them by, or says that auto-send sent it; page and API.
        with transaction(rt.factory) as session:
            set_display_name(session, staff_member(session).id, "Alice Byrne")
            approve(session, declan.id, None, rt.settings.outbound, auto_submitted=True)
        auth = api_token(client)
        approved = client.post(f"/api/messages/{aoife.id}/approve", json={}, headers=auth)
        assert approved.status_code == 201, approved.text
        worker.drain()
        for message, agent, by, words in (
            (aoife, "Alice Byrne", "alice", "us · Alice Byrne"),
            (declan, "", "auto-send", "us · sent automatically"),
        ):
            profile = client.get(f"/api/customers/{message.customer_id}", headers=auth).json()
            (reply,) = [
                e for e in profile["timeline"] if e["type"] == "message" and e["direction"] == "out"
            ]
            assert (reply["state"], reply["agent"], reply["by"]) == ("sent", agent, by)
            page = client.get(f"/customers/{message.customer_id}").text
            assert words in page.split(f'id="message-{reply["id"]}"', 1)[1].split("</small>")[0]
            # The review page's Recent contacts say it in the same words.
            page = client.get(f"/messages/{message.id}").text
            assert words in page.split("<h3>Recent contacts</h3>", 1)[1].split("</ul>", 1)[0]
