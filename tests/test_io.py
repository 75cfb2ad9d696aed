"""Files and streams: atomic outputs, inputs read once with their compression recognised, the same-file refusal,
output folders removed after a failure, signals turned into a clean unwind."""

from __future__ import annotations

import bz2
import errno
import gzip
import hashlib
import io
import lzma
import os
import signal
import sys

import pytest

from resgenome.cli import main
from resgenome.errors import InputError, ResgenomeError
from resgenome.io import (
    Interrupted,
    atomic_open,
    atomic_path,
    check_paths,
    open_input,
    open_output,
    output_folder,
    signals_raise,
)

from .conftest import write_se_table


def test_atomic_open_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("{half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("new, half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"  # the previous complete file survives


def test_atomic_outputs_get_the_usual_file_mode(tmp_path):
    # mkstemp makes 0600 files; a report or prediction table must be readable by the group like any other output
    old = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "a.tsv") as handle:
            handle.write("x")
        with atomic_path(tmp_path / "b.png") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.tsv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.png").stat().st_mode & 0o777 == 0o644


def test_full_disk_is_one_line_and_no_file(tmp_path, monkeypatch, capsys):
    se_csv = write_se_table(tmp_path / "se.csv", n=300)
    real_fsync = os.fsync

    def full(fd):  # every write reaches fsync before its rename: fail there as a full disk would
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    pred = tmp_path / "out"
    code = main(["train", "superenhancer", "--data", str(se_csv), "--model", "logreg", "--out", str(pred), "--quiet"])
    monkeypatch.setattr(os, "fsync", real_fsync)
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert "No space left on device" in err and "nothing was written" in err
    assert not any(p.name.endswith(".tmp") for p in pred.rglob("*"))
    assert not (pred / "metrics.json").exists()


# ------------------------------------------------------------------------------------------------- inputs
@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress, bz2.compress, lzma.compress],
                         ids=["plain", "gzip", "bzip2", "xz"])  # fmt: skip
def test_peek_looks_ahead_without_consuming(tmp_path, compress):
    data = b">a\nACGT\n" * 50_000
    (tmp_path / "in").write_bytes(compress(data))
    with open_input(tmp_path / "in", "FASTA") as source:
        assert source.peek(3) == b">a\n" and source.peek(10) == data[:10]
        assert source.read(5) == data[:5]  # a read of n bytes returns n bytes until the end, as a file's does
        assert source.peek(4) == data[5:9]
        assert source.read() == data[5:]
        assert source.read(10) == b""


def test_stdin_is_read_through_the_same_path(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(b"x,y\n1,2\n"))))
    with open_input("-", "a CSV") as source:
        assert source.name == "<stdin>" and source.compression == "gzip"
        assert source.text().read() == "x,y\n1,2\n"


def test_a_shared_input_is_closed_by_its_last_user(tmp_path):
    (tmp_path / "in").write_bytes(b"abc")
    outer = open_input(tmp_path / "in", "text")
    inner = open_input(outer, "text")  # a reader handed an open input shares it rather than reopening the path
    assert inner is outer
    inner.close()
    assert outer.read() == b"abc"
    outer.close()
    with pytest.raises(ValueError):  # now closed for everyone
        outer.read()


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress, lzma.compress], ids=["plain", "gzip", "xz"])
def test_digest_is_of_the_whole_content_however_stored(tmp_path, compress):
    content = b">a\nACGT\n" * 1000
    (tmp_path / "in").write_bytes(compress(content))
    with open_input(tmp_path / "in", "FASTA", digest=True) as source:
        assert source.peek(3) == b">a\n"
        source.read(5)  # a reader may stop early; the digest reads the rest
        assert source.digest() == (len(content), hashlib.sha256(content).hexdigest())


@pytest.mark.parametrize("content, named", [
    (b"\x28\xb5\x2f\xfd" + bytes(20), "zstd"), (b"\xff\xfex\x00y\x00", "UTF-16"),
    (gzip.compress(b"BAM\x01" + bytes(30)), "BAM"),
])  # fmt: skip
def test_foreign_formats_are_named(tmp_path, content, named):
    (tmp_path / "in").write_bytes(content)
    with pytest.raises(InputError, match=named):
        open_input(tmp_path / "in", "FASTA")


def test_two_odd_bytes_are_not_taken_for_utf16(tmp_path):
    (tmp_path / "in").write_bytes(b"\xff\xfe,ACGT,1\n")  # a broken UTF-8 id, for the CSV reader to report by line
    with open_input(tmp_path / "in", "CSV") as source:
        assert source.peek(2) == b"\xff\xfe"


# ------------------------------------------------------------------------------------------------- outputs
def test_same_file_is_refused_through_hard_and_symbolic_links(tmp_path):
    (tmp_path / "in.fa").write_text(">a\nACGT\n")
    os.link(tmp_path / "in.fa", tmp_path / "hard")
    (tmp_path / "soft").symlink_to(tmp_path / "hard")
    for out in ("in.fa", "hard", "soft"):
        with pytest.raises(ResgenomeError, match="same file as the input"):
            check_paths({"--input": tmp_path / "in.fa"}, {"--output": tmp_path / out})
    check_paths({"--input": tmp_path / "in.fa"}, {"--output": tmp_path / "new.tsv"})  # not an input: fine
    with pytest.raises(ResgenomeError, match="only one input can be '-'"):
        check_paths({"--data": "-", "--labels": "-"}, {})


def test_a_symlinked_output_replaces_its_target_atomically(tmp_path):
    (tmp_path / "target.tsv").write_text("old")
    (tmp_path / "link.tsv").symlink_to("target.tsv")
    with pytest.raises(RuntimeError):
        with open_output(tmp_path / "link.tsv") as handle:
            handle.write("half")
            raise RuntimeError("interrupted")
    assert (tmp_path / "target.tsv").read_text() == "old"
    with open_output(tmp_path / "link.tsv") as handle:
        handle.write("new")
    assert (tmp_path / "link.tsv").is_symlink() and (tmp_path / "target.tsv").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.tsv", "target.tsv"]


def test_dash_writes_standard_output_and_leaves_it_open(capsysbinary):
    with open_output("-") as handle:
        handle.write("a\tb\n")
    with open_output("-", "wb") as handle:
        handle.write(b"c\n")
    assert capsysbinary.readouterr().out == b"a\tb\nc\n"
    print("still open")


# ------------------------------------------------------------------------------------------------- failures
def test_a_failed_command_removes_the_folders_it_made(tmp_path):
    with pytest.raises(RuntimeError):
        with output_folder(tmp_path / "a" / "b") as folder:
            (folder / "model.pt").write_text("half")
            raise RuntimeError("failed")
    assert list(tmp_path.iterdir()) == []  # 'a' was made for it too
    (tmp_path / "kept").mkdir()
    with pytest.raises(RuntimeError):
        with output_folder(tmp_path / "kept"):
            raise RuntimeError("failed")
    assert (tmp_path / "kept").is_dir()  # it existed before: never removed
    with pytest.raises(RuntimeError):
        with output_folder(tmp_path / "resumable", keep=lambda folder, exc: True):
            raise RuntimeError("failed")
    assert (tmp_path / "resumable").is_dir()


def test_sigterm_unwinds_through_atomic_writes(tmp_path):
    with pytest.raises(Interrupted) as caught:
        with signals_raise(), atomic_open(tmp_path / "out.tsv") as handle:
            handle.write("half")
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next statement
            raise AssertionError("the signal did not interrupt")
    assert caught.value.exit_code == 143
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored afterwards
