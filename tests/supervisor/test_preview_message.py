"""An editor opened without a chosen message previews against one the template or snippet would
answer: it took the newest mail of any kind, so the roaming template showed a password-theft
answer, or a newsletter the ignore rules stopped."""

from __future__ import annotations

import re

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Message, Snippet, Template
from responder.db.session import transaction
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import staff
from tests.supervisor.history import waiting_message
from tests.test_web_security import login


def _selected(page: str) -> int | None:
    """The message the editor's 'Preview with message' list shows chosen."""
    box = page.split('id="preview-message"', 1)[1].split("</select>", 1)[0]
    found = re.search(r'<option value="(\d+)" selected>', box)
    return int(found.group(1)) if found else None


def test_the_editor_previews_a_message_of_its_own_intent(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    roaming = waiting_message(rt, 1, intent="roaming", subject="Roaming in Spain")
    waiting_message(rt, 2, intent="roaming", subject="Roaming in Bayern")
    access = waiting_message(rt, 3, intent="account_access", subject="Someone changed my password")
    newsletter = waiting_message(rt, 4, intent="other", subject="Telecom Trends Weekly")
    with transaction(rt.factory) as session:
        session.get(Message, roaming).language = "en"  # type: ignore[union-attr]
        bayern = session.scalar(select(Message).where(Message.subject == "Roaming in Bayern"))
        bayern.language = "de"  # type: ignore[union-attr]
        session.get(Message, access).language = "en"  # type: ignore[union-attr]
        ignored = session.get(Message, newsletter)
        ignored.intent, ignored.state = None, "ignored"  # type: ignore[union-attr]
        template = session.scalar(
            select(Template).where(Template.name == "intents/roaming", Template.language == "en")
        )
        layout = session.scalar(
            select(Template).where(Template.name == "layout", Template.language == "en")
        )
        snippet = session.scalar(select(Snippet).where(Snippet.key == "account-access-reset"))
        ids = (template.id, layout.id, snippet.id)  # type: ignore[union-attr]
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get(f"/supervisor/templates/{ids[0]}").text
        assert _selected(page) == roaming  # English roaming mail, not the newer German one
        assert "Roaming in Spain" in page
        assert _selected(client.get(f"/supervisor/templates/{ids[1]}").text) == access
        assert _selected(client.get(f"/supervisor/snippets/{ids[2]}").text) == access
        chosen = client.get(f"/supervisor/templates/{ids[0]}", params={"message": newsletter})
        assert _selected(chosen.text) == newsletter  # a message asked for is still used
