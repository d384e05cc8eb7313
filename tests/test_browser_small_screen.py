"""Every page, on a phone (390 px wide): nothing makes the page scroll sideways, and each page's
main button is on the screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from responder.db.models import Customer, Message
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from tests.browser_support import ARTIFACTS, browser, log_in
from tests.helpers import drop, make_email, staff
from tests.live_server import serve
from tests.seeded_pages import PAGES, seed_every_list

PASSWORD = "correct horse battery"
PHONE = {"width": 390, "height": 844}

# the elements sticking out past the right edge, to say what is too wide when a page is
WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .slice(0, 8)
  .map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${e.className} `
    + `right=${Math.round(e.getBoundingClientRect().right)}`)"""

# how many lines an element's text takes
LINES = """e => { const r = document.createRange(); r.selectNodeContents(e);
  return new Set([...r.getClientRects()].map(c => Math.round(c.top))).size }"""


def too_wide(page: object, name: str) -> list[str]:
    """What makes the page scroll sideways, if anything (a screenshot of it either way)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)  # type: ignore[attr-defined]
    width, inner = page.evaluate(  # type: ignore[attr-defined]
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    if width <= inner:
        return []
    sticking_out = ", ".join(page.evaluate(WIDER_THAN_SCREEN))  # type: ignore[attr-defined]
    return [f"{name}: {width} px wide on a {inner} px screen ({sticking_out})"]


def off_screen(page: object, name: str, selector: str) -> list[str]:
    box = page.locator(selector).first.bounding_box()  # type: ignore[attr-defined]
    if box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]:
        return []
    return [f"{name}: {selector} is not within the screen's width: {box}"]


# the layout does not depend on the database: the embedded one is enough
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_queue_review_search_and_customer_pages_fit_a_phone(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    people = [
        ("Aoife Murphy <aoife.murphy@gmail.test>", "Charged twice this month"),
        ("Declan Brennan <declan.brennan@brennanlogistics.test>", "No signal at the depot"),
        ("Stranger <someone.with.a.long.address@somewhere-far-away.test>", "Cancel my contract"),
    ]
    for number, (sender, subject) in enumerate(people):
        raw = make_email(
            sender=sender,
            subject=subject,
            body=f"{subject}. Please help, this is urgent.",
            message_id=f"<p{number}@mail.test>",
        )
        drop(rt, raw, f"phone-{number}")
    worker.drain()
    staff(rt, "alice", role="admin")  # every link in the navigation
    with rt.factory() as session:
        aoife = session.scalar(select(Customer.id).where(Customer.name == "Aoife Murphy"))
        message = session.scalar(
            select(Message.id).where(Message.subject == "Charged twice this month")
        )
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page(viewport=PHONE)
        page.goto(f"{base}/login")
        problems = too_wide(page, "login")
        log_in(page, base, "alice", PASSWORD)
        assert page.locator("table.queue tbody tr").count() == 3
        problems += too_wide(page, "queue")

        page.goto(f"{base}/messages/{message}")
        problems += too_wide(page, "review")
        problems += off_screen(page, "review", "#approve-button")
        problems += off_screen(page, "review", "aside.panel")
        # The draft comes after the whole side panel: one tap takes the agent there.
        page.click("#jump-to-draft")
        expect(page.locator("#approve-button")).to_be_in_viewport()

        page.goto(f"{base}/search?q=Murphy")
        page.wait_for_selector("table#customers")
        page.wait_for_selector("table#messages")
        problems += too_wide(page, "search")

        page.goto(f"{base}/customers/{aoife}")
        problems += too_wide(page, "customer")
        problems += off_screen(page, "customer", "aside.panel")

        page.goto(f"{base}/supervisor/acknowledgements")  # long raw texts wrap
        problems += too_wide(page, "acknowledgements")

        desk = chromium.new_page(viewport={"width": 1280, "height": 900})
        log_in(desk, base, "alice", PASSWORD)
        expect(desk.locator("table.queue th:has-text('Subject')")).to_be_visible()
        desk.goto(f"{base}/messages/{message}")
        expect(desk.locator("#jump-to-draft")).to_be_hidden()
        text, panel = (desk.locator(s).bounding_box() for s in ("section.message", "aside.panel"))
        assert text and panel and panel["x"] > text["x"] + text["width"], "side by side"
    assert not problems, "\n".join(problems)


# the layout does not depend on the database: the embedded one is enough
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_other_page_fits_a_phone_with_its_main_button_on_screen(
    rt: Runtime, worker: Worker
) -> None:
    ids = seed_every_list(rt, worker)
    problems: list[str] = []
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page(viewport=PHONE)
        log_in(page, base, "alice", PASSWORD)
        for path, action in PAGES:
            url = path.format(**ids)
            page.goto(base + url)
            name = re.sub(r"[/?&]", "-", url.strip("/"))
            button = page.locator(action).first
            expect(button).to_be_visible()
            problems += too_wide(page, name)
            # down to it as a person scrolls the page; never sideways inside a table's box
            button.evaluate("e => window.scrollBy(0, e.getBoundingClientRect().top - 100)")
            problems += off_screen(page, name, action)

        # A wide window keeps the tables as tables, one row a line under their headings.
        desk = chromium.new_page(viewport={"width": 1280, "height": 900})
        log_in(desk, base, "alice", PASSWORD)
        desk.goto(f"{base}/admin/staff")
        expect(desk.locator("#staff th:has-text('Reset password')")).to_be_visible()
        rows = desk.locator("#staff tbody tr")
        assert rows.first.evaluate("e => getComputedStyle(e).display") == "table-row"
        assert rows.first.bounding_box()["height"] < 60, "one line"
        # A time, a menu link and the Log out button each keep to one line there too.
        desk.goto(f"{base}/problems")
        for selector in ("#problems td.moment", "a[href='/supervisor/blocked']", ".logout button"):
            assert desk.locator(selector).first.evaluate(LINES) == 1, f"{selector}: one line"
    assert not problems, "\n".join(problems)
