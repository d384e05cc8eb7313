"""Parse raw RFC 5322 bytes into a plain, immutable ParsedEmail.

The parser never gives up on odd mail: wrong charsets fall back, broken headers are decoded as
well as possible and MIME defects are recorded. Only bytes that are not a message at all raise
MessageParseError, whose text is shown to staff beside the quarantined raw message.
"""

from __future__ import annotations

import email
import email.feedparser
import email.parser
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import Message

from responder.mail.charsets import (
    decode_bytes,
    decode_header_text,
    has_surrogates,
    repair_surrogates,
)
from responder.mail.html import html_to_text, sanitise_html
from responder.mail.quotes import strip_quotes

# Header values longer than this skip the stdlib's header parser, whose time grows with the
# square of the length (a 1 MB address list takes minutes); the tolerant decoders are linear.
_STDLIB_HEADER_MAX = 16_000
# Bytes handed to the stdlib MIME parser at a time, so that limits are checked as it goes.
_FEED_CHUNK = 8_192
_MSG_ID = re.compile(r"<[^<>\s]+>")


class _SharedHeaderClasses(HeaderRegistry):
    """The stdlib's registry builds a new header class at every look-up, a third of the time
    parsing a message's headers takes; the classes hold no state, so one of each serves all
    messages (keyed by the class it extends, so odd header names cannot grow the cache)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[type, type] = {}

    def __getitem__(self, name: str) -> type:
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._made.get(kind)
        if made is None:
            made = self._made[kind] = type("_" + kind.__name__, (kind, self.base_class), {})
        return made


_HEADERS = _SharedHeaderClasses()
_POLICY = policy.default.clone(header_factory=_HEADERS)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Address:
    """One mailbox: display name and address (domain lower-cased)."""

    name: str
    address: str


@dataclass(frozen=True)
class Attachment:
    """A non-body part; content is None when it exceeded the size limit."""

    filename: str | None
    content_type: str
    size: int
    content: bytes | None


@dataclass(frozen=True)
class ParsedEmail:
    """Everything later stages need from one inbound message, as plain data."""

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    sender: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    headers: tuple[tuple[str, str], ...]
    text: str
    html: str | None
    new_text: str
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]
    content_type: str

    def header(self, name: str) -> str | None:
        """First value of a header by case-insensitive name, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None


class MessageParseError(Exception):
    """Raised only when bytes cannot be read as a message at all, or exceed a parse limit.

    str(e) is the reason shown to staff beside the quarantined raw message.
    """


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on the work one message may cost; beyond them it is quarantined, not parsed.

    The defaults mirror config.toml's [pipeline] section.
    """

    max_attachment_bytes: int = 10_000_000
    max_mime_parts: int = 1_000
    max_mime_depth: int = 40
    max_header_bytes: int = 256_000


def parse_email(
    raw: bytes, *, max_attachment_bytes: int = 10_000_000, limits: ParseLimits | None = None
) -> ParsedEmail:
    """Parse raw message bytes; raises MessageParseError and nothing else."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MessageParseError(f"expected bytes, got {type(raw).__name__}")
    data = bytes(raw)
    if not data.strip():
        raise MessageParseError("empty message: no headers and no body")
    if limits is None:
        limits = ParseLimits(max_attachment_bytes=max_attachment_bytes)
    try:
        return _parse(data, limits)
    except MessageParseError:
        raise
    except RecursionError as exc:
        raise MessageParseError("message structure nested too deeply to read") from exc
    except Exception as exc:  # the contract: any failure becomes a reason shown to staff
        raise MessageParseError(f"unreadable message ({type(exc).__name__}: {exc})") from exc


class _BoundedFeedParser(email.feedparser.BytesFeedParser):
    """The stdlib MIME parser, refusing to open more parts or deeper nesting than allowed.

    Checking while parsing matters: the stdlib's cost per line grows with the nesting depth,
    so a deep message with a large body would otherwise take hours before any walk could
    refuse it. _new_message is where the stdlib opens every part (stable since Python 3.3).
    """

    def __init__(self, limits: ParseLimits) -> None:
        super().__init__(policy=policy.compat32)
        self._limits = limits
        self._opened = 0

    def _new_message(self) -> None:
        self._opened += 1
        if self._opened > self._limits.max_mime_parts:
            raise MessageParseError(
                f"more than {self._limits.max_mime_parts:,} MIME parts "
                "(limit [pipeline] max_mime_parts); raw kept"
            )
        if len(self._msgstack) > self._limits.max_mime_depth:
            raise MessageParseError(
                f"MIME parts nested more than {self._limits.max_mime_depth} levels deep "
                "(limit [pipeline] max_mime_depth); raw kept"
            )
        super()._new_message()  # type: ignore[misc]


def _read_tree(data: bytes, limits: ParseLimits) -> Message:
    # The MIME tree is read with compat32: policy.default builds a parsed header object each
    # time a part's Content-Type is looked at, five times slower on deeply nested mail. Header
    # values are decoded with policy.default below, where its parser earns its cost.
    parser = _BoundedFeedParser(limits)
    view = memoryview(data)
    for start in range(0, len(data), _FEED_CHUNK):
        parser.feed(bytes(view[start : start + _FEED_CHUNK]))
    return parser.close()


def _parse(data: bytes, limits: ParseLimits) -> ParsedEmail:
    msg = _read_tree(data, limits)
    raw_headers = list(msg.raw_items())
    payload = msg.get_payload()
    if not raw_headers and not payload:
        raise MessageParseError("not an email message: no headers and no body")

    parts = _Parts(limits)
    parts.collect(msg)
    # Charsets the body declares are the likeliest for raw 8-bit bytes in the headers.
    hints = tuple(dict.fromkeys(parts.charsets))[:5]
    # The stdlib's parse of each header, kept so the address headers are not parsed twice.
    structured: dict[tuple[str, str], object] = {}
    headers = tuple(
        (name.lower(), _header_text(name, value, hints, structured)) for name, value in raw_headers
    )
    first = _first_values(headers)
    html_source = parts.html[0] if parts.html else None
    if parts.plain:
        text = "\n\n".join(parts.plain).strip()
    elif html_source is not None:
        text = html_to_text(html_source)
    else:
        text = ""
    new_text = strip_quotes(text) if text else ""

    return ParsedEmail(
        message_id=_first_id(first.get("message-id")),
        in_reply_to=_first_id(first.get("in-reply-to")),
        references=tuple(dict.fromkeys(_MSG_ID.findall(first.get("references", "")))),
        subject=" ".join(first.get("subject", "").split()),
        sender=next(iter(_addresses(raw_headers, "from", hints, structured)), None),
        reply_to=_addresses(raw_headers, "reply-to", hints, structured),
        to=_addresses(raw_headers, "to", hints, structured),
        cc=_addresses(raw_headers, "cc", hints, structured),
        date=_date(first.get("date")),
        headers=headers,
        text=text,
        html=sanitise_html(html_source) if html_source is not None else None,
        new_text=new_text,
        attachments=tuple(parts.attachments),
        defects=tuple(dict.fromkeys(parts.defects)),
        content_type=_content_type(msg),
    )


def _header_text(
    name: str, value: str, hints: tuple[str, ...], structured: dict[tuple[str, str], object]
) -> str:
    """Decode a raw header value via the stdlib policy, falling back to a tolerant decoder.
    The stdlib's parse is left in `structured` for the address fields to reuse."""
    if _is_plain(name, value):
        # Most of a message's headers (Received, DKIM-Signature, X-...): nothing to decode.
        return _LINE_BREAK.sub("", value)
    if len(value) <= _STDLIB_HEADER_MAX and not has_surrogates(value):
        try:
            header = _POLICY.header_fetch_parse(name, value)
            text = str(header)
        except Exception:  # the stdlib header parser chokes on some broken headers
            text = ""
        else:
            structured[(name, value)] = header
            if not has_surrogates(text) and "\ufffd" not in text:
                return " ".join(text.split()) if "\n" in text else text
    return decode_header_text(value, hints).strip()


def _is_plain(name: str, value: str) -> bool:
    """An unstructured header of printable ASCII without encoded words reads as it stands."""
    return (
        _HEADERS.registry.get(name.lower()) is None
        and value.isascii()
        and "=?" not in value
        and len(value) <= _STDLIB_HEADER_MAX
    )


def _first_values(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    first: dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name, value)
    return first


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID as parse_email reports it, from the headers alone (ingestion's guard)."""
    try:
        value = email.parser.BytesHeaderParser(policy=policy.compat32).parsebytes(raw)["message-id"]
    except Exception:  # a header block this broken is the parse stage's to report
        return None
    return _first_id(str(value)) if value else None


def _first_id(value: str | None) -> str | None:
    """The first <id> in a header; bare ids are wrapped in angle brackets."""
    if not value:
        return None
    found = _MSG_ID.search(value)
    if found:
        return found.group(0)
    bare = value.strip().split()
    return f"<{bare[0].strip('<>')}>" if bare and bare[0].strip("<>") else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def make_address(name: str, address: str) -> Address:
    """Normalise one mailbox: strip whitespace, lower-case the domain, keep the local part."""
    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if at:
        address = f"{local}@{domain.lower()}"
    return Address(name=" ".join(name.split()), address=address)


def _addresses(
    raw_headers: list[tuple[str, str]],
    field: str,
    hints: tuple[str, ...],
    structured: dict[tuple[str, str], object],
) -> tuple[Address, ...]:
    """Addresses of every occurrence of a header, parsed structurally (never split on commas)."""
    found: list[Address] = []
    for name, value in raw_headers:
        if name.lower() != field:
            continue
        found.extend(_parse_address_header(name, value, hints, structured.get((name, value))))
    return tuple(dict.fromkeys(found))


def _parse_address_header(
    name: str, value: str, hints: tuple[str, ...], header: object | None = None
) -> list[Address]:
    """`header`: the stdlib's parse of this header when `_header_text` already made it."""
    if len(value) <= _STDLIB_HEADER_MAX and not has_surrogates(value):
        try:
            if header is None:
                header = _POLICY.header_fetch_parse(name, value)
            parsed = [
                make_address(a.display_name, a.addr_spec)
                for a in header.addresses  # type: ignore[attr-defined]
                if a.addr_spec and a.addr_spec != "<>"
            ]
        except Exception:  # fall through to the tolerant path below
            parsed = []
        if parsed and not any(has_surrogates(a.name + a.address) for a in parsed):
            return parsed
    text = " ".join(repair_surrogates(value, hints).split())
    pairs = email.utils.getaddresses([text])
    return [make_address(decode_header_text(display), addr) for display, addr in pairs if addr]


def _content_type(msg: Message) -> str:
    try:
        return msg.get_content_type()
    except Exception:  # a malformed Content-Type reads as the RFC default
        return "text/plain"


class _Parts:
    """Walks the MIME tree once, iteratively bounded, sorting leaves into body and attachments."""

    def __init__(self, limits: ParseLimits) -> None:
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[Attachment] = []
        self.defects: list[str] = []
        self.charsets: list[str] = []
        self._limits = limits
        self._header_bytes = 0

    def collect(self, root: Message) -> None:
        """Depth-first walk with an explicit stack (the parser already bounded parts and depth).

        Header bytes of all parts together are bounded before any header is decoded, since
        decoding costs far more per byte than reading. message/* parts (forwarded mail,
        bounce enclosures) are leaves: their content is an attachment, never the body.
        """
        stack: list[Message] = [root]
        while stack:
            node = stack.pop()
            self._count_headers(node)
            self.defects.extend(_defect_names(node))
            ctype = _content_type(node)
            if node.is_multipart() and not ctype.startswith("message/"):
                children = node.get_payload()
                if isinstance(children, list):
                    stack.extend(c for c in reversed(children) if isinstance(c, Message))
                continue
            self._leaf(node, ctype, self._limits.max_attachment_bytes)

    def _count_headers(self, node: Message) -> None:
        self._header_bytes += sum(len(k) + len(v) + 2 for k, v in node.raw_items())
        limit = self._limits.max_header_bytes
        if self._header_bytes > limit:
            raise MessageParseError(
                f"headers over {limit:,} bytes in all (limit [pipeline] max_header_bytes); raw kept"
            )

    def _leaf(self, node: Message, ctype: str, max_bytes: int) -> None:
        filename = _filename(node)
        disposition = (node.get_content_disposition() or "") if _safe(node) else ""
        is_body = disposition != "attachment" and filename is None
        if ctype.startswith("text/"):
            charset = _charset(node)
            if charset:
                self.charsets.append(charset)
        if is_body and ctype == "text/plain":
            self.plain.append(_part_text(node))
            return
        if is_body and ctype == "text/html":
            self.html.append(_part_text(node))
            return
        content = _part_bytes(node)
        self.attachments.append(
            Attachment(
                filename=filename,
                content_type=ctype,
                size=len(content),
                content=content if len(content) <= max_bytes else None,
            )
        )


def _safe(node: Message) -> bool:
    try:
        node.get_content_disposition()
    except Exception:
        return False
    return True


def _defect_names(node: Message) -> Iterator[str]:
    for defect in getattr(node, "defects", ()):
        yield type(defect).__name__


def _filename(node: Message) -> str | None:
    """The attachment name from Content-Disposition or Content-Type (RFC 2231, encoded words,
    raw 8-bit bytes), read with policy.default's parameter parser."""
    raw = {name.lower(): value for name, value in reversed(list(node.raw_items()))}
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        value = raw.get(header)
        if value is None or len(value) > _STDLIB_HEADER_MAX:  # no real name is that long
            continue
        if param not in value.lower():  # parameter names are never encoded: nothing to parse
            continue
        try:
            parsed = _POLICY.header_fetch_parse(header, repair_surrogates(value))
            name = parsed.params.get(param)  # type: ignore[attr-defined]
        except Exception:  # broken parameters: try the next header
            continue
        if name:
            text = decode_header_text(str(name)).strip()
            if text:
                return text
    return None


def _part_bytes(node: Message) -> bytes:
    """Decoded content of a leaf; message/* parts give their enclosed bytes, headers included."""
    if _content_type(node).startswith("message/") or node.is_multipart():
        return _serialised_body(node)
    try:
        data = node.get_payload(decode=True)
    except Exception:  # undecodable transfer encoding: keep the raw text below
        data = None
    if isinstance(data, bytes):
        return data
    body = node.get_payload()
    return body.encode("utf-8", "surrogateescape") if isinstance(body, str) else b""


def _serialised_body(node: Message) -> bytes:
    """The body of a message/* part as bytes, without the part's own MIME headers."""
    try:
        whole = node.as_bytes(policy=policy.compat32.clone(max_line_length=0, linesep="\n"))
    except Exception:  # broken or absurdly nested enclosures are kept empty rather than fatal
        return b""
    _, sep, body = whole.partition(b"\n\n")
    return body if sep else whole


def _charset(node: Message) -> str | None:
    try:
        return node.get_content_charset()
    except Exception:  # broken parameters: no declared charset
        return None


def _part_text(node: Message) -> str:
    text = decode_bytes(_part_bytes(node), _charset(node))
    return text.replace("\r\n", "\n").replace("\r", "\n")
