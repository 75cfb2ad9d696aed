"""ResVG run fully convolutionally: its trunk computed once over long stretches of sequence, window logits from sums.

ResVG is convolutional up to its global average pool, and its head is linear: the logits of a window are the head's
weights applied to the mean of the trunk's feature map over the window, plus the bias,

    logits(window) = (1 / S) * sum over the window's S positions p of (head.weight @ F[:, p]) + head.bias,

so :class:`WindowScanner` computes ``z[p] = head.weight @ F[:, p]`` once per position of a long piece, and any window's
logits come from two rows of the cumulative sum of ``z`` (:func:`window_logits`): every stride costs O(1) per window,
and the trunk costs the same per base whatever the stride.

Receptive field (positions are those of the max-pool's output, ``p`` covering the stem's ``p .. p + k_pool - 1``;
ResVG's defaults in brackets): trunk position ``p`` depends on the bases ``p - left .. p + right`` with

    left  = k_stem // 2 + max(k_a // 2 + k_b // 2, k_shortcut // 2)                    [3 + 10 = 13]
    right = k_stem // 2 + (k_pool - 1) + max(k_a // 2 + k_b // 2, k_shortcut // 2)     [3 + 3 + 10 = 16]

(:func:`receptive_field`). Hence a piece of ``n`` bases gives exact trunk values at its positions ``left ..
n - right - 1``: pieces of a record that overlap by ``left + right`` bases (29) give exactly the feature map of the
whole record, seams included. A window of ``L`` bases (300) spans ``S = L - k_pool + 1`` positions (297); scored on
its own, the network pads it with zeros, so only its positions ``left .. L - 1 - right`` (13 .. 283), which see no
padding, equal those of the record's map; in the record, its outer 26 positions see the real neighbouring bases
instead. That difference is intended and measured (``benchmarks/fullconv_agreement.py``).

Eval-mode batch normalisation is a per-channel affine map: the scanner folds it into the convolution before it (a
weight scale and a bias), which removes a pass over memory per convolution (in a one-thread torch.profiler run of
the unfolded trunk, batch norm took 14 % of the fp32 time and 16 % of the bf16 time) and changes results by float
rounding only (``tests/test_fullconv.py``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvBNReLU, as_channels_last, sliding_max
from .resvg import ResVG

#: Precisions the scanner computes in; bf16 keeps weights and activations in bfloat16 and projects onto the head in
#: float32.
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def fully_convolutional(model: nn.Module) -> bool:
    """Whether :class:`WindowScanner` can run ``model`` (a ResVG, exactly).

    A subclass may change the forward pass the scanner re-implements (the variants of ``models/resvg_plus.py``
    average both strands or add a k-mer branch), so it is scored window by window through its own ``forward``."""
    return type(model) is ResVG


def _half(conv: nn.Conv1d) -> int:
    """Positions a 'same' convolution reaches on each side; refuses any other kind (stride, dilation, padding)."""
    k = conv.kernel_size[0]
    if k % 2 == 0 or conv.stride[0] != 1 or conv.dilation[0] != 1 or conv.padding[0] != k // 2:
        raise ValueError(f"fully convolutional scoring needs odd 'same' convolutions of stride 1, got {conv}")
    return k // 2


def receptive_field(model: ResVG) -> tuple[int, int]:
    """``(left, right)``: trunk position ``p`` of ``model`` depends on the bases ``p - left .. p + right``.

    Derived from the layers themselves (see the module docstring); (13, 16) for ResVG's defaults.
    """
    pool = model.pool
    if pool.stride != 1 or pool.padding != 0 or pool.dilation != 1:
        raise ValueError(f"fully convolutional scoring needs a stride-1 unpadded max-pool, got {pool}")
    stem = _half(model.stem[0])
    first, second = (_half(layer[0]) for layer in model.block.branch)
    block = max(first + second, _half(model.block.shortcut[0]))
    return stem + block, stem + (pool.kernel_size - 1) + block


def _folded(layer: ConvBNReLU, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The conv + eval-mode batch norm of ``layer`` as one convolution: weight (out, in, 1, k) and bias (out,)."""
    conv, bn = layer[0], layer[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale[:, None, None]
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return weight.unsqueeze(2).to(dtype).contiguous(), bias.to(dtype)


class WindowScanner:
    """A trained ResVG turned into a scorer of every window of long one-hot pieces.

    Parameters
    ----------
    model : ResVG
        Trained; its weights are copied (batch norm folded), so later changes to ``model`` are not seen.
    window : int
        Window length in bases, the model's input length (300).
    precision : ``fp32`` or ``bf16``
    device : torch device of the computation (the model's by default).

    Attributes
    ----------
    left, right : int
        The receptive field (:func:`receptive_field`).
    span : int
        Trunk positions of one window, ``window - k_pool + 1``.
    bias : np.ndarray, shape (C,) float64
        The head's bias, added to every window's mean of ``z``.
    """

    def __init__(self, model: ResVG, window: int, *, precision: str = "fp32", device: torch.device | None = None):
        if not fully_convolutional(model):
            raise TypeError(f"fully convolutional scoring is for ResVG, not {type(model).__name__}")
        self.left, self.right = receptive_field(model)
        self.window, self.span = window, window - model.pool.kernel_size + 1
        self.pool_size = model.pool.kernel_size
        self.dtype = PRECISIONS[precision]
        self.device = device or next(model.parameters()).device
        self.pads = [model.stem[0].padding[0], model.block.branch[0][0].padding[0],
                     model.block.branch[1][0].padding[0], model.block.shortcut[0].padding[0]]  # fmt: skip
        with torch.no_grad():
            layers = (model.stem, model.block.branch[0], model.block.branch[1], model.block.shortcut)
            self.layers = [tuple(t.to(self.device) for t in _folded(layer, self.dtype)) for layer in layers]
            linear = model.head[-1]
            self.head = linear.weight.detach().to(self.device, torch.float32).t().contiguous()  # (W, C)
            self.bias = linear.bias.detach().double().cpu().numpy()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's feature map (stem, max-pool, residual block; batch norm folded).

        Parameters
        ----------
        x : torch.Tensor, shape (N, 4, n) one-hot

        Returns
        -------
        torch.Tensor, shape (N, W, 1, n - k_pool + 1), channels-last, in the scanner's precision; position ``p``
        is exact (as in the whole record) for ``left <= p < n - right``.
        """
        (w0, b0), (wa, ba), (wb, bb), (ws, bs) = self.layers
        p0, pa, pb, ps = self.pads
        with torch.inference_mode():
            x = as_channels_last(x.to(self.device, self.dtype))
            h = sliding_max(F.relu_(F.conv2d(x, w0, b0, padding=(0, p0))), self.pool_size)
            a = F.relu_(F.conv2d(h, wa, ba, padding=(0, pa)))
            y = F.conv2d(a, wb, bb, padding=(0, pb))
            return F.relu_(y.add_(F.conv2d(h, ws, bs, padding=(0, ps))))

    def position_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``z[p] = head.weight @ F[:, p]`` at every trunk position (no bias): shape (N, n - k_pool + 1, C) float32.

        Parameters
        ----------
        x : torch.Tensor, shape (N, 4, n) one-hot
        """
        with torch.inference_mode():
            maps = self.features(x)  # (N, W, 1, P) channels-last: memory is (N, 1, P, W)
            return torch.matmul(maps.permute(0, 2, 3, 1).float(), self.head).squeeze(1)


def window_logits(csum: np.ndarray, starts: np.ndarray, span: int, bias: np.ndarray) -> np.ndarray:
    """Logits of the windows starting at ``starts``, from the cumulative sum of ``z``.

    Parameters
    ----------
    csum : np.ndarray, shape (P + 1, C) float64
        ``csum[i] = z[0] + ... + z[i - 1]`` over consecutive trunk positions, ``csum[0] = 0`` (any constant offset
        cancels).
    starts : np.ndarray, shape (K,) int
        Window starts as indices into ``z``; each window needs ``start + span <= P``.
    span : int
        Trunk positions per window.
    bias : np.ndarray, shape (C,)

    Returns
    -------
    np.ndarray, shape (K, C) float64: the mean of ``z`` over each window plus ``bias``.
    """
    return (csum[starts + span] - csum[starts]) / span + bias


def softmax_positive(logits: np.ndarray) -> np.ndarray:
    """Probability of the positive class, ``softmax(logits)[:, 1]`` (the models' contract), shape (K,)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted[:, 1] / shifted.sum(axis=1)
