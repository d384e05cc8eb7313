"""A reply template as a supervisor calls it: "Roaming — English", "Billing dispute, empathetic
tone — English", not its file name `intents/roaming.en.j2` (which pages show small, beside)."""

from __future__ import annotations

from responder.classify.language import language_name

#: What a layout is for, in the words of the new-template form.
LAYOUT_WORDS = "Greeting and sign-off (layout)"


def intent_words(intent: str) -> str:
    """`billing_dispute` -> `Billing dispute`."""
    words = intent.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def template_title(name: str, language: str, tone: str = "") -> str:
    subject = LAYOUT_WORDS if name == "layout" else intent_words(name.removeprefix("intents/"))
    if tone:
        subject = f"{subject}, {tone.replace('_', ' ')} tone"
    return f"{subject} — {language_name(language)}"
