"""Generated hostile mail through the real parse stage: each ends parsed or quarantined, bounded.

Messages are dropped into the Maildir, stored raw, then parsed by the worker, on every database.
Memory is the peak resident size (VmHWM) of a child process that parses one message: a loose
bound that catches blow-ups (the sanitiser once took 1.5 GB for 49 MB of HTML; 50 MB now takes
about 190 MB). Time is bounded only by generous subprocess time-outs, never asserted.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from responder.db.models import Attachment, Message
from responder.db.session import transaction
from responder.mail.parse import MessageParseError, ParseLimits, parse_email
from responder.pipeline.states import FINAL_STATES, RETRYABLE_STATES, State
from responder.pipeline.worker import Worker
from responder.review import retry
from responder.runtime import Runtime
from tests.helpers import drop

ROOT = Path(__file__).resolve().parents[2]
HEAD = (
    b"From: Mallory <mallory@evil.test>\r\nTo: support@northwind-mobile.test\r\n"
    b"Message-ID: <hostile@evil.test>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
)
SETTLED = {*FINAL_STATES, *RETRYABLE_STATES, State.IN_REVIEW}
# A child's resident memory may grow by this much per byte of message, plus a fixed allowance.
MEMORY_PER_BYTE = 10
MEMORY_FIXED = 64_000_000
CHILD = """
import json, sys
from responder.mail.parse import MessageParseError, parse_email

def status(key):  # this process's own figures (ru_maxrss would include the parent's at fork)
    return int(open("/proc/self/status").read().split(key + ":")[1].split()[0]) * 1024

raw = open(sys.argv[1], "rb").read()
before = status("VmRSS")
try:
    parsed = parse_email(raw)
    outcome = {"parsed": True, "text": len(parsed.text), "html": len(parsed.html or "")}
except MessageParseError as exc:
    outcome = {"parsed": False, "reason": str(exc)}
outcome["grew"] = status("VmHWM") - before
print(json.dumps(outcome))
"""


def many_parts(count: int = 10_000) -> bytes:
    parts = b"".join(
        b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % n for n in range(count)
    )
    return (
        HEAD + b"Subject: many parts\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
    )


def deep_nesting(depth: int = 1_000) -> bytes:
    opening = b"".join(
        b'--l%d\r\nContent-Type: multipart/mixed; boundary="l%d"\r\n\r\n' % (n, n + 1)
        for n in range(depth)
    )
    closing = b"".join(b"--l%d--\r\n" % n for n in reversed(range(depth + 1)))
    return (
        HEAD + b"Subject: deep\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="l0"\r\n\r\n'
        + opening
        + b"--l%d\r\nContent-Type: text/plain\r\n\r\n" % depth
        + b"a line at the bottom of the nesting\r\n" * 20_000
        + closing
    )


def megabyte_header() -> bytes:
    """A 1 MB address list: the stdlib header parser alone would take minutes on it."""
    return (
        HEAD
        + b"Subject: "
        + b"A" * 1_000_000
        + b"\r\nCc: "
        + b"someone@evil.test, " * 55_000
        + b"\r\n\r\nHello, my bill is wrong.\r\n"
    )


def long_headers_under_the_limit() -> bytes:
    """Long header values that still fit the limit parse; the stored copy is cut to fit."""
    return (
        HEAD
        + b"Subject: "
        + b"bill " * 20_000
        + b"\r\nCc: "
        + b"someone@evil.test, " * 5_000
        + b"\r\n\r\nHello, my bill is wrong.\r\n"
    )


def zip_bomb() -> bytes:
    """100 MB of zeros in a ~100 KB zip: it must be listed as an attachment, never unpacked."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(100):
            member.write(b"\0" * 1_000_000)

    encoded = base64.encodebytes(buffer.getvalue())
    return (
        HEAD + b"Subject: invoice\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="z"\r\n\r\n'
        b"--z\r\nContent-Type: text/plain\r\n\r\nSee attached invoice.\r\n"
        b"--z\r\nContent-Type: application/zip\r\n"
        b'Content-Disposition: attachment; filename="invoice.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--z--\r\n"
    )


def null_bytes() -> bytes:
    return (
        b"From: Mal\0lory <mal\0lory@evil.test>\r\nTo: support@northwind-mobile.test\r\n"
        b"Message-ID: <nul\0@evil.test>\r\nSubject: bill\0 wrong\0\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="n"\r\n\r\n'
        b"--n\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"My bill\0 is wrong\0\0\0 please help.\0\r\n"
        b"--n\r\nContent-Type: text/html; charset=ut\0f-8\r\n\r\n<p>bill\0</p>\r\n"
        b"--n\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="bill\0.pdf"\r\n\r\n%PDF\0\0\r\n--n--\r\n'
    )


def invalid_utf8() -> bytes:
    bad = b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc\xed\xa0\x80"
    return (
        b"From: " + bad + b" <x@evil.test>\r\nTo: support@northwind-mobile.test, " + bad + b"\r\n"
        b"Message-ID: <utf8@evil.test>\r\nSubject: =?utf-8?b?/w==?= " + bad + b"\r\n"
        b"X-" + bad[:2] + b"Header: " + bad + b"\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="u"\r\n\r\n'
        b"--u\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMy bill " + bad + b" please\r\n"
        b"--u\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + bad + b"</p>\r\n"
        b"--u\r\nContent-Type: application/pdf; name*=utf-8''%FF%FE.pdf\r\n"
        b'Content-Disposition: attachment; filename="' + bad + b'.pdf"\r\n\r\n' + bad + b"\r\n"
        b"--u\r\nContent-Type: text/plain; charset=" + bad + b"\r\n\r\n" + bad + b"\r\n--u--\r\n"
    )


def just_under_the_size_limit(limit: int = 50_000_000) -> bytes:
    """Text and HTML alternatives filling the size limit: parsed, in bounded memory."""
    text_line = b"My bill is wrong, please check it. " * 2 + b"\r\n"
    html_line = b"<p>My bill is <b>wrong</b>, please <a href='#'>check</a> it.</p>\r\n"
    half = (limit - 1_000) // 2
    return (
        HEAD + b"Subject: big\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n'
        b"--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + text_line * (half // len(text_line))
        + b"--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + html_line * (half // len(html_line))
        + b"--a--\r\n"
    )


CASES: dict[str, Callable[[], bytes]] = {
    "10000-parts": many_parts,
    "deep-nesting": deep_nesting,
    "1mb-header": megabyte_header,
    "long-headers": long_headers_under_the_limit,
    "zip-bomb": zip_bomb,
    "null-bytes": null_bytes,
    "invalid-utf8": invalid_utf8,
}
#: Cases beyond a parse limit, and the [pipeline] setting their quarantine reason names.
OVER_A_LIMIT = {
    "10000-parts": "max_mime_parts",
    "deep-nesting": "max_mime_depth",
    "1mb-header": "max_header_bytes",
}


@pytest.fixture(scope="module")
def under_the_size_limit() -> bytes:
    raw = just_under_the_size_limit()
    assert 49_000_000 < len(raw) < 50_000_000
    return raw


def parse_in_child(raw: bytes, tmp_path: Path) -> dict[str, object]:
    """Parse in a fresh interpreter and report how much its peak resident memory grew."""
    path = tmp_path / "message.eml"
    path.write_bytes(raw)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=ROOT,
        capture_output=True,
        timeout=300,  # a safety net against hangs, not a performance assertion
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_message_parses_in_bounded_memory(name: str, tmp_path: Path) -> None:
    raw = CASES[name]()
    outcome = parse_in_child(raw, tmp_path)
    assert outcome["grew"] < MEMORY_PER_BYTE * len(raw) + MEMORY_FIXED, outcome
    assert outcome["parsed"] is (name not in OVER_A_LIMIT), outcome


def test_message_just_under_the_size_limit_parses_in_bounded_memory(
    under_the_size_limit: bytes, tmp_path: Path
) -> None:
    outcome = parse_in_child(under_the_size_limit, tmp_path)
    assert outcome["parsed"], outcome
    assert outcome["text"] > 20_000_000 and outcome["html"] > 0
    assert outcome["grew"] < MEMORY_PER_BYTE * len(under_the_size_limit) + MEMORY_FIXED, outcome


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_message_ends_parsed_or_quarantined(rt: Runtime, worker: Worker, name: str) -> None:
    raw = CASES[name]()
    drop(rt, raw, name)
    worker.drain()
    with rt.factory() as session:
        message = session.scalar(select(Message))
        assert message is not None, "the message was lost"
        assert message.state in SETTLED, (message.state, message.state_reason)
        assert message.raw == raw, "raw bytes must be stored unchanged"
        if name in OVER_A_LIMIT:
            assert message.state == State.QUARANTINED
            assert OVER_A_LIMIT[name] in message.state_reason
        elif message.state == State.QUARANTINED:
            assert message.state_reason
        else:
            assert message.subject is not None and len(message.subject) <= 2000


def test_quarantined_over_a_limit_parses_after_the_limit_is_raised(
    rt: Runtime, worker: Worker
) -> None:
    rt.settings.pipeline.max_mime_parts = 100
    drop(rt, many_parts(200), "parts")
    worker.drain()
    with rt.factory() as session:
        message = session.scalar(select(Message))
        assert message.state == State.QUARANTINED
        assert message.state in RETRYABLE_STATES
        message_id = message.id
    rt.settings.pipeline.max_mime_parts = 1_000
    with transaction(rt.factory) as session:
        retry(session, message_id, "tester")
    worker.drain()
    with rt.factory() as session:
        assert session.get(Message, message_id).state not in (
            State.RECEIVED,
            State.QUARANTINED,
        )


def test_zip_bomb_is_listed_as_an_attachment_never_unpacked(rt: Runtime, worker: Worker) -> None:
    raw = zip_bomb()
    drop(rt, raw, "bomb")
    worker.drain()
    with rt.factory() as session:
        message = session.scalar(select(Message))
        assert message.state == State.IN_REVIEW, message.state_reason
        (attachment,) = session.scalars(select(Attachment)).all()
        assert attachment.filename == "invoice.zip"
        assert attachment.size < 1_000_000, "the archive was expanded"
        assert attachment.content is not None
        assert zipfile.is_zipfile(io.BytesIO(attachment.content))


def test_attachment_over_the_limit_is_listed_without_content() -> None:
    parsed = parse_email(zip_bomb(), max_attachment_bytes=1_000)
    (attachment,) = parsed.attachments
    assert attachment.filename == "invoice.zip" and attachment.size > 1_000
    assert attachment.content is None


def test_limits_name_the_setting_to_raise() -> None:
    with pytest.raises(MessageParseError, match="max_mime_depth"):
        parse_email(deep_nesting(50), limits=ParseLimits(max_mime_depth=10))
    assert parse_email(deep_nesting(50), limits=ParseLimits(max_mime_depth=60)).text


def test_message_over_the_size_limit_is_kept_raw_and_quarantined(
    rt: Runtime, worker: Worker, under_the_size_limit: bytes
) -> None:
    limit = rt.settings.pipeline.max_message_bytes
    raw = under_the_size_limit + b"x" * (limit - len(under_the_size_limit) + 1)
    assert len(raw) == limit + 1
    drop(rt, raw, "huge")
    worker.drain()
    with rt.factory() as session:
        message = session.scalar(select(Message))
        assert message.state == State.QUARANTINED
        assert "limit" in message.state_reason
        assert len(message.raw) == len(raw)
