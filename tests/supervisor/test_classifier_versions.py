"""Going back to an earlier stored version of a classifier: listed on the classifiers page with
its scores, made active again from there or the API, audited, and used by the workers next."""

from __future__ import annotations

import html
import re

from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.classify import retrain, versions
from responder.db.models import AuditEntry, ClassifierExample, ClassifierModel, Message
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.supervisor.test_retrain import active_version, awaiting_job, race, trained_intent
from tests.test_web_security import csrf, login


def two_versions(rt: Runtime) -> dict[int, int]:
    """Versions 1 and 2 of intent, 2 active (the same examples: the second reuses the fit);
    each version's model id."""
    trained_intent(rt)
    trained_intent(rt)
    with rt.factory() as session:
        rows = session.execute(
            select(ClassifierModel.version, ClassifierModel.id).where(
                ClassifierModel.name == "intent"
            )
        )
        return {version: model_id for version, model_id in rows}


def intent_versions_used(rt: Runtime) -> list[int]:
    """The intent version that classified each message, oldest message first."""
    with rt.factory() as session:
        found = session.scalars(select(Message.classification).order_by(Message.id))
        return [c["models"]["intent"] for c in found]


def version_row(page: str, version: int) -> str:
    listed = page.split('id="version-list"', 1)[1].split("</table>", 1)[0]
    return listed.split(f'<tr data-version="{version}">', 1)[1].split("</tr>", 1)[0]


def cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>.*?</td>", row)]


def test_an_earlier_version_is_made_active_again_and_the_workers_use_it_next(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "sue", "supervisor")
    ids = two_versions(rt)
    drop(rt, make_email(), "first")
    worker.drain()
    assert intent_versions_used(rt) == [2]
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
        active, earlier = version_row(page, 2), version_row(page, 1)
        assert cells(active)[-1] == "active" and "<button" not in active
        number, _trained, by, trained_on, accuracy, macro_f1, lacks, action = cells(earlier)
        assert (number, by, lacks, action) == ("1", "cli", "—", "Make active again")
        assert re.fullmatch(r"\d+ examples", trained_on), trained_on
        assert accuracy.endswith("%") and macro_f1.endswith("%")
        assert (
            'data-confirm="Make version 1 of intent active again? Version 2 steps down; new '
            'messages are classified by version 1."'
        ) in earlier
        assert f'action="/supervisor/classifiers/intent/versions/{ids[1]}/activate"' in earlier

        token = csrf(client, "/supervisor/classifiers")
        done = client.post(
            f"/supervisor/classifiers/intent/versions/{ids[1]}/activate",
            data={"_csrf_token": token},
        )
        model = done.text.split('<section id="model">', 1)[1]
        assert model.lstrip().startswith(
            '<p class="notice" id="notice">Version 1 of intent is active again (version 2 '
            "stepped down): new messages are classified by it.</p>"
        )
        assert 'id="active-version">1</strong>' in done.text
        assert cells(version_row(done.text, 2))[-1] == "Make active again"
    assert active_version(rt) == 1
    drop(rt, make_email(message_id="<m2@mail.test>", subject="Still roaming"), "second")
    worker.drain()
    assert intent_versions_used(rt) == [2, 1], "the worker's next batch used version 1"
    with rt.factory() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "classifier.activate")
        ).one()
    assert (entry.actor, entry.object_type, entry.object_id) == ("sue", "classifier", "intent")
    assert entry.detail["version"] == 1 and entry.detail["previous"] == 2
    assert entry.detail["made_active_again"] is True


def test_the_api_lists_the_versions_and_makes_one_active_again_refusing_in_words(
    rt: Runtime,
) -> None:
    staff(rt, "sue", "supervisor")
    ids = two_versions(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        listed = client.get("/api/supervisor/classifiers/intent/versions", headers=auth).json()
        assert [(v["version"], v["active"], v["id"]) for v in listed] == [
            (2, True, ids[2]),
            (1, False, ids[1]),
        ]
        assert listed[1]["created_by"] == "cli" and 0 < listed[1]["macro_f1"] <= 1
        assert listed[1]["examples"] > 0 and listed[1]["awaiting_decision"] is False
        assert listed[1]["missing_labels"] == [] and "roaming" in listed[1]["labels"]
        unknown = client.get("/api/supervisor/classifiers/nothing/versions", headers=auth)
        assert unknown.status_code == 404

        def activate(name: str, model_id: int) -> object:
            url = f"/api/supervisor/classifiers/{name}/versions/{model_id}/activate"
            return client.post(url, headers=auth)

        other = activate("sentiment", ids[1])
        assert other.status_code == 404
        assert other.json()["detail"] == f"sentiment has no stored version with id {ids[1]}"
        again = activate("intent", ids[2])
        assert again.status_code == 409
        assert again.json()["detail"] == "version 2 of intent is already active"
        made = activate("intent", ids[1])
        assert made.status_code == 200, made.text
        assert made.json() == {"name": "intent", "id": ids[1], "version": 1, "previous": 2}
        assert active_version(rt) == 1

        job_id, new = awaiting_job(rt)  # version 3 trained and active, 4 awaits a decision
        waiting = activate("intent", ids[1])
        assert waiting.status_code == 409
        assert waiting.json()["detail"] == (
            f"version {new} of intent awaits a decision: activate or discard it first"
        )
        login(client, "sue")
        token = csrf(client, "/supervisor/classifiers")
        page = client.post(
            f"/supervisor/classifiers/intent/versions/{ids[1]}/activate",
            data={"_csrf_token": token},
        ).text
        model = html.unescape(page.split('<section id="model">', 1)[1].split("</section>")[0])
        assert (
            f'<p class="error" id="error">Not made active: version {new} of intent awaits a '
            "decision: activate or discard it first</p>"
        ) in model
        assert f"While version {new} awaits a decision, no other version can be made" in model
        assert "Make active again" not in model
        assert cells(version_row(page, new))[-1] == "awaiting a decision (above)"
    assert active_version(rt) == new - 1
    with rt.factory() as session:
        assert retrain.job_view(session, job_id).state == "trained"


def test_two_supervisors_making_one_version_active_again_at_once_refuse_the_second(
    rt: Runtime,
) -> None:
    """Read unlocked, both went through: two audit entries, each saying version 2 stepped down."""
    ids = two_versions(rt)
    result = race(
        rt,
        lambda session: versions.make_active_again(session, "intent", ids[1], "sue"),
        lambda session: versions.make_active_again(session, "intent", ids[1], "tom"),
    )
    assert isinstance(result, retrain.RetrainError), result
    assert str(result) == "version 1 of intent is already active"
    assert active_version(rt) == 1
    with rt.factory() as session:
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "classifier.activate")
        ).all()
    assert actors == ["sue"]


def an_earlier_version_without(rt: Runtime, label: str) -> dict[int, int]:
    """Version 1 of intent trained while `label` had no active example, version 2 (active)
    after its examples were back; each version's model id."""

    def examples_of_label(status: str) -> None:
        with transaction(rt.factory) as session:
            session.execute(
                update(ClassifierExample)
                .where(ClassifierExample.classifier == "intent", ClassifierExample.label == label)
                .values(status=status)
            )

    examples_of_label("set_aside")
    trained_intent(rt)
    examples_of_label("active")
    return two_versions_after(rt)


def two_versions_after(rt: Runtime) -> dict[int, int]:
    trained_intent(rt)
    with rt.factory() as session:
        rows = session.execute(
            select(ClassifierModel.version, ClassifierModel.id).where(
                ClassifierModel.name == "intent"
            )
        )
        return {version: model_id for version, model_id in rows}


def test_a_version_lacking_a_label_is_made_active_only_when_confirmed(
    rt: Runtime, worker: Worker
) -> None:
    """Version 1 never learnt roaming: the list says so, a plain Make active again answers
    with a page naming the label and changes nothing; confirmed, roaming mail goes elsewhere."""
    staff(rt, "sue", "supervisor")
    ids = an_earlier_version_without(rt, "roaming")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
        earlier = version_row(page, 1)
        assert cells(earlier)[-2] == "Roaming roaming"
        assert cells(version_row(page, 2))[-2] == "—"
        assert 'name="lose_labels"' in earlier
        assert "although no mail would be given roaming" in cells(earlier)[-1]

        url = f"/supervisor/classifiers/intent/versions/{ids[1]}/activate"
        asked = client.post(url, data={"_csrf_token": csrf(client, "/supervisor/classifiers")})
        assert asked.status_code == 409
        said = re.sub(r"<[^>]+>", "", asked.text.split('id="labels-lost">', 1)[1].split("</p>")[0])
        assert html.unescape(said).startswith(
            "Version 1 has no Roaming roaming label, which the active version 2 or the current "
            "examples have: made active, no mail would be given it any more"
        )
        assert "Nothing has changed yet." in said
        assert 'id="lose-labels-cancel">Keep version 2</a>' in asked.text
        assert active_version(rt) == 2

        token = re.search(r'name="_csrf_token" value="([^"]+)"', asked.text).group(1)
        done = client.post(url, data={"_csrf_token": token, "lose_labels": "yes"})
        assert done.status_code == 200
        assert "Version 1 of intent is active again (version 2 stepped down)" in done.text
    assert active_version(rt) == 1
    with rt.factory() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "classifier.activate")
        ).one()
    assert entry.detail["labels_lost"] == ["roaming"]
    drop(rt, make_email(), "roaming")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message)).one()
    assert message.classification["models"]["intent"] == 1
    assert message.intent != "roaming" and message.classification["intent"]["label"] != "roaming"


def test_the_api_asks_for_an_explicit_flag_to_lose_labels(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    ids = an_earlier_version_without(rt, "outage")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        listed = client.get("/api/supervisor/classifiers/intent/versions", headers=auth).json()
        assert [(v["version"], v["missing_labels"]) for v in listed] == [
            (2, []),
            (1, ["outage"]),
        ]
        assert "outage" not in listed[1]["labels"]
        url = f"/api/supervisor/classifiers/intent/versions/{ids[1]}/activate"
        refused = client.post(url, headers=auth)
        assert refused.status_code == 409
        assert refused.json()["extra"] == {"missing_labels": ["outage"]}
        assert refused.json()["detail"] == (
            "version 1 of intent has no outage label, which the active version or the current "
            "examples have: made active, no mail would be given it"
        )
        assert active_version(rt) == 2
        made = client.post(url, headers=auth, params={"lose_labels": "true"})
        assert made.status_code == 200, made.text
        assert made.json() == {"name": "intent", "id": ids[1], "version": 1, "previous": 2}
    assert active_version(rt) == 1


def test_a_label_only_the_examples_have_is_named_too(rt: Runtime) -> None:
    """A label taught since the active version was trained: the earlier version lacks it."""
    staff(rt, "sue", "supervisor")
    ids = two_versions(rt)
    with transaction(rt.factory) as session:
        session.add(
            ClassifierExample(
                classifier="intent", label="esim", text="My eSIM will not activate", status="active"
            )
        )
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        listed = client.get("/api/supervisor/classifiers/intent/versions", headers=auth).json()
        assert [(v["version"], v["missing_labels"]) for v in listed] == [(2, []), (1, ["esim"])]
        url = f"/api/supervisor/classifiers/intent/versions/{ids[1]}/activate"
        refused = client.post(url, headers=auth)
        assert refused.status_code == 409 and refused.json()["extra"]["missing_labels"] == ["esim"]
