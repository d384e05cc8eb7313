"""Separate the new text of a reply from quoted history and signatures.

Drafting and classification must see what the customer wrote now, not the thread below it.
The rules are structural so that they hold in any language: an attribution line (ending in
':' with a date, time or address) before quoted text, a block of "Label: value" header lines
carrying a send time, a dashed separator line, runs of '>' lines, the "-- " signature
delimiter and mobile "Sent from my ..." lines (their localised forms come from
mail-parser-reply's tables). mail-parser-reply then runs on what is left, as a second opinion
for client formats the structure does not reveal.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import islice

from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

_LIBRARY_LANGUAGES = [lang for lang in MAIL_LANGUAGES if lang != "david"]
# Above this size a body is not analysed line by line (bounded time for huge messages).
_MAX_CHARS = 200_000
_ATTRIBUTION_MAX_LINES = 5
_ATTRIBUTION_MAX_CHARS = 320
_HEADER_BLOCK_MAX_LINES = 12
# What the mail-parser-reply pass looks at: bounded, its regexes backtrack on long input.
_LIBRARY_MAX_LINES = 400
_LIBRARY_MAX_LINE = 200

_EMAIL = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")
_TIME = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?![\d:])")
_DATE = re.compile(
    r"(?<!\d)(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"  # 02.04.2012, 2011/4/7, 10/19/2017
    r"|\d{1,2}\.?[\s./-]+[^\W\d_]{3,12}\.?[\s,./-]+\d{4}"  # 17-feb.-2015, 23 janv. 2015
    r"|[^\W\d_]{3,12}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"  # Apr 4, 2012
    r"|[^\W\d_]{3,12}-\d{1,2}-\d{2,4})(?!\d)"  # March-09-12
)
_HEADER_LINE = re.compile(r"^\s*\*?([^\W\d_][\w'.-]*(?: [\w'.-]+){0,2})\*?\s*:(?:\s|$)")
_SEPARATOR = re.compile(r"^\s*[-_=*]{2,}\s*([^-_=*\s].{0,80}?)\s*[-_=*]{2,}\s*$")
_RULE_LINE = re.compile(r"^\s*[-_=*]{8,}\s*$")
_SIGNATURE_DELIMITER = re.compile(r"^--\s*$")
_FORWARD = re.compile(
    r"forward|weitergeleitet|transf[ée]r|reenviad|inoltrat|doorgestuurd|vidarebefordra|"
    r"videresend|przekazan|пересыл|转发|轉寄|転送",
    re.IGNORECASE,
)
_SHORT_LEADING_WORD = re.compile(r"^[^\W\d_][^\W\d_]{0,3},?$")


@lru_cache(maxsize=1)
def _mobile_signature() -> re.Pattern[str]:
    """'Sent from my ...' in the languages mail-parser-reply knows, plus 'Sent with'."""
    forms = [r"Sent from\b", r"Sent with\b", r"Get Outlook for\b"]
    forms += [MAIL_LANGUAGES[lang].get("sent_from") or "" for lang in _LIBRARY_LANGUAGES]
    joined = "|".join(f"(?:{form})" for form in forms if form)
    return re.compile(rf"^\s*(?:{joined})", re.IGNORECASE)


def strip_quotes(text: str) -> str:
    """Return the new text; the whole text (stripped) when stripping leaves nothing."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = normalised[:_MAX_CHARS].split("\n")
    kept = _strip_lines(lines)
    result = _tidy(kept)
    if result:
        result = _library_pass(result)
    return result or normalised.strip()


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _has_date(text: str) -> bool:
    return bool(_DATE.search(text))


def _strip_lines(lines: list[str]) -> list[str]:
    """Walk the lines, dropping quoted history; stop at the first point where history starts."""
    kept: list[str] = []
    i = 0
    skip_header_block_at = -1
    last_content = max((n for n, ln in enumerate(lines) if not _is_blank(ln)), default=-1)
    while i < len(lines):
        line = lines[i]
        if _SIGNATURE_DELIMITER.match(line) or _is_mobile_signature(lines, i):
            break
        separator = _SEPARATOR.match(line)
        if separator:
            inner = separator.group(1)
            if _is_forward_separator(line):
                kept.append(line)
                skip_header_block_at = _next_non_blank(lines, i + 1)
                i += 1
                continue
            if len(inner.split()) <= 5 or _EMAIL.search(inner) or _has_date(inner):
                break
        if i != skip_header_block_at and _header_block_starts(lines, i):
            break
        attribution = _attribution(lines, i)
        if attribution is not None:
            end, needs_quote = attribution
            after = _next_non_blank(lines, end + 1)
            quoted_next = after < len(lines) and _is_quoted(lines[after])
            if quoted_next:
                # Bottom or interleaved posting: drop attribution and quote, keep what follows.
                kept.extend(_shared_line_prefix(line, kept))
                i = _end_of_quote_run(lines, after)
                continue
            if not needs_quote and after < len(lines):
                kept.extend(_shared_line_prefix(line, kept))
                break
        if _is_quoted(line):
            end = _end_of_quote_run(lines, i)
            if _quote_run_is_history(lines, end, kept, last_content):
                _drop_bare_attribution(kept)
            else:
                kept.extend(lines[i:end])  # quoted between new lines: the customer's own
            i = end
            continue
        kept.append(line)
        i += 1
    return kept


def _only_bare_attribution(kept: list[str]) -> bool:
    """True when all that was kept is one short line ending in ':' ('Name wrote:')."""
    content = list(islice((k for k in kept if not _is_blank(k)), 2))
    return len(content) == 1 and content[0].rstrip().endswith(":") and len(content[0].split()) <= 12


def _drop_bare_attribution(kept: list[str]) -> None:
    """An attribution without date or address is dropped with the leading quote it introduces."""
    if _only_bare_attribution(kept):
        kept.clear()


def _next_non_blank(lines: list[str], start: int) -> int:
    i = start
    while i < len(lines) and _is_blank(lines[i]):
        i += 1
    return i


def _end_of_quote_run(lines: list[str], start: int) -> int:
    """Index after a run of quoted lines (blank lines inside the run belong to it)."""
    i = start
    last = start
    while i < len(lines) and (_is_quoted(lines[i]) or _is_blank(lines[i])):
        if _is_quoted(lines[i]):
            last = i
        i += 1
    return last + 1


def _quote_run_is_history(lines: list[str], end: int, kept: list[str], last_content: int) -> bool:
    """A '>' run (ending before line `end`) is history at the start or end of the text."""
    if not any(not _is_blank(k) for k in kept) or _only_bare_attribution(kept):
        return True
    if end > last_content:
        return True
    following = _next_non_blank(lines, end)
    return _is_signature_start(lines, following)


def _is_signature_start(lines: list[str], i: int) -> bool:
    return bool(_SIGNATURE_DELIMITER.match(lines[i])) or _is_mobile_signature(lines, i)


def _is_mobile_signature(lines: list[str], i: int) -> bool:
    """A short 'Sent from my ...' line near the end of the new text."""
    line = lines[i]
    if len(line.split()) > 10 or not _mobile_signature().match(line):
        return False
    following = [ln for ln in lines[i + 1 : i + 4] if ln.strip()]
    return len(following) <= 2 or _attribution(lines, _next_non_blank(lines, i + 1)) is not None


def _header_block_starts(lines: list[str], i: int) -> bool:
    """2+ 'Label: value' lines with a time and an address (or 4+ lines with a time).

    Quoted headers always carry the send time; a customer's own "Name: / Phone: / Date of
    birth:" lines usually do not, which keeps such details in the new text.
    """
    if not _HEADER_LINE.match(lines[i]) or _is_quoted(lines[i]):
        return False
    block = []
    j = i
    while j < len(lines) and j - i < _HEADER_BLOCK_MAX_LINES and _HEADER_LINE.match(lines[j]):
        block.append(lines[j])
        j += 1
    if len(block) < 2:
        return False
    text = " ".join(block)
    has_time = bool(_TIME.search(text))
    return has_time and (bool(_EMAIL.search(text)) or len(block) >= 4)


def _attribution(lines: list[str], i: int) -> tuple[int, bool] | None:
    """(last line index, needs a following quote) when an attribution line starts at line i."""
    if i >= len(lines) or _is_blank(lines[i]) or _is_quoted(lines[i]):
        return None
    first = lines[i]
    if not any(_features(first)):
        return None
    window = ""
    has_email = has_date = has_time = False
    for end in range(i, min(i + _ATTRIBUTION_MAX_LINES, len(lines))):
        window = f"{window} {lines[end].strip()}".strip()
        if len(window) > _ATTRIBUTION_MAX_CHARS:
            return None
        line_email, line_date, line_time = _features(lines[end])
        has_email, has_date, has_time = (
            has_email or line_email,
            has_date or line_date,
            has_time or line_time,
        )
        if window.endswith(":"):
            if has_email and (has_date or has_time):
                return end, False
            if has_email or has_date or has_time:
                return end, True
        if end == i and has_email and (has_date or has_time) and _attribution_ends_line(first):
            return end, True
    return None


@lru_cache(maxsize=4096)
def _features(line: str) -> tuple[bool, bool, bool]:
    """(has address, has date, has time) for one line; cached as windows overlap."""
    return bool(_EMAIL.search(line)), _has_date(line), bool(_TIME.search(line))


def _attribution_ends_line(line: str) -> bool:
    """A 'date name <address>' line without a colon, as some clients write it."""
    return line.rstrip().endswith(">")


def _shared_line_prefix(line: str, kept: list[str]) -> list[str]:
    """New text written on the same line as the attribution, when nothing else was kept."""
    if any(not _is_blank(k) for k in kept):
        return []
    starts = [m.start() for m in (_DATE.search(line), _TIME.search(line), _EMAIL.search(line)) if m]
    words = line[: min(starts)].split() if starts else []
    while words and _SHORT_LEADING_WORD.match(words[-1]):
        words.pop()
    return [" ".join(words)] if words else []


def _tidy(lines: list[str]) -> str:
    """Trailing rules and blank runs removed; the text stripped."""
    while lines and (_is_blank(lines[-1]) or _RULE_LINE.match(lines[-1])):
        lines.pop()
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _library_pass(text: str) -> str:
    """mail-parser-reply as a second opinion on what the structural rules kept.

    The library knows localised attribution and header labels; a cut it proposes is taken only
    when the structure agrees: one attribution line ending in ':' (or with an address and a
    time), or a header block with a send time and an address (or 3+ lines), so that a customer's
    own "Data: 5GB" or "Date: 12/03/2024" lines are never mistaken for quoted headers.
    Forwarded content is what the customer wants us to read: the library never sees it.
    """
    lines = text.split("\n")
    split = next((i for i, ln in enumerate(lines) if _is_forward_separator(ln)), len(lines))
    head = [_library_candidate(line) for line in lines[: min(split, _LIBRARY_MAX_LINES)]]
    cut = _library_cut("\n".join(head))
    if cut is None:
        return text
    return _tidy([*lines[:cut], "", *lines[split:]])


def _library_candidate(line: str) -> str:
    """The line as the library should see it; blank when it cannot be part of a header.

    The library's patterns backtrack badly on long lines, so only short lines with a colon or
    a dash run reach it; blanking the others keeps line numbers and bounds the time.
    """
    stripped = line.strip()
    if len(stripped) > _LIBRARY_MAX_LINE or not (
        ":" in stripped or "：" in stripped or "---" in stripped
    ):
        return ""
    return stripped


def _library_cut(head: str) -> int | None:
    """Line index where the library sees quoted history begin, confirmed by structure."""
    try:
        pattern = _library_header_regex()
        matches = list(pattern.finditer(head))
    except Exception:  # a third-party failure must never lose the message
        return None
    for match in matches:
        found = match.group(0)
        start = match.start() + len(found) - len(found.lstrip("\n"))
        line_no = head.count("\n", 0, start)
        if not head[:start].strip():
            continue
        block = found.strip()
        if "\n" in block:
            block_lines = block.split("\n")
            confirmed = bool(_TIME.search(block)) and (
                bool(_EMAIL.search(block)) or len(block_lines) >= 3
            )
        else:
            confirmed = block.endswith(":") or bool(_EMAIL.search(block) and _TIME.search(block))
        if confirmed:
            return line_no
    return None


@lru_cache(maxsize=1)
def _library_header_regex() -> re.Pattern[str]:
    """The library's combined attribution/header pattern for all the languages it knows."""
    return EmailMessage(text="", languages=list(_LIBRARY_LANGUAGES)).HEADER_REGEX


def _is_forward_separator(line: str) -> bool:
    separator = _SEPARATOR.match(line)
    return bool(separator and _FORWARD.search(separator.group(1)))
