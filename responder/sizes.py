"""A file's size as every page writes it: "409 bytes", "1 byte", "5.1 kB", "12 kB", "10 MB".

One way for the whole site (the review page once said "409 Bytes" where Needs attention said
"409 bytes"). Decimal units, as the byte limits in config.toml are written (10_000_000 reads
"10 MB"); one decimal place under ten units, so a small file's size still tells files apart.
"""

from __future__ import annotations

UNITS = ("kB", "MB", "GB", "TB")
STEP = 1000


def readable_size(size: int | None) -> str:
    """`None` (size not known) reads as nothing."""
    if size is None:
        return ""
    if size < STEP:
        return f"{size:,} byte{'' if size == 1 else 's'}"
    value, unit = size / STEP, UNITS[0]
    for larger in UNITS[1:]:
        if round(value) < STEP:  # 999,999 bytes reads "1 MB", not "1,000 kB"
            break
        value, unit = value / STEP, larger
    shown = f"{value:.1f}" if value < 10 else f"{value:,.0f}"
    return f"{shown.removesuffix('.0')} {unit}"
