"""ResVG run fully convolutionally (models/fullconv.py): receptive field, folded batch norm, exact seams, sums."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resgenome.data.encoding import CODE_N, one_hot
from resgenome.models import build_model
from resgenome.models.fullconv import (WindowScanner, fully_convolutional, receptive_field, softmax_positive,
                                       window_logits)
from resgenome.models.resvg import ResVG
from resgenome.models.resvg_plus import RESVG_VARIANTS

from .conftest import random_codes, random_resvg

WINDOW = 300


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
    model = random_resvg(**config)
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
    model = random_resvg()
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
    model = random_resvg()
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


def test_only_resvg_is_scanned():
    """ViraMiner's global max-pool and dense layers are not a mean of a feature map: it keeps the per-window path."""
    config = {"seq_length": WINDOW, "pattern_filters": 4, "frequency_filters": 4, "hidden": 4}
    viraminer = build_model("viraminer", config)
    assert fully_convolutional(random_resvg()) and not fully_convolutional(viraminer)
    with pytest.raises(TypeError, match="ResVG"):
        WindowScanner(viraminer, WINDOW)


@pytest.mark.parametrize("name", sorted(RESVG_VARIANTS))
def test_a_resvg_variant_is_not_scanned(name):
    """A ResVG subclass whose forward differs (both strands averaged, a k-mer branch) would be scored wrongly, as the
    paper's ResVG, by the scanner: it keeps the per-window path through its own forward."""
    variant = build_model(name, {"seq_length": WINDOW, "width": 4, **RESVG_VARIANTS[name]})
    assert isinstance(variant, ResVG) and not fully_convolutional(variant)
    with pytest.raises(TypeError, match="ResVG"):
        WindowScanner(variant, WINDOW)
