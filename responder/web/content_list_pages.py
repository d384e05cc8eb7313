"""The content list (`/supervisor/templates`): every reply template and answer snippet,
searchable by words, with how many drafts used each snippet, the retired ones apart with who
retired them, when and why; each row opens in the editor (`content_editor_pages`).
"""

from __future__ import annotations

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Template

from responder.classify.titles import LabelTitles
from responder.content import live_templates, template_key
from responder.dashboard import drafts_per_snippet
from responder.db.models import Template as TemplateRow
from responder.supervisor.content_search import matches, words_of
from responder.supervisor.retire import retired_items
from responder.supervisor.snippet_edit import live_snippets_all
from responder.supervisor.template_names import template_title
from responder.web.auth import requires_supervisor
from responder.web.state import runtime as _rt


@get("/supervisor/templates", sync_to_thread=True, guards=[requires_supervisor])
def content_list(request: Request, q: FromQuery[str | None] = None) -> Template:
    words = words_of(q)
    titles: LabelTitles = request.app.state.titles

    def title(template: TemplateRow) -> str:
        return template_title(template.name, template.language, template.tone, titles)

    with _rt(request).factory() as session:
        templates = sorted(
            (
                t
                for t in live_templates(session, switched_off=True).values()
                if matches(words, (template_key(t.name, t.language, t.tone), title(t), t.body))
            ),
            key=title,
        )
        snippets = sorted(
            (
                s
                for s in live_snippets_all(session)
                if matches(words, (s.key, s.title, " ".join(map(str, s.tags or [])), s.body))
            ),
            key=lambda s: s.key,
        )
        used = drafts_per_snippet(session)
        gone_templates = retired_items(session, "templates", templates)
        gone_snippets = retired_items(session, "snippets", snippets)
        rows = {
            "templates": [
                (
                    t.id,
                    title(t),
                    template_key(t.name, t.language, t.tone),
                    t.version,
                    t.author,
                    t.created_at,
                )
                for t in templates
                if t.active
            ],
            "retired_templates": [
                (t.id, title(t), template_key(t.name, t.language, t.tone), gone_templates[t.id])
                for t in templates
                if not t.active
            ],
            "snippets": [
                (
                    s.id,
                    s.key,
                    s.title,
                    s.version,
                    s.author,
                    s.created_at,
                    used.get(s.key, 0),
                    ", ".join(map(str, s.tags or [])),
                )
                for s in snippets
                if s.active
            ],
            "retired_snippets": [
                (s.id, s.key, s.title, used.get(s.key, 0), gone_snippets[s.id])
                for s in snippets
                if not s.active
            ],
        }
    context = {"user": request.user, "q": q or "", **rows}
    return Template("supervisor/content_list.html", context=context)


ROUTES: list[object] = [content_list]
