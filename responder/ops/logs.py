"""Log set-up from config: text or JSON lines, with contact details redacted before any output.

Log lines say what happened to which message (its id and state), never its body: the
redaction filter is a second line of defence for addresses and numbers that reach a log
through an exception text or a library.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from responder.config import LoggingSettings

EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# International (+353 87 ...), national with a leading 0 (087 123 4567, 0871234567) or grouped
# (555-123-4567). A bare run of digits without 0 or + is left alone: that is a message id.
PHONE = re.compile(
    r"(?<![\w.+])(?:\+\d[\d\s().-]{5,}\d|\(?0\d[\d\s().-]{5,}\d"
    r"|\d{2,4}[\s.-]\d{3,4}[\s.-]\d{3,4})(?![\w])"
)
#: Protocol traces log whole messages at DEBUG (bodies, and addresses cut by line folding where
#: no redaction can find them): they never go below INFO, whatever the configured level.
PROTOCOL_LOGGERS = ("imapclient", "aiosmtplib", "httpx", "httpcore")
#: Attributes every LogRecord has; anything else came from `extra=` and goes into JSON lines.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


def redact(text: str) -> str:
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


class RedactContacts(logging.Filter):
    """Replaces email addresses and phone numbers in the message and any traceback."""

    _plain = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, event, and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(
    settings: LoggingSettings, level: str | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Replace the root handlers: one stream (stderr) in the configured format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if settings.redact_contacts:
        handler.addFilter(RedactContacts())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level or settings.level)
    for name in PROTOCOL_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    return handler
