"""A note's body as plain text, from the forms SPEC 4.2 reads: ``text/plain`` in any charset,
``text/html`` and XHTML (tags stripped, block elements end sentences), ``text/rtf`` (control
words stripped). Anything else, or a body that cannot be decoded, is an ``Unreadable`` naming
why: the note is named as unreadable and the run goes on."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from html.parser import HTMLParser

MAX_NOTE_BYTES = 50 * 1024 * 1024  # a note larger than this is not read (SPEC 7: no crash)
MAX_HTML_DEPTH = 256  # elements nested deeper than this: an HTML bomb, not a note
_BLOCKS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "table", "section", "article",
    "header", "footer", "blockquote", "pre", "dd", "dt", "dl", "hr", "caption", "tbody",
    "thead", "title", "body",
})
# Elements whose end tag HTML lets a writer leave out: not counted in the nesting depth
_OPTIONAL_END = frozenset({"p", "li", "td", "th", "tr", "dt", "dd", "option", "thead", "tbody",
                           "colgroup", "caption"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SKIPPED = frozenset({"script", "style", "head"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr",
                   "source", "track", "embed", "param"})
_SPACES = re.compile(r"[ \t\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(\n\s*)+")


class Unreadable(Exception):
    """A note body the adapter cannot read; the message says why, in a user's words."""


def media_type(content_type: str) -> tuple[str, str | None]:
    """(``type/subtype`` lower-cased, charset or None) of a ``contentType``."""
    head, *params = content_type.split(";")
    charset = None
    for param in params:
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip('"\'') or None
    return head.strip().lower(), charset


def readable_type(content_type: str) -> bool:
    kind, _ = media_type(content_type)
    return kind in ("text/plain", "text/html", "application/xhtml+xml", "text/rtf",
                    "application/rtf", "text/markdown", "")


def decode_base64(data: str) -> bytes:
    """``Attachment.data`` / ``Binary.data``: base64, refused past the size cap before it is
    decoded."""
    if len(data) * 3 // 4 > MAX_NOTE_BYTES:
        raise Unreadable(f"is larger than {MAX_NOTE_BYTES // (1024 * 1024)} MB: not read")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        try:  # line breaks inside base64 are common; anything else is not base64
            return base64.b64decode("".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            raise Unreadable("data is not valid base64") from None


def body_text(body: bytes, content_type: str) -> str:
    """The text of a note body of ``content_type``; ``Unreadable`` when it cannot be read."""
    if len(body) > MAX_NOTE_BYTES:
        raise Unreadable(f"is larger than {MAX_NOTE_BYTES // (1024 * 1024)} MB: not read")
    kind, charset = media_type(content_type)
    if kind in ("text/rtf", "application/rtf"):
        return rtf_text(_decoded(body, charset or "cp1252", content_type))
    if kind in ("text/html", "application/xhtml+xml"):
        return html_text(_decoded(body, charset or _html_charset(body), content_type))
    if kind in ("text/plain", "text/markdown", ""):
        return _decoded(body, charset or "utf-8", content_type)
    raise Unreadable(f"is {kind}, which is not read (only text, HTML and RTF notes are)")


def _decoded(body: bytes, charset: str, content_type: str) -> str:
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        raise Unreadable(f"names an unknown charset {charset[:40]!r}") from None
    try:
        text = body.decode(codec.name)
    except UnicodeDecodeError:
        raise Unreadable(f"is not valid {codec.name} text ({content_type[:60]})") from None
    return text.lstrip("\ufeff")


def _html_charset(body: bytes) -> str:
    found = re.search(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_\-]+)""", body[:2048], re.I)
    return found.group(1).decode() if found else "utf-8"


class _HtmlText(HTMLParser):
    """Text of an HTML or XHTML body: block elements end a line, headings stand on a line of
    their own as ``# Heading`` (as a plain-text note writes them), script and style dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.depth = 0
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID and tag not in _OPTIONAL_END:
            self.depth += 1
            if self.depth > MAX_HTML_DEPTH:
                raise Unreadable(f"HTML nests elements deeper than {MAX_HTML_DEPTH}: not read")
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in _HEADINGS:
            self.parts.append("\n\n# ")
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and tag not in _OPTIONAL_END:
            self.depth = max(0, self.depth - 1)
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _HEADINGS or tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(_SPACES.sub(" ", data.replace("\n", " ")))


def html_text(markup: str) -> str:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    return _tidy("".join(parser.parts))


def rtf_text(rtf: str) -> str:
    from striprtf.striprtf import rtf_to_text

    if rtf.count("{") > MAX_HTML_DEPTH * 64:
        raise Unreadable("RTF holds too many groups: not read")
    try:
        return _tidy(rtf_to_text(rtf, errors="replace"))
    except (ValueError, IndexError, RecursionError) as exc:
        raise Unreadable(f"RTF cannot be read ({type(exc).__name__})") from None


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
