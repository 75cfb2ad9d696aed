"""Adversarial use of every command: streams, links, compression, odd option values, degenerate data, signals.

Each case runs the CLI as a user would (in-process through ``main(argv)``; a subprocess only where a real pipe, a
signal or a redirected descriptor is the point, marked ``slow``) and checks the whole contract: the exit code, ONE
line on stderr naming what is wrong (no traceback), every input byte-for-byte unchanged and no output, temporary
file or output directory left behind. The folder of each case is snapshotted before and after, so "nothing else
changed" is checked by comparing the two trees.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import lzma
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resgenome
from resgenome.cli import main

from .conftest import write_se_table

SRC = str(Path(resgenome.__file__).resolve().parents[1])
HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------------------------------------- helpers
@dataclass
class Result:
    code: int
    out: str
    err: list[str]  # the non-blank stderr lines


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: a file by its sha256, a link by its target, a FIFO, device or folder by kind."""
    tree = {}
    for path in sorted(root.rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            tree[str(path.relative_to(root))] = "link->" + os.readlink(path)
        elif stat.S_ISREG(mode):
            tree[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            tree[str(path.relative_to(root))] = stat.S_IFMT(mode)
    return tree


def assert_refused(res: Result, pattern: str, code: int = 2) -> None:
    """Exit ``code`` and exactly one stderr line, an ``error:`` matching ``pattern`` (a regular expression)."""
    assert res.code == code, (res.code, res.err)
    assert len(res.err) == 1, res.err
    assert res.err[0].startswith("error: "), res.err
    assert re.search(pattern, res.err[0]), res.err[0]


def rows_of(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t"))


@pytest.fixture
def run(capsys, monkeypatch, tmp_path):
    """Run the CLI in-process from ``tmp_path``; ``stdin=bytes`` feeds standard input."""
    monkeypatch.chdir(tmp_path)  # a stray output named '-' or a relative path lands in the case's own folder

    def _run(*argv, stdin: bytes | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Result(code, out, [line for line in err.splitlines() if line.strip()])

    return _run


def refused_untouched(run, tmp_path: Path, argv: list, pattern: str, code: int = 2, **kw) -> Result:
    """Run a command that must be refused; check the message and that nothing under ``tmp_path`` changed."""
    before = snapshot(tmp_path)
    res = run(*argv, **kw)
    assert_refused(res, pattern, code)
    assert snapshot(tmp_path) == before
    return res


def feed(path_or_fd, data: bytes) -> threading.Thread:
    """Write ``data`` into a FIFO path or a pipe descriptor from a thread, as another process would."""

    def write() -> None:
        try:
            if isinstance(path_or_fd, int):
                with os.fdopen(path_or_fd, "wb") as handle:
                    handle.write(data)
            else:
                with open(path_or_fd, "wb") as handle:
                    handle.write(data)
        except (BrokenPipeError, OSError):
            pass

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def drain(path: Path, into: list) -> threading.Thread:
    """Read a FIFO to its end from a thread, as a downstream process would."""

    def read() -> None:
        with open(path, "rb") as handle:
            into.append(handle.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def subprocess_env() -> dict:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}


def cli_command() -> list[str]:
    return [sys.executable, "-m", "resgenome"]


# ------------------------------------------------------------------------------------------------- data
MOTIF = "GATTACAGATTACA"


def viral_rows(n: int, seed: int) -> list[tuple[str, str, int]]:
    """300-bp sequences; every third carries MOTIF and is labelled viral."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        seq = "".join(rng.choice(list("ACGT"), 300))
        if i % 3 == 0:
            at = int(rng.integers(0, 300 - len(MOTIF)))
            seq = seq[:at] + MOTIF + seq[at + len(MOTIF) :]
        rows.append((f"s{seed}x{i}_expA", seq, int(i % 3 == 0)))
    return rows


def csv_bytes(rows) -> bytes:
    return "".join(f"{i},{s},{y}\n" for i, s, y in rows).encode()


def fasta_bytes(lengths: list[int], seed: int = 0, width: int = 60) -> bytes:
    rng = np.random.default_rng(seed)
    out = []
    for k, length in enumerate(lengths):
        seq = "".join(rng.choice(list("ACGTacgtN"), length, p=[0.23] * 4 + [0.02] * 4 + [0.0]))
        out.append(f">contig{k} sample\n" + "".join(seq[i : i + width] + "\n" for i in range(0, length, width)))
    return "".join(out).encode()


@dataclass
class World:
    table: Path  # labelled super-enhancer table, 600 rows
    se_model: Path  # logreg trained on it
    prefix: Path  # viral PREFIX_{train,validation,test}.csv
    viral_model: Path  # kmer-logreg (k=3) trained on it
    other_model: Path  # kmer-logreg (k=4): a different model of the same task
    fasta: Path  # 12 contigs of mixed lengths
    parts: list[Path]  # predict viral --shard i/3 of fasta with viral_model
    reference: Path  # the unsharded output of the same run


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("world")
    table = write_se_table(root / "se.csv", n=600, seed=4)
    assert main(["train", "superenhancer", "--data", str(table), "--model", "logreg", "--out", str(root / "se"),
                 "--quiet"]) == 0  # fmt: skip
    for part, (n, seed) in {"train": (150, 1), "validation": (60, 2), "test": (60, 3)}.items():
        (root / f"syn_{part}.csv").write_bytes(csv_bytes(viral_rows(n, seed)))
    for name, k in (("viral", "3"), ("other", "4")):
        assert main(["train", "viral", "--data", str(root / "syn"), "--model", "kmer-logreg", "--kmer", k,
                     "--out", str(root / name), "--quiet"]) == 0  # fmt: skip
    fasta = root / "contigs.fa"
    fasta.write_bytes(fasta_bytes([700, 50, 300, 1200, 450, 299, 301, 800, 90, 2000, 310, 640]))
    model = root / "viral" / "model.pt"
    reference = root / "all.tsv"
    assert main(["predict", "viral", "--model", str(model), "--input", str(fasta), "--output", str(reference),
                 "--quiet"]) == 0  # fmt: skip
    parts = []
    for i in range(3):
        parts.append(root / f"part{i}.tsv")
        assert main(["predict", "viral", "--model", str(model), "--input", str(fasta), "--output", str(parts[-1]),
                     "--shard", f"{i}/3", "--quiet"]) == 0  # fmt: skip
    return World(table, root / "se" / "model.pt", root / "syn", model, root / "other" / "model.pt", fasta, parts,
                 reference)  # fmt: skip


def copy(src: Path, dst_dir: Path, name: str | None = None) -> Path:
    dst = dst_dir / (name or src.name)
    shutil.copyfile(src, dst)
    return dst


def predict_viral(world: World, inp, out, *extra) -> list:
    return ["predict", "viral", "--model", world.viral_model, "--input", inp, "--output", out, "--quiet", *extra]


def predict_se(world: World, inp, out) -> list:
    return ["predict", "superenhancer", "--model", world.se_model, "--input", inp, "--output", out]


def reference_rows(world: World) -> bytes:
    return world.reference.read_bytes()


# =================================================================================================================
# 1. An output that is an input (data loss): refused before anything is read or written, through links too.
# =================================================================================================================
@pytest.mark.parametrize("how", ["same path", "symlink", "hard link", "dot path"])
def test_output_that_is_the_input_fasta_is_refused(world, run, tmp_path, how):
    fasta = copy(world.fasta, tmp_path, "same.fa")
    out = {"same path": fasta, "symlink": tmp_path / "link.tsv", "hard link": tmp_path / "hard.tsv",
           "dot path": Path("./same.fa")}[how]  # fmt: skip
    if how == "symlink":
        out.symlink_to("same.fa")
    elif how == "hard link":
        os.link(fasta, out)
    refused_untouched(run, tmp_path, predict_viral(world, fasta, out), r"same file as the input")


def test_output_that_is_the_input_table_is_refused(world, run, tmp_path):
    table = copy(world.table, tmp_path)
    (tmp_path / "out.tsv").symlink_to(table)
    refused_untouched(run, tmp_path, predict_se(world, table, tmp_path / "out.tsv"), r"same file as the input")


def test_output_that_is_the_model_is_refused(world, run, tmp_path):
    model = copy(world.viral_model, tmp_path)
    fasta = copy(world.fasta, tmp_path)
    argv = ["predict", "viral", "--model", model, "--input", fasta, "--output", model, "--quiet"]
    refused_untouched(run, tmp_path, argv, r"same file as the input")


def test_merge_output_that_is_a_part_is_refused(world, run, tmp_path):
    parts = [copy(p, tmp_path) for p in world.parts]
    refused_untouched(run, tmp_path, ["merge-predictions", "--output", parts[1], *parts], r"same file as the input")


def test_evaluate_into_the_folder_of_its_own_data_file_is_refused(world, run, tmp_path):
    # evaluate writes OUT/test_scores.csv; a data file of that name in OUT would be overwritten by its own scores
    (tmp_path / "ev").mkdir()
    data = copy(Path(f"{world.prefix}_test.csv"), tmp_path / "ev", "test_scores.csv")
    argv = ["evaluate", "--model", world.viral_model, "--data", data, "--out", tmp_path / "ev"]
    refused_untouched(run, tmp_path, argv, r"same file as the input")


# =================================================================================================================
# 2. Streams: '-', pipes, process substitution, FIFOs; every input read once, front to back.
# =================================================================================================================
@pytest.mark.timeout(60)
def test_table_through_a_pipe_keeps_every_row(world, run, tmp_path):
    read_fd, write_fd = os.pipe()  # what bash hands over for <(cat table.csv): /dev/fd/N of a pipe
    feed(write_fd, world.table.read_bytes())
    try:
        res = run(*predict_se(world, f"/dev/fd/{read_fd}", tmp_path / "p.tsv"))
    finally:
        os.close(read_fd)
    assert res.code == 0, res.err
    assert len(rows_of(tmp_path / "p.tsv")) == 600


def test_dash_reads_the_table_from_stdin_and_writes_stdout(world, run, tmp_path):
    res = run(*predict_se(world, "-", "-"), stdin=world.table.read_bytes())
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0] == "chrom\tstart\tend\tscore\tlabel" and len(lines) == 601
    assert not (tmp_path / "-").exists()


def test_dash_reads_fasta_from_stdin(world, run, tmp_path):
    res = run(*predict_viral(world, "-", tmp_path / "o.tsv"), stdin=world.fasta.read_bytes())
    assert res.code == 0, res.err
    assert (tmp_path / "o.tsv").read_bytes() == reference_rows(world)


def test_dash_writes_predictions_to_stdout(world, run, tmp_path):
    res = run(*predict_viral(world, world.fasta, "-"))
    assert res.code == 0, res.err
    assert res.out.encode() == reference_rows(world)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("compress", [None, gzip.compress], ids=["plain", "gzip"])
def test_fasta_through_process_substitution(world, run, tmp_path, compress):
    read_fd, write_fd = os.pipe()
    data = world.fasta.read_bytes()
    feed(write_fd, compress(data) if compress else data)
    try:
        res = run(*predict_viral(world, f"/dev/fd/{read_fd}", tmp_path / "o.tsv"))
    finally:
        os.close(read_fd)
    assert res.code == 0, res.err
    assert (tmp_path / "o.tsv").read_bytes() == reference_rows(world)


@pytest.mark.timeout(30)
def test_viraminer_csv_through_a_fifo_keeps_every_row(world, run, tmp_path):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    data = Path(f"{world.prefix}_train.csv").read_bytes() * 3  # > 64 KiB: more than one read and one pipe buffer
    data = b"".join(line.replace(b"_expA", f"_r{k}".encode()) for k, line in enumerate(data.splitlines(True)))
    feed(fifo, data)
    res = run(*predict_viral(world, fifo, tmp_path / "o.tsv"))
    assert res.code == 0, res.err
    assert len(rows_of(tmp_path / "o.tsv")) == 450


def test_labels_from_stdin_train_and_evaluate(world, run, tmp_path):
    rows = viral_rows(120, 9)
    fasta = tmp_path / "s.fa"
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s, _ in rows))
    labels = "seq_id\tlabel\n" + "".join(f"{i}\t{y}\n" for i, _, y in rows)
    res = run("train", "viral", "--data", fasta, "--labels", "-", "--model", "kmer-logreg", "--kmer", "3",
              "--split", "random", "--out", tmp_path / "m", "--quiet", stdin=labels.encode())  # fmt: skip
    assert res.code == 0, res.err
    res = run("evaluate", "--model", tmp_path / "m" / "model.pt", "--data", "-", "--out", tmp_path / "ev",
              stdin=Path(f"{world.prefix}_test.csv").read_bytes())  # fmt: skip
    assert res.code == 0, res.err
    assert (tmp_path / "ev" / "metrics.json").is_file()


def test_train_reads_a_table_from_stdin(world, run, tmp_path):
    res = run("train", "superenhancer", "--data", "-", "--model", "logreg", "--out", tmp_path / "m", "--quiet",
              stdin=world.table.read_bytes())  # fmt: skip
    assert res.code == 0, res.err
    assert (tmp_path / "m" / "model.pt").is_file()


def test_two_inputs_cannot_both_be_stdin(world, run, tmp_path):
    argv = ["train", "viral", "--data", "-", "--labels", "-", "--model", "kmer-logreg", "--out", tmp_path / "m"]
    refused_untouched(run, tmp_path, argv, r"standard input", stdin=b">a\nACGT\n")


def test_merge_reads_a_part_from_stdin(world, run, tmp_path):
    res = run("merge-predictions", "--output", tmp_path / "m.tsv", world.parts[0], "-", world.parts[2],
              stdin=world.parts[1].read_bytes())  # fmt: skip
    assert res.code == 0, res.err
    assert (tmp_path / "m.tsv").read_bytes() == reference_rows(world)


def test_help_documents_dash_and_stream_outputs(run):
    for argv in (["predict", "viral"], ["predict", "superenhancer"], ["merge-predictions"], ["evaluate"],
                 ["train", "viral"], ["train", "superenhancer"]):  # fmt: skip
        text = " ".join(run(*argv, "--help").out.split())  # help is wrapped to the terminal's width
        assert "'-'" in text and "standard input" in text, argv
        if argv[0] in ("predict", "merge-predictions"):
            assert "standard output" in text and "atomic" in text, argv


# =================================================================================================================
# 3. Outputs: symbolic links keep pointing at their target; FIFOs and devices are written directly.
# =================================================================================================================
def test_output_through_a_symlink_replaces_the_target_and_keeps_the_link(world, run, tmp_path):
    (tmp_path / "results").mkdir()
    target = tmp_path / "results" / "pred.tsv"
    target.write_text("old\n")
    link = tmp_path / "latest.tsv"
    link.symlink_to("results/pred.tsv")
    res = run(*predict_viral(world, world.fasta, link))
    assert res.code == 0, res.err
    assert link.is_symlink() and os.readlink(link) == "results/pred.tsv"
    assert target.read_bytes() == reference_rows(world)
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["pred.tsv"]


@pytest.mark.timeout(60)
def test_output_to_a_fifo_is_written_directly(world, run, tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = drain(fifo, got)
    res = run(*predict_viral(world, world.fasta, fifo))
    reader.join(10)
    assert res.code == 0, res.err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still a FIFO, not replaced by a regular file
    assert got == [reference_rows(world)]


def test_output_through_a_link_to_a_character_device_is_written_directly(world, run, tmp_path):
    link = tmp_path / "sink"
    link.symlink_to(os.devnull)
    res = run(*predict_viral(world, world.fasta, link))
    assert res.code == 0, res.err
    assert link.is_symlink() and os.readlink(link) == os.devnull
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.parametrize("where", ["missing folder", "parent is a file", "is a directory"])
def test_output_in_a_place_that_cannot_hold_it(world, run, tmp_path, where):
    table = copy(world.table, tmp_path)
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "adir").mkdir()
    out = {"missing folder": tmp_path / "nope" / "p.tsv", "parent is a file": tmp_path / "plain.txt" / "p.tsv",
           "is a directory": tmp_path / "adir"}[where]  # fmt: skip
    refused_untouched(run, tmp_path, predict_se(world, table, out), r"p\.tsv|adir")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_in_a_read_only_folder(world, run, tmp_path):
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        refused_untouched(run, tmp_path, predict_viral(world, world.fasta, tmp_path / "ro" / "o.tsv"), r"writable")
    finally:
        os.chmod(tmp_path / "ro", 0o755)


def test_directory_given_as_input(world, run, tmp_path):
    (tmp_path / "d").mkdir()
    refused_untouched(run, tmp_path, predict_viral(world, tmp_path / "d", tmp_path / "o.tsv"), r"is a directory")


def test_symlinked_input_is_read_through_the_link(world, run, tmp_path):
    (tmp_path / "in.fa").symlink_to(world.fasta)
    res = run(*predict_viral(world, tmp_path / "in.fa", tmp_path / "o.tsv"))
    assert res.code == 0 and (tmp_path / "o.tsv").read_bytes() == reference_rows(world)
    assert (tmp_path / "in.fa").is_symlink()


# =================================================================================================================
# 4. Compression by magic bytes, not by name; other compressed or binary inputs named for what they are.
# =================================================================================================================
COMPRESSORS = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_fasta_is_read_transparently(world, run, tmp_path, kind):
    (tmp_path / "in.dat").write_bytes(COMPRESSORS[kind](world.fasta.read_bytes()))  # the name says nothing
    res = run(*predict_viral(world, tmp_path / "in.dat", tmp_path / "o.tsv"))
    assert res.code == 0, res.err
    assert (tmp_path / "o.tsv").read_bytes() == reference_rows(world)


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_table_is_read_transparently(world, run, tmp_path, kind):
    (tmp_path / "t.csv.z").write_bytes(COMPRESSORS[kind](world.table.read_bytes()))
    res = run(*predict_se(world, tmp_path / "t.csv.z", tmp_path / "p.tsv"))
    assert res.code == 0, res.err
    assert len(rows_of(tmp_path / "p.tsv")) == 600


def test_compressed_viraminer_csv_and_labels(world, run, tmp_path):
    rows = viral_rows(90, 5)
    (tmp_path / "s.fa.bz2").write_bytes(bz2.compress("".join(f">{i}\n{s}\n" for i, s, _ in rows).encode()))
    labels = "".join(f"{i}\t{y}\n" for i, _, y in rows).encode()
    (tmp_path / "s.tsv.xz").write_bytes(lzma.compress(labels))
    res = run("train", "viral", "--data", tmp_path / "s.fa.bz2", "--labels", tmp_path / "s.tsv.xz", "--model",
              "kmer-logreg", "--kmer", "3", "--split", "random", "--out", tmp_path / "m", "--quiet")  # fmt: skip
    assert res.code == 0, res.err


def test_concatenated_gzip_members_are_all_read(world, run, tmp_path):
    data = world.fasta.read_bytes()
    cut = data.index(b">contig6")
    (tmp_path / "in.fa.gz").write_bytes(gzip.compress(data[:cut]) + gzip.compress(data[cut:]))  # as bgzip / cat a b
    res = run(*predict_viral(world, tmp_path / "in.fa.gz", tmp_path / "o.tsv"))
    assert res.code == 0 and (tmp_path / "o.tsv").read_bytes() == reference_rows(world)


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("contigs.fa", ">a\nACGT\n")
    return buffer.getvalue()


OTHER_FORMATS = {
    "zstd": (b"\x28\xb5\x2f\xfd\x04\x00" + bytes(40), r"zstd"),
    "zip": (_zip_bytes(), r"zip"),
    "7z": (b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(40), r"7z|7-Zip"),
    "lz4": (b"\x04\x22\x4d\x18\x64\x40\xa7" + bytes(40), r"lz4|LZ4"),
    "bam": (gzip.compress(b"BAM\x01" + bytes(60)), r"BAM"),
}


@pytest.mark.parametrize("kind", sorted(OTHER_FORMATS))
def test_other_compressed_or_binary_inputs_are_named(world, run, tmp_path, kind):
    content, pattern = OTHER_FORMATS[kind]
    (tmp_path / "in.fa").write_bytes(content)
    refused_untouched(run, tmp_path, predict_viral(world, tmp_path / "in.fa", tmp_path / "o.tsv"), pattern)


def test_a_model_file_given_as_table_is_named(world, run, tmp_path):
    model = copy(world.se_model, tmp_path, "features.csv")
    refused_untouched(run, tmp_path, predict_se(world, model, tmp_path / "p.tsv"), r"zip|PyTorch")


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_truncated_compressed_table_is_named(world, run, tmp_path, kind):
    (tmp_path / "t.csv").write_bytes(COMPRESSORS[kind](world.table.read_bytes())[:-40])
    refused_untouched(run, tmp_path, predict_se(world, tmp_path / "t.csv", tmp_path / "p.tsv"),
                      rf"(truncated|corrupt).*{kind}|{kind}.*(truncated|corrupt)")  # fmt: skip


# =================================================================================================================
# 5. Shards are checked, not trusted.
# =================================================================================================================
def test_merge_refuses_a_missing_shard(world, run, tmp_path):
    argv = ["merge-predictions", "--output", tmp_path / "m.tsv", world.parts[0], world.parts[2]]
    refused_untouched(run, tmp_path, argv, r"shard 1/3 .*missing")


def test_merge_refuses_a_duplicated_shard(world, run, tmp_path):
    again = copy(world.parts[0], tmp_path, "again.tsv")
    argv = ["merge-predictions", "--output", tmp_path / "m.tsv", *world.parts, again]
    refused_untouched(run, tmp_path, argv, r"again\.tsv.*shard 0/3")


# settings: the windows, the scoring path and the calls' N rule and FDR are all in the shard line
SETTINGS = {"other settings": ("--stride", "100"), "other scoring path": ("--exact-windows",),
            "other N rule": ("--max-n-fraction", "0.1"), "other FDR": ("--fdr", "0.05")}


@pytest.mark.parametrize("foreign", ["other input", "other model", *SETTINGS])
def test_merge_refuses_a_foreign_shard(world, run, tmp_path, foreign):
    fasta = copy(world.fasta, tmp_path)
    model = world.viral_model
    extra: tuple = ()
    if foreign == "other input":
        with open(fasta, "ab") as handle:
            handle.write(b">late\nACGTACGT\n")
    elif foreign == "other model":
        model = world.other_model
    else:
        extra = SETTINGS[foreign]
    stranger = tmp_path / "stranger.tsv"
    assert run("predict", "viral", "--model", model, "--input", fasta, "--output", stranger, "--shard", "1/3",
               "--quiet", *extra).code == 0  # fmt: skip
    argv = ["merge-predictions", "--output", tmp_path / "m.tsv", world.parts[0], stranger, world.parts[2]]
    refused_untouched(run, tmp_path, argv, r"stranger\.tsv")


def test_merge_accepts_parts_read_from_a_plain_and_a_compressed_copy(world, run, tmp_path):
    (tmp_path / "in.fa.xz").write_bytes(lzma.compress(world.fasta.read_bytes()))
    assert run(*predict_viral(world, tmp_path / "in.fa.xz", tmp_path / "p1.tsv", "--shard", "1/3")).code == 0
    res = run("merge-predictions", "--output", tmp_path / "m.tsv", world.parts[0], tmp_path / "p1.tsv", world.parts[2])
    assert res.code == 0, res.err
    assert (tmp_path / "m.tsv").read_bytes() == reference_rows(world)


def test_merge_refuses_a_file_that_is_not_a_shard(world, run, tmp_path):
    argv = ["merge-predictions", "--output", tmp_path / "m.tsv", world.reference]
    refused_untouched(run, tmp_path, argv, r"all\.tsv.*shard")


def test_merge_refuses_when_one_skipped_list_is_missing(world, run, tmp_path):
    parts = []
    for i in range(2):
        parts.append(tmp_path / f"p{i}.tsv")
        assert run(*predict_viral(world, world.fasta, parts[-1], "--shard", f"{i}/2", "--skip-invalid")).code == 0
    os.unlink(tmp_path / "p1.tsv.skipped.tsv")
    refused_untouched(run, tmp_path, ["merge-predictions", "--output", tmp_path / "m.tsv", *parts], r"p1\.tsv")


@HYPOTHESIS
@given(chosen=st.lists(st.integers(0, 2), min_size=1, max_size=5))
def test_merge_accepts_exactly_one_of_each_shard(world, tmp_path_factory, chosen):
    folder = tmp_path_factory.mktemp("merge")
    parts = [str(world.parts[i]) for i in chosen]
    code = main(["merge-predictions", "--output", str(folder / "m.tsv"), *parts])
    if sorted(chosen) == [0, 1, 2]:
        assert code == 0 and (folder / "m.tsv").read_bytes() == reference_rows(world)
    else:
        assert code == 2 and not (folder / "m.tsv").exists()


# =================================================================================================================
# 6. Every option is validated before any work starts: one line naming the option.
# =================================================================================================================
def _finite_positive(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return value > 0 and np.isfinite(value)


def _int_between(low: int, high: int):
    def check(text: str) -> bool:
        try:
            value = int(text)
        except ValueError:
            return False
        return low <= value <= high

    return check


ODD_VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "-inf", "inf", "1e400", "0x10", "1/2", "1,5", "3.0", "½", "1e3", "007"]),
)
TRAIN_OPTIONS = {
    "--lr": _finite_positive,
    "--seed": _int_between(0, 2**32 - 1),
    "--epochs": _int_between(1, 100_000),
    "--batch-size": _int_between(2, 1 << 20),
    "--patience": _int_between(1, 100_000),
    "--width": _int_between(8, 4096),
}


@HYPOTHESIS
@given(option=st.sampled_from(sorted(TRAIN_OPTIONS)), value=ODD_VALUES)
def test_any_training_option_value_is_one_line_and_leaves_nothing(tmp_path_factory, capsys, option, value):
    folder = tmp_path_factory.mktemp("opt")
    capsys.readouterr()
    code = main(["train", "superenhancer", "--data", str(folder / "missing.csv"), "--model", "ressen",
                 "--out", str(folder / "out"), f"{option}={value}"])  # fmt: skip
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    # a bad value is named before the data is even looked at; a good one gets as far as the missing data file
    assert (option in err[0]) == (not TRAIN_OPTIONS[option](value)), err
    assert list(folder.iterdir()) == []


PREDICT_OPTIONS = {"--stride": _int_between(1, 300), "--batch-size": _int_between(1, 1 << 16)}


@HYPOTHESIS
@given(option=st.sampled_from(sorted(PREDICT_OPTIONS)), value=ODD_VALUES)
def test_any_predict_option_value_is_one_line_and_leaves_nothing(world, tmp_path_factory, capsys, option, value):
    folder = tmp_path_factory.mktemp("opt")
    capsys.readouterr()
    code = main(["predict", "viral", "--model", str(world.viral_model), "--input", str(folder / "missing.fa"),
                 "--output", str(folder / "o.tsv"), f"{option}={value}"])  # fmt: skip
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    assert (option in err[0]) == (not PREDICT_OPTIONS[option](value)), err
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("shard", ["3/2", "2/2", "-1/2", "1/0", "0/-1", "a/b", "0/1/2", "1", "", "1.5/3"])
def test_odd_shards_name_the_option(world, run, tmp_path, shard):
    refused_untouched(run, tmp_path, predict_viral(world, world.fasta, tmp_path / "o.tsv", f"--shard={shard}"),
                      r"--shard")  # fmt: skip


@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "-1", "0"])
def test_odd_bench_sizes_name_the_option(run, tmp_path, value):
    argv = ["bench", "--out", tmp_path / "b.json", "--quick", f"--predict-mbp={value}", "--models", "resvg-cpu"]
    refused_untouched(run, tmp_path, argv, r"--predict-mbp")


@pytest.mark.parametrize("value", ["0", "-3", "1000000"])
def test_odd_reproduce_seeds_name_the_option(run, tmp_path, value):
    (tmp_path / "empty").mkdir()  # should the value pass, the run stops at once for want of data
    argv = ["reproduce", "--out", tmp_path / "r", "--preset", "smoke", "--seeds", value, "--data-dir", tmp_path / "empty"]
    refused_untouched(run, tmp_path, argv, r"--seeds")


@pytest.mark.parametrize("command", ["train", "predict", "bench"])
def test_cuda_without_a_gpu_is_refused_at_once(world, run, tmp_path, command):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv = {"train": ["train", "superenhancer", "--data", world.table, "--model", "ressen", "--out", tmp_path / "o"],
            "predict": predict_viral(world, world.fasta, tmp_path / "o.tsv"),
            "bench": ["bench", "--out", tmp_path / "b" / "b.json", "--quick"]}[command]  # fmt: skip
    refused_untouched(run, tmp_path, [*argv, "--device", "cuda"], r"--device")


def test_unknown_model_is_refused_before_the_output_folder_is_made(world, run, tmp_path):
    argv = ["train", "superenhancer", "--data", world.table, "--model", "nosuch", "--out", tmp_path / "o"]
    refused_untouched(run, tmp_path, argv, r"--model")


# =================================================================================================================
# 7. Degenerate data that still parses.
# =================================================================================================================
def _table_lines(world: World) -> list[str]:
    return world.table.read_text().splitlines()


def test_training_rows_of_one_class_are_refused(world, run, tmp_path):
    lines = _table_lines(world)
    (tmp_path / "te.csv").write_text("\n".join([lines[0]] + [x for x in lines[1:] if ",TE," in x]) + "\n")
    argv = ["train", "superenhancer", "--data", tmp_path / "te.csv", "--model", "logreg", "--split", "random",
            "--out", tmp_path / "o"]  # fmt: skip
    refused_untouched(run, tmp_path, argv, r"one class")


def test_validation_without_positives_is_refused(world, run, tmp_path):
    for part in ("train", "test"):
        copy(Path(f"{world.prefix}_{part}.csv"), tmp_path, f"v_{part}.csv")
    negatives = [line for line in Path(f"{world.prefix}_validation.csv").read_text().splitlines() if line[-1] == "0"]
    (tmp_path / "v_validation.csv").write_text("\n".join(negatives) + "\n")
    argv = ["train", "viral", "--data", tmp_path / "v", "--model", "kmer-logreg", "--kmer", "3", "--out",
            tmp_path / "o"]  # fmt: skip
    refused_untouched(run, tmp_path, argv, r"validation.*one class|no (positive|viral)")


def test_constant_features_are_refused(world, run, tmp_path):
    reader = list(csv.reader(world.table.read_text().splitlines()))
    for row in reader[1:]:
        row[4:-1] = ["1.0"] * (len(row) - 5)
    with open(tmp_path / "const.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(reader)
    argv = ["train", "superenhancer", "--data", tmp_path / "const.csv", "--model", "logreg", "--out", tmp_path / "o"]
    refused_untouched(run, tmp_path, argv, r"constant")


def test_evaluating_on_one_class_says_so_in_one_warning(world, run, tmp_path):
    lines = _table_lines(world)
    (tmp_path / "te.csv").write_text("\n".join([lines[0]] + [x for x in lines[1:] if ",TE," in x]) + "\n")
    res = run("evaluate", "--model", world.se_model, "--data", tmp_path / "te.csv", "--out", tmp_path / "ev")
    assert res.code == 0
    assert len(res.err) == 2 and res.err[0].startswith("warning: ") and "one class" in res.err[0], res.err


@pytest.mark.parametrize("skip", [False, True])
def test_a_record_of_only_n_is_not_called(world, run, tmp_path, skip):
    """A record of N only is not invalid input, and never a call: it has no window to score (issue 11: `no-call`
    with its reason, whether or not --skip-invalid is given)."""
    (tmp_path / "n.fa").write_bytes(b">real\n" + b"ACGT" * 100 + b"\n>gap\n" + b"N" * 600 + b"\n")
    extra = ("--skip-invalid",) if skip else ()
    res = run(*predict_viral(world, tmp_path / "n.fa", tmp_path / "o.tsv", *extra))
    assert res.code == 0
    rows = {r["seq_id"]: r for r in rows_of(tmp_path / "o.tsv")}
    assert list(rows) == ["real", "gap"]
    assert (rows["gap"]["call"], rows["gap"]["reason"], rows["gap"]["n_scored"]) == ("no-call", "no-scorable-window",
                                                                                      "0")  # fmt: skip


# =================================================================================================================
# 8. Text files as they come: empty, header only, CRLF, BOM, trailing whitespace, odd bytes, duplicates.
# =================================================================================================================
@pytest.mark.parametrize("content, pattern", [
    (b"", r"empty"),
    (b"\n\n  \n", r"empty"),
    (None, r"no data rows"),  # header only
], ids=["empty", "blank", "header only"])  # fmt: skip
def test_empty_tables(world, run, tmp_path, content, pattern):
    (tmp_path / "t.csv").write_bytes(content if content is not None else _table_lines(world)[0].encode() + b"\n")
    refused_untouched(run, tmp_path, predict_se(world, tmp_path / "t.csv", tmp_path / "p.tsv"), pattern)


@pytest.mark.parametrize("transform", ["crlf", "bom", "bom+crlf", "trailing spaces", "no final newline"])
def test_table_variants_score_every_row_alike(world, run, tmp_path, transform):
    text = world.table.read_text()
    body = {"crlf": text.replace("\n", "\r\n"), "bom": "\ufeff" + text, "bom+crlf": "\ufeff" + text.replace("\n", "\r\n"),
            "trailing spaces": text.replace("\n", "  \n"), "no final newline": text.rstrip("\n")}[transform]  # fmt: skip
    (tmp_path / "t.csv").write_bytes(body.encode("utf-8"))
    assert run(*predict_se(world, world.table, tmp_path / "ref.tsv")).code == 0
    res = run(*predict_se(world, tmp_path / "t.csv", tmp_path / "p.tsv"))
    assert res.code == 0, res.err
    assert (tmp_path / "p.tsv").read_bytes() == (tmp_path / "ref.tsv").read_bytes()


def test_utf16_table_is_named(world, run, tmp_path):
    (tmp_path / "t.csv").write_bytes(world.table.read_text().encode("utf-16"))
    refused_untouched(run, tmp_path, predict_se(world, tmp_path / "t.csv", tmp_path / "p.tsv"), r"UTF-16")


@pytest.mark.parametrize("transform", ["crlf", "bom", "lower case", "one line per record"])
def test_fasta_variants_score_alike(world, run, tmp_path, transform):
    text = world.fasta.read_bytes()
    if transform == "crlf":
        text = text.replace(b"\n", b"\r\n")
    elif transform == "bom":
        text = b"\xef\xbb\xbf" + text
    elif transform == "lower case":
        text = b"".join(line if line.startswith(b">") else line.lower() for line in text.splitlines(True))
    else:
        records = [chunk.split(b"\n", 1) for chunk in text.split(b">")[1:]]
        text = b"".join(b">" + header + b"\n" + body.replace(b"\n", b"") + b"\n" for header, body in records)
    (tmp_path / "in.fa").write_bytes(text)
    res = run(*predict_viral(world, tmp_path / "in.fa", tmp_path / "o.tsv"))
    assert res.code == 0, res.err
    assert (tmp_path / "o.tsv").read_bytes() == reference_rows(world)


@pytest.mark.parametrize("content, pattern", [
    (b">a\xff\nACGT\n", r"line 1.*UTF-8"),
    (b">a\nACGT\n>a\nACGT\n", r"line 3.*unique"),
    (b"", r"empty"),
    (b">a\nACGT\n>b\n", r"'b'.*no sequence"),
    (b"ACGT\n", r"not a FASTA|3 comma-separated"),
], ids=["non-utf8 id", "duplicated id", "empty", "header without sequence", "no header"])  # fmt: skip
def test_bad_fasta_is_one_line(world, run, tmp_path, content, pattern):
    (tmp_path / "in.fa").write_bytes(content)
    refused_untouched(run, tmp_path, predict_viral(world, tmp_path / "in.fa", tmp_path / "o.tsv"), pattern)


@pytest.mark.parametrize("content, pattern", [
    (b"a\t1\na\t0\n", r"line 2.*unique"),
    (b"seq_id\tlabel\n", r"no labels"),
    (b"a\t1\nb\tyes\n", r"line 2.*not 0 or 1"),
    (b"a\xff\t1\n", r"line 1.*UTF-8"),
], ids=["duplicated id", "header only", "bad label", "non-utf8 id"])  # fmt: skip
def test_bad_label_files_are_one_line(world, run, tmp_path, content, pattern):
    (tmp_path / "s.fa").write_text(">a\n" + "ACGT" * 75 + "\n>b\n" + "TTGA" * 75 + "\n")
    (tmp_path / "l.tsv").write_bytes(content)
    argv = ["train", "viral", "--data", tmp_path / "s.fa", "--labels", tmp_path / "l.tsv", "--model", "kmer-logreg",
            "--split", "random", "--out", tmp_path / "o"]  # fmt: skip
    refused_untouched(run, tmp_path, argv, pattern)


def test_label_file_with_crlf_and_bom_is_read(world, run, tmp_path):
    rows = viral_rows(90, 6)
    (tmp_path / "s.fa").write_text("".join(f">{i}\n{s}\n" for i, s, _ in rows))
    (tmp_path / "l.tsv").write_bytes(b"\xef\xbb\xbfseq_id\tlabel\r\n" + "".join(f"{i}\t{y}\r\n" for i, _, y in rows).encode())
    res = run("train", "viral", "--data", tmp_path / "s.fa", "--labels", tmp_path / "l.tsv", "--model", "kmer-logreg",
              "--kmer", "3", "--split", "random", "--out", tmp_path / "o", "--quiet")  # fmt: skip
    assert res.code == 0, res.err


def test_a_long_single_line_record_streams(world, run, tmp_path):
    rng = np.random.default_rng(1)
    seq = rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), 1_500_000).tobytes()
    (tmp_path / "one.fa").write_bytes(b">chr\n" + seq + b"\n")
    res = run(*predict_viral(world, tmp_path / "one.fa", tmp_path / "o.tsv"))
    assert res.code == 0, res.err
    assert rows_of(tmp_path / "o.tsv")[0]["length"] == "1500000"


def test_a_huge_line_that_is_not_a_table(world, run, tmp_path):
    (tmp_path / "t.csv").write_bytes(b"x" * 3_000_000 + b"\n")
    refused_untouched(run, tmp_path, predict_se(world, tmp_path / "t.csv", tmp_path / "p.tsv"), r"t\.csv")


@HYPOTHESIS
@given(lengths=st.lists(st.integers(1, 900), min_size=1, max_size=6),
       kind=st.sampled_from(["plain", "gzip", "bzip2", "xz"]), through=st.sampled_from(["file", "stdin", "pipe"]))  # fmt: skip
def test_any_fasta_scores_alike_in_any_compression_through_any_stream(world, tmp_path_factory, capsys, monkeypatch,
                                                                        lengths, kind, through):  # fmt: skip
    folder = tmp_path_factory.mktemp("fa")
    data = fasta_bytes(lengths, seed=len(lengths))
    (folder / "plain.fa").write_bytes(data)
    packed = data if kind == "plain" else COMPRESSORS[kind](data)
    assert main([str(a) for a in predict_viral(world, folder / "plain.fa", folder / "ref.tsv")]) == 0
    read_fd = None
    if through == "file":
        (folder / "in").write_bytes(packed)
        source = str(folder / "in")
    elif through == "stdin":
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(packed)))
        source = "-"
    else:
        read_fd, write_fd = os.pipe()
        feed(write_fd, packed)
        source = f"/dev/fd/{read_fd}"
    try:
        code = main([str(a) for a in predict_viral(world, source, folder / "o.tsv")])
    finally:
        if read_fd is not None:
            os.close(read_fd)
    capsys.readouterr()
    assert code == 0
    assert (folder / "o.tsv").read_bytes() == (folder / "ref.tsv").read_bytes()


# =================================================================================================================
# 9. A failing command leaves no output folder behind.
# =================================================================================================================
def test_missing_data_leaves_no_reproduce_folder(run, tmp_path):
    argv = ["reproduce", "--out", tmp_path / "r", "--preset", "smoke", "--task", "superenhancer", "--data-dir",
            tmp_path / "empty"]  # fmt: skip
    (tmp_path / "empty").mkdir()
    refused_untouched(run, tmp_path, argv, r"no data")


def test_a_file_as_output_folder(world, run, tmp_path):
    (tmp_path / "out").write_text("x")
    for argv in (["train", "superenhancer", "--data", world.table, "--model", "logreg", "--out", tmp_path / "out"],
                 ["evaluate", "--model", world.se_model, "--data", world.table, "--out", tmp_path / "out"],
                 ["data", "fetch", "viraminer", "--dir", tmp_path / "out"]):  # fmt: skip
        refused_untouched(run, tmp_path, argv, r"out")


# =================================================================================================================
# 10. Real processes: /dev/stdin, signals, a closed pipe, a redirected stdout.
# =================================================================================================================
@pytest.mark.slow
def test_table_piped_to_dev_stdin_keeps_every_row(world, tmp_path):
    """The issue's own example: cat table.csv | resgenome predict superenhancer --input /dev/stdin."""
    proc = subprocess.run(cli_command() + [str(a) for a in predict_se(world, "/dev/stdin", tmp_path / "p.tsv")],
                          input=world.table.read_bytes(), env=subprocess_env(), capture_output=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(rows_of(tmp_path / "p.tsv")) == 600


def _interrupt(argv: list, folder: Path, sig: int, wait_for) -> subprocess.CompletedProcess:
    """Start the CLI in ``folder``, send ``sig`` once ``wait_for()`` is true, and return the finished process."""
    proc = subprocess.Popen(cli_command() + [str(a) for a in argv], cwd=folder, env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while not wait_for() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "finished before it could be interrupted: " + proc.stderr.read().decode()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_interrupted_prediction_leaves_nothing(world, tmp_path, sig, code):
    rng = np.random.default_rng(2)
    seq = rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), 3_000_000).tobytes()
    (tmp_path / "big.fa").write_bytes(b">a\n" + seq + b"\n>b\n" + seq + b"\n")
    before = snapshot(tmp_path)
    proc = _interrupt(predict_viral(world, "big.fa", "o.tsv", "--per-window", "--stride", "10"), tmp_path, sig,
                      lambda: bool(_temporaries(tmp_path)))  # fmt: skip
    err = [line for line in proc.stderr.decode().splitlines() if line.strip()]
    assert proc.returncode == code, err
    assert len(err) == 1 and "interrupted" in err[0], err
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_interrupted_training_keeps_only_its_resumable_state(tmp_path):
    table = write_se_table(tmp_path / "se.csv", n=2400, seed=5)
    argv = ["train", "superenhancer", "--data", table, "--model", "ressen", "--preset", "smoke", "--epochs", "500",
            "--patience", "500", "--batch-size", "8", "--out", "run", "--quiet"]  # fmt: skip
    proc = _interrupt(argv, tmp_path, signal.SIGTERM, lambda: (tmp_path / "run" / "train_state.pt").exists())
    err = [line for line in proc.stderr.decode().splitlines() if line.strip()]
    assert proc.returncode == 143, err
    assert len(err) == 1 and "--resume" in err[0], err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["train_state.pt"]


@pytest.mark.slow
def test_a_closed_downstream_pipe_ends_quietly(world, tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "big.fa").write_bytes(b">a\n" + rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), 400_000).tobytes())
    proc = subprocess.Popen(cli_command() + [str(a) for a in predict_viral(world, "big.fa", "-", "--per-window",
                            "--stride", "1")], cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout.readline().startswith(b"seq_id")
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "Error" not in err, err


@pytest.mark.slow
def test_stdout_appended_to_the_input_is_refused(world, tmp_path):
    fasta = copy(world.fasta, tmp_path)
    before = snapshot(tmp_path)
    with open(fasta, "ab") as sink:  # resgenome predict viral --input contigs.fa --output - >> contigs.fa
        proc = subprocess.run(cli_command() + [str(a) for a in predict_viral(world, fasta, "-")], stdout=sink,
                              stderr=subprocess.PIPE, cwd=tmp_path, env=subprocess_env(), timeout=120)  # fmt: skip
    err = [line for line in proc.stderr.decode().splitlines() if line.strip()]
    assert proc.returncode == 2 and len(err) == 1 and "same file as the input" in err[0], err
    assert snapshot(tmp_path) == before
