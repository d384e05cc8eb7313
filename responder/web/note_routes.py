"""Adding internal notes from the review page and the API; `responder.notes` holds the rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, delete, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath, JSONBody
from litestar.response import Redirect, Template
from msgspec import Struct

from responder.db.session import transaction
from responder.mentions import drop_unnamed, record_mentions, unmatched_names
from responder.notes import NoMessage, NoteError, add_note, delete_note, edit_note, note_row
from responder.review import audit
from responder.web.auth import requires_agent
from responder.web.next_draft import to_draft
from responder.web.state import runtime, signed_in


class NoteForm(Struct):
    body: str = ""


@dataclass(frozen=True)
class TypedNote:
    """A note the page refused, back in the textarea it was typed in, the reason beside it:
    `note_id` the note being edited, None for the new-note form (where an edit goes that can
    no longer be made: "add a new note instead")."""

    body: str
    problem: str
    note_id: int | None = None


def _refused(
    request: Request, message_id: int, error: str, typed: TypedNote, status_code: int
) -> Template:
    """The review page drawn again, with the text as typed: a redirect would lose it."""
    from responder.web.app import _review_page  # app imports this module's routes

    return _review_page(request, message_id, error=error, typed_note=typed, status_code=status_code)


def _write(request: Request, message_id: int, body: str) -> dict[str, Any]:
    rt = runtime(request)
    user = signed_in(request)
    with transaction(rt.factory) as session:
        note = add_note(session, message_id, user.username, body)
        mentioned = record_mentions(session, note)
        audit(
            session,
            user.username,
            "note.add",
            "message",
            message_id,
            note=note.id,
            mentioned=mentioned,
        )
        return {
            **note_row(note),
            "mentioned": mentioned,
            "unmatched": unmatched_names(session, note),
        }


def _nobody_told(unmatched: list[str]) -> str:
    """A misspelt or departed colleague's @name reached nobody: say so, or the author thinks
    they were told."""
    if not unmatched:
        return ""
    names = " or ".join(f"@{name}" for name in unmatched)
    return f" Nobody called {names} was told: no active colleague has that name."


@post("/messages/{message_id:int}/notes", sync_to_thread=True, guards=[requires_agent])
def note_form(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[NoteForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect | Template:
    try:
        written = _write(request, message_id, data.body)
    except NoMessage as exc:
        return to_draft(request, message_id, error=f"Note not added: {exc}.")
    except NoteError as exc:
        error = f"Note not added: {exc}."
        typed = TypedNote(data.body, str(exc))
        return _refused(request, message_id, error, typed, exc.status_code)
    notice = (
        "Note added: staff see it on every message of this conversation; the customer never does."
    )
    if written["mentioned"]:
        notice += f" {' and '.join(written['mentioned'])} will find it under Mentions."
    return to_draft(request, message_id, notice=notice + _nobody_told(written["unmatched"]))


@post("/api/messages/{message_id:int}/notes", sync_to_thread=True, guards=[requires_agent])
def api_note(
    request: Request, message_id: FromPath[int], data: JSONBody[NoteForm]
) -> dict[str, Any]:
    try:
        return _write(request, message_id, data.body)
    except NoteError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc


def _edit(request: Request, note_id: int, body: str) -> dict[str, Any]:
    user = signed_in(request)
    with transaction(runtime(request).factory) as session:
        note, before = edit_note(session, note_id, user.username, body)
        mentioned = record_mentions(session, note)
        audit(
            session,
            user.username,
            "note.edit",
            "message",
            note.message_id,
            note=note.id,
            before=before,
            mentioned=mentioned,
            no_longer_named=drop_unnamed(session, note),
        )
        return {
            **note_row(note),
            "mentioned": mentioned,
            "unmatched": unmatched_names(session, note),
        }


def _delete(request: Request, note_id: int) -> int:
    user = signed_in(request)
    with transaction(runtime(request).factory) as session:
        note = delete_note(session, note_id, user.username)
        audit(
            session,
            user.username,
            "note.delete",
            "message",
            note.message_id,
            note=note_id,
            body=note.body,
        )
        return note.message_id


@post(
    "/messages/{message_id:int}/notes/{note_id:int}/edit",
    sync_to_thread=True,
    guards=[requires_agent],
)
def note_edit_form(
    request: Request,
    message_id: FromPath[int],
    note_id: FromPath[int],
    data: Annotated[NoteForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect | Template:
    try:
        edited = _edit(request, note_id, data.body)
    except NoteError as exc:
        typed = TypedNote(data.body, str(exc), note_id)
        return _refused(request, message_id, f"Note not changed: {exc}.", typed, exc.status_code)
    return to_draft(request, message_id, notice="Note changed." + _nobody_told(edited["unmatched"]))


@post(
    "/messages/{message_id:int}/notes/{note_id:int}/delete",
    sync_to_thread=True,
    guards=[requires_agent],
)
def note_delete_form(
    request: Request, message_id: FromPath[int], note_id: FromPath[int]
) -> Redirect:
    try:
        _delete(request, note_id)
    except NoteError as exc:
        return to_draft(request, message_id, error=f"Note not deleted: {exc}.")
    return to_draft(request, message_id, notice="Note deleted.")


@post("/api/notes/{note_id:int}", sync_to_thread=True, guards=[requires_agent], status_code=200)
def api_note_edit(
    request: Request, note_id: FromPath[int], data: JSONBody[NoteForm]
) -> dict[str, Any]:
    try:
        return _edit(request, note_id, data.body)
    except NoteError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc


@delete("/api/notes/{note_id:int}", sync_to_thread=True, guards=[requires_agent])
def api_note_delete(request: Request, note_id: FromPath[int]) -> None:
    try:
        _delete(request, note_id)
    except NoteError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc


NOTE_ROUTES: list[object] = [
    note_form,
    api_note,
    note_edit_form,
    note_delete_form,
    api_note_edit,
    api_note_delete,
]
