"""Tests for ResVG: the paper's layer table at both widths, output shapes, and the analytic FLOP count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resgenome.models import build_model, count_parameters, flops_per_sample
from resgenome.models.resvg import ResVG
from resgenome.tasks.viral import PRESETS

RESVG_WIDTHS = {name: preset.widths["resvg"]["width"] for name, preset in PRESETS.items()}


def layer_table(model: nn.Module) -> list[tuple]:
    """(kind, in, out, kernel) of every conv / linear and (kind, kernel, stride) of every pool, in order."""
    rows = []
    for m in model.modules():
        if isinstance(m, nn.Conv1d):
            rows.append(("conv", m.in_channels, m.out_channels, m.kernel_size[0], m.padding[0]))
        elif isinstance(m, nn.BatchNorm1d):
            rows.append(("bn", m.num_features))
        elif isinstance(m, nn.MaxPool1d):
            rows.append(("maxpool", m.kernel_size, m.stride))
        elif isinstance(m, nn.AdaptiveAvgPool1d):
            rows.append(("gap",))
        elif isinstance(m, nn.Linear):
            rows.append(("linear", m.in_features, m.out_features))
    return rows


def expected_table(width: int) -> list[tuple]:
    return [
        ("conv", 4, 64, 7, 3), ("bn", 64),
        ("maxpool", 4, 1),
        ("conv", 64, width, 11, 5), ("bn", width),  # main branch, first conv
        ("conv", width, width, 11, 5), ("bn", width),  # main branch, second conv
        ("conv", 64, width, 11, 5), ("bn", width),  # projection shortcut
        ("gap",),
        ("linear", width, 2),
    ]  # fmt: skip


@pytest.mark.parametrize("preset", ["paper", "cpu"])
def test_layer_table_matches_the_paper(preset):
    width = RESVG_WIDTHS[preset]
    with torch.device("meta"):  # the paper width has 12M parameters; no need to allocate them
        model = ResVG(width=width)
    assert layer_table(model) == expected_table(width)


def test_paper_width_is_1000_and_cpu_is_narrower():
    assert RESVG_WIDTHS["paper"] == 1000
    assert RESVG_WIDTHS["smoke"] < RESVG_WIDTHS["cpu"] < RESVG_WIDTHS["paper"]


def test_output_shape_and_intermediate_lengths():
    torch.manual_seed(0)
    model = ResVG(width=8).eval()
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (3, 300)), 4).float().transpose(1, 2)
    assert model.pool(model.stem(x)).shape == (3, 64, 297)
    assert model.block(model.pool(model.stem(x))).shape == (3, 8, 297)
    assert model(x).shape == (3, 2)
    # global average pooling makes it length-agnostic (windows of other lengths still score)
    assert model(x[:, :, :120]).shape == (3, 2)


def test_build_from_registry_and_backward():
    model = build_model("resvg", {"width": 8})
    assert isinstance(model, ResVG)
    x = torch.zeros(4, 4, 300)
    x[:, 0] = 1
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 0, 1]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_parameter_count_of_the_paper_width():
    with torch.device("meta"):
        model = ResVG(width=1000)
    convs = 4 * 64 * 7 + 64 * 1000 * 11 + 1000 * 1000 * 11 + 64 * 1000 * 11  # no conv bias before BN
    bns = 2 * (64 + 3 * 1000)
    assert count_parameters(model) == convs + bns + 1000 * 2 + 2


def test_flops_analytic():
    def by_hand(w: int) -> int:
        stem = 2 * 4 * 64 * 7 * 300
        block = 2 * 11 * 297 * (64 * w + w * w + 64 * w)
        return stem + block + 2 * w * 2

    for width in (8, 64, 1000):
        assert flops_per_sample("resvg", {"width": width}) == by_hand(width)
    paper = flops_per_sample("resvg", {"width": 1000})
    assert 7.3e9 < paper < 7.45e9  # "about 7.4 GFLOP forward" (paper-models.md)
    assert flops_per_sample("resvg", {"width": RESVG_WIDTHS["cpu"]}) < paper / 50
