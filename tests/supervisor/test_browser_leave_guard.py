"""A supervisor who typed into a template, snippet or the rules and clicks away is asked first
(Debian Chromium): the work was lost without a word before."""

from __future__ import annotations

from responder.runtime import Runtime
from tests.browser_support import browser, on_sqlite_only
from tests.helpers import staff
from tests.live_server import serve
from tests.supervisor.history import waiting_message
from tests.supervisor.test_browser_supervisor import _log_in


def _leaving_asks(page: object, link: str) -> bool:
    """Clicks a link; True when the browser asked before leaving (the answer keeps the page)."""
    asked: list[str] = []

    def stay(dialog: object) -> None:
        asked.append(dialog.type)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", stay)  # type: ignore[attr-defined]
    page.click(link)  # type: ignore[attr-defined]
    page.wait_for_timeout(700)  # type: ignore[attr-defined]
    page.remove_listener("dialog", stay)  # type: ignore[attr-defined]
    return asked == ["beforeunload"]


@on_sqlite_only
def test_leaving_a_template_with_unsaved_edits_asks_first(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    waiting_message(rt, 1)
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("text=Roaming — English")
        page.wait_for_selector("#body")
        page.wait_for_load_state()  # editor.js listens: a fill before it runs previews nothing
        editor = page.url

        # Choosing another message to preview is not an edit: leaving does not ask.
        page.select_option("#preview-message", index=1)
        assert not _leaving_asks(page, "text=← Templates and snippets")
        page.wait_for_url(f"{base}/supervisor/templates")

        page.goto(editor)
        page.fill("#body", page.input_value("#body") + "\nSee you soon.")
        assert _leaving_asks(page, "text=← Templates and snippets")
        assert page.url == editor and page.input_value("#body").endswith("See you soon.")

        # A refused save puts the text back on the page; it is still not saved.
        page.fill("#body", "{% if %}")
        page.click("#save")
        page.wait_for_selector("#save-error")
        assert _leaving_asks(page, "text=← Templates and snippets")

        # Saving is not leaving.
        page.fill("#body", '{% extends "layout.en.j2" %}{% block body %}Hi.{% endblock %}')
        asked: list[str] = []
        page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
        page.click("#save")
        page.locator("#notice").filter(has_text="version 2 is live").wait_for()
        assert asked == []


@on_sqlite_only
def test_leaving_a_new_snippet_or_the_rules_half_written_asks_first(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.goto(f"{base}/supervisor/snippets/new")
        assert not _leaving_asks(page, "text=← Templates and snippets")
        page.goto(f"{base}/supervisor/snippets/new")
        page.fill("#body", "On a cruise ship your phone uses a satellite network.")
        assert _leaving_asks(page, "text=← Templates and snippets")

        page.goto(f"{base}/supervisor/rules")
        page.click("#actions-toml summary")
        page.fill("#actions-text", page.input_value("#actions-text") + "\n# a note\n")
        assert _leaving_asks(page, "header >> text=Dashboard")

        page.goto(f"{base}/supervisor/action-rules/new")
        page.fill("#rule-name", "roaming_refund")
        assert _leaving_asks(page, "text=← Tone and action rules")
