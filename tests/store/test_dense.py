"""qa/store/dense.py: exact inner-product top-k on hand-made unit vectors with known scores, the
merge of several segments, the IVF list count, the choice of dense part, float16 storage, and an
IVF that probes every list giving the exact answer. Vectors are built with numpy: no model loads."""

from __future__ import annotations

import os

import numpy as np
import pytest

from qa.config import Config
from qa.store.dense import (
    FLAT,
    IVF,
    IVF_PQ,
    DensePart,
    build_dense_index,
    dense_kind,
    dense_top,
    ivf_lists,
    read_ivf,
    stored_vectors,
)
from qa.store.segment import NpyRows

# Six unit vectors in 3-d. Against the query (1, 0, 0) their scores are their first coordinates:
# row 0: 1.0, row 3: 0.8, row 2: 0.6, rows 1 and 4: 0.0, row 5: -1.0.
VECTORS = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.6, 0.8, 0.0],
        [0.8, 0.6, 0.0],
        [0.0, 0.0, 1.0],
        [-1.0, 0.0, 0.0],
    ],
    dtype=np.float32,
)
EAST = np.array([1.0, 0.0, 0.0], dtype=np.float32)


def rows_and_scores(found: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    return [r for r, _ in found], [s for _, s in found]


def test_exact_top_k_is_by_inner_product_best_first():
    rows, scores = rows_and_scores(DensePart(VECTORS, None, None).top(EAST, 3))
    assert rows == [0, 3, 2]
    assert scores == pytest.approx([1.0, 0.8, 0.6])


def test_exact_top_k_of_another_query():
    # (0.6, 0.8, 0) . rows: 0.6, 0.8, 1.0, 0.96, 0.0, -0.6
    query = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    rows, scores = rows_and_scores(DensePart(VECTORS, None, None).top(query, 4))
    assert rows == [2, 3, 1, 0]
    assert scores == pytest.approx([1.0, 0.96, 0.8, 0.6])


def test_k_of_all_rows_or_more_returns_every_row_ties_by_row():
    for k in (6, 10):
        rows, scores = rows_and_scores(DensePart(VECTORS, None, None).top(EAST, k))
        assert rows == [0, 3, 2, 1, 4, 5]
        assert scores == pytest.approx([1.0, 0.8, 0.6, 0.0, 0.0, -1.0])


def test_ties_at_the_cut_are_broken_by_row():
    """Equal scores are common (copies of one story have equal chunks): the k best of a segment
    should be the first rows among equals, as with k >= n and as `dense_top` merges parts."""
    scores = np.array([2, 0, 1, 2, 1, 0, 2, 1, 2, 0, 1, 2, 0, 2, 1, 1, 2, 0, 1, 2], dtype=np.float32)
    vectors = np.zeros((len(scores), 3), dtype=np.float32)
    vectors[:, 0] = scores
    found = DensePart(vectors, None, None).top(EAST, 9)
    assert [r for r, _ in found] == np.argsort(-scores, kind="stable")[:9].tolist()


def test_k_zero_and_an_empty_segment_find_nothing():
    assert DensePart(VECTORS, None, None).top(EAST, 0) == []
    assert DensePart(np.zeros((0, 3), np.float32), None, None).top(EAST, 5) == []


def test_dead_rows_are_never_returned():
    alive = np.array([False, True, True, True, True, True])
    assert rows_and_scores(DensePart(VECTORS, None, alive).top(EAST, 2))[0] == [3, 2]
    only_row_3 = np.array([False, False, False, True, False, False])
    found = DensePart(VECTORS, None, only_row_3).top(EAST, 3)
    assert found == [(3, pytest.approx(0.8))]


def test_dense_top_merges_parts_by_score_and_breaks_ties_by_part_then_row():
    first = DensePart(VECTORS[[0, 4]], None, None)  # scores against (0.6, 0.8, 0): 0.6, 0.0
    second = DensePart(VECTORS[[3, 1]], None, None)  # 0.96, 0.8
    query = np.array([[0.6, 0.8, 0.0]])  # float64 and 2-d: dense_top flattens it to float32
    found = dense_top([first, second], query, 3)
    assert [(p, r) for p, r, _ in found] == [(1, 0), (1, 1), (0, 0)]
    assert [s for _, _, s in found] == pytest.approx([0.96, 0.8, 0.6])

    same = DensePart(VECTORS[[0]], None, None)
    assert [(p, r) for p, r, _ in dense_top([same, same, first], EAST, 3)] == [(0, 0), (1, 0), (2, 0)]


# The formula: min(max(2 ** round(log2(n) / 2), 16), 4096, max(n // 39, 1)), Python's round
# halving to even (log2(8192) / 2 = 6.5 -> 6, log2(32768) / 2 = 7.5 -> 8).
@pytest.mark.parametrize(
    ("n", "lists"),
    [
        (0, 1),  # max(n // 39, 1) = 1
        (1, 1),
        (100, 2),  # 2 ** round(3.32) = 8 -> 16, but 100 // 39 = 2
        (1000, 25),  # 2 ** 5 = 32, 1000 // 39 = 25
        (8192, 64),  # 2 ** 6
        (10_000, 128),  # 2 ** round(6.64) = 128; 10000 // 39 = 256
        (32_768, 256),  # 2 ** 8
        (1_000_000, 1024),  # the "1024 at 1M" of Config.ivf_nlist
        (100_000_000, 4096),  # 2 ** 13 = 8192, capped at 4096
    ],
)
def test_ivf_lists_is_about_sqrt_n_as_a_power_of_two(n, lists):
    assert ivf_lists(n, Config()) == lists


def test_ivf_lists_takes_the_configured_count_but_never_more_than_the_vectors():
    config = Config().with_(ivf_nlist=64)
    assert [ivf_lists(n, config) for n in (0, 1, 10, 64, 1000)] == [1, 1, 10, 64, 64]


def test_dense_kind_by_the_two_thresholds():
    config = Config().with_(ann_threshold=4, compress_threshold=5)
    assert [dense_kind(n, config) for n in (0, 4, 5, 6, 999)] == [FLAT, FLAT, IVF, IVF, IVF]
    assert dense_kind(1000, config) == IVF_PQ  # past compress_threshold and enough points for 4-bit k-means
    assert dense_kind(1000, Config().with_(ann_threshold=4)) == IVF  # default compress_threshold 500,000


def test_stored_vectors_float16_round_trip():
    exact = np.array([[1.0, 0.5, -0.25, 0.125], [0.0, -1.0, 0.75, 2.0**-10]], dtype=np.float32)
    stored = stored_vectors(exact, IVF_PQ)
    assert stored.dtype == np.float16 and stored.flags.c_contiguous
    assert np.array_equal(stored.astype(np.float32), exact)  # every value is a float16 exactly

    tenth = stored_vectors(np.full((1, 4), 0.1, dtype=np.float32), IVF_PQ)
    assert float(tenth[0, 0]) == 0.0999755859375  # the nearest float16 to 0.1: 1638 / 16384
    assert abs(float(tenth[0, 0]) - 0.1) <= 0.1 * 2.0**-11  # half a unit in the last of 10 bits

    for kind in (FLAT, IVF):
        flat = stored_vectors(exact.astype(np.float64), kind)
        assert flat.dtype == np.float32 and np.array_equal(flat, exact)


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_ivf_probing_every_list_gives_the_exact_answer(tmp_path):
    import faiss

    vectors = unit_rows(200, 8, seed=1)
    query = unit_rows(1, 8, seed=2)[0]
    config = Config().with_(ann_threshold=10, ivf_nlist=4, ivf_nprobe=4)
    index = build_dense_index(vectors, config)
    assert isinstance(index, faiss.IndexIVFFlat)
    assert (index.ntotal, index.nlist, index.nprobe) == (200, 4, 4)

    exact = DensePart(vectors, None, None).top(query, 10)
    via_ivf = DensePart(vectors, index, None).top(query, 10)
    assert [r for r, _ in via_ivf] == [r for r, _ in exact]
    assert [s for _, s in via_ivf] == pytest.approx([s for _, s in exact], abs=1e-6)

    alive = np.ones(200, dtype=bool)
    alive[[r for r, _ in exact[:3]]] = False  # the three best rows deleted
    assert [r for r, _ in DensePart(vectors, index, alive).top(query, 7)] == [r for r, _ in exact[3:10]]

    path = tmp_path / "dense.faiss"
    faiss.write_index(index, str(path))
    read = read_ivf(path, config.with_(ivf_nprobe=100))
    assert (read.ntotal, read.nlist, read.nprobe) == (200, 4, 4)  # nprobe never above the list count
    assert [r for r, _ in DensePart(vectors, read, None).top(query, 10)] == [r for r, _ in exact]


def test_the_same_vectors_always_give_the_same_ivf():
    import faiss

    vectors = unit_rows(300, 8, seed=3)
    config = Config().with_(ann_threshold=10, ivf_nlist=8, ivf_train_per_list=16)  # a sample of 128 trains
    first, second = build_dense_index(vectors, config), build_dense_index(vectors, config)
    assert np.array_equal(faiss.serialize_index(first), faiss.serialize_index(second))


def test_compressed_codes_reranked_exactly_from_float16_vectors():
    """Past compress_threshold the IVF holds 4-bit codes; the rerank_depth best candidates are
    re-scored from the float16 vectors, so with every row a candidate the order is the exact one."""
    vectors = unit_rows(1000, 8, seed=4)
    config = Config().with_(ann_threshold=10, compress_threshold=10, ivf_nlist=4, ivf_nprobe=4)
    assert dense_kind(1000, config) == IVF_PQ
    stored = stored_vectors(vectors, IVF_PQ)
    index = build_dense_index(stored, config)
    query = unit_rows(1, 8, seed=5)[0]
    found = DensePart(stored, index, None, rerank_depth=1000).top(query, 5)
    scores = stored.astype(np.float32) @ query
    best = np.argsort(-scores, kind="stable")[:5]
    assert [r for r, _ in found] == best.tolist()
    assert [s for _, s in found] == pytest.approx(scores[best].tolist(), abs=1e-6)


def mapped_kb(path) -> int:
    """Resident KB of this process's maps of `path` (Linux /proc)."""
    total, current = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):
                current = line.rstrip().endswith(str(path))
            elif current and line.startswith("Rss:"):
                total += int(head[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="reads Linux /proc/self/smaps")
def test_reranking_reads_its_candidates_without_mapping_them_and_after_the_file_is_deleted(tmp_path):
    """An IVF-PQ segment re-ranks from vectors.npy with positioned reads (NpyRows): the exact order
    as from the map, no page of the file resident in the process (a read through the map brings
    in the pages around each row), and still readable once a writer has deleted the retired file."""
    vectors = stored_vectors(unit_rows(2000, 8, seed=6), IVF_PQ)
    config = Config().with_(ann_threshold=10, compress_threshold=10, ivf_nlist=4, ivf_nprobe=4)
    index = build_dense_index(vectors, config)
    path = tmp_path / "vectors.npy"
    np.save(path, vectors)
    mapped, rows = np.load(path, mmap_mode="r"), NpyRows(path)
    query = unit_rows(1, 8, seed=7)[0]

    read = DensePart(mapped, index, None, rerank_depth=2000, rerank_rows=rows).top(query, 5)
    assert mapped_kb(path) == 0
    assert DensePart(mapped, index, None, rerank_depth=2000).top(query, 5) == read
    assert mapped_kb(path) > 0  # read through the map, its pages are in the process

    path.unlink()  # a writer collecting a retired segment
    found = DensePart(mapped, index, None, rerank_depth=2000, rerank_rows=rows).top(query, 5)
    assert found == read
    scores = vectors.astype(np.float32) @ query
    best = np.argsort(-scores, kind="stable")[:5]
    assert [r for r, _ in found] == best.tolist()
    assert [s for _, s in found] == pytest.approx(scores[best].tolist(), abs=1e-6)
