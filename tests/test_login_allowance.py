"""The per-minute allowance of wrong passwords holds against a burst of parallel guesses: the
real app served over HTTP, the guesses sent from threads at once, and no more passwords checked
than the allowance; the right password then waits for the minute to pass too."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from responder.db.models import utcnow
from responder.runtime import Runtime
from responder.web import login_allowance
from tests.helpers import staff
from tests.live_server import serve
from tests.test_web_security import PASSWORD, csrf, login

ALLOWANCE = 3
BURST = 12


def at_once(calls: list[Callable[[], httpx.Response]]) -> Counter[int]:
    """Every call sent from its own thread, all let go together; the answers' status codes."""
    start = threading.Barrier(len(calls))
    codes: list[int] = []

    def run(call: Callable[[], httpx.Response]) -> None:
        start.wait()
        codes.append(call().status_code)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(codes)


def a_minute_later(monkeypatch: pytest.MonkeyPatch) -> None:
    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(login_allowance, "utcnow", lambda: later)


def form_login(base: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base) as client:
        token = csrf(client, "/login")
        return client.post(
            "/login",
            data={"username": "alice", "password": password, "_csrf_token": token},
            follow_redirects=False,
        )


def api_login(base: str, password: str, username: str = "alice") -> httpx.Response:
    with httpx.Client(base_url=base) as client:
        return client.post("/api/login", json={"username": username, "password": password})


def test_parallel_wrong_logins_get_only_the_allowance(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff(rt)
    rt.settings.web.login_attempts_per_minute = ALLOWANCE
    with serve(rt) as base:
        guesses = [
            (lambda n=n: (form_login if n % 2 else api_login)(base, f"guess {n}"))
            for n in range(BURST)
        ]
        codes = at_once(guesses)
        assert codes == {401: ALLOWANCE, 429: BURST - ALLOWANCE}

        refused = form_login(base, PASSWORD)
        assert refused.status_code == 429
        assert "Too many attempts: wait a minute." in refused.text
        assert api_login(base, PASSWORD).status_code == 429

        a_minute_later(monkeypatch)
        assert api_login(base, PASSWORD).status_code == 201
        assert form_login(base, PASSWORD).status_code in (302, 303)


def test_parallel_wrong_current_passwords_get_only_the_allowance(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff(rt, "bob", "agent")
    rt.settings.web.login_attempts_per_minute = ALLOWANCE
    with serve(rt) as base, httpx.Client(base_url=base) as signed_in:
        login(signed_in, "bob")
        token = csrf(signed_in, "/account")

        def change(current: str) -> httpx.Response:
            with httpx.Client(base_url=base, cookies=signed_in.cookies) as client:
                fields = {"current": current, "new": "a brand new secret"}
                return client.post(
                    "/account/password",
                    data={**fields, "repeat": fields["new"], "_csrf_token": token},
                    follow_redirects=True,
                )

        codes = at_once([lambda n=n: change(f"guess {n}") for n in range(BURST)])
        assert codes == {422: ALLOWANCE, 429: BURST - ALLOWANCE}

        refused = change(PASSWORD)
        assert refused.status_code == 429
        assert "too many wrong current passwords: wait a minute" in refused.text

        a_minute_later(monkeypatch)
        done = change(PASSWORD)
        assert done.status_code == 200 and "Password changed" in done.text
        assert api_login(base, "a brand new secret", "bob").status_code == 201


def test_a_right_password_gives_its_place_back(rt: Runtime) -> None:
    """Signing in more often than the allowance is not guessing: the wrong guesses after it
    still get the whole allowance."""
    staff(rt)
    rt.settings.web.login_attempts_per_minute = ALLOWANCE
    with serve(rt) as base:
        for _ in range(ALLOWANCE + 2):
            assert api_login(base, PASSWORD).status_code == 201
        assert [api_login(base, "wrong").status_code for _ in range(ALLOWANCE + 1)] == [
            *[401] * ALLOWANCE,
            429,
        ]
