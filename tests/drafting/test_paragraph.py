"""An action's paragraph goes into a person's edited draft without touching their words."""

from __future__ import annotations

from responder.drafting.paragraph import add_paragraph, holds

FRESH = (
    "Hi Aoife,\n\nThanks for writing.\n\nThe World Roam Pass costs EUR 8.\n\nKind regards,\nNW\n"
)
PASS = "The World Roam Pass costs EUR 8."


def test_the_persons_spacing_and_words_stay_as_typed() -> None:
    edited = "Hi Aoife,\n\nI checked it myself.  \nAll fine.\n\n\nKind regards,\nNW\n"
    assert add_paragraph(edited, FRESH, PASS) == (
        "Hi Aoife,\n\nI checked it myself.  \nAll fine.\n\n\n" + PASS + "\n\nKind regards,\nNW\n"
    )


def test_with_nothing_of_the_fresh_draft_left_it_goes_at_the_end() -> None:
    assert add_paragraph("Dear Aoife, all sorted.", FRESH, PASS) == (
        f"Dear Aoife, all sorted.\n\n{PASS}\n"
    )
    assert holds(f"Dear Aoife.\n\n{PASS}\n", PASS) and not holds("Dear Aoife.\n", PASS)
