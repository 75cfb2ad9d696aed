"""Atomic outputs: every file resgenome writes appears complete under its final name, or not at all."""

from __future__ import annotations

import errno
import os

import pytest

from resgenome.cli import main
from resgenome.io import atomic_open, atomic_path

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
