"""ResSEN variants beyond the paper: stems that do not assume an order of the features, and a linear skip path.

Each variant is the paper's ResSEN with named deviations, registered under its own name (``ressen`` stays exactly
as published); the variants and why each was tried are in :class:`ResSENPlus`.
"""

from __future__ import annotations

import torch
from torch import nn

from .ressen import ResSEN

#: The registered variants: name -> the keyword arguments of :class:`ResSENPlus` that make it.
RESSEN_VARIANTS: dict[str, dict] = {
    # no convolution mixes neighbouring features before the blocks: a 1x1 stem and no max-pool
    "ressen-1x1": {"stem_kernel": 1, "pool_size": 1, "kernel_size": 3},
    # every convolution 1x1: each feature goes through the same residual network on its own, and only the final
    # linear layer combines the 36 results (an additive model with a shared learned basis)
    "ressen-additive": {"stem_kernel": 1, "pool_size": 1, "kernel_size": 1},
    # the paper's network plus a linear path from the 36 inputs straight to the logits ("wide and deep")
    "ressen-skip": {"linear_skip": True},
}


class ResSENPlus(ResSEN):
    """ResSEN (Sabba et al., 2022) with optional deviations; defaults give the paper's network exactly (the trunk is
    :class:`~resgenome.models.ressen.ResSEN`'s; only the pool, the head and the skip path change here).

    Layer table (``F`` = ``n_features``, 36; ``s`` = ``stem_kernel``; ``p`` = ``pool_size``; ``k`` = ``kernel_size``;
    ``P = F - p + 1`` positions after the pool; paper: s = 7, p = 3, k = 3, so P = 34):

    ===========================================================  ====================
    layer                                                        output
    ===========================================================  ====================
    input                                                        (N, 1, F)
    conv 64 ks 'same' + BN + ReLU                                (N, 64, F)
    max-pool kp stride 1 (none when p = 1)                       (N, 64, P)
    block 1: conv 128 kk + BN + ReLU -> conv 256 kk + BN,        (N, 256, P)
             shortcut conv 256 kk + BN, add, ReLU
    block 2: conv 256 kk + BN + ReLU -> conv 512 kk + BN,        (N, 512, P)
             shortcut conv 512 kk + BN, add, ReLU
    flatten, dropout (``dropout``; 0 in the paper)               (N, 512 P)
    linear                                                       (N, 2) logits
    + linear skip from the input (``linear_skip``)               (N, 2) logits
    ===========================================================  ====================

    Deviations, each a keyword, each registered under a name in :data:`RESSEN_VARIANTS`:

    - ``stem_kernel=1, pool_size=1`` (``ressen-1x1``): the paper's k7 stem and k3 pool mix each feature with its six
      neighbours in Table 1's order, which is arbitrary (H3K9me3 beside DNaseI, GC content beside phastCons). A 1x1
      stem embeds each feature alone; the blocks' k3 convolutions still see neighbours.
    - ``kernel_size=1`` as well (``ressen-additive``): nothing depends on the order; the score is a sum over
      features of a learned function of each (``P = F = 36`` positions, 512 x 36 = 18,432 inputs to the linear
      layer). The README notes the signal looks largely additive (logistic regression matches ResSEN).
    - ``linear_skip=True`` (``ressen-skip``): logits = ResSEN(x) + A x + b, so the network holds logistic regression
      on its inputs as a special case and the residual trunk only has to learn what a linear model misses.

    Parameters
    ----------
    n_features : int
    stem_channels, block1, block2 : int, (int, int), (int, int)
        64, (128, 256), (256, 512) in the paper.
    stem_kernel, pool_size, kernel_size : int
        7, 3 and 3 in the paper.
    dropout : float
        Before the final linear layer (0: none, as the paper).
    linear_skip : bool
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
        pool_size: int = 3,
        kernel_size: int = 3,
        dropout: float = 0.0,
        linear_skip: bool = False,
        n_classes: int = 2,
    ):
        super().__init__(n_features, stem_channels=stem_channels, block1=block1, block2=block2,
                         stem_kernel=stem_kernel, kernel_size=kernel_size, pool_size=pool_size,
                         n_classes=n_classes)  # fmt: skip
        if pool_size == 1:
            self.pool = nn.Identity()
        # block 2 ends in a ReLU, so the paper head's ReLU after the flatten changes nothing: dropout takes its place
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(self.flat_features, n_classes))
        self.skip = nn.Sequential(nn.Flatten(), nn.Linear(n_features, n_classes)) if linear_skip else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, 1, n_features) -> logits (N, n_classes)."""
        logits = super().forward(x)
        return logits if self.skip is None else logits + self.skip(x)
