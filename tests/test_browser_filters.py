"""The filter forms as a browser sends them: every field, the "all" choices empty."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from responder.db.models import Channel, Message
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from tests.browser_support import browser, log_in
from tests.helpers import drop, make_email, staff
from tests.live_server import serve

PASSWORD = "correct horse battery"


# the forms' fields and their parsing do not touch the database: the embedded one is enough
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_queue_and_search_filters_submitted_from_the_page(rt: Runtime, worker: Worker) -> None:
    rt.settings.queue.watch_seconds = 1  # the open queue page asks every second
    for number, subject in enumerate(["Roaming charges in Spain", "Cancel my contract"]):
        raw = make_email(
            subject=subject, body=f"{subject}, please.", message_id=f"<f{number}@mail.test>"
        )
        drop(rt, raw, f"filter-{number}")
    worker.drain()
    staff(rt, "alice")
    with transaction(rt.factory) as session:  # a channel nothing came in on
        idle = Channel(name="WhatsApp", kind="whatsapp", address="+3531000")
        session.add(idle)
        session.flush()
        whatsapp = idle.id
    with rt.factory() as session:
        intents = dict(session.execute(select(Message.subject, Message.intent)).all())
        # the days they came in (one, unless it was midnight): the team's calendar is UTC's
        first, last = session.execute(
            select(func.min(Message.received_at), func.max(Message.received_at))
        ).one()
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        log_in(page, base, "alice", PASSWORD)
        expect(page.locator("table.queue tbody tr")).to_have_count(2)
        # customers not on file have no tier: a "none" choice would be "all" again
        expect(page.locator("select[name=tier] option")).to_have_text(["all"])
        page.select_option("form.filters select[name=intent]", intents["Cancel my contract"])
        page.click("form.filters button:has-text('Filter')")
        page.wait_for_url("**/queue?channel=&intent=*")
        expect(page.locator("table.queue tbody tr")).to_have_count(1)
        expect(page.locator("table.queue tbody")).to_contain_text("Cancel my contract")
        page.select_option("form.filters select[name=channel]", str(whatsapp))
        page.click("form.filters button:has-text('Filter')")
        page.wait_for_url(f"**/queue?channel={whatsapp}&intent=*")
        expect(page.locator("p.empty")).to_contain_text("No drafts match these filters")
        expect(page.locator("form.filters select[name=channel]")).to_have_value(str(whatsapp))
        # the intent chosen is still shown chosen (0 waiting there): the form never says "all"
        # while it narrows the list
        chosen = page.locator("form.filters select[name=intent]")
        expect(chosen).to_have_value(intents["Cancel my contract"])
        expect(chosen.locator("option:checked")).to_contain_text("(0)")
        page.click("#clear-filters")
        expect(page.locator("table.queue tbody tr")).to_have_count(2)
        expect(page.locator("form.filters select[name=channel]")).to_have_value("")
        # mail comes in while the page is open: it says so, and does not reload under the agent
        later = make_email(subject="No signal", body="No signal at home.", message_id="<f9@t>")
        drop(rt, later, "filter-9")
        worker.drain()
        expect(page.locator("#queue-changes")).to_have_text("1 new draft came in. Show them")
        expect(page.locator("table.queue tbody tr")).to_have_count(2)
        page.click("#show-new")
        expect(page.locator("table.queue tbody tr")).to_have_count(3)
        expect(page.locator("#queue-changes")).to_have_text("")

        page.goto(f"{base}/search?q=please")
        expect(page.locator("#messages tbody tr")).to_have_count(2)
        page.select_option("#state", "answered")
        page.click("form[role=search] button")
        page.wait_for_url("**/search?q=please&state=answered&channel=&since=&until=")
        expect(page.locator("main")).to_contain_text("No message matches here")
        page.select_option("#state", "waiting")
        page.click("form[role=search] button")
        expect(page.locator("#messages tbody tr")).to_have_count(2)
        page.fill("#since", str(last.date() + timedelta(days=1)))
        page.click("form[role=search] button")
        expect(page.locator("main")).to_contain_text("No message matches here")
        page.fill("#since", str(first.date()))
        page.fill("#until", str(last.date()))
        page.click("form[role=search] button")
        expect(page.locator("#messages tbody tr")).to_have_count(2)
