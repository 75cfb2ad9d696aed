"""``resgenome predict viral`` and ``merge-predictions``: contigs of any length streamed in pieces, windows cut once,
batched across records, both strands, shards, invalid records, flat memory, bad input."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import expit

from resgenome import predict as predict_module
from resgenome.bench import write_random_resvg
from resgenome.calibration import Calibration, log_odds_from_proba
from resgenome.calls import CallRule, ContigNull, contig_calls, scorable
from resgenome.cli import main
from resgenome.data import readers
from resgenome.data.encoding import CODE_N, decode, encode, reverse_complement, window_starts
from resgenome.data.readers import read_fasta
from resgenome.fullconv_scoring import count_windows
from resgenome.machine import bf16_native
from resgenome.predictor import Predictor
from resgenome.viral_calls import CONTIG_COLUMNS

from .conftest import needs_data, random_fasta, read_tsv


@needs_data
def test_kmer_model_predicts_contigs(trained, tmp_path):
    random_fasta(tmp_path / "in.fa", [900, 100])
    assert main(["predict", "viral", "--model", str(trained["kmer-logreg"]), "--input", str(tmp_path / "in.fa"),
                 "--output", str(tmp_path / "out.tsv"), "--quiet"]) == 0  # fmt: skip
    rows = read_tsv(tmp_path / "out.tsv")
    assert [r["n_windows"] for r in rows] == ["5", "1"] and [r["padded"] for r in rows] == ["0", "1"]


def predict_cli(model: Path, fasta: Path, out: Path, *extra: str) -> int:
    return main(["predict", "viral", "--model", str(model), "--input", str(fasta), "--output", str(out), "--quiet",
                 *extra])  # fmt: skip


# both ways of scoring a ResVG: the trunk once per base (default) and every window on its own
METHODS = pytest.mark.parametrize("method", [(), ("--exact-windows",)], ids=["fullconv", "exact"])


@METHODS
def test_predict_contigs_long_and_short(toy_model, tmp_path, method):
    lengths = [1000, 120, 300, 301, 2000, 40, 280]
    random_fasta(tmp_path / "in.fa", lengths)  # 4% N: above the default N rule, so windows are kept with 10%
    options = ("--batch-size", "5", "--max-n-fraction", "0.1", *method)
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "c.tsv", *options) == 0
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "w.tsv", "--per-window", *options) == 0
    contigs, windows = read_tsv(tmp_path / "c.tsv"), read_tsv(tmp_path / "w.tsv")
    assert list(contigs[0]) == CONTIG_COLUMNS
    assert [r["seq_id"] for r in contigs] == [f"contig{k}" for k in range(7)]
    assert [int(r["length"]) for r in contigs] == lengths
    assert [int(r["n_windows"]) for r in contigs] == [len(window_starts(n, 300, 150)) for n in lengths]
    assert [r["padded"] for r in contigs] == ["0", "1", "0", "0", "0", "1", "1"]
    assert [r["call"] == "no-call" for r in contigs] == [False, True, False, False, False, True, False]
    assert {r["reason"] for r in contigs if r["call"] == "no-call"} == {"shorter-than-min-length"}
    for contig in contigs:
        mine = [w for w in windows if w["seq_id"] == contig["seq_id"]]
        scores = [float(w["score"]) for w in mine if w["score"] != "NA"]
        n = int(contig["length"])
        assert [int(w["start"]) for w in mine] == window_starts(n, 300, 150).tolist()
        assert all(int(w["end"]) == min(int(w["start"]) + 300, n) for w in mine)
        assert int(contig["n_scored"]) == len(scores)
        if scores:
            assert float(contig["score_max"]) == pytest.approx(max(scores), abs=2e-6)
            assert float(contig["score_mean"]) == pytest.approx(np.mean(scores), abs=2e-6)
        if contig["call"] != "no-call":
            assert 0 < float(contig["p_value"]) <= float(contig["q_value"]) <= 1


@METHODS
def test_both_strands_scores_a_contig_and_its_reverse_complement_alike(toy_model, tmp_path, method):
    rng = np.random.default_rng(5)
    seq = "".join(rng.choice(list("ACGT"), 300 + 150 * 4))  # windows symmetric under reversal
    rc = decode(reverse_complement(encode(seq)))
    (tmp_path / "in.fa").write_text(f">fwd\n{seq}\n>rev\n{rc}\n")
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "one.tsv", "--per-window", *method) == 0
    assert predict_cli(toy_model, tmp_path / "in.fa", tmp_path / "both.tsv", "--per-window", "--both-strands",
                       *method) == 0  # fmt: skip
    one, both = read_tsv(tmp_path / "one.tsv"), read_tsv(tmp_path / "both.tsv")
    fwd = [float(w["score"]) for w in both if w["seq_id"] == "fwd"]
    rev = [float(w["score"]) for w in both if w["seq_id"] == "rev"]
    assert fwd == pytest.approx(rev[::-1], abs=2e-6)  # window i of one strand is window n-1-i of the other
    one_fwd = [float(w["score"]) for w in one if w["seq_id"] == "fwd"]
    assert one_fwd != pytest.approx(fwd, abs=1e-4)  # the reverse strand did count


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


# A stand-in model whose window scores are cheap and depend on every base; its log-odds are logit(j / 1024), so each
# window's probability is computed the same way here and in the run, and only sums (the mean) differ in the last bit.
FAKE_WINDOW, FAKE_STRIDE = 10, 4
FAKE_WEIGHTS = np.arange(1, FAKE_WINDOW + 1) ** 2


def fake_score(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.int64) @ FAKE_WEIGHTS % 1024) / 1024


FAKE_NULL = ContigNull(threshold=0.0, n_null=999, n_above=49)  # windows look viral at fake_score >= 0.5; r0 = 0.05
FAKE_CALIBRATION = {"window": Calibration("platt", 1.0, 0.0).to_state(), "contig_null": FAKE_NULL.to_state(),
                    "validation_viral": [10, 5]}  # fmt: skip
FAKE_CALIBRATION["both_strands"] = dict(FAKE_CALIBRATION)


def fake_log_odds(codes: np.ndarray) -> np.ndarray:
    return log_odds_from_proba(fake_score(codes))


@pytest.fixture
def fake_model(monkeypatch) -> dict:
    """Makes ``predict_viral`` load a model of window FAKE_WINDOW scoring with :func:`fake_score`; counts windows."""
    scored = {"windows": 0}

    class FakePredictor(Predictor):
        def log_odds(self, array: np.ndarray) -> np.ndarray:  # the model itself; strands and batching stay real
            scored["windows"] += len(array)
            return fake_log_odds(array)

    def load(path, *, task=None, device="auto", batch_size=256, precision="fp32"):
        return FakePredictor("viral", "fake", {"kind": "fake"}, {"seq_length": FAKE_WINDOW}, threshold=0.5,
                             calibration=FAKE_CALIBRATION, batch_size=batch_size, precision=precision)  # fmt: skip

    monkeypatch.setattr(predict_module.Predictor, "load", staticmethod(load))
    return scored


def oracle_windows(codes: np.ndarray, window: int, stride: int) -> np.ndarray:
    """A whole record's windows from :func:`window_starts` alone, independently of the streaming WindowCutter."""
    if len(codes) < window:
        padded = np.full((1, window), CODE_N, dtype=np.uint8)
        padded[0, : len(codes)] = codes
        return padded
    return sliding_window_view(codes, window)[window_starts(len(codes), window, stride)]


def whole_record_output(fasta: Path, *, per_window: bool = False, both_strands: bool = False,
                        indices: list[int] | None = None, min_length: int = 1) -> str:  # fmt: skip
    """The output rows of predict_viral computed the plain way: each record read whole, then windowed at once.

    ``indices``: the ``record`` column of each record, when not its position in ``fasta``.
    """
    rows, contigs = [], []
    for position, (seq_id, raw) in enumerate(read_fasta(fasta)):
        index = position if indices is None else indices[position]
        codes = encode(raw)
        cut = oracle_windows(codes, FAKE_WINDOW, FAKE_STRIDE)
        n, padded = len(cut), len(codes) < FAKE_WINDOW
        z = fake_log_odds(cut)
        if both_strands:
            z = (z + fake_log_odds(reverse_complement(cut))) / 2
        z[~scorable(cut[:, : len(codes)])] = np.nan  # too much N among its own bases (padding aside): not scored
        p = expit(z)
        if per_window:
            starts = window_starts(len(codes), FAKE_WINDOW, FAKE_STRIDE)
            ends = np.minimum(starts + FAKE_WINDOW, len(codes))
            rows += [f"{seq_id}\t{a}\t{b}\t{'NA' if np.isnan(q) else f'{q:.6f}'}\t{index}\n"
                     for a, b, q in zip(starts, ends, p)]  # fmt: skip
            continue
        scored = ~np.isnan(z)
        k, m = int(np.sum(z[scored] >= 0)), int(scored.sum())
        contigs.append((k, m, len(codes)))
        stats = (f"{k / m:.6f}", f"{p[scored].max():.6f}", f"{p[scored].mean():.6f}") if m else ("NA",) * 3
        rows.append([seq_id, str(len(codes)), str(n), str(m), str(k), stats[0], stats[1], stats[2], str(int(padded)),
                     str(index)])  # fmt: skip
    if per_window:
        return "".join(rows)
    k, m, length = (np.array(c) for c in zip(*contigs))
    calls = contig_calls(k, m, length, FAKE_NULL, CallRule(alpha=FAKE_NULL.rate, min_length=min_length),
                         stride=FAKE_STRIDE, window=FAKE_WINDOW)  # fmt: skip
    out = []
    for row, pv, qv, call, reason in zip(rows, calls["p_value"], calls["q_value"], calls["call"], calls["reason"]):
        out.append("\t".join(row[:6] + [_number(pv), _number(qv), call, reason] + row[6:]) + "\n")
    return "".join(out)


def _number(x: float) -> str:
    return "NA" if np.isnan(x) else f"{x:.6g}"


def assert_same_rows(got: str, expected: str) -> None:
    """Equal row for row; score_mean (column 12 of contig rows) to within rounding, as sums run in another order."""
    got_rows, expected_rows = got.splitlines(), expected.splitlines()
    assert len(got_rows) == len(expected_rows)
    for a, b in zip(got_rows, expected_rows):
        a, b = a.split("\t"), b.split("\t")
        if len(a) == len(CONTIG_COLUMNS) and a[11] != "NA":
            assert float(a[11]) == pytest.approx(float(b[11]), abs=1.5e-6)
            a[11] = b[11]
        assert a == b


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
                                         progress=False, min_length=1, manifest=False)  # fmt: skip
    assert_same_rows(body(tmp_path / "out.tsv"), whole_record_output(tmp_path / "in.fa", per_window=per_window,
                                                                     both_strands=both_strands))  # fmt: skip
    assert stats["records"] == len(FAKE_LENGTHS) and stats["bases"] == sum(FAKE_LENGTHS)
    assert stats["windows"] == sum(len(window_starts(n, FAKE_WINDOW, FAKE_STRIDE)) for n in FAKE_LENGTHS)


@pytest.mark.parametrize("per_window", [False, True])
def test_skip_invalid_drops_a_record_found_bad_after_scoring_began(fake_model, tmp_path, monkeypatch, per_window):
    records = random_fasta(tmp_path / "good.fa", [40, 3000, 25], seed=4)
    lines = (tmp_path / "good.fa").read_text().splitlines(keepends=True)
    # a long record whose only illegal character comes after hundreds of its windows
    bad = [">late_x\n"] + ["ACGT" * 15 + "\n"] * 40 + ["ACGTX\n"] + ["GGCC" * 15 + "\n"] * 3
    (tmp_path / "in.fa").write_text("".join(lines[:2] + bad + lines[2:]))
    monkeypatch.setattr(readers, "_BLOCK", 256)  # the file is read in small blocks, so the X is found late
    monkeypatch.setattr(predict_module, "_PIECE_BASES", 100)
    monkeypatch.setattr(predict_module, "_SPOOL_BYTES", 200)  # per-window rows of the bad record spill to disk
    stats = predict_module.predict_viral("fake.pt", tmp_path / "in.fa", tmp_path / "out.tsv", stride=FAKE_STRIDE,
                                         per_window=per_window, batch_size=8, skip_invalid=True,
                                         progress=False, min_length=1, manifest=False)  # fmt: skip
    # the bad record is number 1 of the input
    assert_same_rows(body(tmp_path / "out.tsv"), whole_record_output(tmp_path / "good.fa", per_window=per_window,
                                                                     indices=[0, 2, 3]))  # fmt: skip
    assert "late_x" not in (tmp_path / "out.tsv").read_text()
    assert fake_model["windows"] > stats["windows"]  # windows of late_x were scored before the X was read
    skipped = read_tsv(tmp_path / "out.tsv.skipped.tsv")
    assert [(r["seq_id"], r["record"]) for r in skipped] == [("late_x", "1")]
    assert skipped[0]["reason"].startswith("record 'late_x' (line 44): illegal character 'X' at base 2405;")
    assert stats["skipped"] == 1 and stats["records"] == len(records)


def test_skip_invalid_lists_records_without_sequence(fake_model, tmp_path, capsys):
    (tmp_path / "in.fa").write_text(">a\n" + "ACGT" * 10 + "\n>empty\n>b\nTTTTTTTTTTTT\n>last_empty\n")
    stride = ("--stride", str(FAKE_STRIDE))
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"a stand-in: the fixture's loader ignores it; the run manifest hashes it")
    assert predict_cli(fake, tmp_path / "in.fa", tmp_path / "out.tsv", *stride, "--skip-invalid") == 0
    assert [(r["seq_id"], r["record"]) for r in read_tsv(tmp_path / "out.tsv")] == [("a", "0"), ("b", "2")]
    skipped = read_tsv(tmp_path / "out.tsv.skipped.tsv")
    assert [(r["seq_id"], r["record"]) for r in skipped] == [("empty", "1"), ("last_empty", "3")]
    assert all("has no sequence" in r["reason"] for r in skipped)
    assert "skipped 2 invalid records" in capsys.readouterr().err
    assert predict_cli(fake, tmp_path / "in.fa", tmp_path / "strict.tsv", *stride) != 0
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
                                             batch_size=4096, progress=False, manifest=False)  # fmt: skip
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


# ------------------------------------------------------------------------------------------------- fully convolutional
@pytest.fixture(scope="module")
def random_model(tmp_path_factory) -> Path:
    """A cpu-preset-shaped smoke ResVG with random weights, saved as a real checkpoint."""
    return write_random_resvg(tmp_path_factory.mktemp("model") / "model.pt", "smoke")


def test_edge_windows_and_short_records_keep_the_per_window_scores(random_model, tmp_path):
    """The default path changes only inner windows: a record's first window, the windows near its end and short
    records score exactly as with --exact-windows; inner windows differ (they see their neighbours)."""
    records = random_fasta(tmp_path / "in.fa", [120, 300, 310, 326, 1200, 5000], seed=9)
    for name, extra in (("fast", ()), ("exact", ("--exact-windows",))):
        assert predict_cli(random_model, tmp_path / "in.fa", tmp_path / f"{name}.tsv", "--per-window", *extra) == 0
    fast, exact = read_tsv(tmp_path / "fast.tsv"), read_tsv(tmp_path / "exact.tsv")
    assert [(r["seq_id"], r["start"], r["end"]) for r in fast] == [(r["seq_id"], r["start"], r["end"]) for r in exact]
    inner = [13 <= int(r["start"]) and int(r["start"]) + 313 <= len(records[r["seq_id"]]) for r in fast]
    assert sum(inner) > 20
    assert [f["score"] for f, i in zip(fast, inner) if not i] == [e["score"] for e, i in zip(exact, inner) if not i]
    assert any(f["score"] != e["score"] for f, e, i in zip(fast, exact, inner) if i)  # measured in benchmarks/


@pytest.mark.parametrize("per_window", [False, True])
def test_fullconv_skips_a_record_found_bad_after_scoring_began(random_model, tmp_path, monkeypatch, per_window):
    """A record whose illegal character comes after many of its trunk positions were scored leaves no trace, and
    the other records score as in a file without it (segments of both shared rows of a batch)."""
    random_fasta(tmp_path / "good.fa", [400, 3000, 700], seed=4)
    lines = (tmp_path / "good.fa").read_text().splitlines(keepends=True)
    second = [k for k, line in enumerate(lines) if line.startswith(">")][1]
    bad = [">late_x\n"] + ["ACGT" * 15 + "\n"] * 40 + ["ACGTX\n"] + ["GGCC" * 15 + "\n"] * 3
    (tmp_path / "in.fa").write_text("".join(lines[:second] + bad + lines[second:]))
    monkeypatch.setattr(readers, "_BLOCK", 256)  # the file is read in small blocks, so the X is found late
    monkeypatch.setattr(predict_module, "_PIECE_BASES", 100)
    monkeypatch.setattr(predict_module, "_SPOOL_BYTES", 200)
    kw = {"per_window": per_window, "skip_invalid": True, "progress": False}
    stats = predict_module.predict_viral(random_model, tmp_path / "in.fa", tmp_path / "out.tsv", **kw)
    good = predict_module.predict_viral(random_model, tmp_path / "good.fa", tmp_path / "good.tsv", **kw)
    assert stats["method"] == "fullconv" and stats["skipped"] == 1
    counts = ("records", "windows", "scored_windows", "viral_windows")
    assert [stats[k] for k in counts] == [good[k] for k in counts]
    assert "late_x" not in (tmp_path / "out.tsv").read_text()
    drop_record = [{k: v for k, v in row.items() if k != "record"} for row in read_tsv(tmp_path / "out.tsv")]
    assert drop_record == [{k: v for k, v in row.items() if k != "record"} for row in read_tsv(tmp_path / "good.tsv")]


@pytest.mark.slow
def test_fullconv_memory_stays_flat_within_one_long_record(random_model, tmp_path):
    """A single-line record is scored by the default path with about the same traced memory at 2 and 8 Mbp (a few
    MB: the reader's blocks and pieces, one batch of rows), not memory that grows with the record."""
    peaks = {}
    random_fasta(tmp_path / "small.fa", [5000])
    predict_module.predict_viral(random_model, tmp_path / "small.fa", tmp_path / "out.tsv", progress=False)  # warm
    block = np.frombuffer(b"ACGT", dtype=np.uint8)[np.random.default_rng(0).integers(0, 4, 1_000_000)].tobytes()
    for size in (2_000_000, 8_000_000):
        path = tmp_path / "chromosome.fa"
        with open(path, "wb") as handle:
            handle.write(b">chromosome\n" + block * (size // len(block)) + b"\n")
        tracemalloc.start()
        try:
            stats = predict_module.predict_viral(random_model, path, tmp_path / "out.tsv", progress=False)
            _, peaks[size] = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert stats["method"] == "fullconv" and stats["bases"] == size
        assert stats["windows"] == count_windows(size, 300, 150)
    # 4x the record, 6 MB more codes: the peak grows by less than two reader pieces (1 MiB each; the last piece of
    # the short record is smaller than a full one)
    assert peaks[8_000_000] < peaks[2_000_000] + 2 * readers.PIECE_BASES, peaks


def test_bf16_where_unsupported_falls_back_to_fp32_with_a_warning(random_model, tmp_path, monkeypatch, capsys):
    random_fasta(tmp_path / "in.fa", [900, 200], seed=6)
    monkeypatch.setattr(predict_module, "bf16_native", lambda device: False)
    stats = predict_module.predict_viral(random_model, tmp_path / "in.fa", tmp_path / "bf.tsv", precision="bf16",
                                         progress=False)  # fmt: skip
    assert stats["precision"] == "fp32" and "no native bf16" in stats["warnings"][0]
    assert predict_cli(random_model, tmp_path / "in.fa", tmp_path / "cli.tsv", "--precision", "bf16") == 0
    assert "warning: --precision bf16" in capsys.readouterr().err
    assert (tmp_path / "cli.tsv").read_bytes() == (tmp_path / "bf.tsv").read_bytes()


@pytest.mark.skipif(not bf16_native(torch.device("cpu")), reason="this CPU has no native bf16")
@pytest.mark.parametrize("method", [(), ("--exact-windows",)], ids=["fullconv", "exact"])
def test_bf16_scores_are_close_to_fp32(random_model, tmp_path, method):
    random_fasta(tmp_path / "in.fa", [5000, 200, 800], seed=7)
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.tsv"
        # random_fasta has 4% N: every window scored with --max-n-fraction 0.1
        assert predict_cli(random_model, tmp_path / "in.fa", out, "--per-window", "--precision", precision,
                           "--max-n-fraction", "0.1", *method) == 0  # fmt: skip
    fp32, bf16 = read_tsv(tmp_path / "fp32.tsv"), read_tsv(tmp_path / "bf16.tsv")
    delta = np.array([float(a["score"]) - float(b["score"]) for a, b in zip(fp32, bf16)])
    assert len(fp32) == len(bf16) and 0 < np.abs(delta).max() < 0.05
