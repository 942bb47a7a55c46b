"""Read article files into raw records, one parser per format: text, Markdown, HTML, JSON, JSON Lines.

A parser yields one `RawArticle` per article, or a `SkippedFile` naming the file (or the record:
`file:line` in JSON Lines, `file#N` in a JSON array) and the reason. A bad record never stops the
records after it. JSON Lines files are streamed line by line; a JSON array is decoded once and
its items are parsed one at a time, so a large file is never held as several copies.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa.config import Config
from qa.documents import SkippedFile, record_source
from qa.ingest.clean import strip_controls

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
JSON_SUFFIXES = {".json"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES
SUPPORTED_NAMES = ".txt, .md, .html, .json or .jsonl"

# The first key present wins; other datasets name the article body "content", "body", "story", ...
_TEXT_KEYS = ("text", "content", "body", "article", "story_text", "story", "maintext")
_FIELD_KEYS = {
    "title": ("title", "headline"),
    "url": ("url", "link", "source_url"),
    "date": ("date", "published", "publication_date", "published_at", "date_publish"),
    "publisher": ("publisher", "site_name", "sitename", "source_domain", "source"),
    "author": ("author", "authors", "byline"),
}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_SETEXT = re.compile(r"^\s{0,3}(=+|-{2,})\s*$")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_JSON = json.JSONDecoder(strict=False)  # control characters inside strings are stripped later

Advance = Callable[[int], object]


@dataclass(frozen=True)
class RawArticle:
    """One article as its file gives it, before cleaning."""

    path: str  # the file
    text: str  # the body; for HTML, the article text trafilatura extracted
    fields: dict[str, str] = field(default_factory=dict)  # title, url, date, publisher, author from the format
    number: int | None = None  # the record's ordinal in a JSON/JSONL file (source "file#N"); None: a whole file
    record: str = ""  # where a skip message points: ":3" (JSONL line), "#2" (JSON item), "" (the file)
    html: bool = False

    @property
    def source(self) -> str:
        return record_source(self.path, self.number)


_BINARY = f"binary content, not text; give a {SUPPORTED_NAMES} file"
_TOO_DEEP = "JSON nested too deeply to be an article"


class _Unusable(Exception):
    """The whole file cannot be used; the message is the reason."""


def decode_bytes(data: bytes) -> str:
    """Text of a file: UTF-32/UTF-16/UTF-8 by their byte-order marks, else UTF-8 with every byte
    sequence that is not UTF-8 read as cp1252 (so a file mixing the two keeps both right);
    control characters (NUL included) stripped throughout.

    Raises _Unusable for empty or binary content."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise _Unusable(f"not valid {encoding.upper().removesuffix('-SIG')} text despite its byte-order mark") from None
            break
    else:
        if not data.strip():
            raise _Unusable("the file is empty")
        if _looks_binary(data[:8192]):
            raise _Unusable(_BINARY)
        text = _decode_text(data)
    text = strip_controls(text)
    if not text.strip():
        raise _Unusable("the file is empty")
    return text


def _looks_binary(head: bytes) -> bool:
    """Binary: starts with a control byte (NUL included), or more than 5 % of them. A stray NUL
    further on is damage inside text, stripped like any other control character."""
    controls = sum(1 for b in head if b < 32 and b not in _TEXT_CONTROLS)
    return (bool(head) and head[0] < 32 and head[0] not in _TEXT_CONTROLS) or controls > len(head) * 0.05


_TEXT_CONTROLS = (9, 10, 12, 13)


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode error handler: the bytes UTF-8 could not read, as cp1252 (latin-1 where cp1252 has no character)."""
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    return "".join(bytes([b]).decode("cp1252", "strict") if b not in _CP1252_UNDEFINED else chr(b) for b in bad), error.end


_CP1252_UNDEFINED = frozenset((0x81, 0x8D, 0x8F, 0x90, 0x9D))
codecs.register_error("qa-cp1252", _cp1252_fallback)


def _decode_text(data: bytes) -> str:
    """UTF-8, with only the sequences that are not UTF-8 decoded as cp1252 (a file mixing UTF-8
    and Latin-1 / cp1252 text, e.g. two files pasted together, keeps both right)."""
    return data.decode("utf-8", "qa-cp1252")


def repair_surrogates(text: str) -> str:
    """Bytes that are not UTF-8 reach argv, stdin and some clients as lone surrogates, which the
    tokenizer rejects: decode them as cp1252 (as input files are), else replace them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


# ---------------------------------------------------------------- one file


def read_records(path: Path, config: Config, advance: Advance | None = None) -> Iterator[RawArticle | SkippedFile]:
    """The articles of one file, and a SkippedFile for each part that cannot be used.

    `advance(n)` is called as the file's bytes are consumed (for a progress bar)."""
    advance = advance or (lambda n: None)
    name = str(path)
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
    except OSError as e:
        yield SkippedFile(name, f"cannot be read ({e.strerror or e})")
        return
    if suffix not in SUPPORTED_SUFFIXES:
        advance(size)
        yield SkippedFile(name, f"unsupported file type '{suffix or '(none)'}'; use {SUPPORTED_NAMES}")
        return
    if suffix in JSONL_SUFFIXES:  # streamed: the size limit applies to each line
        yield from _jsonl_records(path, config, advance)
        return
    if size > config.max_file_bytes:
        advance(size)
        yield SkippedFile(
            name,
            f"{size:,} bytes is over the {config.max_file_bytes:,}-byte limit (Config.max_file_bytes); "
            "split the file (JSON Lines files are read line by line, with the limit per line) or raise the limit",
        )
        return
    try:
        text = decode_bytes(path.read_bytes())
    except OSError as e:
        yield SkippedFile(name, f"cannot be read ({e.strerror or e})")
        return
    except _Unusable as e:
        advance(size)
        yield SkippedFile(name, str(e))
        return
    if suffix in JSON_SUFFIXES:
        yield from _json_records(text, name, size, advance)
        return
    advance(size)
    if suffix in HTML_SUFFIXES:
        yield _html_article(text, name)
    elif suffix in MARKDOWN_SUFFIXES:
        body, title = _markdown_to_text(text)
        yield RawArticle(name, body, {"title": title} if title else {})
    else:
        yield RawArticle(name, text)


def _html_article(raw: str, path: str) -> RawArticle:
    """The article body and metadata trafilatura finds: og:title / <title> / <h1>, og:site_name, url, date."""
    import trafilatura

    result = trafilatura.bare_extraction(raw, with_metadata=True, include_comments=False, include_tables=True)
    # A trafilatura Document, or None (a dict only with as_dict=True, which is not asked for).
    extracted = {} if result is None else result if isinstance(result, dict) else result.as_dict()
    fields = {
        key: str(extracted[source])
        for key, source in (("title", "title"), ("url", "url"), ("date", "date"), ("author", "author"),
                            ("publisher", "sitename"))
        if extracted.get(source)
    }
    return RawArticle(path, _block_lines(extracted.get("text") or "", raw), fields, html=True)


_BLOCK_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "figcaption", "pre")


def _block_lines(body: str, raw: str) -> str:
    """`body` with each headline, byline and paragraph of the page on a line of its own. On a
    short page trafilatura falls back to the whole <article>'s text on one line, so the <h1> ran
    into the first sentence ("...after flood repairs The Riverside public library..."); the
    page's block elements, found in order in that line, give the breaks back."""
    if "\n" in body.strip():
        return body
    from trafilatura.utils import load_html

    tree = load_html(raw)
    if tree is None:
        return body
    out, at = list(body), 0
    for element in tree.iter(*_BLOCK_TAGS):
        piece = " ".join(element.text_content().split())
        found = body.find(piece, at) if piece else -1
        if found < 0:
            continue
        for edge in (found, found + len(piece)):
            if 0 < edge < len(body) and body[edge - 1] == " ":
                out[edge - 1] = "\n"
            elif 0 < edge < len(body) and body[edge] == " ":
                out[edge] = "\n"
        at = found + len(piece)
    return "".join(out)


def _markdown_to_text(raw: str) -> tuple[str, str | None]:
    """The text without Markdown syntax (heading marks, underlines, link targets, bold marks), and
    the first heading (the first level-1 heading, else a heading on the first line)."""
    lines = raw.split("\n")
    title: str | None = None
    out: list[str] = []
    for line in lines:
        heading = _MD_HEADING.match(line)
        if heading:
            level, line = len(heading.group(1)), heading.group(2)
            if title is None and (level == 1 or not any(out_line.strip() for out_line in out)):
                title = line
        elif _MD_SETEXT.match(line) and out and out[-1].strip():
            if title is None and line.strip().startswith("="):
                title = out[-1].strip()
            continue
        out.append(line)
    text = _MD_EMPHASIS.sub(r"\2", _MD_LINK.sub(r"\1", "\n".join(out)))
    return text, _MD_LINK.sub(r"\1", title).strip() if title else None


# ---------------------------------------------------------------- JSON and JSON Lines


def _record(record: object, path: str, number: int, where: str) -> RawArticle | SkippedFile:
    if not isinstance(record, dict):
        kind = {list: "a list", str: "a string", type(None): "null", bool: "true/false"}.get(type(record), "a number")
        return SkippedFile(path, f'expected an object with "title" and "text", got {kind}', where)
    text = next((t for t in map(_body_text, (record.get(k) for k in _TEXT_KEYS)) if t.strip()), None)
    if text is None:
        return SkippedFile(path, 'the record has no text (a non-empty "text" field)', where)
    fields = {}
    for name, keys in _FIELD_KEYS.items():
        for key in keys:
            value = record.get(key)
            if isinstance(value, dict):  # {"source": {"id": ..., "name": "CNN"}}
                value = value.get("name")
            if isinstance(value, list):  # {"authors": ["A", "B"]}
                value = ", ".join(str(v) for v in value if isinstance(v, str | int))
            if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
                fields[name] = str(value)
                break
    return RawArticle(path, text, fields, number, where)


def _body_text(value: object) -> str:
    """A record's body: a string, or a list of paragraph strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(value)
    return ""


def _jsonl_records(path: Path, config: Config, advance: Advance) -> Iterator[RawArticle | SkippedFile]:
    name = str(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - opened apart from `with` so only open() errors skip the file
    except OSError as e:
        yield SkippedFile(name, f"cannot be read ({e.strerror or e})")
        return
    with f:
        head = f.read(8192)
        f.seek(0)
        if head.startswith(tuple(bom for bom, enc in _BOMS if enc != "utf-8-sig")):
            # UTF-16/32 cannot be split on b"\n": decode it whole.
            data = f.read()
            advance(len(data))
            try:
                lines: Iterator[str | bytes] = iter(decode_bytes(data).split("\n"))
            except _Unusable as e:
                yield SkippedFile(name, str(e))
                return
        elif _looks_binary(head.split(b"\n", 1)[0].removeprefix(codecs.BOM_UTF8)):
            # Judged by the first line: a damaged line further on is skipped as that record alone.
            yield SkippedFile(name, _BINARY)
            return
        else:
            lines = iter(f)
        number = 0
        for lineno, line in enumerate(lines, start=1):
            if isinstance(line, bytes):
                advance(len(line))
                if lineno == 1:
                    line = line.removeprefix(codecs.BOM_UTF8)
                if len(line) > config.max_file_bytes:
                    number += 1
                    yield SkippedFile(
                        name, f"{len(line):,} bytes is over the {config.max_file_bytes:,}-byte limit "
                        "(Config.max_file_bytes) for one record", f":{lineno}")
                    continue
                raw = line
                line = strip_controls(_decode_text(line))
                if not line.strip() and raw.strip():  # only NUL or other control bytes: a damaged line
                    number += 1
                    yield SkippedFile(name, "binary content (damaged), not a JSON record; fix or remove that line",
                                      f":{lineno}")
                    continue
            if not line.strip():
                continue
            number += 1
            try:
                record = _JSON.decode(line)
            except json.JSONDecodeError as e:
                yield SkippedFile(name, f"malformed JSON at column {e.colno} ({e.msg}); fix or remove that line",
                                  f":{lineno}")
                continue
            except RecursionError:
                yield SkippedFile(name, _TOO_DEEP, f":{lineno}")
                continue
            yield _record(record, name, number, f":{lineno}")
    if number == 0:
        yield SkippedFile(name, "the file is empty")


def _after_space(text: str, pos: int) -> int:
    """The position after the JSON whitespace (possibly none) at `pos`."""
    match = _JSON_SPACE.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _json_items(text: str) -> Iterator[tuple[object, int]]:
    """(value, end position) for each item of a top-level array, or the one top-level value,
    parsed one item at a time. Raises JSONDecodeError or RecursionError where parsing stops."""
    pos = _after_space(text, 0)
    if not text.startswith("[", pos):
        value, end = _JSON.raw_decode(text, pos)
        end = _after_space(text, end)
        if end != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
        yield value, end
        return
    pos = _after_space(text, pos + 1)
    if text.startswith("]", pos):
        return
    while True:
        value, pos = _JSON.raw_decode(text, pos)
        yield value, pos
        pos = _after_space(text, pos)
        if text.startswith(",", pos):
            pos = _after_space(text, pos + 1)
        elif text.startswith("]", pos):
            end = _after_space(text, pos + 1)
            if end != len(text):
                raise json.JSONDecodeError("Extra data", text, end)
            return
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)


def _json_records(text: str, name: str, size: int, advance: Advance) -> Iterator[RawArticle | SkippedFile]:
    number, done, stopped = 0, 0, False
    scale = size / max(len(text), 1)
    try:
        for value, end in _json_items(text):
            number += 1
            step = int(end * scale) - done
            advance(step)
            done += step
            yield _record(value, name, number, f"#{number}")
    except (json.JSONDecodeError, RecursionError) as e:
        if isinstance(e, RecursionError):
            reason = _TOO_DEEP
        else:
            reason = f"malformed JSON at line {e.lineno}, column {e.colno} ({e.msg})"
        if number:
            yield SkippedFile(name, f"{reason}; the {number} records before it were read, the rest of the file "
                              "was not", f"#{number + 1}")
        else:
            yield SkippedFile(name, reason)
        stopped = True
    advance(size - done)
    if number == 0 and not stopped:
        yield SkippedFile(name, "no records found (an empty JSON array)")
