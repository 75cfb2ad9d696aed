"""ResSEN: the paper's residual network for super-enhancer vs typical-enhancer classification."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBNReLU, MaxPool1d, ResidualBlock


class ResSEN(nn.Module):
    """Residual network on the 36 features of one enhancer (Sabba et al., 2022, ResSEN).

    Layer table (defaults = the paper; ``L`` = ``n_features``, 36):

    =====================================================  ==================
    layer                                                  output
    =====================================================  ==================
    input                                                  (N, 1, 36)
    conv 64 k7 'same' + BN + ReLU                          (N, 64, 36)
    max-pool k3 stride 1                                   (N, 64, 34)
    block 1: conv 128 k3+BN+ReLU -> conv 256 k3+BN,        (N, 256, 34)
             shortcut conv 256 k3+BN, add, ReLU
    block 2: conv 256 k3+BN+ReLU -> conv 512 k3+BN,        (N, 512, 34)
             shortcut conv 512 k3+BN, add, ReLU
    flatten (+ ReLU, a no-op after the block's ReLU)       (N, 17408)
    linear                                                 (N, 2) logits
    =====================================================  ==================

    The model returns logits; softmax and argmax (the paper's Eq. 7) are applied by the caller, so training can use
    the numerically stable ``cross_entropy`` on logits (Eq. 8).

    ``ressen-log1p`` is this network, layer for layer and at the same widths, fed with one deviation from the paper:
    log1p of each signal before the min-max scaling of Eq. 1-4 (``transform="log1p"``,
    :mod:`resgenome.data.feature_transforms`); registered with that recipe in
    :data:`resgenome.models.registry.RECIPE_VARIANTS`.

    Parameters
    ----------
    n_features : int
        Length of the input vector (36).
    stem_channels, block1, block2 : int, (int, int), (int, int)
        Widths; the paper's are 64, (128, 256), (256, 512). Narrower widths are for tests.
    stem_kernel, kernel_size, pool_size : int
        7, 3 and 3 in the paper.
    n_classes : int
    """

    def __init__(
        self,
        n_features: int = 36,
        *,
        stem_channels: int = 64,
        block1: tuple[int, int] = (128, 256),
        block2: tuple[int, int] = (256, 512),
        stem_kernel: int = 7,
        kernel_size: int = 3,
        pool_size: int = 3,
        n_classes: int = 2,
    ):
        super().__init__()
        self.stem = ConvBNReLU(1, stem_channels, stem_kernel)
        self.pool = MaxPool1d(pool_size, stride=1)
        self.block1 = ResidualBlock(stem_channels, block1[0], block1[1], kernel_size)
        self.block2 = ResidualBlock(block1[1], block2[0], block2[1], kernel_size)
        self.flat_features = block2[1] * (n_features - pool_size + 1)
        self.head = nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Linear(self.flat_features, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, 1, n_features) -> logits (N, n_classes)."""
        return self.head(self.block2(self.block1(self.pool(self.stem(x)))))
