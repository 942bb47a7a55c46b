"""The one sentence splitter (spaCy's rule-based sentencizer), with exact character offsets:
chunks end at sentences (qa/ingest/chunk.py), cleaning drops repeated sentences
(qa/ingest/clean.py), and the reader answers some questions with a whole sentence
(qa/reader/neural.py)."""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

    from spacy.language import Language

_PARAGRAPH = re.compile(r"[^\n]+")


class _NoTorchForThinc:
    """An import hook that refuses torch to spaCy's thinc (`thinc.compat` imports it whenever it is
    installed, a second or more, though the sentencizer never uses it), so that answering a "why"
    question does not load torch. Only an import made from thinc.compat's own frame, in the thread
    doing it, is refused; every other importer, in any thread, gets torch as usual."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == "torch" or fullname.startswith("torch."):
            frame: FrameType | None = sys._getframe(1)
            while frame is not None:
                if frame.f_globals.get("__name__") == "thinc.compat":
                    raise ModuleNotFoundError("torch is not needed by the sentencizer", name=fullname)
                frame = frame.f_back
        return None


@lru_cache(maxsize=1)
def _sentencizer() -> Language:
    """spaCy's rule-based sentence splitter (tokenizer exceptions keep "Mr." and "U.S." whole)."""
    hook = _NoTorchForThinc()
    sys.meta_path.insert(0, hook)
    try:
        import spacy
    finally:
        sys.meta_path.remove(hook)

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = 50_000_000
    return nlp


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text`, in order, never crossing a line break,
    with surrounding whitespace left out. Every non-space character is inside one span."""
    nlp = _sentencizer()
    lines = [(m.start(), m.group()) for m in _PARAGRAPH.finditer(text)]
    spans: list[tuple[int, int]] = []
    for (offset, line), doc in zip(lines, nlp.pipe(line for _, line in lines)):
        for sent in doc.sents:
            start, end = sent.start_char, sent.end_char
            piece = line[start:end]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece) - len(piece.rstrip())
            if end - trail > start + lead:
                spans.append((offset + start + lead, offset + end - trail))
    return spans
