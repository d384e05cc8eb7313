"""Staff work the queue in a real browser (Debian Chromium, headless), keyboard only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from responder.db.models import BlockedSender, Customer, Message
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from tests.browser_support import ARTIFACTS, browser, log_in, on_sqlite_only
from tests.helpers import drop, make_email, sent_replies, staff
from tests.live_server import serve

PASSWORD = "correct horse battery"


@pytest.fixture
def three_drafts(rt: Runtime, worker: Worker, demo_customers: None) -> None:
    people = [
        ("Aoife Murphy <aoife.murphy@gmail.test>", "Roaming charges on my bill"),
        ("Declan Brennan <declan.brennan@brennanlogistics.test>", "No signal at the depot"),
        ("Stranger <someone@else.test>", "Cancel my contract"),
    ]
    for number, (sender, subject) in enumerate(people):
        raw = make_email(
            sender=sender,
            subject=subject,
            body=f"{subject}. Please help, this is urgent.",
            message_id=f"<b{number}@mail.test>",
        )
        drop(rt, raw, f"browser-{number}")
    worker.drain()
    staff(rt, "alice")


@on_sqlite_only
def test_work_through_three_drafts_by_keyboard(
    rt: Runtime, worker: Worker, three_drafts: None
) -> None:
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        log_in(page, base, "alice", PASSWORD)
        assert page.locator("table.queue tbody tr").count() == 3
        page.keyboard.press("?")  # the list of shortcuts, closed again with Escape
        expect(page.locator("dialog#shortcuts")).to_be_visible()
        expect(page.locator("dialog#shortcuts")).to_contain_text("approve and send")
        page.keyboard.press("Escape")
        expect(page.locator("dialog#shortcuts")).to_be_hidden()
        page.keyboard.press("j")  # open the first draft
        page.wait_for_selector("#draft-body")
        first_subject = page.locator("h1").inner_text()
        page.keyboard.press("j")  # on to the next draft, and back with k
        expect(page.locator("h1")).not_to_have_text(first_subject)
        page.keyboard.press("k")
        expect(page.locator("h1")).to_have_text(first_subject)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "review-page.png"), full_page=True)

        before = page.url
        page.keyboard.press("a")  # approve as drafted; the next draft opens
        page.wait_for_url(lambda url: url != before)
        second_subject = page.locator("h1").inner_text()

        page.keyboard.press("e")  # edit, then approve from the editor
        page.keyboard.press("Control+End")
        page.keyboard.type("\nP.S. We have also added a EUR 10 credit to your account.")
        before = page.url
        page.keyboard.press("Control+Enter")
        page.wait_for_url(lambda url: url != before)
        third_subject = page.locator("h1").inner_text()

        page.keyboard.press("r")  # reject with a reason
        page.keyboard.type("Duplicate of a ticket handled by phone")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/queue?notice=*")
        assert "Nothing waiting" in page.content()
        expect(page.locator("p.notice")).to_contain_text("nothing was sent to the customer")

        page.keyboard.press("/")  # search: the box has the focus
        page.wait_for_url(f"{base}/search")
        page.keyboard.type(third_subject[:12])
        page.keyboard.press("Enter")
        page.wait_for_selector("table#messages")
        assert third_subject in page.locator("table#messages").inner_text()

    worker.drain()
    replies = sent_replies(rt)
    assert sorted(r["Subject"] for r in replies) == sorted(
        [f"Re: {first_subject}", f"Re: {second_subject}"]
    )
    edited = next(r for r in replies if r["Subject"] == f"Re: {second_subject}")
    assert "EUR 10 credit" in edited.get_body(("plain",)).get_content()
    with rt.factory() as session:
        rejected = session.scalar(select(Message).where(Message.subject == third_subject))
        assert rejected.state == "rejected"
        assert rejected.state_reason == "Duplicate of a ticket handled by phone"


@on_sqlite_only
def test_the_spam_button_asks_before_it_blocks_the_sender(rt: Runtime, worker: Worker) -> None:
    """Blocking a sender is one slip of the mouse away: the browser asks first, and a "no"
    leaves the draft in the queue and the sender free to write."""
    raw = make_email(
        sender="Crypto Deals <deals@bulk-offers.test>",
        subject="Double your money",
        body="Invest now in our crypto fund and get 300% back within a week, guaranteed.",
        message_id="<spam@bulk-offers.test>",
    )
    drop(rt, raw, "spam")
    worker.drain()
    staff(rt, "alice")
    with rt.factory() as session:
        spam_id = session.scalars(select(Message.id).where(Message.direction == "in")).one()

    def sender_blocked() -> bool:
        with rt.factory() as session:
            return session.scalar(select(func.count()).select_from(BlockedSender)) > 0

    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        log_in(page, base, "alice", PASSWORD)
        # The queue's bulk Spam button asks the same way, and a "no" sends nothing.
        page.check(f'tr[data-id="{spam_id}"] input[name=ids]')
        bulk: list[str] = []
        page.once("dialog", lambda dialog: (bulk.append(dialog.message), dialog.dismiss()))
        page.click('#bulk button[value="spam"]')
        expect(page.locator('#bulk button[value="spam"]')).to_be_visible()
        assert bulk and "block each sender" in bulk[0]
        assert not sender_blocked()
        page.goto(f"{base}/messages/{spam_id}")
        asked: list[str] = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        page.click("#spam button")
        expect(page.locator("#spam button")).to_be_visible()
        assert asked and "Block deals@bulk-offers.test as spam?" in asked[0]
        assert page.url == f"{base}/messages/{spam_id}"
        with rt.factory() as session:
            assert session.get(Message, spam_id).state == "in_review"
        assert not sender_blocked()

        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            page.click("#spam button")
        expect(page.locator("p.notice")).to_contain_text(
            "Rejected as spam: deals@bulk-offers.test is now blocked"
        )
    with rt.factory() as session:
        assert session.get(Message, spam_id).state == "rejected"
    assert sender_blocked()


HOSTILE_HTML = """<html><head><style>body{background:url(javascript:alert(1))}
.x{position:fixed;top:0;left:0;width:100%;height:100%;background:red}</style></head>
<body onload="window.top.__xss='onload'">
<script>window.top.__xss = 'script';</script>
<img src="x" onerror="window.top.__xss='onerror'">
<a href="javascript:window.top.__xss='link'" id="evil">Click for your refund</a>
<svg><script>window.top.__xss='svg'</script></svg>
<iframe src="javascript:window.top.__xss='iframe'"></iframe>
<div class="x" style="position:fixed;top:0;left:0;width:100%;height:100%">overlay</div>
<p>My bill is wrong, please check.</p></body></html>"""


@on_sqlite_only
def test_hostile_html_email_runs_nothing_in_the_browser(rt: Runtime, worker: Worker) -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "Mallory <mallory@evil.test>"
    msg["To"] = "support@northwind-mobile.test"
    msg["Subject"] = "<script>window.__xss='subject'</script> bill"
    msg["Message-ID"] = "<xss@evil.test>"
    msg.set_content("My bill is wrong, please check.")
    msg.add_alternative(HOSTILE_HTML, subtype="html")
    drop(rt, msg.as_bytes(), "xss")
    worker.drain()
    staff(rt, "alice")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        log_in(page, base, "alice", PASSWORD)
        page.goto(f"{base}/messages/1")
        page.click("summary:has-text('Formatted version')")
        frame = page.frame_locator("iframe.html-body")
        frame.locator("text=My bill is wrong").wait_for()
        evil_links = frame.locator("#evil")
        if evil_links.count():
            evil_links.click()
        page.wait_for_timeout(300)
        assert page.evaluate("window.__xss") is None
        assert dialogs == []
        html_inside = page.locator("iframe.html-body").get_attribute("srcdoc")
        for marker in ("<script", "onerror", "onload", "javascript:"):
            assert marker not in html_inside.lower()
        assert "&lt;script&gt;" in page.content() or "<script>window.__xss" not in page.content()


@on_sqlite_only
def test_insert_an_approved_answer_into_the_draft_by_keyboard(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    drop(rt, make_email(), "roaming")
    worker.drain()
    staff(rt, "alice")
    with rt.factory() as session:
        message_id = session.scalar(select(Message.id).where(Message.direction == "in"))
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        log_in(page, base, "alice", PASSWORD)
        page.goto(f"{base}/messages/{message_id}")
        drafted = page.locator("#draft-body").input_value()
        page.keyboard.press("i")  # the answer finder opens with the draft's suggestions
        page.wait_for_selector("#snippet-results li")
        assert page.locator("#snippet-results li small").first.inner_text().endswith("suggested")
        page.keyboard.type("a stranger got into my login")  # no answer holds all these words
        expect(page.locator("#snippet-results li strong").first).to_have_text(
            "Someone else may be in your account"
        )
        expect(page.locator("#snippet-results li small").first).to_contain_text("close in meaning")
        page.fill("#snippet-search", "")
        page.keyboard.type("spending cap")
        # Playwright's own waits: the page's CSP forbids the eval behind wait_for_function.
        expect(page.locator("#snippet-results li strong").first).to_have_text(
            "Roaming spending cap"
        )
        page.keyboard.press("Enter")  # inserts the first answer; the form is not sent
        expect(page.locator("#draft-body")).to_have_value(re.compile("EUR 60 per bill period"))
        assert page.url.endswith(f"/messages/{message_id}")
        edited = page.locator("#draft-body").input_value()
        assert edited.startswith(drafted.rstrip()), "inserted after the draft, which stays whole"
        assert "Read it through" in page.locator("#snippet-status").inner_text()
        page.keyboard.press("Control+Enter")  # the cursor is in the draft: approve from there
        page.wait_for_url(lambda url: not url.endswith(f"/messages/{message_id}"))

    worker.drain()
    (reply,) = sent_replies(rt)
    assert "EUR 60 per bill period" in reply.get_body(("plain",)).get_content()


@on_sqlite_only
def test_an_answer_for_another_tier_is_shown_with_why_and_enter_does_not_insert_it(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """Aoife, Worst tier, wants to cancel: "loyalty" shows the Best tier's offer, marked, its
    button off; Enter puts nothing of it into the draft."""
    body = "I want to cancel my contract at the end of the month."
    drop(rt, make_email(subject="Cancel my contract", body=body), "cancel")
    worker.drain()
    staff(rt, "alice")
    with transaction(rt.factory) as session:
        message = session.scalars(select(Message).where(Message.direction == "in")).one()
        session.get(Customer, message.customer_id).tier = "Worst"
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        log_in(page, base, "alice", PASSWORD)
        page.goto(f"{base}/messages/{message.id}")
        page.keyboard.press("i")
        page.wait_for_selector("#insert-snippet[open]")
        page.keyboard.type("loyalty offer")
        offer = page.locator("#snippet-results li", has_text="Loyalty offer for our most valued")
        expect(offer).to_contain_text("Not for this customer: Best tier only.")
        expect(offer.locator("button")).to_be_disabled()
        page.keyboard.press("Enter")
        assert "20%" not in page.locator("#draft-body").input_value()
        assert page.url.endswith(f"/messages/{message.id}")
