"""The templates and snippets page finds by words: fifty snippets were one long list, with no
way to look for "the Canada one" but reading it, and no tags shown."""

from __future__ import annotations

import re

from litestar.testing import TestClient

from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import staff
from tests.test_web_security import login


def _snippet_keys(page: str) -> list[str]:
    return re.findall(r'<tr data-key="([^"]+)">', page)


def test_find_templates_and_snippets_by_words_of_their_tags_title_or_text(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        everything = client.get("/supervisor/templates").text
        found = client.get("/supervisor/templates", params={"q": "CANADA pass"}).text
        nothing = client.get("/supervisor/templates", params={"q": "zeppelin"}).text
    assert len(_snippet_keys(everything)) > 40
    assert "roaming-world-pass" in _snippet_keys(found)
    assert "account-access-reset" not in _snippet_keys(found)
    assert '<td class="tags">world, usa, canada, australia, travel, pass</td>' in found
    assert "intents/roaming.en.j2" in found and "layout.en.j2" not in found
    assert 'value="CANADA pass"' in found and "Show all" in found
    assert _snippet_keys(nothing) == []
    assert "No snippet has all of these words." in nothing
    assert "No template has all of these words." in nothing


def test_templates_are_listed_by_intent_and_language_in_words_with_the_file_name_small(
    rt: Runtime,
) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        listed = client.get("/supervisor/templates").text
        german = client.get("/supervisor/templates", params={"q": "german outage"}).text
    names = dict(
        (file, name)
        for name, file in re.findall(
            r'<a href="/supervisor/templates/\d+">([^<]+)</a> <small class="file">([^<]+)</small>',
            listed,
        )
    )
    assert names["intents/roaming.en.j2"] == "Roaming — English"
    assert names["intents/billing_dispute.en.empathetic.j2"] == (
        "Billing dispute, empathetic tone — English"
    )
    assert names["intents/outage.de.j2"] == "Service outage — German", "the intent's title"
    assert names["layout.de.j2"] == "Greeting and sign-off (layout) — German"
    assert "Service outage — German" in german and "Service outage — English" not in german
    assert "Slow data and coverage — English" in listed
