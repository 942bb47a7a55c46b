"""qa/store/segment.py: a tiny segment (two documents, three chunks) written to a tmp folder and
read back: its manifest, document rows and offsets, chunk rows, vectors and checksums, with
expected values computed by hand; damaged parts are detected by the size, sha256 and CRC checks."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from qa.config import Config
from qa.documents import ArticleMeta, Document
from qa.store.lexical import FILES as LEXICAL_FILES
from qa.store.lexical import build_postings
from qa.store.segment import (
    CHUNK_DTYPE,
    CHUNKS,
    DOC_ROWS,
    DOCS,
    MANIFEST,
    SEGMENT_FORMAT,
    VECTORS,
    SegmentError,
    SegmentRecord,
    check_segment,
    chunk_crc,
    document_from_line,
    document_line,
    open_segment,
    read_manifest,
    segment_name,
    write_segment,
)

HARBOUR = Document(ArticleMeta("harbour", "Harbour reopens", url="https://example.org/harbour", date="2024-02-10"),
                   text="The harbour reopened. Ferries sail again.", source="harbour.txt")
MILL = Document(ArticleMeta("mill", "Mill grinds"), text="The old mill ground flour.", source="feed.jsonl#2")
# (document row, ordinal, start, end): two chunks of the harbour article, one of the mill's.
SPANS = [(0, 0, 0, 21), (0, 1, 22, 41), (1, 0, 0, 26)]
TEXTS = ["The harbour reopened.", "Ferries sail again.", "The old mill ground flour."]
VECTORS_4D = np.array([[1, 0, 0, 0], [0, 0.6, 0.8, 0], [0, 0, 0, 1]], dtype=np.float32)
NAME = "s000001"


def write_tiny(index_dir: Path, config: Config) -> tuple[dict, str]:
    lines = [document_line(HARBOUR), document_line(MILL)]
    rows = np.array(SPANS, dtype=CHUNK_DTYPE)
    crcs = np.array([chunk_crc(t, v) for t, v in zip(TEXTS, VECTORS_4D)], dtype=np.uint32)
    return write_segment(index_dir / "segments" / NAME, NAME, lines, rows, VECTORS_4D, build_postings(TEXTS),
                         config, crcs)


@pytest.fixture
def tiny(tmp_path) -> tuple[Path, Config, SegmentRecord, dict]:
    config = Config()
    manifest, sha = write_tiny(tmp_path, config)
    return tmp_path, config, SegmentRecord(NAME, 2, 3, sha), manifest


def test_the_hand_made_spans_are_the_texts():
    docs = [HARBOUR, MILL]
    assert [docs[d].text[s:e] for d, _, s, e in SPANS] == TEXTS


def test_names_and_document_lines_round_trip():
    assert segment_name(12) == "s000012" and segment_name(1) == NAME
    line = document_line(MILL)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert document_from_line(line) == MILL
    record = json.loads(line)
    # One flat object in the layout segments have always had (the article's fields are not nested).
    assert list(record) == ["doc_id", "title", "text", "source", "url", "date", "meta", "content_hash", "publisher"]
    record["added_later"] = 1  # a field of a later version is ignored
    del record["publisher"]  # a field this version added takes its default
    assert document_from_line(json.dumps(record).encode()) == MILL
    with pytest.raises(ValueError):
        document_from_line(b'{"doc_id": "x", "text": 3, "source": "y"}')
    with pytest.raises(ValueError):
        document_from_line(b"[1, 2]")


def test_chunk_crc_is_the_crc_of_the_text_then_the_float32_vector():
    vector = np.array([0.0, 0.6, 0.8, 0.0])  # float64 in: hashed as float32
    expected = zlib.crc32(b"Ferries sail again." + vector.astype(np.float32).tobytes())
    assert chunk_crc("Ferries sail again.", vector) == expected
    assert chunk_crc("Ferries sail again!", vector) != expected


def test_manifest_lists_every_part_with_its_size_sha256_and_crc(tiny):
    index_dir, config, record, manifest = tiny
    folder = index_dir / "segments" / NAME
    assert (manifest["format"], manifest["name"], manifest["dim"]) == (SEGMENT_FORMAT, NAME, 4)
    assert (manifest["n_documents"], manifest["n_chunks"], manifest["dense"]) == (2, 3, "flat")
    assert manifest["settings"] == config.index_settings()
    assert set(manifest["files"]) == {DOCS, DOC_ROWS, CHUNKS, VECTORS, *LEXICAL_FILES.values()}  # no dense.faiss
    assert sorted(p.name for p in folder.iterdir()) == sorted([*manifest["files"], MANIFEST])
    for name, info in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert info == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "crc32": zlib.crc32(data)}
    written = (folder / MANIFEST).read_bytes()
    assert record.manifest_sha256 == hashlib.sha256(written).hexdigest()
    assert json.loads(written) == manifest
    assert read_manifest(folder, record) == manifest


def test_rows_offsets_and_vectors_read_back(tiny):
    index_dir, config, record, _ = tiny
    segment = open_segment(index_dir, record, config, verify=True)
    first, second = document_line(HARBOUR), document_line(MILL)
    assert (segment.n_documents, segment.n_chunks) == (2, 3)
    assert segment.doc_rows.tolist() == [
        (0, len(first), zlib.crc32(first)),
        (len(first), len(first) + len(second), zlib.crc32(second)),
    ]
    assert (segment.path / DOCS).read_bytes() == first + second
    assert segment.doc_line(1) == second
    assert segment.document(0) == HARBOUR and segment.document(1) == MILL
    for row, (doc, ordinal, start, end) in enumerate(SPANS):
        assert segment.chunk_span(row) == (doc, ordinal, start, end, chunk_crc(TEXTS[row], VECTORS_4D[row]))
    assert segment.vectors.dtype == np.float32 and np.array_equal(segment.vectors, VECTORS_4D)
    assert segment.ivf is None and segment.rerank_depth == 0
    assert segment.postings.lengths.tolist() == [2, 3, 4]  # terms per chunk: "the" dropped, stems ("reopen", "ferri")
    assert segment.verified == set(segment.manifest["files"])  # verify=True hashed every part
    assert check_segment(segment) == []


def test_a_tiny_segment_is_hashed_on_open_unless_over_open_verify_bytes(tiny):
    index_dir, config, record, manifest = tiny
    assert open_segment(index_dir, record, config, verify=None).verified == set(manifest["files"])
    unverified = open_segment(index_dir, record, config.with_(open_verify_bytes=0), verify=None)
    assert unverified.verified == set()
    unverified.verify([VECTORS, "no-such-part"])  # unknown names are not parts: ignored
    assert unverified.verified == {VECTORS}


def flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_byte_is_found_by_the_sha256_on_open_and_the_crc_on_first_use(tiny):
    index_dir, config, record, _ = tiny
    vectors = index_dir / "segments" / NAME / VECTORS
    flip(vectors, vectors.stat().st_size - 1)  # the last byte of the last vector: same size, same shape
    with pytest.raises(SegmentError, match=f"{VECTORS}: damaged"):
        open_segment(index_dir, record, config, verify=True)
    segment = open_segment(index_dir, record, config, verify=False)  # sizes and shapes still agree
    segment.verify([DOCS, CHUNKS])
    with pytest.raises(SegmentError, match=f"{VECTORS}: damaged \\(checksum differs from the manifest\\)"):
        segment.verify([VECTORS])
    assert check_segment(segment) == [f"{vectors}: damaged (checksum differs from the manifest)"]


def test_a_damaged_document_line_is_named_by_its_row(tiny):
    index_dir, config, record, _ = tiny
    docs = index_dir / "segments" / NAME / DOCS
    flip(docs, len(document_line(HARBOUR)) + 30)  # a byte inside the mill's line
    segment = open_segment(index_dir, record, config, verify=False)
    assert segment.document(0) == HARBOUR
    with pytest.raises(SegmentError, match="document row 1 is damaged"):
        segment.document(1)


def test_a_manifest_that_differs_from_the_catalog_record_is_refused(tiny):
    index_dir, config, record, _ = tiny
    folder = index_dir / "segments" / NAME
    with pytest.raises(SegmentError, match="checksum differs from the catalog"):
        read_manifest(folder, SegmentRecord(NAME, 2, 3, "0" * 64))
    with pytest.raises(SegmentError, match="name or counts differ"):
        read_manifest(folder, SegmentRecord(NAME, 2, 4, record.manifest_sha256))
    with pytest.raises(SegmentError, match="built with other settings"):
        open_segment(index_dir, record, config.with_(chunk_tokens=100), verify=True)


def test_a_missing_an_unlisted_or_a_truncated_part_is_refused(tiny):
    index_dir, config, record, _ = tiny
    folder = index_dir / "segments" / NAME
    (folder / "notes.txt").write_text("left here by hand", encoding="utf-8")
    with pytest.raises(SegmentError, match="does not list notes.txt"):
        open_segment(index_dir, record, config, verify=False)
    (folder / "notes.txt").unlink()
    chunks = (folder / CHUNKS).read_bytes()
    (folder / CHUNKS).write_bytes(chunks[:-1])
    with pytest.raises(SegmentError, match=f"{CHUNKS}: damaged \\(size"):
        open_segment(index_dir, record, config, verify=False)
    (folder / CHUNKS).unlink()
    with pytest.raises(SegmentError, match=f"{CHUNKS}: missing"):
        open_segment(index_dir, record, config, verify=False)
    with pytest.raises(SegmentError, match="segment folder missing"):
        open_segment(index_dir, SegmentRecord("s000002", 2, 3, record.manifest_sha256), config, verify=False)


def test_vectors_must_already_be_as_the_segment_stores_them(tmp_path):
    lines = [document_line(MILL)]
    rows = np.array([(0, 0, 0, 26)], dtype=CHUNK_DTYPE)
    tenth = np.full((1, 4), 0.1)  # float64 0.1 is no float32: its CRC would be of other values
    crcs = np.array([chunk_crc(TEXTS[2], tenth[0])], dtype=np.uint32)
    with pytest.raises(ValueError, match="rounded to float32"):
        write_segment(tmp_path / "a", "s000001", lines, rows, tenth, build_postings(TEXTS[2:]), Config(), crcs)
    half = np.full((1, 4), 0.5)  # float64 values that float32 holds exactly are accepted
    manifest, _ = write_segment(tmp_path / "b", "s000001", lines, rows, half, build_postings(TEXTS[2:]), Config(), crcs)
    assert manifest["n_chunks"] == 1 and np.load(tmp_path / "b" / VECTORS).dtype == np.float32
