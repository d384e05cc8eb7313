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


def test_with_its_neighbours_gone_it_goes_above_a_sign_off_the_person_wrote() -> None:
    """Nothing of the fresh draft is left to place it by: a sign-off or signature the person
    kept, or one of their own, still marks where the letter ends."""
    own_words = "Dear Ms Byrne,\n\nYour line works again.\n\nBest wishes,\nSean\n"
    assert add_paragraph(own_words, FRESH, PASS) == (
        f"Dear Ms Byrne,\n\nYour line works again.\n\n{PASS}\n\nBest wishes,\nSean\n"
    )
    configured = "Dear Ms Byrne,\n\nYour line works again.\n\nSean\nNorthwind Care\n"
    assert add_paragraph(configured, FRESH, PASS, sign_offs=["Northwind Care"]) == (
        f"Dear Ms Byrne,\n\nYour line works again.\n\n{PASS}\n\nSean\nNorthwind Care\n"
    )
    in_one = "Dear Ms Byrne,\n\nYour line works again.\nThanks,\nSean\n"
    assert add_paragraph(in_one, FRESH, PASS) == (
        f"Dear Ms Byrne,\n\nYour line works again.\n\n{PASS}\n\nThanks,\nSean\n"
    )
    fresh = FRESH.replace("Kind regards,\nNW", "Kind regards,\nNorthwind Care")
    templates_own = "Dear Ms Byrne,\n\nYour line works again.\n\nTalk soon,\nNorthwind Care\n"
    assert add_paragraph(templates_own, fresh, PASS) == (
        f"Dear Ms Byrne,\n\nYour line works again.\n\n{PASS}\n\nTalk soon,\nNorthwind Care\n"
    )


def test_a_paragraph_is_held_only_as_a_whole_with_spacing_and_case_aside() -> None:
    offer = "The World Roam Pass costs EUR 8.\nAdd it in the app before you go."
    rewrapped = "Hi,\n\nthe world roam pass costs EUR 8. Add it\nin the app   before you go.\n"
    assert holds(rewrapped, offer)
    kept_first_line = "Hi,\n\nThe World Roam Pass costs EUR 8.\nI added it for you already.\n"
    assert not holds(kept_first_line, offer)
    other = "The World Roam Pass costs EUR 8.\nIt is not sold for cruises."
    assert not holds(f"Hi,\n\n{other}\n", offer) and not holds(f"Hi,\n\n{offer}\n", other)
