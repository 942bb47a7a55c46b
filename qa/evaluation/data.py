"""Evaluation question files: reading both formats into `EvalQuestion`s, choosing articles, sampling.

Two input formats become one `EvalSet`:
  * the project's own JSON Lines gold set (eval/questions.jsonl, described in eval/README.md),
    asked against an existing index (the bundled questions are about corpus/);
  * SQuAD JSON, v1.1 or v2.0: every paragraph becomes a document (id `<title-slug>-<n>`) to be
    indexed, and every question is asked open-domain against all of them.

Every problem with a file is a one-line `BadInputError` naming the file and the fix.
"""

from __future__ import annotations

import collections
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from qa.config import DEFAULT_EVAL_FILE as DEFAULT_EVAL_FILE
from qa.config import EVAL_SEED
from qa.documents import ArticleMeta, Document
from qa.errors import BadInputError
from qa.ingest.read import slugify

SEED = EVAL_SEED
FORMAT_HINT = "see eval/README.md for the format"
T = TypeVar("T")


@dataclass(frozen=True)
class EvalQuestion:
    """One question. `answers` empty means the articles cannot answer it.

    `doc_ids` are the gold documents for retrieval (for SQuAD: the question's own paragraph,
    kept for unanswerable questions too, though retrieval is scored on answerable ones only).
    """

    qid: str
    question: str
    answers: tuple[str, ...]
    doc_ids: tuple[str, ...]
    tags: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class EvalSet:
    path: Path
    format: str  # "qa-eval" | "squad-v1.1" | "squad-v2.0"
    questions: list[EvalQuestion]
    documents: list[Document] | None = None  # SQuAD paragraphs to index; None: ask the given index
    articles: tuple[str, ...] = ()  # the SQuAD articles kept by --articles (all when empty)


def _str_list(value: object, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInputError(f"{where}: '{key}' must be a list of strings; {FORMAT_HINT}")
    return tuple(value)


def parse_question_record(record: object, where: str, default_id: str) -> EvalQuestion:
    """One object of the project's own format (see eval/README.md)."""
    if not isinstance(record, dict):
        raise BadInputError(f"{where}: expected a JSON object, got {type(record).__name__}; {FORMAT_HINT}")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise BadInputError(f"{where}: 'question' must be a non-empty string; {FORMAT_HINT}")
    answers = tuple(a for a in _str_list(record.get("answers"), where, "answers") if a.strip())
    doc_ids = _str_list(record.get("doc_ids"), where, "doc_ids")
    if answers and not doc_ids:
        raise BadInputError(f"{where}: an answerable question needs 'doc_ids' (its gold articles); {FORMAT_HINT}")
    qid = record.get("id", default_id)
    if not isinstance(qid, (str, int)):
        raise BadInputError(f"{where}: 'id' must be a string; {FORMAT_HINT}")
    return EvalQuestion(str(qid), question.strip(), answers, doc_ids, _str_list(record.get("tags"), where, "tags"))


def parse_question_lines(text: str, path: Path) -> list[EvalQuestion]:
    """The project's format: one JSON object per line; blank lines and `#` comment lines are skipped."""
    questions = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise BadInputError(
                f"{path}: line {lineno} is not valid JSON ({e.msg}); each line must be one question object, "
                f"{FORMAT_HINT}"
            ) from None
        questions.append(parse_question_record(record, f"{path}:{lineno}", f"q{lineno}"))
    return questions


def squad_documents_and_questions(data: object, path: Path) -> EvalSet:
    """SQuAD v1.1 / v2.0 JSON: one Document per paragraph (text = context, unchanged, so the gold
    offsets stay valid), one EvalQuestion per question with that paragraph as its gold document."""
    from qa.ingest.read import content_hash

    def bad(detail: str) -> BadInputError:
        return BadInputError(
            f"{path}: not a SQuAD file ({detail}); expected data[].title, data[].paragraphs[].context "
            f"and paragraphs[].qas[].question/answers, {FORMAT_HINT}"
        )

    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise bad("no 'data' list")
    documents: list[Document] = []
    questions: list[EvalQuestion] = []
    seen_ids: set[str] = set()
    impossible_seen = False
    for a_idx, article in enumerate(data["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise bad(f"data[{a_idx}] has no 'paragraphs' list")
        raw_title = str(article.get("title") or f"article-{a_idx}")
        title = raw_title.replace("_", " ")
        slug = slugify(raw_title)
        for p_idx, paragraph in enumerate(article["paragraphs"]):
            where = f"data[{a_idx}].paragraphs[{p_idx}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
                raise bad(f"{where} has no 'context' string")
            doc_id = f"{slug}-{p_idx}"
            context = paragraph["context"]
            documents.append(
                Document(
                    article=ArticleMeta(doc_id=doc_id, title=title),
                    text=context,
                    source=f"{Path(path).name}#{raw_title}/{p_idx}",  # the same whichever folder it is read from
                    content_hash=content_hash(context, title, None, None),
                )
            )
            for q_idx, qa in enumerate(paragraph.get("qas") or []):
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                    raise bad(f"{where}.qas[{q_idx}] has no 'question' string")
                impossible = bool(qa.get("is_impossible", False))
                impossible_seen |= impossible
                answers: list[str] = []
                if not impossible:
                    for ans in qa.get("answers") or []:
                        text = ans.get("text") if isinstance(ans, dict) else None
                        if not isinstance(text, str):
                            raise bad(f"{where}.qas[{q_idx}].answers has an entry without 'text'")
                        if text.strip() and text not in answers:
                            answers.append(text)
                qid = str(qa.get("id") or f"{doc_id}-q{q_idx}")
                if qid in seen_ids:
                    qid = f"{qid}-{doc_id}-{q_idx}"
                seen_ids.add(qid)
                questions.append(EvalQuestion(qid, qa["question"].strip(), tuple(answers), (doc_id,), (slug,)))
    if not documents:
        raise bad("no paragraphs")
    version = str(data.get("version", ""))
    fmt = "squad-v2.0" if version.startswith("v2") or impossible_seen else "squad-v1.1"
    return EvalSet(path, fmt, questions, documents)


def parse_eval_text(text: str, path: Path) -> EvalSet:
    """Detect the format: a JSON object with `data` is SQuAD; a JSON array or an object with
    `questions` holds the project's question objects; anything else is read as JSON Lines."""
    stripped = text.lstrip()
    whole = None
    if stripped[:1] in ("{", "[") and path.suffix != ".jsonl":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as e:
            if stripped[:1] == "[" or path.suffix == ".json":
                raise BadInputError(
                    f"{path}: malformed JSON on line {e.lineno}, column {e.colno} ({e.msg}); "
                    f"fix the file or give a SQuAD or JSON Lines question file, {FORMAT_HINT}"
                ) from None
    if isinstance(whole, dict) and "data" in whole:
        eval_set = squad_documents_and_questions(whole, path)
    elif isinstance(whole, list) or (isinstance(whole, dict) and isinstance(whole.get("questions"), list)):
        records = whole if isinstance(whole, list) else whole["questions"]
        questions = [parse_question_record(r, f"{path}: question {n}", f"q{n}") for n, r in enumerate(records, 1)]
        eval_set = EvalSet(path, "qa-eval", questions)
    elif isinstance(whole, dict):
        raise BadInputError(f"{path}: a JSON object without 'data' (SQuAD) or 'questions'; {FORMAT_HINT}")
    else:
        eval_set = EvalSet(path, "qa-eval", parse_question_lines(text, path))
    if not eval_set.questions:
        raise BadInputError(f"{path}: no questions found; {FORMAT_HINT}")
    ids = collections.Counter(q.qid for q in eval_set.questions)
    duplicates = [qid for qid, n in ids.items() if n > 1]
    if duplicates:
        raise BadInputError(f"{path}: duplicate question id {duplicates[0]!r}; give every question its own 'id'")
    return eval_set


def load_eval_file(path: Path) -> EvalSet:
    """Read a question file in either format; BadInputError names the file and the fix."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file; give a question file (default {DEFAULT_EVAL_FILE})") from None
    except IsADirectoryError:
        raise BadInputError(f"{path}: is a folder; give a question file (.jsonl, or SQuAD .json)") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError(f"{path}: not UTF-8 text; save it as UTF-8 JSON or JSON Lines") from None
    return parse_eval_text(text, path)


def select_articles(eval_set: EvalSet, titles: Sequence[str]) -> EvalSet:
    """Only the paragraphs and questions of the named SQuAD articles (titles as in the file)."""
    if eval_set.documents is None:
        raise BadInputError(f"{eval_set.path}: --articles applies to SQuAD files only")
    slugs = {slugify(t) for t in titles}
    known = {q.tags[0] for q in eval_set.questions if q.tags}
    unknown = sorted(slugs - known)
    if unknown:
        raise BadInputError(f"{eval_set.path}: no article {unknown[0]!r}; its articles are {', '.join(sorted(known))}")
    documents = [d for d in eval_set.documents if d.doc_id.rsplit("-", 1)[0] in slugs]
    questions = [q for q in eval_set.questions if q.tags and q.tags[0] in slugs]
    return EvalSet(eval_set.path, eval_set.format, questions, documents, tuple(sorted(titles)))


def sample_questions(questions: Sequence[T], limit: int | None, seed: int = SEED) -> list[T]:
    """`limit` questions (or query ids) drawn without replacement with a fixed seed, kept in file
    order; all when `limit` is None or not smaller than the set."""
    if limit is None or limit >= len(questions):
        return list(questions)
    if limit < 0:
        raise BadInputError(f"--limit must be a positive number, got {limit}")
    picked = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in picked]
