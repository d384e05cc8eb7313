"""A supervisor edits a template in a real browser (Debian Chromium): errors show, never go live."""

from __future__ import annotations

from sqlalchemy import select

from responder.db.models import Customer, Snippet, Template
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from tests.browser_support import ARTIFACTS, browser, on_sqlite_only
from tests.helpers import drop, make_email, staff
from tests.live_server import serve
from tests.supervisor.history import agent_correction, waiting_message

PASSWORD = "correct horse battery"


def _log_in(page: object, base: str, username: str) -> None:
    page.goto(f"{base}/login?next=/supervisor/templates")  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/supervisor/templates")  # type: ignore[attr-defined]


def _versions(rt: Runtime) -> list[int]:
    with rt.factory() as session:
        return sorted(
            session.scalars(
                select(Template.version).where(
                    Template.name == "intents/roaming", Template.language == "en"
                )
            )
        )


@on_sqlite_only
def test_edit_template_error_shown_not_saved_then_fixed(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    waiting_message(rt, 1)
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("text=Roaming — English")
        page.wait_for_selector("#body")
        page.wait_for_load_state()  # editor.js listens: a fill before it runs previews nothing
        preview = page.locator("#preview")
        assert "Safe travels" in preview.inner_text()

        # A typo: the preview shows the error in place, as the supervisor types.
        page.fill("#body", "{{ customer.first_nam }}, thanks for writing.")
        page.locator("#preview-error").filter(has_text="first_nam").wait_for()
        assert preview.inner_text() == ""
        page.click("#save")
        page.locator("#save-error").filter(has_text="not saved").wait_for()
        assert "first_nam" in page.locator("#save-error").inner_text()
        assert page.input_value("#body").startswith("{{ customer.first_nam }}")
        assert _versions(rt) == [1]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "template-error.png"), full_page=True)

        # Fixed: the preview changes as it is typed, and saving makes version 2 live.
        fixed = (
            '{% extends "layout.en.j2" %}\n{% block body %}\n'
            "Thanks for writing about roaming on the {{ customer.plan or 'your' }} plan.\n"
            "{% endblock %}\n"
        )
        page.fill("#body", fixed)
        page.locator("#preview").filter(has_text="Thanks for writing about roaming").wait_for()
        assert page.locator("#preview-error").is_hidden()
        page.click("#save")
        page.locator("#notice").filter(has_text="version 2 is live").wait_for()
        history = page.locator("#history tbody tr")
        assert history.count() == 2
        assert "2 (live)" in history.nth(0).inner_text() and "sue" in history.nth(0).inner_text()
        assert "+Thanks for writing about roaming" in page.locator("#diff").inner_text()
        page.screenshot(path=str(ARTIFACTS / "template-saved.png"), full_page=True)
    assert _versions(rt) == [1, 2]


@on_sqlite_only
def test_accept_an_agents_correction(rt: Runtime) -> None:
    from responder.db.models import ClassifierExample

    staff(rt, "sue", "supervisor")
    example_id = agent_correction(rt, waiting_message(rt, 1), "billing_dispute", "roaming", "alice")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("header >> text=Classifiers")
        row = page.locator(f"#candidates tr[data-id='{example_id}']")
        assert "alice" in row.inner_text() and "billing_dispute" in row.inner_text()
        row.locator("button.accept").click()
        page.locator("#notice").filter(has_text="Correction accepted").wait_for()
        assert page.locator("#candidates tbody tr").count() == 0
        page.click("#labels >> text=billing_dispute")
        page.locator(f"#examples tr[data-id='{example_id}']").wait_for()
    with rt.factory() as session:
        accepted = session.get(ClassifierExample, example_id)
        assert (accepted.status, accepted.label) == ("active", "billing_dispute")


@on_sqlite_only
def test_accept_a_correction_retrain_and_activate(rt: Runtime, worker: Worker) -> None:
    """The whole loop: an agent's correction, accepted, trained on, compared, made active."""
    from responder.db.models import Message
    from tests.supervisor.test_retrain import active_version, trained_intent

    staff(rt, "sue", "supervisor")
    before = trained_intent(rt)
    example_id = agent_correction(rt, waiting_message(rt, 1), "billing_dispute", "roaming", "alice")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("header >> text=Classifiers")
        assert page.inner_text("#active-version") == str(before)
        page.locator(f"#candidates tr[data-id='{example_id}'] button.accept").click()
        page.locator("#notice").filter(has_text="Correction accepted").wait_for()

        page.click("#retrain-button")
        # retrain.js follows the job's progress and shows the comparison when it is trained.
        page.locator("#compare").wait_for(timeout=300_000)
        accuracy = page.locator("#compare-accuracy td")
        assert accuracy.count() == 3 and all(
            accuracy.nth(i).inner_text().endswith("%") for i in (1, 2)
        ), "the new model's metrics are shown beside the active one's"
        assert f"New (version {before + 1})" in page.inner_text("#compare")
        assert active_version(rt) == before, "nothing changes before Activate"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "retrain-compare.png"), full_page=True)

        # One more example can score a little lower by chance, and then Activate asks first.
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("#activate")
        page.locator("#notice").filter(
            has_text=f"Version {before + 1} of intent is now active"
        ).wait_for()
        assert page.inner_text("#active-version") == str(before + 1)
    assert active_version(rt) == before + 1

    drop(rt, make_email(message_id="<after-retrain@mail.test>"), "after-retrain")
    worker.drain()
    with rt.factory() as session:
        message = session.scalar(
            select(Message).where(Message.message_id_header == "<after-retrain@mail.test>")
        )
        assert message.classification["models"]["intent"] == before + 1


@on_sqlite_only
def test_a_supervisor_adds_a_snippet_and_switches_it_off_in_the_browser(rt: Runtime) -> None:

    staff(rt, "sue", "supervisor")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("#new-snippet-link")
        page.wait_for_selector("#new-snippet")
        page.fill("input[name=key]", "roaming-cruise-ships")
        page.fill("input[name=title]", "Phones on cruise ships")
        page.fill("input[name=intents]", "roaming")
        page.fill("input[name=tags]", "cruise, ship")
        page.fill("input[name=valid_until]", "2027-09-30")
        page.fill("#body", "At sea your phone uses the ship's satellite network: use its wifi.")
        page.click("text=Create snippet")
        page.locator("#notice").filter(has_text="roaming-cruise-ships version 1 is live").wait_for()
        assert "use its wifi" in page.locator("#preview").inner_text()
        page.select_option("#offered", "no")
        page.click("#save")
        page.locator("#notice").filter(has_text="version 2 is live").wait_for()
        assert "+offered: no" in page.locator("#diff").inner_text()
        page.goto(f"{base}/supervisor/templates")
        row = page.locator("tr", has_text="roaming-cruise-ships")
        assert "retired" in row.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "snippet-switched-off.png"), full_page=True)
    with rt.factory() as session:
        versions = session.scalars(
            select(Snippet).where(Snippet.key == "roaming-cruise-ships").order_by(Snippet.version)
        ).all()
        assert [(v.version, v.active) for v in versions] == [(1, True), (2, False)]
        assert versions[1].filters == {"valid_until": "2027-09-30"}


@on_sqlite_only
def test_the_new_snippet_page_previews_as_you_type_like_the_editor(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    waiting_message(rt, 1)
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("#new-snippet-link")
        page.wait_for_selector("#new-snippet")
        preview, problem = page.locator("#preview"), page.locator("#preview-error")
        page.fill("#body", "{{ customer.first_name }}, our help pages: {{ company.support_url }}")
        preview.filter(has_text="our help pages: https://northwind-mobile.test/help").wait_for()
        assert problem.is_hidden()
        page.fill("input[name=key]", "roaming-cruise-ships")
        page.fill("#body", "Dear {{ customer.frist_name }}")
        problem.filter(has_text="frist_name").wait_for()
        assert "snippet roaming-cruise-ships" in problem.inner_text(), "the key being written"
        assert preview.inner_text() == ""
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "new-snippet-preview.png"), full_page=True)
    with rt.factory() as session:
        assert session.scalar(select(Snippet).where(Snippet.author == "sue")) is None


@on_sqlite_only
def test_the_new_template_page_previews_as_you_type_like_the_editor(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    waiting_message(rt, 1, intent="praise", subject="You were great", text="Thanks, Ciara!")
    with transaction(rt.factory) as session:
        session.add(Customer(name="Jörg Müller", plan="Unlimited Plus", external_id="DE-1"))
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("#new-template-link")
        page.select_option("select[name=intent]", "praise")
        page.select_option("select[name=language]", "de")
        page.click("text=Start")
        page.wait_for_selector("#new-template")
        preview, problem = page.locator("#preview"), page.locator("#preview-error")
        # Rendered on the server at once: the English text, in the German layout.
        assert "Guten Tag" in preview.inner_text()
        assert "Thank you so much for taking the time" in preview.inner_text()
        assert page.locator("#preview-message option:checked").inner_text().startswith("#1 ")
        page.fill(
            "#body",
            '{% extends "layout.de.j2" %}\n{% block body %}\nvielen Dank für Ihr Lob.\n'
            "{% endblock %}\n",
        )
        preview.filter(has_text="vielen Dank für Ihr Lob.").wait_for()
        assert problem.is_hidden()
        page.select_option("#preview-customer", label="Jörg Müller · Unlimited Plus")
        preview.filter(has_text="Guten Tag Jörg Müller,").wait_for()
        page.fill(
            "#body",
            '{% extends "layout.de.j2" %}{% block body %}{{ customer.frist_name }}{% endblock %}',
        )
        problem.filter(has_text="frist_name").wait_for()
        assert "intents/praise.de.j2" in problem.inner_text(), "named as the template it will be"
        assert preview.inner_text() == ""
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "new-template-preview.png"), full_page=True)
    with rt.factory() as session:
        assert session.scalar(select(Template).where(Template.author == "sue")) is None


@on_sqlite_only
def test_a_supervisor_translates_a_template_in_the_browser(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        _log_in(page, base, "sue")
        page.click("#new-template-link")
        page.select_option("select[name=intent]", "praise")
        page.select_option("select[name=language]", "de")
        page.click("text=Start")
        page.wait_for_selector("#new-template")
        assert "intents/praise.de.j2" in page.inner_text("#new-template")
        english = page.input_value("#body")  # the English text, in the German layout
        assert english.startswith('{% extends "layout.de.j2" %}')
        assert "Thank you so much for taking the time" in english
        page.fill(
            "#body",
            '{% extends "layout.de.j2" %}\n{% block body %}\nvielen Dank für Ihre Nachricht '
            "und Ihr Lob.\n{% endblock %}\n",
        )
        page.click("text=Create template")
        page.locator("#notice").filter(has_text="intents/praise.de.j2 version 1 is live").wait_for()
        assert (
            "vielen Dank für Ihre Nachricht und Ihr Lob." in page.locator("#preview").inner_text()
        )
    with rt.factory() as session:
        german = session.scalars(
            select(Template).where(Template.name == "intents/praise", Template.language == "de")
        ).one()
        assert (german.version, german.author) == (1, "sue")
