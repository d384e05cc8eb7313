"""Every message of the shared real-world MIME corpus is ingested without a crash.

Each file parses or raises MessageParseError with a reason; bounces, delivery-status reports
and ARF complaints get an ignore reason so that they never get a draft.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest

from responder.mail.guard import ignore_reason
from responder.mail.parse import MessageParseError, ParsedEmail, parse_email

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mime-corpus"
NOT_MESSAGES = {"SOURCE.md", "LICENSE"}
MACHINE_PREFIXES = ("bounce__", "complaints__")
MACHINE_FILES = {"disposition-notification.eml"}
SECONDS_PER_MESSAGE = 5.0


def _files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name not in NOT_MESSAGES)


FILES = _files()
pytestmark = pytest.mark.skipif(
    not FILES,
    reason=f"shared MIME corpus not found at {CORPUS.resolve()} (../shared beside the repo)",
)


@functools.cache
def _ingest(path: Path) -> ParsedEmail | None:
    """Parse once per run (several tests look at the same file)."""
    started = time.monotonic()
    try:
        parsed: ParsedEmail | None = parse_email(path.read_bytes())
    except MessageParseError as exc:
        assert str(exc), f"{path.name}: parse error without a reason"
        parsed = None
    assert time.monotonic() - started < SECONDS_PER_MESSAGE, f"{path.name} took too long"
    return parsed


def test_corpus_is_complete() -> None:
    assert len(FILES) == 69


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_message_parses_or_is_quarantined_with_a_reason(path: Path) -> None:
    parsed = _ingest(path)
    if parsed is not None:
        assert isinstance(parsed.text, str) and isinstance(parsed.new_text, str)
        assert parsed.content_type
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.headers)
        assert parsed.date is None or parsed.date.tzinfo is not None


MACHINE = [p for p in FILES if p.name.startswith(MACHINE_PREFIXES) or p.name in MACHINE_FILES]


@pytest.mark.parametrize("path", MACHINE, ids=[p.name for p in MACHINE])
def test_bounces_reports_and_complaints_are_ignored(path: Path) -> None:
    parsed = _ingest(path)
    if parsed is None:
        return  # quarantined: never drafted either
    reason = ignore_reason(parsed, own_addresses=frozenset({"support@shop.test"}))
    assert reason, f"{path.name} would get a draft"


def test_delivery_status_anywhere_is_ignored() -> None:
    for path in FILES:
        parsed = _ingest(path)
        if parsed is None:
            continue
        kinds = {a.content_type for a in parsed.attachments} | {parsed.content_type}
        if kinds & {"message/delivery-status", "message/feedback-report", "multipart/report"}:
            assert ignore_reason(parsed, own_addresses=frozenset()), path.name
