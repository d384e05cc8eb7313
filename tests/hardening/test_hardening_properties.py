"""Property-based tests (Hypothesis) for the parser, quote stripper, addresses and composer.

Derandomized with a fixed number of examples, so every run (and CI) tries the same inputs.
"""

from __future__ import annotations

from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from responder.mail.compose import build_reply
from responder.mail.parse import Address, MessageParseError, ParsedEmail, parse_email
from responder.mail.quotes import strip_quotes

FIXED = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
HEADER_NAMES = {
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
}

local_parts = st.lists(st.text(ATEXT, min_size=1, max_size=12), min_size=1, max_size=3).map(
    ".".join
)
labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
domains = st.lists(labels, min_size=2, max_size=3).map(".".join)
addresses = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)
message_ids = st.builds(lambda local, domain: f"<{local}@{domain}>", local_parts, domains)
# Any text, including CR, LF, NUL, encoded-word look-alikes and non-ASCII.
hostile_text = st.lists(
    st.one_of(st.characters(), st.sampled_from(["\r", "\n", "\r\n", "=?utf-8?b?", "?=", ":"])),
    max_size=40,
).map("".join)
names = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30)


def parse_or_refuse(raw: bytes) -> ParsedEmail | None:
    """The parser's contract: a ParsedEmail, or our own MessageParseError and nothing else."""
    try:
        return parse_email(raw)
    except MessageParseError:
        return None


@FIXED
@given(st.binary(max_size=3000))
def test_parser_on_arbitrary_bytes_parses_or_refuses(raw: bytes) -> None:
    parse_or_refuse(raw)


@st.composite
def structured_emails(draw: st.DrawFn) -> bytes:
    msg = EmailMessage()
    msg["From"] = HeaderAddress(draw(names), addr_spec=draw(addresses))
    msg["To"] = draw(addresses)
    msg["Subject"] = " ".join(draw(names).split())
    msg["Message-ID"] = draw(message_ids)
    msg.set_content(draw(st.text(max_size=300)))
    if draw(st.booleans()):
        msg.add_alternative(f"<p>{draw(st.text(max_size=200))}</p>", subtype="html")
    for _ in range(draw(st.integers(0, 3))):
        msg.add_attachment(
            draw(st.binary(max_size=200)),
            maintype="application",
            subtype=draw(st.sampled_from(["zip", "pdf", "octet-stream"])),
            filename=draw(names) or "file.bin",
        )
    for n, part in enumerate(msg.walk()):  # fixed boundaries: the stdlib's are random
        if part.is_multipart():
            part.set_boundary(f"=_boundary_{n}_=")
    raw = msg.as_bytes()
    # Damage it: cut it short or splice random bytes in.
    cut = draw(st.integers(0, len(raw)))
    return raw[:cut] + draw(st.binary(max_size=40)) + raw[cut:] if draw(st.booleans()) else raw


@FIXED
@given(structured_emails())
def test_parser_on_structured_and_damaged_emails_parses_or_refuses(raw: bytes) -> None:
    parsed = parse_or_refuse(raw)
    if parsed is not None:
        assert isinstance(parsed.text, str) and isinstance(parsed.subject, str)
        assert all(isinstance(a.address, str) for a in parsed.to)


@FIXED
@given(st.text(max_size=2000))
def test_quote_stripper_keeps_only_lines_of_its_input(text: str) -> None:
    """The contract: the new text is made of the input's own lines (a cut, never a rewrite)."""
    result = strip_quotes(text)
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    assert len(result) <= len(normalised)
    for line in result.split("\n"):
        assert line.strip() in normalised


@FIXED
@given(
    st.lists(st.text(st.characters(blacklist_characters="\r\n>"), max_size=60), max_size=8),
    st.lists(st.text(st.characters(blacklist_characters="\r\n"), max_size=60), max_size=8),
)
def test_quote_stripper_drops_quoted_history_under_new_text(
    new: list[str], quoted: list[str]
) -> None:
    new_text = "\n".join(new).strip()
    text = new_text + "\n\n" + "\n".join("> " + line for line in quoted)
    result = strip_quotes(text)
    if new_text and any(line.strip() for line in quoted):
        assert "\n> " not in "\n" + result


@FIXED
@given(hostile_text)
def test_address_headers_of_any_text_parse_or_refuse(value: str) -> None:
    raw = b"From: " + value.encode("utf-8", "surrogatepass") + b"\r\nSubject: x\r\n\r\nhi\r\n"
    parse_or_refuse(raw)


@FIXED
@given(names, local_parts, domains)
def test_valid_addresses_round_trip(name: str, local: str, domain: str) -> None:
    header = str(HeaderAddress(name, addr_spec=f"{local}@{domain}"))
    msg = EmailMessage()
    msg["From"] = header
    msg.set_content("hi")
    parsed = parse_email(msg.as_bytes())
    assert parsed.sender == Address(" ".join(name.split()), f"{local}@{domain.lower()}")


def reply(subject: str, name: str, to: Address, refs: list[str], in_reply_to: str | None) -> bytes:
    return build_reply(
        to=[to],
        from_=Address(name, "support@northwind-mobile.test"),
        subject=subject,
        body="Thank you for writing.",
        message_id="<reply-1@northwind-mobile.test>",
        in_reply_to=in_reply_to,
        references=refs,
    )


def smtp_can_carry(local: str, domain: str) -> bool:
    """True when SMTP can carry the address: printable before @ (beyond ASCII with SMTPUTF8),
    a domain IDNA can write in ASCII."""
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return (
        local.isprintable()
        and bool(ascii_domain)
        and ascii_domain.isprintable()
        and " " not in ascii_domain
    )


@FIXED
@given(hostile_text, hostile_text, hostile_text)
@example(subject="\x0c0", name="", address="0")  # a form feed is whitespace, not a refusal
@example(subject="", name="0", address="0000\x80\U00010000=?utf-8?b?")  # never an encoded word
@example(subject="", name="Aoife", address="aoife@m\u00fcller.test")  # IDNA, not refused
@example(subject="", name="Zo\u00eb", address="zo\u00eb@mail.test")  # SMTPUTF8, not refused
def test_composer_never_lets_a_value_add_a_header(subject: str, name: str, address: str) -> None:
    to = Address(name, address if "@" in address else address + "@mail.test")
    try:
        raw = reply(subject, name, to, [], None)
    except ValueError as refused:
        local, _, domain = to.address.rpartition("@")
        assert (
            any(c in v for v in (subject, name, to.address) for c in "\r\n")
            or not local
            or ("cannot send to" in str(refused) and not smtp_can_carry(local, domain))
        ), f"refused a sendable reply: {refused}"
        return
    headers = BytesParser(policy=default).parsebytes(raw, headersonly=True)
    assert {key.lower() for key in headers} <= HEADER_NAMES
    assert len(headers.get_all("To")) == 1 and len(headers.get_all("Subject")) == 1


@FIXED
@given(names.filter(lambda s: "\r" not in s and "\n" not in s))
def test_subject_round_trips_through_compose_and_parse(subject: str) -> None:
    raw = reply(subject, "Northwind", Address("", "aoife@mail.test"), [], None)
    assert parse_email(raw).subject == " ".join(subject.split())


@FIXED
@given(st.lists(message_ids, max_size=6, unique=True), message_ids)
def test_threading_headers_round_trip_through_compose_and_parse(
    references: list[str], parent: str
) -> None:
    raw = reply("Re: bill", "Northwind", Address("", "aoife@mail.test"), references, parent)
    parsed = parse_email(raw)
    assert parsed.in_reply_to == parent
    assert parsed.references == tuple(dict.fromkeys([*references, parent]))
    assert parsed.message_id == "<reply-1@northwind-mobile.test>"
