"""A person who follows an old link or edits the address gets a page, a program gets JSON."""

from __future__ import annotations

from pathlib import Path

import jinja2
import jinja2.nodes
from litestar.testing import TestClient

import responder.web
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
            ("/messages/99999", 404, "Message 99999 not found"),
            ("/customers/99999", 404, "not found"),
            ("/no-such-page", 404, "There is no page at /no-such-page."),
            ("/queue?assignee=alice", 400, "assignee"),
            ("/search?q=roaming&since=2026-02-30", 400, "not a day of the calendar"),
            ("/messages/1/approve", 405, "takes a form sent from its page"),
        ):
            page = client.get(path)
            assert page.status_code == status, path
            assert page.headers["content-type"].startswith("text/html"), path
            assert said in page.text and 'href="/queue">Back to the queue' in page.text, path
            if status != 405 and path != "/no-such-page":  # no route: the sign-in is not read
                assert '<a class="who" href="/account"' in page.text, "still signed in"
        auth = api_token(client)
        missing = client.get("/api/messages/99999", headers=auth)
        assert missing.status_code == 404
        assert missing.json() == {"status_code": 404, "detail": "message 99999 not found"}
        refused = client.get("/api/queue", params={"after": "x"}, headers=auth)
        assert refused.status_code == 400 and refused.json()["extra"][0]["key"] == "after"


def test_a_form_sent_after_the_session_ended_goes_back_to_its_page_and_says_so(
    rt: Runtime,
) -> None:
    """Not to the form's address (a POST-only one, which a browser would then GET)."""
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/queue")
        token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        client.cookies.delete("responder_session")
        late = client.post(
            "/messages/1/save",
            data={"_csrf_token": token, "body": "typed"},
            headers={"referer": f"{client.base_url}/messages/1?from=3"},
            follow_redirects=False,
        )
        assert late.status_code in (302, 303)
        assert late.headers["location"] == "/login?next=%2Fmessages%2F1%3Ffrom%3D3&ended=true"
        said = client.get(late.headers["location"]).text
        assert 'id="session-ended"' in said and "nothing was changed" in said
        elsewhere = client.post(
            "/messages/1/save",
            data={"_csrf_token": token, "body": "typed"},
            headers={"referer": "https://evil.test/page"},
            follow_redirects=False,
        )
        assert elsewhere.headers["location"] == "/login?next=%2Fqueue&ended=true"


def test_the_api_page_lists_the_endpoints_without_scripts_from_elsewhere(rt: Runtime) -> None:
    """Litestar's viewers load scripts from CDNs, which the pages' policy refuses: blank."""
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/schema")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<script" not in page.text and "http" not in page.text.split("<body>", 1)[1]
        assert (
            "<code>/api/search</code>" in page.text and 'href="/schema/openapi.json"' in page.text
        )
        schema = client.get("/schema/openapi.json").json()
        assert "/api/search" in schema["paths"], "tools still get the schema"


def test_the_icon_browsers_ask_for_at_favicon_ico_is_there_without_signing_in(
    rt: Runtime,
) -> None:
    with TestClient(create_app(rt)) as client:
        asked = client.get("/favicon.ico", follow_redirects=False)
        assert asked.status_code == 301, asked.text
        assert asked.headers["location"] == "/static/favicon.svg"
        assert "content-security-policy" in asked.headers
        icon = client.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.lstrip().startswith("<svg")


def test_a_lower_case_message_starts_with_a_capital_when_it_is_a_pages_banner(
    rt: Runtime,
) -> None:
    """Messages are written to be read mid-sentence too ("Not saved: the name is empty"); as a
    banner of their own they start like a sentence."""
    from tests.supervisor.history import waiting_message

    staff(rt, "alice")
    message = waiting_message(rt, 1)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        said = "the files were not attached: the reply is gone"
        page = client.get(f"/messages/{message}", params={"error": said}).text
        assert '<p class="error" role="alert">The files were not attached: the reply' in page
        refused = client.get("/supervisor/dashboard").text
        assert '<p class="error">This needs the supervisor role</p>' in refused


def test_no_page_template_prints_outside_its_blocks() -> None:
    """Text a page template puts outside its blocks is printed before the layout's doctype,
    which throws the browser into quirks mode (tables lose the page's font)."""
    folder = Path(responder.web.__file__).parent / "templates"
    env = jinja2.Environment()
    outside: list[str] = []
    for path in sorted(folder.rglob("*.html")):
        body = env.parse(path.read_text(encoding="utf-8")).body
        if any(isinstance(node, jinja2.nodes.Extends) for node in body):
            allowed = (jinja2.nodes.Extends, jinja2.nodes.Block, jinja2.nodes.Assign)
            allowed += (jinja2.nodes.Import, jinja2.nodes.FromImport, jinja2.nodes.Macro)
            stray = [n for n in body if not isinstance(n, allowed)]
            stray = [n for n in stray if not _blank(n)]
            outside += [f"{path.relative_to(folder)}:{n.lineno}" for n in stray]
    assert not outside, f"outside every block: {outside}"


def _blank(node: jinja2.nodes.Node) -> bool:
    """Whitespace between blocks is the only output a child template may hold."""
    if not isinstance(node, jinja2.nodes.Output):
        return False
    parts = node.nodes
    return all(isinstance(p, jinja2.nodes.TemplateData) and not p.data.strip() for p in parts)
