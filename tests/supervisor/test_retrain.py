"""Retraining from the supervisor tools: in the background, stored inactive, then a decision."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from responder.classify import retrain
from responder.classify.service import train_named
from responder.classify.store import active_model
from responder.db.models import (
    AuditEntry,
    ClassifierExample,
    ClassifierModel,
    ClassifierTrainingJob,
    utcnow,
)
from responder.db.session import transaction
from responder.runtime import Runtime
from responder.supervisor.examples import accept_candidate
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.supervisor.history import agent_correction, waiting_message
from tests.test_web_security import csrf, login

ROAMING_TEXT = "I was charged 80 euro for roaming in Spain."  # waiting_message's text


def trained_intent(rt: Runtime) -> int:
    """The active intent model before any retrain, measured on a held-out split."""
    with transaction(rt.factory) as session:
        folder = rt.settings.path(rt.settings.classify.definitions_dir)
        return train_named(session, rt.embedder, folder, "intent").model.version


def active_version(rt: Runtime) -> int:
    with rt.factory() as session:
        model = active_model(session, "intent")
        assert model is not None
        return model.version


def audit_actions(rt: Runtime) -> list[str]:
    with rt.factory() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("classifier.%"))
                .order_by(AuditEntry.id)
            )
        )


def test_api_retrain_then_activate(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    before = trained_intent(rt)
    message = waiting_message(rt, 1)
    example = agent_correction(rt, message, "billing_dispute", "roaming", "alice")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        with transaction(rt.factory) as session:
            accept_candidate(session, example, "sue")

        started = client.post("/api/supervisor/classifiers/intent/retrain", headers=auth)
        assert started.status_code == 202, started.text
        job = started.json()
        assert job["state"] in ("running", "trained") and job["started_by"] == "sue"
        assert retrain.wait(job["id"], timeout=300)

        done = client.get(f"/api/supervisor/classifiers/jobs/{job['id']}", headers=auth).json()
        assert done["state"] == "trained" and done["percent"] == 100
        assert done["version"] == before + 1
        assert done["current"]["version"] == before  # still the active one
        assert 0 < done["new"]["holdout"]["accuracy"] <= 1
        per_class = {label for label, _f1, _n in done["new"]["holdout"]["per_class"]}
        assert "roaming" in per_class and "billing_dispute" in per_class
        assert active_version(rt) == before
        with rt.factory() as session:
            new = session.get(ClassifierModel, done["new"]["id"])
            assert not new.active
            assert any(
                text.endswith(ROAMING_TEXT) and label == "billing_dispute"
                for text, label in new.training_set["rows"]
            ), "the accepted correction is trained on"

        again = client.post("/api/supervisor/classifiers/intent/retrain", headers=auth)
        assert again.status_code == 409 and "awaits a decision" in again.json()["detail"]

        activated = client.post(
            f"/api/supervisor/classifiers/jobs/{job['id']}/activate", headers=auth
        )
        assert activated.status_code == 200, activated.text
        assert activated.json()["state"] == "activated"
        assert active_version(rt) == before + 1
        twice = client.post(f"/api/supervisor/classifiers/jobs/{job['id']}/activate", headers=auth)
        assert twice.status_code == 409
    assert audit_actions(rt) == ["classifier.retrain", "classifier.activate"]


def test_page_retrain_then_discard(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    before = trained_intent(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/classifiers", params={"name": "intent"})
        assert 'id="retrain-button"' in page.text and f">{before}</strong>" in page.text
        token = csrf(client, "/supervisor/classifiers")
        started = client.post("/supervisor/classifiers/intent/retrain", data={"_csrf_token": token})
        assert "Retraining intent" in started.text
        with rt.factory() as session:
            job = retrain.latest_job(session, "intent")
        assert job is not None and retrain.wait(job.id, timeout=300)

        page = client.get("/supervisor/classifiers", params={"name": "intent"})
        assert 'id="compare"' in page.text and f"New (version {before + 1})" in page.text
        assert 'id="retrain-button"' not in page.text
        status = client.get(f"/supervisor/classifiers/jobs/{job.id}/status").json()
        assert status["state"] == "trained"

        discarded = client.post(
            f"/supervisor/classifiers/jobs/{job.id}/discard", data={"_csrf_token": token}
        )
        assert f"Version {before + 1} was discarded" in discarded.text
        assert 'id="retrain-button"' in discarded.text
    assert active_version(rt) == before
    with rt.factory() as session:
        versions = session.scalars(
            select(ClassifierModel.version).where(ClassifierModel.name == "intent")
        )
        assert list(versions) == [before]
    assert audit_actions(rt) == ["classifier.retrain", "classifier.discard"]


def test_a_failed_retrain_is_shown_and_can_be_started_again(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    folder = rt.settings.path(rt.settings.classify.definitions_dir)
    with transaction(rt.factory) as session:
        job = retrain.start(session, folder, "intent", "sue")
        job_id = job.id
    definition = folder / "intent.toml"
    good = definition.read_text(encoding="utf-8")
    definition.write_text("labels = [broken", encoding="utf-8")
    retrain.run(rt.factory, rt.embedder, folder, job_id)
    with rt.factory() as session:
        failed = retrain.job_view(session, job_id)
    assert failed.state == "failed" and "intent.toml:1: bad TOML" in failed.error
    with transaction(rt.factory) as session, pytest.raises(retrain.RetrainError, match="TOML"):
        retrain.start(session, folder, "intent", "sue")
    definition.write_text(good, encoding="utf-8")
    with transaction(rt.factory) as session:
        assert retrain.start(session, folder, "intent", "sue").id != job_id


def _cells(page: str, row_id: str) -> list[str]:
    """The text of a compare-table row's cells, tags left out."""
    row = page.split(f'id="{row_id}"', 1)[1].split("</tr>", 1)[0]
    return [re.sub(r"<[^>]+>", "", "<td" + cell).strip() for cell in row.split("<td")[1:]]


def _retrained_page(rt: Runtime, client: TestClient) -> str:
    """The classifiers page once a retrain started from it has finished."""
    token = csrf(client, "/supervisor/classifiers")
    client.post("/supervisor/classifiers/intent/retrain", data={"_csrf_token": token})
    with rt.factory() as session:
        job = retrain.latest_job(session, "intent")
    assert job is not None and retrain.wait(job.id, timeout=300)
    return client.get("/supervisor/classifiers", params={"name": "intent"}).text


def test_the_comparison_shows_the_active_models_figures_even_if_trained_without_them(
    rt: Runtime,
) -> None:
    """The model trained at first start is not measured; a retrain measures it so the two can
    be compared, and says the held-out splits differ when the examples did."""
    staff(rt, "sue", "supervisor")
    with transaction(rt.factory) as session:
        folder = rt.settings.path(rt.settings.classify.definitions_dir)
        before = train_named(
            session, rt.embedder, folder, "intent", created_by="startup", holdout=False
        ).model.version
    example = agent_correction(rt, waiting_message(rt, 1), "billing_dispute", "roaming", "alice")
    with transaction(rt.factory) as session:
        accept_candidate(session, example, "sue")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = _retrained_page(rt, client)
    accuracy = _cells(page, "compare-accuracy")
    assert accuracy[0] == "Accuracy" and accuracy[1].endswith("%") and accuracy[2].endswith("%")
    assert _cells(page, "compare-macro-f1")[1].endswith("%")
    with rt.factory() as session:
        active = active_model(session, "intent")
        assert active is not None and active.version == before
        held_out, total = active.metrics["holdout"]["count"], active.training_set["count"]
    assert _cells(page, "compare-split")[1] == (
        f"trained on {total - held_out} examples; scored on {held_out} held out"
    )
    assert "Held out 20%, not trained on" not in page
    assert 'id="compare-split-note"' in page and "its own held-out split" in page


def test_the_same_examples_give_the_same_split_and_no_note(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    trained_intent(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = _retrained_page(rt, client)
    assert _cells(page, "compare-accuracy")[1] == _cells(page, "compare-accuracy")[2]
    assert _cells(page, "compare-split")[1] == _cells(page, "compare-split")[2]
    assert 'id="compare-split-note"' not in page


def test_a_retrained_version_that_scores_lower_is_called_out(rt: Runtime) -> None:
    """The page showed 83% beside 86% and offered Activate just the same."""
    staff(rt, "sue", "supervisor")
    trained_intent(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = _retrained_page(rt, client)
        assert 'id="compare-lower"' not in page  # the same examples score the same
        with transaction(rt.factory) as session:
            active = active_model(session, "intent")
            assert active is not None
            holdout = {**active.metrics["holdout"], "macro_f1": 0.995}
            active.metrics = {**active.metrics, "holdout": holdout}
        page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
    warning = page.split('id="compare-lower">', 1)[1].split("</p>", 1)[0]
    assert "scores lower than the active version" in warning and "99.5%" in warning
    assert 'data-confirm="Activate version 2 although it scores lower than version 1?"' in page


def awaiting_job(
    rt: Runtime, name: str = "intent", drop: str = "", macro_f1: float | None = None
) -> tuple[int, int]:
    """A retrain job awaiting a decision, made without training: its new version is a copy of
    the active one, without the label `drop` and scoring `macro_f1` if given (the job id and
    the new version's number)."""
    with transaction(rt.factory) as session:
        folder = rt.settings.path(rt.settings.classify.definitions_dir)
        active = train_named(session, rt.embedder, folder, name).model
        holdout = dict(active.metrics["holdout"])
        if macro_f1 is not None:
            holdout["macro_f1"] = macro_f1
        holdout["per_class"] = [row for row in holdout["per_class"] if row[0] != drop]
        copy = ClassifierModel(
            name=name,
            version=active.version + 1,
            kind=active.kind,
            threshold=active.threshold,
            labels=[label for label in active.labels if label != drop],
            metrics={**active.metrics, "holdout": holdout},
            training_set=dict(active.training_set),
            head=active.head,
            created_by="sue",
        )
        session.add(copy)
        session.flush()
        now = utcnow()
        job = ClassifierTrainingJob(
            classifier=name,
            state=retrain.TRAINED,
            stage="trained: awaiting a decision",
            percent=100,
            model_id=copy.id,
            version=copy.version,
            started_by="sue",
            started_at=now,
            updated_at=now,
            finished_at=now,
        )
        session.add(job)
        session.flush()
        return job.id, copy.version


DECISIONS = {"activate": retrain.activate_job, "discard": retrain.discard_job}


def race(
    rt: Runtime, sues: Callable[[Session], object], toms: Callable[[Session], object]
) -> object:
    """Sue's action is made and not yet committed when Tom's reads what it acts on; she commits
    once Tom's first statement that would wait on hers (a write, or a read FOR UPDATE) is sent,
    so every read he made before it saw the rows as they were before her action. What Tom's
    action came to: its return value, its refusal or what an unlocked read ran into."""
    hers = rt.factory()
    hers.begin()
    sues(hers)
    hers.flush()
    outcome: list[object] = []
    waiting = threading.Event()

    def his() -> None:
        try:
            with transaction(rt.factory) as session:
                outcome.append(toms(session))
        except Exception as exc:
            outcome.append(exc)

    racer = threading.Thread(target=his)

    def locks_or_writes(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if threading.current_thread() is racer and (
            statement.lstrip().startswith(("UPDATE", "DELETE")) or "FOR UPDATE" in statement
        ):
            waiting.set()

    event.listen(rt.engine, "before_cursor_execute", locks_or_writes)
    try:
        racer.start()
        assert waiting.wait(timeout=60), "Tom's action never reached the rows"
        hers.commit()
        hers.close()
        racer.join(timeout=60)
    finally:
        event.remove(rt.engine, "before_cursor_execute", locks_or_writes)
    (result,) = outcome
    return result


@pytest.mark.parametrize("first", ["activate", "discard"])
def test_activate_and_discard_of_one_job_at_the_same_moment_refuse_the_second(
    rt: Runtime, first: str
) -> None:
    """Sue's decision is made and not yet committed when Tom's other decision reads the job:
    his waits for hers, then is refused in words. Read unlocked, his discard deleted the
    version her activate had just made active, leaving the classifier with no active model."""
    job_id, new = awaiting_job(rt)
    second = "discard" if first == "activate" else "activate"
    result = race(
        rt,
        lambda session: DECISIONS[first](session, job_id, "sue"),
        lambda session: DECISIONS[second](session, job_id, "tom"),
    )
    assert isinstance(result, retrain.RetrainError), result
    decided = {"activate": "activated", "discard": "discarded"}[first]
    assert f"version {new} of intent was already {decided}: nothing was changed" in str(result)
    with rt.factory() as session:
        active = active_model(session, "intent")
        assert active is not None, "the classifier was left with no active model"
        assert active.version == (new if first == "activate" else new - 1)
    assert audit_actions(rt) == [f"classifier.{first}"]


def keep_examples(rt: Runtime, name: str, label: str, kept: int) -> None:
    """Removes all but `kept` of the label's examples, as a supervisor's removals would."""
    with transaction(rt.factory) as session:
        ids = session.scalars(
            select(ClassifierExample.id)
            .where(ClassifierExample.classifier == name, ClassifierExample.label == label)
            .order_by(ClassifierExample.id)
        ).all()
        session.execute(delete(ClassifierExample).where(ClassifierExample.id.in_(ids[kept:])))


def test_a_retrain_that_would_drop_a_label_or_leave_one_example_is_refused_in_words(
    rt: Runtime,
) -> None:
    """With every outage example removed the new version lacked the label and nothing was ever
    sorted there again; with one roaming example left the job failed with scikit-learn's
    "The least populated classes in y have only 1 member"."""
    staff(rt, "sue", "supervisor")
    trained_intent(rt)
    keep_examples(rt, "intent", "outage", 0)
    keep_examples(rt, "intent", "roaming", 1)
    said = (
        "each intent label needs at least 2 examples (one to learn from, one held out to score"
        " it); outage has none and roaming has 1. Add examples to them first"
    )
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        refused = client.post("/api/supervisor/classifiers/intent/retrain", headers=auth)
        assert refused.status_code == 422, refused.text
        assert said in refused.json()["detail"]
        login(client, "sue")
        token = csrf(client, "/supervisor/classifiers")
        page = client.post("/supervisor/classifiers/intent/retrain", data={"_csrf_token": token})
        model = page.text.split('<section id="model">', 1)[1].split("</section>", 1)[0]
        assert f'<p class="error" id="error">Not retrained: {said}' in model
        assert 'id="retrain-button"' in model
        # The label the refusal names is still offered, so it can be taught again here.
        listed = client.get("/supervisor/classifiers", params={"name": "intent", "label": "outage"})
        assert 'label=outage">» Service outage <small><code>outage</code></small> (0)</a>' in (
            listed.text
        )
        added = client.post(
            "/supervisor/classifiers/intent/add",
            data={
                "label": "outage",
                "text": "No signal at all since this morning",
                "_csrf_token": token,
            },
        )
        assert "Example added to Service outage." in added.text
    with rt.factory() as session:
        assert retrain.latest_job(session, "intent") is None
    assert audit_actions(rt) == []


def test_too_few_examples_in_all_to_hold_each_label_out_is_refused(rt: Runtime) -> None:
    """Two of each sentiment: the 20% held out (2 of 6) cannot hold all three labels."""
    for label in ("negative", "neutral", "positive"):
        keep_examples(rt, "sentiment", label, 2)
    folder = rt.settings.path(rt.settings.classify.definitions_dir)
    with transaction(rt.factory) as session, pytest.raises(retrain.RetrainError) as refused:
        retrain.start(session, folder, "sentiment", "sue")
    assert refused.value.status_code == 422
    assert "must each hold an example of all 3 sentiment labels: that takes at least 11" in (
        str(refused.value)
    )
    assert str(refused.value).endswith("and there are 6")


def test_examples_removed_while_a_retrain_runs_fail_it_in_words(rt: Runtime) -> None:
    folder = rt.settings.path(rt.settings.classify.definitions_dir)
    with transaction(rt.factory) as session:
        job_id = retrain.start(session, folder, "intent", "sue").id
    keep_examples(rt, "intent", "roaming", 1)
    retrain.run(rt.factory, rt.embedder, folder, job_id)
    with rt.factory() as session:
        failed = retrain.job_view(session, job_id)
    assert failed.state == "failed"
    assert failed.error.startswith("not retrained: each intent label needs at least 2 examples")
    assert "roaming has 1" in failed.error


def test_the_comparison_warns_of_a_label_the_new_version_lacks_and_names_the_classifier(
    rt: Runtime,
) -> None:
    """The lower-score warning said "the wrong intent" on the sentiment page too."""
    staff(rt, "sue", "supervisor")
    awaiting_job(rt, "sentiment", drop="negative", macro_f1=0.5)
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/classifiers", params={"name": "sentiment"}).text
    lower = page.split('id="compare-lower">', 1)[1].split("</p>", 1)[0]
    assert "likely give more mail the wrong sentiment." in lower and "intent" not in lower
    missing = re.sub(r"<[^>]+>", "", page.split('id="compare-missing">', 1)[1].split("</p>")[0])
    assert missing.startswith("Version 2 has no Negative negative label, which the active")
    assert "no mail would be given it any more, nor could agents correct a message to it" in (
        missing
    )
    assert 'data-confirm="Activate version 2 although it scores lower than version 1?"' in page
    assert 'name="lose_labels"' in page and "although no mail would be given negative" in page


def test_a_retrained_version_lacking_a_label_is_activated_only_when_confirmed(
    rt: Runtime,
) -> None:
    """Activate used to ask only in the browser: a plain POST answers with a page naming the
    label and changes nothing; confirmed there, the version is activated, audited so."""
    staff(rt, "sue", "supervisor")
    job_id, version = awaiting_job(rt, drop="roaming")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
        assert "although no mail would be given roaming" in page

        url = f"/supervisor/classifiers/jobs/{job_id}/activate"
        asked = client.post(url, data={"_csrf_token": csrf(client, "/supervisor/classifiers")})
        assert asked.status_code == 409
        said = re.sub(r"<[^>]+>", "", asked.text.split('id="labels-lost">', 1)[1].split("</p>")[0])
        assert said.startswith(
            f"Version {version} has no Roaming roaming label, which the active version "
            f"{version - 1} or the current examples have: made active, no mail would be given "
            "it any more"
        )
        assert "Nothing has changed yet." in said
        assert f"<h1>Activate version {version} of intent?</h1>" in asked.text
        assert f'action="{url}"' in asked.text
        assert f'id="lose-labels-confirm">Activate version {version} anyway</button>' in asked.text
        assert f'id="lose-labels-cancel">Keep version {version - 1}</a>' in asked.text
        assert active_version(rt) == version - 1
        with rt.factory() as session:
            assert retrain.job_view(session, job_id).state == "trained"

        token = re.search(r'name="_csrf_token" value="([^"]+)"', asked.text).group(1)
        done = client.post(url, data={"_csrf_token": token, "lose_labels": "yes"})
        assert done.status_code == 200
        assert f"Version {version} of intent is now active." in done.text
    assert active_version(rt) == version
    with rt.factory() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "classifier.activate")
        ).one()
    assert entry.detail["labels_lost"] == ["roaming"]


def test_the_api_activates_a_retrain_lacking_a_label_only_with_the_flag(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    job_id, version = awaiting_job(rt, drop="outage")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        job = client.get(f"/api/supervisor/classifiers/jobs/{job_id}", headers=auth).json()
        assert job["missing_labels"] == ["outage"]
        url = f"/api/supervisor/classifiers/jobs/{job_id}/activate"
        refused = client.post(url, headers=auth)
        assert refused.status_code == 409
        assert refused.json()["extra"] == {"missing_labels": ["outage"]}
        assert refused.json()["detail"] == (
            f"version {version} of intent has no outage label, which the active version or the "
            "current examples have: made active, no mail would be given it"
        )
        assert active_version(rt) == version - 1
        made = client.post(url, headers=auth, params={"lose_labels": "true"})
        assert made.status_code == 200, made.text
        assert made.json()["state"] == "activated" and made.json()["missing_labels"] == []
    assert active_version(rt) == version


def test_a_retrained_version_with_every_label_is_activated_without_asking(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    job_id, version = awaiting_job(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/classifiers", params={"name": "intent"}).text
        assert 'name="lose_labels"' not in page and 'id="compare-missing"' not in page
        done = client.post(
            f"/supervisor/classifiers/jobs/{job_id}/activate",
            data={"_csrf_token": csrf(client, "/supervisor/classifiers")},
        )
        assert f"Version {version} of intent is now active." in done.text
    assert active_version(rt) == version
