"""Two supervisors saving the rules at the same moment: whichever form's save comes second was
made on rules that are no longer live, so it is refused with the stale page's 409 and changes
nothing, even when the other save commits after the form's own check (between the page's
read and its save, or inside the save between its check and its write, where the version
number's unique constraint is what refuses it)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import AuditEntry
from responder.db.session import transaction
from responder.drafting.rule_versions import current_rules
from responder.runtime import Runtime
from responder.supervisor import rule_edit
from responder.supervisor.rule_toml import placed
from responder.web import action_rule_pages
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.supervisor.test_rule_form import _form
from tests.supervisor.test_rules import versions
from tests.test_web_security import csrf, login

Post = Callable[[TestClient, str], object]


def _other_save(rt: Runtime) -> None:
    """Tom's save of the action rules (the contact window widened), committed on its own."""
    with transaction(rt.factory) as session:
        text = rule_edit.live_text(session, rt.settings, "actions")
        assert "contact_days = 14\n" in text
        widened = text.replace("contact_days = 14\n", "contact_days = 21\n")
        rule_edit.save_rules(session, rt.settings, "actions", "tom", text=widened)


def _edit(client: TestClient, token: str) -> object:
    form = _form(client.get("/supervisor/action-rules/3").text)
    assert form["version"] == "0"
    return client.post("/supervisor/action-rules/3", data={**form, "label": "Sue's label"})


def _remove(client: TestClient, token: str) -> object:
    return client.post(
        "/supervisor/action-rules/3/remove", data={"version": "0", "_csrf_token": token}
    )


def _move(client: TestClient, token: str) -> object:
    data = {"version": "0", "direction": "down", "_csrf_token": token}
    return client.post("/supervisor/action-rules/1/move", data=data)


def _toml(client: TestClient, token: str, page: str = "") -> object:
    """The action rules' TOML editor saved, as `page` (by default: opened now) showed it."""
    page = page or client.get("/supervisor/rules").text
    form = page.split('id="actions-form"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="version" value="0">' in form
    text = html.unescape(form.split('id="actions-text"', 1)[1].split(">", 1)[1].split("</")[0])
    data = {"text": text.replace("contact_days = 14", "contact_days = 7"), "version": "0"}
    return client.post("/supervisor/rules/actions/save", data={**data, "_csrf_token": token})


#: Each form, and what its 409 page says once Tom's version 1 is live.
FORMS: dict[str, tuple[Post, str]] = {
    "edit": (_edit, "changed while this form was open (version 1 is live now)"),
    "remove": (_remove, "Not removed: the action rules changed (version 1 is live now)"),
    "move": (_move, "Not moved: the action rules changed (version 1 is live now)"),
    "toml": (_toml, "Not saved: "),
}


@pytest.fixture
def sue(rt: Runtime) -> Iterator[tuple[TestClient, str]]:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        yield client, csrf(client, "/supervisor/rules")


def _shows_toms_change(page: str) -> None:
    """The refusal says who saved since and shows their change as lines taken out and put in."""
    said = html.unescape(page)
    assert re.search(r"<strong>version 1</strong> by tom at [^;]*\(live now\)", said), said
    theirs = said.split('id="actions-theirs">', 1)[1].split("</pre>", 1)[0]
    assert '<span class="diff-del">-contact_days = 14</span>' in theirs
    assert '<span class="diff-add">+contact_days = 21</span>' in theirs


def _editor(page: str) -> dict[str, str]:
    """The action rules' TOML editor as `page` fills it: its hidden fields and its text."""
    form = page.split('id="actions-form"', 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    fields["text"] = form.split('id="actions-text"', 1)[1].split(">", 1)[1].split("</textarea")[0]
    buttons = re.findall(r'<button type="submit" name="over" value="(\d+)"', form)
    fields.update({"over": buttons[0]} if buttons else {})
    return {name: html.unescape(value) for name, value in fields.items()}


def _buttons(page: str) -> list[str]:
    """The words on the action rules' TOML editor's buttons."""
    form = page.split('id="actions-form"', 1)[1].split("</form>", 1)[0]
    return [html.unescape(b) for b in re.findall(r"<button [^>]*>([^<]*)</button>", form)]


def _only_toms_save_is_live(rt: Runtime) -> None:
    assert versions(rt) == 1
    with rt.factory() as session:
        rules = current_rules(session, rt.settings)
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "rules.save")
        ).all()
    assert rules.versions["actions"] == 1 and rules.actions.contact_days == 21
    assert rules.actions.rules == rt.settings.actions.rules, "no rule edited, removed or moved"
    assert actors == ["tom"]


def _tom_saves_inside_the_next_save(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tom's save commits inside the next save's transaction, after its version check passed
    and before it writes: both want the same version number."""
    checked = rule_edit.check
    saves = []

    def check_then_tom_saves(*args: object) -> None:
        checked(*args)
        if not saves:
            saves.append("tom")
            _other_save(rt)

    monkeypatch.setattr(rule_edit, "check", check_then_tom_saves)


@pytest.mark.parametrize("kind", ["edit", "remove", "move"])
def test_a_save_that_lands_between_the_forms_read_and_its_save_refuses_the_form(
    rt: Runtime, sue: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The form's version matched when its handler read the rules; Tom's save commits right
    after that read, before the form's save begins."""
    read = action_rule_pages._live_text

    def read_then_tom_saves(request: object) -> object:
        live = read(request)
        _other_save(rt)
        return live

    monkeypatch.setattr(action_rule_pages, "_live_text", read_then_tom_saves)
    post, says = FORMS[kind]
    answer = post(*sue)
    assert answer.status_code == 409, answer.text
    assert says in html.unescape(answer.text)
    _shows_toms_change(answer.text)
    _only_toms_save_is_live(rt)
    if kind == "edit":  # the form kept, now made on Tom's version: its button says so
        assert re.search(r'id="rule-save">Save rule 3 into version 1<', answer.text)
        monkeypatch.undo()  # Tom saves no more
        saved = sue[0].post("/supervisor/action-rules/3", data=_form(answer.text))
        assert "version 2 of the action rules is live" in html.unescape(saved.text), saved.text


@pytest.mark.parametrize("kind", list(FORMS))
def test_a_save_that_lands_inside_the_forms_save_is_refused_by_the_version_number(
    rt: Runtime, sue: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Tom's save commits inside the form's saving transaction, after it checked the live
    version and before it writes its own: both want version 1, and the form's is a 409."""
    _tom_saves_inside_the_next_save(rt, monkeypatch)
    post, says = FORMS[kind]
    answer = post(*sue)
    assert answer.status_code == 409, answer.text
    assert says in html.unescape(answer.text)
    if kind == "toml":
        assert "another save of the action rules came first (version 1 is live now)" in (
            html.unescape(answer.text)
        )
    _shows_toms_change(answer.text)
    _only_toms_save_is_live(rt)


def test_the_toml_form_opened_before_another_save_is_refused(
    rt: Runtime, sue: tuple[TestClient, str]
) -> None:
    client, token = sue
    page = client.get("/supervisor/rules").text
    _other_save(rt)
    answer = _toml(client, token, page)
    assert answer.status_code == 409, answer.text
    said = html.unescape(answer.text)
    assert "Not saved: the action rules changed since they were read: version 1 is live" in said
    assert "contact_days = 7" in said, "what was typed stays, to copy onto the live version"
    _only_toms_save_is_live(rt)


def _refused_toml_save(rt: Runtime, sue: tuple[TestClient, str]) -> str:
    """Sue's TOML edit (contact window 7 days) made on config.toml's rules, saved after Tom's
    version 1 (21 days): the 409 page."""
    client, token = sue
    page = client.get("/supervisor/rules").text
    _other_save(rt)
    answer = _toml(client, token, page)
    assert answer.status_code == 409, answer.text
    return answer.text


def test_the_refused_toml_save_shows_both_changes_and_saving_it_again_is_refused_again(
    rt: Runtime, sue: tuple[TestClient, str]
) -> None:
    """The 409 page carried the live version with Sue's stale text, so a second Save silently
    undid Tom's change: now it shows his change and hers, its one button saves over his
    version, and a plain Save sent from an older page is refused again."""
    client, token = sue
    page = _refused_toml_save(rt, sue)
    _shows_toms_change(page)
    said = html.unescape(page)
    mine = said.split('id="actions-mine">', 1)[1].split("</pre>", 1)[0]
    assert '<span class="diff-add">+contact_days = 7</span>' in mine
    live = said.split('id="actions-live-text"', 1)[1].split("</details>", 1)[0]
    assert "contact_days = 21" in live and "by tom" in live
    assert "read them again" not in said, "the page says what to do below, in one way"
    editor = _editor(page)
    assert "contact_days = 7" in editor["text"], "her text stays in the editor"
    assert editor["version"] == "0", "still marked as made on config.toml's rules"
    assert editor["over"] == "1", "its button saves over Tom's version"
    assert _buttons(page) == ["Save my text over version 1"], "one way on, no plain Save"

    again = {"text": editor["text"], "version": editor["version"], "_csrf_token": token}
    second = client.post("/supervisor/rules/actions/save", data=again)
    assert second.status_code == 409, second.text
    _shows_toms_change(second.text)
    _only_toms_save_is_live(rt)


def test_saving_mine_over_theirs_replaces_the_live_version_on_purpose_and_is_audited(
    rt: Runtime, sue: tuple[TestClient, str]
) -> None:
    client, token = sue
    editor = _editor(_refused_toml_save(rt, sue))
    with transaction(rt.factory) as session:  # Ann saves too while Sue reads the conflict
        text = rule_edit.live_text(session, rt.settings, "actions")
        rule_edit.save_rules(
            session, rt.settings, "actions", "ann", text=text + "# ann was here\n", read=1
        )
    over = client.post("/supervisor/rules/actions/save", data={**editor, "_csrf_token": token})
    assert over.status_code == 409, "saved over Tom's version 1 only, not Ann's 2 unseen"
    assert "<strong>version 2</strong> by ann" in html.unescape(over.text)
    editor = _editor(over.text)
    assert (editor["version"], editor["over"]) == ("0", "2")

    saved = client.post("/supervisor/rules/actions/save", data={**editor, "_csrf_token": token})
    assert saved.status_code == 200 and "version 3 of the action rules is live" in saved.text
    with rt.factory() as session:
        rules = current_rules(session, rt.settings)
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "rules.overwrite")
        ).one()
    assert rules.versions["actions"] == 3 and rules.actions.contact_days == 7
    assert entry.actor == "sue"
    assert entry.detail["change"] == "saved over version 2 (ann's), made on config.toml's rules"
    log = html.unescape(client.get("/audit").text)
    assert "Rules saved over another's change" in log


def test_working_their_change_in_by_hand_saves_with_one_press(
    rt: Runtime, sue: tuple[TestClient, str]
) -> None:
    """Sue adds a note to the rules Tom widened meanwhile: on the refusal she works his change
    into her text, and the page's one button saves it (over his version, audited so)."""
    client, token = sue
    page = client.get("/supervisor/rules").text
    _other_save(rt)
    text = _editor(page)["text"] + "# sue: reviewed\n"
    mine = {"text": text, "version": "0", "_csrf_token": token}
    refused = client.post("/supervisor/rules/actions/save", data=mine)
    assert refused.status_code == 409, refused.text
    editor = _editor(refused.text)
    assert len(_buttons(refused.text)) == 1, "no guessing which button keeps her merge"
    merged = editor["text"].replace("contact_days = 14\n", "contact_days = 21\n")
    saved = client.post(
        "/supervisor/rules/actions/save", data={**editor, "text": merged, "_csrf_token": token}
    )
    assert "version 2 of the action rules is live" in html.unescape(saved.text), saved.text
    with rt.factory() as session:
        live = rule_edit.live_text(session, rt.settings, "actions")
        done = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert "contact_days = 21\n" in live and "# sue: reviewed" in live
    assert done[-1] == "rules.overwrite"


def test_a_typo_in_saving_over_theirs_keeps_the_conflict_and_its_button(
    rt: Runtime, sue: tuple[TestClient, str]
) -> None:
    """The refusal of a TOML typo in Sue's save over Tom's version marked her text as made on
    his version, with a plain Save: its fix saved as if she had never seen his change."""
    client, token = sue
    editor = _editor(_refused_toml_save(rt, sue))
    typo = {**editor, "text": editor["text"] + "[[rules]\n", "_csrf_token": token}
    refused = client.post("/supervisor/rules/actions/save", data=typo)
    assert refused.status_code == 422, refused.text
    _shows_toms_change(refused.text)
    again = _editor(refused.text)
    assert (again["version"], again["over"]) == ("0", "1")
    assert _buttons(refused.text) == ["Save my text over version 1"]
    fixed = {**again, "text": editor["text"], "_csrf_token": token}
    saved = client.post("/supervisor/rules/actions/save", data=fixed)
    assert "version 2 of the action rules is live" in html.unescape(saved.text), saved.text
    with rt.factory() as session:
        done = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert done[-1] == "rules.overwrite"


def test_a_rule_gone_since_the_page_showed_it_is_the_stale_page_not_a_404(
    rt: Runtime, sue: tuple[TestClient, str]
) -> None:
    """Tom removed the last rule after Sue's pages showed it: her edit, Remove and Move down
    on it say the rules changed (her typed edit kept on the form), not "there is no action
    rule"; nothing of hers is saved. Saving the kept edit again, as the page invites, was a
    404 that lost her typing: the page says the rule is gone and its form adds it at the end."""
    client, token = sue
    last = len(rt.settings.actions.rules)
    form = _form(client.get(f"/supervisor/action-rules/{last}").text)
    assert form["version"] == "0"
    with transaction(rt.factory) as session:
        text = rule_edit.live_text(session, rt.settings, "actions")
        rule_edit.save_rules(
            session, rt.settings, "actions", "tom", text=placed(text, last - 1, None)
        )
    edited = client.post(f"/supervisor/action-rules/{last}", data={**form, "label": "Sue's"})
    assert edited.status_code == 409, edited.text
    said = html.unescape(edited.text)
    assert "changed while this form was open (version 1 is live now)" in said
    assert 'value="Sue\'s"' in said, "the typed label stays on the form"
    assert f"Rule {last} is no longer in the live list" in said
    assert 'action="/supervisor/action-rules/new"' in said
    bare = {k: v for k, v in form.items() if k != "version"}  # an old form, a hand-made post
    unread = client.post(f"/supervisor/action-rules/{last}", data={**bare, "label": "Sue's"})
    assert unread.status_code == 409, unread.text
    said = html.unescape(unread.text)
    assert "did not say which version of the action rules it was made on" in said
    assert f"Rule {last} is no longer in the live list" in said and 'value="Sue\'s"' in said
    assert 'action="/supervisor/action-rules/new"' in said, "not its number: that was a 404"
    old = {"version": "0", "_csrf_token": token}
    removed = client.post(f"/supervisor/action-rules/{last}/remove", data=old)
    assert removed.status_code == 409, removed.text
    assert "Not removed: the action rules changed (version 1 is live now)" in removed.text
    moved = client.post(
        f"/supervisor/action-rules/{last - 1}/move", data={**old, "direction": "down"}
    )
    assert moved.status_code == 409, moved.text
    assert "Not moved: the action rules changed (version 1 is live now)" in moved.text
    assert versions(rt) == 1
    again = client.post("/supervisor/action-rules/new", data=_form(edited.text))
    assert again.status_code == 200, again.text
    assert f"Saved: added action rule {last} {form['name']!r}" in html.unescape(again.text)
    with rt.factory() as session:
        rules = current_rules(session, rt.settings).actions.rules
    assert (len(rules), rules[-1].label) == (last, "Sue's")


def test_an_api_save_without_a_version_overwrites_a_save_made_at_the_same_moment(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save without `version` overwrites whatever is live, as the API says: Tom's save
    taking its version number inside it made it a 409; it is now saved over his version 1."""
    _tom_saves_inside_the_next_save(rt, monkeypatch)
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        rules = client.get("/api/supervisor/rules", headers=auth).json()["actions"]["rules"]
        answer = client.post(
            "/api/supervisor/rules/actions",
            headers=auth,
            json={"rules": {**rules, "contact_days": 7}},
        )
    assert answer.status_code == 201, answer.text
    assert answer.json()["actions"]["version"] == 2
    assert answer.json()["actions"]["rules"]["contact_days"] == 7
    with rt.factory() as session:
        saved = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "rules.save").order_by(AuditEntry.id)
        ).all()
    assert [(e.actor, e.detail["previous"]) for e in saved] == [("tom", None), ("sue", 1)]
