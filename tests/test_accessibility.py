"""Every page passes axe-core's WCAG 2.0/2.1 A and AA checks with no serious or critical
violation: staff work in these pages all day, some with a screen reader or the keyboard only, and
telecom operators must meet WCAG 2.1 AA."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from tests.browser_support import browser, log_in
from tests.live_server import serve
from tests.seeded_pages import PAGES, seed_every_list

PASSWORD = "correct horse battery"
WCAG_A_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
BLOCKING = {"serious", "critical"}
# the pages the phone test opens with its own mail (the queue, a message, search, a customer),
# then every page it opens on the seeded lists
WORK_PAGES = [
    "/queue",
    "/messages/{message}",
    "/search?q=Stranger",
    "/customers/{customer}",
    "/supervisor/acknowledgements",
]


def violations(axe: Axe, page: object, url: str, context: str | None = None) -> list[str]:
    """Each serious or critical violation on the open page: rule, element and what to do. Folded
    sections are unfolded first: axe skips what is hidden, and staff open them. A context (a CSS
    selector) checks only that part, such as a dialog just opened."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")  # type: ignore[attr-defined]
    found = axe.run(page, context=context, options=WCAG_A_AA).response["violations"]
    return [
        f"{url}: {rule['id']} ({rule['impact']}) {' '.join(node['target'])}: {rule['help']}"
        f"\n    {node['html'][:160]}"
        for rule in found
        for node in rule["nodes"]
        if (node.get("impact") or rule["impact"]) in BLOCKING
    ]


# where the focus is: its id, whether in an open dialog, and whether it is drawn (WCAG 2.4.7)
FOCUSED = """() => { const e = document.activeElement, s = getComputedStyle(e);
  return {id: e.id, inDialog: !!e.closest('dialog[open]'),
          drawn: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0} }"""
# typing kept in this browser for the draft on the page (static/unsaved.js), so it offers it back
KEEP_TYPING = """() => { const r = document.getElementById('review');
  localStorage.setItem(`responder.unsaved:${r.dataset.unsavedFor}:${r.dataset.unsavedDraft}`,
    JSON.stringify({text: 'Typed, not saved', at: Date.now()})); }"""


def after_actions(axe: Axe, page: object, url: str) -> list[str]:
    """The review page's parts that show only after an action: the shortcuts list (modal: it
    takes the focus, Escape closes it and gives the focus back), the approved answers and the
    offer of typing kept in this browser; then the page on a phone, which hides and moves parts,
    and the Undo send bar once its draft is approved there."""
    page.focus("#queue-link")  # type: ignore[attr-defined]
    page.keyboard.press("?")  # type: ignore[attr-defined]
    expect(page.locator("dialog#shortcuts")).to_be_visible()  # type: ignore[attr-defined]
    taken = page.evaluate(FOCUSED)  # type: ignore[attr-defined]
    assert taken["inDialog"] and taken["drawn"], f"the open shortcuts list has the focus: {taken}"
    problems = violations(axe, page, f"{url} shortcuts", context="#shortcuts")
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    expect(page.locator("dialog#shortcuts")).to_be_hidden()  # type: ignore[attr-defined]
    back = page.evaluate(FOCUSED)  # type: ignore[attr-defined]
    assert back["id"] == "queue-link", f"closed, the focus is back where it was: {back}"
    page.click("#shortcuts-button")  # type: ignore[attr-defined]  # a mouse or a finger opens it too
    expect(page.locator("dialog#shortcuts")).to_be_visible()  # type: ignore[attr-defined]
    taken = page.evaluate(FOCUSED)  # type: ignore[attr-defined]
    assert taken["inDialog"], f"opened by its button, the list has the focus: {taken}"
    page.click("dialog#shortcuts button")  # type: ignore[attr-defined]  # Close
    expect(page.locator("dialog#shortcuts")).to_be_hidden()  # type: ignore[attr-defined]
    back = page.evaluate(FOCUSED)  # type: ignore[attr-defined]
    assert back["id"] == "shortcuts-button", f"closed, the focus is back on the button: {back}"

    page.keyboard.press("i")  # type: ignore[attr-defined]
    expect(page.locator("#snippet-results li").first).to_be_visible()  # type: ignore[attr-defined]
    problems += violations(axe, page, f"{url} answers", context="#insert-snippet")

    page.evaluate(KEEP_TYPING)  # type: ignore[attr-defined]
    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]
    expect(page.locator("#unsaved-kept")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("#shortcuts-button")).to_be_visible()  # type: ignore[attr-defined]
    problems += violations(axe, page, f"{url} at 390 px")

    page.keyboard.press("a")  # type: ignore[attr-defined]  # approve: the next page offers Undo send
    expect(page.locator("#undo")).to_be_visible()  # type: ignore[attr-defined]
    return problems + violations(axe, page, f"{url} undo send", context="#undo")


# the markup does not depend on the database: the embedded one is enough
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_page_has_no_serious_wcag_a_or_aa_violation(rt: Runtime, worker: Worker) -> None:
    """Each page at desktop width, then the review page's parts shown by an action and the page
    on a phone (after_actions)."""
    ids = seed_every_list(rt, worker)
    rt.settings = msgspec.structs.replace(  # approved replies wait, so Undo send is offered
        rt.settings, outbound=msgspec.structs.replace(rt.settings.outbound, undo_seconds=60)
    )
    urls = list(dict.fromkeys([*WORK_PAGES, *(path for path, _ in PAGES)]))
    axe = Axe()
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/login")
        problems = violations(axe, page, "/login")
        log_in(page, base, "alice", PASSWORD)
        for path in urls:
            url = path.format(**ids)
            page.goto(base + url)
            problems += violations(axe, page, url)
        page.goto(base + f"/messages/{ids['message']}")
        problems += after_actions(axe, page, "/messages/{message}")
    assert not problems, f"{len(problems)} serious or critical:\n" + "\n".join(problems)


def _typed(field: str, change: Callable[[str, str], str]) -> Callable[[object, str], None]:
    """Changes the text in `field` as one tab's person would, by `change(text, tab)`."""

    def edit(page: object, tab: str) -> None:
        page.fill(field, change(page.input_value(field), tab))  # type: ignore[attr-defined]

    return edit


def _toml(page: object, tab: str) -> None:
    page.click("#actions-toml summary")  # type: ignore[attr-defined]
    text = page.input_value("#actions-text")  # type: ignore[attr-defined]
    days = "21" if tab == "first" else "7"
    page.fill("#actions-text", text.replace("contact_days = 14", f"contact_days = {days}"))  # type: ignore[attr-defined]


def _nothing(page: object, tab: str) -> None:
    """The button alone changes something (Move down)."""


#: Each refused save two people make of the same thing: the page both opened, what each
#: changes, the button each presses and what the second tab's refusal shows.
CONFLICTS: list[tuple[str, Callable[[object, str], None], str, str]] = [
    (
        "/messages/{message}",
        _typed("#draft-body", lambda text, tab: f"{text}\nTyped in the {tab} tab."),
        "#save-button",
        "#unsaved",
    ),
    (
        "/supervisor/templates/{template}",
        _typed("#body", lambda text, tab: f"{text}\n{{# {tab} tab #}}"),
        "#save",
        "#conflict",
    ),
    (
        "/supervisor/snippets/{snippet}",
        _typed("#body", lambda text, tab: f"{text}\nAs the {tab} tab put it."),
        "#save",
        "#conflict",
    ),
    ("/supervisor/rules", _toml, "#actions-save", "#actions-conflict"),
    (
        "/supervisor/action-rules/1",  # rule numbers are places in the list: the first
        _typed("#rule-label", lambda text, tab: f"{text} ({tab} tab)"),
        "#rule-save",
        "#actions-conflict",
    ),
    ("/supervisor/rules", _nothing, "#move-down-1", "#actions-conflict"),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_conflict_pages_have_no_serious_wcag_a_or_aa_violation(
    rt: Runtime, worker: Worker
) -> None:
    """What a save refused because someone else saved first shows (their change beside what
    was typed, kept to work in): two tabs open the same draft, template, snippet, rules or
    rule, the first saves, then the second; each refusal is checked as the page it is, at
    desktop width and on a phone."""
    ids = seed_every_list(rt, worker)
    axe = Axe()
    problems: list[str] = []
    with serve(rt) as base, browser() as chromium:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        log_in(context.new_page(), base, "alice", PASSWORD)
        for path, edit, button, refusal in CONFLICTS:
            url = path.format(**ids)
            first, second = context.new_page(), context.new_page()
            for page in (first, second):
                page.goto(base + url)
                page.wait_for_load_state()
            for tab, page in (("first", first), ("second", second)):
                edit(page, tab)
                with page.expect_navigation():
                    page.click(button)
            expect(first.locator(refusal)).to_have_count(0)
            expect(second.locator(refusal)).to_be_visible()
            problems += violations(axe, second, f"{url} refused by {button}")
            second.set_viewport_size({"width": 390, "height": 844})
            problems += violations(axe, second, f"{url} refused by {button} at 390 px")
            first.close()
            second.close()
    assert not problems, f"{len(problems)} serious or critical:\n" + "\n".join(problems)
