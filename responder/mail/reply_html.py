"""The HTML part of a reply: the plain text, laid out as a mail client would show it.

Every character of the text is escaped, so whatever an agent or a template typed (`<script>`,
`<a href=...>`) reads as text and never acts as markup. Only what this module writes is markup:
paragraphs, line breaks, quotes ("> ..." lines) and links to http(s) addresses and email
addresses, which linkify-it finds. The document is self-contained (inline styles, no images,
fonts or scripts) because mail clients block or strip everything else.
"""

from __future__ import annotations

import re
from html import escape

from linkify_it import LinkifyIt

# Only addresses written out in full: "www.example.com" or "setup.py" stay text.
_LINKS = LinkifyIt(options={"fuzzy_link": False, "fuzzy_ip": False, "fuzzy_email": True})
_LINKED_SCHEMAS = {"http:", "https:", "mailto:"}
# A language tag as BCP 47 writes it ("en", "de-AT", "zh-Hant"): anything else is left out.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_RIGHT_TO_LEFT = {"ar", "fa", "he", "ur", "yi", "ps", "sd", "ug"}
# Quotes nest this deep at most; deeper ">" stay text (a line of thousands of ">" in a
# customer's mail must not nest thousands of elements).
_MAX_QUOTE_DEPTH = 8

# On a wrapper, not on <body>: webmail shows the message inside its own page and drops <body>.
_TEXT_STYLE = (
    "max-width:40em;padding:4px;background:#ffffff;color:#1f2328;"
    "font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;overflow-wrap:break-word"
)
_P_STYLE = "margin:0 0 1em 0"
_QUOTE_STYLE = "margin:0 0 1em 0;padding:0 0 0 12px;border-left:3px solid #c4c9cf;color:#4b535c"
_LINK_STYLE = "color:#0b57d0;text-decoration:underline"


def reply_html(text: str, *, language: str = "", title: str = "") -> str:
    """A complete HTML document showing `text`: blank lines part paragraphs, single line
    breaks stay, lines starting with ">" are a quote. `language` sets lang (and dir), `title`
    names the document for screen readers."""
    lang = language.strip() if _LANGUAGE_TAG.fullmatch(language.strip()) else ""
    attributes = ""
    if lang:
        direction = "rtl" if lang.split("-")[0].lower() in _RIGHT_TO_LEFT else "ltr"
        attributes = f' lang="{lang}" dir="{direction}"'
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return (
        "<!DOCTYPE html>\n"
        f"<html{attributes}>\n"
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        "</head>\n"
        '<body style="margin:0;padding:12px;background:#ffffff">\n'
        f'<div style="{_TEXT_STYLE}">\n'
        f"{_blocks(lines)}"
        "</div>\n"
        "</body>\n"
        "</html>\n"
    )


def _blocks(lines: list[str], depth: int = 0) -> str:
    """Paragraphs and quotes, in order; a quote's own lines (one ">" taken off) nest."""
    out: list[str] = []
    paragraph: list[str] = []
    quote: list[str] = []

    def close_paragraph() -> None:
        if paragraph:
            inner = "<br>\n".join(_inline(line) for line in paragraph)
            out.append(f'<p style="{_P_STYLE}">{inner}</p>\n')
            paragraph.clear()

    def close_quote() -> None:
        if quote:
            inner = _blocks(quote, depth + 1)
            out.append(f'<blockquote style="{_QUOTE_STYLE}">\n{inner}</blockquote>\n')
            quote.clear()

    for line in lines:
        if line.startswith(">") and depth < _MAX_QUOTE_DEPTH:
            close_paragraph()
            rest = line[1:]
            quote.append(rest[1:] if rest.startswith(" ") else rest)
        elif not line.strip():
            close_paragraph()
            close_quote()
        else:
            close_quote()
            paragraph.append(line)
    close_paragraph()
    close_quote()
    return "".join(out)


def _inline(line: str) -> str:
    """One line, escaped, with its web and email addresses as links."""
    parts: list[str] = []
    done = 0
    for match in _LINKS.match(line) or ():
        if match.schema not in _LINKED_SCHEMAS:
            continue
        parts.append(escape(line[done : match.index]))
        parts.append(f'<a href="{escape(match.url)}" style="{_LINK_STYLE}">{escape(match.raw)}</a>')
        done = match.last_index
    parts.append(escape(line[done:]))
    return "".join(parts)
