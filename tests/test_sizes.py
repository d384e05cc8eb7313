"""Sizes read one way on every page (Needs attention, the review page, attachments)."""

from __future__ import annotations

import pytest

from responder.sizes import readable_size


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (None, ""),
        (1, "1 byte"),
        (409, "409 bytes"),
        (5052, "5.1 kB"),
        (12_345, "12 kB"),
        (999_999, "1 MB"),
        (10_000_000, "10 MB"),
        (1_500_000_000, "1.5 GB"),
    ],
)
def test_a_size_reads_as_people_say_it(size: int | None, words: str) -> None:
    assert readable_size(size) == words
