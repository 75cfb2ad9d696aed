"""Layer tables and shapes of the super-enhancer models; analytic checks of the residual block."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resgenome.models import build_model, count_parameters
from resgenome.models.blocks import MaxPool1d, ResidualBlock, sliding_max
from resgenome.models.deepsen import DeepSEN
from resgenome.models.ressen import ResSEN


def _trace_shapes(model: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, tuple]:
    shapes = {}
    hooks = [getattr(model, n).register_forward_hook(
        lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape))) for n in names]  # fmt: skip
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return shapes


def test_ressen_layer_table_is_the_papers():
    model = ResSEN()
    assert model.flat_features == 17_408
    shapes = _trace_shapes(model, torch.randn(3, 1, 36), ["stem", "pool", "block1", "block2", "head"])
    assert shapes == {
        "stem": (3, 64, 36),
        "pool": (3, 64, 34),
        "block1": (3, 256, 34),
        "block2": (3, 512, 34),
        "head": (3, 2),
    }
    convs = [(m.in_channels, m.out_channels, m.kernel_size[0]) for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert convs == [
        (1, 64, 7),
        (64, 128, 3), (128, 256, 3), (64, 256, 3),  # block 1: branch, branch, shortcut
        (256, 256, 3), (256, 512, 3), (256, 512, 3),  # block 2
    ]  # fmt: skip
    assert model.head[-1].in_features == 17_408 and model.head[-1].out_features == 2
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 7


def test_deepsen_three_conv_pool_stages_then_dense():
    model = DeepSEN()
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Conv1d", "ReLU", "MaxPool1d"] * 3
    assert model.flat_features == 128 * 4
    assert model(torch.randn(5, 1, 36)).shape == (5, 2)


def test_registry_rebuilds_from_plain_config():
    model = build_model("ressen", {"n_features": 37, "stem_channels": 8, "block1": (8, 8), "block2": (8, 16)})
    assert model(torch.randn(2, 1, 37)).shape == (2, 2)
    assert model.flat_features == 16 * 35
    assert count_parameters(model) > 0


def test_residual_block_adds_shortcut_analytically():
    """With hand-set weights: branch output zero (second conv zeroed), shortcut identity -> relu(x)."""
    block = ResidualBlock(2, 2, 2, kernel_size=3).eval()
    with torch.no_grad():
        block.branch[1][0].weight.zero_()
        w = torch.zeros(2, 2, 3)
        w[0, 0, 1] = w[1, 1, 1] = 1.0  # identity kernel
        block.shortcut[0].weight.copy_(w)
    x = torch.randn(4, 2, 9)
    torch.testing.assert_close(block(x), torch.relu(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 11])
def test_inference_max_pool_equals_pytorchs_in_both_layouts(k):
    torch.manual_seed(k)
    for length in (k, k + 1, 36, 300):
        x = torch.randn(3, 5, length)
        x[0, 0, :] = 1.0  # ties: any of the maxima gives the same value
        expected = F.max_pool1d(x, k, 1)
        assert torch.equal(sliding_max(x, k), expected)
        x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():  # the shifted-maxima path
            assert torch.equal(MaxPool1d(k, 1)(x), expected)
            assert torch.equal(MaxPool1d(k, 1)(x4), expected.unsqueeze(2))
    # with autograd PyTorch's kernel runs, and its gradient reaches each window's maximum
    x = torch.randn(2, 3, 20, requires_grad=True)
    MaxPool1d(k, 1)(x).sum().backward()
    reference = x.detach().clone().requires_grad_(True)
    F.max_pool1d(reference, k, 1).sum().backward()
    assert torch.equal(x.grad, reference.grad)
