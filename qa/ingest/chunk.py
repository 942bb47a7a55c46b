"""Split cleaned documents into sentence-aligned chunks that fit the embedding model's window."""

from __future__ import annotations

from qa.config import Config
from qa.documents import Chunk, Document, chunk_id
from qa.sentences import split_sentences


def _token_counts(texts: list[str]) -> list[int]:
    from qa.model.base import load_wordpiece_tokenizer

    if not texts:
        return []
    return [len(e.ids) for e in load_wordpiece_tokenizer().encode_batch(texts, add_special_tokens=False)]


def _split_long_sentence(text: str, start: int, end: int, budget: int) -> list[tuple[int, int]]:
    """Cut one over-long sentence into word-aligned pieces of at most `budget` word pieces."""
    from qa.model.base import load_wordpiece_tokenizer

    offsets = load_wordpiece_tokenizer().encode(text[start:end], add_special_tokens=False).offsets
    pieces: list[tuple[int, int]] = []
    i = 0
    piece_start = start  # pieces are contiguous: characters the tokenizer drops stay in a piece
    while i < len(offsets):
        j = min(i + budget, len(offsets))
        # Back off to a word boundary (a token that starts after whitespace) when possible.
        if j < len(offsets):
            k = j
            while k > i + 1 and offsets[k][0] == offsets[k - 1][1]:
                k -= 1
            j = k if k > i + 1 else j
        piece_end = start + offsets[j - 1][1] if j < len(offsets) else end
        pieces.append((piece_start, piece_end))
        i = j
        if i < len(offsets):
            gap = text[piece_end : start + offsets[i][0]]
            piece_start = piece_end + len(gap) - len(gap.lstrip())
    return pieces


def chunk_document(doc: Document, config: Config) -> list[Chunk]:
    """Sentence-aligned chunks of `doc` of at most `config.chunk_tokens` word pieces, each
    starting with up to `config.chunk_overlap_tokens` of the previous chunk's last sentences.
    Every chunk satisfies `chunk.text == doc.text[chunk.start:chunk.end]`."""
    budget, overlap = config.chunk_tokens, config.chunk_overlap_tokens
    sentences = split_sentences(doc.text)
    counts = _token_counts([doc.text[s:e] for s, e in sentences])
    units: list[tuple[int, int, int]] = []
    for (s, e), n in zip(sentences, counts):
        if n <= budget:
            units.append((s, e, n))
        else:
            pieces = _split_long_sentence(doc.text, s, e, budget)
            piece_counts = _token_counts([doc.text[ps:pe] for ps, pe in pieces])
            units.extend((ps, pe, n) for (ps, pe), n in zip(pieces, piece_counts))

    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, used = i, 0
        while j < len(units) and (j == i or used + units[j][2] <= budget):
            used += units[j][2]
            j += 1
        spans.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        # Step back over whole sentences that fit in the overlap, but always move forward.
        back, carried = j, 0
        while back - 1 > i and carried + units[back - 1][2] <= overlap:
            back -= 1
            carried += units[back][2]
        i = back
    return [
        Chunk(chunk_id=chunk_id(doc.doc_id, n), doc_id=doc.doc_id, start=s, end=e, text=doc.text[s:e])
        for n, (s, e) in enumerate(spans)
    ]
