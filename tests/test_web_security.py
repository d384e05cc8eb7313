"""Who may do what in the web app: every route is enumerated, so a new one cannot slip through."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

import responder.web
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import PUBLIC_PATHS, create_app
from responder.web.auth import requires_admin, requires_supervisor
from tests.helpers import api_token, drop, make_email, staff

PASSWORD = "correct horse battery"


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def http_routes(app: Litestar) -> list[tuple[str, str, object]]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method in ("HEAD", "OPTIONS"):
                    continue
                found.append((method, route.path, handler))
    return found


def guards_of(handler: object) -> list[object]:
    """Guards from the handler and every layer that owns it (router, app)."""
    return [g for layer in handler.ownership_layers for g in (layer.guards or [])]  # type: ignore[attr-defined]


def is_public(path: str) -> bool:
    return any(re.search(pattern, path) for pattern in PUBLIC_PATHS)


def login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code in (301, 302, 303), response.text


def csrf(client: TestClient, path: str = "/queue") -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def test_every_private_route_needs_a_session_or_token(rt: Runtime) -> None:
    app = create_app(rt)
    routes = http_routes(app)
    assert len(routes) > 15
    with TestClient(app) as client:
        for method, path, handler in routes:
            if is_public(path):
                continue
            assert guards_of(handler), f"{method} {path} has no permission guard"
            response = client.request(method, concrete(path), follow_redirects=False)
            if path.startswith("/api/") or path.startswith("/schema"):
                assert response.status_code == 401, (method, path, response.status_code)
            elif method == "GET":
                assert response.status_code in (302, 303), (method, path, response.status_code)
                assert response.headers["location"].startswith("/login")
            else:  # forms: refused by CSRF before authentication, or sent to log in
                assert response.status_code in (302, 303, 401, 403), (method, path)


def test_agents_get_403_on_supervisor_and_admin_routes(rt: Runtime) -> None:
    staff(rt, "agnes", "agent")
    app = create_app(rt)
    restricted = [
        (method, path)
        for method, path, handler in http_routes(app)
        if any(g in (requires_supervisor, requires_admin) for g in guards_of(handler))
    ]
    assert ("GET", "/audit") in restricted and ("GET", "/api/audit") in restricted
    with TestClient(app) as client:
        auth = api_token(client, "agnes")
        login(client, "agnes")
        for method, path in restricted:
            headers = auth if path.startswith("/api/") else {"x-csrftoken": csrf(client)}
            response = client.request(method, concrete(path), headers=headers)
            assert response.status_code == 403, (method, path, response.status_code)


def test_supervisor_sees_the_audit_log(rt: Runtime, worker: Worker) -> None:
    staff(rt, "sue", "supervisor")
    drop(rt, make_email(), "audit")
    worker.drain()
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        client.post("/api/messages/1/reject", headers=auth, json={"reason": "spam"})
        entries = client.get("/api/audit", headers=auth).json()
        assert entries[0]["action"] == "draft.reject" and entries[0]["actor"] == "sue"
        login(client, "sue")
        assert "draft.reject" in client.get("/audit").text


def test_forms_without_csrf_token_are_refused(rt: Runtime, worker: Worker) -> None:
    staff(rt)
    drop(rt, make_email(), "csrf")
    worker.drain()
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        forged = client.post("/messages/1/reject", data={"reason": "forged"})
        assert forged.status_code == 403
        page = client.get("/messages/1")
        assert "in_review" in page.text


def test_two_apps_in_one_process_answer_alike_and_keep_their_own_form_secrets(rt: Runtime) -> None:
    """The pages' router is built once per process and copied into each app: the second app's
    pages answer as the first's (one run in a worker thread too), and a form token the first
    app issued, cookie and all, is refused by the second."""
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as first, TestClient(create_app(rt)) as second:
        for client in (first, second):
            login(client, "sue")
            assert client.get("/supervisor/acknowledgements").status_code == 200
        token = csrf(first)
        second.cookies.set("responder_csrf", first.cookies["responder_csrf"])
        refused = second.post("/logout", headers={"x-csrftoken": token}, follow_redirects=False)
        assert refused.status_code == 403
        accepted = first.post("/logout", headers={"x-csrftoken": token}, follow_redirects=False)
        assert accepted.status_code in (301, 302, 303)


def test_login_is_rate_limited(rt: Runtime) -> None:
    staff(rt)
    rt.settings.web.login_attempts_per_minute = 3
    with TestClient(create_app(rt)) as client:
        for _ in range(3):
            bad = client.post("/api/login", json={"username": "alice", "password": "wrong"})
            assert bad.status_code == 401
        blocked = client.post("/api/login", json={"username": "alice", "password": PASSWORD})
        assert blocked.status_code == 429


def test_login_issues_a_fresh_session_and_logout_ends_it(rt: Runtime) -> None:
    staff(rt)
    with TestClient(create_app(rt)) as client:
        client.cookies.set("responder_session", "attacker-chosen-value")
        login(client, "alice")
        issued = {c.value for c in client.cookies.jar if c.name == "responder_session"}
        issued.discard("attacker-chosen-value")
        assert len(issued) == 1, "login must issue a new session token"
        (session_cookie,) = issued
        client.cookies.clear()
        client.cookies.set("responder_session", session_cookie)
        assert client.get("/queue").status_code == 200
        client.post("/logout", headers={"x-csrftoken": csrf(client)})
        client.cookies.clear()
        client.cookies.set("responder_session", session_cookie)
        after = client.get("/queue", follow_redirects=False)
        assert after.status_code in (302, 303), "the old session must not work after logout"


def test_session_cookie_flags(rt: Runtime) -> None:
    staff(rt)
    with TestClient(create_app(rt)) as client:
        page = client.get("/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
        response = client.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "_csrf_token": token},
            follow_redirects=False,
        )
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith("responder_session=")
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        # Every file the login page asks for is there (the browser asks for an icon too).
        for path in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
            assert client.get(path).status_code == 200, path
        assert 'rel="icon" href="/static/favicon.svg"' in page.text
        # A script or style sheet's address changes with its content, so no browser runs a
        # cached old script against a newer page.
        app_css = (Path(responder.web.__file__).parent / "static" / "app.css").read_bytes()
        digest = hashlib.sha256(app_css).hexdigest()[:12]
        assert f'href="/static/app.css?v={digest}"' in page.text
        assert re.search(r'src="/static/unsaved\.js\?v=[0-9a-f]{12}"', page.text)


@pytest.mark.parametrize("api", [True, False])
def test_two_people_approving_the_same_draft_send_one_reply(
    rt: Runtime, worker: Worker, api: bool
) -> None:
    from tests.helpers import sent_replies

    staff(rt, "alice")
    staff(rt, "bob")
    drop(rt, make_email(), "race")
    worker.drain()
    with TestClient(create_app(rt)) as first, TestClient(create_app(rt)) as second:
        if api:
            version = first.get("/api/messages/1", headers=api_token(first)).json()["version"]
            ok = first.post(
                "/api/messages/1/approve", headers=api_token(first), json={"version": version}
            )
            late = second.post(
                "/api/messages/1/approve",
                headers=api_token(second, "bob"),
                json={"version": version},
            )
            assert ok.status_code == 201
            assert late.status_code == 409
            assert "approved by alice" in late.json()["detail"]
        else:
            login(first, "alice")
            login(second, "bob")
            page_a = first.get("/messages/1").text
            page_b = second.get("/messages/1").text
            assert "alice has this draft open" in page_b

            def form(page: str) -> dict[str, str]:
                return {
                    "_csrf_token": re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1),
                    "version": re.search(r'name="version" value="(\d+)"', page).group(1),
                    "body": "Hello, sorted.",
                }

            first.post("/messages/1/approve", data=form(page_a))
            late = second.post("/messages/1/approve", data=form(page_b))
            assert "approved with edits by alice" in late.text
    worker.drain()
    assert len(sent_replies(rt)) == 1


def test_the_review_page_shows_every_classifier_and_takes_each_correction(
    rt: Runtime, worker: Worker
) -> None:
    """Sentiment, urgency and language beside the intent, each with how sure it is; an urgency
    correction moves the due time and the queue's badge at once."""
    from sqlalchemy import select

    from responder.db.models import ClassifierExample, Message

    staff(rt)
    drop(rt, make_email(), "classified")
    worker.drain()
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/messages/1").text
        for name in ("intent", "sentiment", "urgency", "language"):
            row = re.search(rf'<tr id="classified-{name}">(.*?)</tr>', page, re.S)
            assert row is not None, name
            assert re.search(r"\d+%", row.group(1)), f"{name} without its confidence"
        language = re.search(r'<tr id="classified-language">(.*?)</tr>', page, re.S).group(1)
        assert "<strong>English</strong>" in language and "<form" not in language
        for name in ("intent", "sentiment", "urgency"):
            assert f'id="correct-{name}"' in page
        dues = {}
        for urgency in ("low", "high"):
            token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
            response = client.post(
                "/messages/1/classification",
                data={"_csrf_token": token, "classifier": "urgency", "label": urgency},
            )
            assert f"Recorded as {urgency.capitalize()};" in response.text
            page = response.text
            urgency_row = re.search(r'<tr id="classified-urgency">(.*?)</tr>', page, re.S)
            assert f"<strong>{urgency.capitalize()}</strong>" in urgency_row.group(1)
            assert "corrected by alice" in urgency_row.group(1)
            queue = client.get("/queue").text
            assert ('class="urgent"' in queue) == (urgency == "high")
            with rt.factory() as session:
                message = session.get(Message, 1)
                assert message.urgency == urgency
                dues[urgency] = message.due_at
        assert dues["high"] < dues["low"]
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        client.post(
            "/messages/1/classification",
            data={"_csrf_token": token, "classifier": "sentiment", "label": "negative"},
        )
    with rt.factory() as session:
        candidates = session.scalars(
            select(ClassifierExample).where(ClassifierExample.status == "candidate")
        ).all()
        assert {(c.classifier, c.label, c.created_by) for c in candidates} == {
            ("urgency", "high", "alice"),
            ("sentiment", "negative", "alice"),
        }
        assert session.get(Message, 1).classification["sentiment"]["label"] == "negative"


def test_agent_corrects_the_intent_from_the_review_page(rt: Runtime, worker: Worker) -> None:
    from sqlalchemy import select

    from responder.db.models import ClassifierExample, Message

    staff(rt)
    drop(rt, make_email(), "correct")
    worker.drain()
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/messages/1").text
        assert 'id="correct-intent"' in page
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        response = client.post(
            "/messages/1/classification",
            data={"_csrf_token": token, "classifier": "intent", "label": "complaint"},
        )
        assert "Recorded as Complaint;" in response.text
        assert "The draft was written again for it (v2)." in response.text
        assert "Draft v2" in response.text
    with rt.factory() as session:
        assert session.get(Message, 1).intent == "complaint"
        candidate = session.scalar(
            select(ClassifierExample).where(ClassifierExample.status == "candidate")
        )
        assert candidate.label == "complaint" and candidate.created_by == "alice"


def test_signing_in_returns_to_the_page_asked_for_and_only_on_this_site(rt: Runtime) -> None:
    """A search link opened after the session ended comes back with its query; a `next` that
    a browser reads as another site goes to the queue."""
    staff(rt)
    with TestClient(create_app(rt)) as client:
        asked = client.get("/search?q=roaming&state=waiting", follow_redirects=False)
        assert asked.status_code in (302, 303)
        assert asked.headers["location"] == "/login?next=%2Fsearch%3Fq%3Droaming%26state%3Dwaiting"
        for target, lands in (
            ("/search?q=roaming&state=waiting", "/search?q=roaming&state=waiting"),
            ("//evil.test/x", "/queue"),
            ("/\\evil.test/x", "/queue"),
            ("https://evil.test/", "/queue"),
        ):
            client.cookies.clear()
            page = client.get("/login", params={"next": target})
            token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
            signed_in = client.post(
                "/login",
                data={
                    "username": "alice",
                    "password": PASSWORD,
                    "_csrf_token": token,
                    "next": target,
                },
                follow_redirects=False,
            )
            assert signed_in.headers["location"] == lands, target
