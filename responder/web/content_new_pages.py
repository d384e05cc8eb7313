"""Supervisors add content from the web: a new answer snippet, or a reply template for an
intent in another language or tone, or a new language's layout. Each is held to the checks an
edit is (it must render), starts at version 1, is in the audit log, and opens in the editor."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery, JSONBody
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.exc import IntegrityError

from responder.content import template_key
from responder.db.session import transaction
from responder.supervisor import examples
from responder.supervisor.content_edit import ContentError, Preview, preview_choices
from responder.supervisor.preview_pick import fitting_message, template_intents
from responder.supervisor.snippet_edit import (
    SnippetFields,
    create_snippet,
    preview_snippet_text,
)
from responder.supervisor.template_create import (
    LAYOUT,
    create_template,
    preview_new_template,
    starting_body,
    template_name,
    template_tones,
)
from responder.web.auth import requires_supervisor
from responder.web.content_preview import PreviewRequest, PreviewResponse, preview_problem
from responder.web.params import row_id_in
from responder.web.snippet_form import SnippetFieldsForm
from responder.web.state import runtime as _rt
from responder.web.state import signed_in as _user

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
CREATED_MEANWHILE = "not created: someone created it a moment ago; your text is below"


class NewSnippetForm(SnippetFieldsForm):
    key: str = ""
    body: str = ""
    message_id: str = ""  # what the live preview renders against, kept on a refused create
    customer_id: str = ""

    def fields(self) -> SnippetFields:
        return self.snippet_fields() or SnippetFields(title="")


class NewTemplateForm(Struct):
    intent: str = ""
    language: str = ""
    tone: str = ""
    body: str = ""
    message_id: str = ""  # as on the new-snippet form
    customer_id: str = ""


class NewSnippetPreview(PreviewRequest):
    key: str = ""  # so the preview's errors name the snippet being written


class NewTemplatePreview(PreviewRequest):
    intent: str = ""
    tone: str = ""


def _choices(request: Request) -> dict[str, Any]:
    rt = _rt(request)
    with rt.read_factory() as session:
        intents = list(examples.labels(session, "intent"))
        tones = template_tones(session, rt.settings)
    return {
        "user": request.user,
        "intents": intents,
        "layout": LAYOUT,
        "tones": tones,
        "languages": rt.settings.classify.languages,
        "plan_names": rt.settings.drafting.plan_names,
        "tier_names": rt.settings.value.tier_names,
    }


def _number(value: str) -> int | None:
    return row_id_in(value)


def _snippet_page(
    request: Request, form: NewSnippetForm, error: str = "", status: int = 200
) -> Template:
    """The form, and the preview of its text as the editor's (a refused create shows it)."""
    rt = _rt(request)
    message_id, customer_id = _number(form.message_id), _number(form.customer_id)
    with rt.read_factory() as session:
        choices = preview_choices(session, also=message_id)
        preview = (
            preview_snippet_text(
                session,
                rt.settings,
                form.key,
                form.body,
                message_id,
                customer_id,
                form.language.strip() or "en",
            )
            if form.body.strip()
            else Preview("", "")
        )
    context = {
        **_choices(request),
        "form": form,
        "snippet": form.fields(),
        "error": error,
        "choices": choices,
        "message_id": message_id,
        "customer_id": customer_id,
        "preview": preview,
        "preview_error": preview_problem(preview, error),
    }
    return Template("supervisor/new_snippet.html", context=context, status_code=status)


@get("/supervisor/snippets/new", sync_to_thread=True, guards=[requires_supervisor])
def new_snippet_page(request: Request) -> Template:
    return _snippet_page(request, NewSnippetForm())


@post("/supervisor/snippets/new", sync_to_thread=True, guards=[requires_supervisor])
def new_snippet(request: Request, data: Annotated[NewSnippetForm, FORM]) -> Response[Any]:
    rt = _rt(request)
    try:
        with transaction(rt.factory) as session:
            created = create_snippet(
                session, rt.settings, data.key, data.fields(), data.body, _user(request).username
            )
            created_id, key = created.id, created.key
    except ContentError as exc:
        return _snippet_page(request, data, str(exc), 422)
    except IntegrityError:  # the same id, created by a colleague between our check and insert
        return _snippet_page(request, data, CREATED_MEANWHILE, 409)
    notice = f"Created: snippet {key} version 1 is live."
    return Redirect(f"/supervisor/snippets/{created_id}", query_params={"notice": notice})


@post("/supervisor/snippets/new/preview", sync_to_thread=True, guards=[requires_supervisor])
def new_snippet_preview(request: Request, data: JSONBody[NewSnippetPreview]) -> PreviewResponse:
    """The snippet editor's live preview (static/editor.js), for a snippet not created yet."""
    rt = _rt(request)
    with rt.read_factory() as session:
        result = preview_snippet_text(
            session,
            rt.settings,
            data.key,
            data.body,
            data.message_id,
            data.customer_id,
            data.language or "en",
        )
    return PreviewResponse(text=result.text, error=result.error)


def _template_page(
    request: Request, form: NewTemplateForm, error: str = "", status: int = 200
) -> Template:
    """The form, and the preview of its text as the editor's, against a message of the
    intent unless one is chosen (a refused create shows it)."""
    context = {**_choices(request), "form": form, "error": error}
    if form.intent and form.language:
        rt = _rt(request)
        message_id, customer_id = _number(form.message_id), _number(form.customer_id)
        with rt.read_factory() as session:
            if message_id is None:
                name = template_name(form.intent)
                message_id = fitting_message(session, template_intents(name), form.language)
            preview = preview_new_template(
                session,
                rt.settings,
                form.intent,
                form.language,
                form.tone,
                form.body,
                message_id,
                customer_id,
            )
            context |= {
                "key": template_key(template_name(form.intent), form.language, form.tone),
                "choices": preview_choices(session, also=message_id),
                "message_id": message_id,
                "customer_id": customer_id,
                "preview": preview,
                "preview_error": preview_problem(preview, error),
            }
    return Template("supervisor/new_template.html", context=context, status_code=status)


@get("/supervisor/templates/new", sync_to_thread=True, guards=[requires_supervisor])
def new_template_page(
    request: Request,
    intent: FromQuery[str] = "",
    language: FromQuery[str] = "",
    tone: FromQuery[str] = "",
) -> Template:
    """Pick the intent, language and tone first; the body then starts from the intent's
    template (in that language, else the default one, for a translation)."""
    form = NewTemplateForm(intent=intent, language=language, tone=tone)
    if intent and language:
        rt = _rt(request)
        with rt.read_factory() as session:
            form.body = starting_body(session, rt.settings, intent, language)
    return _template_page(request, form)


@post("/supervisor/templates/new/preview", sync_to_thread=True, guards=[requires_supervisor])
def new_template_preview(request: Request, data: JSONBody[NewTemplatePreview]) -> PreviewResponse:
    """The template editor's live preview (static/editor.js), for a template not created yet."""
    rt = _rt(request)
    with rt.read_factory() as session:
        result = preview_new_template(
            session,
            rt.settings,
            data.intent,
            data.language,
            data.tone,
            data.body,
            data.message_id,
            data.customer_id,
        )
    return PreviewResponse(text=result.text, error=result.error)


@post("/supervisor/templates/new", sync_to_thread=True, guards=[requires_supervisor])
def new_template(request: Request, data: Annotated[NewTemplateForm, FORM]) -> Response[Any]:
    rt = _rt(request)
    try:
        with transaction(rt.factory) as session:
            created = create_template(
                session,
                rt.settings,
                data.intent,
                data.language,
                data.tone,
                data.body,
                _user(request).username,
            )
            created_id = created.id
            key = template_key(created.name, created.language, created.tone)
    except ContentError as exc:
        return _template_page(request, data, str(exc), 422)
    except IntegrityError:
        return _template_page(request, data, CREATED_MEANWHILE, 409)
    notice = f"Created: {key} version 1 is live."
    return Redirect(f"/supervisor/templates/{created_id}", query_params={"notice": notice})


ROUTES = [
    new_snippet_page,
    new_snippet,
    new_snippet_preview,
    new_template_page,
    new_template,
    new_template_preview,
]
