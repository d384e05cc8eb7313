"""Outage drafts tell the truth about the network: a recorded incident that fits the message is
described (areas, start, expected fix, note); otherwise the draft says we know of no fault in
the customer's area and what to try. A fix time already passed is not promised. The review
page shows which incident a draft used, and warns when the fix it promised has passed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Draft, Message
from responder.drafting import incident_changed, incident_facts
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.test_web_security import csrf, login

INCIDENT = {
    "title": "Mast fault, Galway city",
    "areas": ["Galway", "Salthill"],
    "started_at": "2026-12-05T07:30:00+00:00",
    "expected_fix_at": "2026-12-06T18:00:00+00:00",
    "public_note": "Crews are on site at the Salthill mast.",
}
FAULT_WORDING = "We know of a network fault in Galway, Salthill since 5 December 2026"
NO_FAULT_WORDING = "We see no known fault in your area right now"
CLAIMED_BEFORE = "We are aware of a network fault"
#: The morning the drafts are written, before the 18:00 fix; and 40 minutes after it.
MORNING = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
EVENING = datetime(2026, 12, 6, 18, 40, tzinfo=UTC)
NO_NEW_TIME = (
    "The repair is taking longer than we first expected, and we don't have a new time for "
    "service to be back yet."
)


def clock_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Drafts are written, and the review page judges them, at `moment`."""
    for module in (incident_facts, incident_changed):
        monkeypatch.setattr(module, "utcnow", lambda: moment)


@pytest.fixture(autouse=True)
def morning(monkeypatch: pytest.MonkeyPatch) -> None:
    clock_at(monkeypatch, MORNING)


def outage_email(number: int, place: str) -> bytes:
    return make_email(
        sender=f"Kevin Byrne <kevin{number}@example.test>",
        subject="No signal",
        body=(
            f"Phone is on SOS only since I woke up, here in {place}. My wife's phone is the "
            "same, she's on Northwind too. No calls, no texts, no data. Is there a problem "
            "with the network?"
        ),
        message_id=f"<outage{number}@mail.test>",
    )


def draft_of(rt: Runtime, number: int) -> tuple[int, Draft]:
    with rt.factory() as session:
        message = session.scalars(
            select(Message).where(Message.message_id_header == f"<outage{number}@mail.test>")
        ).one()
        draft = session.scalars(select(Draft).where(Draft.message_id == message.id)).one()
    assert message.intent == "outage", "the demo classifier reads this as an outage"
    assert not draft.error
    return message.id, draft


def test_a_draft_names_the_incident_in_the_customers_area_until_it_is_resolved(
    rt: Runtime, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        sue = api_token(client, "sue")
        created = client.post("/api/supervisor/incidents", headers=sue, json=INCIDENT)
        assert created.status_code == 201, created.text
        drop(rt, outage_email(1, "sálthill"), "salthill")
        drop(rt, outage_email(2, "Douglas in Cork"), "cork")
        worker.drain()
        fits_id, fits = draft_of(rt, 1)
        assert FAULT_WORDING in fits.body
        assert "We expect service to be back by 18:00 on 6 December 2026." in fits.body
        assert "Crews are on site at the Salthill mast." in fits.body
        assert NO_FAULT_WORDING not in fits.body and CLAIMED_BEFORE not in fits.body
        elsewhere_id, elsewhere = draft_of(rt, 2)
        assert NO_FAULT_WORDING in elsewhere.body and "Galway" not in elsewhere.body
        assert CLAIMED_BEFORE not in elsewhere.body

        login(client, "sue")
        panel = client.get(f"/messages/{fits_id}").text
        assert 'id="draft-incident"' in panel and "Mast fault, Galway city" in panel
        other = client.get(f"/messages/{elsewhere_id}").text
        assert "No active incident matched this message" in other
        assert 'href="/supervisor/incidents"' in other
        assert "fix time passed" not in panel and 'id="incident-changed"' not in panel

        # 18:40: the draft promises a time already gone; the agent is told before approving,
        # and the redraft says there is no new time yet rather than promise a past one
        clock_at(monkeypatch, EVENING)
        late = client.get(f"/messages/{fits_id}").text
        assert "fix time passed 40 minutes ago" in late, "the incident panel"
        assert 'id="incident-changed"' in late
        assert "tells the customer service will be back by 2026-12-06 18:00 UTC" in late
        with rt.factory() as session:
            message = session.get(Message, fits_id)
            assert message is not None
            form = {
                "version": str(message.version),
                "_csrf_token": csrf(client, f"/messages/{fits_id}"),
            }
        redrafted = client.post(f"/messages/{fits_id}/redraft", data=form)
        assert "written again with the network incidents as they are now" in redrafted.text
        assert 'id="incident-changed"' not in redrafted.text
        assert "fix time passed 40 minutes ago" in redrafted.text
        with rt.factory() as session:
            newest = session.scalars(
                select(Draft).where(Draft.message_id == fits_id).order_by(Draft.version.desc())
            ).first()
        assert newest is not None and FAULT_WORDING in newest.body
        assert NO_NEW_TIME in newest.body and "back by" not in newest.body

        resolved = client.post(
            f"/api/supervisor/incidents/{created.json()['id']}/resolve", headers=sue
        )
        assert resolved.status_code == 201
        assert resolved.json()["out_of_date_drafts"] == [fits_id], "the drafts still telling of it"
        gone = client.get(f"/messages/{fits_id}").text
        assert "Mast fault, Galway city, was resolved since it was written" in gone
        drop(rt, outage_email(3, "Salthill"), "salthill-again")
        worker.drain()
        _, after = draft_of(rt, 3)
    assert NO_FAULT_WORDING in after.body and "Galway" not in after.body
    assert "restart your phone" in after.body and "northwind-mobile.test/status" in after.body
    assert "A member of our team will also look into your line personally." in after.body


def test_with_no_incident_the_draft_claims_no_fault(rt: Runtime, worker: Worker) -> None:
    drop(rt, outage_email(1, "Salthill"), "salthill")
    worker.drain()
    _, draft = draft_of(rt, 1)
    assert NO_FAULT_WORDING in draft.body and CLAIMED_BEFORE not in draft.body
    assert "try your SIM in another phone" in draft.body
    assert draft.grounding["incident"] is None


def test_the_german_draft_describes_the_incident(
    rt: Runtime, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        created = client.post(
            "/api/supervisor/incidents", headers=api_token(client, "sue"), json=INCIDENT
        )
        assert created.status_code == 201, created.text
    german = make_email(
        sender="Jonas Becker <jonas@example.test>",
        subject="Kein Netz",
        body=(
            'Hallo,\n\nmein Handy zeigt seit gestern Abend nur noch "Kein Netz" an. Ich bin '
            "gerade in Salthill im Urlaub. Ich kann weder telefonieren noch SMS schicken, mobile "
            "Daten gehen auch nicht. Gibt es eine Störung?\n\nFreundliche Grüße\nJonas Becker"
        ),
        message_id="<outage1@mail.test>",
    )
    drop(rt, german, "kein-netz")
    worker.drain()
    message_id, draft = draft_of(rt, 1)
    assert draft.grounding["template"]["key"] == "intents/outage.de.j2"
    assert "seit dem 5. Dezember 2026 eine Netzstörung in Galway, Salthill bekannt" in draft.body
    assert "am 6. Dezember 2026 bis 18:00 Uhr wieder funktioniert" in draft.body
    assert "Derzeit ist uns in Ihrer Gegend keine Netzstörung bekannt" not in draft.body

    clock_at(monkeypatch, EVENING)
    with TestClient(create_app(rt)) as client:
        again = client.post(
            f"/api/messages/{message_id}/redraft", headers=api_token(client, "sue"), json={}
        )
        assert again.json()["draft_version"] == draft.version + 1, again.text
    with rt.factory() as session:
        newest = session.scalars(
            select(Draft).where(Draft.message_id == message_id).order_by(Draft.version.desc())
        ).first()
    assert newest is not None and "bis 18:00 Uhr" not in newest.body
    assert (
        "Die Reparatur dauert leider länger als zunächst erwartet; einen neuen Zeitpunkt können "
        "wir Ihnen noch nicht nennen." in newest.body
    )


def test_an_edited_incident_reaches_new_drafts_and_the_waiting_ones_say_so(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        sue = api_token(client, "sue")
        galway_only = {**INCIDENT, "areas": ["Galway"]}
        incident = client.post("/api/supervisor/incidents", headers=sue, json=galway_only).json()
        drop(rt, outage_email(1, "Galway"), "galway")
        drop(rt, outage_email(2, "Salthill"), "salthill")
        worker.drain()
        galway_id, galway = draft_of(rt, 1)
        assert "We expect service to be back by 18:00 on 6 December 2026." in galway.body
        salthill_id, salthill = draft_of(rt, 2)
        assert NO_FAULT_WORDING in salthill.body
        login(client, "sue")
        assert 'id="incident-changed"' not in client.get(f"/messages/{galway_id}").text

        moved = {"areas": ["Galway", "Salthill"], "expected_fix_at": "2026-12-06T21:00:00+00:00"}
        edited = client.post(f"/api/supervisor/incidents/{incident['id']}", headers=sue, json=moved)
        assert edited.status_code == 201, edited.text
        assert edited.json()["out_of_date_drafts"] == [galway_id, salthill_id]

        page = client.get(f"/messages/{galway_id}").text
        assert 'id="incident-changed"' in page
        assert "changed since it was written (areas, expected fix)" in page
        assert "fix expected 2026-12-06 21:00" in page
        other = client.get(f"/messages/{salthill_id}").text
        assert "fits this message" in other and "the draft says we know of no fault" in other

        version = draft_of(rt, 1)[1].version
        with rt.factory() as session:
            message = session.get(Message, galway_id)
            assert message is not None
            form = {
                "version": str(message.version),
                "_csrf_token": csrf(client, f"/messages/{galway_id}"),
            }
        redrafted = client.post(f"/messages/{galway_id}/redraft", data=form)
        assert "written again with the network incidents as they are now" in redrafted.text
        assert 'id="incident-changed"' not in redrafted.text
        with rt.factory() as session:
            newest = session.scalars(
                select(Draft).where(Draft.message_id == galway_id).order_by(Draft.version.desc())
            ).first()
        assert newest is not None and newest.version == version + 1
        assert "We expect service to be back by 21:00 on 6 December 2026." in newest.body

        drop(rt, outage_email(3, "Salthill"), "salthill-after")
        worker.drain()
        _, after = draft_of(rt, 3)
    assert "We know of a network fault in Galway, Salthill" in after.body
    assert "back by 21:00 on 6 December 2026" in after.body
