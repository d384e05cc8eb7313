"""Resolution by exact identity across email, phone and social ids; linking with audit."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from responder.customers.importer import import_csv
from responder.customers.links import (
    active_link,
    dismiss_suggestion,
    link_customers,
    suggest_links,
    unlink_customers,
)
from responder.customers.resolve import create_customers, find_customer, resolve_identity
from responder.db.models import (
    AuditEntry,
    Channel,
    Conversation,
    Customer,
    CustomerIdentity,
    Message,
)
from responder.db.session import transaction
from responder.runtime import Runtime
from tests.helpers import run_cli


def test_one_customer_is_found_by_email_phone_whatsapp_and_x(
    rt: Runtime, demo_customers: None
) -> None:
    with transaction(rt.factory) as session:
        by_email = resolve_identity(session, "email", "Aoife Murphy <AOIFE.MURPHY@Gmail.test>")
        by_phone = resolve_identity(session, "phone", "085 555 0101", region="IE")
        by_whatsapp = resolve_identity(session, "whatsapp", "353855550101")
        by_handle = resolve_identity(session, "x_handle", "@AoifeM")
        assert by_email.external_id == "C1001"
        assert by_email.id == by_phone.id == by_whatsapp.id == by_handle.id
        assert not by_email.provisional
        known = session.scalar(select(func.count()).select_from(Customer))
    with transaction(rt.factory) as session:
        stranger = resolve_identity(session, "x", "1590000001", "Night Owl")
        again = resolve_identity(session, "x_id", " 1590000001 ")
        assert stranger.provisional and stranger.name == "Night Owl"
        assert again.id == stranger.id
        assert session.scalar(select(func.count()).select_from(Customer)) == known + 1
        assert find_customer(session, "whatsapp", "not a number") is None


def _message(
    session: Session, channel: Channel, customer: Customer, key: str, text: str
) -> Message:
    conversation = Conversation(channel_id=channel.id, customer_id=customer.id)
    session.add(conversation)
    session.flush()
    message = Message(
        channel_id=channel.id,
        external_key=key,
        raw=text.encode(),
        customer_id=customer.id,
        conversation_id=conversation.id,
        sender_address="d.brennan@brennanlogistics.test",
        sender_name=customer.name,
        subject="Our lines",
        text=text,
        new_text=text,
        state="in_review",
    )
    session.add(message)
    session.flush()
    return message


def test_likely_matches_are_offered_and_linking_merges_then_unlinking_separates(
    rt: Runtime, demo_customers: None
) -> None:
    import_csv(
        rt.factory,
        "subscriptions",
        rt.settings.path("demo") / "subscriptions.csv",
        settings=rt.settings,
    )
    text = (
        "Hi, writing from my own address. Our account is NW-200103.\n\n"
        "Declan Brennan\nMobile: 087 555 0102\n"
    )
    with transaction(rt.factory) as session:
        channel = Channel(name="mail", kind="maildir")
        session.add(channel)
        session.flush()
        provisional = resolve_identity(
            session, "email", "d.brennan@brennanlogistics.test", "Declan Brennan"
        )
        message = _message(session, channel, provisional, "k1", text)
        provisional_id, message_id = provisional.id, message.id
    with rt.factory() as session:
        suggestions = suggest_links(session, provisional_id, rt.settings.customers)
        assert [s.external_id for s in suggestions] == ["C1002"]
        assert suggestions[0].reasons == [
            "same name and email domain (brennanlogistics.test)",
            "phone number +353875550102 in the message",
            "account number NW-200103 quoted in the message",
        ]
        declan_id = suggestions[0].customer_id
    with transaction(rt.factory) as session:
        link_customers(session, provisional_id, declan_id, "alice")
    with rt.factory() as session:
        message = session.get(Message, message_id)
        assert message is not None and message.customer_id == declan_id
        assert message.customer_tier == "Best"  # the queue's tier filter follows the link
        assert find_customer(session, "email", "d.brennan@brennanlogistics.test").id == declan_id
        assert suggest_links(session, provisional_id, rt.settings.customers) == []
    with transaction(rt.factory) as session:
        unlink_customers(session, provisional_id, "bob")
    with rt.factory() as session:
        message = session.get(Message, message_id)
        assert message is not None and message.customer_id == provisional_id
        assert message.customer_tier == ""
        owner = find_customer(session, "email", "d.brennan@brennanlogistics.test")
        assert owner is not None and owner.id == provisional_id
        entries = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.object_id)
            .where(AuditEntry.action.like("customer.%"))
            .order_by(AuditEntry.id)
        ).all()
        assert [tuple(e) for e in entries] == [
            ("alice", "customer.link", str(declan_id)),
            ("bob", "customer.unlink", str(declan_id)),
        ]


def test_the_same_name_without_its_accents_is_offered(rt: Runtime) -> None:
    """Mail programs often drop a name's accents: "Sean O Briain" writing from a new address
    at the company of the customer "Seán Ó Briain" is offered as him; another name is not."""
    with transaction(rt.factory) as session:
        known = Customer(name="Seán Ó Briain", external_id="C9001")
        session.add(known)
        session.flush()
        session.add(CustomerIdentity(customer_id=known.id, kind="email", value="sean@obriain.test"))
        new = resolve_identity(session, "email", "accounts@obriain.test", "Sean O Briain")
        other = resolve_identity(session, "email", "niamh@obriain.test", "Niamh O Briain")
        new_id, other_id = new.id, other.id
    with rt.factory() as session:
        suggestions = suggest_links(session, new_id, rt.settings.customers)
        assert [(s.external_id, s.reasons) for s in suggestions] == [
            ("C9001", ["same name and email domain (obriain.test)"])
        ]
        assert suggest_links(session, other_id, rt.settings.customers) == []


def test_a_batch_of_new_senders_becomes_customers_at_once_and_a_race_falls_back(
    rt: Runtime,
) -> None:
    with transaction(rt.factory) as session:
        created = create_customers(
            session,
            "email",
            {"Ann.Lee@Mail.test": "Ann Lee", "ann.lee@mail.test": "", "bo@mail.test": ""},
        )
        assert created["Ann.Lee@Mail.test"] is created["ann.lee@mail.test"], "one identity"
        assert created["Ann.Lee@Mail.test"].name == "Ann Lee"
        assert created["bo@mail.test"].name == "bo@mail.test"
        assert all(c.provisional for c in created.values())
    with transaction(rt.factory) as session:
        assert find_customer(session, "email", "ANN.LEE@mail.test").name == "Ann Lee"
        # Another worker created bo@ first: nothing of this batch is kept, the caller resolves
        # them one at a time, and the session stays usable.
        assert create_customers(session, "email", {"cy@mail.test": "", "bo@mail.test": ""}) == {}
        assert find_customer(session, "email", "cy@mail.test") is None
        assert resolve_identity(session, "email", "cy@mail.test").provisional
    with transaction(rt.factory) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 3


def test_a_customer_who_wrote_in_before_the_crm_had_them_is_linked_by_the_import(
    rt: Runtime, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The normal order of events: Bob writes, Responder makes him a provisional customer, then
    the CRM export names him. The import links the two (as an agent would), his message joins
    his record, and the billing file that follows finds him."""
    with transaction(rt.factory) as session:
        channel = Channel(name="mail", kind="maildir")
        session.add(channel)
        session.flush()
        provisional = resolve_identity(session, "email", "Bob Ray <bob@x.test>", "Bob Ray")
        message = _message(session, channel, provisional, "k1", "Where is my bill?")
        provisional_id, message_id = provisional.id, message.id
    crm = tmp_path / "c2.csv"
    crm.write_text("external_id,name,email,phone\nC2,Bob Ray,BOB@x.test,087 123 4568\n")
    preview = import_csv(rt.factory, "customers", crm, settings=rt.settings, dry_run=True)
    assert (preview.created, preview.skipped) == (1, 0)
    assert preview.linked == [
        f"{crm}:2: email 'BOB@x.test' wrote to us before the CRM had them: that provisional "
        "customer would be linked to C2, with its messages (unlink it on its customer page if "
        "that is wrong)"
    ]
    with rt.factory() as session:
        assert session.get(Message, message_id).customer_id == provisional_id, "a preview"

    out = run_cli(rt, project, "import", "customers", str(crm), capsys=capsys)
    assert "created: 1" in out and "skipped: 0" in out
    assert f"{crm}:2: email 'BOB@x.test' wrote to us before the CRM had them" in out
    assert "that provisional customer is linked to C2" in out
    billing = tmp_path / "subscriptions.csv"
    billing.write_text(
        "account_id,customer_id,plan,monthly_spend,addons,contract_start,contract_end,lines,status\n"
        "NW-1,C2,Smart 20GB,25.00,,2026-01-01,2027-01-01,1,active\n"
    )
    assert "created: 1" in run_cli(
        rt, project, "import", "subscriptions", str(billing), capsys=capsys
    )
    with rt.factory() as session:
        bob = session.scalars(select(Customer).where(Customer.external_id == "C2")).one()
        assert (bob.plan, bob.monthly_spend, bob.tier) == ("Smart 20GB", 25.0, "Best")
        message = session.get(Message, message_id)
        assert message is not None and message.customer_id == bob.id, "his earlier message"
        assert message.customer_tier == "Best", "the queue's tier filter follows the link"
        assert find_customer(session, "email", "bob@x.test").id == bob.id
        assert find_customer(session, "phone", "+353871234568").id == bob.id
        link = active_link(session, provisional_id)
        assert link is not None and link.target_id == bob.id
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customer.link")
        ).one()
        assert (entry.actor, entry.object_id) == ("cli", str(bob.id))
        assert entry.detail["imported_from"] == str(crm)
        imported = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "import.customers")
        ).one()
        assert imported.detail["linked"] == [
            line.replace("would be linked", "is linked") for line in preview.linked
        ]
    # Someone else's row with his address is still refused: he is a known customer now.
    other = tmp_path / "c3.csv"
    other.write_text("external_id,name,email\nC3,Rob Bay,bob@x.test\n")
    again = import_csv(rt.factory, "customers", other, settings=rt.settings)
    assert again.errors == [f"{other}:2: email 'bob@x.test' already belongs to another customer"]
    # An agent may still undo it, as any link.
    with transaction(rt.factory) as session:
        unlink_customers(session, provisional_id, "alice")
    with rt.factory() as session:
        assert session.get(Message, message_id).customer_id == provisional_id
        assert find_customer(session, "email", "bob@x.test").id == provisional_id
        assert find_customer(session, "phone", "+353871234568").external_id == "C2"


def test_the_next_import_does_not_link_again_a_sender_an_agent_kept_apart(
    rt: Runtime, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The nightly import finds Bob's address back on the provisional customer after an agent
    unlinked them (or said "not this customer" for Cy): it leaves them apart, says why, and
    imports the known customer without that address, not as a clash."""
    with transaction(rt.factory) as session:
        channel = Channel(name="mail", kind="maildir")
        session.add(channel)
        session.flush()
        bob = resolve_identity(session, "email", "Bob Ray <bob@x.test>", "Bob Ray")
        cy = resolve_identity(session, "email", "Cy Dunne <cy@x.test>", "Cy Dunne")
        message_id = _message(session, channel, bob, "k1", "Where is my bill?").id
        bob_id, cy_id = bob.id, cy.id
    crm = tmp_path / "crm.csv"
    crm.write_text("external_id,name,email,phone\nC2,Bob Ray,bob@x.test,087 123 4568\n")
    assert "that provisional customer is linked to C2" in run_cli(
        rt, project, "import", "customers", str(crm), capsys=capsys
    )
    with transaction(rt.factory) as session:
        unlink_customers(session, bob_id, "alice")
    kept = (
        f"{crm}:2: email 'bob@x.test' stays with the provisional customer who wrote to us "
        "first, not linked to C2: alice unlinked them on "
    )
    preview = import_csv(rt.factory, "customers", crm, settings=rt.settings, dry_run=True)
    assert preview.linked == [] and preview.errors == []
    [line] = preview.not_linked
    assert line.startswith(kept) and "C2 would be imported without it" in line
    out = run_cli(rt, project, "import", "customers", str(crm), capsys=capsys)
    assert "updated: 1" in out and "skipped: 0" in out and "is linked" not in out
    assert kept in out and "C2 is imported without it" in out
    with rt.factory() as session:
        assert active_link(session, bob_id) is None, "the agent's unlink stands"
        assert session.get(Message, message_id).customer_id == bob_id
        assert find_customer(session, "email", "bob@x.test").id == bob_id
        assert find_customer(session, "phone", "+353871234568").external_id == "C2"
        imported = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "import.customers")
            .order_by(AuditEntry.id.desc())
        ).first()
        assert imported.detail["not_linked"] == [line.replace("would be imported", "is imported")]
    # "Not this customer" keeps them apart the same way.
    known = tmp_path / "c3.csv"
    known.write_text("external_id,name,phone\nC3,Cy Dunne,087 765 4321\n")
    assert "created: 1" in run_cli(rt, project, "import", "customers", str(known), capsys=capsys)
    with transaction(rt.factory) as session:
        c3 = session.scalars(select(Customer).where(Customer.external_id == "C3")).one()
        dismiss_suggestion(session, cy_id, c3.id, "alice")
    known.write_text("external_id,name,email\nC3,Cy Dunne,CY@x.test\n")
    again = import_csv(rt.factory, "customers", known, settings=rt.settings)
    assert (again.updated, again.errors, again.linked) == (1, [], [])
    [why] = again.not_linked
    assert why.startswith(
        f"{known}:2: email 'CY@x.test' stays with the provisional customer who wrote to us "
        'first, not linked to C3: alice said "not this customer" on '
    )
    with rt.factory() as session:
        assert active_link(session, cy_id) is None
        assert find_customer(session, "email", "cy@x.test").id == cy_id


def test_a_preview_and_the_import_agree_on_a_sender_two_rows_claim(
    rt: Runtime, tmp_path: Path
) -> None:
    """One provisional customer joins one known customer: with it go all its addresses, so a
    later row (in a later batch too) naming another of them is refused, in the preview as in
    the import."""
    rt.settings = msgspec.structs.replace(
        rt.settings,
        customers=msgspec.structs.replace(rt.settings.customers, import_batch_size=1),
    )
    with transaction(rt.factory) as session:
        provisional = resolve_identity(session, "email", "bob@x.test", "Bob Ray")
        session.add(
            CustomerIdentity(customer_id=provisional.id, kind="phone", value="+353871234568")
        )
    crm = tmp_path / "crm.csv"
    crm.write_text(
        "external_id,name,email,phone\n"
        "C2,Bob Ray,bob@x.test,\n"
        "C3,Rob Bay,,087 123 4568\n"
        "C2,Bob Ray,bob@x.test,\n"
    )
    preview = import_csv(rt.factory, "customers", crm, settings=rt.settings, dry_run=True)
    done = import_csv(rt.factory, "customers", crm, settings=rt.settings)
    expected = [f"{crm}:3: phone '087 123 4568' already belongs to another customer"]
    assert preview.errors == done.errors == expected
    assert (preview.created, preview.updated) == (done.created, done.updated) == (1, 1)
    assert len(preview.linked) == len(done.linked) == 1
    with rt.factory() as session:
        assert find_customer(session, "phone", "+353871234568").external_id == "C2"
