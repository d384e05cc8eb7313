"""Hostile people at the web app: forged forms, template injection, SQL injection in filters."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from responder.db.models import ClassifierExample, Message
from responder.drafting.render import TemplateFailure, render_string
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.supervisor.history import waiting_message
from tests.test_web_security import concrete, csrf, http_routes, login

SQL_INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE messages; --",
    '" OR ""="',
    "1; SELECT * FROM users",
    "' UNION SELECT username, password_hash FROM users --",
    "%' OR '%'='",
    "\\'; --",
    "') OR ('a'='a",
    "1' AND SLEEP(1) --",
    "\x00' OR 1=1",
    "é' OR 1=1 --",
    "2026-11-23T09:00:00|99999999999999999999999",
    "|٣",
    "99999999999999999999",
]

LEAK_MARKERS = ("traceback", "sqlalchemy", "psycopg", "sqlite3", "syntax error", "argon2")


def form_routes(client_app: object) -> list[tuple[str, str]]:
    """Every state-changing form route: POST outside the token API and the webhooks."""
    return [
        (method, path)
        for method, path, _ in http_routes(client_app)  # type: ignore[arg-type]
        if method in ("POST", "PUT", "PATCH", "DELETE")
        and not path.startswith("/api/")
        and not path.startswith("/webhooks/")
    ]


def message_states(rt: Runtime) -> list[tuple[int, str, int]]:
    with rt.factory() as session:
        rows = session.execute(select(Message.id, Message.state, Message.version)).all()
    return sorted((r[0], r[1], r[2]) for r in rows)


def test_every_state_changing_form_refuses_a_missing_or_wrong_csrf_token(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "ada", "admin")
    drop(rt, make_email(), "csrf-all")
    worker.drain()
    app = create_app(rt)
    routes = form_routes(app)
    assert ("POST", "/login") in routes and ("POST", "/messages/{message_id:int}/approve") in routes
    before = message_states(rt)
    with TestClient(app) as client:
        login(client, "ada")
        good_token = csrf(client)
        for method, path in routes:
            url = concrete(path)
            data = {"reason": "forged", "body": "forged", "version": "1", "assignee": "ada"}
            missing = client.request(method, url, data=data, follow_redirects=False)
            assert missing.status_code == 403, (method, path, missing.status_code)
            wrong = client.request(
                method,
                url,
                data={**data, "_csrf_token": "0" * len(good_token)},
                follow_redirects=False,
            )
            assert wrong.status_code == 403, (method, path, wrong.status_code)
        assert client.get("/queue").status_code == 200, "forged posts must not end the session"
    assert message_states(rt) == before, "a refused form changed something"


TEMPLATE_INJECTIONS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__dict__ }}",
    "{{ customer.__class__.__init__.__globals__ }}",
    "{{ customer.name.__class__.__base__.__subclasses__() }}",
    "{{ request.application.__self__._get_data_for_json.__globals__ }}",
    "{{ config.items() }}",
    "{{ '{0.__class__.__mro__}'.format(customer.name) }}",
    "{{ '{x.__class__.__mro__}'.format_map({'x': customer.name}) }}",
    "{% for c in ''.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ range.__self__ }}",
    "{{ [].__class__.__base__ }}",
]


@pytest.mark.parametrize("source", TEMPLATE_INJECTIONS)
def test_template_injection_never_reaches_python_internals(source: str) -> None:
    context = {"customer": {"name": "Aoife"}}
    with pytest.raises(TemplateFailure) as failure:
        rendered = render_string(source, context, name="hostile.j2")
        pytest.fail(f"rendered: {rendered[:200]!r}")
    assert failure.value.template == "hostile.j2"


def assert_no_leak(response: object, what: str) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    text = response.text.lower()  # type: ignore[attr-defined]
    assert status < 500, (what, status, text[:300])
    for marker in LEAK_MARKERS:
        assert marker not in text, (what, marker)


def test_sql_injection_in_every_search_and_filter_field(rt: Runtime, worker: Worker) -> None:
    """Every payload against one project: the set-up (a user, a drafted email) was most of the
    time when each payload had its own."""
    staff(rt, "sue", "supervisor")
    drop(rt, make_email(), "sqli")
    worker.drain()
    with rt.factory() as session:
        total = session.scalar(select(func.count()).select_from(Message))
    text_fields = ("intent", "tier", "cursor")
    number_fields = ("channel", "assignee", "limit", "after", "before")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        login(client, "sue")
        for payload in SQL_INJECTIONS:
            for field in text_fields + number_fields:
                for path in ("/queue", "/api/queue/page", "/api/queue", "/audit", "/api/audit"):
                    response = client.get(path, params={field: payload}, headers=auth)
                    assert_no_leak(response, f"{path}?{field}={payload!r}")
                    if field in ("intent", "tier") and path == "/api/queue/page":
                        assert response.status_code == 200, payload
                        assert response.json()["items"] == [], f"{payload!r} matched rows"
            for field in ("q", "state", "channel", "since", "until", "before"):
                for path in ("/search", "/api/search"):
                    params = {"q": "roaming", field: payload}
                    response = client.get(path, params=params, headers=auth)
                    assert_no_leak(response, f"{path}?{field}={payload!r}")
                    if field == "q" and path == "/api/search":
                        assert response.json()["messages"] == [], f"{payload!r} matched mail"
            for path in ("/ignored", "/api/ignored"):
                response = client.get(path, params={"q": payload}, headers=auth)
                assert_no_leak(response, f"{path}?q={payload!r}")
                assert response.status_code == 200, payload
            for path in ("/messages/1", "/api/messages/1"):
                params = {"from": payload, "error": payload}
                assert_no_leak(client.get(path, params=params, headers=auth), f"{path} {payload!r}")
            login_attempt = client.post(
                "/api/login", json={"username": payload, "password": payload}
            )
            refused = "\x00" in payload  # a NUL in any JSON string is a 400 naming the field
            assert login_attempt.status_code == (400 if refused else 401), payload
    with rt.factory() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == total


def test_hostile_username_on_the_login_form_is_just_a_wrong_login(rt: Runtime) -> None:
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        for payload in SQL_INJECTIONS[:4]:
            page = client.get("/login")
            token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
            response = client.post(
                "/login",
                data={"username": payload, "password": payload, "_csrf_token": token},
                follow_redirects=False,
            )
            assert_no_leak(response, "login")
            assert client.get("/queue", follow_redirects=False).status_code in (302, 303)


#: What a hand-made form can put where a number goes: "²" and "٣" are digits to `str.isdigit`
#: (and "٣" a number to `int`), and Python refuses to read a 5,000-digit number as one.
HOSTILE_NUMBERS = ["²", "٣", "9" * 5000]
NUMBER_FIELDS = (
    "version", "over", "message_id", "customer_id", "condition-1", "value-1",
    "days", "hours", "minutes", "snippet_id", "template_id", "number", "page",
)  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the reading is the web's
def test_no_form_answers_a_hostile_number_with_a_server_error(rt: Runtime, worker: Worker) -> None:
    """Every state-changing form, with each number field set to what a hand-made post can put
    there: a refusal or a page, never a 500 (a crash a supervisor would see as "Internal
    Server Error", with their typing lost)."""
    staff(rt, "ada", "admin")
    drop(rt, make_email(), "numbers")
    worker.drain()
    app = create_app(rt)
    with TestClient(app) as client:
        login(client, "ada")
        token = csrf(client)
        failed = []
        for method, path in form_routes(app):
            if path in ("/logout", "/login"):
                continue
            for value in HOSTILE_NUMBERS:
                data = {name: value for name in NUMBER_FIELDS}
                data["condition-²"] = "intent"
                data["ids"] = f"1:{value}"  # a ticked draft in the queue's bulk form: id:version
                data["_csrf_token"] = token
                answer = client.request(method, concrete(path), data=data, follow_redirects=False)
                if answer.status_code >= 500:
                    failed.append((path, value[:8], answer.status_code))
    assert not failed, failed


def test_a_nul_in_a_classifier_example_name_or_correction_is_dropped(rt: Runtime) -> None:
    """A NUL, which PostgreSQL refuses in text, is dropped as a note drops it: the example is
    added without it, the classifiers page shows the classifier named around it, and a
    correction of a classifier named by a NUL alone is refused in words."""
    staff(rt, "sue", "supervisor")
    message = waiting_message(rt, 1)
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        corrected = client.post(
            f"/messages/{message}/classification",
            data={"classifier": "\x00", "label": "roaming", "_csrf_token": csrf(client)},
        )
        assert corrected.status_code == 200 and "Unknown classifier" in corrected.text
        for name in ("\x00", "in\x00tent"):
            page = client.get("/supervisor/classifiers", params={"name": name, "label": "\x00"})
            assert page.status_code == 200, (name, page.text[:300])
            assert "» intent</a>" in page.text, "the intent classifier, as without the NUL"
        back = "/supervisor/classifiers?name=intent&label=roaming"
        added = client.post(
            "/supervisor/classifiers/intent/add",
            data={
                "label": "roaming",
                "text": "Roaming in Spain\x00 costs too much",
                "back": back,
                "_csrf_token": csrf(client, back),
            },
        )
        assert added.status_code == 200 and "Example added to Roaming." in added.text
    with rt.factory() as session:
        texts = session.scalars(
            select(ClassifierExample.text).where(ClassifierExample.source == "supervisor")
        ).all()
    assert texts == ["Roaming in Spain costs too much"]
