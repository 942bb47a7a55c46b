"""BM25 (qa/store/lexical.py) with hand-computed numbers: Lucene's variant,
idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf part = tf / (tf + k1 (1 - b + b len / avglen)),
k1 = 1.5, b = 0.75, statistics over the live rows of all parts together."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from qa.config import Config
from qa.store.lexical import LexicalPart, bm25_top, build_postings, merge_postings
from qa.terms import terms, terms_of_many

# Terms (qa.terms): [cat, chase, mice], [cat, sleep], [dog, chase, cat, cat, run] ("and" is a stop
# word), [bird, sing]. Lengths 3, 2, 5, 2: N = 4, average length 12 / 4 = 3.
K1, B = Config().bm25_k1, Config().bm25_b
TINY = ["Cats chase mice.", "Cats sleep.", "Dogs chase cats and cats run.", "Birds sing."]


def test_parameters_are_lucenes_defaults():
    assert (K1, B) == (1.5, 0.75)  # the numbers the hand computations below use


def test_tiny_corpus_postings():
    postings = build_postings(TINY)
    assert postings.n_chunks == 4 and list(postings.lengths) == [3, 2, 5, 2]
    assert postings.problems() == [] and postings.deep_problems() == []
    assert len(postings.terms) == 8  # cat chase mice sleep dog run bird sing


def test_tiny_corpus_scores_by_hand():
    idf_cat = math.log(1 + (4 - 3 + 0.5) / (3 + 0.5))  # df 3: ln(10/7)
    idf_chase = math.log(1 + (4 - 2 + 0.5) / (2 + 0.5))  # df 2: ln 2
    # norm = 1.5 (0.25 + 0.75 len / 3): len 3 -> 1.5, len 2 -> 1.125, len 5 -> 2.25
    row0 = idf_cat * 1 / (1 + 1.5) + idf_chase * 1 / (1 + 1.5)  # ~0.41993
    row1 = idf_cat * 1 / (1 + 1.125)  # ~0.16785
    row2 = idf_cat * 2 / (2 + 2.25) + idf_chase * 1 / (1 + 2.25)  # ~0.38113
    found = bm25_top([LexicalPart.of(build_postings(TINY), None)], ["cat", "chase"], 10)
    assert [(p, r) for p, r, _ in found] == [(0, 0), (0, 2), (0, 1)]  # row 3 holds neither term: left out
    assert [s for _, _, s in found] == pytest.approx([row0, row2, row1], rel=1e-12)
    assert row0 == pytest.approx(0.41993, abs=1e-5) and row2 == pytest.approx(0.38113, abs=1e-5)


def test_tiny_corpus_k_cuts_the_ranking():
    found = bm25_top([LexicalPart.of(build_postings(TINY), None)], ["cat", "chase"], 2)
    assert [r for _, r, _ in found] == [0, 2]


def test_a_repeated_query_term_counts_twice():
    part = LexicalPart.of(build_postings(TINY), None)
    once = {r: s for _, r, s in bm25_top([part], ["sleep"], 10)}
    twice = {r: s for _, r, s in bm25_top([part], ["sleep", "sleep"], 10)}
    idf_sleep = math.log(1 + (4 - 1 + 0.5) / (1 + 0.5))  # df 1: ln(10/3)
    assert once == {1: pytest.approx(idf_sleep / (1 + 1.125), rel=1e-12)}
    assert twice == {1: pytest.approx(2 * idf_sleep / (1 + 1.125), rel=1e-12)}


def test_unknown_terms_empty_queries_and_empty_indexes():
    part = LexicalPart.of(build_postings(TINY), None)
    assert bm25_top([part], ["zebra"], 5) == []
    assert bm25_top([part], [], 5) == []
    assert bm25_top([part], ["cat"], 0) == []
    assert bm25_top([], ["cat"], 5) == []
    dead = LexicalPart.of(build_postings(TINY), np.zeros(4, dtype=bool))
    assert dead.n_live == 0 and bm25_top([dead], ["cat"], 5) == []


def test_tombstoned_row_leaves_the_statistics():
    """Row 2 dead: N = 3, live lengths 3, 2, 2 (average 7/3), df(cat) = 2, df(chase) = 1."""
    alive = np.array([True, True, False, True])
    part = LexicalPart.of(build_postings(TINY), alive)
    assert (part.n_live, part.live_length) == (3, 7)
    idf_cat = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))  # ln 1.6
    idf_chase = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))  # ln(8/3)
    norm3 = 1.5 * (0.25 + 0.75 * 3 / (7 / 3))  # 51/28
    norm2 = 1.5 * (0.25 + 0.75 * 2 / (7 / 3))  # 75/56
    row0 = (idf_cat + idf_chase) * 1 / (1 + norm3)  # (ln 1.6 + ln(8/3)) 28/79
    row1 = idf_cat * 1 / (1 + norm2)  # ln 1.6 56/131
    found = bm25_top([part], ["cat", "chase"], 10)
    assert [(p, r) for p, r, _ in found] == [(0, 0), (0, 1)]
    assert [s for _, _, s in found] == pytest.approx([row0, row1], rel=1e-12)
    assert row0 == pytest.approx((math.log(1.6) + math.log(8 / 3)) * 28 / 79, rel=1e-12)
    assert row1 == pytest.approx(math.log(1.6) * 56 / 131, rel=1e-12)


def test_tombstone_ranks_as_an_index_without_the_row():
    alive = np.array([True, True, False, True])
    masked = bm25_top([LexicalPart.of(build_postings(TINY), alive)], ["cat", "chase", "run"], 10)
    rebuilt = bm25_top([LexicalPart.of(build_postings([TINY[0], TINY[1], TINY[3]]), None)], ["cat", "chase", "run"], 10)
    assert [s for _, _, s in masked] == pytest.approx([s for _, _, s in rebuilt], rel=1e-12)
    assert [r for _, r, _ in masked] == [r for _, r, _ in rebuilt] == [0, 1]  # rows 0, 1 keep their numbers
    merged = merge_postings([(build_postings(TINY), alive)])
    assert list(merged.lengths) == [3, 2, 2]
    again = bm25_top([LexicalPart.of(merged, None)], ["cat", "chase", "run"], 10)
    assert [(r, s) for _, r, s in again] == [(r, pytest.approx(s, rel=1e-12)) for _, r, s in rebuilt]


def test_two_parts_rank_as_one_index():
    one = bm25_top([LexicalPart.of(build_postings(TINY), None)], ["cat", "chase", "sing"], 10)
    two = bm25_top([LexicalPart.of(build_postings(TINY[:2]), None), LexicalPart.of(build_postings(TINY[2:]), None)],
                   ["cat", "chase", "sing"], 10)
    # "sing" is rare (idf ln(10/3)) in a short row: row 3 scores ln(10/3) / 2.125 ~ 0.5666, first.
    assert [(p * 2 + r) for p, r, _ in two] == [r for _, r, _ in one] == [3, 0, 2, 1]
    assert one[0][2] == pytest.approx(math.log(10 / 3) / 2.125, rel=1e-12)
    assert [s for _, _, s in two] == pytest.approx([s for _, _, s in one], rel=1e-12)


def test_equal_scores_go_by_part_then_row():
    texts = ["ferry strike", "harbour news", "ferry strike"]
    found = bm25_top([LexicalPart.of(build_postings(texts), None), LexicalPart.of(build_postings(texts[:1]), None)],
                     ["ferri"], 10)
    assert [(p, r) for p, r, _ in found] == [(0, 0), (0, 2), (1, 0)]
    assert found[0][2] == found[1][2] == found[2][2]


# A slightly bigger corpus, against a plain BM25 written here: every live row scored term by term.
NEWS = [
    "Stoltenberg visited Yerevan and met Prime Minister Pashinyan on Monday.",
    "Armenia will deepen its cooperation with NATO, the prime minister said.",
    "The ferry strike in the harbour entered its third day.",
    "Ferry workers said the strike would continue until pay talks resume.",
    "Pay talks between the union and the harbour authority broke down.",
    "NATO's secretary general praised Armenia's reforms.",
    "Azerbaijan and Armenia held border talks in Brussels.",
    "The central bank raised interest rates by a quarter point.",
    "Interest rates will stay high, the central bank governor said.",
    "Rates, rates and more rates: markets fell as the bank surprised traders.",
    "Heavy rain flooded the harbour road and closed the ferry terminal.",
    "The prime minister visited the flooded town on Tuesday.",
    "Flood warnings remain in place along the river.",
    "Yerevan hosted a summit on regional security and trade.",
    "Trade between Armenia and the European Union grew last year.",
    "The European Union announced new funding for border security.",
    "Security talks in Brussels ended without an agreement.",
    "The union called a second ferry strike for next week.",
    "Markets rose after the central bank held rates.",
    "Ferry strike: harbour closed.",
]
QUESTIONS = [
    "Who visited Yerevan?",
    "Why did the ferry strike continue?",
    "What did the central bank do to interest rates?",
    "rates rates",
    "Armenia NATO cooperation",
    "border security talks in Brussels",
    "flood harbour ferry terminal",
    "unknownword",
]


def reference_bm25(texts: list[str], alive: list[bool], query: list[str]) -> list[tuple[int, float]]:
    docs = {i: Counter(terms(t)) for i, t in enumerate(texts) if alive[i]}
    n = len(docs)
    avg = sum(sum(c.values()) for c in docs.values()) / n
    out = []
    for i, counts in docs.items():
        length = sum(counts.values())
        score = 0.0
        for term in query:  # a repeated term is added again
            tf = counts[term]
            if tf:
                df = sum(1 for c in docs.values() if term in c)
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * length / avg))
        if score > 0:
            out.append((i, score))
    return sorted(out, key=lambda e: (-e[1], e[0]))


@pytest.mark.parametrize("dead", [(), (2, 9, 17)])
@pytest.mark.parametrize("k", [1, 3, 20])
def test_bigger_corpus_matches_a_plain_bm25(dead, k):
    alive = [i not in dead for i in range(len(NEWS))]
    # Three parts (rows 0-6, 7-13, 14-19), as three segments of one index.
    cuts = [(0, 7), (7, 14), (14, 20)]
    parts = [LexicalPart.of(build_postings(NEWS[a:b]), np.array(alive[a:b])) for a, b in cuts]
    for question, query in zip(QUESTIONS, terms_of_many(QUESTIONS)):
        expected = reference_bm25(NEWS, alive, query)[:k]
        found = [(cuts[p][0] + r, s) for p, r, s in bm25_top(parts, query, k)]
        assert [r for r, _ in found] == [r for r, _ in expected], question
        assert [s for _, s in found] == pytest.approx([s for _, s in expected], rel=1e-9), question
    assert reference_bm25(NEWS, alive, terms("ferry strike"))  # the corpus does match something


@pytest.mark.parametrize("join_limit", [0, 1 << 16])
def test_many_parts_rank_score_for_score_as_their_merge(monkeypatch, join_limit):
    """Six parts with tombstones against their merge into one part: the same rows and bit-identical
    scores, whether a term's postings are joined across parts (short) or searched part by part (long)."""
    import qa.store.lexical as lexical
    from bench.synth import build_documents

    monkeypatch.setattr(lexical, "_JOIN_POSTINGS", join_limit)
    docs, rows = build_documents(600, seed=3)
    texts = [docs[int(r["doc"])].text[int(r["start"]) : int(r["end"])] for r in rows]
    cuts = [0, 40, 150, 160, 300, 420, 600]
    rng = np.random.default_rng(4)
    parts = []
    for a, b in zip(cuts, cuts[1:]):
        alive = rng.random(b - a) > 0.1
        parts.append((build_postings(texts[a:b]), alive if a else None))
    lexical_parts = [LexicalPart.of(p, alive) for p, alive in parts]
    merged = [LexicalPart.of(merge_postings(parts), None)]
    live_rows = [(i, r) for i, (p, alive) in enumerate(parts) for r in range(p.n_chunks) if alive is None or alive[r]]
    queries = terms_of_many([texts[i][:120] for i in range(0, 600, 37)] + ["Who visited the minister?", "said said"])
    for query in queries:
        for k in (1, 10, 50):
            found = [(live_rows.index((p, r)), s) for p, r, s in bm25_top(lexical_parts, query, k)]
            assert found == [(r, s) for _, r, s in bm25_top(merged, query, k)]
