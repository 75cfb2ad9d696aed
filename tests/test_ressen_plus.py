"""ResSEN variants (models/ressen_plus.py): layer tables, the property each deviation claims, a toy training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from resgenome.models import build_model
from resgenome.models.ressen import ResSEN
from resgenome.models.ressen_plus import RESSEN_VARIANTS, ResSENPlus
from resgenome.pipeline import RunOptions, train_model
from resgenome.tasks import get_task
from resgenome.trainer import TrainConfig

SMALL = {"stem_channels": 8, "block1": (8, 16), "block2": (16, 16)}


def _convs(model):
    return [(m.in_channels, m.out_channels, m.kernel_size[0]) for m in model.modules() if isinstance(m, nn.Conv1d)]


def test_defaults_are_the_papers_resssen_weight_for_weight():
    torch.manual_seed(0)
    paper = ResSEN()
    torch.manual_seed(0)
    plus = ResSENPlus()
    assert _convs(plus) == _convs(paper) and plus.flat_features == 17_408
    plus.load_state_dict(paper.state_dict())  # same parameter names and shapes
    x = torch.randn(4, 1, 36)
    paper.eval(), plus.eval()
    assert torch.allclose(plus(x), paper(x), atol=1e-5)


@pytest.mark.parametrize("name,positions,stem_k,block_k", [
    ("ressen-1x1", 36, 1, 3), ("ressen-additive", 36, 1, 1), ("ressen-skip", 34, 7, 3)])  # fmt: skip
def test_variant_layer_tables(name, positions, stem_k, block_k):
    model = build_model(name, {"n_features": 36, **RESSEN_VARIANTS[name]})
    assert model.flat_features == 512 * positions
    kernels = [k for _, _, k in _convs(model)]
    assert kernels == [stem_k] + [block_k] * 6
    assert model(torch.randn(3, 1, 36)).shape == (3, 2)


def test_additive_variant_scores_each_feature_on_its_own():
    """Changing one feature moves the logits by the same amount whatever the other features are; not so in ResSEN."""
    torch.manual_seed(1)
    x = torch.randn(6, 1, 36)
    x[:, 0, 5] = 0.3  # rows differ in every feature but the one that moves
    moved = x.clone()
    moved[:, 0, 5] += 1.5
    for name, additive in (("ressen-additive", True), ("ressen", False)):
        config = {"n_features": 36, **SMALL, **RESSEN_VARIANTS.get(name, {})}
        model = build_model(name, config).eval()
        with torch.no_grad():
            delta = model(moved) - model(x)
        assert torch.allclose(delta, delta[:1].expand_as(delta), atol=1e-5) == additive, name


def test_linear_skip_holds_logistic_regression():
    model = ResSENPlus(**SMALL, linear_skip=True).eval()
    with torch.no_grad():
        model.head[-1].weight.zero_()
        model.head[-1].bias.zero_()
    x = torch.randn(5, 1, 36)
    expected = x.flatten(1) @ model.skip[-1].weight.T + model.skip[-1].bias
    assert torch.allclose(model(x), expected, atol=1e-6)


@pytest.mark.parametrize("name", list(RESSEN_VARIANTS))
def test_one_epoch_toy_training_and_rebuild(se_csv, name):
    task = get_task("superenhancer")
    cfg = TrainConfig(epochs=1, batch_size=64, seed=0, progress=False)
    opts = RunOptions(model=name, preset="smoke", transform="log1p", train=cfg)
    metrics = train_model("superenhancer", str(se_csv), opts, None, log=None, figures=False)
    assert metrics["epochs_run"] == 1 and 0.0 <= metrics["test"]["auroc"] <= 1.0
    config = task.model_config(name, {"features": list(range(36))}, "smoke")
    assert config["stem_channels"] == 8 and all(config[k] == v for k, v in RESSEN_VARIANTS[name].items())
    assert np.isfinite(metrics["validation"]["auprc"])
