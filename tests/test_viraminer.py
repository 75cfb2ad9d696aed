"""Tests for the ViraMiner baseline: layer table, branch selection, and staged training through the shared trainer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resgenome.models import build_model, flops_per_sample
from resgenome.data.arrays import ArrayData
from resgenome.models.viraminer import ViraMiner, fit_staged
from resgenome.tasks.viral import PRESETS
from resgenome.trainer import TrainConfig, fit

SMOKE = PRESETS["smoke"].widths["viraminer"]


def one_hot(codes: torch.Tensor) -> torch.Tensor:
    return nn.functional.one_hot(codes.long(), 4).float().transpose(1, 2)


def test_published_widths_and_pools():
    with torch.device("meta"):
        model = ViraMiner()
    assert (model.pattern.conv[0].out_channels, model.pattern.conv[0].kernel_size[0]) == (1200, 11)
    assert (model.frequency.conv[0].out_channels, model.frequency.conv[0].kernel_size[0]) == (1000, 8)
    assert model.pattern.conv[0].padding[0] == 0 and model.frequency.conv[0].padding[0] == 0  # 'valid': 290 positions
    assert isinstance(model.pattern.pool, nn.AdaptiveMaxPool1d)
    assert isinstance(model.frequency.pool, nn.AdaptiveAvgPool1d)
    assert any(isinstance(m, nn.Dropout) for m in model.pattern.modules())
    assert any(isinstance(m, nn.Dropout) for m in model.frequency.modules())
    assert model.head.in_features == 2 * 1000 and model.head.out_features == 2


def test_shapes_of_each_branch_setting():
    torch.manual_seed(0)
    x = one_hot(torch.randint(0, 4, (5, 300)))
    for branch in ("both", "pattern", "frequency"):
        model = ViraMiner(**SMOKE, branch=branch).eval()
        assert model(x).shape == (5, 2)
    assert not hasattr(ViraMiner(**SMOKE, branch="pattern"), "frequency")
    with pytest.raises(ValueError):
        ViraMiner(branch="neither")


def test_pattern_branch_is_position_invariant():
    """Global max-pooling: a motif scores the same wherever it sits (away from the edges)."""
    torch.manual_seed(0)
    model = ViraMiner(**SMOKE, branch="pattern").eval()
    background = torch.zeros(1, 4, 300)  # all-N: every conv output is the bias
    motif = one_hot(torch.randint(0, 4, (1, 11)))
    a, b = background.clone(), background.clone()
    a[:, :, 20:31], b[:, :, 200:211] = motif, motif
    torch.testing.assert_close(model(a), model(b))


def test_registry_and_flops():
    assert isinstance(build_model("viraminer", SMOKE), ViraMiner)
    assert isinstance(build_model("viraminer-staged", SMOKE), ViraMiner)
    by_hand = 2 * (4 * 11 * 1200 * 290 + 4 * 8 * 1000 * 293 + 1200 * 1000 + 1000 * 1000 + 2000 * 2)
    assert flops_per_sample("viraminer", {}) == by_hand


def toy_data(n: int, seed: int) -> ArrayData:
    """Class 1 carries the motif ACGTACGTAC somewhere; class 0 is random."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, 4, (n, 60), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % 2
    motif = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1], dtype=torch.uint8)
    for i in torch.nonzero(y).flatten():
        start = int(torch.randint(0, 50, (1,), generator=g))
        X[i, start : start + 10] = motif
    return ArrayData(X, y.long(), transform=one_hot)


def test_staged_training_trains_branches_then_only_the_head():
    torch.manual_seed(0)
    config = {**SMOKE, "seq_length": 60, "dropout": 0.1}
    model = ViraMiner(**config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=5, batch_size=32, lr=1e-2, patience=5, progress=False, selection_metric="auroc")
    calls = []

    def counting_fit(m, *args, **kwargs):
        calls.append(m.branch)
        if m.branch == "both":  # the merged stage sees frozen branches and a trainable head
            trainable = {n for n, p in m.named_parameters() if p.requires_grad}
            assert trainable == {"head.weight", "head.bias"}
            calls.append({k: v.clone() for k, v in m.state_dict().items()})
        return fit(m, *args, **kwargs)

    result = fit_staged(model, config, toy_data(256, 1), toy_data(64, 2), cfg, fit=counting_fit)
    assert calls[:3] == ["pattern", "frequency", "both"]
    branches_entering_merge, after = calls[3], model.state_dict()
    for key in after:
        if key.startswith(("pattern.", "frequency.")):
            assert not torch.equal(before[key], after[key])  # trained in its own stage...
            assert torch.equal(branches_entering_merge[key], after[key])  # ...and untouched by the merged stage
    assert [h["stage"] for h in result.history] == ["pattern"] * 5 + ["frequency"] * 5 + ["merged"] * 5
    assert [h["epoch"] for h in result.history] == list(range(1, 16))
    assert all(p.requires_grad for p in model.parameters())
    assert result.best_score > 0.9  # the motif is easy
