"""The customer page and API: profile, tier parts, churn, subscriptions, cases, timeline, links."""

from __future__ import annotations

import re

from litestar.testing import TestClient
from sqlalchemy import select

from responder.customers.importer import KINDS, import_csv
from responder.customers.resolve import resolve_identity
from responder.db.models import AuditEntry, Channel, Conversation, Customer, Message
from responder.db.session import transaction
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _login(client: TestClient) -> None:
    token = _csrf(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "alice", "password": "correct horse battery", "_csrf_token": token},
    )
    assert response.status_code in (200, 201, 302, 303), response.text


def _demo(rt: Runtime) -> None:
    for kind in KINDS:
        path = rt.settings.path("demo") / f"{kind}.csv"
        assert not import_csv(rt.factory, kind, path, settings=rt.settings).errors


def _provisional_with_message(
    rt: Runtime, text: str = "New phone, same Declan. My account number is NW-200102."
) -> int:
    with transaction(rt.factory) as session:
        channel = Channel(name="whatsapp", kind="whatsapp")
        session.add(channel)
        session.flush()
        customer = resolve_identity(session, "whatsapp", "353830001234", "Declan")
        conversation = Conversation(channel_id=channel.id, customer_id=customer.id)
        session.add(conversation)
        session.flush()
        session.add(
            Message(
                channel_id=channel.id,
                external_key="wamid.1",
                raw=b"{}",
                customer_id=customer.id,
                conversation_id=conversation.id,
                text=text,
                state="in_review",
            )
        )
        return customer.id


def test_customer_api_and_page_show_the_single_view_and_link_with_unlink(rt: Runtime) -> None:
    _demo(rt)
    provisional_id = _provisional_with_message(rt)
    with rt.factory() as session:
        declan_id = session.scalar(select(Customer.id).where(Customer.external_id == "C1002"))
    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        profile = client.get(f"/api/customers/{declan_id}", headers=auth).json()
        assert profile["tier"] == "Best"
        assert round(sum(profile["value_parts"].values()), 2) == profile["value_score"]
        assert [s["external_id"] for s in profile["subscriptions"]] == ["NW-200102", "NW-200103"]
        assert [c["external_id"] for c in profile["cases"]] == ["CS-4470113"]
        assert profile["open_cases"] == []
        assert [e["channel"] for e in profile["timeline"]] == ["phone", "phone"]
        assert set(profile["churn"]) == {"score", "risk", "reasons"}

        suggestions = client.get(f"/api/customers/{provisional_id}/suggestions", headers=auth)
        assert suggestions.json() == [
            {
                "customer_id": declan_id,
                "name": "Declan Brennan",
                "external_id": "C1002",
                "tier": "Best",
                "reasons": ["account number NW-200102 quoted in the message"],
            }
        ]
        with rt.factory() as session:
            message_id = session.scalar(select(Message.id).where(Message.external_key == "wamid.1"))
        panel = client.get(f"/api/messages/{message_id}", headers=auth).json()["customer"]
        assert panel["id"] == provisional_id
        assert [s["external_id"] for s in panel["suggestions"]] == ["C1002"]
        linked = client.post(
            f"/api/customers/{provisional_id}/link", headers=auth, json={"target_id": declan_id}
        )
        assert linked.status_code == 201, linked.text
        assert linked.json()["moved"]["messages"] == 1
        merged = client.get(f"/api/customers/{declan_id}", headers=auth).json()
        assert merged["channels"] == ["phone", "whatsapp"]
        assert merged["linked_from"] == [provisional_id]
        again = client.post(
            f"/api/customers/{provisional_id}/link", headers=auth, json={"target_id": declan_id}
        )
        assert again.status_code == 400 and "already linked" in again.json()["detail"]

        _login(client)
        page = client.get(f"/customers/{declan_id}")
        assert page.status_code == 200
        assert "Declan Brennan" in page.text and "Best" in page.text
        assert "New phone, same Declan." in page.text
        assert "CS-4470113" in page.text and "NW-200103" in page.text
        assert "<small>2026-11-18 15:30 UTC · <strong>phone</strong> · us" in page.text, "zoned"
        assert f'action="/customers/{provisional_id}/unlink"' in page.text
        assert f'data-confirm="Unlink provisional customer {provisional_id}?' in page.text
        score = merged["value_score"]
        assert f"Value score {score:.1f}" in page.text, "to one decimal, as on the review page"
        shown = re.findall(r"<tr><td>([a-z ]+)</td><td>[\d.]+</td></tr>", page.text)
        largest_first = sorted(merged["value_parts"], key=merged["value_parts"].get, reverse=True)
        assert shown == [name.replace("_", " ") for name in largest_first], "what weighs most"

        unlinked = client.post(
            f"/customers/{provisional_id}/unlink", data={"_csrf_token": _csrf(page.text)}
        )
        assert unlinked.status_code in (200, 201, 302, 303), unlinked.text
        separate = client.get(f"/api/customers/{declan_id}", headers=auth).json()
        assert separate["channels"] == ["phone"]
        assert 'id="link-by-hand"' not in page.text, "a known customer is not linked by hand"

        # By hand: found by name or customer number, an unknown number refused in words.
        own = f"/customers/{provisional_id}"
        for typed in ("declan", "C1002", str(declan_id)):
            found = client.get(own, params={"find": typed}).text
            assert f'id="link-found-{declan_id}"' in found, typed
        unknown = client.get(own, params={"find": "987654"}).text
        assert "Nothing to link: no customer 987654 on file." in unknown
        token = _csrf(unknown)
        refused = client.post(f"{own}/link", data={"target_id": "987654", "_csrf_token": token})
        assert "No customer 987654 on file: nothing was linked" in refused.text
        by_hand = client.post(f"{own}/link", data={"target_id": declan_id, "_csrf_token": token})
        assert "Linked to Declan Brennan." in by_hand.text
        assert client.get("/api/customers/999999", headers=auth).status_code == 404
        assert client.get(f"/api/customers/{declan_id}").status_code == 401


def _suggested_on(page: str) -> list[str]:
    """The names offered on a page, each with its "Not this customer" button."""
    return re.findall(
        r'<div class="suggestion" id="suggestion-\d+">\s*<p><a href="/customers/\d+">([^<]+)</a>',
        page,
    )


def _two_accounts_named(rt: Runtime) -> tuple[int, int, int, int]:
    """A new WhatsApp sender whose message names Declan's account and Aoife's: the sender's
    provisional customer, the message, Declan and Aoife."""
    _demo(rt)
    provisional_id = _provisional_with_message(
        rt, "New phone. My account is NW-200102, or it may be NW-200101, my wife's."
    )
    with rt.factory() as session:
        message_id = session.scalar(select(Message.id).where(Message.external_key == "wamid.1"))
        declan_id = session.scalar(select(Customer.id).where(Customer.external_id == "C1002"))
        aoife_id = session.scalar(select(Customer.id).where(Customer.external_id == "C1001"))
    return provisional_id, message_id, declan_id, aoife_id


def test_a_wrong_suggestion_is_dismissed_for_the_sender_and_the_others_stay(rt: Runtime) -> None:
    provisional_id, message_id, declan_id, aoife_id = _two_accounts_named(rt)
    staff(rt)
    with TestClient(create_app(rt)) as client:
        _login(client)
        review = client.get(f"/messages/{message_id}?tier=Best")  # opened from a queue view
        assert _suggested_on(review.text) == ["Aoife Murphy", "Declan Brennan"]
        assert review.text.count(">Not this customer</button>") == 2
        assert f'action="/customers/{provisional_id}/dismiss?tier=Best"' in review.text
        dismissed = client.post(
            f"/customers/{provisional_id}/dismiss?tier=Best",
            data={
                "target_id": str(aoife_id),
                "message_id": str(message_id),
                "_csrf_token": _csrf(review.text),
            },
        )
        assert dismissed.status_code == 200, dismissed.text
        back = f"http://testserver.local/messages/{message_id}?tier=Best&notice="
        assert str(dismissed.url).startswith(back), "back in the view"
        assert "Not Aoife Murphy: not suggested again." in dismissed.text
        assert _suggested_on(dismissed.text) == ["Declan Brennan"]
        customer_page = client.get(f"/customers/{provisional_id}")
        assert _suggested_on(customer_page.text) == ["Declan Brennan"], "for the sender, not a page"

        auth = api_token(client)
        suggestions = client.get(f"/api/customers/{provisional_id}/suggestions", headers=auth)
        assert [s["customer_id"] for s in suggestions.json()] == [declan_id]
        again = client.post(
            f"/api/customers/{provisional_id}/dismiss", headers=auth, json={"target_id": aoife_id}
        )
        assert again.status_code == 201 and again.json()["dismissed_by"] == "alice"
        known = client.post(
            f"/api/customers/{declan_id}/dismiss", headers=auth, json={"target_id": aoife_id}
        )
        assert known.status_code == 400 and "known customer" in known.json()["detail"]

        linked = client.post(
            f"/customers/{provisional_id}/link",
            data={
                "target_id": str(declan_id),
                "message_id": str(message_id),
                "_csrf_token": _csrf(customer_page.text),
            },
        )
        assert str(linked.url).startswith(f"http://testserver.local/messages/{message_id}")
        assert "Declan Brennan" in linked.text and _suggested_on(linked.text) == []
        assert (
            "<small>2026-11-18 15:30 UTC · phone · us · Orla (business team)</small>" in linked.text
        ), "his recent contacts at the time, in the zone the rest of the page uses, by whom"
    with rt.factory() as session:
        entries = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.object_id, AuditEntry.detail)
            .where(AuditEntry.action.like("customer.%"))
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(e)[:3] for e in entries] == [
        ("alice", "customer.link_dismissed", str(aoife_id)),
        ("alice", "customer.link", str(declan_id)),
    ], "dismissed once, however often it was asked"
    assert entries[0].detail == {"source": provisional_id}


def test_an_agent_takes_back_not_this_customer(rt: Runtime) -> None:
    provisional_id, message_id, declan_id, aoife_id = _two_accounts_named(rt)
    staff(rt)
    with TestClient(create_app(rt)) as client:
        _login(client)
        review = client.get(f"/messages/{message_id}")
        assert 'id="dismissed-suggestions"' not in review.text
        form = {"target_id": str(aoife_id), "message_id": str(message_id)}
        dismissed = client.post(
            f"/customers/{provisional_id}/dismiss",
            data={**form, "_csrf_token": _csrf(review.text)},
        )
        assert _suggested_on(dismissed.text) == ["Declan Brennan"]
        assert (
            "You said <a" in dismissed.text
            and "Aoife Murphy</a> is not this sender" in dismissed.text
        )
        assert f'action="/customers/{provisional_id}/dismiss/undo"' in dismissed.text

        undone = client.post(
            f"/customers/{provisional_id}/dismiss/undo",
            data={**form, "_csrf_token": _csrf(dismissed.text)},
        )
        assert str(undone.url).startswith(f"http://testserver.local/messages/{message_id}")
        assert "Undone: Aoife Murphy is no longer ruled out for this sender." in undone.text
        assert _suggested_on(undone.text) == ["Aoife Murphy", "Declan Brennan"]
        assert 'id="dismissed-suggestions"' not in undone.text

        auth = api_token(client)
        client.post(
            f"/api/customers/{provisional_id}/dismiss", headers=auth, json={"target_id": declan_id}
        )
        profile = client.get(f"/api/customers/{provisional_id}", headers=auth).json()
        assert [d["customer_id"] for d in profile["dismissed"]] == [declan_id]
        customer_page = client.get(f"/customers/{provisional_id}").text
        assert f'id="dismissed-{declan_id}"' in customer_page
        undo = f"/api/customers/{provisional_id}/dismiss/undo"
        back = client.post(undo, headers=auth, json={"target_id": declan_id})
        assert back.status_code == 201 and back.json()["dismissed"] is False
        assert client.post(undo, headers=auth, json={"target_id": declan_id}).status_code == 404
        suggestions = client.get(f"/api/customers/{provisional_id}/suggestions", headers=auth)
        assert {s["customer_id"] for s in suggestions.json()} == {aoife_id, declan_id}
    with rt.factory() as session:
        entries = session.execute(
            select(AuditEntry.action, AuditEntry.object_id, AuditEntry.detail)
            .where(AuditEntry.action.like("customer.link_dismiss%"))
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(e)[:2] for e in entries] == [
        ("customer.link_dismissed", str(aoife_id)),
        ("customer.link_dismissal_undone", str(aoife_id)),
        ("customer.link_dismissed", str(declan_id)),
        ("customer.link_dismissal_undone", str(declan_id)),
    ]
    assert entries[1].detail == {"source": provisional_id, "dismissed_by": "alice"}
