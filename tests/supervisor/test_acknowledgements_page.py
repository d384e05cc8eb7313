"""The supervisors' page on the automatic acknowledgements: whether and when they go out, what a
customer receives (rendered beside the raw text), how many went out in the last week, and where
they are changed. Read-only: the settings live in config.toml."""

from __future__ import annotations

import socket
from datetime import date, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import msgspec
from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.db.models import Acknowledgement, Message
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, sent_replies, staff
from tests.test_web_security import login

PAGE = "/supervisor/acknowledgements"
DUBLIN = ZoneInfo("Europe/Dublin")
WEEKDAYS = dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "08:00-20:00")
VOID = {"br", "input", "img"}
INLINE = {"a", "code", "strong", "small", "em"}
GERMAN = "Guten Tag {{ name }}, wir sind ab {{ opens }} wieder da. Ihr Anliegen: {{ subject }}."


def _section(page: str, element_id: str) -> str:
    """The text of the element with that id as a reader sees it: spaces collapsed, a space
    between cells and blocks, none around inline tags such as <code>."""
    part = page.split(f'id="{element_id}"', 1)[1].split(">", 1)[1]
    depth, out, i = 0, [], 0
    while i < len(part):
        if part[i] != "<":
            out.append(part[i])
            i += 1
            continue
        end = part.index(">", i)
        tag = part[i + 1 : end].lstrip("/").split()[0]
        if part.startswith("</", i):
            if depth == 0:
                break
            depth -= 1
        elif tag not in VOID:
            depth += 1
        out.append("" if tag in INLINE else " ")
        i = end + 1
    return " ".join(unescape("".join(out)).split())


WOCHENTAGE = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
MONATE = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip


def _next_opening(closed_until: date, language: str = "en") -> str:
    """The weekday after `closed_until`, at 08:00, as the acknowledgement names it in English
    or in German."""
    day = closed_until + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    if language == "de":
        german = f"{WOCHENTAGE[day.weekday()]}, {day.day}. {MONATE[day.month - 1]}"
        return f"{german}, 08:00 (Europe/Dublin)"
    return f"{day:%a %d %b} 08:00 (Europe/Dublin)"


def test_a_supervisor_sees_when_they_go_out_and_what_a_customer_reads(rt: Runtime) -> None:
    staff(rt, "sam", role="supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sam")
        off = client.get(PAGE)
        assert off.status_code == 200
        assert f'<a href="{PAGE}">Acknowledgements</a>' in off.text, "in the supervisor menu"
        assert _section(off.text, "ack-status") == (
            "Off. Customers get no automatic acknowledgement, only the reply a person sends."
        )

        today = datetime.now(DUBLIN).date()
        closed = [(today + timedelta(days=n)).isoformat() for n in range(8)]
        rt.settings = msgspec.structs.replace(
            rt.settings,
            queue=msgspec.structs.replace(
                rt.settings.queue,
                timezone="Europe/Dublin",
                business_hours={**WEEKDAYS, "sat": "09:00-13:00"},
                closed_dates=closed,
            ),
            acknowledge=msgspec.structs.replace(
                rt.settings.acknowledge,
                enabled=True,
                when="closed",
                social=True,
                once_per_hours=12,
                texts={"de": GERMAN},
            ),
        )
        page = client.get(PAGE).text
        status = _section(page, "ack-status")
        assert status.startswith("On. Only an email or direct message that arrives while the")
        assert "at most one per customer in 12 hours" in status
        hours = _section(page, "ack-opening-hours")
        assert "Monday 08:00-20:00" in hours and "Saturday 09:00-13:00" in hours
        assert "Sunday closed" in hours
        assert "In the team's time zone, Europe/Dublin" in unescape(page)
        assert f"Also closed on {', '.join(closed)}." in page
        channels = _section(page, "ack-channels")
        assert "Email Yes: a reply in the customer's thread" in channels
        assert "Direct messages (Messenger, Instagram, WhatsApp, X) Yes" in channels

        opens = _next_opening(today + timedelta(days=7))
        german_opens = _next_opening(today + timedelta(days=7), "de")
        default = _section(page, "ack-text-default")
        assert "Subject: Re: Roaming charges on my bill" in default
        received = default.split("As received", 1)[1].split("Text in config.toml")[0]
        assert received.startswith(" Subject: Re: Roaming charges on my bill Hello Aoife,")
        assert f"back on {opens}: a person will read it" in received
        assert received.rstrip().endswith(rt.settings.drafting.signature), "the sign-off"
        assert "{% if first_name %} {{ first_name }}{% endif %}" in default, "the raw text beside"
        german = _section(page, "ack-text-de")
        assert "German acknowledge.texts.de" in german
        assert (
            f"Guten Tag Aoife Murphy, wir sind ab {german_opens} wieder da. Ihr Anliegen: "
            "Roaming charges on my bill." in german
        )
        assert GERMAN in german

        settings_said = _section(page, "ack-settings")
        assert (
            "changed in config.toml under [acknowledge]: acknowledge.enabled, acknowledge.when, "
            "acknowledge.social, acknowledge.once_per_hours, acknowledge.text, acknowledge.texts"
        ) in settings_said
        assert "takes effect after a restart" in settings_said

        api = client.get(f"/api{PAGE}", headers=api_token(client, "sam")).json()
        assert (api["enabled"], api["when"], api["social"]) == (True, "closed", True)
        assert [t["language"] for t in api["texts"]] == ["", "de"]
        assert api["texts"][1]["rendered"].startswith(
            f"Guten Tag Aoife Murphy, wir sind ab {german_opens}"
        )
        assert api["texts"][1]["raw"] == GERMAN
        assert {"day": "Sunday", "hours": "closed"} in api["opening_hours"]
        schema = client.get("/schema/openapi.json").json()
        documented = schema["paths"][f"/api{PAGE}"]["get"]
        assert documented["summary"].startswith("How the automatic acknowledgements are set")
        assert f"<code>/api{PAGE}</code>" in client.get("/schema").text

        rt.settings = msgspec.structs.replace(
            rt.settings,
            acknowledge=msgspec.structs.replace(
                rt.settings.acknowledge, when="always", social=False
            ),
        )
        page = client.get(PAGE).text
        assert _section(page, "ack-status").startswith(
            "On. Every email that waits for a person gets one, at any hour"
        )
        assert 'id="ack-opening-hours"' not in page, "the hours do not matter then"
        assert "Direct messages (Messenger, Instagram, WhatsApp, X) No" in _section(
            page, "ack-channels"
        )
        received = _section(page, "ack-text-default").split("As received", 1)[1]
        assert "A person will read it and reply to you soon." in received


def test_the_shipped_german_text_is_shown_as_a_german_customer_reads_it(rt: Runtime) -> None:
    """config.toml ships a German text: its sample says when the team is back in German, the
    default's in English as before."""
    today = datetime.now(DUBLIN).date()
    rt.settings = msgspec.structs.replace(
        rt.settings,
        queue=msgspec.structs.replace(
            rt.settings.queue,
            timezone="Europe/Dublin",
            business_hours=WEEKDAYS,
            closed_dates=[(today + timedelta(days=n)).isoformat() for n in range(8)],
        ),
        acknowledge=msgspec.structs.replace(rt.settings.acknowledge, enabled=True),
    )
    staff(rt, "sam", role="supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sam")
        page = client.get(PAGE).text
        api = client.get(f"/api{PAGE}", headers=api_token(client, "sam")).json()
    closed_until = today + timedelta(days=7)
    german = _section(page, "ack-text-de").split("As received", 1)[1]
    assert german.startswith(
        " Subject: Re: Roaming charges on my bill Guten Tag Aoife Murphy, vielen Dank für Ihre "
        "Nachricht. Unser Team ist gerade nicht im Dienst und ab "
        f"{_next_opening(closed_until, 'de')} wieder für Sie da: Dann liest jemand aus unserem "
        "Team Ihre Nachricht und antwortet Ihnen. Dies ist eine automatische "
        "Eingangsbestätigung; Sie müssen nicht darauf antworten. "
        f"{rt.settings.drafting.signature}"
    )
    default = _section(page, "ack-text-default").split("As received", 1)[1]
    assert f"back on {_next_opening(closed_until)}: a person will read it" in default
    assert [t["language"] for t in api["texts"]] == ["", "de"]


def test_the_last_weeks_sent_and_failed_acknowledgements_are_counted(
    rt: Runtime, worker: Worker
) -> None:
    rt.settings = msgspec.structs.replace(
        rt.settings,
        acknowledge=msgspec.structs.replace(rt.settings.acknowledge, enabled=True, when="always"),
    )
    staff(rt, "sam", role="supervisor")
    for n, sender in enumerate(("Aoife Murphy <aoife@mail.test>", "Cian Byrne <cian@mail.test>")):
        drop(rt, make_email(sender=sender, message_id=f"<s{n}@mail.test>"), f"sent-{n}")
    drop(rt, make_email(sender="Old One <old@mail.test>", message_id="<old@mail.test>"), "old")
    worker.drain()
    assert len(sent_replies(rt)) == 3
    with transaction(rt.factory) as session:  # one of them went out eight days ago
        old = session.scalars(
            select(Message.id).where(Message.message_id_header == "<old@mail.test>")
        ).one()
        eight_days = datetime.now().astimezone() - timedelta(days=8)
        session.execute(
            update(Acknowledgement)
            .where(Acknowledgement.message_id == old)
            .values(created_at=eight_days, sent_at=eight_days)
        )

    with socket.socket() as probe:  # the mail server is down now: one attempt, and it fails
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rt.settings = msgspec.structs.replace(
        rt.settings,
        outbound=msgspec.structs.replace(rt.settings.outbound, transport="smtp", max_attempts=1),
        smtp=msgspec.structs.replace(rt.settings.smtp, port=port, security="none"),
    )
    rt.__dict__.pop("sender", None)
    for n in range(2):
        sender = f"Failed {n} <failed{n}@mail.test>"
        drop(rt, make_email(sender=sender, message_id=f"<f{n}@mail.test>"), f"failed-{n}")
    worker.drain()

    with TestClient(create_app(rt)) as client:
        login(client, "sam")
        counts = _section(client.get(PAGE).text, "ack-counts")
        assert counts == "2 sent, 2 failed (2 listed under Needs attention)."
        assert '<a href="/problems#acknowledgements">Needs attention</a>' in client.get(PAGE).text
        auth = api_token(client, "sam")
        listed = client.get("/api/problems", headers=auth).json()["acknowledgements"]
        dismissed = client.post(f"/api/acknowledgements/{listed[0]['id']}/dismiss", headers=auth)
        assert dismissed.status_code == 201
        counts = _section(client.get(PAGE).text, "ack-counts")
        assert counts == "2 sent, 2 failed (1 listed under Needs attention).", "still a failure"
        api = client.get(f"/api{PAGE}", headers=auth).json()
        assert api["last_7_days"] == {"sent": 2, "failed": 2, "needs_attention": 1, "returned": 0}


def test_agents_are_refused_the_page_and_its_api(rt: Runtime) -> None:
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        refused = client.get(PAGE)
        assert refused.status_code == 403 and "<h1>Not allowed</h1>" in refused.text
        # Not a dead end: the menu (an agent's), the account and Log out are still there.
        assert '<nav aria-label="Main"><a href="/queue">Queue</a>' in refused.text
        assert f'href="{PAGE}"' not in refused.text
        assert 'href="/account" title="Your account">alice (agent)</a>' in refused.text
        assert '<button type="submit">Log out</button>' in refused.text
        assert client.get(f"/api{PAGE}", headers=api_token(client, "alice")).status_code == 403
        assert f'href="{PAGE}"' not in client.get("/queue").text, "not in an agent's menu"
