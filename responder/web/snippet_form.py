"""The snippet fields as the editor and the new-snippet page post them (text inputs)."""

from __future__ import annotations

from msgspec import Struct

from responder.supervisor.snippet_edit import SnippetFields, comma_list


class SnippetFieldsForm(Struct):
    title: str | None = None  # absent from a template's form
    intents: str = ""
    tags: str = ""
    language: str = "en"
    offered: str | None = None  # "no": switched off; absent: as it is (templates too)
    # What the editor's page showed as live ("yes"/"no"). A select left as it was shown keeps
    # the live state: a colleague's retire or restore since the page opened is not undone.
    offered_shown: str | None = None
    plans: str = ""
    tiers: str = ""
    valid_from: str = ""
    valid_until: str = ""

    def offered_changed(self) -> bool:
        """The select was set to other than the page showed (or a post without the page's
        state, an old form or a hand-made one, names the state it wants)."""
        return self.offered is not None and self.offered != self.offered_shown

    def snippet_fields(self) -> SnippetFields | None:
        if self.title is None:
            return None
        return SnippetFields(
            title=self.title.strip(),
            intents=comma_list(self.intents),
            tags=comma_list(self.tags),
            language=self.language.strip(),
            active=self.offered != "no",  # a new snippet without the field is offered
            plans=comma_list(self.plans),
            tiers=comma_list(self.tiers),
            valid_from=self.valid_from.strip(),
            valid_until=self.valid_until.strip(),
        )
