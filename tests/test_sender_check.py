"""The sender check: our receiving server's SPF, DKIM and DMARC verdict (Authentication-Results)
decides whether a mail may be answered automatically, and the review page warns of a forged or
unverified sender before someone changes an account on its say-so."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from sqlalchemy import select

from responder.config import ConfigError, load_settings
from responder.db.models import Message
from responder.mail.sender_check import check_sender
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from responder.web.views import queue_items
from tests.helpers import auto_send_every_intent, drop, make_email, sent_replies, staff
from tests.test_acknowledge import _closed_for_three_days
from tests.test_web_security import login

OURS = "mx.northwind-mobile.test"
ROOT = Path(__file__).resolve().parent.parent


def _verdict(*values: str, domain: str = "gmail.test") -> tuple[str, str]:
    check = check_sender([("authentication-results", v) for v in values], domain, OURS)
    return check.verdict, check.reason


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        (f"{OURS}; dmarc=pass header.from=gmail.test", "pass"),
        (f"{OURS}; spf=pass smtp.mailfrom=gmail.test; dmarc=fail header.from=gmail.test", "fail"),
        # No DMARC result written: a signature or envelope of the From domain (or its parent
        # or child) passing is enough; another domain's is not.
        (f"{OURS}; dkim=pass header.d=mail.gmail.test", "pass"),
        (f"{OURS}; spf=pass smtp.mailfrom=bounces@gmail.test", "pass"),
        (
            f"{OURS}; dkim=pass header.d=bulk-sender.test; spf=pass smtp.mailfrom=x.test",
            "unverified",
        ),
        (f"{OURS}; dkim=pass header.d=test", "unverified"),
        (f"{OURS}; spf=softfail smtp.mailfrom=gmail.test", "unverified"),
        (f"{OURS}; none", "unverified"),
        (f"{OURS.upper()} 1; dmarc=pass (p=reject) header.from=gmail.test", "pass"),
    ],
)
def test_our_servers_verdict_is_read(header: str, verdict: str) -> None:
    assert _verdict(header)[0] == verdict


def test_only_our_own_servers_header_counts_and_the_topmost_one() -> None:
    """A sender can write any Authentication-Results; only the one with our server's id, the
    last it added (topmost), is read."""
    forged = "mx.elsewhere.test; dmarc=pass header.from=gmail.test"
    assert _verdict(forged) == ("unverified", f"no Authentication-Results from {OURS}")
    ours = f"{OURS}; dmarc=fail header.from=gmail.test"
    earlier = f"{OURS}; dmarc=pass header.from=gmail.test"
    assert _verdict(forged, ours, earlier)[0] == "fail"
    assert _verdict(f"{OURS}; dmarc=pass ;;; =") == (
        "unverified",
        f"{OURS}'s Authentication-Results could not be read",
    )


PIECES = [
    OURS,
    ";",
    " ",
    "dkim",
    "spf",
    "dmarc",
    "=",
    "pass",
    "fail",
    "none",
    "header.d",
    "smtp.mailfrom",
    "reason=",
    "(",
    ")",
    '"',
    "\\",
    "@",
    ".",
    "gmail.test",
    "1",
    "\t",
]


@settings(max_examples=500, derandomize=True)
@example("dmarc=\treason=;none")
@given(st.lists(st.sampled_from(PIECES), max_size=16).map("".join))
def test_any_header_a_sender_writes_gives_a_verdict_and_never_an_error(value: str) -> None:
    """Hostile or broken Authentication-Results must not stop the parse of a batch (a "none"
    after a result once raised AttributeError inside the parser's output)."""
    for header in (value, f"{OURS};{value}"):
        assert _verdict(header)[0] in ("pass", "fail", "unverified")


@pytest.mark.parametrize("value", ["mx.example.ie; dmarc=pass", "mx example", "@mx.example.ie"])
def test_a_trusted_server_that_is_not_a_host_name_stops_start_up(value: str) -> None:
    environ = {"RESPONDER_GUARD__TRUSTED_AUTHSERV_ID": value}
    with pytest.raises(ConfigError, match=r"guard\.trusted_authserv_id: .* is not a host name"):
        load_settings(ROOT / "config.toml", environ=environ)


def _checked(rt: Runtime) -> None:
    rt.settings = msgspec.structs.replace(
        rt.settings,
        guard=msgspec.structs.replace(rt.settings.guard, trusted_authserv_id=OURS),
    )


FORGED = (
    f"Authentication-Results: {OURS}; spf=fail smtp.mailfrom=gmail.test;"
    " dkim=none; dmarc=fail (p=reject) header.from=gmail.test\r\n"
).encode()
GENUINE = f"Authentication-Results: {OURS}; dmarc=pass header.from=gmail.test\r\n".encode()


def _by_message_id(rt: Runtime) -> dict[str, Message]:
    with rt.factory() as session:
        found = session.scalars(select(Message).where(Message.direction == "in"))
        return {m.message_id_header or "": m for m in found}


def test_a_forged_sender_gets_no_automatic_mail_and_the_page_warns(
    rt: Runtime, worker: Worker
) -> None:
    """While closed every verified customer gets an acknowledgement: the forged mail (Reply-To
    a fraudster's address, asking for a port-out code) and the unverified one get none. With
    auto-send on for every intent, a forged mail still waits for a person, with a warning."""
    _checked(rt)
    _closed_for_three_days(rt)
    drop(
        rt,
        FORGED
        + make_email(
            subject="Port out",
            body="Please send me the PAC code for my number, I am moving to another network.",
            message_id="<forged@mail.test>",
            headers={"Reply-To": "Aoife <aoife.m.new@fraud.test>"},
        ),
        "forged",
    )
    drop(rt, GENUINE + make_email(sender="Cian <cian@gmail.test>", message_id="<c@mail.test>"), "c")
    drop(rt, make_email(sender="Dara <dara@gmail.test>", message_id="<plain@mail.test>"), "plain")
    worker.drain()
    assert [r["To"] for r in sent_replies(rt)] == ["Cian <cian@gmail.test>"]

    auto_send_every_intent(rt)
    roaming = "Roaming in Spain cost me 80 euro, I thought the EU was included?"
    drop(rt, FORGED + make_email(body=roaming, message_id="<forged2@mail.test>"), "forged2")
    drop(
        rt,
        GENUINE + make_email(sender="Eve <eve@gmail.test>", body=roaming, message_id="<e@m.test>"),
        "eve",
    )
    worker.drain()
    assert sorted(r["To"] for r in sent_replies(rt)) == [
        "Cian <cian@gmail.test>",
        "Eve <eve@gmail.test>",
    ], "the verified sender's reply went out by itself"
    stored = _by_message_id(rt)
    assert stored["<e@m.test>"].state == "sent"
    forged, plain = stored["<forged@mail.test>"], stored["<plain@mail.test>"]
    assert stored["<forged2@mail.test>"].state == "in_review"
    assert stored["<forged2@mail.test>"].state_reason.startswith(
        "not sent automatically: the sender is not verified: DMARC failed"
    )
    assert forged.sender_check == {
        "verdict": "fail",
        "results": {"spf": "fail", "dkim": "none", "dmarc": "fail"},
        "reason": f"DMARC failed at {OURS} (spf=fail, dkim=none, dmarc=fail): "
        "the From domain disowns this mail",
    }
    assert plain.sender_check is not None and plain.sender_check["verdict"] == "unverified"

    with rt.factory() as session:
        shown = {item["id"]: item["sender_verdict"] for item in queue_items(session)}
    assert shown == {
        stored["<c@mail.test>"].id: "pass",
        forged.id: "fail",
        plain.id: "unverified",
        stored["<forged2@mail.test>"].id: "fail",
    }
    staff(rt, "agent")
    with TestClient(app=create_app(rt)) as client:
        login(client, "agent")
        queue = client.get("/queue").text
        assert queue.count('class="forged"') == 2, "the queue marks the two forged mails"
        page = client.get(f"/messages/{forged.id}").text
        assert "Possibly forged: DMARC failed at" in page
        assert "Replies go to aoife.m.new@fraud.test, not to aoife.murphy@gmail.test" in page
        page = client.get(f"/messages/{plain.id}").text
        assert f"Sender not verified: no Authentication-Results from {OURS}" in page
        page = client.get(f"/messages/{stored['<c@mail.test>'].id}").text
        assert 'id="sender-verified"' in page and 'id="sender-check"' not in page


def test_without_a_trusted_server_nothing_is_checked(rt: Runtime, worker: Worker) -> None:
    """Off by default: a header any sender could have written is not read."""
    drop(rt, FORGED + make_email(), "forged")
    worker.drain()
    (message,) = _by_message_id(rt).values()
    assert message.sender_check is None
    staff(rt, "agent")
    with TestClient(app=create_app(rt)) as client:
        login(client, "agent")
        page = client.get(f"/messages/{message.id}").text
        assert 'id="sender-check"' not in page and 'id="sender-verified"' not in page


def test_a_reply_to_not_on_file_is_pointed_out_without_the_check(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """Senders not checked: a known customer's mail asking for replies elsewhere still gets a
    notice, since the reply will carry her account details; her own address does not."""
    elsewhere = {"Reply-To": "Aoife <aoife.m.new@fraud.test>"}
    drop(rt, make_email(message_id="<away@mail.test>", headers=elsewhere), "away")
    own = {"Reply-To": "Aoife Murphy <aoife.murphy@gmail.test>"}
    drop(rt, make_email(message_id="<own@mail.test>", headers=own), "own")
    worker.drain()
    stored = _by_message_id(rt)
    staff(rt, "agent")
    with TestClient(app=create_app(rt)) as client:
        login(client, "agent")
        page = client.get(f"/messages/{stored['<away@mail.test>'].id}").text
        assert (
            "The reply goes to aoife.m.new@fraud.test, which is not on file for Aoife Murphy"
            in page
        )
        assert 'id="sender-check"' not in page
        page = client.get(f"/messages/{stored['<own@mail.test>'].id}").text
        assert 'id="reply-not-on-file"' not in page
