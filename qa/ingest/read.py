"""Turn files and folders into Documents: find the files, read them (`qa/ingest/formats.py`), clean them
(`qa/ingest/clean.py`), and report every file, folder or record left out, with the reason.

`read_documents` is what `qa.pipeline.ingest_paths` calls.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa.config import Config
from qa.documents import ArticleMeta, Document, SkippedFile, count_noun, quote_name, record_source, split_source
from qa.ingest.clean import CleanedArticle, clean_article
from qa.ingest.formats import Advance, RawArticle, read_records
from qa.store.update import UpdateResult

_MIN_HTML_BODY_WORDS = 8


@dataclass
class IngestReport(UpdateResult):
    """What an ingest or a removal did to the index (the store's `UpdateResult`), and what was left
    out (`qa ingest` prints `summary`)."""

    uploads_kept: int = 0  # uploaded articles a rebuild took along from <index>/uploads/
    skipped: list[SkippedFile] = field(default_factory=list)  # files, folders and records left out

    def summary(self) -> str:
        """One sentence: what changed (counts that are not zero; the ids removed), then what the index holds."""
        done = [f"{len(ids)} {label}" for ids, label in (
            (self.added, "added"), (self.updated, "updated"), (self.unchanged, "unchanged"), (self.skipped, "skipped")
        ) if ids]
        if self.removed:
            done.insert(0, f"{len(self.removed)} removed ({', '.join(self.removed)})")
        if self.chunks_added:
            done.append(f"{count_noun(self.chunks_added, 'chunk')} embedded")
        held = f"the index holds {count_noun(self.total_documents, 'document')}, {count_noun(self.total_chunks, 'chunk')}"
        return f"{', '.join(done) or 'Nothing to do'}; {held}"


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80] or "doc"


def content_hash(text: str, title: str, url: str | None, date: str | None, publisher: str | None = None) -> str:
    fields = [text, title, url, date] + ([publisher] if publisher else [])
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()


def make_document(doc_id: str, source: str, article: CleanedArticle) -> Document:
    meta = {k: v for k, v in article.meta.items() if k not in ("url", "date", "title", "publisher")}
    url, date = article.meta.get("url"), article.meta.get("date")
    title = article.title or doc_id
    return Document(
        article=ArticleMeta(doc_id=doc_id, title=title, url=url, date=date, publisher=article.publisher),
        text=article.text,
        source=source,
        meta=meta,
        content_hash=content_hash(article.text, title, url, date, article.publisher),
    )


def source_doc_id(source: str) -> str:
    """A readable, stable id: the file stem, plus the record number for JSON/JSONL records."""
    path, record = split_source(source)
    stem = slugify(Path(path).stem)
    return stem if record is None else f"{stem}-{record}"


def expand_paths(paths: list[Path]) -> tuple[list[Path], list[SkippedFile]]:
    """Files named and the files inside folders named (recursively, hidden ones left out), sorted;
    a path that does not exist and a folder that cannot be read are reported, not ignored. A qa
    index's own files are never articles: an index folder met in a folder is left out, and one
    named (or a path inside it, but for its uploads/ folder) is reported."""
    from qa.store.index import index_holding, is_index_folder

    files: list[Path] = []
    skipped: list[SkippedFile] = []

    def unreadable(error: OSError) -> None:
        skipped.append(SkippedFile(str(error.filename or "?"), f"the folder cannot be read ({error.strerror or error})"))

    for path in paths:
        index = index_holding(path) if path.exists() else None
        if index is not None:
            skipped.append(SkippedFile(str(path), f"part of the qa index at {quote_name(str(index))}: an index's own "
                                       "files are not articles (name the article folders instead)"))
        elif path.is_dir():
            found: list[Path] = []
            visited = {os.path.realpath(path)}
            for root, dirs, names in os.walk(path, onerror=unreadable, followlinks=True):
                # Linked folders are followed, each real folder once (a link loop ends there); an index is left out.
                dirs[:] = [d for d in sorted(dirs) if not d.startswith(".") and not is_index_folder(Path(root) / d)
                           and _first_visit(Path(root) / d, visited)]
                found.extend(p for p in (Path(root) / n for n in names if not n.startswith(".")) if p.is_file())
            files.extend(sorted(found))
        elif path.is_file():
            files.append(path)
        else:
            skipped.append(SkippedFile(str(path), _missing_reason(path)))
    return _utf8_named(files, skipped)


def _missing_reason(path: Path) -> str:
    """Why `path` is neither a file nor a folder: a link loop, a broken link, or nothing there."""
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link loop (the link points back to itself); fix or remove the link"
        if path.is_symlink():
            return f"a broken symbolic link (to {quote_name(os.readlink(path))}); fix or remove the link"
        return "no such file or folder"
    return "not a regular file or folder"


def _utf8_named(files: list[Path], skipped: list[SkippedFile]) -> tuple[list[Path], list[SkippedFile]]:
    """Files whose name is not valid UTF-8 (the bytes reach Python as lone surrogates) cannot be
    stored as a source: they are reported with the fix, the others go on."""
    good = []
    for f in files:
        try:
            str(f).encode("utf-8")
            good.append(f)
        except UnicodeEncodeError:
            skipped.append(SkippedFile(str(f), "the file name is not valid UTF-8; rename the file (e.g. with "
                                       "`convmv -f latin1 -t utf8 --notest`) and ingest it again"))
    return good, skipped


def _first_visit(folder: Path, visited: set[str]) -> bool:
    real = os.path.realpath(folder)
    if real in visited:
        return False
    visited.add(real)
    return True


def _articles(path: Path, config: Config, advance: Advance | None = None) -> Iterator[tuple[RawArticle, CleanedArticle] | SkippedFile]:
    """(raw, cleaned) for each article of one file, and a SkippedFile for each part left out."""
    for item in read_records(path, config, advance):
        if isinstance(item, SkippedFile):
            yield item
            continue
        article = clean_article(item.text, item.fields)
        if item.html and len(article.text.split()) < _MIN_HTML_BODY_WORDS:
            # A menu or a lone heading is what extractors fall back to on pages without an article.
            yield SkippedFile(item.path, "no article body could be extracted from this HTML page", item.record)
        elif not article.text:
            what = "the record" if item.number is not None else "the file"
            yield SkippedFile(item.path, f"no article text left in {what} after removing boilerplate", item.record)
        else:
            yield item, article


def file_documents(path: Path, config: Config, advance: Advance | None = None) -> tuple[list[Document], list[SkippedFile]]:
    """The documents of one file (one per JSON/JSONL record) and the parts of it left out."""
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for item in _articles(path, config, advance):
        if isinstance(item, SkippedFile):
            skipped.append(item)
            continue
        raw, article = item
        # Absolute paths: the same file named as `corpus` or `./corpus` is one source.
        source = record_source(str(Path(raw.path).resolve()), raw.number)
        documents.append(make_document(source_doc_id(source), source, article))
    return documents, skipped


def read_documents(paths: list[Path], config: Config, progress: bool = False) -> tuple[list[Document], list[SkippedFile]]:
    """Documents from every file under `paths`, and what was skipped. A progress bar (with an ETA,
    by bytes read) appears when `progress` is set and reading takes more than a second."""
    from tqdm import tqdm

    files, skipped = expand_paths(paths)
    total = 0
    for f in files:
        with contextlib.suppress(OSError):
            total += f.stat().st_size
    documents: list[Document] = []
    with tqdm(total=total, desc="reading", unit="B", unit_scale=True, unit_divisor=1024, delay=1.0,
              disable=not progress) as bar:
        for path in files:
            docs, left_out = file_documents(path, config, bar.update)
            documents += docs
            skipped += left_out
    return documents, skipped
