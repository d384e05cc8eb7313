"""Auto-send per mailbox and intent: off by default, validated, every change audit-logged."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import AuditEntry, Channel
from responder.db.session import transaction
from responder.runtime import Runtime
from responder.supervisor.auto_send import set_auto_send
from responder.web.app import create_app
from tests.helpers import staff
from tests.lock_waits import statement_seen, until_waiting
from tests.supervisor.history import waiting_message
from tests.test_web_security import csrf, login


def threshold_field(page: str, intent: str) -> str:
    """The value in the intent's threshold field, as the page shows it."""
    form = page.split(f'data-intent="{intent}" data-stored=', 1)[1]
    return form.split('name="threshold"', 1)[1].split('value="', 1)[1].split('"', 1)[0]


def test_the_threshold_is_a_percentage_and_a_fraction_is_refused_in_its_field(
    rt: Runtime,
) -> None:
    """ "0.9" could be 90% or a slip for 9%: it is refused, not read as 90%, and stays in the
    field with the reason beside it; 90 and 90% are the same, stored as 0.9 as before."""
    staff(rt, "sue", "supervisor")
    waiting_message(rt, 1, channel="support")
    with rt.factory() as session:
        channel = session.scalar(select(Channel).where(Channel.name == "support"))
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/auto-send").text
        assert "Send unreviewed when confidence is at least (in %)" in page
        token = csrf(client, "/supervisor/auto-send")
        form = {"channel_id": str(channel.id), "intent": "roaming", "_csrf_token": token}
        refused = client.post("/supervisor/auto-send/set", data={**form, "threshold": "0.9"})
        assert (
            'id="threshold-error">&#39;0.9&#39; looks like a fraction: give the confidence in '
            "percent, like 90 for 90%</small>" in refused.text
        )
        assert threshold_field(refused.text, "roaming") == "0.9"
        assert 'aria-invalid="true"' in refused.text.split('data-intent="roaming" data-stored=')[1]
        assert threshold_field(refused.text, "outage") == ""
        with rt.factory() as session:
            assert session.get(Channel, channel.id).auto_send == {}
        for typed in ("90", "90 %"):
            on = client.post("/supervisor/auto-send/set", data={**form, "threshold": typed})
            assert "is on at 90% confidence or more" in on.text
            assert threshold_field(on.text, "roaming") == "90"
            with rt.factory() as session:
                assert session.get(Channel, channel.id).auto_send == {"roaming": 0.9}


def test_set_and_clear_auto_send(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    waiting_message(rt, 1, channel="support")
    with rt.factory() as session:
        channel = session.scalar(select(Channel).where(Channel.name == "support"))
        assert channel.auto_send == {}
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, "/supervisor/auto-send")
        form = {"channel_id": str(channel.id), "intent": "roaming", "_csrf_token": token}
        too_low = client.post("/supervisor/auto-send/set", data={**form, "threshold": "20"})
        assert "between 50% and 100%" in too_low.text
        on = client.post("/supervisor/auto-send/set", data={**form, "threshold": "92%"})
        assert "Auto-send for roaming is on at 92% confidence or more" in on.text
        assert 'placeholder="off" aria-label="roaming in support' in on.text
        assert threshold_field(on.text, "roaming") == "92"
        unknown = client.post(
            "/supervisor/auto-send/set", data={**form, "intent": "horoscope", "threshold": "90"}
        )
        assert "not an intent" in unknown.text
        with rt.factory() as session:
            assert session.get(Channel, channel.id).auto_send == {"roaming": 0.92}
        off = client.post("/supervisor/auto-send/set", data={**form, "threshold": ""})
        assert "is off" in off.text
    with rt.factory() as session:
        assert session.get(Channel, channel.id).auto_send == {}
        changes = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "auto_send.set").order_by(AuditEntry.id)
        ).all()
    assert [(c.actor, c.detail["previous"], c.detail["threshold"]) for c in changes] == [
        ("sue", None, 0.92),
        ("sue", 0.92, None),
    ]


def test_two_changes_to_one_mailbox_at_the_same_moment_both_hold(rt: Runtime) -> None:
    """Tom turns roaming on while sue's change for outage comes in: hers waits for his to
    commit, then reads his, so the mailbox keeps both (her stale copy written back would have
    dropped his roaming, the audit log still saying it was set)."""
    staff(rt, "sue", "supervisor")
    waiting_message(rt, 1, channel="support")
    with rt.factory() as session:
        channel = session.scalar(select(Channel).where(Channel.name == "support"))
    answers: list[str] = []
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, "/supervisor/auto-send")
        form = {"channel_id": str(channel.id), "intent": "outage", "_csrf_token": token}
        with _writes_to_channels(rt) as writing, transaction(rt.factory) as session:
            set_auto_send(session, channel.id, "roaming", "90", "tom")
            session.flush()  # his change is in the database, not yet committed
            sue = threading.Thread(
                target=lambda: answers.append(
                    client.post("/supervisor/auto-send/set", data={**form, "threshold": "95"}).text
                )
            )
            sue.start()
            until_waiting(rt, sue, writing)
        sue.join(timeout=120)
    assert answers and "Auto-send for outage is on at 95% confidence or more" in answers[0]
    with rt.factory() as session:
        assert session.get(Channel, channel.id).auto_send == {"roaming": 0.9, "outage": 0.95}
        changes = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "auto_send.set")
        ).all()
    assert sorted(changes) == ["sue", "tom"]


def _writes_to_channels(rt: Runtime) -> AbstractContextManager[threading.Event]:
    """Set when a thread other than this one writes to or locks the mailboxes' table (sue's
    request about to wait for tom's lock)."""
    main = threading.get_ident()

    def locks(statement: str) -> bool:
        words = statement.upper()
        touches = words.startswith("UPDATE CHANNELS") or "FOR UPDATE" in words
        return threading.get_ident() != main and touches

    return statement_seen(rt, locks)
