"""The fully convolutional scoring path (fullconv_scoring.py) against its definition: every window, in order, with
the score of the whole record's trunk (inner windows) or of the window alone (edge windows), however it is streamed.
Scores are raw log-odds (logit1 - logit0), as the evidence of `predict viral` takes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resgenome.data.encoding import CODE_N, one_hot, reverse_complement, window_starts
from resgenome.fullconv_scoring import FullConvScoring, count_windows
from resgenome.models.fullconv import WindowScanner
from resgenome.models.resvg import ResVG

from .conftest import random_codes, random_resvg
from .test_fullconv import WINDOW


def model_log_odds(model: ResVG, codes: np.ndarray) -> np.ndarray:
    """Per-window path: each (K, 300) window through the model on its own, logit1 - logit0 (K,)."""
    with torch.inference_mode():
        logits = model(one_hot(codes)).double()
    return (logits[:, 1] - logits[:, 0]).numpy()


def expected_windows(model: ResVG, scanner: WindowScanner, codes: np.ndarray, stride: int):
    """The definition, computed the plain way: whole-record trunk and direct means for inner windows, each window
    through the model on its own for windows within the receptive field of an end."""
    n = len(codes)
    starts = window_starts(n, WINDOW, stride)
    z = scanner.position_logits(one_hot(codes[None]))[0].double().numpy() if n >= WINDOW else None
    scores = []
    for s in starts.tolist():
        if s >= scanner.left and s + scanner.span + scanner.right <= n:
            logits = z[s : s + scanner.span].mean(axis=0) + scanner.bias
            scores.append(logits[1] - logits[0])
        else:
            cut = np.full(WINDOW, CODE_N, dtype=np.uint8)
            cut[: n - s if n - s < WINDOW else WINDOW] = codes[s : s + WINDOW]
            scores.append(model_log_odds(model, cut[None])[0])
    return starts, np.array(scores)


class Record:
    """What the scoring path needs of a record: an identity, and ``n_windows`` / ``padded`` set by ``finish``."""

    def __init__(self, index: int):
        self.index, self.n_windows, self.padded = index, None, None


def stream(scanner, score_windows, records, *, stride, piece, rows=4, row_bases=8192, batch_size=5,
           both_strands=False, max_n_fraction=1.0):  # fmt: skip
    """Run the path over records given in pieces, as ``predict viral`` does; return {index: (starts, scores)},
    {index: n_windows} and the order in which records were reported complete. The default ``max_n_fraction`` scores
    every window, whatever its N."""
    got: dict[int, list] = {}
    path = FullConvScoring(scanner, score_windows, stride=stride, batch_size=batch_size, both_strands=both_strands,
                           max_n_fraction=max_n_fraction, rows=rows, row_bases=row_bases,
                           on_scores=lambda r, s, p: got.setdefault(r.index, []).append((s, p)))  # fmt: skip
    order, counts = [], {}
    for k, codes in enumerate(records):
        record = Record(k)
        path.start(record)
        for i in range(0, len(codes), piece):
            order += [r.index for r in path.add(record, codes[i : i + piece])]
        order += [r.index for r in path.finish(record)]
        counts[k] = record.n_windows
        assert record.padded == (len(codes) < WINDOW)
        order += [r.index for r in path.ready()]
    order += [r.index for r in path.flush()]
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
    model = random_resvg()
    scanner = WindowScanner(model, WINDOW)
    records = [random_codes(n, 10 + k) for k, n in enumerate(LENGTHS)]
    got, counts, order = stream(scanner, lambda c: model_log_odds(model, c), records, stride=stride,
                                piece=piece, rows=rows, row_bases=row_bases)  # fmt: skip
    assert order == list(range(len(records)))
    for k, codes in enumerate(records):
        starts, scores = expected_windows(model, scanner, codes, stride)
        assert counts[k] == len(starts) == count_windows(len(codes), WINDOW, stride)
        assert np.array_equal(got[k][0], starts)
        np.testing.assert_allclose(got[k][1], scores, rtol=0, atol=1e-6)


def test_both_strands_average_a_window_and_its_reverse_complement():
    """With both strands, each window's log-odds are the mean of its own and those of the mirrored window of the
    reverse complemented record, each computed on one strand."""
    model = random_resvg()
    scanner = WindowScanner(model, WINDOW)
    records = [random_codes(n, 30 + n) for n in (2000, 700, 326)]
    one = lambda c: model_log_odds(model, c)  # noqa: E731
    both = lambda c: (one(c) + one(reverse_complement(c))) / 2  # noqa: E731
    stride = 1  # a symmetric grid: window s mirrors window n - 300 - s
    fwd, _, _ = stream(scanner, one, records, stride=stride, piece=333, row_bases=1000)
    rev, _, _ = stream(scanner, one, [reverse_complement(c) for c in records], stride=stride, piece=333)
    two, _, _ = stream(scanner, both, records, stride=stride, piece=333, row_bases=1000, both_strands=True)
    for k in range(len(records)):
        np.testing.assert_allclose(two[k][1], (fwd[k][1] + rev[k][1][::-1]) / 2, rtol=0, atol=1e-6)


def test_the_trunk_runs_once_per_base_whatever_the_stride():
    """Stride 1 asks for 150x the windows of stride 150 and costs the same trunk positions, about one per base."""
    model = random_resvg()
    codes = random_codes(100_000, 5)
    computed, row_bases = {}, 2048
    for stride in (150, 1):
        scanner = WindowScanner(model, WINDOW)
        positions = []
        compute = scanner.position_logits
        scanner.position_logits = lambda x: (positions.append(x.shape[0] * x.shape[2]), compute(x))[1]
        got, counts, _ = stream(scanner, lambda c: model_log_odds(model, c), [codes], stride=stride, piece=4096,
                                row_bases=row_bases)  # fmt: skip
        assert len(got[0][0]) == counts[0] == count_windows(len(codes), WINDOW, stride)
        computed[stride] = sum(positions)
    assert computed[1] == computed[150]  # rows are computed whole: the same number of bases either way
    assert computed[1] <= 1.02 * len(codes) + row_bases  # a row's context (29 of 2048 bases) and the last row


def test_windows_with_too_much_n_are_not_scored_on_either_kind():
    """The N rule of the per-window path (calls.scorable on a window's own bases) holds for inner and edge windows
    alike: a window with more N than max_n_fraction gets NaN, every other window its score of the definition."""
    model = random_resvg()
    scanner = WindowScanner(model, WINDOW)
    rng = np.random.default_rng(7)
    records = []
    for n in (3000, 1200, 250, 340):
        codes = rng.integers(0, 4, n).astype(np.uint8)
        codes[rng.choice(n, n // 60, replace=False)] = CODE_N  # about 1.7% N: some windows pass 2%, some not
        codes[n // 2 : n // 2 + 20] = CODE_N  # a gap: the windows over it are not scored
        records.append(codes)
    got, _, _ = stream(scanner, lambda c: model_log_odds(model, c), records, stride=7, piece=301, max_n_fraction=0.02)
    n_scored = n_not = 0
    for k, codes in enumerate(records):
        starts, scores = expected_windows(model, scanner, codes, 7)
        own = [codes[s : s + WINDOW] for s in starts.tolist()]
        usable = np.array([np.mean(w == CODE_N) <= 0.02 for w in own])
        assert np.array_equal(np.isnan(got[k][1]), ~usable)
        np.testing.assert_allclose(got[k][1][usable], scores[usable], rtol=0, atol=1e-6)
        n_scored, n_not = n_scored + usable.sum(), n_not + (~usable).sum()
    assert n_scored > 50 and n_not > 50  # both sides of the rule were exercised
