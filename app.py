"""A Gradio chat over the indexed news articles: `python app.py [--index index/] [--port 7860]`.

Wiring only: the replies come from `qa.chat.Chat` (over `qa.pipeline`, shown through `qa.render`);
the stylesheet and the scripts are `qa/static/`. No retrieval, answering, index writing, upload
handling or HTML building lives here.

`build_app(config)` returns the `gr.Blocks` (importable for tests); `launch(demo, ...)` starts it
with the app's stylesheet; `main()` is the command line. The endpoint `/ask` (see
`gradio_client.Client(...).predict(question, api_name="/ask")`) returns the same JSON object
as `qa ask --json`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files as package_files
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.events import api

from qa.chat import EXAMPLE_QUESTION, OPTIONS_LABEL, Chat, Messages, Progress
from qa.config import RETRIEVERS, Config
from qa.errors import QAError
from qa.ingest.uploads import UPLOAD_SUFFIXES
from qa.pipeline import index_exists

REPO = Path(__file__).resolve().parent
BUNDLED_CORPUS = REPO / "corpus"
STATIC = package_files("qa") / "static"
CSS = (STATIC / "app.css").read_text(encoding="utf-8")
SHOW_VERDICT_JS = (STATIC / "show_verdict.js").read_text(encoding="utf-8")
SHOW_QUESTION_JS = (STATIC / "show_question.js").read_text(encoding="utf-8")
EXAMPLES = [
    EXAMPLE_QUESTION,
    "Where did Stoltenberg and Pashinyan hold a news conference?",
]
QA_CONCURRENCY = 4  # questions (chat, search, /ask) answered at once
# How long `launch` lets the new server take to answer its first request on localhost: Gradio gives it
# one 3-second try and otherwise refuses to start; a loaded 2-core machine took longer.
LOCALHOST_WAIT_S = 120
ARTICLE_COLUMNS = ["doc_id", "title", "date", "url", "passages"]


class ChatApp:
    """`qa.chat.Chat`'s replies in the shapes Gradio wants: `gr.update()` for an output left as it
    is, `gr.Error` for a refused `/ask`, the uploaded files as paths (Gradio's staged copies
    deleted afterwards), the Articles table with its headers."""

    def __init__(self, config: Config, build_from: Path | None = None):
        self.chat = Chat(config, build_from)

    def answer(self, history: Messages | None, question: str, k: float, retriever: str, threshold: float,
               since: str | None = None, until: str | None = None) -> tuple[Messages, str | dict[str, Any]]:
        history, passages = self.chat.answer(history, question, k, retriever, threshold, since, until)
        return history, gr.update() if passages is None else passages

    def ask_json(self, question: str, k: int | None = None, retriever: str | None = None,
                 threshold: float | None = None, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        # A refused request is the caller's mistake: a clear message back, no traceback on the server.
        try:
            return self.chat.ask_json(question, k, retriever, threshold, since, until)
        except QAError as e:
            raise gr.Error(str(e), print_exception=False) from None

    def articles(self) -> tuple[dict[str, Any], dict[str, Any]]:
        rows, choices = self.chat.articles()
        return {"data": rows, "headers": ARTICLE_COLUMNS}, gr.update(choices=choices, value=[])

    def ask_to_remove(self, doc_ids: list[str] | None) -> tuple[dict[str, Any], str, str]:
        """Show the confirmation with the chosen headlines; nothing chosen: the reason instead."""
        prompt, why_not = self.chat.removal_prompt(doc_ids)
        return gr.update(visible=prompt is not None), prompt or "", why_not

    def upload(self, files: list[Any] | None, progress: Progress = gr.Progress(track_tqdm=True)) -> str:
        paths = list(dict.fromkeys(Path(f if isinstance(f, str) else getattr(f, "name", f)) for f in (files or [])))
        try:
            return self.chat.upload(paths, progress)
        finally:
            _delete_staged(paths)


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
    chat = app.chat
    # Staged uploads are deleted after each upload; this sweeps the ones never submitted (hourly).
    demo = gr.Blocks(title="News QA", delete_cache=(3600, 3600))
    with demo:
        # The first screen: a one-line title, the index status, the folded options, then the
        # question box at the top of the Ask tab: it and the Ask button fit a laptop and a phone
        # screen before and after an answer (tests/test_app_browser.py measures both).
        gr.Markdown("**News QA** · Ask questions about the indexed news articles; answers are copied from "
                    "the articles, with their sources.", elem_id="qa-title")
        status = gr.Markdown(chat.status(), elem_id="qa-status")
        timer = gr.Timer(1.0, active=chat.first_build.running)

        # The date range applies to Ask and Search: only articles dated inside it (undated ones are
        # left out, and the reply says how many). The label shows a range that is set.
        with gr.Accordion(OPTIONS_LABEL, open=False, elem_id="qa-options") as options:
            with gr.Row(equal_height=True, elem_id="qa-dates"):
                since = gr.DateTime(include_time=False, type="string", label="Articles dated from",
                                    elem_id="qa-since", min_width=120)
                until = gr.DateTime(include_time=False, type="string", label="to", elem_id="qa-until",
                                    min_width=120)
            with gr.Row():
                k = gr.Slider(1, config.max_top_k, value=config.top_k, step=1, label="Passages to read (k)")
                retriever = gr.Radio(list(RETRIEVERS), value=config.retriever, label="Retriever",
                                     info="dense: meaning · bm25: keywords · hybrid: both")
                threshold = gr.Slider(0.0, 1.0, value=chat.qa.reader.default_threshold, step=0.01,
                                      elem_id="qa-threshold", label="Abstention threshold",
                                      info="answer only when the confidence reaches this")

        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row(equal_height=True, elem_id="qa-ask-row"):
                    question = gr.Textbox(
                        placeholder="Ask a question, e.g. " + EXAMPLES[0], show_label=False,
                        elem_id="qa-question", scale=5, min_width=0, max_lines=4, submit_btn=False,
                    )
                    ask_btn = gr.Button("Ask", variant="primary", elem_id="qa-ask", scale=0, min_width=64)
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Chat", show_label=False, elem_id="qa-chat", height="min(560px, calc(100vh - 300px))",
                            latex_delimiters=[], buttons=["copy"], feedback_options=None, autoscroll=False,
                            placeholder="Answers appear here, the verdict first, with their sources.",
                        )
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
                    to_remove = gr.Dropdown(choices=[], multiselect=True, label="Articles to remove", scale=4,
                                            elem_id="qa-remove-choice")
                    remove_btn = gr.Button("Remove…", variant="stop", scale=1, elem_id="qa-remove")
                # Removing asks first: the chosen headlines, then Remove or Cancel.
                with gr.Column(visible=False, variant="panel", elem_id="qa-remove-confirm") as confirm:
                    confirm_html = gr.HTML(elem_id="qa-remove-question")
                    with gr.Row():
                        confirm_btn = gr.Button("Remove", variant="stop", elem_id="qa-remove-yes")
                        cancel_btn = gr.Button("Cancel", elem_id="qa-remove-no")
                remove_status = gr.Markdown(elem_id="qa-remove-status")

        # Chat: echo the question at once, then answer it.
        # Questions are answered a few at a time: retrieval and the models are read-only and the QA
        # object guards its index; torch splits the cores among them (`python -m bench` measures /ask).
        qa_events: dict[str, Any] = dict(concurrency_id="qa", concurrency_limit=QA_CONCURRENCY)
        for trigger in (question.submit, ask_btn.click):
            trigger(chat.add_question, [question, chatbot], [chatbot, question, asked], queue=False,
                    api_visibility="private").then(
                None, None, None, js=SHOW_QUESTION_JS, queue=False, api_visibility="private").then(
                app.answer, [chatbot, asked, k, retriever, threshold, since, until], [chatbot, read_html],
                api_visibility="private", **qa_events).then(
                None, None, None, js=SHOW_VERDICT_JS, queue=False, api_visibility="private")
        clear.click(lambda: ([], ""), None, [chatbot, asked], queue=False, api_visibility="private")

        for trigger in (search_q.submit, search_btn.click):
            trigger(chat.search, [search_q, k, retriever, since, until], search_html, api_visibility="private",
                    **qa_events)

        refresh: dict[str, Any] = dict(fn=app.articles, inputs=None, outputs=[table, to_remove], api_visibility="private")
        add_btn.click(app.upload, files, upload_status, api_visibility="private",
                      concurrency_id="write", concurrency_limit=1).then(
            lambda: None, None, files, api_visibility="private").then(**refresh).then(
            chat.status, None, status, api_visibility="private")
        remove_btn.click(app.ask_to_remove, to_remove, [confirm, confirm_html, remove_status], queue=False,
                         api_visibility="private")
        cancel_btn.click(lambda: (gr.Column(visible=False), ""), None, [confirm, remove_status], queue=False,
                         api_visibility="private")
        confirm_btn.click(lambda: gr.Column(visible=False), None, confirm, queue=False, api_visibility="private").then(
            chat.remove, to_remove, remove_status, api_visibility="private",
            concurrency_id="write", concurrency_limit=1).then(**refresh).then(
            chat.status, None, status, api_visibility="private")
        for field in (since, until):
            field.change(lambda a, b: gr.Accordion(label=chat.options_label(a, b)), [since, until], options,
                         queue=False, api_visibility="private")

        def tick() -> tuple[str, gr.Timer]:
            return chat.status(), gr.Timer(active=chat.first_build.running)

        timer.tick(tick, None, [status, timer], api_visibility="private").then(**refresh)
        demo.load(**refresh).then(chat.status, None, status, api_visibility="private")

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


@contextmanager
def _patient_localhost_check() -> Iterator[None]:
    """Gradio's launch checks that its server answers on localhost with a single request of 3 s
    and otherwise refuses to start ("a shareable link must be created"): the same check, retried
    for up to LOCALHOST_WAIT_S."""
    import httpx
    from gradio import networking

    quick = networking.url_ok

    def patient(url: str) -> bool:
        deadline = time.monotonic() + LOCALHOST_WAIT_S
        while time.monotonic() < deadline:
            try:
                if httpx.head(url, timeout=30, verify=False).status_code in (200, 401, 301, 302, 303, 307, 308):
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        return quick(url)

    networking.url_ok = patient  # Gradio looks it up on its module at launch
    try:
        yield
    finally:
        networking.url_ok = quick


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, **kwargs: Any) -> tuple[Any, str, str]:
    """Start `demo` with the app's stylesheet and the upload size limit of its config
    (`Config.max_file_bytes`, enforced by the server while the file arrives); returns what
    `Blocks.launch` returns."""
    kwargs.setdefault("max_file_size", demo.qa_app.chat.config.max_file_bytes)  # type: ignore[attr-defined]  # set by build_app
    with _patient_localhost_check():
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
