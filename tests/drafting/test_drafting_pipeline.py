"""Drafting in the running pipeline: grounding records, template failures, picking an action,
and every template rendered for every demo customer."""

from __future__ import annotations

import re

import msgspec
from litestar.testing import TestClient
from sqlalchemy import select

from responder.customers.context import build_context
from responder.db.models import (
    AuditEntry,
    Customer,
    Draft,
    DraftSnippet,
    Message,
    ReviewAction,
    Snippet,
    StaffUser,
    Template,
)
from responder.db.session import transaction
from responder.drafting.compose import compose_draft
from responder.drafting.service import template_refs
from responder.knowledge.retrieve import ScoredSnippet
from responder.pipeline.worker import Worker
from responder.review import approve, undo_approval
from responder.runtime import Runtime
from responder.supervisor.rule_edit import save_rules
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.test_web_security import login

BEST_PORT_OUT = make_email(
    sender="Declan Brennan <declan.brennan@brennanlogistics.test>",
    subject="PAC codes for our 5 lines",
    body=(
        "Fabrikam Mobile offered us EUR 210 a month for our 5 Business Pro lines. Unless you "
        "can match it, please send the PAC codes for all numbers, e.g. 087 555 0102."
    ),
)


def test_a_draft_records_what_produced_it_and_an_action_rerenders_it(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    drop(rt, BEST_PORT_OUT, "port")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
        draft = session.scalars(select(Draft)).one()
    grounding = draft.grounding
    assert message.state == "in_review" and not draft.error
    assert grounding["template"]["key"].startswith(f"intents/{message.intent}.en")
    assert grounding["template"]["version"] == 1 and grounding["template"]["id"]
    assert grounding["snippets"] and all("score" in s for s in grounding["snippets"])
    assert len(grounding["candidates"]) >= len(grounding["snippets"])
    assert grounding["entities"]["competitors"] == ["Fabrikam Mobile"]
    assert grounding["entities"]["phone_numbers"] == ["+353875550102"]
    assert grounding["classifier"]["confidence"] == message.intent_confidence
    assert grounding["facts"]["tier"] == "Best"
    assert draft.confidence == grounding["confidence"]["combined"]
    assert grounding["tone"] == "formal" and draft.body.startswith("Dear Declan Brennan,")
    assert message.intent == "port_out", "the demo classifier reads this as a port-out"
    assert [a["name"] for a in grounding["actions"]] == ["retention_offer"]
    assert {r["name"] for r in grounding["rules_fired"]} == {"retention_offer"}

    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        detail = client.get(f"/api/messages/{message.id}", headers=auth).json()
        assert detail["draft"]["actions"][0]["label"] == "Offer the loyalty discount"
        assert detail["draft"]["candidates"][0]["score"] > 0
        refused = client.post(
            f"/api/messages/{message.id}/action", headers=auth, json={"action": "escalate"}
        )
        assert refused.status_code == 400
        # The port-out template already holds the loyalty offer: picking it would write the
        # same text again as version 2.
        again = client.post(
            f"/api/messages/{message.id}/action", headers=auth, json={"action": "retention_offer"}
        )
        assert again.status_code == 409
        assert again.json()["detail"] == "Offer the loyalty discount is already in the draft"
        login(client, "alice")
        page = client.get(f"/messages/{message.id}").text
        form = page.split(f'action="/messages/{message.id}/action"', 1)[1].split("</form>", 1)[0]
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
        answer = client.post(f"/messages/{message.id}/action", data=fields)
        assert "Offer the loyalty discount is already in the draft." in answer.text
        assert "Draft updated" not in answer.text and "action chosen" not in answer.text
    with rt.factory() as session:
        assert [d.version for d in session.scalars(select(Draft))] == [1]
        assert session.scalars(select(ReviewAction)).all() == []


ROAMING_BODY = (
    "I am going to Italy next week, how do I roam? My data did not work in Spain last time."
)
ROAMING_IN_ITALY = make_email(subject="Roaming in Italy", body=ROAMING_BODY)


def test_an_action_rerenders_the_draft_with_its_snippet(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    drop(rt, ROAMING_IN_ITALY, "italy")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
        first = session.scalars(select(Draft)).one()
    used = {s["key"] for s in first.grounding["snippets"] if s["used"]}
    assert [a["name"] for a in first.grounding["actions"]] == ["roaming_pass"]
    assert "roaming-world-pass" not in used and "World Roam Pass" not in first.body

    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message.id}").text
        form = page.split(f'action="/messages/{message.id}/action"', 1)[1].split("</form>", 1)[0]
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
        answer = client.post(f"/messages/{message.id}/action", data=fields)
        assert "Draft updated." in answer.text
        history = answer.text.split("<h2>History</h2>", 1)[1]
        assert re.search(r"action chosen by alice [^<]*: Suggest the World Roam Pass</li>", history)
    with rt.factory() as session:
        latest = session.scalars(select(Draft).order_by(Draft.version.desc())).first()
        review = session.scalars(select(ReviewAction)).one()
    assert latest is not None and latest.version == 2
    assert "World Roam Pass" in latest.body
    assert latest.grounding["chosen_action"]["name"] == "roaming_pass"
    assert latest.grounding["action_snippet"]["used"] is True
    assert review.action == "pick_action" and review.detail["action"] == "roaming_pass"


def test_a_broken_template_sends_the_message_to_review_without_a_draft(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    with transaction(rt.factory) as session:
        for old in session.scalars(select(Template).where(Template.name.like("intents/%"))):
            session.add(
                Template(
                    name=old.name,
                    language=old.language,
                    tone=old.tone,
                    version=old.version + 1,
                    body="{{ customer.__class__.__mro__ }}",
                    author="mallory",
                )
            )
    drop(rt, make_email(), "broken")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
        draft = session.scalars(select(Draft)).one()
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "template.failed")
        ).one()
    assert message.state == "in_review"
    assert draft.body == "" and draft.confidence == 0.0
    key = draft.grounding["template"]["key"]
    assert draft.error.startswith(key) and "unsafe" in draft.error
    assert draft.grounding["template"]["version"] == 2
    assert entry.detail["key"] == key and entry.detail["version"] == 2
    assert entry.detail["message"] == message.id


def test_every_template_renders_for_every_demo_customer(rt: Runtime, demo_customers: None) -> None:
    entities = {
        "invoice_numbers": ["INV-2026-11-208814"],
        "amounts": ["EUR 84.20"],
        "phone_numbers": ["+353855550101"],
        "competitors": ["Contoso Telecom"],
        "plans": ["Unlimited Plus"],
    }
    with rt.factory() as session:
        templates = template_refs(session)
        index = rt.snippet_index(session)
        customers = [build_context(c) for c in session.scalars(select(Customer))]
    assert len(customers) >= 50
    keys = [k for k in templates if k.startswith("intents/")]
    assert len(keys) >= 20
    failures = []
    for key in keys:
        intent, language, *tone = key[len("intents/") : -len(".j2")].split(".")
        snippets = [ScoredSnippet(s, 0.7, 0.6) for s in index.snippets if intent in s.intents]
        for customer in customers:
            for chosen in (snippets[:3], []):
                result = compose_draft(
                    templates=templates,
                    intent=intent,
                    language=language,
                    customer=customer,
                    subject="Question",
                    new_text="Hello",
                    snippets=chosen,
                    drafting=rt.settings.drafting,
                    entities=entities,
                    tone=tone[0] if tone else "",
                    action_snippet=snippets[-1] if snippets else None,
                )
                if result.error or not result.body.strip():
                    failures.append(f"{key} / {customer.name}: {result.error}")
                elif result.grounding["template"]["key"] != key:
                    failures.append(f"{key} / {customer.name}: got {result.grounding['template']}")
    assert not failures, "\n".join(failures[:20])


def test_a_supervisors_new_template_version_is_used_for_the_next_draft(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """Compiled templates are cached per template set: a saved version must still take effect."""
    drop(rt, make_email(sender="Aoife Murphy <aoife@example.test>"), "before")
    worker.drain()
    with transaction(rt.factory) as session:
        first = session.scalars(select(Draft)).one()
        for old in session.scalars(select(Template).where(Template.name.like("intents/%"))):
            session.add(
                Template(
                    name=old.name,
                    language=old.language,
                    tone=old.tone,
                    version=old.version + 1,
                    body="Hello {{ customer.name }}, this is the new wording.",
                    author="supervisor",
                )
            )
    drop(
        rt,
        make_email(sender="Sean Walsh <sean@example.test>", message_id="<m2@mail.test>"),
        "after",
    )
    worker.drain()
    with rt.factory() as session:
        second = session.scalars(select(Draft).where(Draft.id != first.id)).one()
    assert "new wording" not in first.body
    assert second.body == "Hello Sean Walsh, this is the new wording.\n"
    assert second.grounding["template"]["version"] == first.grounding["template"]["version"] + 1


def test_a_corrected_intent_or_sentiment_writes_the_draft_again_but_keeps_a_saved_one(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    drop(rt, make_email(), "roaming")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
        first = session.scalars(select(Draft)).one()
    assert message.intent == "billing_dispute", "the demo classifier reads this as a bill"
    assert first.grounding["template"]["key"].startswith("intents/billing_dispute.en")
    staff(rt)
    url = f"/api/messages/{message.id}/classification"
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        intent = client.post(url, headers=auth, json={"classifier": "intent", "label": "roaming"})
        assert intent.status_code == 201, intent.text
        assert intent.json()["draft_version"] == 2
        with rt.factory() as session:
            latest = session.scalars(select(Draft).order_by(Draft.version.desc())).first()
        assert latest is not None and latest.version == 2
        assert latest.grounding["template"]["key"].startswith("intents/roaming.en")
        assert latest.body != first.body
        assert latest.grounding["facts"]["intent"] == "roaming"

        mood = {"classifier": "sentiment", "label": "negative"}
        assert client.post(url, headers=auth, json=mood).json()["draft_version"] == 3
        with rt.factory() as session:
            latest = session.scalars(select(Draft).order_by(Draft.version.desc())).first()
        assert latest is not None and latest.grounding["facts"]["sentiment"] == "negative"

        same = client.post(url, headers=auth, json={"classifier": "sentiment", "label": "negative"})
        assert same.status_code == 409, "already negative: nothing to correct, no new draft"

        urgency = {"classifier": "urgency", "label": "high"}
        assert client.post(url, headers=auth, json=urgency).json()["draft_version"] is None

        own = "Hello Aoife,\n\nI have refunded the roaming charge myself.\n"
        saved = client.post(f"/api/messages/{message.id}/save", headers=auth, json={"body": own})
        assert saved.json()["draft_version"] == 4
        again = client.post(url, headers=auth, json={"classifier": "intent", "label": "complaint"})
        assert again.json()["draft_version"] is None and again.json()["kept_saved_draft"]
    with rt.factory() as session:
        drafts = session.scalars(select(Draft).order_by(Draft.version)).all()
        redrafts = session.scalars(
            select(ReviewAction).where(ReviewAction.action == "redraft")
        ).all()
        assert session.get(Message, message.id).intent == "complaint"
    assert [d.version for d in drafts] == [1, 2, 3, 4]
    assert drafts[-1].body == own, "a person's saved draft is never replaced"
    assert [r.detail["after_correcting"] for r in redrafts] == ["intent", "sentiment"]


def _action_fields(page: str, message_id: int) -> dict[str, str]:
    form = page.split(f'action="/messages/{message_id}/action"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))


def test_an_action_picked_on_a_saved_draft_is_added_to_the_persons_text(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    drop(rt, ROAMING_IN_ITALY, "italy")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
        first = session.scalars(select(Draft)).one()
    greeting, *_ = first.body.split("\n\n")
    sign_off = first.body.rstrip().split("\n\n")[-1]
    own = f"{greeting}\n\nI checked your line: data roaming is switched on now.\n\n{sign_off}\n"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        fields = _action_fields(client.get(f"/messages/{message.id}").text, message.id)
        token, version = fields["_csrf_token"], fields["version"]
        saved = client.post(
            f"/messages/{message.id}/save",
            data={"_csrf_token": token, "version": version, "body": own},
            files=[],
        )
        assert "Draft saved." in saved.text
        answer = client.post(
            f"/messages/{message.id}/action", data=_action_fields(saved.text, message.id)
        )
        assert "Added Suggest the World Roam Pass to your edited draft." in answer.text
        history = answer.text.split("<h2>History</h2>", 1)[1]
        assert re.search(
            r"action chosen by alice [^<]*: Suggest the World Roam Pass, added to the edited "
            r"draft</li>",
            history,
        )
        again = client.post(
            f"/messages/{message.id}/action", data=_action_fields(answer.text, message.id)
        )
        assert "Suggest the World Roam Pass is already in the draft." in again.text
    with rt.factory() as session:
        drafts = session.scalars(select(Draft).order_by(Draft.version)).all()
        picked = session.scalars(
            select(ReviewAction).where(ReviewAction.action == "pick_action")
        ).one()
        snippets = set(
            session.scalars(
                select(Snippet.key)
                .join(DraftSnippet, DraftSnippet.snippet_id == Snippet.id)
                .where(DraftSnippet.draft_id == drafts[-1].id)
            )
        )
    latest = drafts[-1]
    assert [d.version for d in drafts] == [1, 2, 3]
    paragraphs = latest.body.rstrip().split("\n\n")
    assert paragraphs[0] == greeting
    assert paragraphs[1] == "I checked your line: data roaming is switched on now."
    assert paragraphs[2].startswith("The World Roam Pass costs EUR 8 per day")
    assert paragraphs[3] == sign_off, "where a draft written now has it: before the sign-off"
    assert len(paragraphs) == 4, "nothing else of the template comes back"
    assert latest.grounding["saved_by"] == "alice", "still the person's text"
    assert latest.grounding["chosen_action"]["name"] == "roaming_pass"
    assert latest.grounding["action_snippet"]["key"] == "roaming-world-pass"
    assert latest.grounding["action_snippet"]["used"] is True
    assert snippets == {"roaming-world-pass"}
    assert picked.draft_id == latest.id
    assert picked.detail == {"action": "roaming_pass", "added_to_edited": 2, "draft_version": 3}


def test_the_api_adds_a_picked_action_to_a_saved_draft_and_says_so(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    drop(rt, ROAMING_IN_ITALY, "italy")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
    own = "Hello,\n\nYour roaming works again.\n"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        client.post(f"/api/messages/{message.id}/save", headers=auth, json={"body": own})
        picked = client.post(
            f"/api/messages/{message.id}/action", headers=auth, json={"action": "roaming_pass"}
        )
        assert picked.status_code == 201, picked.text
        assert picked.json()["draft_version"] == 3
        assert picked.json()["added_to_edited_draft"] is True
        body = client.get(f"/api/messages/{message.id}", headers=auth).json()["draft"]["body"]
    # The sign-off the person left out is not there to go before, so after the paragraph a
    # draft written now has before it ("Hello," here), else at the end.
    assert body.startswith(own.rstrip() + "\n\nThe World Roam Pass costs EUR 8 per day")


def test_an_action_picked_after_undoing_an_edited_approval_keeps_the_edit(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """Approving with an edit and taking it back with Undo leaves the person's text as the
    draft (marked `edited_from_version`, not `saved_by`): an action picked then adds to it."""
    drop(rt, ROAMING_IN_ITALY, "italy")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
    own = "Hello,\n\nYour roaming works again.\n"
    staff(rt)
    with transaction(rt.factory) as session:
        alice = session.query(StaffUser).filter_by(username="alice").one()
        waiting = msgspec.structs.replace(rt.settings.outbound, undo_seconds=30)
        approve(session, message.id, alice, waiting, body=own)
        undo_approval(session, message.id, alice)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        picked = client.post(
            f"/api/messages/{message.id}/action", headers=auth, json={"action": "roaming_pass"}
        )
        assert picked.status_code == 201, picked.text
        assert picked.json()["added_to_edited_draft"] is True
        body = client.get(f"/api/messages/{message.id}", headers=auth).json()["draft"]["body"]
    assert body.startswith(own.rstrip() + "\n\nThe World Roam Pass costs EUR 8 per day")


def test_a_picked_action_goes_above_the_persons_own_sign_off(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """Their greeting, words and sign-off are all their own, so nothing of a draft written now
    is left to place the paragraph by: it still goes above the sign-off, not under the name."""
    drop(rt, ROAMING_IN_ITALY, "italy")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
    own = "Dear traveller,\n\nYour roaming works again.\n\nAll the best,\nSean\n"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        client.post(f"/api/messages/{message.id}/save", headers=auth, json={"body": own})
        picked = client.post(
            f"/api/messages/{message.id}/action", headers=auth, json={"action": "roaming_pass"}
        )
        assert picked.status_code == 201, picked.text
        body = client.get(f"/api/messages/{message.id}", headers=auth).json()["draft"]["body"]
    head, offer, sign_off = body.rstrip().split("\n\n")[1:]
    assert head == "Your roaming works again."
    assert offer.startswith("The World Roam Pass costs EUR 8 per day")
    assert sign_off == "All the best,\nSean"


def test_a_picked_action_records_as_used_only_the_snippets_the_persons_text_holds(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """One person deleted the answer the draft was written with, another kept it: after each
    picks an action, the draft's "Snippets used" and the supervisors' count of the drafts a
    snippet went into follow the text, not the draft it was edited from."""
    for number in (1, 2):
        drop(
            rt,
            make_email(
                subject=f"Roaming in Italy {number}",
                body=ROAMING_BODY,
                message_id=f"<italy{number}@mail.test>",
            ),
            f"italy{number}",
        )
    worker.drain()
    with rt.factory() as session:
        dropped, kept = session.scalars(select(Message).order_by(Message.id)).all()
        first = session.scalars(select(Draft).where(Draft.message_id == kept.id)).one()
    used = [s["key"] for s in first.grounding["snippets"] if s["used"]]
    assert used == ["roaming-troubleshooting"], "the draft is written with the troubleshooting"
    greeting, _, answer, travels, sign_off = first.body.rstrip().split("\n\n")
    assert answer.startswith("Roaming is switched on") and travels.startswith("Safe travels")
    texts = {
        dropped.id: f"{greeting}\n\nI switched data roaming on for your line.\n\n{sign_off}\n",
        kept.id: f"{greeting}\n\n{answer}\n\n{sign_off}\n",
    }
    staff(rt)
    staff(rt, "sue", "supervisor")
    shown: dict[int, list[str]] = {}
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        for message_id, own in texts.items():
            client.post(f"/api/messages/{message_id}/save", headers=auth, json={"body": own})
            picked = client.post(
                f"/api/messages/{message_id}/action", headers=auth, json={"action": "roaming_pass"}
            )
            assert picked.status_code == 201, picked.text
        login(client, "sue")
        for message_id in texts:
            page = client.get(f"/messages/{message_id}").text
            listed = page.split('<ul id="snippets-used">', 1)[1].split("</ul>", 1)[0]
            shown[message_id] = re.findall(r"<li>([a-z-]+) v\d", listed)
        listing = client.get("/supervisor/templates").text
    assert shown[dropped.id] == ["roaming-world-pass"]
    assert shown[kept.id] == ["roaming-troubleshooting", "roaming-world-pass"]

    def in_drafts(key: str) -> str:
        row = listing[listing.index(f'<tr data-key="{key}">') :]
        return re.findall(r'<td class="drafts">(\d+)</td>', row[: row.index("</tr>")])[0]

    # Both messages' first drafts held the answer: a message counts once however many of its
    # versions hold it.
    assert in_drafts("roaming-troubleshooting") == "2"
    assert in_drafts("roaming-world-pass") == "2"
    with rt.factory() as session:
        latest = session.scalars(
            select(Draft).where(Draft.message_id == dropped.id).order_by(Draft.version.desc())
        ).first()
    assert latest is not None
    marked = {s["key"]: s["used"] for s in latest.grounding["snippets"]}
    assert marked["roaming-troubleshooting"] is False


# Rules a supervisor might write without a tier condition, offering on every cancellation the
# Best tier's loyalty discount and a promotion that has ended.
OFFERS_FOR_ANYONE = """
[[rules]]
name = "retention_offer"
label = "Offer the loyalty discount"
snippet = "retention-offer-best"
intents = ["cancellation"]

[[rules]]
name = "spring_offer"
label = "Offer the spring roaming deal"
snippet = "spring-roaming-promotion"
intents = ["cancellation"]
"""
CANCEL = make_email(
    subject="Cancel my contract",
    body="I want to cancel my contract at the end of the month, please tell me what to do.",
)
LOYALTY = "20% off your monthly plan charge"
LEFT_OUT = "{} left out of the draft: its answer {} is not for this customer ({})"


def test_an_actions_snippet_not_for_the_customer_is_left_out_and_the_reviewer_told_why(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """The action's snippet obeys its tiers and dates as retrieved snippets do: an Average-tier
    customer's draft never offers the Best tier's discount, nor anyone an ended promotion."""
    with transaction(rt.factory) as session:
        session.add(
            Snippet(
                key="spring-roaming-promotion",
                title="Spring roaming promotion",
                intents=["cancellation"],
                body="Until the end of March, roaming in the USA is half price.",
                filters={"valid_until": "2026-03-31"},
            )
        )
        session.flush()
        save_rules(session, rt.settings, "actions", "sue", text=OFFERS_FOR_ANYONE)
        aoife = session.scalars(select(Customer).where(Customer.external_id == "C1001")).one()
        aoife.tier = "Average"
    drop(rt, CANCEL, "cancel")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)

        def pick(action: str) -> Draft:
            answer = client.post(
                f"/api/messages/{message.id}/action", headers=auth, json={"action": action}
            )
            assert answer.status_code == 201, answer.text
            with rt.factory() as session:
                latest = session.scalars(select(Draft).order_by(Draft.version.desc())).first()
            assert latest is not None
            return latest

        loyalty = pick("retention_offer")
        assert loyalty.version == 2 and not loyalty.error
        assert LOYALTY not in loyalty.body and "20%" not in loyalty.body
        assert loyalty.grounding["action_snippet"]["not_for"] == ["Best tier only"]
        assert loyalty.grounding["action_snippet"]["used"] is False
        flag = LEFT_OUT.format(
            "Offer the loyalty discount", "retention-offer-best", "Best tier only"
        )
        assert loyalty.grounding["flags"] == [flag]
        login(client, "alice")
        grounding = client.get(f"/messages/{message.id}").text.split("<h2>Grounding</h2>", 1)[1]
        assert f'<p class="warn">{flag}</p>' in grounding

        spring = pick("spring_offer")
        assert "half price" not in spring.body
        ended = LEFT_OUT.format(
            "Offer the spring roaming deal", "spring-roaming-promotion", "ended 31 Mar 2026"
        )
        assert spring.grounding["flags"] == [ended]
        assert ended in client.get(f"/messages/{message.id}").text
        again = client.post(
            f"/api/messages/{message.id}/action", headers=auth, json={"action": "spring_offer"}
        )
        assert again.status_code == 409, (
            "the same draft again would be a version nobody tells apart"
        )
        assert again.json()["detail"] == (
            "Offer the spring roaming deal was picked already: its answer is not for this "
            "customer (ended 31 Mar 2026)"
        )

        with transaction(rt.factory) as session:
            session.get(Customer, message.customer_id).tier = "Best"
        best = pick("retention_offer")
        assert LOYALTY in best.body and best.grounding["flags"] == []
        assert best.grounding["action_snippet"]["used"] is True

        # On a text a person saved, it is refused with the same reason, and no version made.
        own = "Hello Aoife,\n\nYour contract ends with this month.\n"
        client.post(f"/api/messages/{message.id}/save", headers=auth, json={"body": own})
        refused = client.post(
            f"/api/messages/{message.id}/action", headers=auth, json={"action": "spring_offer"}
        )
        assert refused.status_code == 400
        assert refused.json()["detail"] == (
            "Offer the spring roaming deal could not be added: its answer is not for this "
            "customer (ended 31 Mar 2026)"
        )
    with rt.factory() as session:
        assert [d.version for d in session.scalars(select(Draft))] == [1, 2, 3, 4, 5]
        used = set(
            session.scalars(
                select(Snippet.key)
                .join(DraftSnippet, DraftSnippet.snippet_id == Snippet.id)
                .join(Draft, Draft.id == DraftSnippet.draft_id)
                .where(Draft.version.in_([2, 3]))
            )
        )
    assert not used & {"retention-offer-best", "spring-roaming-promotion"}
