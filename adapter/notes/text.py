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
# The text of a note read (about 50 pages, many times any clinical note): reading costs about
# 15 µs a character where mentions are dense, so a longer note is named unreadable instead
MAX_NOTE_CHARS = 200_000
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
# Python's own codecs, which no note is written in (escapes, domain names, a codec that fails)
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "undefined", "idna",
                           "punycode"})
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
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
            raise Unreadable("is not valid base64") from None


def body_text(body: bytes, content_type: str) -> str:
    """The text of a note body of ``content_type``; ``Unreadable`` when it cannot be read."""
    if len(body) > MAX_NOTE_BYTES:
        raise Unreadable(f"is larger than {MAX_NOTE_BYTES // (1024 * 1024)} MB: not read")
    if not body:
        raise Unreadable("is empty: it holds no text")
    kind, charset = media_type(content_type)
    charset = charset or _bom_charset(body)
    if kind in ("text/rtf", "application/rtf"):
        text = rtf_text(_decoded(body, charset or "cp1252"))
    elif kind in ("text/html", "application/xhtml+xml"):
        text = html_text(_decoded(body, charset or _html_charset(body)))
    elif kind in ("text/plain", "text/markdown", ""):
        text = _decoded(body, charset or "utf-8")
    else:
        raise Unreadable(f"is {kind}, which is not read (only text, HTML and RTF notes are)")
    return within_limit(text)


def within_limit(text: str) -> str:
    """``text``, unless it is longer than the NLP reads."""
    if len(text) > MAX_NOTE_CHARS:
        raise Unreadable(f"is {len(text):,} characters long: a note over {MAX_NOTE_CHARS:,} "
                         "characters is not read")
    return text


def _bom_charset(body: bytes) -> str | None:
    """The charset a byte order mark at the start of ``body`` says (UTF-32 tried first: its
    little-endian mark starts with UTF-16's)."""
    for bom, charset in _BOMS:
        if body.startswith(bom):
            return charset
    return None


def _decoded(body: bytes, charset: str) -> str:
    try:
        codec = codecs.lookup(charset)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        raise Unreadable(f"names an unknown charset {charset[:40]!r}") from None
    if not codec._is_text_encoding or codec.name in _NOT_CHARSETS:  # base64, hex, rot13...
        raise Unreadable(f"names {charset[:40]!r}, which is no text charset")
    if codec.name.startswith("utf-16") and not body.startswith(
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and b"\0" not in body:
        # UTF-16 writes a NUL byte for every space, line end, digit and Latin letter:
        # single-byte text labelled UTF-16 decodes into CJK noise
        raise Unreadable(f"is declared {codec.name} but holds no NUL byte, which UTF-16 "
                         "text of any space, digit or Latin letter does: it is not UTF-16")
    try:
        text = body.decode(codec.name)
    except ValueError:  # UnicodeDecodeError, and UnicodeError from codecs that fail anyway
        raise Unreadable(f"is not valid {codec.name} text") from None
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
                raise Unreadable(f"nests HTML elements deeper than {MAX_HTML_DEPTH}: not read")
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
        raise Unreadable("holds too many RTF groups: not read")
    try:
        return _tidy(rtf_to_text(_rtf_tamed(rtf), errors="replace"))
    except (ValueError, IndexError, RecursionError, TypeError, OverflowError, LookupError) as exc:
        # \uc with no number (TypeError), \u9999999999 (OverflowError), a bad \bin...
        raise Unreadable(f"is RTF that cannot be read ({type(exc).__name__})") from None


_RTF_FIELD_INSTRUCTION = re.compile(r"\{\s*\\\*\s*\\fldinst", re.I)
_RTF_FONT_TABLE = re.compile(r"\{[^{}]*\\fonttbl")
_RTF_FONT = re.compile(r"\\f(\d+)")
_RTF_CHARSET = re.compile(r"\\fcharset(\d+)")
_RTF_GROUP_MARK = re.compile(r"\\[\\{}]|[{}]")


def _rtf_tamed(rtf: str) -> str:
    """The RTF with what striprtf reads in more than linear time rewritten, in linear time:
    field instructions (``{\\*\\fldinst ...}``, never shown; its hyperlink pattern is cubic
    on a note of unclosed ones) dropped, and the font table rebuilt as one
    ``{\\fN\\fcharsetC f;}`` an entry (its pattern is quadratic on a long or unclosed
    table); a table whose group never closes holds the rest of the note, which striprtf does
    not show either."""
    parts: list[str] = []
    at = 0
    for found in _RTF_FIELD_INSTRUCTION.finditer(rtf):
        if found.start() < at:
            continue
        parts.append(rtf[at:found.start()])
        at = _rtf_group_end(rtf, found.start())
    parts.append(rtf[at:])
    rtf = "".join(parts)
    table = _RTF_FONT_TABLE.search(rtf)
    if table is None:
        return rtf
    end = _rtf_group_end(rtf, table.start())
    fonts = list(_RTF_FONT.finditer(rtf, table.end(), end))
    entries = []
    for n, font in enumerate(fonts):
        upto = fonts[n + 1].start() if n + 1 < len(fonts) else end
        charset = _RTF_CHARSET.search(rtf, font.end(), upto)
        if charset is not None:
            entries.append(f"{{\\f{font.group(1)}\\fcharset{charset.group(1)} f;}}")
    return f"{rtf[:table.start()]}{{\\fonttbl{''.join(entries)}}}{rtf[end:]}"


def _rtf_group_end(rtf: str, start: int) -> int:
    """Where the group opened at ``start`` ends (past its ``}``), or the end of the text."""
    depth = 0
    for mark in _RTF_GROUP_MARK.finditer(rtf, start):
        brace = mark.group()
        if brace == "{":
            depth += 1
        elif brace == "}":
            depth -= 1
            if depth == 0:
                return mark.end()
    return len(rtf)


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
