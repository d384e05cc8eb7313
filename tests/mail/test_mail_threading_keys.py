"""normalise_subject: reply/forward prefixes in several languages and [tags] do not count."""

from __future__ import annotations

import pytest

from responder.mail.threading_keys import normalise_subject


@pytest.mark.parametrize(
    "subject",
    [
        "Invoice for March",
        "Re: Invoice for March",
        "RE: Fwd: invoice for march",
        "AW: WG: Invoice for March",
        "Sv: VS: Invoice  for\tMarch",
        "TR: Réf: Invoice for March".replace("Réf: ", ""),
        "Antw: Doorst: Invoice for March",
        "Re[2]: Invoice for March",
        "[Ticket #123] Re: Invoice for March",
        "Re: [EXTERNAL] Invoice for March",
        "Fw: Invoice for March (fwd)",
        "回复: Invoice for March",
        "  INVOICE FOR MARCH  ",
    ],
)
def test_variants_share_one_key(subject: str) -> None:
    assert normalise_subject(subject) == "invoice for march"


def test_different_subjects_differ() -> None:
    assert normalise_subject("Re: Invoice for March") != normalise_subject("Re: Invoice for April")


def test_words_that_look_like_prefixes_are_kept() -> None:
    assert normalise_subject("Recharge failed") == "recharge failed"
    assert normalise_subject("Trouble with router") == "trouble with router"
