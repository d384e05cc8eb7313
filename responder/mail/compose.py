"""Build threaded reply messages as bytes ready for SMTP.

Replies must land in the customer's thread (In-Reply-To, References, one "Re:") and must never
let a value smuggle extra headers in: any CR or LF in a header value is refused.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from responder.mail.message_ids import IdsHeader, thread_references, trimmed, usable_id
from responder.mail.parse import Address, ParsedEmail
from responder.mail.reply_html import reply_html

# Reply prefixes only (Re, German Aw, Nordic Sv/Vs, Dutch Antw, Polish Odp, Portuguese Res),
# optionally counted as "Re[2]:" or "Re(2):"; forward prefixes are left alone.
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|odp|res)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+", re.I
)
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII without ':' (RFC 5322 field name)
_RESERVED = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "auto-submitted",
    "x-auto-response-suppress",
}


def make_message_id(domain: str) -> str:
    """A globally unique Message-ID under our domain, fixed before the first send attempt; an
    international domain in its ASCII (IDNA) form, as the From address carries it."""
    domain = domain.strip()
    if not domain or re.search(r"[\s<>@]", domain):
        raise ValueError(f"invalid Message-ID domain: {domain!r}")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"invalid Message-ID domain: {domain!r}") from exc
    return f"<{uuid.uuid4().hex}@{domain}>"


def reply_subject(subject: str) -> str:
    """The subject with exactly one leading 'Re: ', whatever reply prefixes it had."""
    rest = _REPLY_PREFIX.sub("", " ".join(subject.split()))
    return f"Re: {rest}" if rest else "Re:"


def reply_recipients(email: ParsedEmail) -> tuple[Address, ...]:
    """Who a reply goes to: Reply-To when given, else From."""
    if email.reply_to:
        return email.reply_to
    return (email.sender,) if email.sender else ()


#: More copied addresses than this is a mass mailing, not a conversation: none are kept.
MAX_REPLY_CC = 20


def reply_all_cc(email: ParsedEmail, own_addresses: frozenset[str]) -> tuple[Address, ...]:
    """Whom a reply to all copies: the message's other To and Cc addresses, without ours,
    without the people the reply is already addressed to, and without any that no reply could
    carry (a broken address must not make the draft impossible to approve)."""
    taken = {a.address.lower() for a in reply_recipients(email)} | set(own_addresses)
    found: dict[str, Address] = {}
    for address in (*email.to, *email.cc):
        key = address.address.lower()
        if key in taken or key in found:
            continue
        try:
            _header_address(address)
        except ValueError:
            continue
        found[key] = address
    return tuple(found.values()) if len(found) <= MAX_REPLY_CC else ()


def references_for_reply(email: ParsedEmail) -> tuple[str, ...]:
    """The parent's References (or In-Reply-To) followed by the parent's Message-ID."""
    return thread_references(email.references, email.in_reply_to, email.message_id)


class _EncodedSubject(str):
    """A non-ASCII Subject folded by email.header.Header.

    The policy folder in CPython 3.11 drops the space between two encoded words when it folds
    a long non-ASCII subject ("für März" arrives as "fürMärz"); Header keeps spaces inside
    the encoded words. The email policy treats a value with a `name` as a ready header object.
    """

    name = "Subject"

    def fold(self, *, policy: Policy) -> str:
        """The folded header line, as the generator expects it."""
        linesep = policy.linesep
        encoded = Header(str(self), "utf-8", header_name=self.name).encode(linesep=linesep)
        return f"{self.name}: {encoded}{linesep}"


# Besides CR and LF, characters that Python's email package counts as line breaks and refuses
# in a header value (str.splitlines); in a subject or a display name they are only whitespace.
_OTHER_BREAKS = str.maketrans(dict.fromkeys("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " "))


def _check(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} contains CR or LF: header injection refused")
    return value


def smtp_address(address: str) -> str:
    """The address as SMTP carries it: the domain in its ASCII (IDNA) form, the part before @
    as written. Refuses what no mail server could deliver to."""
    _check(address, "address")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {address!r}")
    if not local.isprintable():
        raise ValueError(f"cannot send to {address!r}: the part before @ must be printable")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = ""
    if not ascii_domain or " " in ascii_domain or not ascii_domain.isprintable():
        raise ValueError(f"cannot send to {address!r}: not a valid domain")
    return f"{local}@{ascii_domain}"


def needs_smtputf8(addresses: Sequence[str]) -> bool:
    """A mailbox name beyond ASCII travels only with SMTPUTF8 (RFC 6531): the envelope and the
    headers in UTF-8, which the receiving server must offer."""
    return any(not address.rpartition("@")[0].isascii() for address in addresses)


def _header_address(address: Address) -> HeaderAddress:
    _check(address.name, "address name")
    local, _, ascii_domain = smtp_address(address.address).rpartition("@")
    return HeaderAddress(
        display_name=address.name.translate(_OTHER_BREAKS), username=local, domain=ascii_domain
    )


def build_reply(
    *,
    to: Sequence[Address],
    from_: Address,
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str],
    date: datetime | None = None,
    auto_submitted: bool = False,
    extra_headers: Mapping[str, str] = {},  # read only, never mutated
    attachments: Sequence[tuple[str, str, bytes]] = (),
    cc: Sequence[Address] = (),
    language: str = "",
) -> bytes:
    """Serialise a UTF-8 reply with threading headers, CRLF line endings: multipart/alternative,
    the text/plain body first and the same words as text/html (`mail.reply_html`, in
    `language` when known); with `attachments` ((file name, content type, bytes), ...) that
    alternative is the first part of a multipart/mixed.

    Plain 7-bit headers unless an address's mailbox name is beyond ASCII: then the headers are
    UTF-8 as SMTPUTF8 carries them, since the stdlib would otherwise write that name as an
    encoded word, which names another mailbox."""
    if not to:
        raise ValueError("a reply needs at least one recipient")
    subject = _check(subject, "subject").translate(_OTHER_BREAKS)
    _check(message_id, "Message-ID")
    if in_reply_to is not None:
        _check(in_reply_to, "In-Reply-To")
    for ref in references:
        _check(ref, "References")
    utf8 = needs_smtputf8([from_.address, *(a.address for a in (*to, *cc))])
    own_id = usable_id(message_id, utf8=utf8)
    if own_id is None:
        raise ValueError(f"invalid Message-ID: {message_id!r}")
    # A parent id no client could match (cut short when stored, say) is left out, not garbled.
    parent = usable_id(in_reply_to, utf8=utf8)
    refs = [ref for ref in (usable_id(r, utf8=utf8) for r in references) if ref != parent]
    refs = trimmed([ref for ref in dict.fromkeys(refs) if ref] + ([parent] if parent else []))
    for name, value in extra_headers.items():
        _check(name, "header name")
        _check(value, f"header {name}")
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED:
            raise ValueError(f"header name not allowed: {name!r}")

    serialise = policy.SMTPUTF8 if utf8 else policy.SMTP
    msg = EmailMessage(policy=serialise)
    msg["From"] = _header_address(from_)
    msg["To"] = [_header_address(a) for a in to]
    if cc:
        msg["Cc"] = [_header_address(a) for a in cc]
    msg["Subject"] = subject if subject.isascii() else _EncodedSubject(subject)
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = IdsHeader("Message-ID", [own_id])
    if parent:
        msg["In-Reply-To"] = IdsHeader("In-Reply-To", [parent])
    if refs:
        msg["References"] = IdsHeader("References", refs)
    if auto_submitted:
        msg["Auto-Submitted"] = "auto-replied"
        # The header Exchange and Outlook heed before sending an out-of-office answer.
        msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    for name, value in extra_headers.items():
        msg[name] = value
    # 8-bit bodies are quoted-printable so that servers without 8BITMIME accept them.
    msg.set_content(body, charset="utf-8", cte=None if body.isascii() else "quoted-printable")
    html = reply_html(body, language=language, title=subject)
    msg.add_alternative(
        html, subtype="html", charset="utf-8", cte=None if html.isascii() else "quoted-printable"
    )
    for filename, content_type, content in attachments:
        maintype, _, subtype = content_type.partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        _check(filename, "attachment file name")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=serialise)


def redated(raw: bytes, when: datetime) -> bytes:
    """The message `build_reply` made, with its Date set to `when` (the attempt that sends
    it): only that header line changes, so the Message-ID, the body and the MIME boundaries
    are the same bytes as before."""
    head, blank, rest = raw.partition(b"\r\n\r\n")
    date = b"Date: " + format_datetime(when).encode("ascii")
    lines: list[bytes] = []
    in_date = False
    for line in head.split(b"\r\n"):
        if in_date and line[:1] in (b" ", b"\t"):
            continue  # a folded Date's continuation
        in_date = line[:5].lower() == b"date:"
        if not in_date:
            lines.append(line)
        elif date not in lines:
            lines.append(date)
    if date not in lines:
        lines.append(date)
    return b"\r\n".join(lines) + blank + rest


# The line mail clients write above a quote, per reply language; the customer's client folds
# the quote away and our own quote stripper (`mail.quotes`) cuts it from their next reply.
ATTRIBUTION = {
    "en": "On {when}, {who} wrote:",
    "de": "Am {when} schrieb {who}:",
    "fr": "Le {when}, {who} a écrit :",
    "es": "El {when}, {who} escribió:",
}


# A pasted log or a forwarded thread is not sent back whole: the quote reminds, it does not archive.
QUOTE_MAX_LINES = 200
QUOTE_MAX_CHARS = 20_000


def with_quote(
    body: str,
    text: str,
    *,
    sender: Address,
    written_at: datetime,
    language: str,
    timezone: str = "UTC",
) -> str:
    """The reply with the customer's words quoted below it, as a helpdesk's reply carries them.
    The time is the team's (`timezone`), named by its abbreviation (UTC, GMT, CET, CEST...)."""
    if not text.strip():
        return body
    who = f"{sender.name} <{sender.address}>" if sender.name else sender.address
    if written_at.tzinfo is None:
        written_at = written_at.replace(tzinfo=UTC)
    when = written_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")
    line = ATTRIBUTION.get(language, ATTRIBUTION["en"]).format(when=when, who=who)
    rows = text.strip()[:QUOTE_MAX_CHARS].splitlines()
    cut = len(rows) > QUOTE_MAX_LINES or len(text.strip()) > QUOTE_MAX_CHARS
    rows = [*rows[:QUOTE_MAX_LINES], "[…]"] if cut else rows
    quoted = "\n".join(f"> {row}" if row.strip() else ">" for row in rows)
    return f"{body.rstrip()}\n\n{line}\n{quoted}\n"
