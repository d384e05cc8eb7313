"""Typing in a draft outlives a session that ended, a tab that closed or a form that wrote the draft
again: the browser keeps it and offers it back on the draft's page (never puts it back
unasked)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from responder.db.models import Message, MessagePresence
from responder.pipeline.worker import Worker
from responder.review import current_draft
from responder.runtime import Runtime
from tests.browser_support import browser, log_in, on_sqlite_only
from tests.helpers import drop, make_email, staff
from tests.live_server import serve

PASSWORD = "correct horse battery"
KEPT = "You have unsaved text for this draft from"


@pytest.fixture
def message_id(rt: Runtime, worker: Worker, demo_customers: None) -> int:
    drop(rt, make_email(), "roaming")
    worker.drain()
    staff(rt, "alice")
    staff(rt, "bob")
    with rt.factory() as session:
        return session.scalar(select(Message.id).where(Message.direction == "in"))


def _type_at_the_end(page: Page, text: str) -> str:
    page.click("#draft-body")
    page.keyboard.press("Control+End")
    page.keyboard.type(text)
    return page.locator("#draft-body").input_value()


def _sign_in_here(page: Page, username: str) -> None:
    """On the login page the app sent the browser to (its `next` brings the person back)."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


@on_sqlite_only
def test_text_typed_when_the_session_ended_is_offered_back_after_signing_in(
    rt: Runtime, message_id: int
) -> None:
    review = re.compile(rf".*/messages/{message_id}(\?.*)?$")
    with serve(rt) as base, browser() as chromium:
        context = chromium.new_context()
        errors: list[str] = []
        context.on("weberror", lambda e: errors.append(str(e.error)))
        page = context.new_page()
        log_in(page, base, "alice", PASSWORD)
        page.goto(f"{base}/messages/{message_id}")
        editor, kept = page.locator("#draft-body"), page.locator("#unsaved-kept")
        drafted = editor.input_value()
        expect(kept).to_be_hidden()
        # Typing tells the others at once (static/presence.js): she is editing the draft.
        with page.expect_response(lambda r: r.url.endswith("/presence")) as beat:
            typed = _type_at_the_end(page, "\nP.S. Typed while the session ran out.")
        assert beat.value.json() == {"open_by": [], "notice": ""}, "nobody else has it open"
        with rt.factory() as session:
            assert session.scalars(select(MessagePresence.editing)).all() == [True]

        context.clear_cookies(name="responder_session")  # the session ends while they type
        page.click("#save-button")
        page.wait_for_url(f"{base}/login?*")
        expect(page.locator("#session-ended")).to_contain_text("nothing was changed")
        _sign_in_here(page, "alice")
        page.wait_for_url(review)

        expect(kept).to_be_visible()
        expect(kept).to_contain_text(re.compile(KEPT + r" \d{4}-\d\d-\d\d \d\d:\d\d"))
        expect(editor).to_have_value(drafted)  # offered, not put back unasked
        page.click("#unsaved-restore")
        expect(editor).to_have_value(typed)
        expect(kept).to_be_hidden()
        page.click("#save-button")
        page.wait_for_url(f"{base}/messages/{message_id}?notice=*")
        expect(page.locator("p.notice")).to_contain_text("Draft saved")
        page.reload()
        expect(editor).to_have_value(re.compile("Typed while the session ran out"))
        expect(kept).to_be_hidden()

        _type_at_the_end(page, "\nA second line, saved at once.")  # an ordinary save
        page.click("#save-button")
        page.wait_for_url(f"{base}/messages/{message_id}?notice=*")
        page.reload()
        expect(editor).to_have_value(re.compile("A second line, saved at once"))
        expect(kept).to_be_hidden()
        assert errors == [], "the pages' scripts ran without an error"

    with rt.factory() as session:
        saved = current_draft(session, message_id)
        assert saved is not None
        assert "Typed while the session ran out." in saved.body
        assert "A second line, saved at once." in saved.body


@on_sqlite_only
def test_text_in_a_closed_tab_is_offered_to_its_writer_only_and_can_be_discarded(
    rt: Runtime, message_id: int
) -> None:
    with serve(rt) as base, browser() as chromium:
        context = chromium.new_context()  # one browser profile shared by two people
        errors: list[str] = []
        context.on("weberror", lambda e: errors.append(str(e.error)))
        page = context.new_page()
        log_in(page, base, "alice", PASSWORD)
        page.goto(f"{base}/messages/{message_id}")
        drafted = page.locator("#draft-body").input_value()
        _type_at_the_end(page, "\nAlice's words, never saved.")
        page.close()  # the tab closes mid-edit

        page = context.new_page()
        page.goto(f"{base}/queue")
        page.click("form.logout button")
        log_in(page, base, "bob", PASSWORD)
        page.goto(f"{base}/messages/{message_id}")
        expect(page.locator("#draft-body")).to_have_value(drafted)
        expect(page.locator("#unsaved-kept")).to_be_hidden()  # not Bob's text to see

        page.click("form.logout button")
        log_in(page, base, "alice", PASSWORD)
        page.goto(f"{base}/messages/{message_id}")
        expect(page.locator("#unsaved-kept")).to_contain_text(KEPT)
        page.click("#unsaved-discard")
        expect(page.locator("#unsaved-kept")).to_be_hidden()
        expect(page.locator("#draft-body")).to_have_value(drafted)
        page.reload()
        expect(page.locator("#unsaved-kept")).to_be_hidden()

        # Correcting the intent writes the draft again: what she typed is not lost with the
        # version it was typed on, but offered on the new one.
        typed = _type_at_the_end(page, "\nTyped before the intent was corrected.")
        intent = "#correct-intent select"
        other = page.eval_on_selector(intent, "s => [...s.options].find(o => !o.selected).value")
        page.select_option(intent, other)
        page.click("#correct-intent button")
        page.wait_for_url(f"{base}/messages/{message_id}?notice=*")
        expect(page.locator("p.notice")).to_contain_text("The draft was written again for it")
        expect(page.locator("#unsaved-changed")).to_be_visible()
        expect(page.locator("#unsaved-same")).to_be_hidden()
        assert page.locator("#draft-body").input_value() != typed, "offered, not put back"
        restore = page.locator("#unsaved-restore")
        expect(restore).to_have_text("Put back what you typed")
        restore.click()
        expect(page.locator("#draft-body")).to_have_value(typed)

        _type_at_the_end(page, "\nApproved as typed.")  # approving lets go of the typing
        page.click("#approve-button")
        page.wait_for_url(lambda url: not url.endswith(f"/messages/{message_id}"))
        assert page.evaluate("Object.keys(window.localStorage)") == []
        assert errors == [], "the pages' scripts ran without an error"
    with rt.factory() as session:
        approved = current_draft(session, message_id)
        assert approved is not None and "Typed before the intent was corrected." in approved.body
