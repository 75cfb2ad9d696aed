"""Building blocks shared by the paper's residual models (ResSEN, ResVG) and the CNN baselines.

The 1-D layers here (:class:`Conv1d`, :class:`BatchNorm1d`, :class:`MaxPool1d`, the adaptive pools) are PyTorch's,
with the same parameters and state dicts, computed as 2-D layers over ``(N, C, 1, L)`` in channels-last memory.
Why: oneDNN's channels-last kernels run ResVG's convolutions about twice as fast on a CPU as its 1-D ``(N, C, L)``
ones; whole models train 1.1-1.4x and infer 1.2-2.5x faster (``benchmarks/layout_ab.py``). Each layer returns
what it was given: a 3-D ``(N, C, L)`` input gives a 3-D output (a view of the channels-last result, so the next
layer needs no copy), a 4-D ``(N, C, 1, L)`` input a 4-D output; a model whose layers hold no in-place operation
on those views may run 4-D throughout (:func:`as_channels_last` at its input), as ViraMiner does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def as_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, L)`` or ``(N, C, 1, L)`` -> ``(N, C, 1, L)`` in channels-last memory (no copy if it already is)."""
    if x.dim() == 3:
        x = x.unsqueeze(2)
    return x.contiguous(memory_format=torch.channels_last)


def _like(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return y.squeeze(2) if x.dim() == 3 else y


class Conv1d(nn.Conv1d):
    """:class:`torch.nn.Conv1d` run as a channels-last 2-D convolution (zero padding only); see the module notes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros":
            return super().forward(x)
        padding = self.padding if isinstance(self.padding, str) else (0, self.padding[0])
        y = F.conv2d(as_channels_last(x), self.weight.unsqueeze(2), self.bias, (1, self.stride[0]), padding,
                     (1, self.dilation[0]), self.groups)  # fmt: skip
        return _like(y, x)


class BatchNorm1d(nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` that also takes ``(N, C, 1, L)``, computed channels-last."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 3, 4) or (x.dim() == 4 and x.shape[2] != 1):
            raise ValueError(f"expected (N, C), (N, C, L) or (N, C, 1, L) input, got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) if x.dim() == 2 else _like(super().forward(as_channels_last(x)), x)


class MaxPool1d(nn.MaxPool1d):
    """:class:`torch.nn.MaxPool1d` (without ``return_indices``) computed channels-last.

    Without autograd (inference, validation) a stride-1 pool is computed as maxima of shifted views instead: the
    same values exactly, ~7x faster than PyTorch's channels-last pooling kernel, which also builds the argmax indices
    (it took a quarter of ResVG's inference time; ``benchmarks/layout_ab.py``). Training keeps PyTorch's kernel,
    whose backward is far faster than that of the shifted maxima.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.return_indices:
            return super().forward(x)
        simple = self.stride == 1 and self.padding == 0 and self.dilation == 1
        if simple and not (torch.is_grad_enabled() and x.requires_grad) and x.shape[-1] >= self.kernel_size:
            return _like(sliding_max(as_channels_last(x), self.kernel_size), x)
        y = F.max_pool2d(as_channels_last(x), (1, self.kernel_size), (1, self.stride), (0, self.padding),
                         (1, self.dilation), self.ceil_mode)  # fmt: skip
        return _like(y, x)


def sliding_max(x: torch.Tensor, k: int) -> torch.Tensor:
    """Max over every window of ``k`` consecutive positions of the last axis (a max-pool with stride 1).

    Windows of 2, 4, 8, ... are built by doubling (the max of two overlapping halves), then a window of ``k`` is the
    max of two overlapping windows of the largest power of two <= k: about log2(k) + 1 passes over memory. The
    layout of ``x`` (channels-last or not) is kept.
    """
    span, out = 1, x
    while 2 * span <= k:
        out = torch.maximum(out[..., :-span], out[..., span:])
        span *= 2
    if span < k:
        out = torch.maximum(out[..., : out.shape[-1] - (k - span)], out[..., k - span :])
    return out


class AdaptiveAvgPool1d(nn.AdaptiveAvgPool1d):
    """:class:`torch.nn.AdaptiveAvgPool1d` computed channels-last."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _like(F.adaptive_avg_pool2d(as_channels_last(x), (1, self.output_size)), x)


class AdaptiveMaxPool1d(nn.AdaptiveMaxPool1d):
    """:class:`torch.nn.AdaptiveMaxPool1d` (without ``return_indices``) computed channels-last."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.return_indices:
            return super().forward(x)
        return _like(F.adaptive_max_pool2d(as_channels_last(x), (1, self.output_size)), x)


class ConvBNReLU(nn.Sequential):
    """Conv1d -> BatchNorm1d -> ReLU, with 'same' padding for odd kernels.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
        Odd kernels keep the length; even kernels lose one position (as Keras 'same' would pad asymmetrically;
        we do not need even kernels in the residual models).
    relu : bool
        False gives Conv + BN only (the second convolution of a residual branch).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, relu: bool = True):
        layers: list[nn.Module] = [
            # the bias is redundant in front of BatchNorm
            Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            BatchNorm1d(out_channels),
        ]
        if relu:  # not in place: batch norm hands 3-D inputs back as views, and autograd copies views changed in place
            layers.append(nn.ReLU())
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """The residual block of both of the paper's models.

    ``relu(BN(conv_b(relu(BN(conv_a(x))))) + BN(conv_s(x)))`` — the shortcut is itself a convolution with batch
    normalisation (a projection shortcut), as the paper draws it, not an identity.

    Parameters
    ----------
    in_channels : int
    mid_channels : int
        Filters of the first convolution of the main branch.
    out_channels : int
        Filters of the second convolution and of the shortcut convolution.
    kernel_size : int
        Kernel of all three convolutions (3 in ResSEN, 11 in ResVG); 'same' padding keeps the length.

    Shapes: ``(N, in_channels, L) -> (N, out_channels, L)``.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.branch = nn.Sequential(
            ConvBNReLU(in_channels, mid_channels, kernel_size),
            ConvBNReLU(mid_channels, out_channels, kernel_size, relu=False),
        )
        self.shortcut = ConvBNReLU(in_channels, out_channels, kernel_size, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.branch(x) + self.shortcut(x))
