"""Whole-file checks before an import writes anything: the CLI and the web upload refuse the
same files with the same words, so a file is never half imported because its bytes go bad
part-way (an export saved in Latin-1 fails on its first accented name, which may be row 90,000).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from pathlib import Path

BOM = b"\xef\xbb\xbf"
CHUNK = 1024 * 1024


def encoding_problem(chunks: Iterable[bytes]) -> str:
    """ "not UTF-8 text (byte 0xd3 on line 2)" for the first byte that is not UTF-8, or "".
    Reads the chunks once, keeping only one in memory."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 1
    try:
        for chunk in chunks:
            decoder.decode(chunk)
            lines += chunk.count(b"\n")
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        # exc.object is the decoder's held-back bytes (never a newline) and the current chunk.
        line = lines + exc.object[: exc.start].count(b"\n")
        return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} on line {line})"
    return ""


def is_empty(start: bytes) -> bool:
    """No header row: nothing but blanks and a byte-order mark (Excel writes one)."""
    return not start.strip().removeprefix(BOM).strip()


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def file_problem(path: Path) -> str:
    """Why the file at `path` cannot be imported as it stands (empty, not UTF-8), or ""."""
    with path.open("rb") as handle:
        start = handle.read(CHUNK)
        if is_empty(start) and not handle.read(1):
            return "the file is empty (no header row)"
    return encoding_problem(file_chunks(path))
