"""The first name drafts and acknowledgements greet by, from the names mail programs send."""

import pytest

from responder.customers.names import first_name


@pytest.mark.parametrize(
    ("name", "greeted"),
    [
        ("Sean McCarthy", "Sean"),
        ("Murphy, Aoife", "Aoife"),  # Outlook and Exchange: surname first
        ("Murphy, Dr. Aoife", "Aoife"),
        ("Sean McCarthy, Jr.", "Sean"),
        ("Acme, Inc.", "Acme"),  # a company, not "Surname, First"
        ("Dr. Anna Schmidt", "Anna"),
        ("Herr Dr. Hans Weber", "Hans"),
        ("Mr Smith", ""),  # a title and a surname: "Hello," rather than "Hello Mr,"
        ("Frau Müller", ""),
        ("aoife.murphy@mail.test", ""),
        ("", ""),
    ],
)
def test_the_greeting_takes_the_first_name(name: str, greeted: str) -> None:
    assert first_name(name) == greeted
