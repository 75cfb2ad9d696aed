"""ResVG variants (models/resvg_plus.py) and reverse-complement augmentation (augment.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from resgenome.augment import reverse_complement_onehot
from resgenome.data.encoding import kmer_counts, one_hot
from resgenome.models import build_model
from resgenome.models.resvg import ResVG
from resgenome.models.resvg_plus import RESVG_VARIANTS, KmerFrequencies, ResVGPlus
from resgenome.pipeline import RunOptions, train_model
from resgenome.trainer import TrainConfig

SMALL = {"width": 8, "stem_channels": 8}


def _random_onehot(n: int, length: int = 300, seed: int = 0, n_fraction: float = 0.02) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length)).astype(np.uint8)
    codes[rng.random((n, length)) < n_fraction] = 4  # some N
    return one_hot(codes)


def test_defaults_are_the_papers_resvg():
    torch.manual_seed(0)
    paper = ResVG(**SMALL)
    torch.manual_seed(0)
    plus = ResVGPlus(**SMALL)
    plus.load_state_dict(paper.state_dict())
    x = _random_onehot(4)
    paper.eval(), plus.eval()
    assert torch.equal(plus(x), paper(x))


@pytest.mark.parametrize("name", list(RESVG_VARIANTS))
def test_variant_shapes_and_registry(name):
    model = build_model(name, {**SMALL, "seq_length": 300, **RESVG_VARIANTS[name]})
    assert isinstance(model, ResVGPlus) and model(_random_onehot(3)).shape == (3, 2)
    has_kmer = "kmer" in RESVG_VARIANTS[name]
    assert (model.kmer is not None) == has_kmer
    if has_kmer:
        assert model.kmer[-1].in_features == 4**6


@pytest.mark.parametrize("name,invariant", [("resvg", False), ("resvg-kmer", False), ("resvg-rc", True),
                                            ("resvg-rc-kmer", True)])  # fmt: skip
def test_reverse_complement_gives_the_same_score_only_for_rc_models(name, invariant):
    torch.manual_seed(1)
    model = build_model(name, {**SMALL, "seq_length": 300, **RESVG_VARIANTS.get(name, {})})
    x = _random_onehot(6, seed=2)
    model.train()
    model(x)  # one training-mode pass so batch norm statistics are not the trivial initial ones
    model.eval()
    with torch.no_grad():
        same = torch.allclose(model(x), model(reverse_complement_onehot(x)), atol=1e-5)
    assert same == invariant


def test_kmer_frequencies_equal_the_baselines_counts():
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 4, (5, 60)).astype(np.uint8)
    codes[0, 10] = 4  # windows touching an N are not counted
    counts = kmer_counts(codes, 3)
    expected = counts / counts.sum(1, keepdims=True)
    got = KmerFrequencies(3)(one_hot(codes)).numpy()
    assert np.allclose(got, expected, atol=1e-6)
    assert counts[0].sum() == 60 - 3 + 1 - 3


def test_kmer_branch_alone_can_be_the_linear_model():
    """With the residual head silenced, the hybrid's logits are a linear function of standardised 6-mer frequencies."""
    model = ResVGPlus(**SMALL, kmer=6).eval()
    with torch.no_grad():
        model.head[-1].weight.zero_()
        model.head[-1].bias.zero_()
    x = _random_onehot(4, seed=5)
    freq = KmerFrequencies(6)(x)
    bn = model.kmer[1]
    z = (freq - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    expected = z @ model.kmer[-1].weight.T + model.kmer[-1].bias
    assert torch.allclose(model(x), expected, atol=1e-5)


@pytest.mark.parametrize("name", list(RESVG_VARIANTS))
def test_one_epoch_toy_training(synthetic_prefix, name):
    cfg = TrainConfig(epochs=1, batch_size=64, seed=0, progress=False, rc_augment=True)
    opts = RunOptions(model=name, preset="smoke", train=cfg)
    metrics = train_model("viral", str(synthetic_prefix), opts, None, log=None, figures=False)
    assert metrics["epochs_run"] == 1 and 0.0 <= metrics["test"]["auroc"] <= 1.0


def test_layer_rows_of_the_rc_kmer_variant():
    model = build_model("resvg-rc-kmer", {**SMALL, "seq_length": 300, **RESVG_VARIANTS["resvg-rc-kmer"]})
    linears = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears == [(8, 2), (4096, 2)]


def test_flops_count_both_strands():
    from resgenome.models import flops_per_sample

    one = flops_per_sample("resvg", {"width": 32})
    assert flops_per_sample("resvg-rc", {"width": 32, "rc": True}) == 2 * one
    assert flops_per_sample("resvg-kmer", {"width": 32, "kmer": 6}) == one + 2 * 4**6 * 2
