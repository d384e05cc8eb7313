"""Keys for finding the conversation a message belongs to when its Message-IDs do not say.

A normalised subject (no reply/forward prefixes in any common language, no [tags], case and
spacing folded) is used together with the same customer and a time window, never alone.
"""

from __future__ import annotations

import re

# Reply and forward prefixes: English, German (AW, WG), Nordic (SV, VS, VB, VL, Fwd), French (TR),
# Dutch (Antw, Doorst), Italian (R, RIF, I), Spanish/Portuguese (RE, RV, ENC, RES), Polish (Odp,
# PD), Turkish (YNT, ILT), Greek (ΑΠ, ΣΧΕΤ, ΠΡΘ), Chinese (回复, 转发) and counters like Re[2].
_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|aw|wg|sv|vs|vb|vl|tr|antw|doorst|r|rif|i|rv|enc|res|odp|pd|ynt|ilt|"
    r"απ|σχετ|πρθ|回复|回覆|答复|转发|轉寄)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_TAG = re.compile(r"^\s*\[[^\]]*\]\s*")
_TRAILING = re.compile(r"\s*(?:\((?:fwd|fw)\)|\[[^\]]*\])\s*$", re.IGNORECASE)


def normalise_subject(subject: str) -> str:
    """Subject without reply/forward prefixes and [tags], whitespace collapsed, casefolded."""
    text = " ".join(subject.split())
    previous = None
    while text != previous:
        previous = text
        text = _PREFIX.sub("", text)
        text = _TAG.sub("", text)
        text = _TRAILING.sub("", text)
    return " ".join(text.split()).casefold()
