"""Supervisors record a network incident, resolve it (and reopen it after a misclick), on the
page and through the API; each change is in the audit log, and agents may read the list but
not change it. A refused form comes back as typed; a fix time gone by is flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import AuditEntry, NetworkIncident, utcnow
from responder.runtime import Runtime
from responder.web import incident_pages
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.test_web_security import csrf, login

PAGE = "/supervisor/incidents"


def audit_trail(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.factory() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == "network_incident")
            .order_by(AuditEntry.id)
        ).all()
    return [(e.actor, e.action, e.object_id) for e in entries]


def test_a_supervisor_records_and_resolves_an_incident_on_the_page(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff(rt, "sue", "supervisor")
    staff(rt, "alice", "agent")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        assert 'href="/supervisor/incidents"' in client.get("/queue").text
        assert "No incident is active" in client.get(PAGE).text
        form = {
            "title": "Mast fault, Galway city",
            "areas": "Galway,  Salthill ,",
            "started_at": "2026-12-06T07:30",
            "expected_fix_at": "2026-12-06T18:00",
            "public_note": "Crews are on site at the Salthill mast.",
            "_csrf_token": csrf(client, PAGE),
        }
        recorded = client.post(PAGE, data=form)
        assert "Recorded: Mast fault, Galway city" in recorded.text
        assert "Galway, Salthill" in recorded.text and "2026-12-06 18:00" in recorded.text
        # the times in the list name their zone, as the form's fields do
        assert "<th>Started (UTC)</th><th>Fix expected (UTC)</th>" in recorded.text
        early = {**form, "expected_fix_at": "2026-12-05T18:00", "_csrf_token": csrf(client, PAGE)}
        backwards = client.post(PAGE, data=early)
        assert backwards.status_code == 400, "the form comes back as typed, not a redirect"
        assert "Not recorded: the expected fix is before the start." in backwards.text
        beside = 'id="incident-expected_fix_at-error">The expected fix is before the start.'
        assert beside in backwards.text
        for typed in ('value="Galway,  Salthill ,"', 'value="2026-12-05T18:00"'):
            assert typed in backwards.text
        assert ">Crews are on site at the Salthill mast.</textarea>" in backwards.text
        with rt.factory() as session:
            (incident,) = session.scalars(select(NetworkIncident)).all()
        assert incident.areas == ["Galway", "Salthill"] and incident.created_by == "sue"
        assert incident.resolved_at is None
        # 18:40: the fix time is gone and nobody moved it
        evening = datetime(2026, 12, 6, 18, 40, tzinfo=UTC)
        monkeypatch.setattr(incident_pages, "utcnow", lambda: evening)
        listed = client.get(PAGE).text
        assert "fix time passed 40 minutes ago: update it" in listed
        assert f'data-confirm="Resolve {incident.title}?' in listed
        monkeypatch.undo()

        client.post("/logout", data={"_csrf_token": csrf(client)})
        login(client, "alice")
        assert "Mast fault, Galway city" in client.get(PAGE).text, "agents may read the list"
        refused = client.post(
            f"{PAGE}/{incident.id}/resolve", data={"_csrf_token": csrf(client, PAGE)}
        )
        assert refused.status_code == 403

        client.post("/logout", data={"_csrf_token": csrf(client)})
        login(client, "sue")
        resolved = client.post(
            f"{PAGE}/{incident.id}/resolve", data={"_csrf_token": csrf(client, PAGE)}
        )
        assert "Resolved: Mast fault, Galway city" in resolved.text
        assert "No incident is active" in resolved.text
        # a misclick: Reopen brings it back as it was
        reopen = f"{PAGE}/{incident.id}/reopen"
        assert f'action="{reopen}"' in resolved.text
        reopened = client.post(reopen, data={"_csrf_token": csrf(client, PAGE)})
        assert "Reopened: Mast fault, Galway city" in reopened.text
        assert 'id="active-incidents"' in reopened.text and "Galway, Salthill" in reopened.text
        client.post(f"{PAGE}/{incident.id}/resolve", data={"_csrf_token": csrf(client, PAGE)})
        # a day on, the fault that is back is a new incident
        later = utcnow() + timedelta(hours=25)
        monkeypatch.setattr(incident_pages, "utcnow", lambda: later)
        assert f'action="{reopen}"' not in client.get(PAGE).text
        too_late = client.post(reopen, data={"_csrf_token": csrf(client, PAGE)})
        assert "Not reopened: incident" in too_late.text and "record a new one" in too_late.text
    with rt.factory() as session:
        done = session.get(NetworkIncident, incident.id)
    assert done is not None and done.resolved_by == "sue" and done.resolved_at is not None
    assert audit_trail(rt) == [
        ("sue", "incident.record", str(incident.id)),
        ("sue", "incident.resolve", str(incident.id)),
        ("sue", "incident.reopen", str(incident.id)),
        ("sue", "incident.resolve", str(incident.id)),
    ]


def test_the_api_records_lists_and_resolves_incidents(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    staff(rt, "alice", "agent")
    with TestClient(create_app(rt)) as client:
        sue = api_token(client, "sue")
        alice = api_token(client, "alice")
        body = {
            "title": "Cork city outage",
            "areas": ["Cork", "Douglas"],
            "started_at": "2026-12-06T06:00:00+00:00",
            "expected_fix_at": "2026-12-06T20:00:00+00:00",
            "public_note": "A fibre cut; repairs are under way.",
        }
        assert client.post(f"/api{PAGE}", headers=alice, json=body).status_code == 403
        no_offset = client.post(
            f"/api{PAGE}", headers=sue, json={**body, "started_at": "2026-12-06T06:00"}
        )
        assert no_offset.status_code == 400
        assert no_offset.json()["detail"].startswith("started_at: the start needs its offset")
        for field, moment, said in (
            ("started_at", "9999-12-31T23:59:00-05:00", "outside the years 1 to 9999"),
            ("expected_fix_at", "2026-12-06T05:00:00+00:00", "the expected fix is before"),
        ):  # past the calendar's end once in UTC: it was a 500
            wrong = client.post(f"/api{PAGE}", headers=sue, json={**body, field: moment})
            assert wrong.status_code == 400 and f"{field}: " in wrong.json()["detail"], wrong.text
            assert said in wrong.json()["detail"]
        assert client.post(f"/api{PAGE}", headers=sue, json={"title": " "}).status_code == 400
        created = client.post(f"/api{PAGE}", headers=sue, json=body)
        assert created.status_code == 201, created.text
        row = created.json()
        assert row["areas"] == ["Cork", "Douglas"] and row["active"] is True
        assert row["expected_fix_at"].startswith("2026-12-06T20:00")
        listed = client.get(f"/api{PAGE}", headers=alice).json()
        assert [(i["id"], i["active"]) for i in listed] == [(row["id"], True)]

        resolve = f"/api{PAGE}/{row['id']}/resolve"
        assert client.post(resolve, headers=alice).status_code == 403
        done = client.post(resolve, headers=sue)
        assert done.status_code == 201 and done.json()["resolved_by"] == "sue"
        assert client.post(resolve, headers=sue).status_code == 409
        assert client.post(f"/api{PAGE}/9999/resolve", headers=sue).status_code == 404
        assert client.get(f"/api{PAGE}", headers=alice).json()[0]["active"] is False
    assert audit_trail(rt) == [
        ("sue", "incident.record", str(row["id"])),
        ("sue", "incident.resolve", str(row["id"])),
    ]


def test_a_supervisor_corrects_an_incident_on_the_page(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    staff(rt, "alice", "agent")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        form = {
            "title": "Mast fault, Galway city",
            "areas": "Galway",
            "started_at": "2026-12-06T07:30",
            "expected_fix_at": "2026-12-06T18:00",
            "public_note": "Crews are on site.",
            "_csrf_token": csrf(client, PAGE),
        }
        client.post(PAGE, data=form)
        with rt.factory() as session:
            (incident,) = session.scalars(select(NetworkIncident)).all()
        page = client.get(PAGE).text
        assert f'id="edit-incident-{incident.id}"' in page
        assert 'value="2026-12-06T18:00"' in page, "the form holds the facts to correct"

        wrong = {
            **form,
            "title": "Mast fault, Galway and Salthill",
            "expected_fix_at": "2026-12-05T18:00",
            "_csrf_token": csrf(client, PAGE),
        }
        refused = client.post(f"{PAGE}/{incident.id}", data=wrong)
        assert refused.status_code == 400
        assert "Not changed: the expected fix is before the start." in refused.text
        assert f'<details id="edit-incident-{incident.id}" open>' in refused.text
        assert 'value="Mast fault, Galway and Salthill"' in refused.text, "kept as typed"
        assert f'id="incident-{incident.id}-expected_fix_at-error"' in refused.text
        no_start = {**form, "started_at": "", "_csrf_token": csrf(client, PAGE)}
        assert (
            "Not changed: give the start"
            in client.post(f"{PAGE}/{incident.id}", data=no_start).text
        )
        same = client.post(
            f"{PAGE}/{incident.id}", data={**form, "_csrf_token": csrf(client, PAGE)}
        )
        assert "Nothing changed in Mast fault, Galway city." in same.text

        moved = {
            **form,
            "areas": "Galway, Salthill",
            "expected_fix_at": "2026-12-06T21:00",
            "_csrf_token": csrf(client, PAGE),
        }
        edited = client.post(f"{PAGE}/{incident.id}", data=moved)
        assert "Changed Mast fault, Galway city: areas, expected fix." in edited.text
        assert "Galway, Salthill" in edited.text and "2026-12-06 21:00" in edited.text
        assert "2026-12-06 18:00" not in edited.text

        # Someone resolves it while sue is typing: her edit is refused, and what she typed
        # waits in the Record incident form (the resolved row has no edit form) to record anew.
        client.post(f"{PAGE}/{incident.id}/resolve", data={"_csrf_token": csrf(client, PAGE)})
        late = {
            **moved,
            "title": "Mast fault, Galway to Oranmore",
            "public_note": "Crews moved to Oranmore.",
            "_csrf_token": csrf(client, PAGE),
        }
        refused = client.post(f"{PAGE}/{incident.id}", data=late)
        assert refused.status_code == 409
        assert f"Not changed: incident {incident.id} is resolved" in refused.text
        assert "What you typed is in the Record incident form above." in refused.text
        record = refused.text.split('id="incident-form"')[1].split("</form>")[0]
        assert 'value="Mast fault, Galway to Oranmore"' in record
        assert 'value="Galway, Salthill"' in record and 'value="2026-12-06T21:00"' in record
        assert ">Crews moved to Oranmore.</textarea>" in record

        client.post("/logout", data={"_csrf_token": csrf(client)})
        login(client, "alice")
        assert f'id="edit-incident-{incident.id}"' not in client.get(PAGE).text
        agent = {**moved, "title": "Nothing", "_csrf_token": csrf(client, PAGE)}
        assert client.post(f"{PAGE}/{incident.id}", data=agent).status_code == 403
    with rt.factory() as session:
        done = session.get(NetworkIncident, incident.id)
        edits = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "incident.edit")
        ).all()
    assert done is not None and done.areas == ["Galway", "Salthill"] and done.title != "Nothing"
    assert [(e.actor, e.object_id) for e in edits] == [("sue", str(incident.id))]
    changed = edits[0].detail["changed"]
    assert changed["areas"] == {"from": ["Galway"], "to": ["Galway", "Salthill"]}
    assert set(changed) == {"areas", "expected_fix_at"}


def test_the_api_edits_an_incident_field_by_field(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    staff(rt, "alice", "agent")
    with TestClient(create_app(rt)) as client:
        sue = api_token(client, "sue")
        body = {
            "title": "Cork city outage",
            "areas": ["Cork"],
            "started_at": "2026-12-06T06:00:00+00:00",
            "expected_fix_at": "2026-12-06T20:00:00+00:00",
        }
        row = client.post(f"/api{PAGE}", headers=sue, json=body).json()
        edit = f"/api{PAGE}/{row['id']}"
        assert client.post(edit, headers=api_token(client, "alice"), json={}).status_code == 403
        late = client.post(edit, headers=sue, json={"expected_fix_at": "2026-12-07T08:00:00+01:00"})
        assert late.status_code == 201, late.text
        assert late.json()["expected_fix_at"].startswith("2026-12-07T07:00")
        assert late.json()["areas"] == ["Cork"], "a field left out stays as it is"
        assert list(late.json()["changed"]) == ["expected_fix_at"]
        cleared = client.post(
            edit, headers=sue, json={"expected_fix_at": "", "areas": "Cork, Douglas"}
        )
        assert cleared.json()["expected_fix_at"] is None
        assert cleared.json()["areas"] == ["Cork", "Douglas"]
        bad = client.post(edit, headers=sue, json={"started_at": "2026-12-06T05:00"})
        assert bad.status_code == 400
        assert bad.json()["detail"].startswith("started_at: the start needs its offset")
        no_start = client.post(edit, headers=sue, json={"started_at": ""})
        assert no_start.json()["detail"].startswith("started_at: give the start"), no_start.text
        assert client.post(edit, headers=sue, json={"title": " "}).status_code == 400
        assert client.post(f"/api{PAGE}/9999", headers=sue, json={}).status_code == 404
        client.post(f"{edit}/resolve", headers=sue)
        resolved = client.post(edit, headers=sue, json={"title": "Cork"})
        assert resolved.status_code == 409 and "record a new one" in resolved.json()["detail"]
        reopened = client.post(f"{edit}/reopen", headers=sue)
        assert reopened.status_code == 201 and reopened.json()["active"] is True
        assert reopened.json()["areas"] == ["Cork", "Douglas"], "as it was before"
        assert client.post(f"{edit}/reopen", headers=sue).status_code == 409
        assert client.post(edit, headers=sue, json={"title": "Cork"}).status_code == 201
    assert audit_trail(rt) == [
        ("sue", "incident.record", str(row["id"])),
        ("sue", "incident.edit", str(row["id"])),
        ("sue", "incident.edit", str(row["id"])),
        ("sue", "incident.resolve", str(row["id"])),
        ("sue", "incident.reopen", str(row["id"])),
        ("sue", "incident.edit", str(row["id"])),
    ]
