"""Before turning auto-send on, the page shows per mailbox and intent what staff made of its
drafts in the last 30 days, the classifier's held-out F1, and how many of those drafts would have
gone out unreviewed at the threshold set; before, it showed a bare field."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.classify.retrain import current_model
from responder.corrections import reclassify
from responder.db.models import Message, ReviewAction, StaffUser, utcnow
from responder.db.session import transaction
from responder.review import approve, reject
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import staff
from tests.supervisor.history import waiting_message
from tests.supervisor.test_retrain import trained_intent
from tests.test_web_security import csrf, login


def _cells(page: str, mailbox_id: int, intent: str) -> dict[str, str]:
    """The row's cells by column, as text."""
    table = page.split(f'id="auto-send-{mailbox_id}"', 1)[1].split("</table>", 1)[0]
    row = table.split(f'<tr data-intent="{intent}">', 1)[1].split("</tr>", 1)[0]
    return {
        label: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()
        for label, text in re.findall(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', row, re.S)
    }


def test_each_intent_shows_recent_decisions_f1_and_what_would_have_gone_out(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    staff(rt, "alice", "agent")
    trained_intent(rt)
    with rt.factory() as session:
        model = current_model(session, "intent")
        assert model is not None
        f1, held_out = model.per_class["roaming"]
    confident = {1: 0.97, 2: 0.93, 3: 0.85, 4: 0.95, 5: 0.99, 6: 0.99, 7: 0.98}
    ids = {n: waiting_message(rt, n) for n in confident}
    ids[8] = waiting_message(rt, 8, channel="sales")
    with transaction(rt.factory) as session:
        for n, confidence in confident.items():
            message = session.get(Message, ids[n])
            message.intent_confidence = confidence
            message.classification = {"intent": {"label": "roaming", "confidence": confidence}}
        alice = session.scalars(select(StaffUser).filter_by(username="alice")).one()
        approve(session, ids[1], alice, rt.settings.outbound)  # sent unchanged, 97% sure
        approve(session, ids[2], alice, rt.settings.outbound, body="Hello,\n\nBetter.\n")
        reject(session, ids[3], alice, "wrong plan")  # 85% sure: under a 90% threshold
        # The classifier said roaming at 95%; an agent said billing: still a roaming draft that
        # auto-send would have sent.
        reclassify(session, ids[4], alice, "intent", "billing_dispute")
        reject(session, ids[4], alice, "not about roaming")
        approve(session, ids[5], alice, rt.settings.outbound)  # decided 40 days ago: left out
        approve(session, ids[6], None, rt.settings.outbound, auto_submitted=True)  # not staff's
        approve(session, ids[8], alice, rt.settings.outbound)  # another mailbox
        session.execute(
            update(ReviewAction)
            .where(ReviewAction.message_id == ids[5])
            .values(created_at=utcnow() - timedelta(days=40))
        )
        support = session.get(Message, ids[1]).channel_id
        sales = session.get(Message, ids[8]).channel_id

    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/auto-send").text
        roaming = _cells(page, support, "roaming")
        assert roaming["Decided by staff, last 30 days"] == "4"
        assert roaming["Sent unchanged"] == "1 25%"
        assert roaming["Edited"] == "1 25%"
        assert roaming["Rejected"] == "2 50%"
        assert roaming["Classifier F1, held out"] == f"{f1:.0%} {held_out} examples"
        assert roaming["Would have gone out unreviewed"] == "off"
        assert _cells(page, sales, "roaming")["Decided by staff, last 30 days"] == "1"
        summary = re.search(
            r'data-mailbox="support" data-intent-title="Roaming" data-intent="roaming"'
            r' data-stored="" data-summary="([^"]+)"',
            page,
        )
        assert summary and summary.group(1).startswith(
            "In the last 30 days staff decided 4 Roaming drafts in support: 1 sent unchanged"
            " (25%), 1 edited (25%), 2 rejected (50%)."
        )

        token = csrf(client, "/supervisor/auto-send")
        client.post(
            "/supervisor/auto-send/set",
            data={
                "channel_id": str(support),
                "intent": "roaming",
                "threshold": "90",
                "_csrf_token": token,
            },
        )
        page = client.get("/supervisor/auto-send").text
        # 97%, 95% and 93% are at or over 90%; the 85% one would still have waited for a person
        assert _cells(page, support, "roaming")["Would have gone out unreviewed"] == (
            "3 of 4 at 90% staff edited 1, rejected 1"
        )
