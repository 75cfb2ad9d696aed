"""ResVG: the paper's residual network for viral vs non-viral 300-bp DNA sequences."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import AdaptiveAvgPool1d, ConvBNReLU, MaxPool1d, ResidualBlock

class ResVG(nn.Module):
    """Residual network on one-hot DNA (Sabba et al., 2022, ResVG).

    Layer table (defaults = the paper except the width; ``L`` = ``seq_length``, 300; ``W`` = ``width``):

    =====================================================  ==================
    layer                                                  output
    =====================================================  ==================
    input, one-hot A C G T (N = all zeros)                 (N, 4, 300)
    conv 64 k7 'same' + BN + ReLU                          (N, 64, 300)
    max-pool k4 stride 1                                   (N, 64, 297)
    residual block: conv W k11 + BN + ReLU -> conv W k11   (N, W, 297)
      + BN; shortcut conv W k11 + BN; add; ReLU
    global average pooling                                 (N, W)
    linear                                                 (N, 2) logits
    =====================================================  ==================

    The paper's W is 1000 (its "1001 inputs" of the dense layer read as 1000 features plus the bias). Forward cost
    is dominated by the block's second convolution, ``2 W^2 11 297`` FLOP: 7.37 GFLOP per sequence at W = 1000,
    about 22 GFLOP per training sequence (forward + backward), far too much for a CPU. The ``cpu`` preset uses
    W = 32: 0.035 GFLOP forward, 1/213 of the paper width. Chosen by ``benchmarks/viral_width.py`` on the
    development set (viral-devset, fullset split, 6,000 training rows, 3 epochs, seed 0, a 2-core CPU shared with
    other jobs, so speeds are rough):

    =====  ===============  ==================  ==============  ==========
    W      GFLOP/seq (fwd)  train seq/s         best val AUROC  test AUROC
    =====  ===============  ==================  ==============  ==========
    16     0.016            49                  0.811           0.783
    32     0.035            41                  0.834           0.818
    64     0.081            17                  0.836           0.810
    1000   7.37             0.6                 (not trained)
    =====  ===============  ==================  ==============  ==========

    W = 64 costs twice W = 32 for no gain in validation AUROC. The model returns logits; softmax is applied by the
    caller.

    ``resvg-rcaug`` is this network, layer for layer and at the same widths, trained with one deviation from the
    paper: each training sequence is replaced by its reverse complement with probability 0.5 (``rc_augment``,
    :mod:`resgenome.augment`); registered with that recipe in :data:`resgenome.models.registry.RECIPE_VARIANTS`.
    The viral model beyond the paper chosen on validation (:data:`resgenome.comparison.STACKS`) is no new layer
    either: this network and ``resvg-rcaug``, each scored on both strands (a sequence's probability averaged with
    its reverse complement's), stacked with the 6-mer logistic regression by a logistic regression on the three
    logits fitted on validation rows (:func:`resgenome.pipeline.stack_runs`).

    Parameters
    ----------
    width : int
        Filters of the residual block's three convolutions (W).
    seq_length : int
        Length of the input sequences (300); only used for :attr:`input_shape` and cost estimates, since global
        average pooling makes the network length-agnostic.
    stem_channels, stem_kernel, pool_size, kernel_size : int
        64, 7, 4 and 11 in the paper.
    n_classes : int
    """

    def __init__(
        self,
        *,
        width: int = 1000,
        seq_length: int = 300,
        stem_channels: int = 64,
        stem_kernel: int = 7,
        pool_size: int = 4,
        kernel_size: int = 11,
        n_classes: int = 2,
    ):
        super().__init__()
        self.input_shape = (4, seq_length)
        self.stem = ConvBNReLU(4, stem_channels, stem_kernel)
        self.pool = MaxPool1d(pool_size, stride=1)
        self.block = ResidualBlock(stem_channels, width, width, kernel_size)
        self.head = nn.Sequential(AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, 4, L) one-hot -> logits (N, n_classes)."""
        return self.head(self.block(self.pool(self.stem(x))))
