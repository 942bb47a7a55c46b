"""A Gradio chat over the indexed news articles: `python app.py [--index index/] [--port 7860]`.

A thin layer over `qa/`: it calls `QA.ask`, `QA.search`, `ingest_paths` and `remove_documents`
and only formats their results. No retrieval or answering logic lives here.

`build_app(config)` returns the `gr.Blocks` (importable for tests); `launch(demo, ...)` starts it
with the app's stylesheet; `main()` is the command line. The endpoint `/ask` (see
`gradio_client.Client(...).predict(question, api_name="/ask")`) returns the same JSON object
as `qa ask --json`.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import threading
import traceback
from dataclasses import replace
from pathlib import Path

import gradio as gr

from qa.config import RETRIEVERS, Config
from qa.dates import DateRange
from qa.documents import Answer, Passage, SkippedFile, split_source
from qa.errors import IndexMissingError, QAError
from qa.ingest import SUPPORTED_SUFFIXES
from qa.pipeline import QA, ingest_paths, remove_documents
from qa.sources import SourceCard, byline, citation_cards, day_words, passage_cards, publisher_name, quoted
from qa.store.index import count_noun, current_version
from qa.stories import copy_order

REPO = Path(__file__).resolve().parent
BUNDLED_CORPUS = REPO / "corpus"
UPLOAD_TYPES = sorted(SUPPORTED_SUFFIXES)
EXAMPLES = [
    "Who was the first NATO secretary general to visit Armenia?",
    "Where did Stoltenberg and Pashinyan hold a news conference?",
]
SHOWN_QUESTION_CHARS = 400  # how much of a long question the chat echoes back
CLOSEST_SHOWN = 3  # passages shown (folded) with an abstention
NO_ANSWER = "The indexed articles don't say."
POSSIBLE_ANSWER = "Possible answer — low confidence, check the source"
FIRST_BUILD_WAIT_S = 900  # how long a question waits for the first index build
QA_CONCURRENCY = 4  # questions (chat, search, /ask) answered at once
ARTICLE_COLUMNS = ["doc_id", "title", "date", "url", "passages"]

CSS = """
.qa-verdict { margin: 0 0 .5em 0; }
.qa-answer { font-size: 1.15em; margin: 0 0 .3em 0; }
blockquote.qa-answer { border-left: 3px solid #e0b400; margin: 0 0 .3em 0; padding: .1em .6em; font-style: italic; }
.qa-ref { font-size: .75em; font-weight: 600; color: var(--link-text-color); margin-left: .1em; }
.qa-meta { color: var(--body-text-color-subdued); font-size: .85em; }
.qa-confidence { border-bottom: 1px dotted currentColor; cursor: help; }
.qa-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .45em .7em;
           margin: .45em 0; background: var(--background-fill-secondary); }
.qa-card-head { font-weight: 600; line-height: 1.3; }
.qa-alternatives { font-size: .9em; margin-top: .3em; }
.qa-alternatives ul { margin: .1em 0 0 1.2em; padding: 0; }
.qa-num { color: var(--link-text-color); margin-right: .25em; }
.qa-card-passage { font-size: .9em; line-height: 1.45; margin-top: .3em; }
.qa-card-passage + .qa-card-passage { border-top: 1px dashed var(--border-color-primary); padding-top: .3em; }
.qa-card mark { background: #ffe066; color: #000; padding: 0 .15em; border-radius: 3px; }
.qa-closest summary { cursor: pointer; color: var(--body-text-color-subdued); font-size: .9em; }
#qa-since input, #qa-until input { min-width: 0; width: 100%; }
#qa-since .timebox, #qa-until .timebox { min-width: 0; }
.qa-score { font-family: var(--font-mono); font-size: .8em; color: var(--body-text-color-subdued); }
/* Gradio's "scroll to the latest message" arrow floats over the reply the app scrolled into view. */
#qa-chat .scroll-down-button-container { display: none !important; }
/* A phone: the chat leaves room for the question box below it; the two date fields take a line each,
   so their YYYY-MM-DD placeholders are never cut. */
@media (max-width: 640px) {
  #qa-chat { height: min(560px, 52vh) !important; max-height: 52vh !important; }
  #qa-since, #qa-until { min-width: 100% !important; flex-basis: 100% !important; }
}
"""

# After an answer, scroll the chat so that the reply's first line (the verdict) is at the top of
# the chat area, then the page so that the verdict is on screen: a reply taller than the chat must
# not leave its verdict scrolled out of view.
SHOW_VERDICT_JS = """
async () => {
  const show = () => {
    const replies = document.querySelectorAll('#qa-chat [data-testid="bot"]');
    if (!replies.length) return;
    const reply = replies[replies.length - 1];
    let box = reply.parentElement;
    while (box && box.id !== 'qa-chat' && !(box.scrollHeight > box.clientHeight + 1 &&
           /(auto|scroll)/.test(getComputedStyle(box).overflowY))) box = box.parentElement;
    if (box && box.id !== 'qa-chat') {
      box.scrollTop += reply.getBoundingClientRect().top - box.getBoundingClientRect().top - 4;
    }
    const verdict = reply.querySelector('.qa-verdict') || reply;
    const r = verdict.getBoundingClientRect();
    if (r.top < 0 || r.bottom > window.innerHeight) window.scrollBy(0, r.top - window.innerHeight / 4);
    // Then keep the question box reachable below the chat, never scrolling the verdict off the top.
    const q = document.querySelector('#qa-question');
    if (q) {
      const below = q.getBoundingClientRect().bottom - window.innerHeight + 8;
      const top = verdict.getBoundingClientRect().top;
      if (below > 0 && top > 0) window.scrollBy(0, Math.min(below, top - 4));
    }
  };
  for (const ms of [0, 100, 400]) { await new Promise(r => setTimeout(r, ms)); show(); }
}
"""
# After a question is sent, show it (and the pending reply) at the bottom of the chat.
SHOW_QUESTION_JS = """
async () => {
  await new Promise(r => setTimeout(r, 50));
  const chat = document.querySelector('#qa-chat');
  if (!chat) return;
  for (const el of chat.querySelectorAll('*')) {
    if (el.scrollHeight > el.clientHeight + 1 && /(auto|scroll)/.test(getComputedStyle(el).overflowY)) {
      el.scrollTop = el.scrollHeight;
    }
  }
}
"""


# ---------------------------------------------------------------- formatting (pure functions)


def _esc(text: str | None) -> str:
    """HTML-escape, and turn line breaks into <br> so a reply is one HTML block: a blank line
    would end the block in the chat's Markdown and let Markdown reinterpret the article text."""
    text = html.escape(text or "", quote=True)
    text = re.sub(r"[ \t]*\n(\s*\n)+[ \t]*", "<br><br>", text)
    return re.sub(r"[ \t]*\n[ \t]*", "<br>", text)


def highlight(text: str, start: int, end: int) -> str:
    """The passage HTML-escaped, with text[start:end] wrapped in <mark>: cut by offsets, never searched."""
    return highlight_spans(text, ((start, end),))


def highlight_spans(text: str, spans) -> str:
    """`text` HTML-escaped with each (start, end) span (sorted, not overlapping) in <mark>."""
    out, at = [], 0
    for start, end in spans:
        start, end = max(at, min(start, len(text))), max(0, min(end, len(text)))
        if end <= start:
            continue
        out += [_esc(text[at:start]), "<mark>", _esc(text[start:end]), "</mark>"]
        at = end
    return "".join(out) + _esc(text[at:])


def _safe_url(url: str | None) -> str | None:
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def _link(title: str, url: str | None) -> str:
    url = _safe_url(url)
    if not url:
        return title
    return f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">{title}</a>'


def copies_line(copies) -> str:
    """"also published by Reuters (1 March 2024) · AP (...)": a story's other copies, each linked."""
    if not copies:
        return ""
    names = []
    for c in copies:
        day = day_words(c.date)
        names.append(_link(_esc(publisher_name(c.publisher, c.url) or c.doc_id), c.url) + (f" ({_esc(day)})" if day else ""))
    return f'<div class="qa-meta qa-copies">also published by {" · ".join(names)}</div>'


def alternatives_block(answer: Answer) -> str:
    """"Other articles: 40 — Reuters, 1 March 2024": the other stories' differing answers."""
    if not answer.alternatives:
        return ""
    rows = []
    for other in answer.alternatives:
        p = other.citation.passage
        rows.append(f"<li><strong>{_esc(' '.join(other.text.split()))}</strong> — "
                    f"{_link(_esc(byline(p.publisher, p.url, p.date)), p.url)}"
                    f' <span class="qa-meta" title="{_esc(p.title)}">({other.confidence:.2f})</span></li>')
    return f'<div class="qa-alternatives">Other articles:<ul>{"".join(rows)}</ul></div>'


def article_card(card: SourceCard) -> str:
    """One article: [n], headline linked to the article, publisher · date, the story's other
    copies, then its passages with the answer marked by offsets."""
    meta = " · ".join(_esc(m) for m in (card.publisher, card.date) if m)
    passages = "".join(
        f'<div class="qa-card-passage">{highlight_spans(e.text, e.marks)}</div>' for e in card.excerpts
    )
    return (
        '<div class="qa-card">'
        f'<div class="qa-card-head"><span class="qa-num">[{card.number}]</span>'
        f"{_link(_esc(card.title) or _esc(card.doc_id), card.url)}</div>"
        f'{f"<div class=qa-meta>{meta}</div>" if meta else ""}{copies_line(card.copies)}{passages}</div>'
    )


def _confidence(confidence: float, band: str | None) -> str:
    words = band or "low"
    return (
        f'<span class="qa-confidence qa-confidence-{words}" '
        f'title="confidence {confidence:.2f}: the reader\'s estimate that this answer is right">{words} confidence</span>'
    )


def _shown_answer(text: str, answer_type: str | None, refs: str) -> str:
    if answer_type == "sentence":
        return f'<blockquote class="qa-answer">{_esc(quoted(text))}{refs}</blockquote>'
    return f'<p class="qa-answer"><strong>{_esc(" ".join(text.split()))}</strong>{refs}</p>'


def format_answer(answer: Answer, threshold: float, dates: str = "") -> str:
    """One chat reply, the verdict first: the answer with numbered citations [1] [2] and its
    confidence in words, then one card per cited article; or a possible answer to check against
    its highlighted source; or that the indexed articles don't say, with the closest passages
    folded away under it. One HTML block, no blank lines."""
    if answer.answer is not None and answer.citations:
        cards = citation_cards(answer.citations)
        refs = "".join(f'<sup class="qa-ref">[{c.number}]</sup>' for c in cards)
        verdict = _shown_answer(answer.answer, answer.answer_type, refs)
        n = len(cards)
        meta = f'<div class="qa-meta">{_confidence(answer.confidence, answer.band)} · {n} article{"s" if n != 1 else ""}</div>'
        return (f'<div class="qa-verdict">{verdict}{meta}{alternatives_block(answer)}</div>'
                + "".join(article_card(c) for c in cards))
    if answer.candidate is not None:
        possible = answer.candidate
        (card,) = citation_cards([possible.citation])
        verdict = (
            f'<div class="qa-verdict qa-possible"><p class="qa-meta"><strong>{POSSIBLE_ANSWER}</strong></p>'
            f'{_shown_answer(possible.text, possible.answer_type, "<sup class=qa-ref>[1]</sup>")}'
            f'<div class="qa-meta">{_confidence(possible.confidence, "low")} (below the threshold {threshold:.2f})</div></div>'
        )
        return verdict + article_card(card)
    cards = passage_cards(answer.passages[:CLOSEST_SHOWN])
    scope = f" {_esc(dates)}" if dates else ""
    verdict = (
        f'<div class="qa-verdict qa-abstain"><p class="qa-answer"><strong>{NO_ANSWER}</strong></p>'
        f'<div class="qa-meta">No passage{scope} answers this confidently enough '
        f'(best candidate {answer.confidence:.2f}, threshold {threshold:.2f}).</div></div>'
    )
    if not cards:
        return verdict + f'<p class="qa-meta">No passage{scope} matched the question at all.</p>'
    n = len(cards)
    return (
        verdict + f'<details class="qa-closest"><summary>The closest passages ({n} article{"s" if n != 1 else ""})'
        f'</summary>{"".join(article_card(c) for c in cards)}</details>'
    )


def format_passages(passages: list[Passage], heading: str = "") -> str:
    """Ranked passages, one card each, with the retriever's score (the Search tab and the
    "Passages read" panel; never the chat)."""
    if not passages:
        return f"<div>{_esc(heading)}</div><p class='qa-meta'>No passages.</p>" if heading else "<p>No passages.</p>"
    head = f'<p class="qa-meta">{_esc(heading)}</p>' if heading else ""
    rows = []
    for rank, p in enumerate(passages, start=1):
        (card,) = passage_cards([p])
        rows.append(
            f'<div class="qa-rank qa-meta">#{rank} <span class="qa-score" '
            f'title="retrieval score: comparable only within one retriever">score {p.score:.4f}</span></div>'
            + article_card(replace(card, number=rank))
        )
    return head + "".join(rows)


def _shown_question(question: str) -> str:
    q = " ".join(str(question).split())
    if len(q) > SHOWN_QUESTION_CHARS:
        return f"<p>{_esc(q[:SHOWN_QUESTION_CHARS])} … <em>({len(q):,} characters)</em></p>"
    return f"<p>{_esc(q)}</p>"


def _message(text: str) -> str:
    return f"<p>{_esc(text)}</p>"


# ---------------------------------------------------------------- the app's state


class ChatApp:
    """Holds the QA object and the index build status; every handler catches errors into messages."""

    def __init__(self, config: Config, build_from: Path | None = None):
        self.config = config
        self.qa = QA(config)
        self.building = threading.Event()
        self.built = threading.Event()  # set once no first build is pending
        self.build_error: str | None = None
        self.build_from = build_from
        self.upload_dir = Path(config.index_dir) / "uploads"
        self._write_lock = threading.Lock()
        if build_from is not None and current_version(Path(config.index_dir)) is None:
            self.building.set()
            threading.Thread(target=self._build, args=(Path(build_from),), daemon=True).start()
        else:
            self.built.set()

    # -- index status

    def _build(self, corpus: Path) -> None:
        try:
            print(f"No index at {self.config.index_dir}: building it from {corpus} (first start) ...", flush=True)
            report = ingest_paths([corpus], self.config, progress=True, embedder=self.qa.embedder)
            for skipped in report.skipped:
                print(skipped.message(), file=sys.stderr)
            print(f"Index ready: {report.summary()} ({self.config.index_dir})", flush=True)
        except QAError as e:
            self.build_error = str(e)
            print(f"error: {e}", file=sys.stderr, flush=True)
        except Exception as e:  # noqa: BLE001 - reported in the UI, the app keeps running
            self.build_error = f"unexpected {type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            self.building.clear()
            self.built.set()

    def status(self) -> str:
        where = html.escape(str(self.config.index_dir))
        if self.building.is_set():
            corpus = html.escape(str(self.build_from))
            return (f"Building the index at `{where}` from `{corpus}` (first start); "
                    "questions asked now are answered as soon as it is ready…")
        if self.build_error:
            return f"Building the index failed: {html.escape(self.build_error)}"
        try:
            index = self.qa.index()
        except IndexMissingError as e:
            return f"{html.escape(str(e))}. Or upload articles in the **Articles** tab to start one."
        except QAError as e:  # damage or another format: the message names the part and the rebuild command
            return html.escape(str(e)) + "."
        return f"Index `{where}`: {count_noun(index.n_documents, 'article')}, {count_noun(index.n_chunks, 'passage')}."

    def _wait_for_first_build(self) -> str | None:
        """Block until the first index build (if any) is done; a message if it never finishes."""
        if not self.built.wait(FIRST_BUILD_WAIT_S):
            return f"The index is still being built from {self.build_from} after {FIRST_BUILD_WAIT_S} s; try again later."
        return None

    # -- chat

    def add_question(self, question: str, history: list | None):
        history = list(history or [])
        question = question or ""
        shown = _shown_question(question) if question.strip() else "<em>(empty question)</em>"
        history.append({"role": "user", "content": shown})
        return history, "", question

    def answer(self, history: list | None, question: str, k: float, retriever: str, threshold: float,
               since: str | None = None, until: str | None = None):
        history = list(history or [])
        passages_html = gr.update()
        reply = None
        if not (question or "").strip():
            reply = "Type a question about the indexed articles, for example: " + EXAMPLES[0]
        reply = reply or self._wait_for_first_build()
        if reply is not None:
            history.append({"role": "assistant", "content": _message(reply)})
            return history, passages_html
        try:
            dates = DateRange.parse(since, until)
            answer = self.qa.ask(question, k=int(k), retriever=retriever, threshold=float(threshold),
                                 since=dates.since, until=dates.until)
            scope = f"in articles {dates.describe()}" if dates else ""
            content = format_answer(answer, float(threshold), scope)
            passages_html = format_passages(answer.passages, "Passages read for the last question:")
        except QAError as e:
            content = _message(str(e))
        except Exception as e:  # noqa: BLE001 - a reply, never a crash
            traceback.print_exc()
            content = _message(f"Something went wrong answering this ({type(e).__name__}: {e}).")
        history.append({"role": "assistant", "content": content})
        return history, passages_html

    # -- API

    def ask_json(self, question: str, k: int | None = None, retriever: str | None = None,
                 threshold: float | None = None, since: str | None = None, until: str | None = None) -> dict:
        if not isinstance(question, str) or not question.strip():  # as `qa ask ""` (exit 1)
            raise gr.Error('the question is empty; ask something, e.g. "Who visited Armenia?"', print_exception=False)
        waited = self._wait_for_first_build()
        if waited is not None:
            raise gr.Error(waited, print_exception=False)
        # The library checks the question, k (1..Config.max_top_k), the retriever and the threshold (0..1);
        # a refused request is the caller's mistake: a clear message back, no traceback on the server.
        try:
            return self.qa.ask(question, k=k, retriever=retriever or None, threshold=threshold,
                               since=since or None, until=until or None).to_dict()
        except QAError as e:
            raise gr.Error(str(e), print_exception=False) from None

    # -- search

    def search(self, question: str, k: float, retriever: str, since: str | None = None,
               until: str | None = None) -> str:
        if not (question or "").strip():
            return _message("Type a question or keywords to list the passages that match best.")
        reply = self._wait_for_first_build()
        if reply is not None:
            return _message(reply)
        try:
            dates = DateRange.parse(since, until)
            passages = self.qa.search(question, k=int(k), retriever=retriever, since=dates.since, until=dates.until)
        except QAError as e:
            return _message(str(e))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            return _message(f"Search failed ({type(e).__name__}: {e}).")
        n = len(passages)
        scope = f", articles {dates.describe()}" if dates else ""
        return format_passages(passages, f"Top {n} passage{'s' if n != 1 else ''} ({retriever} retriever{scope}):")

    # -- articles

    def articles(self):
        rows, choices = [], []
        if not self.building.is_set():
            try:
                index = self.qa.index()
                # One story after another (in the order its first copy was indexed), its copies oldest
                # first; a copy's headline is marked "=" (the same story as the row above).
                stories: dict[str, list] = {}
                for r in index.document_records():
                    stories.setdefault(r.story or r.doc_id, []).append(r)
                for copies in stories.values():
                    for n, r in enumerate(sorted(copies, key=copy_order)):
                        title = r.title or r.doc_id
                        rows.append([r.doc_id, f"= {title}" if n else title, r.date or "", r.url or "", r.n_chunks])
                        choices.append((f"{title[:80]} ({r.doc_id})", r.doc_id))
            except QAError:
                pass
        table = {"data": rows, "headers": ARTICLE_COLUMNS}
        return table, gr.update(choices=choices, value=[])

    def upload(self, files, progress=gr.Progress(track_tqdm=True)):
        """Copy the uploads to `<index>/uploads/` (a stable source, so uploading a file again updates
        it) and ingest them. Two files of the same name are both kept; a file that gives no article
        is reported and leaves the uploads folder and the index as they were; the server's staged
        copies are deleted."""
        paths = list(dict.fromkeys(Path(f if isinstance(f, str) else getattr(f, "name", f)) for f in (files or [])))
        if not paths:
            return "Choose one or more files first (.txt, .md, .html, .json or .jsonl)."
        try:
            reply = self._wait_for_first_build()
            if reply is not None:
                return reply
            with self._write_lock:
                return self._ingest_uploads(paths, progress)
        finally:
            _delete_staged(paths)

    def _ingest_uploads(self, paths: list[Path], progress) -> str:
        messages: list[str] = []
        staged: list[tuple[Path, bytes | None]] = []  # (copy in uploads/, what it replaced)
        shown: dict[Path, str] = {}  # copy in uploads/ -> the name the user knows it by
        progress(0, desc="Reading files")
        if self.upload_dir.is_symlink():  # never write through a link under the index
            return (f"Error: {self.upload_dir} is a symbolic link; uploads are written only into a real folder there "
                    "(remove the link). Nothing was added; the index is unchanged.")
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        upload_dir = self.upload_dir.resolve()
        taken: set[str] = set()
        for p in paths:
            if p.suffix.lower() not in SUPPORTED_SUFFIXES:
                messages.append(SkippedFile(p.name, f"unsupported file type; use {', '.join(UPLOAD_TYPES)}").message())
                continue
            name = _free_name(p.name, taken)
            taken.add(name)
            target = upload_dir / name
            if target.is_symlink() or (target.exists() and not target.is_file()):
                messages.append(SkippedFile(p.name, f"{target} is a symbolic link or not a file; uploads never "
                                            "write through it (remove it and upload again)").message())
                continue
            try:
                backup = target.read_bytes() if target.exists() else None
                _copy_nofollow(p, target)
            except OSError as e:
                messages.append(SkippedFile(p.name, f"cannot be read ({e.strerror or e})").message())
                continue
            staged.append((target, backup))
            shown[target] = p.name if name == p.name else f"{p.name} (kept as {name})"
        if not staged:
            return "\n".join(messages + ["Nothing was added; the index is unchanged."])
        try:
            report = ingest_paths([t for t, _ in staged], self.config, embedder=self.qa.embedder, progress=True)
        except QAError as e:
            self._restore(staged)
            return "\n".join(messages + [f"Error: {e}", "Nothing was added; the index is unchanged."])
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            self._restore(staged)
            return "\n".join(messages + [f"Error: unexpected {type(e).__name__}: {e}; the index is unchanged."])
        progress(1.0, desc="Done")
        for skipped in report.skipped:
            path = Path(skipped.path).resolve()
            messages.append(replace(skipped, path=shown.get(path, path.name)).message())
        # A staged file that none of this run's documents came from is put back as it was
        # (a document's source is its file, or "file#N" for a record of a JSON file).
        ids = {*report.added, *report.updated, *report.unchanged}
        sources = {d.source for d in self.qa.documents() if d.doc_id in ids}
        files = {split_source(source)[0] for source in sources}
        used = {t for t, _ in staged if str(t) in files}
        self._restore([s for s in staged if s[0] not in used])
        for label, ids in (("added", report.added), ("updated", report.updated), ("unchanged", report.unchanged)):
            if ids:
                messages.append(f"{label.capitalize()}: {', '.join(ids)}.")
        if not (report.added or report.updated):
            messages.append("Nothing new was added; the index is unchanged.")
        messages.append(
            f"The index holds {count_noun(report.total_documents, 'article')}, {count_noun(report.total_chunks, 'passage')}; "
            "new questions see them."
        )
        return "\n".join(messages)

    @staticmethod
    def _restore(staged) -> None:
        """Put back what an upload overwrote, so a bad file leaves the uploads folder as it was."""
        for target, backup in staged:
            try:
                if backup is None:
                    target.unlink(missing_ok=True)
                else:
                    _write_nofollow(target, backup)
            except OSError:
                pass

    def remove(self, doc_ids: list[str] | None) -> str:
        reply = self._wait_for_first_build()
        if reply is not None:
            return reply
        if not doc_ids:
            return "Select one or more articles to remove."
        try:
            with self._write_lock:
                report = remove_documents(list(doc_ids), self.config)
        except QAError as e:
            return f"Error: {e}"
        return f"Removed: {', '.join(report.removed)}. The index holds {count_noun(report.total_documents, 'article')}."


def _no_empty_temp_files(files: gr.File) -> None:
    """gr.File (type "filepath") creates an empty temp file in Gradio's cache for every file it
    hands over and never uses it: hand over the staged path alone (the type check kept)."""
    from gradio.data_classes import FileData
    from gradio.utils import NamedString
    from gradio_client import utils as client_utils

    def process_single_file(f: FileData) -> NamedString:
        if files.file_types and not client_utils.is_valid_file(f.path, files.file_types):
            raise gr.Error(f"Invalid file type; upload one of {', '.join(UPLOAD_TYPES)}", print_exception=False)
        return NamedString(f.path)

    files._process_single_file = process_single_file  # type: ignore[method-assign]


def _pad_api_inputs(demo: gr.Blocks, api_name: str) -> None:
    """A raw call of endpoint `api_name` with fewer inputs than it lists gets the defaults (None)
    for the rest, as gradio_client does, instead of a server traceback; a missing question is then
    refused with the usual message."""
    validate = demo.validate_inputs

    def validate_inputs(block_fn, inputs):
        if getattr(block_fn, "api_name", None) == api_name and len(inputs) < len(block_fn.inputs):
            inputs.extend([None] * (len(block_fn.inputs) - len(inputs)))
        return validate(block_fn, inputs)

    demo.validate_inputs = validate_inputs


def _write_nofollow(target: Path, data: bytes) -> None:
    """Write `target` without following a symbolic link there (O_NOFOLLOW: a link is an error)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _copy_nofollow(source: Path, target: Path) -> None:
    """Copy `source` to `target` without following a link there; nothing is created when `source`
    cannot be read."""
    with open(source, "rb") as f:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(f, out)


def _free_name(name: str, taken: set[str]) -> str:
    """`name`, or "name-2.txt", "name-3.txt", ... when this upload already has a file of that name."""
    stem, suffix, n = Path(name).stem, Path(name).suffix, 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}{suffix}"
    return name


def _delete_staged(paths: list[Path]) -> None:
    """Delete the copies Gradio staged for an upload (only files inside its upload folder)."""
    from gradio.utils import get_upload_folder

    staging = Path(get_upload_folder()).resolve()
    for p in paths:
        try:
            p = p.resolve()
            if staging in p.parents:
                p.unlink(missing_ok=True)
                if p.parent != staging and not any(p.parent.iterdir()):
                    p.parent.rmdir()
        except OSError:
            pass


# ---------------------------------------------------------------- the UI


def build_app(config: Config, build_from: Path | None = None) -> gr.Blocks:
    """The Gradio app over the index at `config.index_dir`. With `build_from`, a missing index is
    built from that folder in the background while the app shows the progress."""
    app = ChatApp(config, build_from)
    # Staged uploads are deleted after each upload; this sweeps the ones never submitted (hourly).
    with gr.Blocks(title="News QA", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("## News QA\nAsk questions about the indexed news articles. "
                    "Answers are copied from the articles, with their sources.")
        status = gr.Markdown(app.status(), elem_id="qa-status")
        timer = gr.Timer(1.0, active=app.building.is_set())

        with gr.Accordion("Settings", open=False), gr.Row():
            k = gr.Slider(1, 20, value=config.top_k, step=1, label="Passages to read (k)")
            retriever = gr.Radio(list(RETRIEVERS), value=config.retriever, label="Retriever",
                                 info="dense: meaning · bm25: keywords · hybrid: both")
            threshold = gr.Slider(0.0, 1.0, value=app.qa.reader.default_threshold, step=0.01, elem_id="qa-threshold",
                                  label="Abstention threshold",
                                  info="answer only when the confidence reaches this")
        # The date range applies to Ask and Search: only articles dated inside it (undated ones are left out).
        with gr.Row(equal_height=True):
            since = gr.DateTime(include_time=False, type="string", label="Articles dated from",
                                elem_id="qa-since", min_width=120)
            until = gr.DateTime(include_time=False, type="string", label="to", elem_id="qa-until",
                                min_width=120)

        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Chat", show_label=False, elem_id="qa-chat", height="min(560px, 70vh)",
                            latex_delimiters=[], buttons=["copy"], feedback_options=None, autoscroll=False,
                            placeholder="Ask a question about the indexed articles.",
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                placeholder="Ask a question, e.g. " + EXAMPLES[0], show_label=False,
                                elem_id="qa-question", scale=5, max_lines=4, submit_btn=False,
                            )
                            ask_btn = gr.Button("Ask", variant="primary", elem_id="qa-ask", scale=1)
                        gr.Examples(EXAMPLES, inputs=question, label="Try")
                        clear = gr.Button("Clear chat", size="sm")
                    with gr.Column(scale=2):
                        with gr.Accordion("Passages read", open=False, elem_id="qa-read-panel"):
                            read_html = gr.HTML(
                                "<p class='qa-meta'>The passages read for a question appear here.</p>",
                                elem_id="qa-read", max_height=900,
                            )
                asked = gr.State("")

            with gr.Tab("Search", id="search"):
                with gr.Row():
                    search_q = gr.Textbox(placeholder="Keywords or a question", show_label=False,
                                          elem_id="qa-search", scale=5)
                    search_btn = gr.Button("Search", elem_id="qa-search-btn", scale=1)
                search_html = gr.HTML(elem_id="qa-search-results")

            with gr.Tab("Articles", id="articles"):
                gr.Markdown("Add articles: " + ", ".join(UPLOAD_TYPES) + " (the formats of `qa ingest`). "
                            "Uploading a file with the same name again updates it.")
                files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label="Articles to add",
                                elem_id="qa-upload")
                _no_empty_temp_files(files)
                add_btn = gr.Button("Add to index", variant="primary", elem_id="qa-add")
                upload_status = gr.Textbox(label="Upload result", interactive=False, lines=3,
                                           elem_id="qa-upload-status")
                gr.Markdown("### Indexed articles")
                table = gr.Dataframe(headers=ARTICLE_COLUMNS, interactive=False, wrap=True,
                                     column_widths=["20%", "40%", "12%", "20%", "8%"], elem_id="qa-articles")
                with gr.Row():
                    to_remove = gr.Dropdown(choices=[], multiselect=True, label="Articles to remove", scale=4)
                    remove_btn = gr.Button("Remove", variant="stop", scale=1)
                remove_status = gr.Markdown()

        # Chat: echo the question at once, then answer it.
        # Questions are answered a few at a time: retrieval and the models are read-only and the QA
        # object guards its index; torch splits the cores among them (`python -m bench` measures /ask).
        qa_events = dict(concurrency_id="qa", concurrency_limit=QA_CONCURRENCY)
        for trigger in (question.submit, ask_btn.click):
            trigger(app.add_question, [question, chatbot], [chatbot, question, asked], queue=False,
                    api_visibility="private").then(
                None, None, None, js=SHOW_QUESTION_JS, queue=False, api_visibility="private").then(
                app.answer, [chatbot, asked, k, retriever, threshold, since, until], [chatbot, read_html],
                api_visibility="private", **qa_events).then(
                None, None, None, js=SHOW_VERDICT_JS, queue=False, api_visibility="private")
        clear.click(lambda: ([], ""), None, [chatbot, asked], queue=False, api_visibility="private")

        for trigger in (search_q.submit, search_btn.click):
            trigger(app.search, [search_q, k, retriever, since, until], search_html, api_visibility="private",
                    **qa_events)

        refresh = dict(fn=app.articles, inputs=None, outputs=[table, to_remove], api_visibility="private")
        add_btn.click(app.upload, files, upload_status, api_visibility="private",
                      concurrency_id="write", concurrency_limit=1).then(
            lambda: None, None, files, api_visibility="private").then(**refresh).then(
            app.status, None, status, api_visibility="private")
        remove_btn.click(app.remove, to_remove, remove_status, api_visibility="private",
                         concurrency_id="write", concurrency_limit=1).then(**refresh).then(
            app.status, None, status, api_visibility="private")

        def tick():
            building = app.building.is_set()
            return app.status(), gr.Timer(active=building)

        timer.tick(tick, None, [status, timer], api_visibility="private").then(**refresh)
        demo.load(**refresh).then(app.status, None, status, api_visibility="private")

        # The programmatic endpoint: the same JSON object as `qa ask --json`.
        def ask(question: str, k: int | None = None, retriever: str | None = None,
                threshold: float | None = None, since: str | None = None, until: str | None = None) -> dict:
            """Answer `question` from the indexed articles; returns the object `qa ask --json` prints.
            `since` / `until` (YYYY-MM-DD, inclusive) keep only articles dated in that range."""
            return app.ask_json(question, k, retriever, threshold, since, until)

        gr.api(ask, api_name="ask", **qa_events)
        _pad_api_inputs(demo, "ask")
    demo.qa_app = app  # for tests and embedding
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, **kwargs):
    """Start `demo` with the app's stylesheet and the upload size limit of its config
    (`Config.max_file_bytes`, enforced by the server while the file arrives); returns what
    `Blocks.launch` returns."""
    kwargs.setdefault("max_file_size", demo.qa_app.config.max_file_bytes)
    return demo.launch(server_name=host, server_port=port, css=CSS, theme=gr.themes.Soft(),
                       footer_links=["api"], **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chat with your indexed news articles in the browser.")
    parser.add_argument("--index", default=str(Config().index_dir), help="index folder (default: index/)")
    parser.add_argument("--corpus", default=str(BUNDLED_CORPUS),
                        help="articles to build the index from when it is missing (default: the bundled corpus/)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    args = parser.parse_args(argv)
    config = Config().with_(index_dir=Path(args.index))
    corpus = Path(args.corpus)
    if current_version(config.index_dir) is None and not corpus.exists():
        print(f"error: no index at {config.index_dir} and no articles at {corpus} to build one from", file=sys.stderr)
        return 1
    demo = build_app(config, build_from=corpus)
    print(f"News QA on http://{args.host}:{args.port} (index {config.index_dir})", flush=True)
    launch(demo, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
