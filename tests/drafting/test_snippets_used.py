"""Which snippets a draft "used", as the review page's "Snippets used" and the supervisors'
"In drafts" counts show it: those whose whole text is in the draft, in every version of it."""

from __future__ import annotations

import re

import msgspec
from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Draft, Message, RuleVersion, Snippet
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.test_web_security import login

ROAMING_BODY = (
    "I am going to Italy next week, how do I roam? My data did not work in Spain last time."
)
#: The roaming template's own opening sentence.
OPENING = "Thanks for getting in touch about using your phone abroad."


def _roaming(rt: Runtime, worker: Worker, *numbers: int) -> list[Message]:
    """Roaming questions from the same customer, drafted."""
    for number in numbers:
        raw = make_email(
            subject=f"Roaming in Italy {number}",
            body=ROAMING_BODY,
            message_id=f"<italy{number}@mail.test>",
        )
        drop(rt, raw, f"italy{number}")
    worker.drain()
    with rt.factory() as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def _first_draft(rt: Runtime, message_id: int) -> Draft:
    with rt.factory() as session:
        return session.scalars(
            select(Draft).where(Draft.message_id == message_id).order_by(Draft.version)
        ).first()


def _snippets_used(client: TestClient, message_id: int) -> list[str]:
    """The keys the review page lists under "Snippets used" (none: the list is left out)."""
    page = client.get(f"/messages/{message_id}").text
    if '<ul id="snippets-used">' not in page:
        return []
    listed = page.split('<ul id="snippets-used">', 1)[1].split("</ul>", 1)[0]
    return re.findall(r"<li>([a-z-]+) v\d", listed)


def _in_drafts(client: TestClient, key: str) -> str:
    """The supervisors' "In drafts" count for the snippet, as /supervisor/templates shows it."""
    listing = client.get("/supervisor/templates").text
    row = listing[listing.index(f'<tr data-key="{key}">') :]
    return re.findall(r'<td class="drafts">(\d+)</td>', row[: row.index("</tr>")])[0]


def test_a_snippet_that_only_opens_like_the_draft_is_not_used(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """A supervisor's snippet opens with the sentence the roaming template starts its answer
    with; it is retrieved for the message, but the template writes only the best one in full.
    Sharing a first line is not being in the draft."""
    with transaction(rt.factory) as session:
        old = session.scalars(select(Snippet).where(Snippet.key == "roaming-eu-pass")).one()
        session.add(
            Snippet(
                key=old.key,
                version=2,
                title=old.title,
                intents=old.intents,
                tags=old.tags,
                language=old.language,
                body=f"{OPENING}\n{old.body}",
            )
        )
    (message,) = _roaming(rt, worker, 1)
    draft = _first_draft(rt, message.id)
    assert OPENING in draft.body and "EU Roam Pass lets you" not in draft.body
    retrieved = [s["key"] for s in draft.grounding["snippets"]]
    assert "roaming-eu-pass" in retrieved[1:], "retrieved, below the one the template writes"
    staff(rt)
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        assert _snippets_used(client, message.id) == ["roaming-troubleshooting"]
        assert _in_drafts(client, "roaming-eu-pass") == "0"
        assert _in_drafts(client, "roaming-troubleshooting") == "1"


def test_a_saved_or_approved_edit_uses_the_snippets_its_text_holds(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """One person saves the draft without the answer it was written with, one saves it with
    the answer kept and their own greeting, one approves it edited without the answer: each
    version lists as used what its own text holds, not what the draft before it held."""
    dropped, kept, approved = _roaming(rt, worker, 1, 2, 3)
    first = _first_draft(rt, kept.id)
    greeting, thanks, answer, travels, sign_off = first.body.rstrip().split("\n\n")
    assert answer.startswith("Roaming is switched on")
    own = "I switched data roaming on for your line."
    rewrapped = answer.replace(". ", ".\n")
    texts = {
        dropped.id: f"{greeting}\n\n{own}\n\n{sign_off}\n",
        # Spacing and line breaks of their own: the answer is still all there.
        kept.id: f"Hello again,\n\n{thanks}\n\n{rewrapped}\n\n{sign_off}\n",
    }
    staff(rt)
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        for message_id, text in texts.items():
            saved = client.post(
                f"/api/messages/{message_id}/save", headers=auth, json={"body": text}
            )
            assert saved.status_code == 201, saved.text
        sent = client.post(
            f"/api/messages/{approved.id}/approve",
            headers=auth,
            json={"body": f"{greeting}\n\n{own}\n\n{travels}\n\n{sign_off}\n"},
        )
        assert sent.status_code == 201, sent.text
        login(client, "sue")
        assert _snippets_used(client, dropped.id) == []
        assert _snippets_used(client, kept.id) == ["roaming-troubleshooting"]
        assert _snippets_used(client, approved.id) == []
    with rt.factory() as session:
        latest = session.scalars(
            select(Draft).where(Draft.message_id == approved.id).order_by(Draft.version.desc())
        ).first()
    assert latest.version == 2 and "edited_from_version" in latest.grounding
    assert not any(s["used"] for s in latest.grounding["snippets"])


def test_a_second_action_keeps_the_first_actions_snippet_used(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """An agent adds the World Roam Pass and then a spending cap to their edited draft: both
    paragraphs are in the text, so both snippets are used, and the first is counted in the
    version the second was added to as well."""
    with transaction(rt.factory) as session:
        rules = msgspec.to_builtins(rt.settings.actions)
        rules["rules"].append(
            {
                "name": "spending_cap",
                "label": "Suggest a spending cap",
                "snippet": "roaming-spending-cap",
                "intents": ["roaming"],
            }
        )
        session.add(RuleVersion(kind="actions", version=1, rules=rules, author="sue"))
    (message,) = _roaming(rt, worker, 1)
    first = _first_draft(rt, message.id)
    assert [a["name"] for a in first.grounding["actions"]] == ["roaming_pass", "spending_cap"]
    own = first.body.replace("Safe travels,", "Enjoy Italy,")
    staff(rt)
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        saved = client.post(f"/api/messages/{message.id}/save", headers=auth, json={"body": own})
        assert saved.status_code == 201, saved.text
        for action in ("roaming_pass", "spending_cap"):
            picked = client.post(
                f"/api/messages/{message.id}/action", headers=auth, json={"action": action}
            )
            assert picked.status_code == 201, picked.text
            assert picked.json()["added_to_edited_draft"] is True
        body = client.get(f"/api/messages/{message.id}", headers=auth).json()["draft"]["body"]
        login(client, "sue")
        shown = _snippets_used(client, message.id)
        # In the first draft and the versions the actions were added to: one message.
        passes = _in_drafts(client, "roaming-world-pass")
    assert "World Roam Pass costs EUR 8" in body
    assert shown == ["roaming-troubleshooting", "roaming-world-pass", "roaming-spending-cap"]
    assert passes == "1"


def test_an_answer_inserted_by_hand_counts_in_drafts_once_per_message(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """An agent puts the spending-cap answer, which Responder did not offer, into two drafts
    with the editor's "insert an approved answer": one they approve with it, one they save
    (the request sent twice) and then approve as saved. Both versions list it as used, and
    the supervisors' "In drafts" count has one for each message."""
    approved, saved = _roaming(rt, worker, 1, 2)
    staff(rt)
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        assert _in_drafts(client, "roaming-spending-cap") == "0"
        login(client, "alice")
        auth = api_token(client)
        texts = {}
        for message in (approved, saved):
            found = client.get(
                f"/messages/{message.id}/snippets", params={"q": "spending cap"}
            ).json()
            cap = next(i for i in found["items"] if i["key"] == "roaming-spending-cap")
            greeting, rest = _first_draft(rt, message.id).body.split("\n\n", 1)
            texts[message.id] = f"{greeting}\n\n{cap['body']}\n\n{rest}"
        sent = client.post(
            f"/api/messages/{approved.id}/approve", headers=auth, json={"body": texts[approved.id]}
        )
        assert sent.status_code == 201, sent.text
        for _ in range(2):
            kept = client.post(
                f"/api/messages/{saved.id}/save", headers=auth, json={"body": texts[saved.id]}
            )
            assert kept.status_code == 201, kept.text
        sent = client.post(f"/api/messages/{saved.id}/approve", headers=auth, json={})
        assert sent.status_code == 201, sent.text
        login(client, "sue")
        assert "roaming-spending-cap" in _snippets_used(client, approved.id)
        assert "roaming-spending-cap" in _snippets_used(client, saved.id)
        assert _in_drafts(client, "roaming-spending-cap") == "2"
