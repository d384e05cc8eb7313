"""An HTML part read as a browser would: its elements and its visible words."""

from __future__ import annotations

from html.parser import HTMLParser


class HtmlDocument(HTMLParser):
    """What a browser would build: the elements (with attributes) and the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in_title = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if not self._in_title:
            self.text.append(data)

    def tags(self) -> list[str]:
        return [tag for tag, _ in self.elements]

    def words(self) -> list[str]:
        return "".join(self.text).split()
