"""Article bodies: Markdown rendered by markdown-it-py, then sanitised by nh3.

Raw HTML in the source is not rendered (markdown-it's ``html`` option is off) and the
output passes an allow-list, so no HTML written by a user reaches a page.
"""

from __future__ import annotations

import re
from html import unescape

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable("table")

ALLOWED_TAGS = {"p", "br", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "a", "code",
                "pre", "blockquote", "hr", "table", "thead", "tbody", "tr", "th", "td"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"scope"}}


def render(source: str) -> Markup:
    html = _markdown.render(source or "")
    # The page's only h1 is the article title; a "#" heading in the body becomes h2.
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                      url_schemes={"http", "https", "mailto", "tel"},
                      link_rel="noopener noreferrer nofollow")
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above  # nosec B704


def plain_text(source: str) -> str:
    """The words of an article without Markdown syntax (for snippets and the index)."""
    html = _markdown.render(source or "")
    return " ".join(unescape(nh3.clean(html, tags=set())).split())


# A web address in plain text (a comment): http(s) only, up to the first space or
# bracket; a full stop or comma right after it ends the sentence, not the address.
_LINK = re.compile(r"https?://[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]")


def linkify(text: str) -> Markup:
    """Plain text with its web addresses made into links, everything else escaped. The
    links are marked as user content (rel="nofollow ugc noopener")."""
    pieces, position = [], 0
    for match in _LINK.finditer(text):
        address = match.group(0)
        pieces += [escape(text[position:match.start()]),
                   Markup('<a href="{0}" rel="nofollow ugc noopener">{0}</a>').format(address)]
        position = match.end()
    pieces.append(escape(text[position:]))
    return Markup("").join(pieces)
