"""The `qa` command: a thin layer that parses arguments, calls the library and formats results."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

from qa.config import DEFAULT_EVAL_FILE, EVAL_SEED, RETRIEVERS, Config
from qa.documents import Answer, ArticleMeta, Passage, count_noun
from qa.errors import BadInputError, QAError, empty_question, rebuild_hint
from qa.ingest.formats import SUPPORTED_NAMES
from qa.sources import (
    CLOSEST_HEADING,
    CLOSEST_SHOWN,
    FIELD_MISSING,
    NO_ANSWER,
    POSSIBLE_ANSWER,
    ArticleCard,
    below_threshold,
    byline,
    citation_cards,
    confidence_label,
    day_words,
    field_origin,
    passage_cards,
    publisher_name,
    quoted,
    shorten_headline,
    undated_note,
)

LIST_HEADLINE_CHARS = 100  # `qa list`: a longer headline is cut at a word (`shorten_headline`)

# Heavy libraries (torch, the model, FAISS, spaCy, Gradio) are imported inside the commands that
# use them, so `qa list`, `qa remove` and `qa --help` start in a fraction of a second.


def _config(args: argparse.Namespace) -> Config:
    changes: dict[str, object] = {"index_dir": Path(args.index)}
    if getattr(args, "retriever", None):
        changes["retriever"] = args.retriever
    if getattr(args, "all_copies", False):
        changes["distinct_stories"] = False
    return Config().with_(**changes)


def _mark(text: str, marks: tuple[tuple[int, int], ...]) -> str:
    """`text` with each (start, end) span wrapped: reverse video on a terminal, [[...]] otherwise."""
    on, off = ("\033[1;7m", "\033[0m") if sys.stdout.isatty() else ("[[", "]]")
    out, at = [], 0
    for start, end in marks:
        out += [text[at:start], on, text[start:end], off]
        at = end
    return "".join(out) + text[at:]


def _passage_line(p: Passage) -> str:
    """Headline | publisher | date | link  (doc id)."""
    a = p.article
    parts = [a.title] + [part for part in (a.publisher, a.date, a.url) if part]
    return " | ".join(parts) + f"  (doc {p.doc_id})"


def _indent(text: str, prefix: str = "    ") -> str:
    return textwrap.fill(" ".join(text.split()), width=100, initial_indent=prefix, subsequent_indent=prefix)


def _copies_line(copies: tuple[ArticleMeta, ...], prefix: str = "    ") -> list[str]:
    """"also published by Reuters (1 March 2024, https://...); ...": a story's other copies."""
    if not copies:
        return []
    shown = [", ".join(p for p in (day_words(c.date), c.url) if p) for c in copies]
    names = [f"{publisher_name(c.publisher, c.url) or c.doc_id}" + (f" ({s})" if s else "") for c, s in zip(copies, shown)]
    return [textwrap.fill("also published by " + "; ".join(names), width=100, initial_indent=prefix,
                          subsequent_indent=prefix + "  ", break_on_hyphens=False, break_long_words=False)]


def _card_block(card: ArticleCard) -> list[str]:
    """One article: [n] headline, then publisher · date · link, the story's other copies, then
    its passages, answers marked."""
    a = card.article
    meta = [m for m in (a.publisher, a.date, a.url) if m]
    lines = [f"[{card.number}] {a.title}", f"    {' · '.join(meta + [f'doc {a.doc_id}'])}"]
    lines += _copies_line(card.copies)
    for n, excerpt in enumerate(card.excerpts):
        lines += ([""] if n else []) + [_indent(_mark(excerpt.text, excerpt.marks), "      ")]
    return lines


def answer_text(answer: Answer, threshold: float | None = None) -> str:
    """The verdict first, in one of three states: the answer with its citation numbers and its
    calibrated band in words ("high confidence (0.82)"); a possible answer, "check the source"
    before its text and its confidence below `threshold` (no band word); or that the articles
    don't say, with the closest passages. A note on undated articles a date range left out, then
    one block per article."""
    lines = [f"Q: {answer.question}"]
    note = undated_note(answer.undated_left_out)
    notes = [f"   {note}"] if note else []
    if answer.answer_type == "field" and answer.article_field and answer.citations:
        # A question about the article itself: its own field, or that it lacks one.
        if answer.answer is None:
            lines += [f"A: {FIELD_MISSING[answer.article_field]} [1]", *notes, ""]
        else:
            lines += [f"A: {answer.answer} [1]", f"   {field_origin(answer.article_field)}", *notes, ""]
        lines += _card_block(citation_cards(answer.citations)[0])
        return "\n".join(lines)
    if answer.answer is None or not answer.citations:
        possible = answer.candidate
        if possible is not None:
            shown = quoted(possible.text) if possible.answer_type == "sentence" else " ".join(possible.text.split())
            why = below_threshold(possible.confidence, threshold) if threshold is not None else f"confidence {possible.confidence:.2f}"
            lines += [f"A: {POSSIBLE_ANSWER}: {shown} [1]", f"   {why}", *notes, ""]
            lines += _card_block(citation_cards([possible.citation])[0])
            return "\n".join(lines)
        lines.append(f"A: {NO_ANSWER}")
        lines.append(f"   (the best candidate's confidence was {answer.confidence:.2f})")
        lines += notes
        cards = passage_cards(answer.passages[:CLOSEST_SHOWN])
        if cards:
            lines.append(f"{CLOSEST_HEADING}:")
            for card in cards:
                lines += ["", *_card_block(card)]  # a blank line between articles
        return "\n".join(lines)
    cards = citation_cards(answer.citations)
    refs = " ".join(f"[{c.number}]" for c in cards)
    text = " ".join(answer.answer.split())
    shown = quoted(text) if answer.answer_type == "sentence" else text
    lines += [f"A: {shown} {refs}", f"   {confidence_label(answer.confidence, answer.band)}"]
    for n, other in enumerate(answer.alternatives):
        label = "Other articles:" if n == 0 else " " * len("Other articles:")
        a = other.citation.passage.article
        lines.append(f"   {label} {' '.join(other.text.split())} — {byline(a.publisher, a.url, a.date)}"
                     f" ({other.confidence:.2f}; {a.title})")
    lines += notes
    lines.append("")
    for n, card in enumerate(cards):
        lines += ([""] if n else []) + _card_block(card)
    return "\n".join(lines)


def cmd_ingest(args: argparse.Namespace) -> int:
    from qa.pipeline import RaySettings, ingest_paths, upload_dir

    config = _config(args)
    paths = [Path(p) for p in args.paths]
    ray = None if args.ray is None else RaySettings(address=args.ray or None)
    report = ingest_paths(paths, config, rebuild=args.rebuild, progress=True, force=args.force, ray=ray)
    for skipped in report.skipped:
        print(skipped.message(), file=sys.stderr)
    print(report.summary() + f" ({config.index_dir})")
    if report.uploads_kept:
        print(f"The rebuild kept {count_noun(report.uploads_kept, 'uploaded article')} from "
              f"{upload_dir(config)} (`qa remove DOC_ID` takes one out and deletes its copy there).")
    return 1 if report.skipped else 0


def cmd_search(args: argparse.Namespace) -> int:
    from qa.pipeline import QA

    config = _config(args)
    qa = QA(config)
    result = qa.retrieve(args.question, k=args.k, since=args.since, until=args.until)
    passages, note = result.passages, undated_note(result.undated_left_out)
    if args.json:
        print(json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=1))
        if note:
            print(note, file=sys.stderr)
        return 0
    if not passages:
        dated = args.since or args.until
        print("no passages found" + (" in articles dated in that range (undated articles are left out)" if dated else ""))
        if note:
            print(note)
        return 0
    # A fused score (0.033) means nothing to a person: say where each retriever ranked the passage.
    kind = config.retriever
    parts = ("dense", "bm25") if kind == "hybrid" else (kind,)
    depth = min(config.hybrid_depth, config.max_top_k)
    ranks = {part: {p.chunk.chunk_id: n for n, p in enumerate(
        qa.search(args.question, k=max(depth, args.k), retriever=part, since=args.since, until=args.until), start=1)}
        for part in parts}
    shown: set[str] = set()
    for rank, p in enumerate(passages, start=1):
        found = [f"{part} #{ranks[part][p.chunk.chunk_id]}" for part in parts if p.chunk.chunk_id in ranks[part]]
        missed = [part for part in parts if p.chunk.chunk_id not in ranks[part]]
        how = ", ".join(found) + (f" (not in {' or '.join(missed)}'s top {depth})" if missed and found else "")
        print(f"{rank}. {_passage_line(p)}")
        print(f"    found by {how or kind}")
        for line in _copies_line(p.copies if p.doc_id not in shown else (), "    "):
            print(line)
        shown.add(p.doc_id)
        print(_indent(p.text))
        print()
    if note:
        print(note)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.pipeline import QA

    if args.question != "-" and not args.question.strip():
        # Said before any model or index is loaded.
        print(f"error: {empty_question('qa ask ')}", file=sys.stderr)
        return 1
    config = _config(args)
    qa = QA(config)
    questions = (line.strip() for line in sys.stdin) if args.question == "-" else iter([args.question])
    asked = 0
    for question in questions:
        if args.question == "-" and not question:
            continue
        answer = qa.ask(question, k=args.k, threshold=args.threshold, since=args.since,
                        until=args.until)
        asked += 1
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        else:
            threshold = qa.reader.default_threshold if args.threshold is None else args.threshold
            print(answer_text(answer, threshold) + "\n", flush=True)
    if asked == 0:
        print("error: no question given", file=sys.stderr)
        return 1
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from qa.pipeline import list_documents

    config = _config(args)
    listed = list_documents(config)
    if args.json:
        print(json.dumps([{"doc_id": r.doc_id, "title": r.article.title, "source": r.source, "url": r.article.url,
                           "date": r.article.date, "publisher": r.article.publisher, "story": r.story, "content_hash": r.content_hash,
                           "chunks": r.n_chunks} for r in listed.records],
                         ensure_ascii=False, indent=1))
        return 0
    # One entry per story; the other copies under the first, marked "=".
    for copies in listed.stories:
        for n, r in enumerate(copies):
            lead = "" if n == 0 else "  = "
            a = r.article
            print(f"{lead}{r.doc_id}\t{count_noun(r.n_chunks, 'chunk')}\t{a.date or '-'}\t"
                  f"{publisher_name(a.publisher, a.url) or '-'}\t{shorten_headline(a.title or '', LIST_HEADLINE_CHARS)}")
    n_stories = len(listed.stories)
    print(f"{n_stories:,} {'story' if n_stories == 1 else 'stories'}, {count_noun(len(listed.records), 'document')}, "
          f"{count_noun(listed.n_chunks, 'chunk')} ({config.index_dir}, {listed.version})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from qa.pipeline import check_index

    config = _config(args)
    report = check_index(config)
    if report.problems:
        way_out = ("" if report.catalog_damaged else "`qa rollback` may restore an undamaged state, or ") + \
            rebuild_hint(config.index_dir)
        if len(report.problems) == 1:  # one problem, one line
            print(f"error: {config.index_dir} is damaged: {report.problems[0]}; {way_out}", file=sys.stderr)
            return 1
        for problem in report.problems:
            print(f"damaged: {problem}", file=sys.stderr)
        print(f"error: {config.index_dir} is damaged ({len(report.problems)} problems above); {way_out}", file=sys.stderr)
        return 1
    print(f"ok: {report.segments} segments, {report.files} files, {report.bytes:,} bytes verified "
          f"(live {report.live}; {config.index_dir})")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from qa.pipeline import compact_index

    config = _config(args)
    print(compact_index(config) + f" ({config.index_dir})")
    return 0


def _plural_summary(summary: str) -> str:
    """A state's summary as written by older versions ("+1 documents") in the singular where it is one."""
    return re.sub(r"\b1 (document|chunk|segment)s\b", r"1 \1", summary)


def cmd_versions(args: argparse.Namespace) -> int:
    from qa.pipeline import index_versions

    config = _config(args)
    live, versions = index_versions(config)
    for v in versions:
        mark = "*" if v.name == live else " "
        print(f"{mark} {v.name}  {v.created}  {v.action:<8}  {count_noun(v.n_documents, 'document')}, "
              f"{count_noun(v.n_chunks, 'chunk')}, {count_noun(len(v.segments), 'segment')}  {_plural_summary(v.summary)}")
    if live is None and versions:
        print(f"error: {config.index_dir}: the entry naming the live state is damaged (`qa check` names it); "
              "`qa rollback VERSION` makes one of these states live again", file=sys.stderr)
        return 1
    print(f"live: {live} ({config.index_dir}); `qa rollback VERSION` makes a kept state live again")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from qa.pipeline import rollback_index

    config = _config(args)
    print(rollback_index(config, args.version) + f" ({config.index_dir})")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from qa.pipeline import remove_documents

    config = _config(args)
    report = remove_documents(args.doc_ids, config)
    print(report.summary() + f" ({config.index_dir})")
    return 0


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `qa eval` (all but --index)."""
    parser.add_argument(
        "file",
        nargs="?",
        help=f"question file: the project's JSON Lines format or SQuAD v1.1/v2.0 JSON (default {DEFAULT_EVAL_FILE}); "
        "or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv): its corpus is indexed and its queries "
        "searched with every retriever, scored on retrieval (nDCG@10, R@k, MRR@10)",
    )
    parser.add_argument("--split", metavar="NAME", help="BEIR folders: score the judgments in qrels/NAME.tsv (default test)")
    parser.add_argument("--qrels", metavar="FILE", help="TREC qrels (qid 0 docid relevance) or a BEIR qrels .tsv, "
                        "to score the --run against")
    parser.add_argument("--run", metavar="FILE", help="a TREC run (qid Q0 docid rank score tag) to score as it is, "
                        "against --qrels FILE or a BEIR folder's qrels; nothing is indexed")
    parser.add_argument(
        "--retriever",
        choices=RETRIEVERS,
        help=f"retriever the answers use (default {Config().retriever}); retrieval metrics always cover all three",
    )
    parser.add_argument("-k", type=int, help=f"passages the reader reads (default {Config().top_k})")
    parser.add_argument(
        "--threshold", type=float, help="abstain below this confidence (default: the threshold fitted with the reader's calibrator)"
    )
    parser.add_argument("--articles", nargs="+", metavar="TITLE", help="SQuAD files: only these articles' paragraphs and questions")
    parser.add_argument("--reader", metavar="DIR", help="a reader folder to evaluate (default: the shipped qa/reader_model)")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate N questions sampled with a fixed seed")
    parser.add_argument("--seed", type=int, default=EVAL_SEED, help=f"seed for --limit (default {EVAL_SEED})")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    parser.add_argument("--report", metavar="DIR", help="write report.md, results.json and PNG plots into DIR")
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help="where indexes of SQuAD files and BEIR corpora are cached by file hash (default $QA_EVAL_CACHE or "
        "~/.cache/news-qa/eval); "
        "--index applies to the project's own question files",
    )


def run_eval_command(args: argparse.Namespace, config: Config) -> int:
    """`qa eval`: print the table (or JSON), write the report if asked; 0 on success."""
    from qa.evaluation.data import load_eval_file, select_articles
    from qa.evaluation.reports import format_table
    from qa.evaluation.runner import evaluate
    from qa.pipeline import checked_k

    if args.run or args.qrels or args.split or (args.file and Path(args.file).is_dir()):
        return run_collection_eval(args, config)
    eval_set = load_eval_file(Path(args.file or DEFAULT_EVAL_FILE))
    if args.articles:
        eval_set = select_articles(eval_set, args.articles)
    if args.k is not None:
        config = config.with_(top_k=checked_k(args.k, config))
    _check_limit(args.limit)
    if getattr(args, "reader", None):
        config = config.with_(reader_model_dir=Path(args.reader))
    summary = evaluate(
        eval_set,
        config,
        limit=args.limit,
        seed=args.seed,
        threshold=args.threshold,
        cache_dir=Path(args.cache) if args.cache else None,
        progress=sys.stderr.isatty() and not args.json,
    )
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
    else:
        print(format_table(summary))
    _write_report(summary, args)
    return 0


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise BadInputError(f"--limit must be at least 1, got {limit}")


def _write_report(summary: dict[str, Any], args: argparse.Namespace) -> None:
    """`--report DIR`: report.md, results.json and the plots, named on stderr when stdout is JSON."""
    from qa.evaluation.reports import write_report

    if args.report:
        paths = write_report(summary, Path(args.report))
        print(f"report written: {', '.join(str(p) for p in paths)}", file=sys.stderr if args.json else sys.stdout)


# Options that only mean something when the reader answers questions.
_ANSWER_OPTIONS = (("retriever", "--retriever"), ("k", "-k"), ("threshold", "--threshold"), ("articles", "--articles"),
                   ("reader", "--reader"))


def run_collection_eval(args: argparse.Namespace, config: Config) -> int:
    """`qa eval FOLDER` (a BEIR folder) or `qa eval --qrels FILE --run FILE`: retrieval only."""
    from qa.evaluation.beir import load_collection
    from qa.evaluation.reports import format_collection_table
    from qa.evaluation.runner import evaluate_collection

    given = [flag for name, flag in _ANSWER_OPTIONS if getattr(args, name, None) is not None]
    if given:
        raise BadInputError(f"{given[0]} applies to question files: a BEIR folder or a TREC run is scored on "
                            "retrieval only (every retriever, no answers)")
    _check_limit(args.limit)
    collection = load_collection(
        Path(args.file) if args.file else None, args.split,
        Path(args.qrels) if args.qrels else None, Path(args.run) if args.run else None,
    )
    for warning in collection.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    summary = evaluate_collection(
        collection, config, limit=args.limit, seed=args.seed, cache_dir=Path(args.cache) if args.cache else None,
        progress=sys.stderr.isatty() and not args.json,
    )
    print(json.dumps(summary, ensure_ascii=False, indent=1) if args.json else format_collection_table(summary))
    _write_report(summary, args)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    return run_eval_command(args, _config(args))


def _iso_day(text: str) -> date:
    from qa.dates import iso_day

    try:
        return iso_day(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description="Ask questions about your news articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_index(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--index", default=str(Config().index_dir), help="index folder (default: index/)")
        return p

    def with_dates(p: argparse.ArgumentParser) -> None:
        p.add_argument("--since", type=_iso_day, metavar="YYYY-MM-DD",
                       help="only articles dated on or after this day (undated articles are left out)")
        p.add_argument("--until", type=_iso_day, metavar="YYYY-MM-DD",
                       help="only articles dated on or before this day (undated articles are left out)")

    def with_copies(p: argparse.ArgumentParser) -> None:
        p.add_argument("--all-copies", action="store_true",
                       help="read every copy of a story (by default only the best-ranked copy's passages are read)")

    p = with_index(sub.add_parser("ingest", help="add or update articles (files or folders)"))
    p.add_argument("paths", nargs="+", help=f"{SUPPORTED_NAMES} files, or folders of them")
    p.add_argument("--rebuild", action="store_true", help="start a fresh index from these paths")
    p.add_argument("--force", action="store_true", help="let --rebuild drop most of the indexed documents")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="read, clean, chunk and embed with Ray Data (pip install '.[ray]'): on the cluster at "
                   "ADDRESS (e.g. ray://head:10001 or auto), or on a local Ray instance when omitted")
    p.set_defaults(func=cmd_ingest)

    p = with_index(sub.add_parser("search", help="show the passages that best match a question"))
    p.add_argument("question")
    p.add_argument("-k", type=int, default=Config().top_k, help="number of passages")
    p.add_argument("--retriever", choices=RETRIEVERS, help=f"default: {Config().retriever}")
    p.add_argument("--json", action="store_true", help="print a JSON array of hits")
    with_dates(p)
    with_copies(p)
    p.set_defaults(func=cmd_search)

    p = with_index(sub.add_parser("ask", help="answer a question with a span from the articles"))
    p.add_argument("question", help="the question, or - to read one question per line from stdin")
    p.add_argument("-k", type=int, default=Config().top_k, help="number of passages to read")
    p.add_argument("--retriever", choices=RETRIEVERS, help=f"default: {Config().retriever}")
    p.add_argument("--threshold", type=float, help="abstain below this confidence")
    p.add_argument("--json", action="store_true", help="print one JSON object per question")
    with_dates(p)
    with_copies(p)
    p.set_defaults(func=cmd_ask)

    p = with_index(sub.add_parser("list", help="list the indexed documents"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = with_index(sub.add_parser("remove", help="remove documents by id (see `qa list`)"))
    p.add_argument("doc_ids", nargs="+", metavar="DOC_ID")
    p.set_defaults(func=cmd_remove)

    p = with_index(sub.add_parser("check", help="verify every byte of the index against its checksums"))
    p.set_defaults(func=cmd_check)

    p = with_index(sub.add_parser("compact", help="merge the index's segments into one, dropping deleted documents"))
    p.set_defaults(func=cmd_compact)

    p = with_index(sub.add_parser("versions", help="list the kept states of the index (* = live)"))
    p.set_defaults(func=cmd_versions)

    p = with_index(sub.add_parser("rollback", help="make a kept earlier state live again"))
    p.add_argument("version", nargs="?", help="a state from `qa versions` (default: the one before the live one)")
    p.set_defaults(func=cmd_rollback)

    p = with_index(sub.add_parser("eval", help="measure retrieval and answers on a question set, or retrieval on a "
                                               "BEIR folder or a TREC run"))
    add_eval_arguments(p)
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except QAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a last resort: one line, not a traceback
        if os.environ.get("QA_DEBUG"):
            raise
        print(f"error: unexpected {type(e).__name__}: {e} (set QA_DEBUG=1 for details)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # python -m qa.cli
    sys.exit(main())
