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


def title_of_key(key: str) -> str:
    """The title of the template a loader name names: `intents/billing_dispute.en.empathetic.j2`
    reads "Billing dispute, empathetic tone — English" (what a draft's grounding records)."""
    name, _, rest = key.removesuffix(".j2").partition(".")
    language, _, tone = rest.partition(".")
    return template_title(name, language or "en", tone)
