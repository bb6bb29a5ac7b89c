"""Reading submitted HTML in time linear in its size: libxml2's parser (lxml) driving a reader's event handlers."""

from __future__ import annotations

from lxml import etree


class HtmlEvents:
    """A reader of start tags, end tags and text, as html.parser.HTMLParser subclasses have them."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """An element opens."""

    def handle_endtag(self, tag: str) -> None:
        """An element closes (void elements and implied ends too)."""

    def handle_data(self, data: str) -> None:
        """Text, with character references already resolved."""


class _Target:
    """lxml's parser target, forwarding to an HtmlEvents reader."""

    def __init__(self, reader: HtmlEvents):
        """Forward to `reader`."""
        self.reader = reader

    def start(self, tag, attrib) -> None:
        """An element opens; lxml names comments and processing instructions with a non-string tag."""
        if isinstance(tag, str):
            self.reader.handle_starttag(tag.lower(), [(str(k).lower(), v) for k, v in attrib.items()])

    def end(self, tag) -> None:
        """An element closes."""
        if isinstance(tag, str):
            self.reader.handle_endtag(tag.lower())

    def data(self, data: str) -> None:
        """Text."""
        self.reader.handle_data(data)

    def close(self) -> None:
        """The end of the document."""


def parse_html(reader: HtmlEvents, html: str) -> None:
    """Feed a whole document to `reader`: linear in the input, whatever its tags (unlike html.parser on 3.11, which
    goes quadratic on unfinished tags such as `<a<a<a…`), never fetching anything."""
    parser = etree.HTMLParser(target=_Target(reader), huge_tree=True, no_network=True, encoding="utf-8",
                              remove_comments=True, remove_pis=True)
    parser.feed(html.encode("utf-8", "surrogatepass"))
    parser.close()
