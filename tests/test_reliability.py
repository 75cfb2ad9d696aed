"""Reliability: atomic outputs, resume after SIGKILL, a full disk, property tests of the table reader."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resgenome.cli import main
from resgenome.data.tables import read_table
from resgenome.errors import InputError, ResgenomeError
from resgenome.io import atomic_open, atomic_path

from .conftest import write_se_table


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.timeout(60)  # without the check, opening the pipe would wait for a writer forever
def test_a_pipe_as_input_is_refused_not_read_short(tmp_path, se_csv):
    """The readers open their input twice (a format sniff, then the read); from a pipe the first 4 KB were lost and
    a table came back short without any error. A pipe or device is now one line, before anything is read."""
    fifo = tmp_path / "table.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is a pipe or device, not a file; write it to a file first"):
        read_table(fifo)
    out = tmp_path / "scores.tsv"
    assert main(["predict", "superenhancer", "--model", "logreg", "--input", str(fifo), "--output", str(out)]) == 2
    assert not out.exists()


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


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    se_csv = write_se_table(tmp_path / "se.csv", n=1200, seed=2)
    args = ["train", "superenhancer", "--data", str(se_csv), "--model", "ressen", "--preset", "smoke", "--epochs", "4",
            "--batch-size", "8", "--patience", "50", "--seed", "3", "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "resgenome"]
    reference = tmp_path / "reference"
    subprocess.run(command + args + ["--out", str(reference)], check=True, env=env, capture_output=True)

    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen(command + args + ["--out", str(interrupted)], env=env, stderr=subprocess.PIPE)
    state = interrupted / "train_state.pt"
    deadline = time.monotonic() + 120
    while not state.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be interrupted"
    time.sleep(0.3)  # well inside the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (interrupted / "metrics.json").exists()
    assert not any(p.name.endswith(".tmp") or p.name.startswith(".") for p in interrupted.iterdir())

    resumed = subprocess.run(command + args + ["--out", str(interrupted), "--resume"], env=env, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()
    ref = json.loads((reference / "metrics.json").read_text())
    got = json.loads((interrupted / "metrics.json").read_text())
    assert got == ref
    assert (reference / "history.csv").read_text() == (interrupted / "history.csv").read_text()


_HEADER = "chrom,start,end,Class," + ",".join(
    ["H3K27ac", "H3K4me1", "H3K4me3", "H3K9me3", "DNaseI", "Pol2", "p300", "CBP", "Cdk9", "Med12", "Cdk8", "Brg1",
     "Brd4", "CHD7", "Smc1", "Nipbl", "Lsd1", "Mi2b", "HDAC2", "HDAC", "Oct4", "Sox2", "Nanog", "Esrrb", "Klf4",
     "Tcfcp2I1", "Prdm14", "Nr5a2", "Smad3", "Stat3", "Tcf3", "AT_content", "GC_content", "phastCons", "phastConsP",
     "repeat_fraction"]) + ",length"  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400), keep_header=st.booleans())
def test_table_reader_never_crashes_on_arbitrary_bytes(tmp_path, body, keep_header):
    path = tmp_path / "fuzz.csv"
    path.write_bytes((_HEADER.encode() + b"\n" if keep_header else b"") + body)
    try:
        table = read_table(path)
    except ResgenomeError:
        return
    assert table.X.shape[1] == 36 and len(table) > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["SE", "TE"]),
                               st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=36, max_size=36)),
                     min_size=1, max_size=20))  # fmt: skip
def test_valid_tables_round_trip(tmp_path, rows):
    path = tmp_path / "ok.csv"
    lines = [_HEADER] + [f"chr1,{i},{i + 10},{c}," + ",".join(repr(v) for v in vals) + ",10"
                         for i, (c, vals) in enumerate(rows)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    table = read_table(path)
    assert table.y.tolist() == [1 if c == "SE" else 0 for c, _ in rows]
    assert table.X.tolist() == [list(v) for _, v in rows]


def test_errors_are_input_errors_not_tracebacks(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(InputError):
        read_table(path)
