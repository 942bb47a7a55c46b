"""The chat's replies, whatever draws them: what the app's Ask, Search and Articles tabs and its
`/ask` endpoint answer, as HTML and plain records. `app.py` wires these to Gradio.

Every reply is a message, never an exception: a refused input or a damaged index is said in one
line, an unexpected failure is printed to the server's log and said in one line. Questions asked
while the first index is still being built wait for it (`FIRST_BUILD_WAIT_S`). Writes (uploads,
removals) run one at a time.
"""

from __future__ import annotations

import contextlib
import html
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.config import Config
from qa.dates import DateRange
from qa.documents import count_noun
from qa.errors import BadInputError, IndexMissingError, QAError, empty_question
from qa.ingest.formats import SUPPORTED_NAMES
from qa.pipeline import QA, FirstBuild, add_uploads, list_documents, remove_documents, stage_uploads
from qa.render import (
    answer_html,
    article_rows,
    format_passages,
    index_holds,
    message,
    removal_question,
    removed_line,
    shown_question,
    upload_lines,
)
from qa.sources import undated_note

EXAMPLE_QUESTION = "Who was the first NATO secretary general to visit Armenia?"
FIRST_BUILD_WAIT_S = 900  # how long a question waits for the first index build
NOTHING_ADDED = "Nothing was added; the index is unchanged."
OPTIONS_LABEL = "Date range and settings"
SELECT_TO_REMOVE = "Select one or more articles to remove."

Messages = list[dict[str, str]]  # the chat's history: {"role": "user" | "assistant", "content": HTML}
Progress = Callable[..., object]  # gr.Progress, or a stand-in: progress(fraction, desc=...)


class Chat:
    """One QA object over `config.index_dir`, the first build (from `build_from` when there is no
    index yet) and the replies of the app's tabs."""

    def __init__(self, config: Config, build_from: Path | None = None):
        self.config = config
        self.qa = QA(config)
        self.first_build = FirstBuild(config, build_from, embedder=self.qa.embedder)
        self._write_lock = threading.Lock()

    def status(self) -> str:
        """One line of Markdown: what the index holds, or that it is being built, missing or damaged."""
        where = html.escape(str(self.config.index_dir))
        if self.first_build.running:
            corpus = html.escape(str(self.first_build.corpus))
            return (f"Building the index at `{where}` from `{corpus}` (first start); "
                    "questions asked now are answered as soon as it is ready…")
        if self.first_build.error:
            return f"Building the index failed: {html.escape(self.first_build.error)}"
        try:
            index = self.qa.index()
        except IndexMissingError as e:
            return f"{html.escape(str(e))}. Or upload articles in the **Articles** tab to start one."
        except QAError as e:  # damage or another format: the message names the part and the rebuild command
            return html.escape(str(e)) + "."
        return f"Index `{where}`: {index_holds(index.n_documents, index.n_chunks)}."

    def _wait_for_first_build(self) -> str | None:
        """Block until the first index build (if any) is done; a message if it never finishes."""
        if not self.first_build.wait(FIRST_BUILD_WAIT_S):
            return (f"The index is still being built from {self.first_build.corpus} after {FIRST_BUILD_WAIT_S} s; "
                    "try again later.")
        return None

    # -- Ask

    def add_question(self, question: str | None, history: Messages | None) -> tuple[Messages, str, str]:
        """The question echoed into the history at once; (history, "" for the box, the question)."""
        history = list(history or [])
        question = question or ""
        history.append({"role": "user", "content": shown_question(question)})
        return history, "", question

    def answer(self, history: Messages | None, question: str, k: float, retriever: str, threshold: float,
               since: str | None = None, until: str | None = None) -> tuple[Messages, str | None]:
        """The reply appended to the history, and the passages read as HTML (None: leave them as they are)."""
        history = list(history or [])
        passages_html = None
        reply = None
        if not (question or "").strip():
            reply = "Type a question about the indexed articles, for example: " + EXAMPLE_QUESTION
        reply = reply or self._wait_for_first_build()
        if reply is not None:
            history.append({"role": "assistant", "content": message(reply)})
            return history, passages_html
        try:
            dates = DateRange.parse(since, until)
            answer = self.qa.ask(question, k=int(k), retriever=retriever, threshold=float(threshold),
                                 since=dates.since, until=dates.until)
            scope = f"in articles {dates.describe()}" if dates else ""
            content = answer_html(answer, float(threshold), scope)
            passages_html = format_passages(answer.passages, "Passages read for the last question:")
        except QAError as e:
            content = message(str(e))
        except Exception as e:  # noqa: BLE001 - a reply, never a crash
            traceback.print_exc()
            content = message(f"Something went wrong answering this ({type(e).__name__}: {e}).")
        history.append({"role": "assistant", "content": content})
        return history, passages_html

    def ask_json(self, question: object, k: int | None = None, retriever: str | None = None,
                 threshold: float | None = None, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        """The object `qa ask --json` prints. A refused request (the question, k, the retriever, the
        threshold, the dates: the library checks them) raises QAError with the message to send back."""
        if not isinstance(question, str) or not question.strip():  # as `qa ask ""` (exit 1)
            raise BadInputError(empty_question())
        waited = self._wait_for_first_build()
        if waited is not None:
            raise QAError(waited)
        return self.qa.ask(question, k=k, retriever=retriever or None, threshold=threshold,
                           since=since or None, until=until or None).to_dict()

    def options_label(self, since: str | None, until: str | None) -> str:
        """The folded options' label: the date range when one is set, so a folded filter is never forgotten."""
        try:
            dates = DateRange.parse(since, until)
        except QAError:
            return f"{OPTIONS_LABEL} (the date is not a date: write YYYY-MM-DD)"
        return f"{OPTIONS_LABEL}: articles {dates.describe()}" if dates else OPTIONS_LABEL

    # -- Search

    def search(self, question: str, k: float, retriever: str, since: str | None = None,
               until: str | None = None) -> str:
        """The best passages for `question` as HTML, or a message."""
        if not (question or "").strip():
            return message("Type a question or keywords to list the passages that match best.")
        reply = self._wait_for_first_build()
        if reply is not None:
            return message(reply)
        try:
            dates = DateRange.parse(since, until)
            found = self.qa.retrieve(question, k=int(k), retriever=retriever, since=dates.since, until=dates.until)
        except QAError as e:
            return message(str(e))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            return message(f"Search failed ({type(e).__name__}: {e}).")
        scope = f", articles {dates.describe()}" if dates else ""
        heading = f"Top {count_noun(len(found.passages), 'passage')} ({retriever} retriever{scope}):"
        return format_passages(found.passages, " ".join(filter(None, (heading, undated_note(found.undated_left_out)))))

    # -- Articles

    def articles(self) -> tuple[list[list[str | int]], list[tuple[str, str]]]:
        """The Articles table's rows, one story after another (`qa.render.article_rows`), and the
        (label, doc_id) choices of articles to remove; empty while the index is built or unreadable."""
        listing = None
        if not self.first_build.running:
            with contextlib.suppress(QAError):
                listing = list_documents(self.config, self.qa.index())
        return article_rows(listing.stories if listing else ())

    def upload(self, paths: list[Path], progress: Progress) -> str:
        """Copy the files to `<index>/uploads/` (a stable source, so uploading a file again updates
        it) and ingest them; the reply. Two files of the same name are both kept; a file that gives
        no article is reported and leaves the uploads folder and the index as they were."""
        if not paths:
            return f"Choose one or more files first ({SUPPORTED_NAMES})."
        reply = self._wait_for_first_build()
        if reply is not None:
            return reply
        with self._write_lock:
            progress(0, desc="Reading files")
            try:
                staged = stage_uploads(paths, self.config)
            except QAError as e:
                return f"Error: {e}. {NOTHING_ADDED}"
            messages = [refused.message() for refused in staged.refused]
            if not staged.files:
                return "\n".join(messages + [NOTHING_ADDED])
            try:
                report = add_uploads(staged, self.config, embedder=self.qa.embedder, progress=True)
            except QAError as e:
                return "\n".join(messages + [f"Error: {e}", NOTHING_ADDED])
            except Exception as e:  # noqa: BLE001
                traceback.print_exc()
                return "\n".join(messages + [f"Error: unexpected {type(e).__name__}: {e}; the index is unchanged."])
            progress(1.0, desc="Done")
            return "\n".join(messages + upload_lines(report))

    def removal_prompt(self, doc_ids: list[str] | None) -> tuple[str | None, str]:
        """(the question to confirm before removing the chosen articles, as HTML with their whole
        headlines, ""), or (None, why nothing can be removed now)."""
        if self.first_build.running:
            return None, "The index is still being built; remove articles once it is ready."
        if not doc_ids:
            return None, SELECT_TO_REMOVE
        try:
            titles = {r.doc_id: r.article.title or "" for r in list_documents(self.config, self.qa.index()).records}
        except QAError as e:
            return None, f"Error: {e}"
        return removal_question([(doc_id, titles.get(doc_id, "")) for doc_id in doc_ids]), ""

    def remove(self, doc_ids: list[str] | None) -> str:
        """Take the chosen articles out of the index; the reply."""
        reply = self._wait_for_first_build()
        if reply is not None:
            return reply
        if not doc_ids:
            return SELECT_TO_REMOVE
        try:
            with self._write_lock:
                report = remove_documents(list(doc_ids), self.config)
        except QAError as e:
            return f"Error: {e}"
        return removed_line(report)
