"""The dashboard reads real history from the database and offers each chart as CSV."""

from __future__ import annotations

import csv
import io

from litestar.testing import TestClient

from responder.dashboard import load_history
from responder.db.models import StaffUser
from responder.db.session import transaction
from responder.review import approve, reject
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import staff
from tests.supervisor.history import waiting_message
from tests.test_web_security import login


def test_dashboard_counts_decisions_and_exports_csv(rt: Runtime) -> None:
    ids = [waiting_message(rt, number) for number in range(3)]
    staff(rt, "sue", "supervisor")
    with transaction(rt.factory) as session:
        sue = session.query(StaffUser).filter_by(username="sue").one()
        approve(session, ids[0], sue, rt.settings.outbound)
        approve(session, ids[1], sue, rt.settings.outbound, body="Hello,\n\nA new reply.\n")
        reject(session, ids[2], sue, "handled by phone")
    with rt.factory() as session:
        rows, _ = load_history(session)
    assert sorted(r.outcome for r in rows) == ["approved", "edited", "rejected"]
    assert {r.template for r in rows} == {rows[0].template}
    assert rows[0].template == "intents/roaming"
    edited = next(r for r in rows if r.outcome == "edited")
    assert edited.edit_distance and edited.edit_distance > 0

    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/dashboard")
        assert page.status_code == 200
        assert "<svg" in page.text and "Messages by day" in page.text
        exported = client.get("/supervisor/dashboard/export/outcomes")
        assert exported.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(exported.text)))
        assert table == [
            {
                "group": "all",
                "decided": "3",
                "approved": "1",
                "edited": "1",
                "rejected": "1",
                "approved_share": "0.3333",
                "edited_share": "0.3333",
                "rejected_share": "0.3333",
            }
        ]
        assert "Outcome by person" in page.text
        people = client.get("/supervisor/dashboard/export/outcomes_by_person").text
        (sue_row,) = list(csv.DictReader(io.StringIO(people)))
        assert (sue_row["person"], sue_row["decided"], sue_row["edited"]) == ("sue", "3", "1")
        timing = client.get("/supervisor/dashboard/export/review_time_by_person").text
        (row,) = list(csv.DictReader(io.StringIO(timing)))
        assert (row["person"], row["decided"]) == ("sue", "3")
        other_mailbox = client.get("/supervisor/dashboard/export/outcomes?channel=nowhere")
        assert other_mailbox.text.strip().count("\n") == 0
        assert client.get("/supervisor/dashboard/export/nonsense").status_code == 404


def test_a_measure_with_nothing_measured_is_not_drawn_as_zero_minutes(rt: Runtime) -> None:
    waiting_message(rt, 0)  # drafted, nobody has approved anything yet
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/dashboard").text
        chart = page[
            page.index("<title>Minutes</title>") : page.index(
                "</svg>", page.index("<title>Minutes</title>")
            )
        ]
        assert "arrival_to_draft median" in chart
        assert "draft_to_approval" not in chart
        timings = client.get("/supervisor/dashboard/export/timings").text
        rows = {row["measure"]: row for row in csv.DictReader(io.StringIO(timings))}
        assert rows["draft_to_approval"]["count"] == "0"
        assert rows["draft_to_approval"]["median_minutes"] == ""
