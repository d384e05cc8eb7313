"""A person who follows an old link or edits the address gets a page, a program gets JSON."""

from __future__ import annotations

from litestar.testing import TestClient

from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.test_web_security import login


def test_a_missing_page_or_a_bad_address_is_a_page_for_people_and_json_for_programs(
    rt: Runtime,
) -> None:
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        for path, status, said in (
            ("/messages/99999", 404, "message 99999 not found"),
            ("/customers/99999", 404, "not found"),
            ("/no-such-page", 404, "There is no page at /no-such-page."),
            ("/queue?assignee=alice", 400, "assignee"),
            ("/search?q=roaming&since=2026-02-30", 400, "not a day of the calendar"),
        ):
            page = client.get(path)
            assert page.status_code == status, path
            assert page.headers["content-type"].startswith("text/html"), path
            assert said in page.text and 'href="/queue">Back to the queue' in page.text, path
            if path != "/no-such-page":  # no route: the sign-in is not read
                assert '<a class="who" href="/account"' in page.text, "still signed in"
        auth = api_token(client)
        missing = client.get("/api/messages/99999", headers=auth)
        assert missing.status_code == 404
        assert missing.json() == {"status_code": 404, "detail": "message 99999 not found"}
        refused = client.get("/api/queue", params={"after": "x"}, headers=auth)
        assert refused.status_code == 400 and refused.json()["extra"][0]["key"] == "after"
