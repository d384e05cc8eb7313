"""Supervisors add snippets and templates from the web, set where a snippet is offered and
switch one off; every refusal says why and nothing half-made goes live."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.content import live_snippets
from responder.customers.context import build_context
from responder.db.models import AuditEntry, Draft, Snippet, Template
from responder.db.session import transaction
from responder.drafting.compose import DraftResult, compose_draft
from responder.drafting.service import template_refs
from responder.knowledge.retrieve import rank_snippets
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.supervisor import retire, snippet_edit
from responder.supervisor.content_files import seed_content
from responder.supervisor.retire import restore_snippet, retire_snippet
from responder.supervisor.rule_edit import RulesError, save_rules
from responder.supervisor.snippet_edit import save_snippet
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, run_cli, staff
from tests.test_web_security import csrf, login

CRUISE = (
    "Phones at sea connect to the ship's own satellite network, which no roaming pass covers: "
    "switch on flight mode while cruising, {{ customer.first_name or 'and' }} use the ship's wifi."
)


def _snippet(rt: Runtime, key: str) -> Snippet | None:
    with rt.factory() as session:
        return session.scalar(
            select(Snippet).where(Snippet.key == key).order_by(Snippet.version.desc()).limit(1)
        )


def _actions(rt: Runtime, prefix: str) -> list[tuple[str, str, dict[str, object]]]:
    with rt.factory() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like(f"{prefix}%")).order_by(AuditEntry.id)
        ).all()
        return [(r.action, r.object_id, dict(r.detail or {})) for r in rows]


def test_a_new_snippet_is_checked_then_offered_in_drafts(rt: Runtime, worker: Worker) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        assert "New snippet" in client.get("/supervisor/templates").text
        form_page = client.get("/supervisor/snippets/new").text
        # Intents are typed as codes: the words beside each say which one is which.
        assert '<option value="outage">Service outage</option>' in form_page
        assert "<code>port_out</code> (Port-out to a competitor)" in form_page
        token = csrf(client, "/supervisor/snippets/new")
        good = {
            "key": "roaming-cruise-ships",
            "title": "Phones on cruise ships",
            "intents": "roaming, billing_dispute",
            "tags": "cruise, ship, sea",
            "language": "en",
            "body": CRUISE,
            "_csrf_token": token,
        }
        for change, problem in (
            ({"key": "Cruise Ships!"}, "lower-case letters, digits and hyphens"),
            ({"key": "roaming-world-pass"}, "a snippet 'roaming-world-pass' exists already"),
            ({"intents": "roaming, cruising"}, "unknown intent cruising"),
            ({"language": "xx"}, "unknown language 'xx'"),
            ({"title": " "}, "the title is empty"),
            ({"body": "Hello {{ customer.shoe_size }}"}, "shoe_size"),
            ({"body": "{% if customer.plan %}unclosed"}, "Not created"),
        ):
            refused = client.post("/supervisor/snippets/new", data={**good, **change})
            assert refused.status_code == 422, change
            assert problem in html.unescape(refused.text), (change, refused.text[-2000:])
            assert 'value="cruise, ship, sea"' in refused.text, "what was typed stays on the page"
        assert _snippet(rt, "roaming-cruise-ships") is None

        created = client.post("/supervisor/snippets/new", data=good)
        assert created.status_code == 200, created.text[-2000:]
        assert "Created: snippet roaming-cruise-ships version 1 is live." in created.text
    snippet = _snippet(rt, "roaming-cruise-ships")
    assert snippet is not None and snippet.version == 1 and snippet.author == "sue"
    assert snippet.intents == ["roaming", "billing_dispute"] and snippet.tags == [
        "cruise",
        "ship",
        "sea",
    ]
    assert _actions(rt, "snippet.") == [("snippet.create", "roaming-cruise-ships", {"version": 1})]

    drop(
        rt,
        make_email(
            subject="Phone bill after our cruise",
            body="We were on a cruise ship in the Mediterranean last week and my phone used "
            "satellite data at sea. Is the ship's network covered by roaming?\n\nAoife",
        ),
        "cruise",
    )
    worker.drain()
    with rt.factory() as session:
        grounding = session.scalars(select(Draft.grounding)).one()
    used = [s["key"] for s in grounding["snippets"] if s.get("used")]
    assert used and used[0] == "roaming-cruise-ships", grounding["snippets"]

    # Retired (the cruise offer ended): no longer retrieved for the message it fits, while the
    # draft already written keeps its text; restored, it is retrieved again.
    question = "My phone used satellite data on a cruise ship at sea. Does roaming cover it?"
    assert _retrieved(rt, question)[0] == "roaming-cruise-ships"
    with transaction(rt.factory) as session:
        retire_snippet(session, rt.settings, snippet.id, "sue", "the cruise offer ended")
    assert "roaming-cruise-ships" not in _retrieved(rt, question)
    with rt.factory() as session:
        assert "satellite network" in session.scalars(select(Draft.body)).one()
    with transaction(rt.factory) as session:
        restore_snippet(session, rt.settings, snippet.id, "sue")
    assert _retrieved(rt, question)[0] == "roaming-cruise-ships"


def test_a_snippet_switched_off_leaves_new_drafts_and_comes_back(
    rt: Runtime, project: Path
) -> None:
    staff(rt, "sue", "supervisor")
    cap = _snippet(rt, "roaming-spending-cap")
    assert cap is not None
    url = f"/supervisor/snippets/{cap.id}"
    form = {
        "body": cap.body,
        "title": cap.title,
        "intents": ", ".join(cap.intents),
        "tags": ", ".join(cap.tags),
        "language": cap.language,
    }
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, url)
        page = client.get(url).text
        assert 'name="intents" value="roaming' in page and 'value="yes" selected' in page
        off = client.post(f"{url}/save", data={**form, "offered": "no", "_csrf_token": token})
        assert "version 2 is live" in off.text
        assert "roaming-spending-cap" not in {s.key for s in _live(rt)}
        listed = client.get("/supervisor/templates").text
        row = listed[listed.index(">roaming-spending-cap<") :][:200]
        assert "retired" in row  # switched off from the editor is retired, without a reason

        unknown = client.post(
            f"{url}/save", data={**form, "intents": "roaming, travel", "_csrf_token": token}
        )
        assert unknown.status_code == 422 and "unknown intent travel" in unknown.text
        again = client.post(
            f"{url}/save",
            data={**form, "intents": "roaming", "offered": "yes", "_csrf_token": token},
        )
        assert "version 3 is live" in again.text
        assert 'diff-del">-intents: roaming, billing_dispute' in again.text
        assert 'diff-add">+intents: roaming</span>' in again.text

        # Retired from its confirm page (with a reason): listed apart with who, when and why,
        # kept over a restart, and restored from the API, which answers 404 for unknown ids.
        confirm = client.get(f"{url}/retire").text
        assert 'id="retire-confirm"' in confirm and "Drafts already written keep" in confirm
        colleague = _editor_form(client, url)  # open in a colleague's tab: "Offered: yes"
        retired = client.post(
            f"{url}/retire", data={"reason": "the cap offer ended", "_csrf_token": token}
        )
        assert "Retired: new drafts leave it out" in retired.text
        assert 'id="restore"' in retired.text and "the cap offer ended" in retired.text
        # The colleague saves a typo fix from that tab, its select untouched: it stays retired.
        fixed = client.post(f"{url}/save", data={**colleague, "body": cap.body + " Thanks."})
        assert 'id="retired"' in fixed.text and "the cap offer ended" in fixed.text
        assert "roaming-spending-cap" not in {s.key for s in _live(rt)}
        listed = client.get("/supervisor/templates").text
        section = listed[listed.index('id="retired-snippets"') :]
        row = section[section.index('data-key="roaming-spending-cap"') :][:400]
        assert ">sue<" in row and "the cap offer ended" in row
        assert 'data-key="roaming-spending-cap"' not in listed[: listed.index("retired-snippets")]
        with transaction(rt.factory) as session:  # what every start does: files fill only gaps
            seeded = seed_content(
                session, rt.settings, project / "templates", project / "classifiers"
            )
            assert seeded.snippets == 0 and not seeded.refused
        assert "roaming-spending-cap" not in {s.key for s in _live(rt)}
        anew = client.post(
            "/supervisor/snippets/new",
            data={"key": "roaming-spending-cap", "title": "Cap", "body": "Words.", **colleague},
        )
        assert "exists already, retired: restore it in its editor" in html.unescape(anew.text)
        rule = '[[rules]]\nname = "cap"\nlabel = "Spending cap"\nsnippet = "roaming-spending-cap"'
        with transaction(rt.factory) as session, pytest.raises(RulesError) as named:
            save_rules(session, rt.settings, "actions", "sue", text=rule)
        assert "'roaming-spending-cap' in rule 1 is retired: restore it" in str(named.value)
        api, auth = "/api/supervisor/snippets/{}/restore", api_token(client, "sue")
        assert client.post(api.format(999999), headers=auth).status_code == 404
        restored = client.post(api.format(cap.id), headers=auth)
        assert restored.status_code == 200 and restored.json()["retired"] is False
        twice = client.post(api.format(cap.id), headers=auth)
        assert twice.status_code == 409 and "not retired" in twice.json()["detail"]
    assert "roaming-spending-cap" in {s.key for s in _live(rt)}
    assert [(a, d.get("reason")) for a, _, d in _actions(rt, "snippet.re")] == [
        ("snippet.retire", "the cap offer ended"),
        ("snippet.restore", None),
    ]
    back = _snippet(rt, "roaming-spending-cap")
    assert back is not None and back.active and back.intents == ["roaming"]
    assert "roaming-spending-cap" in {s.key for s in _live(rt)}
    switched = [d.get("switched") for _, _, d in _actions(rt, "snippet.save")]
    assert switched == ["off", "on", None]


def test_a_snippet_an_action_rule_offers_cannot_be_switched_off(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    world = _snippet(rt, "roaming-world-pass")
    assert world is not None
    url = f"/supervisor/snippets/{world.id}"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        form = {**_editor_form(client, url), "offered": "no"}
        refused = client.post(f"{url}/save", data=form)
    assert refused.status_code == 422
    assert "the action rule roaming_pass offers this snippet" in html.unescape(refused.text)
    assert _snippet(rt, "roaming-world-pass").active  # type: ignore[union-attr]


def _retrieved(rt: Runtime, text: str, intent: str = "roaming") -> list[str]:
    """The snippets a draft of `text` would be offered, as the draft stage ranks them."""
    with rt.factory() as session:
        index = rt.snippet_index(session)
    vector = rt.embedder.encode([text])[0]
    top_k = rt.settings.drafting.snippets_top_k
    ranked = rank_snippets(vector, index.snippets, index.vectors, intent=intent, top_k=top_k)
    return [s.snippet.key for s in ranked]


def _live(rt: Runtime) -> list[Snippet]:
    with rt.factory() as session:
        return live_snippets(session)


def _draft_in(rt: Runtime, language: str, intent: str = "roaming") -> DraftResult:
    """A draft in `language` from the live templates, as the draft stage composes it."""
    with rt.factory() as session:
        templates = template_refs(session)
    return compose_draft(
        templates=templates,
        intent=intent,
        language=language,
        customer=build_context(None, "customer@example.test"),
        subject="Roaming",
        new_text="No data abroad",
        snippets=(),
        drafting=rt.settings.drafting,
    )


def test_a_template_in_another_language_starts_from_the_intent_and_drafts_use_it(
    rt: Runtime,
) -> None:
    staff(rt, "sue", "supervisor")
    with rt.factory() as session:
        english = session.scalar(
            select(Template.body).where(
                Template.name == "intents/praise", Template.language == "en"
            )
        )
    assert english is not None
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        assert "New template" in client.get("/supervisor/templates").text
        start = client.get(
            "/supervisor/templates/new", params={"intent": "praise", "language": "de"}
        )
        assert start.status_code == 200 and "intents/praise.de.j2" in start.text
        assert ">Service outage (outage)</option>" in start.text, "intents in words, code beside"
        assert "Thank you so much for taking the time to write to us." in start.text
        assert '{% extends "layout.de.j2" %}' in html.unescape(start.text), "its own layout"
        token = csrf(client, "/supervisor/templates/new")
        german = (
            '{% extends "layout.de.j2" %}\n{% block body %}\nvielen Dank für Ihre '
            "freundlichen Worte.\n{% if snippet %}{{ snippet.body }}{% endif %}\n"
            "{% endblock %}\n"
        )
        form = {"intent": "praise", "language": "de", "tone": "", "_csrf_token": token}
        for change, problem in (
            ({"body": german.replace("layout.de", "layout.fr")}, "layout.fr.j2"),
            (
                {"body": german.replace("layout.de", "layout.en")},
                'this de template extends layout.en.j2: use {% extends "layout.de.j2" %}',
            ),
            ({"body": "  "}, "the template is empty"),
            ({"body": german, "tone": "cheerful"}, "no tone rule picks 'cheerful'"),
            ({"body": german, "intent": "weather"}, "unknown intent 'weather'"),
            ({"body": english, "language": "en"}, "intents/praise.en.j2 exists already"),
        ):
            refused = client.post("/supervisor/templates/new", data={**form, **change})
            assert refused.status_code == 422 and problem in html.unescape(refused.text), (
                change,
                refused.text[-1500:],
            )
        created = client.post("/supervisor/templates/new", data={**form, "body": german})
        assert "Created: intents/praise.de.j2 version 1 is live." in created.text
        tone = client.post(
            "/supervisor/templates/new",
            data={**form, "language": "en", "tone": "formal", "body": english},
        )
        assert "Created: intents/praise.en.formal.j2 version 1 is live." in tone.text
    assert [a for a, _, _ in _actions(rt, "template.")] == ["template.create", "template.create"]
    result = _draft_in(rt, "de", intent="praise")
    assert result.grounding["template"]["key"] == "intents/praise.de.j2"
    assert "vielen Dank für Ihre freundlichen Worte." in result.body


def _form_of(page: str) -> dict[str, str]:
    """The editor's fields as a browser would post them back."""
    form = dict(re.findall(r'<input (?:type="\w+" )?name="(\w+)" value="([^"]*)"', page))
    form.update(
        re.findall(r'<select name="(\w+)"[^>]*>.*?<option value="([^"]*)" selected', page, re.S)
    )
    form["body"] = html.unescape(
        re.search(r'<textarea name="body"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    )
    return {k: html.unescape(v) for k, v in form.items()}


def _editor_form(client: TestClient, url: str) -> dict[str, str]:
    """The open editor's fields as its Save button posts them, with the form token."""
    token = csrf(client, url)
    return {**_form_of(client.get(url).text), "_csrf_token": token}


def test_a_snippets_filters_round_trip_through_the_editor_and_are_checked(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    best = _snippet(rt, "retention-offer-best")
    assert best is not None and best.filters == {"tiers": ["Best"]}
    url = f"/supervisor/snippets/{best.id}"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        form = _editor_form(client, url)
        assert form["tiers"] == "Best" and form["plans"] == "" and form["offered"] == "yes"
        unchanged = client.post(f"{url}/save", data=form)
        assert "version 2" not in unchanged.text
        assert _snippet(rt, "retention-offer-best").version == 1  # type: ignore[union-attr]

        for change, problem in (
            ({"plans": "Unlimited Plus, Gold"}, "unknown plan Gold"),
            ({"tiers": "Best, Platinum"}, "unknown tier Platinum"),
            ({"valid_from": "2026-13-01"}, "a date is not YYYY-MM-DD"),
            (
                {"valid_from": "2027-01-31", "valid_until": "2027-01-01"},
                "valid until 2027-01-01 is before valid from 2027-01-31",
            ),
        ):
            refused = client.post(f"{url}/save", data={**form, **change})
            assert refused.status_code == 422 and problem in refused.text, change
        saved = client.post(
            f"{url}/save",
            data={**form, "plans": "Unlimited Plus", "valid_until": "2027-01-31"},
        )
        assert "version 2 is live" in saved.text
        assert 'name="valid_until" value="2027-01-31"' in saved.text
    live = _snippet(rt, "retention-offer-best")
    assert live is not None and live.filters == {
        "plans": ["Unlimited Plus"],
        "tiers": ["Best"],
        "valid_until": "2027-01-31",
    }


def test_a_new_language_starts_with_its_layout(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        start = client.get(
            "/supervisor/templates/new", params={"intent": "(layout)", "language": "fr"}
        )
        assert "layout.fr.j2" in start.text and "Kind regards," in start.text
        english_layout = _form_of(start.text)["body"]
        french_layout = english_layout.replace("Kind regards,", "Cordialement,").replace(
            '"Hello,"', '"Bonjour,"'
        )
        token = csrf(client, "/supervisor/templates/new")
        form = {"intent": "(layout)", "language": "fr", "tone": "", "_csrf_token": token}
        for change, problem in (
            ({"body": french_layout.replace("{% endif %}", "", 1)}, "Not created"),
            ({"body": french_layout, "tone": "formal"}, "a layout has no tone variants"),
        ):
            refused = client.post("/supervisor/templates/new", data={**form, **change})
            assert refused.status_code == 422 and problem in html.unescape(refused.text), change
        created = client.post("/supervisor/templates/new", data={**form, "body": french_layout})
        assert "Created: layout.fr.j2 version 1 is live." in created.text
        roaming = (
            '{% extends "layout.fr.j2" %}\n{% block body %}\nMerci pour votre message sur '
            "l'itinérance.\n{% endblock %}\n"
        )
        made = client.post(
            "/supervisor/templates/new",
            data={**form, "intent": "roaming", "body": roaming},
        )
        assert "Created: intents/roaming.fr.j2 version 1 is live." in made.text
        # French withdrawn and brought back: the layout goes last, and comes back first.
        ids = {n: _template_row(rt, n, "fr").id for n in ("layout", "intents/roaming")}
        api, auth = "/api/supervisor/templates/{}/{}", api_token(client, "sue")
        assert client.post(api.format(ids["layout"], "retire"), headers=auth).status_code == 409
        for name in ("intents/roaming", "layout"):
            assert client.post(api.format(ids[name], "retire"), headers=auth).status_code == 200
        early = client.post(api.format(ids["intents/roaming"], "restore"), headers=auth)
        assert early.status_code == 409
        assert "layout.fr.j2, is retired: restore it first" in early.json()["detail"]
        for name in ("layout", "intents/roaming"):
            assert client.post(api.format(ids[name], "restore"), headers=auth).status_code == 200
        # Retired without a reason: the audit log has none to show, not an empty "reason:".
        assert [d for _, _, d in _actions(rt, "template.retire")] == [{"version": 2}] * 2
    result = _draft_in(rt, "fr")
    assert result.body.startswith("Bonjour,\n\nMerci pour votre message sur l'itinérance.")
    assert "Cordialement," in result.body


def test_a_colleagues_save_between_our_read_and_write_is_named_not_a_crash(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two supervisors on one snippet: both read version 1, the colleague's version 2 lands
    first; ours would be a second version 2. Simulated by letting our save read the stale list."""
    staff(rt, "sue", "supervisor")
    cap = _snippet(rt, "roaming-spending-cap")
    assert cap is not None
    url = f"/supervisor/snippets/{cap.id}"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        form = _editor_form(client, url)
        with transaction(rt.factory) as session:
            save_snippet(session, rt.settings, cap.id, cap.body + " Colleague's words.", "ann")
        stale = snippet_edit.snippet_versions
        monkeypatch.setattr(
            snippet_edit, "snippet_versions", lambda s, key: stale(s, key)[-1:]
        )  # version 1 only, as we read it
        ours = client.post(f"{url}/save", data={**form, "body": "Our own words."})
        assert ours.status_code == 409
        assert "someone saved a new version a moment ago" in ours.text
        assert "Our own words." in ours.text, "what we typed is still on the page"
        monkeypatch.setattr(retire, "snippet_versions", lambda s, key: stale(s, key)[-1:])
        token = {"_csrf_token": form["_csrf_token"]}
        gone = client.post(f"{url}/retire", data={**token, "reason": "offer ended"})
        assert "not retired: someone saved a new version a moment ago" in html.unescape(gone.text)
        api = client.post(f"/api{url}/retire", headers=api_token(client, "sue"))
        assert api.status_code == 409 and "moment ago" in api.json()["detail"]
        long = {"reason": "x" * 501}
        cut = client.post(f"/api{url}/retire", json=long, headers=api_token(client, "sue"))
        assert cut.status_code == 400 and "reason: longer than 500" in cut.json()["detail"]
        monkeypatch.setattr(snippet_edit, "snippet_versions", lambda s, key: [])
        again = client.post(
            "/supervisor/snippets/new",
            data={
                "key": "roaming-spending-cap",
                "title": "Cap",
                "body": "Words.",
                "_csrf_token": form["_csrf_token"],
            },
        )
        assert again.status_code == 409 and "someone created it a moment ago" in again.text
    live = _snippet(rt, "roaming-spending-cap")
    assert live is not None and live.version == 2 and live.author == "ann"


def _template_row(rt: Runtime, name: str, language: str) -> Template:
    with rt.factory() as session:
        return session.scalars(
            select(Template)
            .where(Template.name == name, Template.language == language, Template.tone == "")
            .order_by(Template.version.desc())
            .limit(1)
        ).one()


def test_a_language_variant_switched_off_leaves_drafts_to_the_fallback(
    rt: Runtime, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    staff(rt, "sue", "supervisor")
    german = _template_row(rt, "intents/outage", "de")
    url = f"/supervisor/templates/{german.id}"
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, url)
        off = client.post(
            url + "/save", data={"body": german.body, "offered": "no", "_csrf_token": token}
        )
        assert "version 2 is live" in off.text
        row = client.get("/supervisor/templates").text
        assert "retired" in row[row.index(">intents/outage.de.j2<") :][:120]
        editor = client.get(url).text  # the history says what version 2 did
        assert '<td>sue <small class="switch">(switched off)</small></td>' in editor
        assert "This version switched off the template; its text is the same" in editor
        # A later edit of the words, from a form without the switch, leaves it off.
        client.post(url + "/save", data={"body": german.body + "\n", "_csrf_token": token})
        for name, language, problem in (
            ("intents/outage", "en", "fall back to the default language's plain template"),
            ("layout", "de", "the de templates extend this layout"),
        ):
            needed = _template_row(rt, name, language)
            refused = client.post(
                f"/supervisor/templates/{needed.id}/save",
                data={"body": needed.body, "offered": "no", "_csrf_token": token},
            )
            assert refused.status_code == 422 and problem in html.unescape(refused.text), name
        again = client.post(
            "/supervisor/templates/new",
            data={"intent": "outage", "language": "de", "body": german.body, "_csrf_token": token},
        )
        assert "exists already, retired: restore it in its editor" in html.unescape(again.text)

        # Retiring the last outage template (de is off) is allowed after a warning: drafts then
        # guess no template, as for an intent without one, over a restart too, until restored.
        english = _template_row(rt, "intents/outage", "en")
        confirm = html.unescape(client.get(f"/supervisor/templates/{english.id}/retire").text)
        assert "This is the last template for “Service outage”" in confirm
        roaming = _template_row(rt, "intents/roaming", "en")
        fallback = html.unescape(client.get(f"/supervisor/templates/{roaming.id}/retire").text)
        assert (
            "messages in English and in the languages without their own template (only German"
            in (fallback)
        )
        billing = _template_row(rt, "intents/billing_dispute", "en")  # has an empathetic variant
        toned = html.unescape(client.get(f"/supervisor/templates/{billing.id}/retire").text)
        assert "the empathetic tone still get its English template" in toned
        reason = {"reason": "outage replies rewritten", "_csrf_token": token}
        colleague = _editor_form(client, f"/supervisor/templates/{english.id}")
        retired = client.post(f"/supervisor/templates/{english.id}/retire", data=reason)
        assert "Retired</strong> by sue" in retired.text
        kept = client.post(  # edited in a tab opened before, "Offered: yes" untouched
            f"/supervisor/templates/{english.id}/save",
            data={**colleague, "offered": "yes", "message_id": "", "body": english.body + "\n"},
        )
        assert "version 3 is live" in kept.text and 'id="retired"' in kept.text
        assert "outage replies rewritten" in html.unescape(retired.text)
        listed = client.get("/supervisor/templates").text
        assert 'data-template="intents/outage.en.j2"' in listed[listed.index("retired-templates") :]
        assert _draft_in(rt, "en", intent="outage").error == "no template for intent 'outage'"
        with transaction(rt.factory) as session:
            seeded = seed_content(
                session, rt.settings, project / "templates", project / "classifiers"
            )
            assert seeded.lines() == ["templates: 0", "snippets: 0", "examples: 0"]
        assert not _template_row(rt, "intents/outage", "en").active
        api, auth = "/api/supervisor/templates/{}/restore", api_token(client, "sue")
        assert client.post(api.format(999999), headers=auth).status_code == 404
        restored = client.post(api.format(english.id), headers=auth).json()
        assert restored["retired"] is False and restored["key"] == "intents/outage.en.j2"
    key = _draft_in(rt, "en", intent="outage").grounding["template"]["key"]
    assert key == "intents/outage.en.j2"
    assert [(a, d.get("reason")) for a, _, d in _actions(rt, "template.re")] == [
        ("template.retire", "outage replies rewritten"),
        ("template.restore", None),
    ]
    assert not _template_row(rt, "intents/outage", "de").active
    result = _draft_in(rt, "de", intent="outage")
    assert result.grounding["template"]["key"] == "intents/outage.en.j2" and result.flags
    switched = [d.get("switched") for a, _, d in _actions(rt, "template.save")]
    assert switched == ["off", None, None]  # the last: the retired one edited, still retired

    # The files mirror what drafts use: export removes it, and importing does not revive it.
    path = project / "templates" / "intents" / "outage.de.j2"
    out = run_cli(rt, project, "export", capsys=capsys)
    assert f"removed {path} (switched off)" in out and not path.exists()
    assert run_cli(rt, project, "import-content", capsys=capsys).split()[:2] == ["templates:", "0"]
    assert not _template_row(rt, "intents/outage", "de").active
    path.write_text("{% extends 'layout.de.j2' %}{% block body %}Neu.{% endblock %}\n")
    out = run_cli(rt, project, "import-content", capsys=capsys)
    assert f"{path}: template intents/outage.de.j2 kept retired: restore it in its editor" in out
    assert "templates: 1" in out
    assert not _template_row(rt, "intents/outage", "de").active


def _cents(split_at: str) -> str:
    """A German snippet naming the cents of the monthly amount, split from money's text."""
    amount = f"(customer.monthly_spend | money).split({split_at!r})[1]"
    return f"{{% if customer.monthly_spend %}}Cent: {{{{ {amount} }}}}{{% endif %}}"


def test_a_snippet_is_checked_in_its_own_languages_number_format(rt: Runtime) -> None:
    """Drafts render a German snippet with German numbers (45,00 €): one splitting the amount
    at the decimal comma is created, one splitting it at an English point is refused before it
    can fail in drafts (the check rendered in English, so it was the other way round)."""
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, "/supervisor/snippets/new")
        form = {"title": "Cent", "intents": "billing_dispute", "language": "de", "tags": ""}
        form["_csrf_token"] = token
        point = client.post(
            "/supervisor/snippets/new", data={**form, "key": "cent-point", "body": _cents(".")}
        )
        said = html.unescape(point.text)
        assert point.status_code == 422 and "list object has no element 1" in said
        comma = client.post(
            "/supervisor/snippets/new", data={**form, "key": "cent-comma", "body": _cents(",")}
        )
        assert "Created: snippet cent-comma version 1 is live." in comma.text, comma.text[-2000:]
    assert _snippet(rt, "cent-point") is None
