"""Tests for the viral task end to end: train / evaluate / predict viral through the CLI, splits, duplicates, sharding."""

from __future__ import annotations

import csv
import gzip
import json
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from resgenome import pipeline
from resgenome import predict as predict_module
from resgenome.cli import main
from resgenome.data import sequences
from resgenome.data.sequences import decode, encode, read_fasta, reverse_complement, window_starts, windows
from resgenome.models import classical
from resgenome.tasks import get_task
from resgenome.tasks.viral import duplicates_across, experiment_groups

DATA_DIR = os.environ.get("RESGENOME_DATA_DIR")
needs_data = pytest.mark.skipif(not DATA_DIR, reason="RESGENOME_DATA_DIR is not set")
MOTIF = "GATTACAGATTACA"


# ------------------------------------------------------------------------------------------------- fixtures
def synthetic_rows(n: int, seed: int, experiment: str = "expA") -> list[tuple[str, str, int]]:
    """300-bp sequences; every third carries MOTIF (label 1)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        seq = "".join(rng.choice(list("ACGT"), 300))
        label = int(i % 3 == 0)
        if label:
            at = int(rng.integers(0, 300 - len(MOTIF)))
            seq = seq[:at] + MOTIF + seq[at + len(MOTIF) :]
        rows.append((f"seq{seed}x{i}_{experiment}", seq, label))
    return rows


def write_csv(path: Path, rows) -> Path:
    path.write_text("".join(f"{i},{s},{y}\n" for i, s, y in rows))
    return path


@pytest.fixture(scope="module")
def synthetic_prefix(tmp_path_factory) -> Path:
    """PREFIX_{train,validation,test}.csv; the test part repeats one train sequence and one train reverse complement."""
    root = tmp_path_factory.mktemp("synthetic")
    train, val, test = synthetic_rows(150, 1), synthetic_rows(60, 2), synthetic_rows(60, 3)
    test[0] = ("dupexact_expA", train[5][1], train[5][2])
    test[1] = ("duprc_expA", decode(reverse_complement(encode(train[7][1]))), train[7][2])
    for part, rows in (("train", train), ("validation", val), ("test", test)):
        write_csv(root / f"syn_{part}.csv", rows)
    return root / "syn"


@pytest.fixture(scope="module")
def devset_prefix(tmp_path_factory) -> Path:
    """The first 400 rows of each development-set file, as a PREFIX."""
    if not DATA_DIR:
        pytest.skip("RESGENOME_DATA_DIR is not set")
    root = tmp_path_factory.mktemp("devslice")
    for part in ("train", "validation", "test"):
        lines = (Path(DATA_DIR) / "viral" / f"devset_{part}.csv").read_text().splitlines(keepends=True)[:400]
        (root / f"dev_{part}.csv").write_text("".join(lines))
    return root / "dev"


def train_cli(data: Path, model: str, out: Path, *extra: str, quiet: bool = True) -> int:
    return main(["train", "viral", "--data", str(data), "--model", model, "--preset", "smoke", "--epochs", "1",
                 "--batch-size", "64", "--out", str(out), *extra] + ["--quiet"] * quiet)  # fmt: skip


@pytest.fixture(scope="module")
def trained(devset_prefix, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    out = {}
    for model in ("resvg", "kmer-logreg"):
        assert train_cli(devset_prefix, model, root / model, "--split", "fullset") == 0
        out[model] = root / model
    return out


@pytest.fixture(scope="module")
def toy_model(synthetic_prefix, tmp_path_factory) -> Path:
    """A smoke ResVG trained on the synthetic data (no shared data needed): for prediction tests."""
    out = tmp_path_factory.mktemp("toy") / "resvg"
    assert train_cli(synthetic_prefix, "resvg", out) == 0
    return out / "model.pt"


def random_fasta(path: Path, lengths: list[int], seed: int = 0, width: int = 70) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    records = {}
    with open(path, "w") as handle:
        for k, length in enumerate(lengths):
            seq = "".join(rng.choice(list("ACGTNacgt"), length, p=[0.22] * 4 + [0.04] + [0.02] * 4))
            records[f"contig{k}"] = seq
            handle.write(f">contig{k} sample description\n")
            for i in range(0, length, width):
                handle.write(seq[i : i + width] + "\n")
    return records


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


# ------------------------------------------------------------------------------------------------- task pieces
def test_experiment_groups_strip_contig_piece_numbers():
    ids = ["seq1_2013_E2_SCC", "seq2_2013_E2_SCC1", "seq3_2013_E2_SCC12", "seq4_2015_F2_20160119",
           "seq5_2015_F2_201601191", "seq6_2014_G7_MSNEW2", "seq7_2014_G7_MSNEW210", "seq8_2014_D3_Hyoty"]  # fmt: skip
    assert experiment_groups(ids).tolist() == [
        "2013_E2_SCC", "2013_E2_SCC", "2013_E2_SCC", "2015_F2_20160119", "2015_F2_20160119", "2014_G7_MSNEW2",
        "2014_G7_MSNEW2", "2014_D3_Hyoty",
    ]  # fmt: skip


def test_duplicates_across_counts_exact_and_reverse_complement():
    a = np.array([encode("ACGTT"), encode("GGGAA"), encode("CCCCC")])
    b = np.array([encode("ACGTT"), encode("TTCCC"), encode("AAAAA"), encode("GGGGG")])
    # ACGTT exact; TTCCC = rc(GGGAA); GGGGG = rc(CCCCC); AAAAA new
    assert duplicates_across(a, b) == (1, 2)
    assert duplicates_across(a, b[:0]) == (0, 0)


def test_splits_and_their_errors(synthetic_prefix):
    task = get_task("viral")
    data = task.load(synthetic_prefix)
    assert data.files == [f"{synthetic_prefix}_{p}.csv" for p in ("train", "validation", "test")]
    full = task.make_split(data, "fullset", 0)
    assert full.sizes() == {"train": 150, "validation": 60, "test": 60}
    assert data.ids[full.test[0]] == "dupexact_expA"
    rnd = task.make_split(data, "random", 0)
    assert sum(rnd.sizes().values()) == 270 and not set(rnd.train) & set(rnd.test)
    single = task.load(f"{synthetic_prefix}_train.csv")
    with pytest.raises(Exception, match="fullset needs the three files"):
        task.make_split(single, "fullset", 0)
    with pytest.raises(Exception, match="not a split"):
        task.make_split(data, "chromosome", 0)
    checks = task.check_split(data, full)
    assert checks["duplicates_in_train"]["test"] == {"exact": 1, "reverse_complement": 1}


def test_sparse_kmer_inputs_score_like_dense(synthetic_prefix):
    task = get_task("viral")
    data = task.load(synthetic_prefix)
    prep = task.fit_preprocessing(data, np.arange(150), {"model": "kmer-rf", "kmer": 4})
    X = task.classical_inputs(data, prep)
    assert X.shape == (270, 256)
    est = classical.make_estimator("kmer-rf", seed=0, n_estimators=5).fit(X[:150], data.labels[:150])
    exported = classical.export(est)
    np.testing.assert_allclose(classical.predict_exported(exported, X), est.predict_proba(X)[:, 1])
    np.testing.assert_allclose(classical.predict_exported(exported, X), classical.predict_exported(exported, X.toarray()))


# ------------------------------------------------------------------------------------------------- train / evaluate
def test_duplicates_report_in_log_and_metrics(synthetic_prefix, tmp_path, capsys):
    assert train_cli(synthetic_prefix, "kmer-logreg", tmp_path / "lr", "--kmer", "4", quiet=False) == 0
    metrics = json.loads((tmp_path / "lr" / "metrics.json").read_text())
    assert metrics["duplicates_in_train"]["test"] == {"exact": 1, "reverse_complement": 1}
    assert metrics["split"] == "fullset" and metrics["task"] == "viral"
    assert metrics["test"]["auroc"] > 0.5
    assert "1 test sequences also in train, 1 more as reverse complement" in capsys.readouterr().err


def test_viraminer_staged_via_cli_and_reload(synthetic_prefix, tmp_path):
    out = tmp_path / "vm"
    assert train_cli(synthetic_prefix, "viraminer-staged", out) == 0
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 3  # one epoch per stage
    assert main(["evaluate", "--model", str(out / "model.pt"), "--data", f"{synthetic_prefix}_test.csv",
                 "--out", str(tmp_path / "ev")]) == 0  # fmt: skip


@needs_data
def test_train_writes_the_run_directory(trained):
    for model, out in trained.items():
        for name in ("model.pt", "metrics.json", "history.csv", "test_scores.csv", "roc_pr.png"):
            assert (out / name).is_file(), (model, name)
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["model"] == model and metrics["sizes"] == {"train": 400, "validation": 400, "test": 400}
        assert "duplicates_in_train" in metrics and metrics["test"]["auroc"] is not None


@needs_data
@pytest.mark.parametrize("model", ["resvg", "kmer-logreg"])
def test_evaluate_reproduces_the_test_metrics(trained, devset_prefix, tmp_path, model):
    out = tmp_path / "ev"
    assert main(["evaluate", "--model", str(trained[model]), "--data", f"{devset_prefix}_test.csv",
                 "--out", str(out)]) == 0  # fmt: skip
    got = json.loads((out / "metrics.json").read_text())["test"]
    expected = json.loads((trained[model] / "metrics.json").read_text())["test"]
    assert got["auroc"] == pytest.approx(expected["auroc"], abs=1e-9)
    assert got["confusion"] == expected["confusion"]


@needs_data
def test_kmer_model_predicts_contigs(trained, tmp_path):
    random_fasta(tmp_path / "in.fa", [900, 100])
    assert main(["predict", "viral", "--model", str(trained["kmer-logreg"]), "--input", str(tmp_path / "in.fa"),
                 "--output", str(tmp_path / "out.tsv"), "--quiet"]) == 0  # fmt: skip
    rows = read_tsv(tmp_path / "out.tsv")
    assert [r["n_windows"] for r in rows] == ["5", "1"] and [r["padded"] for r in rows] == ["0", "1"]


# ------------------------------------------------------------------------------------------------- predict
def predict_cli(model: Path, fasta: Path, out: Path, *extra: str) -> int:
    return main(["predict", "viral", "--model", str(model), "--input", str(fasta), "--output", str(out), "--quiet",
                 *extra])  # fmt: skip


# both ways of scoring a ResVG: the trunk once per base (default) and every window on its own
METHODS = pytest.mark.parametrize("method", [(), ("--exact-windows",)], ids=["fullconv", "exact"])


@METHODS
def test_predict_contigs_long_and_short(toy_model, tmp_path, method):
    lengths = [1000, 120, 300, 301, 2000, 40]
    random_fasta(tmp_path / "in.fa", lengths)
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "c.tsv", "--batch-size", "5", *method) == 0
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "w.tsv", "--per-window", "--batch-size", "5",
                       *method) == 0  # fmt: skip
    contigs, windows = read_tsv(tmp_path / "c.tsv"), read_tsv(tmp_path / "w.tsv")
    assert list(contigs[0]) == ["seq_id", "length", "n_windows", "score", "score_mean", "label", "padded", "record"]
    assert [r["seq_id"] for r in contigs] == [f"contig{k}" for k in range(6)]
    assert [int(r["length"]) for r in contigs] == lengths
    assert [int(r["n_windows"]) for r in contigs] == [len(window_starts(n, 300, 150)) for n in lengths]
    assert [r["padded"] for r in contigs] == ["0", "1", "0", "0", "0", "1"]
    assert {r["label"] for r in contigs} <= {"viral", "non-viral"}
    for contig in contigs:
        mine = [w for w in windows if w["seq_id"] == contig["seq_id"]]
        scores = [float(w["score"]) for w in mine]
        n = int(contig["length"])
        assert [int(w["start"]) for w in mine] == window_starts(n, 300, 150).tolist()
        assert all(int(w["end"]) == min(int(w["start"]) + 300, n) for w in mine)
        assert float(contig["score"]) == pytest.approx(max(scores), abs=2e-6)
        assert float(contig["score_mean"]) == pytest.approx(np.mean(scores), abs=2e-6)


@METHODS
def test_both_strands_scores_a_contig_and_its_reverse_complement_alike(toy_model, tmp_path, method):
    rng = np.random.default_rng(5)
    seq = "".join(rng.choice(list("ACGT"), 300 + 150 * 4))  # windows symmetric under reversal
    rc = decode(reverse_complement(encode(seq)))
    (tmp_path / "in.fa").write_text(f">fwd\n{seq}\n>rev\n{rc}\n")
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "one.tsv", *method) == 0
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "both.tsv", "--both-strands", *method) == 0
    one, both = read_tsv(tmp_path / "one.tsv"), read_tsv(tmp_path / "both.tsv")
    assert float(both[0]["score"]) == pytest.approx(float(both[1]["score"]), abs=2e-6)
    assert float(both[0]["score_mean"]) == pytest.approx(float(both[1]["score_mean"]), abs=2e-6)
    # each window's two-strand score is the mean of its own and its mirror's one-strand score
    expected = (float(one[0]["score_mean"]) + float(one[1]["score_mean"])) / 2
    assert float(both[0]["score_mean"]) == pytest.approx(expected, abs=2e-6)


@METHODS
def test_three_shards_merge_to_the_unsharded_output(toy_model, tmp_path, method):
    random_fasta(tmp_path / "in.fa", [700, 50, 300, 1200, 450, 299, 301, 800], seed=3)
    for extra, name in ((method, "all"), (("--per-window", *method), "all_w")):
        assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / f"{name}.tsv", "--batch-size", "4", *extra) == 0
        parts = []
        for i in range(3):
            part = tmp_path / f"{name}.{i}.tsv"
            assert predict_cli(toy_model, tmp_path / "in.fa", part, "--shard", f"{i}/3", "--batch-size", "4",
                               *extra) == 0  # fmt: skip
            parts.append(str(part))
        assert [len(read_tsv(Path(p))) > 0 for p in parts] == [True] * 3
        merged = tmp_path / f"{name}.merged.tsv"
        assert main(["merge-predictions", "--output", str(merged), *parts[::-1]]) == 0
        assert merged.read_bytes() == (tmp_path / f"{name}.tsv").read_bytes()
    # a part given twice is refused
    assert main(["merge-predictions", "--output", str(tmp_path / "bad.tsv"), parts[0], parts[0]]) != 0
    assert not (tmp_path / "bad.tsv").exists()


def test_a_huge_record_is_scored_in_chunks_with_the_same_result(toy_model, tmp_path, monkeypatch):
    random_fasta(tmp_path / "in.fa", [6000, 100, 3000], seed=7)
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "whole.tsv", "--per-window") == 0
    monkeypatch.setattr(predict_module, "_WINDOWS_PER_CHUNK", 3)
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "chunked.tsv", "--per-window") == 0
    assert (tmp_path / "chunked.tsv").read_bytes() == (tmp_path / "whole.tsv").read_bytes()


@METHODS
def test_tiny_pieces_score_like_whole_records(toy_model, tmp_path, monkeypatch, method):
    random_fasta(tmp_path / "in.fa", [1, 299, 300, 301, 451, 3001, 150], seed=8, width=61)
    for name, piece_bases in (("whole", 1 << 20), ("pieces", 7)):
        monkeypatch.setattr(predict_module, "_PIECE_BASES", piece_bases)
        for extra in ((), ("--per-window",)):
            out = tmp_path / f"{name}{''.join(extra)}.tsv"
            assert predict_cli(toy_model, tmp_path / "in.fa", out, "--batch-size", "7", *extra, *method) == 0
    assert (tmp_path / "pieces.tsv").read_bytes() == (tmp_path / "whole.tsv").read_bytes()
    assert (tmp_path / "pieces--per-window.tsv").read_bytes() == (tmp_path / "whole--per-window.tsv").read_bytes()


# A stand-in model whose window scores are cheap, depend on every base and are multiples of 1/2048, so that sums and
# means come out exactly the same in any order: streamed and whole-record output can then be compared byte for byte.
FAKE_WINDOW, FAKE_STRIDE = 10, 4
FAKE_WEIGHTS = np.arange(1, FAKE_WINDOW + 1) ** 2


def fake_score(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.int64) @ FAKE_WEIGHTS % 1024) / 1024


@pytest.fixture
def fake_model(monkeypatch) -> dict:
    """Makes ``predict_viral`` load a model of window FAKE_WINDOW scoring with :func:`fake_score`; counts windows."""
    scored = {"windows": 0}

    def scorer(batch, **kwargs):
        scored["windows"] += len(batch.codes)
        return fake_score(batch.codes)

    def load_model(path, task=None):
        ckpt = {"preprocessing": {"seq_length": FAKE_WINDOW}, "threshold": 0.5, "model": {"kind": "kmer"}}
        return ckpt, scorer

    monkeypatch.setattr(pipeline, "load_model", load_model)
    return scored


def whole_record_output(fasta: Path, *, per_window: bool = False, both_strands: bool = False,
                        indices: list[int] | None = None) -> str:  # fmt: skip
    """The output rows of predict_viral computed the plain way: each record read whole, then windowed at once.

    ``indices``: the ``record`` column of each record, when not its position in ``fasta``.
    """
    rows = []
    for position, (seq_id, raw) in enumerate(read_fasta(fasta)):
        index = position if indices is None else indices[position]
        codes = encode(raw)
        cut, n, padded = windows(codes, FAKE_WINDOW, FAKE_STRIDE)
        p = fake_score(cut)
        if both_strands:
            p = (p + fake_score(reverse_complement(cut))) / 2
        if per_window:
            starts = window_starts(len(codes), FAKE_WINDOW, FAKE_STRIDE)
            ends = np.minimum(starts + FAKE_WINDOW, len(codes))
            rows += [f"{seq_id}\t{a}\t{b}\t{q:.6f}\t{index}\n" for a, b, q in zip(starts, ends, p)]
        else:
            label = "viral" if p.max() >= 0.5 else "non-viral"
            rows.append(f"{seq_id}\t{len(codes)}\t{n}\t{p.max():.6f}\t{p.mean():.6f}\t{label}\t{int(padded)}"
                        f"\t{index}\n")
    return "".join(rows)


def body(path: Path) -> str:
    return path.read_text().split("\n", 1)[1]


# every length around the window and the stride grid: shorter (padded), equal, one more, grid ending on the end or not
FAKE_LENGTHS = [1, FAKE_WINDOW - 1, FAKE_WINDOW, FAKE_WINDOW + 1, FAKE_WINDOW + FAKE_STRIDE,
                FAKE_WINDOW + 2 * FAKE_STRIDE, FAKE_WINDOW + 2 * FAKE_STRIDE + 1, 4 * FAKE_WINDOW - 1, 97, 400, 2,
                5 * FAKE_STRIDE]  # fmt: skip


@pytest.mark.parametrize("piece_bases", [1, 3, FAKE_WINDOW, 64, 1 << 20])
@pytest.mark.parametrize("per_window, both_strands", [(False, False), (True, False), (False, True), (True, True)])
def test_streamed_windows_are_the_whole_record_windows(fake_model, tmp_path, monkeypatch, piece_bases, per_window,
                                                       both_strands):  # fmt: skip
    random_fasta(tmp_path / "in.fa", FAKE_LENGTHS, seed=2, width=13)
    monkeypatch.setattr(predict_module, "_PIECE_BASES", piece_bases)
    monkeypatch.setattr(predict_module, "_WINDOWS_PER_CHUNK", 5)
    stats = predict_module.predict_viral("fake.pt", tmp_path / "in.fa", tmp_path / "out.tsv", stride=FAKE_STRIDE,
                                         per_window=per_window, both_strands=both_strands, batch_size=6,
                                         progress=False)  # fmt: skip
    assert body(tmp_path / "out.tsv") == whole_record_output(tmp_path / "in.fa", per_window=per_window,
                                                             both_strands=both_strands)  # fmt: skip
    assert stats["records"] == len(FAKE_LENGTHS) and stats["bases"] == sum(FAKE_LENGTHS)
    assert stats["windows"] == sum(len(window_starts(n, FAKE_WINDOW, FAKE_STRIDE)) for n in FAKE_LENGTHS)


@pytest.mark.parametrize("per_window", [False, True])
def test_skip_invalid_drops_a_record_found_bad_after_scoring_began(fake_model, tmp_path, monkeypatch, per_window):
    records = random_fasta(tmp_path / "good.fa", [40, 3000, 25], seed=4)
    lines = (tmp_path / "good.fa").read_text().splitlines(keepends=True)
    # a long record whose only illegal character comes after hundreds of its windows
    bad = [">late_x\n"] + ["ACGT" * 15 + "\n"] * 40 + ["ACGTX\n"] + ["GGCC" * 15 + "\n"] * 3
    (tmp_path / "in.fa").write_text("".join(lines[:2] + bad + lines[2:]))
    monkeypatch.setattr(sequences, "_BLOCK", 256)  # the file is read in small blocks, so the X is found late
    monkeypatch.setattr(predict_module, "_PIECE_BASES", 100)
    monkeypatch.setattr(predict_module, "_SPOOL_BYTES", 200)  # per-window rows of the bad record spill to disk
    stats = predict_module.predict_viral("fake.pt", tmp_path / "in.fa", tmp_path / "out.tsv", stride=FAKE_STRIDE,
                                         per_window=per_window, batch_size=8, skip_invalid=True,
                                         progress=False)  # fmt: skip
    # the bad record is number 1 of the input
    assert body(tmp_path / "out.tsv") == whole_record_output(tmp_path / "good.fa", per_window=per_window,
                                                             indices=[0, 2, 3])  # fmt: skip
    assert "late_x" not in (tmp_path / "out.tsv").read_text()
    assert fake_model["windows"] > stats["windows"]  # windows of late_x were scored before the X was read
    skipped = read_tsv(tmp_path / "out.tsv.skipped.tsv")
    assert [(r["seq_id"], r["record"]) for r in skipped] == [("late_x", "1")]
    assert skipped[0]["reason"].startswith("record 'late_x' (line 44): illegal character 'X' at base 2405;")
    assert stats["skipped"] == 1 and stats["records"] == len(records)


def test_skip_invalid_lists_records_without_sequence(fake_model, tmp_path, capsys):
    (tmp_path / "in.fa").write_text(">a\n" + "ACGT" * 10 + "\n>empty\n>b\nTTTTTTTTTTTT\n>last_empty\n")
    stride = ("--stride", str(FAKE_STRIDE))
    assert predict_cli(Path("fake.pt"), tmp_path / "in.fa", tmp_path / "out.tsv", *stride, "--skip-invalid") == 0
    assert [(r["seq_id"], r["record"]) for r in read_tsv(tmp_path / "out.tsv")] == [("a", "0"), ("b", "2")]
    skipped = read_tsv(tmp_path / "out.tsv.skipped.tsv")
    assert [(r["seq_id"], r["record"]) for r in skipped] == [("empty", "1"), ("last_empty", "3")]
    assert all("has no sequence" in r["reason"] for r in skipped)
    assert "skipped 2 invalid records" in capsys.readouterr().err
    assert predict_cli(Path("fake.pt"), tmp_path / "in.fa", tmp_path / "strict.tsv", *stride) != 0
    assert "'empty' (line 3) has no sequence" in capsys.readouterr().err
    assert not (tmp_path / "strict.tsv").exists()


def test_memory_stays_flat_within_one_long_record(fake_model, tmp_path):
    """A 48-Mbp single-line record is scored with a few MB (7.5 when written), not its 48 MB (issue: flat memory)."""
    size = 48_000_000
    path = tmp_path / "chromosome.fa"
    block = np.frombuffer(b"ACGT", dtype=np.uint8)[np.random.default_rng(0).integers(0, 4, 1_000_000)].tobytes()
    with open(path, "wb") as handle:
        handle.write(b">chromosome\n")
        for _ in range(size // len(block)):
            handle.write(block)  # one line: pieces must not follow lines
        handle.write(b"\n")
    tracemalloc.start()
    try:
        stats = predict_module.predict_viral("fake.pt", path, tmp_path / "out.tsv", stride=FAKE_WINDOW,
                                             batch_size=4096, progress=False)  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats["records"] == 1 and stats["bases"] == size and stats["windows"] == size // FAKE_WINDOW
    assert peak < size / 4, f"peak {peak / 1e6:.1f} MB"


def test_gzip_and_csv_inputs(toy_model, tmp_path, synthetic_prefix):
    random_fasta(tmp_path / "in.fa", [500, 90])
    (tmp_path / "in.fa.gz").write_bytes(gzip.compress((tmp_path / "in.fa").read_bytes()))
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "plain.tsv") == 0
    assert predict_cli(toy_model, tmp_path / "in.fa.gz", tmp_path / "gz.tsv") == 0
    assert (tmp_path / "gz.tsv").read_bytes() == (tmp_path / "plain.tsv").read_bytes()
    assert predict_cli(toy_model, Path(f"{synthetic_prefix}_test.csv"), tmp_path / "csv.tsv") == 0
    rows = read_tsv(tmp_path / "csv.tsv")
    assert len(rows) == 60 and rows[0]["seq_id"] == "dupexact_expA" and rows[0]["n_windows"] == "1"


BAD_INPUTS = {
    "illegal character": (b">a\nACGT\n>b\nACGJT\n", "illegal character 'J'"),
    "record without sequence": (b">a\nACGT\n>b\n>c\nACGT\n", "has no sequence"),
    "duplicated id": (b">a\nACGT\n>a\nACGT\n", "unique"),
    "truncated gzip": (gzip.compress(b">a\n" + b"ACGT" * 5000 + b"\n")[:-30], "gzip"),
    "binary file": (bytes(range(256)) * 4, "binary"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_writes_nothing(toy_model, tmp_path, capsys, case):
    content, expected = BAD_INPUTS[case]
    bad = tmp_path / "bad.fa"
    bad.write_bytes(content)
    capsys.readouterr()
    assert predict_cli(toy_model, bad, tmp_path / "out.tsv") != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and expected in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fa"]  # no output, no temporary left behind


def test_skip_invalid_lists_the_skipped_records(toy_model, tmp_path, capsys):
    (tmp_path / "in.fa").write_text(">good1\n" + "ACGT" * 100 + "\n>bad\nACGTXX\n>good2\n" + "GT" * 60 + "\n")
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "out.tsv", "--skip-invalid") == 0
    assert [r["seq_id"] for r in read_tsv(tmp_path / "out.tsv")] == ["good1", "good2"]
    skipped = read_tsv(tmp_path / "out.tsv.skipped.tsv")
    assert [(r["seq_id"], r["record"]) for r in skipped] == [("bad", "1")]
    assert "illegal character 'X'" in skipped[0]["reason"]
    assert "skipped 1 invalid records" in capsys.readouterr().err


def test_bad_shard_and_wrong_task_model(toy_model, tmp_path, capsys):
    random_fasta(tmp_path / "in.fa", [400])
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "o.tsv", "--shard", "3/3") != 0
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "o.tsv", "--stride", "301") != 0
    assert not (tmp_path / "o.tsv").exists()


def test_fasta_with_label_file_trains_and_evaluates(tmp_path):
    rows = synthetic_rows(240, 9)
    with open(tmp_path / "s.fa", "w") as fasta, open(tmp_path / "s.tsv", "w") as labels:
        labels.write("seq_id\tlabel\n")
        for seq_id, seq, y in rows:
            fasta.write(f">{seq_id}\n{seq[:100]}\n{seq[100:]}\n")
            labels.write(f"{seq_id}\t{y}\n")
    fa, tsv = str(tmp_path / "s.fa"), str(tmp_path / "s.tsv")
    assert train_cli(Path(fa), "kmer-logreg", tmp_path / "m", "--labels", tsv, "--split", "random", "--kmer", "3") == 0
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["sizes"]["test"] == 24
    assert main(["evaluate", "--model", str(tmp_path / "m"), "--data", fa, "--labels", tsv, "--out",
                 str(tmp_path / "ev")]) == 0  # fmt: skip
    assert train_cli(Path(fa), "kmer-logreg", tmp_path / "nolabels", "--split", "random") != 0
