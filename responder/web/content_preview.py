"""The preview pane's request, answer and words, shared by the pages that edit content
(`content_editor_pages`) and those that add it (`content_new_pages`), so both preview alike.
"""

from __future__ import annotations

from msgspec import Struct

from responder.supervisor.content_edit import Preview


class PreviewRequest(Struct):
    body: str
    message_id: int | None = None
    customer_id: int | None = None
    language: str = ""  # a snippet form's Language: its preview renders in that locale


class PreviewResponse(Struct):
    text: str
    error: str


NOT_RENDERED = "Nothing to preview: the text as submitted does not render (the problem is above)."


def preview_problem(preview: Preview, refusal: str) -> str:
    """What the preview pane says under its text. A refused save whose problem is the
    preview's own names it once, as the save's, and the pane points there: never blank, as
    if the text as submitted had not been looked at."""
    if preview.error and preview.error in refusal:
        return NOT_RENDERED
    return preview.error
