"""Read a delivery status notification (RFC 3464): which of our messages it returns, and why.

A bounce comes back days after the reply left, as mail to our own mailbox. The guard ignores
it (it must never get a draft); this reads what the parse stage needs to put the failure on
the reply it speaks of: the enclosed original's Message-ID and Date, and each recipient the
reporting server gave up on, with its answer. Anyone can write such a mail naming one of our
Message-IDs, so it also says whether it has a real report's form (`form_problem`) and which
failures name a recipient our message was sent to (`failures_for`).
"""

from __future__ import annotations

import dataclasses
import email.message
import email.parser
import email.policy
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses, parsedate_to_datetime

from responder.mail.parse import ParsedEmail, message_id_of

_STATUS_TYPES = {"message/delivery-status", "message/global-delivery-status"}
_ENCLOSED_TYPES = {
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/global-headers",
}
#: The report types of a delivery status notification: RFC 3464's, and RFC 6533's for
#: internationalised mail.
_REPORT_TYPES = {"delivery-status", "global-delivery-status"}
#: A server's answer is shown as it came, cut to this many characters.
_ANSWER_LIMIT = 300


@dataclass(frozen=True)
class Failure:
    """One recipient the reporting server gave up on."""

    recipient: str
    status: str
    diagnostic: str
    #: Every address the block names (Original- and Final-Recipient), lower-cased.
    addresses: frozenset[str] = frozenset()

    def words(self) -> str:
        status = f"status {self.status}" if self.status else ""
        if self.diagnostic and status:
            return f"{self.recipient}: {self.diagnostic} ({status})"
        return f"{self.recipient}: {self.diagnostic or status or 'no reason given'}"


@dataclass(frozen=True)
class Bounce:
    """The message it returns (by Message-ID; its Date tells which attempt), and who failed."""

    original_id: str
    original_date: datetime | None
    failures: tuple[Failure, ...]
    #: Why it is not in a delivery status notification's form ("" when it is).
    form_problem: str = ""

    def reason(self) -> str:
        answers = "; ".join(f.words() for f in self.failures)
        return f"returned by the recipient's server: {answers}"

    def failures_for(self, recipients: set[str]) -> Bounce:
        """Only the failures that name one of `recipients` (lower-cased addresses)."""
        kept = tuple(f for f in self.failures if f.addresses & recipients)
        return dataclasses.replace(self, failures=kept)

    def named(self) -> str:
        """The failed recipients it names, for a reason that says they were not ours."""
        return ", ".join(f.recipient for f in self.failures)


def read_bounce(parsed: ParsedEmail) -> Bounce | None:
    """The bounce a delivery status report is, when it says a delivery failed for good and
    encloses the original's headers; None for anything else (a delay warning, a report of
    success, a report without the original)."""
    status = next((a for a in parsed.attachments if a.content_type in _STATUS_TYPES), None)
    enclosed = next((a for a in parsed.attachments if a.content_type in _ENCLOSED_TYPES), None)
    if status is None or enclosed is None or status.content is None or enclosed.content is None:
        return None
    original_id = message_id_of(enclosed.content)
    failures = tuple(_failures(status.content))
    if original_id is None or "\x00" in original_id or not failures:  # never one of ours
        return None
    return Bounce(original_id, _date(enclosed.content), failures, _form_problem(parsed))


def _form_problem(parsed: ParsedEmail) -> str:
    """Why the message is not a delivery status notification as servers send one: a
    multipart/report whose report-type is delivery-status (or global-delivery-status)."""
    if parsed.content_type != "multipart/report":
        return f"it is {parsed.content_type}, not a multipart/report"
    headers = email.message.Message()
    headers["content-type"] = parsed.header("content-type") or ""
    report_type = str(headers.get_param("report-type") or "").strip().lower()
    if report_type not in _REPORT_TYPES:
        return f"its report-type is {report_type or 'missing'}, not delivery-status"
    return ""


def sent_date(raw: bytes) -> datetime | None:
    """The Date header of a message's bytes (ours, as the outbox last sent it)."""
    return _date(raw)


def address_list(raw: bytes, header: str) -> set[str]:
    """The addresses of one header of a message's bytes, lower-cased."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    values = [str(v) for v in headers.get_all(header) or ()]
    return {address.lower() for _, address in getaddresses(values) if address}


def _date(raw: bytes) -> datetime | None:
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        value = headers["date"]
        return parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def _failures(report: bytes) -> list[Failure]:
    """The per-recipient blocks whose delivery failed (Action: failed; a block without an
    Action counts when its status is permanent, 5.x.x)."""
    failures = []
    text = report.decode("utf-8", errors="replace").replace("\x00", "\ufffd")  # PostgreSQL
    for fields in _blocks(text):
        named = [_typed_value(fields.get(f)) for f in ("original-recipient", "final-recipient")]
        recipient = next((r for r in named if r), "")
        if not recipient:
            continue
        action = fields.get("action", "").strip().lower()
        status = fields.get("status", "").strip()
        if action != "failed" and not (not action and status.startswith("5")):
            continue
        diagnostic = _typed_value(fields.get("diagnostic-code"))[:_ANSWER_LIMIT]
        addresses = frozenset(r.strip("<>").lower() for r in named if r)
        failures.append(Failure(recipient.strip("<>"), status[:20], diagnostic, addresses))
    return failures


def _blocks(text: str) -> list[dict[str, str]]:
    """The report's groups of fields (separated by blank lines), folded lines joined."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    name = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, name = {}, ""
        elif line[0] in " \t" and name:
            current[name] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            current.setdefault(name, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _typed_value(value: str | None) -> str:
    """`rfc822; ann@example.com` or `smtp; 550 ...` without its type."""
    if not value:
        return ""
    kind, sep, rest = value.partition(";")
    return " ".join((rest if sep and " " not in kind.strip() else value).split())
