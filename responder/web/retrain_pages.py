"""Retraining a classifier from its current examples, as forms on the classifiers page and as
a JSON API: start a job, follow it, then activate or discard the version it trained; and going
back to an earlier stored version.

Thin: `responder.classify.retrain` runs the job, `responder.classify.versions` keeps the
versions.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct

from responder.classify import retrain, versions
from responder.db.session import transaction
from responder.web.auth import requires_supervisor
from responder.web.state import runtime as _rt
from responder.web.state import signed_in as _user


def _launch(request: Request, name: str) -> int:
    rt = _rt(request)
    folder = rt.settings.path(rt.settings.classify.definitions_dir)
    return retrain.launch(rt.factory, rt.embedder, folder, name, _user(request).username)


def _decide(request: Request, job_id: int, decision: str, lose_labels: bool = False) -> str:
    """Activates or discards a retrained version; says what happened."""
    actor = _user(request).username
    with transaction(_rt(request).factory) as session:
        if decision == "activate":
            model = retrain.activate_job(session, job_id, actor, lose_labels=lose_labels)
            return f"Version {model.version} of {model.name} is now active."
        version = retrain.discard_job(session, job_id, actor)
        return f"Version {version} was discarded; the active model is unchanged."


def _classifiers_redirect(
    name: str, notice: str = "", error: str = "", section: str = "model"
) -> Redirect:
    """Back to the classifier's page, the notice or refusal shown in `section`, beside the
    button that was pressed."""
    params = {"name": name, "at": section}
    if notice:
        params["notice"] = notice
    if error:
        params["error"] = error
    return Redirect(f"/supervisor/classifiers?{urlencode(params)}#{section}")


@post(
    "/supervisor/classifiers/{name:str}/retrain", sync_to_thread=True, guards=[requires_supervisor]
)
def retrain_form(request: Request, name: FromPath[str]) -> Redirect:
    try:
        _launch(request, name)
    except retrain.RetrainError as exc:
        return _classifiers_redirect(name, error=str(exc))
    return _classifiers_redirect(name, notice=f"Retraining {name} from its current examples.")


@get(
    "/supervisor/classifiers/jobs/{job_id:int}/status",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def retrain_status(request: Request, job_id: FromPath[int]) -> dict[str, Any]:
    """Polled by retrain.js while the page shows a running job."""
    with _rt(request).factory() as session:
        try:
            return retrain.job_view(session, job_id).as_json()
        except retrain.RetrainError as exc:
            raise NotFoundException(str(exc)) from exc


class VersionForm(Struct):
    """`lose_labels`: ticked, the version is made active though it lacks labels (the list
    says which); otherwise the answer is a page saying so, asking again."""

    lose_labels: str = ""


def _labels_lost_page(
    request: Request, name: str, exc: retrain.LabelsLost, action: str, *, again: bool
) -> Template:
    """409: nothing changed; the page names the labels and asks again, posting `action`."""
    with _rt(request).factory() as session:
        current = retrain.current_model(session, name)
    context = {
        "user": request.user,
        "name": name,
        "action": action,
        "again": again,
        "version": exc.version,
        "labels": exc.labels,
        "current": current,
    }
    return Template("supervisor/version_labels.html", context=context, status_code=409)


def _labels_lost_api(exc: retrain.LabelsLost) -> HTTPException:
    return HTTPException(status_code=409, detail=str(exc), extra={"missing_labels": exc.labels})


def _decision_form(
    request: Request, job_id: int, decision: str, lose_labels: bool = False
) -> Redirect | Template:
    with _rt(request).factory() as session:
        try:
            name = retrain.job_view(session, job_id).classifier
        except retrain.RetrainError as exc:
            raise NotFoundException(str(exc)) from exc
    try:
        notice = _decide(request, job_id, decision, lose_labels)
    except retrain.LabelsLost as exc:
        action = f"/supervisor/classifiers/jobs/{job_id}/activate"
        return _labels_lost_page(request, name, exc, action, again=False)
    except retrain.RetrainError as exc:
        return _classifiers_redirect(name, error=str(exc))
    return _classifiers_redirect(name, notice=notice)


@post(
    "/supervisor/classifiers/jobs/{job_id:int}/activate",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def retrain_activate_form(
    request: Request,
    job_id: FromPath[int],
    data: Annotated[VersionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect | Template:
    return _decision_form(request, job_id, "activate", bool(data.lose_labels))


@post(
    "/supervisor/classifiers/jobs/{job_id:int}/discard",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def retrain_discard_form(request: Request, job_id: FromPath[int]) -> Redirect | Template:
    return _decision_form(request, job_id, "discard")


def _api_error(exc: retrain.RetrainError) -> HTTPException:
    return HTTPException(status_code=exc.status_code, detail=str(exc))


@post(
    "/api/supervisor/classifiers/{name:str}/retrain",
    sync_to_thread=True,
    guards=[requires_supervisor],
    status_code=202,
)
def api_retrain(request: Request, name: FromPath[str]) -> dict[str, Any]:
    """Starts a retrain; poll the job until its state is no longer `running`."""
    try:
        job_id = _launch(request, name)
    except retrain.RetrainError as exc:
        raise _api_error(exc) from exc
    with _rt(request).factory() as session:
        return retrain.job_view(session, job_id).as_json()


@get(
    "/api/supervisor/classifiers/jobs/{job_id:int}",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def api_retrain_status(request: Request, job_id: FromPath[int]) -> dict[str, Any]:
    with _rt(request).factory() as session:
        try:
            return retrain.job_view(session, job_id).as_json()
        except retrain.RetrainError as exc:
            raise _api_error(exc) from exc


def _api_decide(
    request: Request, job_id: int, decision: str, lose_labels: bool = False
) -> dict[str, Any]:
    try:
        _decide(request, job_id, decision, lose_labels)
    except retrain.LabelsLost as exc:
        raise _labels_lost_api(exc) from exc
    except retrain.RetrainError as exc:
        raise _api_error(exc) from exc
    with _rt(request).factory() as session:
        return retrain.job_view(session, job_id).as_json()


@post(
    "/api/supervisor/classifiers/jobs/{job_id:int}/activate",
    sync_to_thread=True,
    guards=[requires_supervisor],
    status_code=200,
)
def api_retrain_activate(
    request: Request, job_id: FromPath[int], lose_labels: FromQuery[bool] = False
) -> dict[str, Any]:
    """A new version lacking a label the active version or the current examples have is
    refused (409, the labels in `missing_labels`) unless `?lose_labels=true` says to go ahead."""
    return _api_decide(request, job_id, "activate", lose_labels)


@post(
    "/api/supervisor/classifiers/jobs/{job_id:int}/discard",
    sync_to_thread=True,
    guards=[requires_supervisor],
    status_code=200,
)
def api_retrain_discard(request: Request, job_id: FromPath[int]) -> dict[str, Any]:
    return _api_decide(request, job_id, "discard")


def _make_active_again(
    request: Request, name: str, model_id: int, lose_labels: bool
) -> tuple[int, int]:
    with transaction(_rt(request).factory) as session:
        return versions.make_active_again(
            session, name, model_id, _user(request).username, lose_labels=lose_labels
        )


@post(
    "/supervisor/classifiers/{name:str}/versions/{model_id:int}/activate",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def version_activate_form(
    request: Request,
    name: FromPath[str],
    model_id: FromPath[int],
    data: Annotated[VersionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect | Template:
    try:
        version, previous = _make_active_again(request, name, model_id, bool(data.lose_labels))
    except retrain.LabelsLost as exc:
        action = f"/supervisor/classifiers/{name}/versions/{model_id}/activate"
        return _labels_lost_page(request, name, exc, action, again=True)
    except retrain.RetrainError as exc:
        return _classifiers_redirect(name, error=f"not made active: {exc}")
    stepped_down = f" (version {previous} stepped down)" if previous else ""
    return _classifiers_redirect(
        name,
        notice=f"Version {version} of {name} is active again{stepped_down}: new messages are "
        "classified by it.",
    )


@get(
    "/api/supervisor/classifiers/{name:str}/versions",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def api_versions(request: Request, name: FromPath[str]) -> list[dict[str, Any]]:
    """The classifier's stored versions, newest first, with their held-out scores."""
    with _rt(request).factory() as session:
        found = versions.stored_versions(session, name)
    if not found:
        raise NotFoundException(f"{name!r} has no stored versions")
    return [v.as_json() for v in found]


@post(
    "/api/supervisor/classifiers/{name:str}/versions/{model_id:int}/activate",
    sync_to_thread=True,
    guards=[requires_supervisor],
    status_code=200,
)
def api_version_activate(
    request: Request,
    name: FromPath[str],
    model_id: FromPath[int],
    lose_labels: FromQuery[bool] = False,
) -> dict[str, Any]:
    """Makes a stored version (its `id` from the versions list) the active one again. One
    lacking a label the active version or the current examples have is refused (409, the
    labels in `missing_labels`) unless `?lose_labels=true` says to go ahead."""
    try:
        version, previous = _make_active_again(request, name, model_id, lose_labels)
    except retrain.LabelsLost as exc:
        raise _labels_lost_api(exc) from exc
    except retrain.RetrainError as exc:
        raise _api_error(exc) from exc
    return {"name": name, "id": model_id, "version": version, "previous": previous or None}


ROUTES: list[object] = [
    retrain_form,
    retrain_status,
    retrain_activate_form,
    retrain_discard_form,
    api_retrain,
    api_retrain_status,
    api_retrain_activate,
    api_retrain_discard,
    version_activate_form,
    api_versions,
    api_version_activate,
]
