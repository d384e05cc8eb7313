"""Deleting a training example or deactivating a colleague asks first (Debian Chromium): one
stray click did it at once before, with no way back but typing it all again."""

from __future__ import annotations

from sqlalchemy import select

from responder.db.models import ClassifierExample, StaffUser
from responder.runtime import Runtime
from tests.browser_support import browser
from tests.helpers import staff
from tests.live_server import serve
from tests.supervisor.history import agent_correction, waiting_message
from tests.supervisor.test_browser_supervisor import _log_in


def _answer(page: object, accept: bool) -> list[str]:
    """The questions the next dialog asks, answered once with yes or no."""
    asked: list[str] = []

    def reply(dialog: object) -> None:
        asked.append(dialog.message)  # type: ignore[attr-defined]
        dialog.accept() if accept else dialog.dismiss()  # type: ignore[attr-defined]

    page.once("dialog", reply)  # type: ignore[attr-defined]
    return asked


def test_removing_a_training_example_asks_first(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    example_id = agent_correction(rt, waiting_message(rt, 1), "billing_dispute", "roaming", "alice")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("header >> text=Classifiers")
        page.locator(f"#candidates tr[data-id='{example_id}'] button.accept").click()
        page.locator("#notice").filter(has_text="Correction accepted").wait_for()
        page.click("#labels >> text=billing_dispute")
        row = page.locator(f"#examples tr[data-id='{example_id}']")

        asked = _answer(page, accept=False)
        row.locator("text=Remove").click()
        page.wait_for_timeout(500)
        assert asked and asked[0].startswith("Remove this billing_dispute example?")
        with rt.factory() as session:
            assert session.get(ClassifierExample, example_id) is not None

        asked = _answer(page, accept=True)
        row.locator("text=Remove").click()
        page.locator("#notice").filter(has_text="Example removed").wait_for()
    with rt.factory() as session:
        assert session.get(ClassifierExample, example_id) is None


def test_deactivating_a_colleague_asks_first(rt: Runtime) -> None:
    staff(rt, "ada", "admin")
    staff(rt, "alice", "agent")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "ada")
        page.goto(f"{base}/admin/staff")
        with rt.factory() as session:
            alice = session.scalars(select(StaffUser).where(StaffUser.username == "alice")).one()
        row = page.locator(f"#staff-{alice.id}")

        asked = _answer(page, accept=False)
        row.locator("text=Deactivate").click()
        page.wait_for_timeout(500)
        assert asked and "Deactivate alice?" in asked[0] and "signed out" in asked[0]
        with rt.factory() as session:
            assert session.get(StaffUser, alice.id).active  # type: ignore[union-attr]

        asked = _answer(page, accept=True)
        row.locator("text=Deactivate").click()
        page.locator(".notice").filter(has_text="alice is deactivated").wait_for()
    with rt.factory() as session:
        assert not session.get(StaffUser, alice.id).active  # type: ignore[union-attr]


def test_rolling_a_template_back_asks_first(rt: Runtime) -> None:
    from tests.supervisor.test_browser_supervisor import _versions

    staff(rt, "sue", "supervisor")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("text=intents/roaming.en.j2")
        page.fill("#body", '{% extends "layout.en.j2" %}{% block body %}Hi.{% endblock %}')
        page.click("#save")
        page.locator("#notice").filter(has_text="version 2 is live").wait_for()

        asked = _answer(page, accept=False)
        page.click("text=Roll back to this version")
        page.wait_for_timeout(500)
        assert asked == [
            "Make version 1 live again? It is saved as a new version, and the next drafts use it."
        ]
        assert _versions(rt) == [1, 2]

        _answer(page, accept=True)
        page.click("text=Roll back to this version")
        page.locator("#notice").filter(has_text="Rolled back to version 1").wait_for()
    assert _versions(rt) == [1, 2, 3]
