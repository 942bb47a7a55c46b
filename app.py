"""A Gradio chat over the indexed news articles: `python app.py [--index index/] [--port 7860]`.

Wiring only: the handlers call `qa.pipeline` (`QA.ask`, `QA.search`, `ingest_paths`, the uploads,
`list_documents`, `remove_documents`) and show the results through `qa.render`; the stylesheet and
the scripts are `qa/static/`. No retrieval, answering, index writing or HTML building lives here.

`build_app(config)` returns the `gr.Blocks` (importable for tests); `launch(demo, ...)` starts it
with the app's stylesheet; `main()` is the command line. The endpoint `/ask` (see
`gradio_client.Client(...).predict(question, api_name="/ask")`) returns the same JSON object
as `qa ask --json`.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import sys
import threading
import traceback
from collections.abc import Callable
from importlib.resources import files as package_files
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.events import api

from qa.config import RETRIEVERS, Config
from qa.dates import DateRange
from qa.errors import IndexMissingError, QAError
from qa.pipeline import (
    QA,
    FirstBuild,
    add_uploads,
    index_exists,
    list_documents,
    remove_documents,
    stage_uploads,
)
from qa.render import (
    article_rows,
    format_answer,
    format_passages,
    index_holds,
    message,
    removed_line,
    shown_question,
    upload_lines,
)
from qa.uploads import UPLOAD_SUFFIXES

REPO = Path(__file__).resolve().parent
BUNDLED_CORPUS = REPO / "corpus"
STATIC = package_files("qa") / "static"
CSS = (STATIC / "app.css").read_text(encoding="utf-8")
SHOW_VERDICT_JS = (STATIC / "show_verdict.js").read_text(encoding="utf-8")
SHOW_QUESTION_JS = (STATIC / "show_question.js").read_text(encoding="utf-8")
EXAMPLES = [
    "Who was the first NATO secretary general to visit Armenia?",
    "Where did Stoltenberg and Pashinyan hold a news conference?",
]
FIRST_BUILD_WAIT_S = 900  # how long a question waits for the first index build
QA_CONCURRENCY = 4  # questions (chat, search, /ask) answered at once
ARTICLE_COLUMNS = ["doc_id", "title", "date", "url", "passages"]
NOTHING_ADDED = "Nothing was added; the index is unchanged."

Messages = list[dict[str, str]]  # the chat's history: {"role": "user" | "assistant", "content": HTML}
Progress = Callable[..., object]  # gr.Progress, or a stand-in in tests


class ChatApp:
    """Holds the QA object and the index build status; every handler catches errors into messages."""

    def __init__(self, config: Config, build_from: Path | None = None):
        self.config = config
        self.qa = QA(config)
        self.first_build = FirstBuild(config, build_from, embedder=self.qa.embedder)
        self._write_lock = threading.Lock()

    def status(self) -> str:
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

    # -- chat

    def add_question(self, question: str | None, history: Messages | None) -> tuple[Messages, str, str]:
        history = list(history or [])
        question = question or ""
        history.append({"role": "user", "content": shown_question(question)})
        return history, "", question

    def answer(self, history: Messages | None, question: str, k: float, retriever: str, threshold: float,
               since: str | None = None, until: str | None = None) -> tuple[Messages, str | dict[str, Any]]:
        history = list(history or [])
        passages_html: str | dict[str, Any] = gr.update()
        reply = None
        if not (question or "").strip():
            reply = "Type a question about the indexed articles, for example: " + EXAMPLES[0]
        reply = reply or self._wait_for_first_build()
        if reply is not None:
            history.append({"role": "assistant", "content": message(reply)})
            return history, passages_html
        try:
            dates = DateRange.parse(since, until)
            answer = self.qa.ask(question, k=int(k), retriever=retriever, threshold=float(threshold),
                                 since=dates.since, until=dates.until)
            scope = f"in articles {dates.describe()}" if dates else ""
            content = format_answer(answer, float(threshold), scope)
            passages_html = format_passages(answer.passages, "Passages read for the last question:")
        except QAError as e:
            content = message(str(e))
        except Exception as e:  # noqa: BLE001 - a reply, never a crash
            traceback.print_exc()
            content = message(f"Something went wrong answering this ({type(e).__name__}: {e}).")
        history.append({"role": "assistant", "content": content})
        return history, passages_html

    # -- API

    def ask_json(self, question: str, k: int | None = None, retriever: str | None = None,
                 threshold: float | None = None, since: str | None = None, until: str | None = None) -> dict[str, Any]:
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
            return message("Type a question or keywords to list the passages that match best.")
        reply = self._wait_for_first_build()
        if reply is not None:
            return message(reply)
        try:
            dates = DateRange.parse(since, until)
            passages = self.qa.search(question, k=int(k), retriever=retriever, since=dates.since, until=dates.until)
        except QAError as e:
            return message(str(e))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            return message(f"Search failed ({type(e).__name__}: {e}).")
        n = len(passages)
        scope = f", articles {dates.describe()}" if dates else ""
        return format_passages(passages, f"Top {n} passage{'s' if n != 1 else ''} ({retriever} retriever{scope}):")

    # -- articles

    def articles(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The Articles table, one story after another, a copy's headline marked "=" (the same story
        as the row above), and the choices of articles to remove."""
        listing = None
        if not self.first_build.running:
            with contextlib.suppress(QAError):
                listing = list_documents(self.config, self.qa.index())
        rows, choices = article_rows(listing.stories if listing else ())
        table = {"data": rows, "headers": ARTICLE_COLUMNS}
        return table, gr.update(choices=choices, value=[])

    def upload(self, files: list[Any] | None, progress: Progress = gr.Progress(track_tqdm=True)) -> str:
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

    def _ingest_uploads(self, paths: list[Path], progress: Progress) -> str:
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
        return removed_line(report)


def _no_empty_temp_files(files: gr.File) -> None:
    """gr.File (type "filepath") creates an empty temp file in Gradio's cache for every file it
    hands over and never uses it: hand over the staged path alone (the type check kept)."""
    from gradio.data_classes import FileData
    from gradio.utils import NamedString
    from gradio_client import utils as client_utils

    def process_single_file(f: FileData) -> NamedString:
        if files.file_types and not client_utils.is_valid_file(f.path, files.file_types):
            raise gr.Error(f"Invalid file type; upload one of {', '.join(UPLOAD_SUFFIXES)}", print_exception=False)
        return NamedString(f.path)  # type: ignore[no-untyped-call]  # gradio's NamedString.__init__ is unannotated

    files._process_single_file = process_single_file  # type: ignore[method-assign]  # replaces one Gradio method on this instance


def _pad_api_inputs(demo: gr.Blocks, api_name: str) -> None:
    """A raw call of endpoint `api_name` with fewer inputs than it lists gets the defaults (None)
    for the rest, as gradio_client does, instead of a server traceback; a missing question is then
    refused with the usual message."""
    validate = demo.validate_inputs

    def validate_inputs(block_fn: Any, inputs: list[Any]) -> Any:
        if getattr(block_fn, "api_name", None) == api_name and len(inputs) < len(block_fn.inputs):
            inputs.extend([None] * (len(block_fn.inputs) - len(inputs)))
        return validate(block_fn, inputs)

    demo.validate_inputs = validate_inputs  # type: ignore[method-assign]  # wraps one Gradio method on this instance


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
    demo = gr.Blocks(title="News QA", delete_cache=(3600, 3600))
    with demo:
        gr.Markdown("## News QA\nAsk questions about the indexed news articles. "
                    "Answers are copied from the articles, with their sources.")
        status = gr.Markdown(app.status(), elem_id="qa-status")
        timer = gr.Timer(1.0, active=app.first_build.running)

        with gr.Accordion("Settings", open=False), gr.Row():
            k = gr.Slider(1, config.max_top_k, value=config.top_k, step=1, label="Passages to read (k)")
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
                gr.Markdown("Add articles: " + ", ".join(UPLOAD_SUFFIXES) + " (the formats of `qa ingest`). "
                            "Uploading a file with the same name again updates it.")
                files = gr.File(file_count="multiple", file_types=UPLOAD_SUFFIXES, label="Articles to add",
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
        qa_events: dict[str, Any] = dict(concurrency_id="qa", concurrency_limit=QA_CONCURRENCY)
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

        refresh: dict[str, Any] = dict(fn=app.articles, inputs=None, outputs=[table, to_remove], api_visibility="private")
        add_btn.click(app.upload, files, upload_status, api_visibility="private",
                      concurrency_id="write", concurrency_limit=1).then(
            lambda: None, None, files, api_visibility="private").then(**refresh).then(
            app.status, None, status, api_visibility="private")
        remove_btn.click(app.remove, to_remove, remove_status, api_visibility="private",
                         concurrency_id="write", concurrency_limit=1).then(**refresh).then(
            app.status, None, status, api_visibility="private")

        def tick() -> tuple[str, gr.Timer]:
            return app.status(), gr.Timer(active=app.first_build.running)

        timer.tick(tick, None, [status, timer], api_visibility="private").then(**refresh)
        demo.load(**refresh).then(app.status, None, status, api_visibility="private")

        # The programmatic endpoint: the same JSON object as `qa ask --json`.
        def ask(question: str, k: int | None = None, retriever: str | None = None,
                threshold: float | None = None, since: str | None = None, until: str | None = None) -> dict[str, Any]:
            """Answer `question` from the indexed articles; returns the object `qa ask --json` prints.
            `since` / `until` (YYYY-MM-DD, inclusive) keep only articles dated in that range."""
            return app.ask_json(question, k, retriever, threshold, since, until)

        api(ask, api_name="ask", **qa_events)
        _pad_api_inputs(demo, "ask")
    demo.qa_app = app  # type: ignore[attr-defined]  # for tests and embedding; gr.Blocks has no slot for it
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, **kwargs: Any) -> tuple[Any, str, str]:
    """Start `demo` with the app's stylesheet and the upload size limit of its config
    (`Config.max_file_bytes`, enforced by the server while the file arrives); returns what
    `Blocks.launch` returns."""
    kwargs.setdefault("max_file_size", demo.qa_app.config.max_file_bytes)  # type: ignore[attr-defined]  # set by build_app
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
    if not index_exists(config) and not corpus.exists():
        print(f"error: no index at {config.index_dir} and no articles at {corpus} to build one from", file=sys.stderr)
        return 1
    demo = build_app(config, build_from=corpus)
    print(f"News QA on http://{args.host}:{args.port} (index {config.index_dir})", flush=True)
    launch(demo, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
