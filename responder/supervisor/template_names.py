"""A reply template as a supervisor calls it: "Service outage — English", "Billing dispute,
empathetic tone — English", not its file name `intents/outage.en.j2` (which pages show small,
beside). The intent reads as its label's title in the intent classifier's definition, as it
does everywhere else on the pages; an intent without one reads as its code in words."""

from __future__ import annotations

from collections.abc import Callable

from responder.classify.language import language_name
from responder.classify.titles import code_in_words

#: What a layout is for, in the words of the new-template form.
LAYOUT_WORDS = "Greeting and sign-off (layout)"

#: An intent code in words: the app's `LabelTitles` (titles from the definitions), or, with
#: no definitions at hand, the code in words.
IntentWords = Callable[[str], str]


def template_subject(name: str, titles: IntentWords = code_in_words) -> str:
    """What a template is for, without its language: `intents/outage` -> "Service outage"."""
    return LAYOUT_WORDS if name == "layout" else titles(name.removeprefix("intents/"))


def template_title(
    name: str, language: str, tone: str = "", titles: IntentWords = code_in_words
) -> str:
    subject = template_subject(name, titles)
    if tone:
        subject = f"{subject}, {tone.replace('_', ' ')} tone"
    return f"{subject} — {language_name(language)}"


def title_of_key(key: str, titles: IntentWords = code_in_words) -> str:
    """The title of the template a loader name names: `intents/billing_dispute.en.empathetic.j2`
    reads "Billing dispute, empathetic tone — English" (what a draft's grounding records)."""
    name, _, rest = key.removesuffix(".j2").partition(".")
    language, _, tone = rest.partition(".")
    return template_title(name, language or "en", tone, titles)
