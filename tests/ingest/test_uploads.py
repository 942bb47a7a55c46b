"""qa/ingest/uploads.py: staging uploads into <index>/uploads/, never through a link, and putting them back."""

from __future__ import annotations

import os

import pytest

from qa.errors import BadInputError
from qa.ingest.uploads import free_name, restore, stage, unused


def test_free_name_numbers_a_second_file_of_the_same_name():
    assert free_name("a.txt", set()) == "a.txt"
    assert free_name("a.txt", {"a.txt", "a-2.txt"}) == "a-3.txt"


def test_stage_copies_renames_and_refuses(tmp_path):
    given = tmp_path / "given"
    (given / "x").mkdir(parents=True)
    (given / "a.txt").write_text("first", encoding="utf-8")
    (given / "x" / "a.txt").write_text("second", encoding="utf-8")
    (given / "b.pdf").write_text("pdf", encoding="utf-8")
    uploads = tmp_path / "uploads"
    staged = stage([given / "a.txt", given / "x" / "a.txt", given / "b.pdf", given / "gone.txt"], uploads)
    assert [(f.path.name, f.backup, f.shown) for f in staged.files] == [
        ("a.txt", None, "a.txt"), ("a-2.txt", None, "a.txt (kept as a-2.txt)")]
    assert (uploads / "a-2.txt").read_text(encoding="utf-8") == "second"
    assert [(s.path, s.reason.split(";")[0].split(" (")[0]) for s in staged.refused] == [
        ("b.pdf", "unsupported file type"), ("gone.txt", "cannot be read")]
    assert not (uploads / "gone.txt").exists()


def test_stage_never_writes_through_a_link(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious", encoding="utf-8")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    os.symlink(outside, uploads / "a.txt")
    (tmp_path / "a.txt").write_text("new", encoding="utf-8")
    staged = stage([tmp_path / "a.txt"], uploads)
    assert not staged.files and "symbolic link" in staged.refused[0].reason
    assert outside.read_text(encoding="utf-8") == "precious"

    linked = tmp_path / "linked"
    os.symlink(uploads, linked)
    with pytest.raises(BadInputError, match="is a symbolic link"):
        stage([tmp_path / "a.txt"], linked)


def test_restore_puts_back_what_was_replaced_and_unused_picks_files_without_documents(tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "old.txt").write_text("before", encoding="utf-8")
    for name in ("old.txt", "new.json"):
        (tmp_path / name).write_text("after", encoding="utf-8")
    staged = stage([tmp_path / "old.txt", tmp_path / "new.json"], uploads)
    old, new = staged.files
    assert old.backup == b"before" and new.backup is None
    assert unused(staged.files, [f"{new.path}#2"]) == [old]  # a record of new.json was indexed
    restore(staged.files)
    assert (uploads / "old.txt").read_text(encoding="utf-8") == "before" and not (uploads / "new.json").exists()


def test_upload_never_writes_through_a_hard_link(tmp_path):
    """A file in uploads/ that is another name of a file outside (a hard link): an upload of that
    name replaces the name (a new file renamed over it) and putting it back does the same; the
    file outside is never written."""
    outside = tmp_path / "outside.txt"
    outside.write_text("precious", encoding="utf-8")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    os.link(outside, uploads / "a.txt")
    given = tmp_path / "given"
    given.mkdir()
    (given / "a.txt").write_text("new", encoding="utf-8")
    staged = stage([given / "a.txt"], uploads)
    assert [f.backup for f in staged.files] == [b"precious"]
    assert outside.read_text(encoding="utf-8") == "precious"
    assert (uploads / "a.txt").read_text(encoding="utf-8") == "new"
    assert not os.path.samefile(outside, uploads / "a.txt") and outside.stat().st_nlink == 1
    restore(staged.files)
    assert (uploads / "a.txt").read_text(encoding="utf-8") == "precious" and outside.read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in uploads.iterdir()) == ["a.txt"]  # no temporary file left
