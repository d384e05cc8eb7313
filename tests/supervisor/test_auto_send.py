"""Auto-send per mailbox and intent: off by default, validated, every change audit-logged."""

from __future__ import annotations

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import AuditEntry, Channel
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import staff
from tests.supervisor.history import waiting_message
from tests.test_web_security import csrf, login


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
        too_low = client.post("/supervisor/auto-send/set", data={**form, "threshold": "0.2"})
        assert "between 0.5 and 1" in too_low.text
        on = client.post("/supervisor/auto-send/set", data={**form, "threshold": "92%"})
        assert "Auto-send for roaming is on above 92%" in on.text
        unknown = client.post(
            "/supervisor/auto-send/set", data={**form, "intent": "horoscope", "threshold": "0.9"}
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
