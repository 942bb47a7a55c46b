"""Read article files (text, Markdown, HTML, JSON/JSONL), check them, and clean them into Documents.

Cleaning keeps the article body, drops boilerplate and repeated paragraphs, and lifts
metadata lines (URL, Date, ID, Category, ...) into fields. `Document.text` is the cleaned
body: every later offset (chunks, answers) indexes into it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from qa.config import Config
from qa.documents import Document
from qa.errors import BadInputError

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
JSON_SUFFIXES = {".json"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES

# "Key: value" lines that scrapers append to an article; the key names the field it is lifted into.
_META_KEYS = {
    "url": "url",
    "link": "url",
    "source url": "url",
    "canonical url": "url",
    "date": "date",
    "published": "date",
    "published on": "date",
    "publication date": "date",
    "id": "id",
    "article id": "id",
    "category": "category",
    "category id": "category",
    "section": "category",
    "title": "title",
    "headline": "title",
    "author": "author",
    "by": "author",
    "created": "created",
    "updated": "updated",
    "last updated": "updated",
    "modified": "updated",
    "last read": "last_read",
    "tags": "tags",
}
_META_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z ]{0,20}?)\s*:\s*(\S.*?)\s*$")

# Headings after which a scraped page holds only boilerplate (teaser lists, comment
# forms, summaries and statistics widgets), so the rest of the page is dropped.
_TAIL_HEADINGS = re.compile(
    r"^(you (may|might) also like|similar (readings|articles|stories|posts)|related"
    r"( (articles?|posts?|stories|news|content|coverage|reading))?|recommended"
    r"( (for you|reading|articles|stories))?|more (stories|news|articles|from [\w .'-]+)|"
    r"most (read|popular|viewed)|popular (posts|stories)|trending( now)?|read (next|also)|"
    r"see also|leave a (reply|comment)|post a comment|comments?|\d+ comments?|"
    r"join the (discussion|conversation)|statistics|details|tags|share this( article| story)?)$",
    re.IGNORECASE,
)
# Single lines that are page furniture wherever they appear.
_BOILERPLATE_LINE = re.compile(
    r"^(advertisement|advertising|sponsored( content)?|skip to (main )?content|share|print|email|"
    r"tweet|facebook|twitter|whatsapp|linkedin|subscribe( now)?|sign up|log ?in|register|"
    r"read more|continue reading|click here.*|summary|read count.*|words\d*|views?|reads?|"
    r"name\s*\*?|e-?mail\s*\*?|website|comment\s*\*?|post comment|submit|"
    r"\W*\d[\d,. ]*\W*|\(?\d+ (items?|comments?|views?|reads?|shares?)\)?)$"
    r"|.*(your email address will not be published|required fields are marked|"
    r"sign up for (our|the) newsletter|subscribe to (our|the) newsletter|get notified of the latest|"
    r"in your inbox|save my name, email|notify me of (new|follow-up)|all rights reserved|"
    r"copyright ©|© \d{4}|cookies? (policy|settings)|privacy policy|terms of (use|service)|"
    r"this site uses akismet).*$",
    re.IGNORECASE,
)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_TITLE_MAX_CHARS = 120
_MIN_HTML_BODY_WORDS = 8


@dataclass(frozen=True)
class CleanedArticle:
    """The cleaned body text plus the metadata lifted out of the page."""

    text: str
    meta: dict[str, str] = field(default_factory=dict)
    title: str = ""


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str

    def message(self) -> str:
        return f"skipped {self.path}: {self.reason}"


def _normalise_for_dedup(line: str) -> str:
    return re.sub(r"\W+", " ", line.lower()).strip()


def _meta_key(line: str) -> tuple[str, str] | None:
    m = _META_LINE.match(line)
    if not m:
        return None
    key = _META_KEYS.get(m.group(1).strip().lower())
    return (key, m.group(2)) if key else None


def _is_tail_heading(line: str) -> bool:
    # "Similar Readings (5 items)" and "Comments (3)" are headings too.
    bare = re.sub(r"\s*[\(\[]\s*\d+[^)\]]*[\)\]]\s*$", "", line).strip(" :.-–—|#*")
    return bool(_TAIL_HEADINGS.match(bare))


def _title_from_line(line: str) -> str:
    line = _MD_HEADING.sub("", line).strip()
    if len(line) <= _TITLE_MAX_CHARS:
        return line
    cut = line[:_TITLE_MAX_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",;:—–- ") + "…"


def clean_article(raw: str) -> CleanedArticle:
    """Clean a scraped article's text.

    Keeps body paragraphs in order; drops boilerplate lines, everything after a
    boilerplate section heading ("You May Also Like", "Leave a Reply", ...), and any
    paragraph already seen in the document; lifts "Key: value" metadata lines into
    `meta`. Paragraphs are separated by a blank line in the cleaned text. The title
    is the metadata title, else the first body line (shortened if long).
    """
    meta: dict[str, str] = {}
    kept: list[str] = []
    seen: set[str] = set()
    in_tail = False
    for raw_line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw_line.strip()
        if not line:
            continue
        lifted = _meta_key(line)
        if lifted:
            key, value = lifted
            meta.setdefault(key, value)
            continue
        if in_tail:
            continue
        if kept and _is_tail_heading(line):
            in_tail = True
            continue
        if _BOILERPLATE_LINE.match(line):
            continue
        key = _normalise_for_dedup(line)
        if not key or key in seen:
            continue
        seen.add(key)
        kept.append(line)
    text = "\n\n".join(kept)
    title = meta.get("title") or (_title_from_line(kept[0]) if kept else "")
    return CleanedArticle(text=text, meta=meta, title=title)


def _markdown_to_text(raw: str) -> str:
    """Drop Markdown syntax that is not text: heading marks and link targets."""
    lines = [_MD_HEADING.sub("", line) for line in raw.split("\n")]
    return _MD_LINK.sub(r"\1", "\n".join(lines))


def _html_to_article(raw: str, path: str) -> CleanedArticle:
    import trafilatura

    result = trafilatura.bare_extraction(raw, with_metadata=True, include_comments=False, include_tables=True)
    extracted = result.as_dict() if result is not None else {}
    cleaned = clean_article(extracted.get("text") or "")
    # A menu or a lone heading is what extractors fall back to on pages without an article.
    if len(cleaned.text.split()) < _MIN_HTML_BODY_WORDS:
        raise BadInputError(f"{path}: no article body could be extracted from this HTML page")
    meta = dict(cleaned.meta)
    for key in ("url", "date", "title", "author"):
        value = extracted.get(key)
        if value and key not in meta:
            meta[key] = str(value)
    title = meta.get("title") or cleaned.title
    return CleanedArticle(text=cleaned.text, meta=meta, title=title)


def decode_bytes(data: bytes, path: str) -> str:
    """Decode a text file: UTF-8 (with or without BOM), else cp1252, else latin-1.

    Raises BadInputError for empty or binary content.
    """
    if not data.strip():
        raise BadInputError(f"{path}: the file is empty")
    head = data[:8192]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    if b"\x00" in head or controls > len(head) * 0.05:
        raise BadInputError(f"{path}: binary content, not text; give a .txt, .md, .html, .json or .jsonl file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80] or "doc"


def content_hash(text: str, title: str, url: str | None, date: str | None) -> str:
    payload = json.dumps([text, title, url, date], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def make_document(doc_id: str, source: str, article: CleanedArticle) -> Document:
    meta = {k: v for k, v in article.meta.items() if k not in ("url", "date", "title")}
    url, date = article.meta.get("url"), article.meta.get("date")
    title = article.title or doc_id
    return Document(
        doc_id=doc_id,
        title=title,
        text=article.text,
        source=source,
        url=url,
        date=date,
        meta=meta,
        content_hash=content_hash(article.text, title, url, date),
    )


def _record_to_article(record: object, where: str) -> CleanedArticle:
    if not isinstance(record, dict):
        raise BadInputError(f"{where}: expected an object with 'title' and 'text', got {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadInputError(f"{where}: the record has no non-empty 'text' field")
    cleaned = clean_article(text)
    if not cleaned.text:
        raise BadInputError(f"{where}: the record's 'text' holds no article body after cleaning")
    meta = dict(cleaned.meta)
    for key in ("url", "date", "title"):
        value = record.get(key)
        if value not in (None, ""):
            meta[key] = str(value)
    return CleanedArticle(text=cleaned.text, meta=meta, title=meta.get("title") or cleaned.title)


def _read_records(text: str, path: Path, jsonl: bool) -> list[tuple[object, str]]:
    """(record, location) pairs from a JSON array/object or a JSON Lines file."""
    if jsonl:
        records = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((json.loads(line), f"{path}:{lineno}"))
            except json.JSONDecodeError as e:
                raise BadInputError(f"{path}: malformed JSON on line {lineno} ({e.msg}); fix or remove that line")
        return records
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInputError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno} ({e.msg})")
    items = data if isinstance(data, list) else [data]
    return [(item, f"{path}[{i}]") for i, item in enumerate(items)]


def read_file(path: Path, config: Config) -> list[tuple[str, CleanedArticle]]:
    """Read one file into (source, cleaned article) pairs; raises BadInputError naming the file."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise BadInputError(
            f"{path}: unsupported file type '{suffix or '(none)'}'; use .txt, .md, .html, .json or .jsonl"
        )
    try:
        size = path.stat().st_size
        if size > config.max_file_bytes:
            raise BadInputError(
                f"{path}: {size:,} bytes is over the {config.max_file_bytes:,}-byte limit "
                "(Config.max_file_bytes); split the file or raise the limit"
            )
        data = path.read_bytes()
    except OSError as e:
        raise BadInputError(f"{path}: cannot be read ({e.strerror or e})")
    text = decode_bytes(data, str(path))
    if suffix in JSON_SUFFIXES | JSONL_SUFFIXES:
        records = _read_records(text, path, jsonl=suffix in JSONL_SUFFIXES)
        if not records:
            raise BadInputError(f"{path}: no records found")
        out = []
        for i, (record, where) in enumerate(records):
            out.append((f"{path}#{i + 1}", _record_to_article(record, where)))
        return out
    if suffix in HTML_SUFFIXES:
        return [(str(path), _html_to_article(text, str(path)))]
    if suffix in MARKDOWN_SUFFIXES:
        text = _markdown_to_text(text)
    article = clean_article(text)
    if not article.text:
        raise BadInputError(f"{path}: no article text left after removing boilerplate")
    return [(str(path), article)]


def expand_paths(paths: list[Path]) -> tuple[list[Path], list[SkippedFile]]:
    """Files named and the files inside folders named (recursively, hidden ones left out), sorted."""
    files: list[Path] = []
    missing: list[SkippedFile] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            missing.append(SkippedFile(str(path), "no such file or folder"))
    return files, missing


def source_doc_id(source: str) -> str:
    """A readable, stable id: the file stem, plus the record number for JSON/JSONL records."""
    path, _, record_no = source.partition("#")
    stem = slugify(Path(path).stem)
    return f"{stem}-{record_no}" if record_no else stem
