"""Supervisors edit templates and snippets: failing versions are refused, history and roll-back."""

from __future__ import annotations

import dataclasses
import html
import re

from litestar.testing import TestClient
from sqlalchemy import select

from responder.content import template_key
from responder.db.models import AuditEntry, Snippet, Template
from responder.db.session import transaction
from responder.runtime import Runtime
from responder.supervisor.content_edit import save_template
from responder.supervisor.snippet_edit import SnippetFields, save_snippet
from responder.web.app import create_app
from tests.browser_support import on_sqlite_only
from tests.helpers import staff
from tests.supervisor.history import waiting_message
from tests.supervisor.test_content_create import _editor_form, _form_of
from tests.test_web_security import csrf, login


def _roaming(rt: Runtime) -> Template:
    return _template(rt, "intents/roaming")


def _template(rt: Runtime, name: str, tone: str = "") -> Template:
    """The English template `name` (its `tone` variant), first version."""
    with rt.factory() as session:
        return session.scalar(
            select(Template)
            .where(Template.name == name, Template.language == "en", Template.tone == tone)
            .order_by(Template.version)
        )


def test_template_errors_are_refused_and_rollback_restores(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    message_id = waiting_message(rt, 1)
    original = _roaming(rt)
    url = f"/supervisor/templates/{original.id}"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, url)
        page = client.get(url, params={"message": message_id})
        assert "Thanks for getting in touch about using your phone abroad." in page.text

        for broken, problem in (
            ("{% if customer.plan %}no end", "syntax error"),
            ("Hello {{ customer.shoe_size }}", "shoe_size"),
            ("{{ customer.__class__.__mro__ }}", "unsafe"),
            ("  \n", "the template is empty"),
        ):
            preview = client.post(
                f"{url}/preview",
                json={"body": broken, "message_id": message_id},
                headers={"x-csrftoken": token},
            )
            assert preview.status_code == 201 and problem in preview.json()["error"], preview.text
            refused = client.post(f"{url}/save", data={"body": broken, "_csrf_token": token})
            assert refused.status_code == 422
            assert "Not saved" in refused.text and problem in refused.text
        assert _roaming_versions(rt) == [1]
        # A syntax error names the file it is in and its line there: a tone variant's own
        # (not the plain template's), a layout's (not the template rendered through it).
        for template in (
            _template(rt, "intents/billing_dispute", "empathetic"),
            _template(rt, "layout"),
        ):
            broken = template.body.replace("{% endblock %}", "{% endblok %}", 1)
            line = broken[: broken.index("endblok")].count("\n") + 1
            refused = client.post(
                f"/supervisor/templates/{template.id}/save",
                data={"body": broken, "_csrf_token": token},
            )
            key = template_key(template.name, "en", template.tone)
            said = f"{key}: syntax error on line {line}"
            assert refused.status_code == 422 and said in html.unescape(refused.text), key

        fixed = original.body.replace("Safe travels", "Have a great trip")
        saved = client.post(
            f"{url}/save", data={"body": fixed, "message_id": str(message_id), "_csrf_token": token}
        )
        assert saved.status_code == 200 and "version 2 is live" in saved.text
        assert "Have a great trip" in saved.text
        assert re.search(r'diff-del">-Safe travels', saved.text)
        assert re.search(r'diff-add">\+Have a great trip', saved.text)

        rolled = client.post(f"{url}/rollback", data={"_csrf_token": token})
        assert "Rolled back to version 1: its text is live again, as version 3." in rolled.text

        # Sue's tab shows version 3; Ann saves version 4 from hers before Sue saves.
        tab = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', rolled.text))
        assert tab["based_on"] == "3"
        with transaction(rt.factory) as session:
            ann = original.body.replace("Thanks for getting in touch", "Thanks for asking")
            save_template(session, rt.settings, original.id, ann, "ann")
        sues = original.body.replace("Safe travels", "Bon voyage")
        stale = client.post(f"{url}/save", data={**tab, "body": sues, "_csrf_token": token})
        assert stale.status_code == 409, "saved as version 5, Ann's words were silently gone"
        assert "ann saved version 4 after version 3, which your text was made on" in stale.text
        theirs = stale.text.split('id="theirs">', 1)[1].split("</pre>", 1)[0]
        assert re.search(r'diff-add">\+Thanks for asking', theirs) and "Bon voyage" not in theirs
        mine = stale.text.split('id="mine">', 1)[1].split("</pre>", 1)[0]
        assert re.search(r'diff-add">\+Bon voyage', mine) and "Thanks for asking" not in mine
        assert "Bon voyage" in stale.text.split('id="body"', 1)[1].split("</textarea>")[0]
        assert 'name="based_on" value="3"' in stale.text and 'name="over" value="4"' in stale.text
        old = client.post(f"/supervisor/templates/{saved_id(rt, 2)}/rollback", data=tab)
        assert "not rolled back: ann saved version 4 after version 3" in html.unescape(old.text)
        merged = sues.replace("Thanks for getting in touch", "Thanks for asking")
        over = {**tab, "body": merged, "over": "4", "_csrf_token": token}
        assert "version 5 is live" in client.post(f"{url}/save", data=over).text
    assert _roaming_versions(rt) == [1, 2, 3, 4, 5]
    with rt.factory() as session:
        live = session.scalar(
            select(Template).where(
                Template.name == "intents/roaming", Template.language == "en", Template.version == 3
            )
        )
        assert live.body == original.body and live.author == "sue"
        audited = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(a.action, a.actor) for a in audited[-4:]] == [
        ("template.save", "sue"),
        ("template.rollback", "sue"),
        ("template.save", "ann"),
        ("template.save", "sue"),
    ]
    assert audited[-1].detail["saved_over"] == "version 4 (ann's), made on version 3"


def saved_id(rt: Runtime, version: int) -> int:
    """The row id of the English roaming template's `version`."""
    with rt.factory() as session:
        return session.scalar(
            select(Template.id).where(
                Template.name == "intents/roaming",
                Template.language == "en",
                Template.version == version,
            )
        )


def _roaming_versions(rt: Runtime) -> list[int]:
    with rt.factory() as session:
        return sorted(
            session.scalars(
                select(Template.version).where(
                    Template.name == "intents/roaming", Template.language == "en"
                )
            )
        )


def test_snippet_edit_creates_a_version_and_refuses_bad_ones(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    with rt.factory() as session:
        snippet = session.scalar(select(Snippet).where(Snippet.key == "billing-roaming-charges"))
    url = f"/supervisor/snippets/{snippet.id}"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, url)
        bad = client.post(
            f"{url}/save", data={"body": "Dear {{ customer.nope }}", "_csrf_token": token}
        )
        assert bad.status_code == 422 and "nope" in bad.text
        good = client.post(
            f"{url}/save",
            data={
                "body": "Dear {{ customer.first_name or 'customer' }}, roaming is free.",
                "_csrf_token": token,
            },
        )
        assert "version 2 is live" in good.text

        # Ann renames it from her tab while Sue's, on version 2, is still open.
        tab = _editor_form(client, url)
        with transaction(rt.factory) as session:
            fields = SnippetFields.of(session.get(Snippet, int(good.url.path.split("/")[-1])))
            renamed = dataclasses.replace(fields, title="Roaming outside the EU")
            save_snippet(session, rt.settings, snippet.id, tab["body"], "ann", fields=renamed)
        sues = {**tab, "body": "Roaming is free in the EU."}
        stale = client.post(f"{url}/save", data=sues)
        assert stale.status_code == 409, "Ann's title was put back unseen"
        theirs = stale.text.split('id="theirs">', 1)[1].split("</pre>", 1)[0]
        assert 'diff-add">+title: Roaming outside the EU' in theirs and "free" not in theirs
        mine = stale.text.split('id="mine">', 1)[1].split("</pre>", 1)[0]
        assert 'diff-add">+Roaming is free in the EU.' in mine and "title" not in mine
        form = stale.text.split('id="editor-form"', 1)[1].split("</form>", 1)[0]
        merged = {**_form_of(form), "over": "3", "_csrf_token": tab["_csrf_token"]}
        assert merged["body"] == sues["body"] and merged["based_on"] == "2"
        merged["title"] = "Roaming outside the EU"
        assert "version 4 is live" in client.post(f"{url}/save", data=merged).text
    with rt.factory() as session:
        versions = session.scalars(
            select(Snippet).where(Snippet.key == snippet.key).order_by(Snippet.version)
        ).all()
    assert [v.version for v in versions] == [1, 2, 3, 4]
    assert versions[1].intents == versions[0].intents and versions[1].author == "sue"
    assert versions[3].title == "Roaming outside the EU"
    assert versions[3].body == "Roaming is free in the EU." and versions[3].author == "sue"


def test_a_refused_save_shows_its_error_once_and_the_preview_points_to_it(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    message_id = waiting_message(rt, 1)
    url = f"/supervisor/templates/{_roaming(rt).id}"
    broken = "{% if customer.plan %}no end"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, url)
        problem = client.post(
            f"{url}/preview",
            json={"body": broken, "message_id": message_id},
            headers={"x-csrftoken": token},
        ).json()["error"]
        refused = client.post(
            f"{url}/save",
            data={"body": broken, "message_id": str(message_id), "_csrf_token": token},
        )
    assert refused.status_code == 422
    assert "Unexpected end of template" in problem
    assert refused.text.count("Unexpected end of template") == 1, "the save's error, shown once"
    assert re.search(r'id="save-error">Not saved: ', refused.text)
    assert re.search(
        r'<p class="error" id="preview-error" >Nothing to preview: the text as submitted does not '
        r"render \(the problem is above\)\.</p>",
        refused.text,
    ), "the preview pane is not left blank, as if the text had not been looked at"


def test_a_refused_save_previews_the_text_as_submitted(rt: Runtime) -> None:
    """Refused for what it does, not for how it renders: the preview shows the new words."""
    staff(rt, "sue", "supervisor")
    message_id = waiting_message(rt, 1)
    original = _roaming(rt)
    url = f"/supervisor/templates/{original.id}"
    edited = original.body.replace("Safe travels", "Bon voyage")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, url)
        refused = client.post(
            f"{url}/save",
            data={
                "body": edited,
                "offered": "no",
                "message_id": str(message_id),
                "_csrf_token": token,
            },
        )
    assert refused.status_code == 422 and "fall back to the default language" in refused.text
    shown = re.search(r'<pre class="preview" id="preview">([^<]*)</pre>', refused.text)
    assert shown and "Bon voyage" in shown.group(1) and "Safe travels" not in shown.group(1)
    assert '<p class="error" id="preview-error" hidden></p>' in refused.text


def test_a_misspelt_name_is_named_in_words_not_jinja_jargon(rt: Runtime) -> None:
    """It read "UndefinedError: 'dict object' has no attribute 'nope'"."""
    staff(rt, "sue", "supervisor")
    original = _roaming(rt)
    url = f"/supervisor/templates/{original.id}"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, url)
        for body, words in (
            ("Dear {{ customer.frist_name }}", "no value called &#39;frist_name&#39;"),
            ("Dear {{ custmer.first_name }}", "unknown name &#39;custmer&#39;"),
        ):
            refused = client.post(f"{url}/save", data={"body": body, "_csrf_token": token})
            assert refused.status_code == 422
            assert f"{words}: is it spelt right?" in refused.text
            assert "UndefinedError" not in refused.text and "dict object" not in refused.text


GERMAN_CAP = "Limit {{ 60 | money }} bis {{ '2026-12-10' | date }}."


@on_sqlite_only  # the locale a text renders in does not depend on the database
def test_a_snippet_is_previewed_in_its_languages_locale_as_drafts_render_it(rt: Runtime) -> None:
    """A German answer showed "€60.00 until 10 December" in the editor while drafts and
    "insert an approved answer" say "60,00 €" and "10. Dezember": the preview is what a draft
    will read, in the language the form names (the stored one until it is changed)."""
    staff(rt, "sue", "supervisor")
    with transaction(rt.factory) as session:
        snippet = Snippet(
            key="roaming-cap-de", version=1, title="Limit", language="de", body=GERMAN_CAP
        )
        session.add(snippet)
        session.flush()
        url = f"/supervisor/snippets/{snippet.id}"
    german = "Limit 60,00 € bis 10. Dezember 2026."  # Babel's no-break spaces as plain
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get(url)
        token = csrf(client, url)

        def preview(path: str, **fields: str) -> str:
            answer = client.post(
                path, json={"body": GERMAN_CAP, **fields}, headers={"x-csrftoken": token}
            )
            assert answer.status_code == 201 and not answer.json()["error"], answer.text
            return " ".join(answer.json()["text"].split())

        assert preview(f"{url}/preview") == german
        assert preview(f"{url}/preview", language="de") == german
        assert preview(f"{url}/preview", language="en") == "Limit €60.00 bis 10 December 2026."
        new = "/supervisor/snippets/new/preview"
        assert preview(new, key="cap-de", language="de") == german
        assert preview(new, key="cap-fr", language="fr") == "Limit 60,00 € bis 10 décembre 2026."
    assert '<select name="language" data-preview-field>' in page.text, "editor.js sends it"
    shown = re.search(r'<pre class="preview" id="preview">([^<]*)</pre>', page.text)
    assert shown and " ".join(shown.group(1).split()) == german, page.text
