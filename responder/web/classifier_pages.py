"""The classifiers page: each classifier's labels and training examples, and the agents'
corrections waiting to become examples. A supervisor adds, moves and removes examples and
accepts or rejects corrections; a waiting draft is rewritten for the label that now holds.

Thin: `responder.supervisor.examples` holds the rules and the audit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.orm import Session

from responder.classify import retrain, versions
from responder.db.models import ClassifierExample, StaffUser
from responder.db.session import transaction
from responder.drafting.service import (
    REDRAFTED_ON,
    embed_before_writing,
    redraft_after_correction,
)
from responder.review import ReviewError
from responder.runtime import Runtime
from responder.supervisor import examples
from responder.web.auth import requires_supervisor
from responder.web.state import runtime as _rt
from responder.web.state import signed_in as _user

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


class LabelForm(Struct):
    label: str = ""
    text: str = ""
    back: str = ""
    # The label a correction's row showed: refused when the agent has changed it since.
    shown: str = ""


@get("/supervisor/classifiers", sync_to_thread=True, guards=[requires_supervisor])
def classifiers_page(
    request: Request,
    name: FromQuery[str] = "intent",
    label: FromQuery[str | None] = None,
    notice: FromQuery[str] = "",
    error: FromQuery[str] = "",
    at: FromQuery[str] = "",
) -> Template:
    name = name.replace("\x00", "") or "intent"  # PostgreSQL text refuses NUL
    with _rt(request).factory() as session:
        names = examples.classifier_names(session)
        counts = examples.labels(session, name)
        chosen = label if label in counts else next(iter(counts), None)
        context = {
            "user": request.user,
            "names": names,
            "name": name,
            "counts": counts,
            "label": chosen,
            "examples": examples.examples(session, name, chosen) if chosen else [],
            "candidates": examples.candidates(session, name),
            "current": retrain.current_model(session, name),
            "job": retrain.latest_job(session, name),
            "versions": versions.stored_versions(session, name),
            "notice": notice,
            "error": error,
            "at": at if at in ("model", "corrections", "examples-per-label") else "",
        }
    return Template("supervisor/classifiers.html", context=context)


def _back(
    data: LabelForm, fallback: str, notice: str = "", error: str = "", section: str = ""
) -> Redirect:
    """To the page the form was on, scrolled to the `section` it was sent from: a supervisor
    going down the corrections stays on them instead of landing at the top."""
    target = data.back if data.back.startswith("/supervisor/classifiers") else fallback
    path, _, query = target.partition("?")
    params = dict(parse_qsl(query))
    for stale in ("notice", "error", "at"):
        params.pop(stale, None)
    if notice:
        params["notice"] = notice
    if error:
        params["error"] = error
    if section:
        params["at"] = section  # the page shows the notice there, where the eye is
    address = f"{path}?{urlencode(params)}" if params else path
    return Redirect(f"{address}#{section}" if section else address)


def _example_action(
    request: Request, data: LabelForm, action: Any, notice: str | Callable[[], str], section: str
) -> Redirect:
    """`notice` is said after the action; a callable, when the action decides its words."""
    fallback = "/supervisor/classifiers"
    try:
        with transaction(_rt(request).factory) as session:
            action(session)
    except examples.CorrectionChanged as exc:
        return _back(data, fallback, error=exc.said(request.app.state.titles), section=section)
    except ReviewError as exc:
        return _back(data, fallback, error=str(exc), section=section)
    said = notice if isinstance(notice, str) else notice()
    return _back(data, fallback, notice=said, section=section)


def _label_said(request: Request, row: ClassifierExample) -> str:
    """An example's label as a notice names it: in words (the lists below show its code)."""
    return str(request.app.state.titles(row.label, row.classifier))


@post("/supervisor/classifiers/{name:str}/add", sync_to_thread=True, guards=[requires_supervisor])
def example_add(
    request: Request, name: FromPath[str], data: Annotated[LabelForm, FORM]
) -> Redirect:
    actor = _user(request).username
    added: list[ClassifierExample] = []
    return _example_action(
        request,
        data,
        lambda s: added.append(examples.add_example(s, name, data.label, data.text, actor)),
        lambda: f"Example added to {_label_said(request, added[0])}.",
        "examples-per-label",
    )


@post(
    "/supervisor/classifiers/examples/{example_id:int}/move",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def example_move(
    request: Request, example_id: FromPath[int], data: Annotated[LabelForm, FORM]
) -> Redirect:
    actor = _user(request).username
    moved: list[ClassifierExample] = []
    return _example_action(
        request,
        data,
        lambda s: moved.append(examples.move_example(s, example_id, data.label, actor)),
        lambda: f"Example moved to {_label_said(request, moved[0])}.",
        "examples-per-label",
    )


@post(
    "/supervisor/classifiers/examples/{example_id:int}/remove",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def example_remove(
    request: Request, example_id: FromPath[int], data: Annotated[LabelForm, FORM]
) -> Redirect:
    actor = _user(request).username
    return _example_action(
        request,
        data,
        lambda s: examples.remove_example(s, example_id, actor),
        "Example removed.",
        "examples-per-label",
    )


@post(
    "/supervisor/classifiers/examples/{example_id:int}/accept",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def example_accept(
    request: Request, example_id: FromPath[int], data: Annotated[LabelForm, FORM]
) -> Redirect:
    rt, user = _rt(request), _user(request)
    relabelled: list[tuple[int, str]] = []
    told: list[str] = []

    def accept(session: Session) -> None:
        before = session.get(ClassifierExample, example_id)
        label = before.label if before else None
        row, moved_from = examples.accept_candidate(
            session,
            example_id,
            user.username,
            data.label or None,
            queue=rt.settings.queue,
            shown=data.shown or None,
        )
        told.append(examples.acceptance_notice(row, moved_from, request.app.state.titles))
        if row.message_id is not None and row.label != label:
            relabelled.append((row.message_id, row.classifier))

    answer = _example_action(request, data, accept, lambda: told[0], "corrections")
    # A draft still waiting was written for the agent's label: write it for the one accepted.
    _redraft_relabelled(rt, user, relabelled)
    return answer


@post(
    "/supervisor/classifiers/examples/{example_id:int}/reject",
    sync_to_thread=True,
    guards=[requires_supervisor],
)
def example_reject(
    request: Request, example_id: FromPath[int], data: Annotated[LabelForm, FORM]
) -> Redirect:
    rt, user = _rt(request), _user(request)
    restored: list[tuple[int, str]] = []
    told: list[str] = []

    def reject(session: Session) -> None:
        row, label = examples.reject_candidate(
            session, example_id, user.username, queue=rt.settings.queue, shown=data.shown or None
        )
        told.append(examples.rejection_notice(session, row, label, request.app.state.titles))
        if row.message_id is not None and label is not None:
            restored.append((row.message_id, row.classifier))

    answer = _example_action(request, data, reject, lambda: told[0], "corrections")
    # A draft still waiting was written for the agent's label: write it for the one restored.
    _redraft_relabelled(rt, user, restored)
    return answer


def _redraft_relabelled(rt: Runtime, user: StaffUser, relabelled: list[tuple[int, str]]) -> None:
    """Each waiting draft rewritten for its message's new label, one transaction each, the
    message embedded first outside any (so no write waits on the model)."""
    for message_id, classifier in relabelled:
        if classifier in REDRAFTED_ON:
            embed_before_writing(rt, message_id)
            with transaction(rt.factory) as session:
                redraft_after_correction(rt, session, message_id, classifier, user)


ROUTES: list[object] = [
    classifiers_page,
    example_add,
    example_move,
    example_remove,
    example_accept,
    example_reject,
]
