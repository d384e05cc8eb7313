"""Each web process may remember checked logins (PostgreSQL), but a logout, a deactivated account
or a changed role anywhere must reach every process, and a cache that cannot hear the database
must not answer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from litestar.testing import TestClient
from sqlalchemy import event, text

from responder.db.models import StaffUser, utcnow
from responder.db.session import transaction
from responder.runtime import Runtime
from responder.web.app import create_app
from responder.web.session_cache import SessionCache
from tests.helpers import api_token, cache_of, heard_by, ready, staff, wait_for
from tests.test_web_security import csrf, login


@contextmanager
def session_queries(rt: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "staff_sessions" in statement:
            seen.append(statement)

    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)


def cookie_of(client: TestClient) -> str:
    return client.cookies["responder_session"]


def test_a_logout_in_one_process_ends_the_session_in_every_other(rt: Runtime) -> None:
    staff(rt)
    with TestClient(create_app(rt)) as first, TestClient(create_app(rt)) as second:
        ready(rt, first, second)
        login(first, "alice")
        second.cookies.set("responder_session", cookie_of(first))
        assert second.get("/queue").status_code == 200
        with session_queries(rt) as queries:
            assert second.get("/queue").status_code == 200
        # PostgreSQL: the second page's login check came from the process's memory.
        assert len(queries) == (0 if rt.engine.dialect.name == "postgresql" else 1)

        with heard_by(rt, second):
            first.post("/logout", headers={"x-csrftoken": csrf(first)})
        after = second.get("/queue", follow_redirects=False)
        assert after.status_code in (302, 303), "the session must end in every web process"


def test_an_account_changed_by_hand_in_the_database_is_checked_again(rt: Runtime) -> None:
    staff(rt, "sam", role="supervisor")
    with TestClient(create_app(rt)) as client:
        ready(rt, client)
        headers = api_token(client, "sam")
        login(client, "sam")
        assert client.get("/supervisor/rules").status_code == 200
        assert client.get("/api/queue", headers=headers).status_code == 200

        with heard_by(rt, client), transaction(rt.factory) as session:
            session.execute(text("UPDATE staff_users SET role = 'agent' WHERE username = 'sam'"))
        assert client.get("/supervisor/rules").status_code == 403, "a demotion takes effect"
        assert client.get("/queue").status_code == 200

        with heard_by(rt, client), transaction(rt.factory) as session:
            session.execute(text("UPDATE staff_users SET active = false WHERE username = 'sam'"))
        assert client.get("/queue", follow_redirects=False).status_code in (302, 303)
        assert client.get("/api/queue", headers=headers).status_code == 401


def test_a_session_removed_by_hand_ends(rt: Runtime) -> None:
    staff(rt)
    with TestClient(create_app(rt)) as client:
        ready(rt, client)
        login(client, "alice")
        assert client.get("/queue").status_code == 200
        with heard_by(rt, client), transaction(rt.factory) as session:
            session.execute(text("DELETE FROM staff_sessions"))
        assert client.get("/queue", follow_redirects=False).status_code in (302, 303)


def test_the_listener_reconnects_and_still_hears_revocations(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no session listener to lose")
    caplog.set_level(logging.INFO, logger="responder.web.session_cache")
    staff(rt)
    with TestClient(create_app(rt)) as client:
        ready(rt, client)
        login(client, "alice")
        assert client.get("/queue").status_code == 200
        cache = cache_of(client)
        before = cache.generation
        with rt.engine.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'responder-session-listener' "
                    "AND datname = current_database()"
                )
            ).all()
        assert killed, "the web process holds a listening connection"
        wait_for(lambda: cache.generation > before, "the listener to notice its lost connection")
        assert client.get("/queue").status_code == 200, "pages still work while it reconnects"
        ready(rt, client)
        said = [r.getMessage() for r in caplog.records if r.name == "responder.web.session_cache"]
        assert any(m.startswith("session listener lost its connection") for m in said), said
        assert any(m.startswith("session listener reconnected after") for m in said), said

        with heard_by(rt, client), transaction(rt.factory) as session:
            session.execute(text("DELETE FROM staff_sessions"))
        assert client.get("/queue", follow_redirects=False).status_code in (302, 303)


def test_the_cache_answers_only_while_its_listener_is_heard() -> None:
    now = [1000.0]
    cache = SessionCache(ttl_seconds=30, alive_seconds=3, clock=lambda: now[0])
    user = StaffUser(id=7, username="alice", display_name="Alice", role="agent", active=True)
    expires = utcnow() + timedelta(hours=1)

    cache.store("h", "cookie", user, expires, cache.generation)
    assert cache.lookup("h", "cookie") is None, "nothing is kept before the listener is heard"

    cache.heard_alive(now[0])
    cache.store("h", "cookie", user, expires, cache.generation)
    hit = cache.lookup("h", "cookie")
    assert hit is not None and hit is not user and (hit.id, hit.role) == (7, "agent")
    assert cache.lookup("h", "api") is None, "a cookie is not an API token"

    now[0] += 4
    assert cache.lookup("h", "cookie") is None, "a listener not heard lately: ask the database"
    cache.heard_alive(now[0])
    assert cache.lookup("h", "cookie") is not None

    now[0] += 31
    cache.heard_alive(now[0])
    assert cache.lookup("h", "cookie") is None, "entries lapse after the TTL whatever happens"


def test_an_answer_read_while_a_change_arrived_is_not_kept() -> None:
    cache = SessionCache()
    cache.heard_alive(cache.now())
    user = StaffUser(id=1, username="bob", display_name="Bob", role="admin", active=True)
    read_at = cache.generation
    cache.forget_all()  # a notification lands while the database was being read
    cache.store("h", "cookie", user, utcnow() + timedelta(hours=1), read_at)
    assert cache.lookup("h", "cookie") is None

    cache.store("h", "cookie", user, utcnow() - timedelta(seconds=1), cache.generation)
    assert cache.lookup("h", "cookie") is None, "an expired session is not answered from memory"

    cache.store("h", "cookie", user, utcnow() + timedelta(hours=1), cache.generation)
    cache.deaf()
    assert cache.lookup("h", "cookie") is None
