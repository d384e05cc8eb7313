"""The automatic acknowledgement: email that reaches the review queue while the team is closed
gets one "we have your message" (once per customer a day, never to a machine), threaded and
marked Auto-Submitted, sent once even when a worker stops mid-send."""

from __future__ import annotations

import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from responder import acknowledge
from responder.acknowledge import send_acknowledgements
from responder.channels.delivery import TemporaryDeliveryError
from responder.config import load_settings
from responder.db.models import Acknowledgement, AuditEntry, Customer, Draft, Message, utcnow
from responder.db.session import transaction
from responder.pipeline import queue
from responder.pipeline.worker import Worker
from responder.review import current_draft
from responder.runtime import Runtime
from responder.web.app import create_app
from responder.web.views import message_detail
from tests.helpers import (
    WAIT_SECONDS,
    api_token,
    auto_send_every_intent,
    bounce_of,
    drop,
    make_email,
    sent_replies,
    staff,
    start_up_refusal,
    wait_for,
)
from tests.html_document import HtmlDocument
from tests.test_web_security import login

DUBLIN = ZoneInfo("Europe/Dublin")
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _closed_for_three_days(rt: Runtime, **acknowledge: object) -> str:
    """Open 08:00-20:00 every day but closed today and the next two days (whatever the time the
    test runs, and if the date turns meanwhile): back on the fourth day at 08:00, as the
    acknowledgement says it."""
    today = datetime.now(DUBLIN).date()
    rt.settings = msgspec.structs.replace(
        rt.settings,
        queue=msgspec.structs.replace(
            rt.settings.queue,
            timezone="Europe/Dublin",
            business_hours=dict.fromkeys(EVERY_DAY, "08:00-20:00"),
            closed_dates=[(today + timedelta(days=n)).isoformat() for n in range(3)],
        ),
        acknowledge=msgspec.structs.replace(rt.settings.acknowledge, enabled=True, **acknowledge),
    )
    return f"{today + timedelta(days=3):%a %d %b} 08:00 (Europe/Dublin)"


WOCHENTAGE = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
MONATE = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip


def _back_in_german() -> str:
    """The opening `_closed_for_three_days` names, as a German text gets it."""
    back = datetime.now(DUBLIN).date() + timedelta(days=3)
    return (
        f"{WOCHENTAGE[back.weekday()]}, {back.day}. {MONATE[back.month - 1]}, 08:00 (Europe/Dublin)"
    )


def _text(reply: object) -> str:
    return reply.get_body(("plain",)).get_content()  # type: ignore[attr-defined]


GERMAN = "Guten Tag{% if name %} {{ name }}{% endif %}, wir sind ab {{ opens }} wieder da."


def test_mail_that_arrives_while_closed_is_acknowledged_once(rt: Runtime, worker: Worker) -> None:
    opens = _closed_for_three_days(rt, texts={"de": GERMAN})
    drop(rt, make_email(), "first")
    worker.drain()
    (ack,) = sent_replies(rt)
    assert ack["To"] == "Aoife Murphy <aoife.murphy@gmail.test>"
    assert ack["Subject"] == "Re: Roaming charges on my bill"
    assert ack["In-Reply-To"] == "<m1@mail.test>"
    assert ack["Auto-Submitted"] == "auto-replied", "so that other machines do not answer it"
    assert _text(ack).splitlines()[0] == "Hello Aoife,", "by first name, as the draft greets her"
    assert f"back on {opens}: a person will read it" in " ".join(_text(ack).split())
    html = HtmlDocument(ack.get_body(("html",)).get_content())  # type: ignore[attr-defined]
    assert html.words() == _text(ack).split(), "the same words as HTML"
    assert html.elements[0] == ("html", {"lang": "en", "dir": "ltr"})
    with rt.factory() as session:
        first = session.scalars(select(Message).where(Message.direction == "in")).one()
        assert first.state == "in_review", "the real answer still waits for a person"
        shown = message_detail(session, first.id)
    assert shown["acknowledgement"]["state"] == "sent"
    assert [c["direction"] for c in shown["conversation"]] == ["out"], "ours, in the thread"

    # The same customer again within the day: no second acknowledgement. A new customer: one.
    drop(rt, make_email(subject="Also my data", message_id="<m2@mail.test>"), "second")
    drop(
        rt,
        make_email(
            sender="Cian Byrne <cian@mail.test>",
            subject="Roaming Gebühren",
            body="Hallo, ich wurde für Roaming in Spanien belastet, obwohl die EU inklusive "
            "ist. Bitte prüfen Sie meine Rechnung.",
            message_id="<c1@mail.test>",
        ),
        "other",
    )
    # A machine's mail is stopped by the ignore rules before it could be acknowledged.
    drop(
        rt,
        make_email(
            sender="Out of office <ooo@mail.test>",
            message_id="<ooo@mail.test>",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        "robot",
    )
    worker.drain()
    replies = {r["To"]: _text(r) for r in sent_replies(rt)}
    (german,) = (r for r in sent_replies(rt) if r["To"] == "Cian Byrne <cian@mail.test>")
    html = german.get_body(("html",)).get_content()  # type: ignore[attr-defined]
    assert HtmlDocument(html).elements[0] == ("html", {"lang": "de", "dir": "ltr"})
    assert sorted(replies) == [
        "Aoife Murphy <aoife.murphy@gmail.test>",
        "Cian Byrne <cian@mail.test>",
    ]
    assert (
        f"Guten Tag Cian Byrne, wir sind ab {_back_in_german()} wieder da."
        in replies["Cian Byrne <cian@mail.test>"]
    ), "in the language he wrote in, the day and time too"

    # Her answer to the acknowledgement joins the conversation it acknowledged.
    drop(
        rt,
        make_email(
            subject="Re: Roaming charges on my bill",
            body="Thanks. It was 80 euro in Spain, in case that helps.",
            message_id="<m3@mail.test>",
            headers={"In-Reply-To": ack["Message-ID"]},
        ),
        "answer",
    )
    worker.drain()
    with rt.factory() as session:
        conversations = dict(
            session.execute(select(Message.message_id_header, Message.conversation_id)).all()
        )
    assert conversations["<m3@mail.test>"] == conversations["<m1@mail.test>"]
    assert conversations[ack["Message-ID"]] == conversations["<m1@mail.test>"], "shown in it"
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{first.id}").text
        # On her timeline it is ours, sent by no person: said so on both pages and in the API.
        profile = client.get(f"/api/customers/{first.customer_id}", headers=api_token(client))
        (ours,) = [e for e in profile.json()["timeline"] if e["direction"] == "out"]
        assert (ours["agent"], ours["by"]) == ("", "acknowledgement")
        timeline = client.get(f"/customers/{first.customer_id}").text
        entry = timeline.split(f'id="message-{ours["id"]}"', 1)[1].split("</small>")[0]
        assert "us · automatic acknowledgement" in entry
    assert "Acknowledged automatically" in page and "(the team was closed)" in page
    recent = page.split("<h3>Recent contacts</h3>", 1)[1].split("</ul>", 1)[0]
    assert "us · automatic acknowledgement" in recent


def test_the_shipped_texts_speak_german_to_a_german_customer_and_english_otherwise(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """As config.toml ships them: German mail gets the German text, the time the team is back in
    German too; English mail reads as ever; French, without a text of its own, gets English.
    A message whose language cannot be told goes by the customer's on file, as drafts do."""
    opens = _closed_for_three_days(rt, once_per_hours=0)
    back = datetime.now(DUBLIN).date() + timedelta(days=3)
    german_opens = (
        f"{WOCHENTAGE[back.weekday()]}, {back.day}. {MONATE[back.month - 1]}, 08:00 (Europe/Dublin)"
    )
    drop(
        rt,
        make_email(
            sender="Cian Byrne <cian@mail.test>",
            subject="Roaming Gebühren",
            body="Hallo, ich wurde für Roaming in Spanien belastet, obwohl die EU inklusive "
            "ist. Bitte prüfen Sie meine Rechnung.",
            message_id="<de@mail.test>",
        ),
        "de",
    )
    drop(rt, make_email(sender="Sean Walsh <sean@mail.test>", message_id="<en@mail.test>"), "en")
    drop(
        rt,
        make_email(
            sender="Chloé Martin <chloe@mail.test>",
            subject="Frais d'itinérance",
            body="Bonjour, on m'a facturé des frais d'itinérance en Espagne alors que l'Europe "
            "est incluse dans mon forfait. Pouvez-vous vérifier ma facture ?",
            message_id="<fr@mail.test>",
        ),
        "fr",
    )
    worker.drain()
    signature = rt.settings.drafting.signature
    replies = {r["To"]: _text(r).replace("\r\n", "\n") for r in sent_replies(rt)}
    assert replies["Cian Byrne <cian@mail.test>"] == (
        "Guten Tag Cian Byrne,\n\nvielen Dank für Ihre Nachricht. Unser Team ist gerade nicht "
        f"im Dienst und ab {german_opens} wieder für Sie da: Dann liest jemand aus unserem Team "
        "Ihre Nachricht und antwortet Ihnen.\n\nDies ist eine automatische "
        f"Eingangsbestätigung; Sie müssen nicht darauf antworten.\n\n{signature}\n"
    )
    english = (
        "Thank you for your message. Our team is away just now and back on "
        f"{opens}: a person will read it and reply to you then."
    )
    assert replies["Sean Walsh <sean@mail.test>"].startswith(f"Hello Sean,\n\n{english}\n")
    assert replies["Chloé Martin <chloe@mail.test>"].startswith(f"Hello Chloé,\n\n{english}\n")

    with transaction(rt.factory) as session:  # Aoife, on file as writing German
        aoife = session.scalars(select(Customer).where(Customer.name == "Aoife Murphy")).one()
        aoife.language = "de"
    drop(rt, make_email(subject="ok", body="ok", message_id="<ok@mail.test>"), "ok")
    worker.drain()
    with rt.factory() as session:
        said = session.scalars(
            select(Message).where(Message.message_id_header == "<ok@mail.test>")
        ).one()
        assert said.language is None, "too short to tell"
    (ack,) = [r for r in sent_replies(rt) if "aoife" in r["To"]]
    assert _text(ack).replace("\r\n", "\n").startswith("Guten Tag Aoife Murphy,\n\nvielen Dank")
    assert f"ab {german_opens} wieder" in " ".join(_text(ack).split())


def test_an_acknowledgement_that_bounces_is_shown_as_returned_and_never_answered(
    rt: Runtime, worker: Worker
) -> None:
    """The customer's server returns our "we have your message" days later: the message's page
    says so where the acknowledgement is shown (and in the conversation), the bounce is
    ignored, nothing answers it, and the message still waits for its real reply. A forged one
    for another address changes nothing."""
    _closed_for_three_days(rt)
    drop(rt, make_email(), "first")
    worker.drain()
    (sent,) = sent_replies(rt)
    answer = "550 5.1.1 <aoife.murphy@gmail.test>: mailbox unavailable"
    forged = bounce_of(sent.as_bytes(), "eve@elsewhere.test", answer, "forged")
    drop(rt, forged, "forged")
    worker.drain()
    with rt.factory() as session:
        ack = session.scalars(select(Acknowledgement)).one()
        assert ack.state == "sent"
    drop(rt, bounce_of(sent.as_bytes(), "aoife.murphy@gmail.test", answer, "dsn"), "dsn")
    worker.drain()
    assert len(sent_replies(rt)) == 1, "nothing answers a bounce"
    returned = (
        f"returned by the recipient's server: aoife.murphy@gmail.test: {answer} (status 5.1.1)"
    )
    with rt.factory() as session:
        ack = session.scalars(select(Acknowledgement)).one()
        assert (ack.state, ack.last_error) == ("bounced", returned)
        by_header = {m.message_id_header: m for m in session.scalars(select(Message))}
        first = by_header["<m1@mail.test>"]
        assert first.state == "in_review", "the real answer still waits for a person"
        what = f"the automatic acknowledgement of message {first.id}"
        assert by_header["<dsn@mx.home.test>"].state == "ignored"
        assert by_header["<dsn@mx.home.test>"].state_reason == (
            f"delivery status report (bounce) of {what}: marked as returned on that message"
        )
        assert by_header["<forged@mx.home.test>"].state_reason == (
            f"delivery status report (bounce) naming {what}, which could not be matched to it: "
            "the failed recipient it names (eve@elsewhere.test) is not one it was sent to: "
            "left as it is"
        )
        assert by_header[ack.message_id_header].state_reason == f"sent, but {returned}"
        shown = message_detail(session, first.id)
    assert shown["acknowledgement"]["state"] == "bounced"
    assert shown["acknowledgement"]["last_error"] == returned
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{first.id}").text
        problems = client.get("/api/problems", headers=api_token(client)).json()
    said = unescape(page.split('id="acknowledged" data-state="bounced">')[1].split("</p>")[0])
    assert said.startswith("Automatic acknowledgement sent "), said
    assert said.endswith(f", but {returned}: the customer may not know we have their message."), (
        said
    )
    conversation = unescape(page.split("<h2>Conversation</h2>", 1)[1])
    assert f'<p class="warn">sent, but {returned}</p>' in conversation
    assert problems["acknowledgements"] == [], "nothing to send again: it would come back"


def test_no_acknowledgement_while_the_team_is_in_unless_always(rt: Runtime, worker: Worker) -> None:
    rt.settings = msgspec.structs.replace(
        rt.settings,
        queue=msgspec.structs.replace(
            rt.settings.queue, business_hours=dict.fromkeys(EVERY_DAY, "00:00-24:00")
        ),
        acknowledge=msgspec.structs.replace(rt.settings.acknowledge, enabled=True),
    )
    drop(rt, make_email(), "open")
    worker.drain()
    assert sent_replies(rt) == []
    rt.settings = msgspec.structs.replace(
        rt.settings,
        acknowledge=msgspec.structs.replace(rt.settings.acknowledge, when="always"),
    )
    drop(rt, make_email(sender="Cian Byrne <cian@mail.test>", message_id="<c1@mail.test>"), "c")
    worker.drain()
    (ack,) = sent_replies(rt)
    assert ack["To"] == "Cian Byrne <cian@mail.test>"
    said = " ".join(_text(ack).split())
    assert "A person will read it and reply to you soon." in said
    assert "away" not in said, "the team is in: it does not say it is away"
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        (cians,) = [
            m
            for m in client.get("/api/queue", headers=api_token(client)).json()
            if "cian" in m["sender_address"]
        ]
        page = client.get(f"/messages/{cians['id']}").text
    assert "Acknowledged automatically" in page and "(the team was closed)" not in page


def test_a_worker_that_stops_mid_send_never_sends_it_twice(rt: Runtime, worker: Worker) -> None:
    _closed_for_three_days(rt)
    drop(rt, make_email(), "first")
    drop(rt, make_email(sender="Cian Byrne <cian@mail.test>", message_id="<c1@mail.test>"), "c")
    worker.poll_sources()
    worker.drain_claims()  # the stages only: both acknowledgements queued, none sent yet
    with rt.factory() as session:
        acks = session.scalars(select(Acknowledgement).order_by(Acknowledgement.id)).all()
        assert [a.state for a in acks] == ["queued", "queued"]
    # The first went out just before its worker stopped; the second, taken too, never left.
    # Both are "sending" under a lease that has run out.
    from responder.acknowledge import _reply

    with rt.factory() as session:
        rt.sender.deliver(_reply(session, session.get(Acknowledgement, acks[0].id)))
    with transaction(rt.factory) as session:
        session.execute(
            update(Acknowledgement).values(
                state="sending",
                taken_at=utcnow() - timedelta(seconds=2),
                claimed_until=utcnow() - timedelta(seconds=1),
            )
        )
    assert send_acknowledgements(rt) == 1, "only the one that never left is sent now"
    assert len(sent_replies(rt)) == 2
    with rt.factory() as session:
        assert [a.state for a in session.scalars(select(Acknowledgement))] == ["sent", "sent"]
        shown = session.scalars(select(Message).where(Message.direction == "out")).all()
        assert len(shown) == 2, "each in its conversation once"
    worker.drain()
    assert len(sent_replies(rt)) == 2


def test_workers_sending_at_once_send_each_acknowledgement_once(
    rt: Runtime, worker: Worker
) -> None:
    """Three threads run the send round together on twelve queued acknowledgements: whatever
    the interleaving, each is handed to the outbox exactly once."""
    _closed_for_three_days(rt)
    for n in range(12):
        raw = make_email(sender=f"Customer {n} <c{n}@mail.test>", message_id=f"<c{n}@mail.test>")
        drop(rt, raw, f"c{n}")
    worker.poll_sources()
    worker.drain_claims()
    outbox = rt.sender
    handed: list[str] = []
    lock = threading.Lock()

    class Counting:
        def deliver(self, reply: object) -> None:
            with lock:
                handed.append(reply.message_id_header)  # type: ignore[attr-defined]
            outbox.deliver(reply)  # type: ignore[arg-type]

        def was_delivered(self, reply: object) -> bool | None:
            return outbox.was_delivered(reply)  # type: ignore[arg-type]

    rt.__dict__["sender"] = Counting()  # the cached property's slot
    start = threading.Barrier(3)

    def send_round() -> None:
        start.wait()
        while send_acknowledgements(rt):
            pass

    threads = [threading.Thread(target=send_round) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(handed) == 12 and len(set(handed)) == 12
    assert len(sent_replies(rt)) == 12


def test_a_round_that_outlasts_its_lease_leaves_what_another_worker_claimed_since(
    rt: Runtime, worker: Worker
) -> None:
    """Worker A's round claims two acknowledgements, and the first one's delivery lasts past
    the lease (kept alive meanwhile): the second's lease runs out, worker B's round finds it
    never taken to send (not "uncertain", although the sender, as SMTP, cannot tell whether
    one went) and sends it. A then leaves it to B: each customer gets one. B's round runs at a
    time just past the lease A took, once A's renewal has moved the first one's on."""
    _closed_for_three_days(rt)
    drop(rt, make_email(), "first")
    drop(rt, make_email(sender="Cian Byrne <cian@mail.test>", message_id="<c1@mail.test>"), "c")
    worker.poll_sources()
    worker.drain_claims()  # the stages only: both acknowledgements queued, none sent yet
    rt.settings.pipeline.lease_seconds = 2
    outbox = rt.sender
    handed: list[str] = []
    holding, let_go = threading.Event(), threading.Event()

    class SlowAtFirst:
        def deliver(self, reply: object) -> object:
            handed.append(reply.message_id_header)  # type: ignore[attr-defined]
            if len(handed) == 1:
                holding.set()
                let_go.wait(WAIT_SECONDS)
            return outbox.deliver(reply)  # type: ignore[arg-type]

        def was_delivered(self, reply: object) -> bool | None:
            return None  # as over SMTP: nobody can tell whether one went

    rt.__dict__["sender"] = SlowAtFirst()  # the cached property's slot

    def first_lease_end() -> datetime:
        with rt.factory() as session:
            until = session.scalars(
                select(Acknowledgement.claimed_until).order_by(Acknowledgement.id)
            ).first()
        assert until is not None
        return until

    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(send_acknowledgements, rt)
        try:
            assert holding.wait(WAIT_SECONDS)
            first = first_lease_end()
            wait_for(lambda: first_lease_end() > first, "A to renew its lease while it delivers")
            taken_over = send_acknowledgements(rt, now=first + timedelta(seconds=0.1))
        finally:
            let_go.set()
        assert sending.result() == 1
    assert taken_over == 1
    assert len(handed) == 2 and len(set(handed)) == 2, "each handed to the outbox once"
    assert len(sent_replies(rt)) == 2
    with rt.factory() as session:
        assert [a.state for a in session.scalars(select(Acknowledgement))] == ["sent", "sent"]


@pytest.mark.parametrize(
    ("a_went", "b_can_tell"),
    [(False, True), (True, False)],
    ids=["a-fails-after-b-sent-it", "a-sent-it-where-b-could-not-tell"],
)
def test_a_delivery_that_ends_after_another_worker_took_it_over(
    rt: Runtime, worker: Worker, monkeypatch: pytest.MonkeyPatch, a_went: bool, b_can_tell: bool
) -> None:
    """Past the kept-alive leases (none here), worker B takes over A's acknowledgement still
    in delivery. Where the outbox says it did not arrive, B sends it, and A's delivery then
    failing for the moment does not put it back in the queue over B's record: the customer
    gets it once, not a third time. Where nobody can tell (as over SMTP), B marks it uncertain,
    and A's delivery then going through makes it sent: no false question for staff."""
    monkeypatch.setattr(queue, "KEPT_ALIVE_LEASES", 1)  # no renewal at all
    _closed_for_three_days(rt)
    drop(rt, make_email(), "first")
    worker.poll_sources()
    worker.drain_claims()
    outbox = rt.sender
    holding, let_go = threading.Event(), threading.Event()

    class HeldAtFirst:
        handed = 0

        def deliver(self, reply: object) -> object:
            self.handed += 1
            if self.handed == 1:
                holding.set()
                let_go.wait(WAIT_SECONDS)
                if not a_went:
                    raise TemporaryDeliveryError("451 try again later")
            return outbox.deliver(reply)  # type: ignore[arg-type]

        def was_delivered(self, reply: object) -> bool | None:
            return outbox.was_delivered(reply) if b_can_tell else None  # type: ignore[arg-type]

    rt.__dict__["sender"] = HeldAtFirst()  # the cached property's slot
    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(send_acknowledgements, rt)
        try:
            assert holding.wait(WAIT_SECONDS)
            with rt.factory() as session:
                (until,) = session.scalars(select(Acknowledgement.claimed_until)).all()
            assert until is not None
            taken_over = send_acknowledgements(rt, now=until + timedelta(seconds=0.1))
        finally:
            let_go.set()
        assert (sending.result(), taken_over) == ((1, 0) if a_went else (0, 1))
    assert len(sent_replies(rt)) == 1
    with rt.factory() as session:
        (ack,) = session.scalars(select(Acknowledgement)).all()
        assert (ack.state, ack.last_error) == ("sent", "")
        shown = session.scalars(select(Message).where(Message.direction == "out")).all()
        assert len(shown) == 1, "in her conversation once"
    assert send_acknowledgements(rt, now=utcnow() + timedelta(days=1)) == 0
    assert len(sent_replies(rt)) == 1


def test_a_customer_on_file_is_greeted_and_signed_off_as_in_the_draft(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    _closed_for_three_days(rt)
    drop(rt, make_email(sender="A. Murphy <aoife.murphy@gmail.test>"), "known")
    worker.drain()
    (ack,) = sent_replies(rt)
    assert _text(ack).splitlines()[0] == "Hello Aoife,", "her first name on file, not in full"
    with rt.factory() as session:
        message = session.scalars(select(Message).where(Message.direction == "in")).one()
        draft = current_draft(session, message.id)
    assert draft is not None and draft.body.startswith("Hi Aoife,\n")
    assert _text(ack).strip().splitlines()[-1] == draft.body.strip().splitlines()[-1]


def test_a_sender_not_on_file_is_greeted_by_the_name_they_gave_or_plainly(
    rt: Runtime, worker: Worker
) -> None:
    """Mail from a bare address makes a customer named after it: not a name to greet by."""
    _closed_for_three_days(rt)
    drop(rt, make_email(sender="Cian Byrne <cian@mail.test>", message_id="<c@mail.test>"), "c")
    drop(rt, make_email(sender="niamh.walsh@mail.test", message_id="<n@mail.test>"), "n")
    # Outlook's "Surname, First" and a title before a surname alone (no "Hello Mr,").
    drop(rt, make_email(sender='"Walsh, Ciara" <ciara@mail.test>', message_id="<w@mail.test>"), "w")
    drop(rt, make_email(sender="Mr Doyle <doyle@mail.test>", message_id="<d@mail.test>"), "d")
    worker.drain()
    greetings = {r["To"]: _text(r).splitlines()[0] for r in sent_replies(rt)}
    assert greetings == {
        "Cian Byrne <cian@mail.test>": "Hello Cian,",
        "niamh.walsh@mail.test": "Hello,",
        '"Walsh, Ciara" <ciara@mail.test>': "Hello Ciara,",
        "Mr Doyle <doyle@mail.test>": "Hello,",
    }


def test_a_text_may_greet_by_first_name_or_by_full_name(tmp_path: Path) -> None:
    """Texts written before `first_name` keep `name`; a new one may use either."""
    path = tmp_path / "config.toml"
    path.write_text(
        '[acknowledge]\ntext = "Hi {{ first_name }}"\ntexts = { de = "Guten Tag {{ name }}" }\n',
        encoding="utf-8",
    )
    settings = load_settings(path, environ={})
    assert settings.acknowledge.text == "Hi {{ first_name }}"


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("enabled = true", 'acknowledge.when: "closed" needs [queue] business_hours'),
        ('text = "Hello {{ nme }}"', "acknowledge.text: 'nme' is undefined"),
        ('text = "Hi\\n{% if name %}"', "acknowledge.text: line 2"),
        ("once_per_hours = -1", "acknowledge.once_per_hours"),
        ('texts = { xx = "Hallo" }', "acknowledge.texts.xx: not one of classify.languages"),
        ('texts = { de = "Hallo {{ nam }}" }', "acknowledge.texts.de: 'nam' is undefined"),
        (
            'texts = { it = "Ciao" }\n[drafting]\nlocales = { it = "it_XX" }',
            "acknowledge.texts.it: drafting.locales: Babel does not know the locale 'it_XX'",
        ),
    ],
)
def test_a_bad_acknowledgement_setting_stops_start_up(
    tmp_path: Path, setting: str, named: str
) -> None:
    assert named in start_up_refusal(tmp_path, "acknowledge", setting)


def test_one_that_cannot_go_out_waits_under_needs_attention(
    rt: Runtime, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SMTP server is down (nothing listens on its port) and one attempt is allowed: the
    acknowledgements are listed with the error; once mail flows again, Send again sends one
    (dated then, its Message-ID unchanged), and Leave unsent settles the other without sending
    it."""
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _closed_for_three_days(rt)
    rt.settings = msgspec.structs.replace(
        rt.settings,
        outbound=msgspec.structs.replace(rt.settings.outbound, transport="smtp", max_attempts=1),
        smtp=msgspec.structs.replace(rt.settings.smtp, port=port, security="none"),
    )
    rt.__dict__.pop("sender", None)
    staff(rt, "alice")
    drop(rt, make_email(), "first")
    drop(rt, make_email(sender="Cian Byrne <cian@mail.test>", message_id="<c1@mail.test>"), "c")
    an_hour_ago = utcnow() - timedelta(hours=1)
    with monkeypatch.context() as clock:  # queued and tried an hour ago (still closed then)
        clock.setattr(acknowledge, "utcnow", lambda: an_hour_ago)
        worker.drain()
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/problems").text
        assert "Automatic acknowledgements not sent (2)" in page
        assert "SMTP delivery failed" in page and "aoife.murphy@gmail.test" in page
        assert "(to mail that arrived while the team was closed)" in page
        assert page.count('data-state="failed">not delivered<br>') == 2, "words, not the code"
        assert page.count('data-confirm="Leave this acknowledgement to ') == 2, "final: asked"
        headers = api_token(client)
        listed = client.get("/api/problems", headers=headers).json()
        by_whom = {a["to"]: a for a in listed["acknowledgements"]}
        cian, item = by_whom["cian@mail.test"], by_whom["aoife.murphy@gmail.test"]
        review = client.get(f"/messages/{item['message_id']}").text
        said = review.split('id="acknowledged" data-state="failed">')[1].split("</p>")[0]
        assert said.startswith("Automatic acknowledgement not delivered: SMTP"), said
        assert said.endswith(".") and not said.endswith(".."), "one full stop"
        assert (item["state"], listed["total"]) == ("failed", 2)
        assert (item["message_state"], item["stale"]) == ("in_review", "")
        assert page.count(">Message now: awaiting review</small>") == 2, "not a fixed sentence"

        # Cian was answered another way and his message closed: his would now come too late.
        done = client.post(
            f"/api/messages/{cian['message_id']}/reject", headers=headers, json={"reason": "phoned"}
        )
        assert done.status_code == 201, done.text
        page = client.get("/problems").text
        row = page.split(f'id="acknowledgement-{cian["id"]}"')[1].split("</tr>")[0]
        assert ">Message now: rejected</small>" in row
        assert "Too late to send: the message was closed without a reply." in row
        assert "send-again" not in row and "Leave unsent" in row, "only leaving it is offered"
        late = client.post(f"/api/acknowledgements/{cian['id']}/send-again", headers=headers)
        assert late.status_code == 409 and late.json()["detail"] == (
            "not sent again: the message was closed without a reply, so it would come too late: "
            "leave it unsent"
        )
        left = client.post(f"/api/acknowledgements/{cian['id']}/dismiss", headers=headers)
        assert (left.status_code, left.json()["state"]) == (201, "dismissed")
        review = client.get(f"/messages/{cian['message_id']}").text
        said = review.split('id="acknowledged" data-state="dismissed">')[1].split("</p>")[0]
        assert re.fullmatch(
            r"Automatic acknowledgement left unsent: dismissed by alice "
            r"\d{4}-\d\d-\d\d \d\d:\d\d Europe/Dublin\.",
            said,
        ), said  # who left it unsent and when, in the team's zone; not the old error
        detail = client.get(f"/api/messages/{cian['message_id']}", headers=headers).json()
        assert detail["acknowledgement"]["dismissed_by"] == "alice"
        with rt.factory() as session:
            logged = session.scalars(
                select(AuditEntry.detail).where(AuditEntry.action == "acknowledgement.dismiss")
            ).one()
        assert logged["error"].startswith("SMTP delivery failed"), "kept as history"

        switched_on = rt.settings
        rt.settings = msgspec.structs.replace(  # switched off meanwhile: nothing would send it
            rt.settings, acknowledge=msgspec.structs.replace(rt.settings.acknowledge, enabled=False)
        )
        off = client.post(f"/api/acknowledgements/{item['id']}/send-again", headers=headers)
        assert off.status_code == 400 and "switched off" in off.json()["detail"]
        rt.settings = msgspec.structs.replace(  # the mail server is back (here: the outbox)
            switched_on,
            outbound=msgspec.structs.replace(switched_on.outbound, transport="maildir"),
        )
        rt.__dict__.pop("sender", None)
        with monkeypatch.context() as clock:  # four days on: past the opening it announces
            clock.setattr(acknowledge, "utcnow", lambda: utcnow() + timedelta(days=4))
            reopened = client.post(
                f"/api/acknowledgements/{item['id']}/send-again", headers=headers
            )
        assert reopened.status_code == 409
        assert "the team has been open since " in reopened.json()["detail"]
        token = page.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        again = client.post(
            f"/acknowledgements/{item['id']}/send-again",
            data={"_csrf_token": token},
            follow_redirects=True,
        )
        assert "The acknowledgement goes out with the next round." in again.text
        before = utcnow().replace(microsecond=0)
        worker.drain()
        (ack,) = sent_replies(rt)
        assert ack["In-Reply-To"] == "<m1@mail.test>"
        assert before <= parsedate_to_datetime(ack["Date"]) <= utcnow()
        with rt.factory() as session:
            stored = session.get(Acknowledgement, item["id"])
            assert stored is not None and ack["Message-ID"] == stored.message_id_header
        assert "Nothing needs attention." in client.get("/problems").text
        twice = client.post(f"/api/acknowledgements/{item['id']}/send-again", headers=headers)
        assert twice.status_code == 409, "sent now: nothing to send again"
        odd = client.post(f"/api/acknowledgements/{item['id']}/forward", headers=headers)
        assert odd.status_code == 400, "only send-again or dismiss"


def test_a_message_sent_through_again_keeps_its_one_acknowledgement(
    rt: Runtime, worker: Worker
) -> None:
    """Retry parses and routes a failed message again: it reaches the queue once more and is
    not acknowledged twice, even with no limit per customer."""
    from responder.review import retry

    _closed_for_three_days(rt, once_per_hours=0)
    drop(rt, make_email(), "first")
    worker.drain()
    with transaction(rt.factory) as session:
        message = session.scalars(select(Message).where(Message.direction == "in")).one()
        message.state = "failed"  # as a stage that gave up leaves it
    with transaction(rt.factory) as session:
        retry(session, message.id, "alice")
    worker.drain()
    with rt.factory() as session:
        assert session.get(Message, message.id).state == "in_review"
        assert len(session.scalars(select(Acknowledgement)).all()) == 1
    assert len(sent_replies(rt)) == 1


def test_mail_written_days_before_it_arrives_gets_no_automatic_mail(
    rt: Runtime, worker: Worker
) -> None:
    """A mailbox connected with its history, or a backlog after an outage: neither an
    acknowledgement nor an auto-sent reply goes to mail written more than a day before it
    reached us, and the message says why; mail written now gets both as before."""
    _closed_for_three_days(rt)
    written = datetime.now(UTC) - timedelta(days=3, hours=1)
    old = format_datetime(written)
    drop(rt, make_email(message_id="<old@mail.test>", date=old), "old")
    drop(rt, make_email(sender="Cian <cian@mail.test>", message_id="<new@mail.test>"), "new")
    worker.drain()
    assert [r["In-Reply-To"] for r in sent_replies(rt)] == ["<new@mail.test>"]
    late = (
        f"written {written:%Y-%m-%d}, 3 days before it reached us: mail more than a day old "
        "when it arrives gets no automatic reply or acknowledgement"
    )
    with rt.factory() as session:
        stored = {m.message_id_header: m for m in session.scalars(select(Message))}
        assert stored["<old@mail.test>"].state_reason == f"not acknowledged: {late}"
        assert session.scalars(select(Acknowledgement.message_id)).all() == [
            stored["<new@mail.test>"].id
        ]
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{stored['<old@mail.test>'].id}").text
        assert f"not acknowledged: {late}" in page

    auto_send_every_intent(rt)
    drop(
        rt, make_email(sender="Dara <dara@mail.test>", message_id="<old2@mail.test>", date=old), "o"
    )
    drop(rt, make_email(sender="Eve <eve@mail.test>", message_id="<new2@mail.test>"), "new2")
    worker.drain()
    answered = sorted(r["In-Reply-To"] for r in sent_replies(rt))
    assert answered == ["<new2@mail.test>", "<new@mail.test>"], "the new one's reply, by itself"
    with rt.factory() as session:
        stored = {m.message_id_header: m for m in session.scalars(select(Message))}
    assert stored["<new2@mail.test>"].state == "sent", "written now: sent by itself"
    assert stored["<old2@mail.test>"].state == "in_review"
    assert stored["<old2@mail.test>"].state_reason == f"not sent automatically: {late}"


def test_a_sender_linked_to_a_known_customer_is_not_acknowledged_twice_in_a_day(
    rt: Runtime, worker: Worker, tmp_path: Path
) -> None:
    """The acknowledgement goes with the sender when an agent links them (or an import does)
    and comes back on unlink: their next message that day gets none, whoever they are now."""
    from responder.customers.importer import import_csv
    from responder.customers.links import link_customers, unlink_customers

    _closed_for_three_days(rt)
    drop(rt, make_email(), "first")
    worker.drain()
    assert len(sent_replies(rt)) == 1
    crm = tmp_path / "crm.csv"
    crm.write_text("external_id,name,email\nK1,Aoife Murphy,aoife@work.test\n")
    import_csv(rt.factory, "customers", crm, settings=rt.settings)
    with transaction(rt.factory) as session:
        first = session.scalars(select(Message).where(Message.direction == "in")).one()
        first_id, provisional_id = first.id, first.customer_id
        known_id = session.scalars(select(Customer.id).where(Customer.external_id == "K1")).one()
        link_customers(session, provisional_id, known_id, "alice")

    def routed(message_id: str, name: str) -> int | None:
        drop(rt, make_email(subject="Also my data", message_id=message_id), name)
        worker.drain()
        with rt.factory() as session:
            message = session.scalars(
                select(Message).where(Message.message_id_header == message_id)
            ).one()
            assert message.state == "in_review"
            return message.customer_id

    assert routed("<m2@mail.test>", "second") == known_id
    assert len(sent_replies(rt)) == 1, "she was told already today"
    with transaction(rt.factory) as session:
        unlink_customers(session, provisional_id, "bob")
    assert routed("<m3@mail.test>", "third") == provisional_id
    assert len(sent_replies(rt)) == 1, "unlinked, she is still the one who was told"
    # The CRM file now has her address under a record bob did not unlink her from (K1 stays
    # apart: tests/customers/test_customers_identity.py): the import links her to it, and the
    # acknowledgement with her.
    crm.write_text("external_id,name,email\nK2,Aoife Murphy,aoife.murphy@gmail.test\n")
    assert import_csv(rt.factory, "customers", crm, settings=rt.settings).linked
    with rt.factory() as session:
        crm_id = session.scalars(select(Customer.id).where(Customer.external_id == "K2")).one()
    assert routed("<m4@mail.test>", "fourth") == crm_id
    assert len(sent_replies(rt)) == 1
    with rt.factory() as session:
        (ack,) = session.scalars(select(Acknowledgement)).all()
        assert ack.customer_id == crm_id
    # The import queued her first message's draft, and the worker's round wrote it again for
    # her: its page no longer says it was written before she was known.
    with rt.factory() as session:
        versions = session.scalars(
            select(Draft.version).where(Draft.message_id == first_id).order_by(Draft.version)
        ).all()
    assert versions == [1, 2]
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{first_id}").text
    assert 'id="customer-changed"' not in page
    assert "drafted again" in page
