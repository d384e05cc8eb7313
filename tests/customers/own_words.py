"""A person's own words saved in a draft: what an import or a link must not write over."""

from __future__ import annotations

from litestar.testing import TestClient

from tests.test_web_security import csrf

OWN_WORDS = "Hello,\n\nI will look into it today.\n\nNorthwind Mobile\n"


def save_own_words(client: TestClient, message_id: int) -> str:
    """The signed-in person saves OWN_WORDS as the message's draft; the words saved."""
    saved = client.post(
        f"/messages/{message_id}/save",
        data={"body": OWN_WORDS, "_csrf_token": csrf(client, f"/messages/{message_id}")},
    )
    assert saved.status_code == 200, saved.text
    return OWN_WORDS
