"""Staff accounts from the web: an admin adds, promotes, deactivates and resets; each person
changes their own password. Every change takes effect on the very next request, on sessions and
API tokens alike, and lands in the audit log."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.cli import main
from responder.db.models import AuditEntry, StaffSession, StaffUser, utcnow
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, heard_by, make_email, ready, staff
from tests.test_web_security import csrf, login

PASSWORD = "correct horse battery"


def bearer(client: TestClient, username: str, password: str) -> dict[str, str] | None:
    response = client.post("/api/login", json={"username": username, "password": password})
    if response.status_code != 201:
        return None
    return {"Authorization": f"Bearer {response.json()['token']}"}


def post_form(client: TestClient, path: str, **fields: str) -> object:
    return client.post(path, data={"_csrf_token": csrf(client, "/admin/staff"), **fields})


def staff_id(rt: Runtime, username: str) -> int:
    with rt.factory() as session:
        return session.scalar(select(StaffUser.id).where(StaffUser.username == username))


def audit_actions(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.factory() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.object_id)
            .where(AuditEntry.object_type == "staff")
            .order_by(AuditEntry.id)
        ).all()
    return [tuple(row) for row in rows]


def test_admin_adds_promotes_deactivates_and_reactivates_an_agent(rt: Runtime) -> None:
    staff(rt, "ada", "admin")
    with TestClient(create_app(rt)) as client:
        login(client, "ada")
        page = client.get("/admin/staff").text
        assert "ada (you)" in page and 'href="/admin/staff"' in page

        added = post_form(
            client,
            "/admin/staff/add",
            username="bob",
            display_name=" Bob \x00  Byrne ",  # cleaned as a rename cleans it
            role="agent",
            password="bobs long pass",
        )
        assert "Added bob (agent)" in added.text
        bob = staff_id(rt, "bob")
        bob_row = re.search(rf'<tr id="staff-{bob}">(.*?)</tr>', added.text, re.S).group(1)
        assert "Bob Byrne" in bob_row and "active" in bob_row and "0 sessions" in bob_row

        again = post_form(
            client,
            "/admin/staff/add",
            username="Bob",
            display_name="",
            role="agent",
            password="another long one",
        )
        assert again.status_code == 422
        assert "Not added: user &#39;Bob&#39; exists already" in again.text
        assert 'value="Bob"' in again.text, "what was typed stays in the form"
        short = post_form(
            client,
            "/admin/staff/add",
            username="cat",
            display_name="",
            role="agent",
            password="short",
        )
        assert short.status_code == 422 and "at least 8 characters" in short.text
        long_name = post_form(
            client,
            "/admin/staff/add",
            username="dan",
            display_name="D" * 201,
            role="agent",
            password="dans long pass",
        )
        assert long_name.status_code == 422 and "at most 200 characters" in long_name.text

        token = bearer(client, "bob", "bobs long pass")
        assert token is not None
        assert bearer(client, " BOB", "bobs long pass") is not None, "a name in any case"
        assert client.get("/api/queue", headers=token).status_code == 200
        assert client.get("/api/supervisor/rules", headers=token).status_code == 403

        promoted = post_form(client, f"/admin/staff/{bob}/role", role="supervisor")
        assert "Saved: bob is now supervisor." in promoted.text
        assert client.get("/api/supervisor/rules", headers=token).status_code == 200

        gone = post_form(client, f"/admin/staff/{bob}/active", active="no")
        assert "bob is deactivated and signed out everywhere" in gone.text
        assert re.search(rf'<tr id="staff-{bob}" class="inactive">', gone.text)
        assert client.get("/api/queue", headers=token).status_code == 401
        assert bearer(client, "bob", "bobs long pass") is None

        back = post_form(client, f"/admin/staff/{bob}/active", active="yes")
        assert "bob can log in again" in back.text
        token = bearer(client, "bob", "bobs long pass")
        assert token is not None
        assert client.get("/api/supervisor/rules", headers=token).status_code == 200

    assert audit_actions(rt) == [
        ("ada", "staff.add", str(bob)),
        ("ada", "staff.role", str(bob)),
        ("ada", "staff.deactivate", str(bob)),
        ("ada", "staff.reactivate", str(bob)),
    ]


def test_a_deactivated_agents_drafts_go_back_to_the_shared_queue(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "ada", "admin")
    staff(rt, "bob", "agent")
    for n in range(2):
        drop(rt, make_email(message_id=f"<m{n}@mail.test>", subject=f"Bill {n}"), f"m{n}")
    worker.drain()
    bob = staff_id(rt, "bob")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "ada")
        first, second = [i["id"] for i in client.get("/api/queue", headers=auth).json()]
        for message_id in (first, second):
            done = client.post(
                f"/api/messages/{message_id}/assign", headers=auth, json={"assignee": "bob"}
            )
            assert done.status_code == 201, done.text
        login(client, "ada")
        gone = post_form(client, f"/admin/staff/{bob}/active", active="no")
        assert "2 assigned drafts went back to the shared queue" in gone.text
        items = client.get("/api/queue", headers=auth).json()
        assert [i["assignee_id"] for i in items] == [None, None]
        page = client.get(f"/messages/{first}").text
        assert '<option value="bob"' not in page, "a deactivated account cannot be picked"


def test_the_last_admin_cannot_be_demoted_or_deactivated(rt: Runtime) -> None:
    staff(rt, "ada", "admin")
    ada = staff_id(rt, "ada")
    with TestClient(create_app(rt)) as client:
        login(client, "ada")
        demoted = post_form(client, f"/admin/staff/{ada}/role", role="agent")
        assert demoted.status_code == 422
        assert "ada is the last active admin" in demoted.text
        itself = post_form(client, f"/admin/staff/{ada}/active", active="no")
        assert itself.status_code == 422 and "cannot deactivate your own account" in itself.text
        own_page = client.get("/admin/staff").text
        assert "Deactivate" not in own_page, "no button on one's own row"
        # Resetting one's own password here would end one's own sessions: the row points to
        # the account page, which keeps the current one.
        assert f'action="/admin/staff/{ada}/password"' not in own_page
        assert '<a href="/account" id="own-password">' in own_page

        auth = api_token(client, "ada")
        made = client.post(
            "/api/admin/staff",
            headers=auth,
            json={"username": "cy", "role": "admin", "password": "cys long password"},
        )
        assert made.status_code == 201, made.text
        assert made.json()["role"] == "admin" and made.json()["active"] is True
        cy = made.json()["id"]
        listed = client.get("/api/admin/staff", headers=auth)
        assert listed.status_code == 200, listed.text
        assert {"ada", "cy"} <= {row["username"] for row in listed.json()}
        # With a second admin, ada may step down; cy may not then be taken away.
        stepped_down = post_form(client, f"/admin/staff/{ada}/role", role="supervisor")
        assert stepped_down.status_code == 200, "sent to the account page, not a refusal"
        assert "Saved: ada is now supervisor." in stepped_down.text
        read_only = client.get("/admin/staff").text
        assert "<h1>Team</h1>" in read_only and 'action="/admin/staff/' not in read_only
        cy_auth = bearer(client, "cy", "cys long password")
        refused = client.post(f"/api/admin/staff/{cy}", headers=cy_auth, json={"role": "agent"})
        assert refused.status_code == 422 and "last active admin" in refused.json()["detail"]
        missing = client.post("/api/admin/staff/999999", headers=cy_auth, json={"active": False})
        assert missing.status_code == 404


def test_an_admin_password_reset_ends_every_session_of_that_account(rt: Runtime) -> None:
    staff(rt, "ada", "admin")
    staff(rt, "bob", "agent")
    bob = staff_id(rt, "bob")
    with TestClient(create_app(rt)) as client:
        old = bearer(client, "bob", PASSWORD)
        login(client, "ada")
        same = post_form(client, f"/admin/staff/{bob}/password", password="bob")
        assert same.status_code == 422 and "at least 8 characters" in same.text
        named = post_form(client, f"/admin/staff/{bob}/password", password="BOB")
        assert named.status_code == 422
        done = post_form(client, f"/admin/staff/{bob}/password", password="a fresh passphrase")
        assert "bob&#39;s password is reset and their sessions ended" in done.text
        assert client.get("/api/queue", headers=old).status_code == 401
        assert bearer(client, "bob", PASSWORD) is None
        assert bearer(client, "bob", "a fresh passphrase") is not None
    assert ("ada", "staff.password_reset", str(bob)) in audit_actions(rt)


def test_staff_change_their_own_password_and_keep_only_this_session(rt: Runtime) -> None:
    staff(rt, "bob", "agent")
    with TestClient(create_app(rt)) as client:
        other = bearer(client, "bob", PASSWORD)
        login(client, "bob")
        page = client.get("/account").text
        assert 'href="/account"' in page and "Change your password" in page
        assert 'href="/admin/staff"' not in page, "only admins see the staff link"

        def change(current: str, new: str, repeat: str) -> object:
            token = csrf(client, "/account")
            fields = {"current": current, "new": new, "repeat": repeat, "_csrf_token": token}
            return client.post("/account/password", data=fields)

        renamed = client.post(
            "/account/name",
            data={"display_name": "  Bob   Byrne ", "_csrf_token": csrf(client, "/account")},
        )
        assert 'href="/account" title="Your account">Bob Byrne (agent)</a>' in renamed.text
        blank = client.post(
            "/account/name", data={"display_name": " ", "_csrf_token": csrf(client, "/account")}
        )
        assert blank.status_code == 422 and "the name is empty" in blank.text

        wrong = change("not my password", "a brand new secret", "a brand new secret")
        assert wrong.status_code == 422 and "the current password is wrong" in wrong.text
        typo = change(PASSWORD, "a brand new secret", "a brand new secrte")
        assert typo.status_code == 422 and "the two new passwords differ" in typo.text
        assert client.get("/api/queue", headers=other).status_code == 200, "nothing changed yet"

        done = change(PASSWORD, "a brand new secret", "a brand new secret")
        assert done.status_code == 200 and "Password changed" in done.text
        assert client.get("/queue").status_code == 200, "this session stays"
        assert client.get("/api/queue", headers=other).status_code == 401
        assert bearer(client, "bob", PASSWORD) is None
        assert bearer(client, "bob", "a brand new secret") is not None
    assert [a for _, a, _ in audit_actions(rt)] == ["account.name", "account.password"]


def test_guessing_the_current_password_from_an_open_session_is_limited(rt: Runtime) -> None:
    """A left-open browser is not a way to try passwords without end: after as many wrong
    current passwords as the login form allows a minute, even the right one waits."""
    rt.settings.web.login_attempts_per_minute = 3
    staff(rt, "bob", "agent")
    with TestClient(create_app(rt)) as client:
        login(client, "bob")

        def change(current: str) -> object:
            fields = {
                "current": current,
                "new": "a brand new secret",
                "repeat": "a brand new secret",
            }
            return client.post(
                "/account/password", data={**fields, "_csrf_token": csrf(client, "/account")}
            )

        for guess in ("guess one", "guess two", "guess three"):
            assert change(guess).status_code == 422
        refused = change(PASSWORD)
        assert refused.status_code == 429
        assert "too many wrong current passwords: wait a minute" in refused.text
        assert bearer(client, "bob", PASSWORD) is not None, "the password did not change"
        assert bearer(client, "bob", "a brand new secret") is None
    assert "account.password" not in [a for _, a, _ in audit_actions(rt)]


def test_supervisors_see_the_team_but_cannot_manage_accounts(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    staff(rt, "bob", "agent")
    with rt.factory() as session:
        bob = session.scalars(select(StaffUser).where(StaffUser.username == "bob")).one()
        bob.display_name = "Bob Byrne"
        bob.active = False
        session.commit()
        bob_id = bob.id
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        assert client.get("/api/admin/staff", headers=auth).status_code == 403
        forged = client.post(
            "/api/admin/staff", headers=auth, json={"username": "x", "password": "xxxxxxxxxx"}
        )
        assert forged.status_code == 403
        login(client, "sue")
        queue = client.get("/queue").text
        assert '<a href="/admin/staff" id="nav-staff">Team</a>' in queue
        with transaction(rt.factory) as session:  # a browser closed days ago: not signed in
            sue = session.scalars(select(StaffUser).where(StaffUser.username == "sue")).one()
            expired = utcnow() - timedelta(days=2)
            session.add(StaffSession(token_hash="e" * 64, user_id=sue.id, expires_at=expired))
        team = client.get("/admin/staff")
        assert team.status_code == 200
        row = re.search(rf'<tr id="staff-{bob_id}" class="inactive">(.*?)</tr>', team.text, re.S)
        cells = re.sub(r"<[^>]+>", "|", row.group(1))
        assert "Bob Byrne" in cells and "|agent|" in cells and "deactivated" in cells
        sue_row = re.search(r"<td[^>]*>sue \(you\)</td>(.*?)</tr>", team.text, re.S).group(1)
        assert "2 sessions" in sue_row, "her API token and this browser"
        assert "<form" not in team.text.split('id="staff"')[1].split("</table>")[0]
        assert "Add an account" not in team.text and "Reset password" not in team.text
        token = csrf(client, "/queue")
        promote = client.post(
            f"/admin/staff/{bob_id}/role", data={"role": "admin", "_csrf_token": token}
        )
        assert promote.status_code == 403
    with rt.factory() as session:
        assert session.scalar(select(StaffUser).where(StaffUser.username == "x")) is None
        assert session.get(StaffUser, bob_id).role == "agent"


def test_agents_still_cannot_see_the_team(rt: Runtime) -> None:
    staff(rt, "bob", "agent")
    with TestClient(create_app(rt)) as client:
        login(client, "bob")
        queue = client.get("/queue").text
        assert 'href="/admin/staff"' not in queue
        assert client.get("/admin/staff").status_code == 403
        # The network incidents are theirs to read, from the menu as well.
        assert '<a href="/supervisor/incidents" id="nav-incidents">Incidents</a>' in queue
        assert "<h1>Network incidents</h1>" in client.get("/supervisor/incidents").text


def test_the_command_line_lists_accounts_and_resets_a_locked_out_admin(
    rt: Runtime, project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    staff(rt, "ada", "admin")
    staff(rt, "bob", "agent")
    monkeypatch.setenv("RESPONDER_DATABASE__URL", rt.settings.database.url)
    config = ["--config", str(project / "config.toml")]
    with TestClient(create_app(rt)) as client:
        login(client, "ada")
        post_form(client, f"/admin/staff/{staff_id(rt, 'bob')}/role", role="admin")
        post_form(client, f"/admin/staff/{staff_id(rt, 'ada')}/active", active="no")
    with TestClient(create_app(rt)) as client:
        login(client, "bob")
        post_form(client, f"/admin/staff/{staff_id(rt, 'ada')}/active", active="no")
        assert bearer(client, "ada", PASSWORD) is None

    assert main([*config, "user", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [
        ["bob", "admin", "active"],
        ["ada", "admin", "deactivated"],
    ]
    monkeypatch.setenv("RESPONDER_NEW_PASSWORD", "back in business")
    assert main([*config, "user", "password", "ada"]) == 0
    assert "password of ada reset" in capsys.readouterr().out
    assert main([*config, "user", "password", "nobody"]) == 1
    assert "no staff account named 'nobody'" in capsys.readouterr().err
    with TestClient(create_app(rt)) as client:
        assert bearer(client, "ada", "back in business") is not None


def _signed_out_page(client: TestClient) -> str:
    """Where a browser lands on its next visit, once its session was ended elsewhere."""
    response = client.get("/queue", follow_redirects=False)
    assert response.status_code in (302, 303), "the session should have ended"
    assert response.headers["location"].startswith("/login")
    return client.get(response.headers["location"]).text


def _ended_notice(page: str) -> str:
    found = re.search(r'<p class="warn" role="alert" id="session-ended">(.*?)</p>', page, re.S)
    return found.group(1) if found else ""


def test_a_browser_signed_out_by_a_change_is_told_why(rt: Runtime) -> None:
    staff(rt, "ada", "admin")
    staff(rt, "bob", "agent")
    bob = staff_id(rt, "bob")
    with TestClient(create_app(rt)) as laptop, TestClient(create_app(rt)) as phone:
        ready(rt, laptop, phone)
        login(laptop, "bob")
        login(phone, "bob")
        fields = {"current": PASSWORD, "new": "a brand new secret", "repeat": "a brand new secret"}
        with heard_by(rt, phone):
            laptop.post(
                "/account/password", data={**fields, "_csrf_token": csrf(laptop, "/account")}
            )
        assert laptop.get("/queue").status_code == 200, "the browser that changed it stays in"
        assert _ended_notice(_signed_out_page(phone)) == (
            "Your session ended because your password was changed."
        )

        login(phone, "ada")
        with heard_by(rt, laptop):
            post_form(phone, f"/admin/staff/{bob}/password", password="set by the admin")
        assert _ended_notice(_signed_out_page(laptop)) == (
            "Your session ended because an administrator reset your password."
        )

        laptop.cookies.clear()
        page = laptop.get("/login").text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        laptop.post(
            "/login",
            data={"username": "bob", "password": "set by the admin", "_csrf_token": token},
        )
        assert laptop.get("/queue").status_code == 200
        with heard_by(rt, laptop):
            post_form(phone, f"/admin/staff/{bob}/active", active="no")
        assert _ended_notice(_signed_out_page(laptop)).startswith("Your account was switched off")

        laptop.cookies.clear()
        assert _ended_notice(laptop.get("/login").text) == "", "a plain visit is told nothing"


def test_a_deactivated_account_is_told_so_only_with_the_right_password(rt: Runtime) -> None:
    staff(rt, "ada", "admin")
    staff(rt, "bob", "agent")
    with TestClient(create_app(rt)) as client:
        login(client, "ada")
        post_form(client, f"/admin/staff/{staff_id(rt, 'bob')}/active", active="no")
        client.cookies.clear()

        def attempt(password: str) -> object:
            token = csrf(client, "/login")
            fields = {"username": "bob", "password": password, "_csrf_token": token}
            return client.post("/login", data=fields)

        right = attempt(PASSWORD)
        assert right.status_code == 403
        assert "Your account is switched off: ask an administrator" in right.text
        wrong = attempt("not the password")
        assert wrong.status_code == 401 and "Unknown user or wrong password." in wrong.text
        assert "switched off" not in wrong.text, "a guess learns nothing about the account"
        # The name is filled in again, never the password, and the cursor waits in the latter.
        assert re.search(r'<input name="username" value="bob"[^>]*>', wrong.text)
        password = re.search(r'<input name="password"[^>]*>', wrong.text).group(0)
        assert "autofocus" in password and "value=" not in password
        assert "not the password" not in wrong.text
        assert re.search(r'<input name="username" value="bob"[^>]*>', right.text)
        first = re.search(r'<input name="username"[^>]*>', client.get("/login").text).group(0)
        assert "autofocus" in first and "value=" not in first, "a first visit starts at the name"

        api = client.post("/api/login", json={"username": "bob", "password": PASSWORD})
        assert api.status_code == 403 and "switched off" in api.json()["detail"]
        guess = client.post("/api/login", json={"username": "bob", "password": "a guess!"})
        assert guess.status_code == 401 and "switched off" not in guess.text


def test_a_password_hashed_at_another_cost_still_signs_in_and_is_hashed_again(
    rt: Runtime,
) -> None:
    """An operator raising (or lowering) the hash cost locks nobody out: each password is
    made again at the new cost at its holder's next sign-in."""
    from argon2 import PasswordHasher

    staff(rt, "ada", "agent")
    with transaction(rt.factory) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == "ada"))
        assert user is not None
        user.password_hash = PasswordHasher(time_cost=2, memory_cost=1024).hash(PASSWORD)
    with TestClient(create_app(rt)) as client:
        assert bearer(client, "ada", PASSWORD) is not None
        assert bearer(client, "ada", "not the password") is None
    with rt.factory() as session:
        stored = session.scalar(select(StaffUser.password_hash).where(StaffUser.username == "ada"))
    web = rt.settings.web
    assert f"m={web.password_hash_memory_kib},t={web.password_hash_time_cost}," in stored
    assert PasswordHasher().verify(stored, PASSWORD)


def test_after_a_cost_change_an_unknown_name_is_checked_at_the_cost_most_passwords_have(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each password keeps its old cost until its holder signs in: meanwhile a guess at a name
    nobody has is checked at that old cost, as one at a name that exists is, so how long the
    answer takes does not tell which names exist. Once most passwords have been hashed again,
    it is checked at the new cost."""
    from argon2 import PasswordHasher, extract_parameters

    old = PasswordHasher(time_cost=2, memory_cost=1024)
    for name in ("ada", "bob", "cy"):
        staff(rt, name, "agent")
    with transaction(rt.factory) as session:
        for user in session.scalars(select(StaffUser)):
            user.password_hash = old.hash(PASSWORD)
    checked: list[str] = []
    verify = PasswordHasher.verify

    def spied(self: PasswordHasher, hash: str, password: str) -> bool:
        checked.append(hash)
        return verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spied)

    def cost_of_a_guess(client: TestClient, username: str) -> tuple[int, int]:
        checked.clear()
        assert bearer(client, username, "a guess at it") is None
        (against,) = checked
        parameters = extract_parameters(against)
        return parameters.time_cost, parameters.memory_cost

    web = rt.settings.web
    new = (web.password_hash_time_cost, web.password_hash_memory_kib)
    assert new != (2, 1024)
    with TestClient(create_app(rt)) as client:
        assert cost_of_a_guess(client, "ada") == (2, 1024)
        assert cost_of_a_guess(client, "nobody") == (2, 1024), "not the new cost"
        assert bearer(client, "ada", PASSWORD) is not None  # hashed again at the new cost
        assert cost_of_a_guess(client, "nobody") == (2, 1024), "two of three still have it"
        assert bearer(client, "bob", PASSWORD) is not None
        assert cost_of_a_guess(client, "nobody") == new
        assert cost_of_a_guess(client, "ada") == new
