"""Every page passes axe-core's WCAG 2.0/2.1 A and AA checks with no serious or critical
violation: staff work in these pages all day, some with a screen reader or the keyboard only, and
telecom operators must meet WCAG 2.1 AA."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

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


def violations(axe: Axe, page: object, url: str) -> list[str]:
    """Each serious or critical violation on the open page: rule, element and what to do. Folded
    sections are unfolded first: axe skips what is hidden, and staff open them."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")  # type: ignore[attr-defined]
    found = axe.run(page, options=WCAG_A_AA).response["violations"]
    return [
        f"{url}: {rule['id']} ({rule['impact']}) {' '.join(node['target'])}: {rule['help']}"
        f"\n    {node['html'][:160]}"
        for rule in found
        for node in rule["nodes"]
        if (node.get("impact") or rule["impact"]) in BLOCKING
    ]


# the markup does not depend on the database: the embedded one is enough
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_page_has_no_serious_wcag_a_or_aa_violation(rt: Runtime, worker: Worker) -> None:
    ids = seed_every_list(rt, worker)
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
    assert not problems, f"{len(problems)} serious or critical:\n" + "\n".join(problems)
