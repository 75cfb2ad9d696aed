"""Tests for fully convolutional ResVG scoring: receptive field, exact seams, cumulative sums, streaming, edges."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from resgenome import predict as predict_module
from resgenome.bench import write_random_resvg
from resgenome.cli import main
from resgenome.data import sequences
from resgenome.data.sequences import CODE_N, one_hot, reverse_complement, window_starts
from resgenome.models.fullconv import WindowScanner, receptive_field, softmax_positive, window_logits
from resgenome.models.resvg import ResVG
from resgenome.predict_fullconv import FullConvWindows, count_windows
from resgenome.train import bf16_native

WINDOW = 300


def toy_resvg(seed: int = 0, **config) -> ResVG:
    """A random ResVG (width 8) whose batch norms have non-trivial statistics, so folding them is really tested."""
    torch.manual_seed(seed)
    model = ResVG(width=8, **config)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(-1.5, 1.5)  # negative scales too: folding must not assume a sign
            module.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def random_codes(n: int, seed: int) -> np.ndarray:
    """Codes 0-4 (about 1 in 5 an N, so N handling is exercised)."""
    return np.random.default_rng(seed).integers(0, 5, n).astype(np.uint8)


def trunk_map(scanner: WindowScanner, codes: np.ndarray) -> torch.Tensor:
    """Feature map (W, n - 3) of one sequence."""
    return scanner.features(one_hot(codes[None])).squeeze(2)[0].float()


def model_probabilities(model: ResVG, codes: np.ndarray) -> np.ndarray:
    """Per-window path: each (K, 300) window through the model on its own."""
    with torch.inference_mode():
        return torch.softmax(model(one_hot(codes)), dim=1)[:, 1].double().numpy()


# ------------------------------------------------------------------------------------------------- the arithmetic
@pytest.mark.parametrize("config, expected", [({}, (13, 16)), ({"stem_kernel": 5, "pool_size": 3, "kernel_size": 7},
                                                               (2 + 6, 2 + 2 + 6))])  # fmt: skip
def test_receptive_field_is_exactly_the_bases_a_position_sees(config, expected):
    """Changing base q changes exactly the trunk positions p with p - left <= q <= p + right: the halo is neither too
    small (seams would be wrong) nor too large (work would be wasted)."""
    model = toy_resvg(**config)
    left, right = receptive_field(model)
    assert (left, right) == expected
    scanner = WindowScanner(model, WINDOW)
    codes = random_codes(200, 1)
    codes[codes == CODE_N] = 0  # no N, so that every base changes when flipped
    base = trunk_map(scanner, codes)
    q = 100
    changed = codes.copy()
    changed[q] = (changed[q] + 1) % 4
    moved = (trunk_map(scanner, changed) - base).abs().amax(dim=0) > 0
    assert np.flatnonzero(moved.numpy()).tolist() == list(range(q - right, q + left + 1))


def test_folded_batch_norm_computes_the_model():
    """The scanner folds batch norm into the convolutions: its feature map and a lone window's logits are the
    model's, to float rounding."""
    model = toy_resvg()
    scanner = WindowScanner(model, WINDOW)
    codes = random_codes(WINDOW * 4, 2).reshape(4, WINDOW)
    x = one_hot(codes)
    with torch.inference_mode():
        expected_map = model.block(model.pool(model.stem(x)))
        expected_logits = model(x).double().numpy()
    torch.testing.assert_close(scanner.features(x).squeeze(2), expected_map, rtol=1e-4, atol=1e-5)
    z = scanner.position_logits(x).double().numpy()  # (4, 297, 2)
    csum = np.concatenate([np.zeros((4, 1, 2)), np.cumsum(z, axis=1)], axis=1)
    logits = np.stack([window_logits(c, np.array([0]), scanner.span, scanner.bias)[0] for c in csum])
    np.testing.assert_allclose(logits, expected_logits, rtol=1e-5, atol=1e-5)


def test_pieces_overlapping_by_the_receptive_field_give_the_whole_record_map():
    """Seams are exact: pieces that overlap by left + right bases reproduce the whole record's feature map, and
    one base less of context on either side does not."""
    model = toy_resvg()
    scanner = WindowScanner(model, WINDOW)
    left, right = scanner.left, scanner.right
    codes = random_codes(5000, 3)
    whole = trunk_map(scanner, codes)  # position p is column p

    def stitched(cut_left: int, cut_right: int) -> torch.Tensor:
        parts = []
        for a in range(left, len(codes) - right, 700):  # trunk positions [a, b) from bases [a - left, b + right)
            b = min(a + 700, len(codes) - right)
            piece = trunk_map(scanner, codes[a - left + cut_left : b + right - cut_right])
            parts.append(piece[:, left - cut_left : left - cut_left + b - a])
        return torch.cat(parts, dim=1)

    inner = whole[:, left : len(codes) - right]
    torch.testing.assert_close(stitched(0, 0), inner, rtol=0, atol=1e-6)
    for cut in ((1, 0), (0, 1)):
        assert (stitched(*cut) - inner).abs().max() > 1e-5, cut


def test_cumulative_sums_give_the_direct_window_means():
    rng = np.random.default_rng(4)
    z = rng.normal(5.0, 3.0, (20_000, 2)).astype(np.float32)  # a non-zero mean, so the sums grow large
    csum = np.concatenate([np.zeros((1, 2)), np.cumsum(z, axis=0, dtype=np.float64)])
    bias = np.array([0.3, -0.2])
    starts = rng.integers(0, len(z) - 297, 500)
    direct = np.stack([z[s : s + 297].astype(np.float64).mean(axis=0) for s in starts]) + bias
    np.testing.assert_allclose(window_logits(csum, starts, 297, bias), direct, rtol=0, atol=1e-9)
    logits = rng.normal(0, 20, (100, 2))
    np.testing.assert_allclose(softmax_positive(logits), torch.softmax(torch.from_numpy(logits), 1)[:, 1].numpy())


# ------------------------------------------------------------------------------------------------- streaming
def expected_windows(model: ResVG, scanner: WindowScanner, codes: np.ndarray, stride: int):
    """The definition, computed the plain way: whole-record trunk and direct means for inner windows, each window
    through the model on its own for windows within the receptive field of an end."""
    n = len(codes)
    starts = window_starts(n, WINDOW, stride)
    z = scanner.position_logits(one_hot(codes[None]))[0].double().numpy() if n >= WINDOW else None
    scores = []
    for s in starts.tolist():
        if s >= scanner.left and s + scanner.span + scanner.right <= n:
            scores.append(softmax_positive((z[s : s + scanner.span].mean(axis=0) + scanner.bias)[None])[0])
        else:
            cut = np.full(WINDOW, CODE_N, dtype=np.uint8)
            cut[: n - s if n - s < WINDOW else WINDOW] = codes[s : s + WINDOW]
            scores.append(model_probabilities(model, cut[None])[0])
    return starts, np.array(scores)


def stream(scanner, score_windows, records, *, stride, piece, rows=4, row_bases=8192, batch_size=5,
           both_strands=False):  # fmt: skip
    """Run the engine over records given in pieces; return {record: (starts, scores)}, window counts, finish order."""
    got: dict[int, list] = {}
    engine = FullConvWindows(scanner, score_windows, stride=stride, batch_size=batch_size, both_strands=both_strands,
                             on_scores=lambda r, s, p: got.setdefault(r, []).append((s, p)), rows=rows,
                             row_bases=row_bases)  # fmt: skip
    order, counts = [], {}
    for k, codes in enumerate(records):
        for i in range(0, len(codes), piece):
            engine.add(k, codes[i : i + piece])
            order += engine.ready()
        counts[k] = engine.finish(k)
        order += engine.ready()
    engine.flush()
    order += engine.ready()
    joined = {k: (np.concatenate([s for s, _ in v]), np.concatenate([p for _, p in v])) for k, v in got.items()}
    return joined, counts, order


# lengths around every boundary: shorter than a window, a window, the first inner window's reach (13 + 313 = 326)
LENGTHS = [1, 299, 300, 301, 312, 313, 325, 326, 327, 450, 463, 613, 1000, 2999, 1500]


@pytest.mark.parametrize("stride, piece, rows, row_bases", [
    (150, 1 << 20, 4, 8192), (150, 7, 2, 400), (150, 1000, 1, 31), (1, 1 << 20, 4, 8192), (1, 7, 2, 400),
    (7, 1000, 1, 31), (13, 7, 2, 400), (298, 1 << 20, 4, 8192), (300, 1000, 1, 31), (300, 7, 2, 400),
])  # fmt: skip
def test_streamed_scores_are_the_definition(stride, piece, rows, row_bases):
    """Whatever the piece size and however the segments are packed into rows (down to one position per row), every
    window is scored, in start order, records in input order, with the score of the definition."""
    model = toy_resvg()
    scanner = WindowScanner(model, WINDOW)
    records = [random_codes(n, 10 + k) for k, n in enumerate(LENGTHS)]
    got, counts, order = stream(scanner, lambda c: model_probabilities(model, c), records, stride=stride,
                                piece=piece, rows=rows, row_bases=row_bases)  # fmt: skip
    assert order == list(range(len(records)))
    for k, codes in enumerate(records):
        starts, scores = expected_windows(model, scanner, codes, stride)
        assert counts[k] == len(starts) == count_windows(len(codes), WINDOW, stride)
        assert np.array_equal(got[k][0], starts)
        np.testing.assert_allclose(got[k][1], scores, rtol=0, atol=1e-6)


def test_both_strands_average_a_window_and_its_reverse_complement():
    """With both strands, each window's score is the mean of its own and that of the mirrored window of the reverse
    complemented record, each computed on one strand."""
    model = toy_resvg()
    scanner = WindowScanner(model, WINDOW)
    records = [random_codes(n, 30 + n) for n in (2000, 700, 326)]
    one = lambda c: model_probabilities(model, c)  # noqa: E731
    both = lambda c: (one(c) + one(reverse_complement(c))) / 2  # noqa: E731
    stride = 1  # a symmetric grid: window s mirrors window n - 300 - s
    fwd, _, _ = stream(scanner, one, records, stride=stride, piece=333, row_bases=1000)
    rev, _, _ = stream(scanner, one, [reverse_complement(c) for c in records], stride=stride, piece=333)
    two, _, _ = stream(scanner, both, records, stride=stride, piece=333, row_bases=1000, both_strands=True)
    for k in range(len(records)):
        np.testing.assert_allclose(two[k][1], (fwd[k][1] + rev[k][1][::-1]) / 2, rtol=0, atol=1e-6)


def test_the_trunk_runs_once_per_base_whatever_the_stride():
    """Stride 1 asks for 150x the windows of stride 150 and costs the same trunk positions, about one per base."""
    model = toy_resvg()
    codes = random_codes(100_000, 5)
    computed, row_bases = {}, 2048
    for stride in (150, 1):
        scanner = WindowScanner(model, WINDOW)
        positions = []
        compute = scanner.position_logits
        scanner.position_logits = lambda x: (positions.append(x.shape[0] * x.shape[2]), compute(x))[1]
        got, counts, _ = stream(scanner, lambda c: model_probabilities(model, c), [codes], stride=stride, piece=4096,
                                row_bases=row_bases)  # fmt: skip
        assert len(got[0][0]) == counts[0] == count_windows(len(codes), WINDOW, stride)
        computed[stride] = sum(positions)
    assert computed[1] == computed[150]  # rows are computed whole: the same number of bases either way
    assert computed[1] <= 1.02 * len(codes) + row_bases  # a row's context (29 of 2048 bases) and the last row


# ------------------------------------------------------------------------------------------------- predict viral
@pytest.fixture(scope="module")
def random_model(tmp_path_factory) -> Path:
    return write_random_resvg(tmp_path_factory.mktemp("model") / "model.pt", "smoke")


def write_fasta(path: Path, records: list[np.ndarray]) -> Path:
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)
    with open(path, "w") as handle:
        for k, codes in enumerate(records):
            text = letters[codes].tobytes().decode()
            handle.write(f">r{k}\n" + "\n".join(text[i : i + 70] for i in range(0, len(text), 70)) + "\n")
    return path


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_edge_windows_and_short_records_keep_todays_scores(random_model, tmp_path):
    """The default path changes only inner windows: a record's first window, the windows near its end and short
    records score exactly as with --exact-windows; inner windows differ (they see their neighbours)."""
    lengths = [120, 300, 310, 326, 1200, 5000]
    fasta = write_fasta(tmp_path / "in.fa", [random_codes(n, 40 + n) for n in lengths])
    for name, extra in (("fast", ()), ("exact", ("--exact-windows",))):
        assert main(["predict", "viral", "--model", str(random_model), "--input", str(fasta), "--output",
                     str(tmp_path / f"{name}.tsv"), "--per-window", "--quiet", *extra]) == 0  # fmt: skip
    fast, exact = read_tsv(tmp_path / "fast.tsv"), read_tsv(tmp_path / "exact.tsv")
    assert [(r["seq_id"], r["start"], r["end"]) for r in fast] == [(r["seq_id"], r["start"], r["end"]) for r in exact]
    length = dict(zip([f"r{k}" for k in range(len(lengths))], lengths))
    inner = [13 <= int(r["start"]) and int(r["start"]) + 313 <= length[r["seq_id"]] for r in fast]
    assert sum(inner) > 20
    assert [f["score"] for f, i in zip(fast, inner) if not i] == [e["score"] for e, i in zip(exact, inner) if not i]
    delta = [abs(float(f["score"]) - float(e["score"])) for f, e, i in zip(fast, exact, inner) if i]
    assert max(delta) > 0  # the intended difference exists (its size is measured in benchmarks/)


@pytest.mark.slow
def test_memory_stays_flat_within_one_long_record(random_model, tmp_path):
    """A single-line record is scored by the default path with about the same traced memory at 2 and 8 Mbp (a few
    MB: the reader's blocks and pieces, one batch of rows), not memory that grows with the record."""
    peaks = {}
    small = write_fasta(tmp_path / "small.fa", [random_codes(5000, 8)])
    predict_module.predict_viral(random_model, small, tmp_path / "out.tsv", progress=False)  # one-time allocations
    for size in (2_000_000, 8_000_000):
        path = tmp_path / "chromosome.fa"
        block = np.frombuffer(b"ACGT", dtype=np.uint8)[np.random.default_rng(0).integers(0, 4, 1_000_000)].tobytes()
        with open(path, "wb") as handle:
            handle.write(b">chromosome\n")
            for _ in range(size // len(block)):
                handle.write(block)
            handle.write(b"\n")
        tracemalloc.start()
        try:
            stats = predict_module.predict_viral(random_model, path, tmp_path / "out.tsv", progress=False)
            _, peaks[size] = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert stats["method"] == "fullconv" and stats["bases"] == size
        assert stats["windows"] == count_windows(size, WINDOW, 150)
    # 4x the record, 6 MB more codes: the peak grows by less than two reader pieces (1 MiB each; the last piece of
    # the short record is smaller than a full one)
    assert peaks[8_000_000] < peaks[2_000_000] + 2 * sequences.PIECE_BASES, peaks


def test_bf16_where_unsupported_falls_back_to_fp32_with_a_warning(random_model, tmp_path, monkeypatch, capsys):
    fasta = write_fasta(tmp_path / "in.fa", [random_codes(900, 6)])
    monkeypatch.setattr(predict_module, "bf16_native", lambda device: False)
    stats = predict_module.predict_viral(random_model, fasta, tmp_path / "bf.tsv", precision="bf16", progress=False)
    assert stats["precision"] == "fp32" and "no native bf16" in stats["warnings"][0]
    assert main(["predict", "viral", "--model", str(random_model), "--input", str(fasta), "--output",
                 str(tmp_path / "cli.tsv"), "--precision", "bf16", "--quiet"]) == 0  # fmt: skip
    assert "warning: --precision bf16" in capsys.readouterr().err
    assert (tmp_path / "cli.tsv").read_bytes() == (tmp_path / "bf.tsv").read_bytes()


@pytest.mark.skipif(not bf16_native(torch.device("cpu")), reason="this CPU has no native bf16")
def test_bf16_scores_are_close_to_fp32(random_model, tmp_path):
    fasta = write_fasta(tmp_path / "in.fa", [random_codes(n, 7 + n) for n in (5000, 200, 800)])
    for precision in ("fp32", "bf16"):
        stats = predict_module.predict_viral(random_model, fasta, tmp_path / f"{precision}.tsv", per_window=True,
                                             precision=precision, progress=False)  # fmt: skip
        assert stats["precision"] == precision and not stats["warnings"]
    fp32, bf16 = read_tsv(tmp_path / "fp32.tsv"), read_tsv(tmp_path / "bf16.tsv")
    delta = np.array([float(a["score"]) - float(b["score"]) for a, b in zip(fp32, bf16)])
    assert len(fp32) == len(bf16) and 0 < np.abs(delta).max() < 0.05
