"""Deleting a training example or deactivating a colleague asks first (Debian Chromium): one
stray click did it at once before, with no way back but typing it all again."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from responder.db.models import Channel, ClassifierExample, Message, StaffUser
from responder.db.session import transaction
from responder.drafting.rule_versions import current_rules
from responder.review import approve, reject
from responder.runtime import Runtime
from tests.browser_support import browser, on_sqlite_only
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


@on_sqlite_only
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
        assert asked and asked[0].startswith("Remove this Billing dispute example?")
        with rt.factory() as session:
            assert session.get(ClassifierExample, example_id) is not None

        asked = _answer(page, accept=True)
        row.locator("text=Remove").click()
        page.locator("#notice").filter(has_text="Example removed").wait_for()
    with rt.factory() as session:
        assert session.get(ClassifierExample, example_id) is None


@on_sqlite_only
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


@on_sqlite_only
def test_rolling_a_template_back_asks_first(rt: Runtime) -> None:
    from tests.supervisor.test_browser_supervisor import _versions

    staff(rt, "sue", "supervisor")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("text=Roaming — English")
        page.wait_for_selector("#body")
        page.wait_for_load_state()  # the editor's scripts run before it is typed in
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


# the question is written by the page's script, whatever the database
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_turning_auto_send_on_asks_first_with_the_intents_figures(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    sure, unsure = waiting_message(rt, 1), waiting_message(rt, 2)
    with transaction(rt.factory) as session:
        session.get(Message, sure).intent_confidence = 0.97
        session.get(Message, unsure).intent_confidence = 0.85
        sue = session.scalars(select(StaffUser).filter_by(username="sue")).one()
        approve(session, sure, sue, rt.settings.outbound)
        reject(session, unsure, sue, "wrong plan")
        channel_id = session.get(Message, sure).channel_id
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.goto(f"{base}/supervisor/auto-send")
        form = page.locator("form[data-mailbox='support'][data-intent='roaming']")
        form.locator("input[name=threshold]").fill("90")

        asked = _answer(page, accept=False)
        form.locator("text=Set").click()
        page.wait_for_timeout(500)
        assert asked == [
            "Turn on auto-send for Roaming in support at 90%? Drafts the classifier is at least"
            " that sure of go out without anyone reading them.\n\n"
            "In the last 30 days staff decided 2 Roaming drafts in support: 1 sent unchanged"
            " (50%), 0 edited (0%), 1 rejected (50%). The intent classifier has no held-out"
            " figure for Roaming.\n\n"
            "At 90%, 1 of those 2 drafts would have gone out unreviewed, 0 of them edited by"
            " staff and 0 rejected."
        ]
        with rt.factory() as session:
            assert session.get(Channel, channel_id).auto_send == {}  # type: ignore[union-attr]

        _answer(page, accept=True)
        form.locator("text=Set").click()
        page.locator("#notice").filter(has_text="is on at 90% confidence or more").wait_for()
        with rt.factory() as session:
            assert session.get(Channel, channel_id).auto_send == {"roaming": 0.9}  # type: ignore[union-attr]

        # Turning it off, or asking for more confidence, needs no question.
        form = page.locator("form[data-mailbox='support'][data-intent='roaming']")
        form.locator("input[name=threshold]").fill("95")
        asked = _answer(page, accept=False)
        form.locator("text=Set").click()
        page.locator("#notice").filter(has_text="is on at 95% confidence or more").wait_for()
        assert asked == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the question is the page's
def test_removing_an_action_rule_asks_first(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.goto(f"{base}/supervisor/rules")

        asked = _answer(page, accept=False)
        page.click("#remove-rule-3")
        page.wait_for_timeout(500)
        assert asked and asked[0].startswith("Remove rule 3 (Suggest the World Roam Pass)?")
        with rt.factory() as session:
            assert current_rules(session, rt.settings).versions["actions"] is None

        asked = _answer(page, accept=True)
        page.click("#remove-rule-3")
        page.locator("#notice").filter(has_text="Removed action rule 3").wait_for()
    with rt.factory() as session:
        rules = current_rules(session, rt.settings).actions.rules
    assert "roaming_pass" not in [r.name for r in rules]
