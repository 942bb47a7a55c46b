"""Typed records that flow through the pipeline; all offsets are character offsets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class ArticleMeta:
    """What is known of an article besides its text: the one declaration of it. A document, its
    catalog row, a passage, a source card and a copy of a story all carry this record, so a field
    added here travels from ingest to the answer card (fill it in `qa.ingest.read.make_document`, show
    it in qa/render.py and qa/cli.py; a field a story's copies show needs a catalog column too)."""

    doc_id: str
    title: str
    url: str | None = None
    date: str | None = None
    publisher: str | None = None  # og:site_name, a metadata line, or the URL's host

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Document:
    """A cleaned article. `text` is the cleaned body; chunk offsets index into it."""

    article: ArticleMeta
    text: str
    source: str  # file path, with "#N" for the N-th record of a JSON/JSONL file (`record_source`)
    meta: dict[str, str] = field(default_factory=dict)  # other lifted metadata (ID, Category, ...)
    content_hash: str = ""

    @property
    def doc_id(self) -> str:
        return self.article.doc_id

    def to_record(self) -> dict[str, object]:
        """The document as one flat JSON object (a segment's documents.jsonl line, a Ray row), its
        keys in the order segments have always stored them; new article fields go last."""
        a = self.article.to_dict()
        return {"doc_id": a.pop("doc_id"), "title": a.pop("title"), "text": self.text, "source": self.source,
                "url": a.pop("url"), "date": a.pop("date"), "meta": self.meta, "content_hash": self.content_hash, **a}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Document:
        """The document of a `to_record` object: keys this version does not know are ignored, and
        fields it adds later take their defaults."""
        article = ArticleMeta(**{k: v for k, v in record.items() if k in _ARTICLE_FIELDS})
        return cls(article, **{k: v for k, v in record.items() if k in _DOCUMENT_FIELDS})


_ARTICLE_FIELDS = {f.name for f in fields(ArticleMeta)}
_DOCUMENT_FIELDS = {f.name for f in fields(Document)} - {"article"}


def record_source(path: str, record: int | None = None) -> str:
    """A document's source: its file, with "#N" for the N-th record of a JSON/JSONL file."""
    return path if record is None else f"{path}#{record}"


def split_source(source: str) -> tuple[str, int | None]:
    """(file, record number or None) of a source made by `record_source`; the one parser of "path#N"."""
    path, hash_sign, record = source.rpartition("#")
    if hash_sign and record.isdigit():
        return path, int(record)
    return source, None


def count_noun(n: int, noun: str, plural: str | None = None) -> str:
    """"1 document", "2,400 documents"; `plural` for a noun that does not take an s ("queries")."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def quote_name(name: str) -> str:
    """A file name in double quotes with escapes, so a newline or a quote in it cannot break the
    one-line message it appears in."""
    readable = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return json.dumps(readable, ensure_ascii=False)


@dataclass(frozen=True)
class SkippedFile:
    """An input left out of the index, and why: a file or folder, or one record of a JSON file."""

    path: str  # the file or folder as named
    reason: str  # a clause: "the file is empty"
    record: str = ""  # ":3" for line 3 of a JSON Lines file, "#2" for item 2 of a JSON array; "" for the file

    @property
    def source(self) -> str:
        return self.path + self.record

    def message(self) -> str:
        return f"Skipped {quote_name(self.source)}: {self.reason.rstrip('.')}."


@dataclass(frozen=True)
class Chunk:
    """A span of a document: `text == document.text[start:end]`."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str


def chunk_id(doc_id: str, ordinal: int) -> str:
    """The id of a document's `ordinal`-th chunk (from 0): "doc#3"."""
    return f"{doc_id}#{ordinal}"


def copy_dict(copy: ArticleMeta) -> dict[str, object]:
    """Another indexed copy of a story in JSON, its keys in the order `qa ask --json` has always given them."""
    d = copy.to_dict()
    return {k: d.pop(k) for k in ("doc_id", "title", "publisher", "date", "url")} | d


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its score and the metadata of its article."""

    chunk: Chunk
    article: ArticleMeta
    score: float
    story: str | None = None  # the story its article is a copy of (None: not looked up)
    # The story's other indexed copies (qa/stories.py: reprints of the same article), oldest first.
    copies: tuple[ArticleMeta, ...] = ()

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def text(self) -> str:
        return self.chunk.text

    def to_dict(self) -> dict[str, object]:
        return {
            **self.article.to_dict(),
            "chunk_id": self.chunk.chunk_id,
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": round(float(self.score), 6),
            "story": self.story,
            "copies": [copy_dict(c) for c in self.copies],
        }


@dataclass(frozen=True)
class Citation:
    """An answer located in a passage: `passage[answer_start:answer_end] == answer`."""

    passage: Passage
    answer_start: int
    answer_end: int

    def to_dict(self) -> dict[str, object]:
        d = self.passage.to_dict()
        return {
            **self.passage.article.to_dict(),
            "chunk_id": d["chunk_id"],
            "passage": d["text"],
            "answer_start": self.answer_start,
            "answer_end": self.answer_end,
            "passage_start": d["start"],
            "passage_end": d["end"],
            "score": d["score"],
            "story": d["story"],
            "copies": d["copies"],
        }


@dataclass(frozen=True)
class Alternative:
    """A confident answer of another story that differs from the chosen one (qa/reader/alternatives.py)."""

    text: str
    confidence: float
    citation: Citation

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "confidence": round(float(self.confidence), 4), "citation": self.citation.to_dict()}


@dataclass(frozen=True)
class PossibleAnswer:
    """The reader's best candidate when it is below the abstention threshold but above the floor:
    shown as a possible answer to check against its source (`qa.sources.POSSIBLE_ANSWER`), never as the answer."""

    text: str
    confidence: float
    citation: Citation
    answer_type: str = "span"

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "confidence": round(float(self.confidence), 4), "answer_type": self.answer_type,
                "citation": self.citation.to_dict()}


@dataclass(frozen=True)
class SearchResult:
    """The passages found for a question, best first, and how many undated articles a date range
    left out of them (0 without a range)."""

    passages: list[Passage]
    undated_left_out: int = 0


@dataclass(frozen=True)
class Answer:
    """The reply to one question: a span copied from the citations, or None to abstain."""

    question: str
    answer: str | None
    confidence: float
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)  # what was read, best first
    # "span": a short answer copied from the passage; "sentence": the evidence sentence, for
    # questions that no short span answers (yes/no, why, "what did X say"); "field": the article's
    # own date, publisher or author (`article_field`); None: abstained.
    answer_type: str | None = None
    # Confident answers from other stories that differ from this one, best (or, for a question
    # asking for the latest news, newest) first.
    alternatives: list[Alternative] = field(default_factory=list)
    band: str | None = None  # the confidence in words ("high", "medium", "low"), from the calibrator's measured bands
    candidate: PossibleAnswer | None = None  # when abstaining: a possible answer above the fitted floor
    # A question about the article itself (qa/reader/article_fields.py): answer_type "field", the field
    # ("date", "publisher", "author") and its value as stored; answer None when the article lacks it.
    article_field: str | None = None
    undated_left_out: int = 0  # undated articles a date range left out of what was read (qa/news_retrieval.py)

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "question": self.question,
            "answer": self.answer,
            "answer_type": self.answer_type,
            "confidence": round(float(self.confidence), 4),
            "confidence_band": self.band,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "alternatives": [a.to_dict() for a in self.alternatives],
            "undated_left_out": self.undated_left_out,
        }
        if self.article_field is not None:
            d["field"] = self.article_field
        if self.answer is None:
            d["candidate"] = self.candidate.to_dict() if self.candidate else None
        return d
