"""ResVG variants beyond the paper: both strands (reverse-complement invariance) and a k-mer composition branch.

Each variant is the paper's ResVG with named deviations, registered under its own name (``resvg`` stays exactly as
published); what each deviation is and why it was tried is in :class:`ResVGPlus`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..augment import reverse_complement_onehot
from .resvg import ResVG

#: The registered variants: name -> the keyword arguments of :class:`ResVGPlus` that make it.
RESVG_VARIANTS: dict[str, dict] = {
    "resvg-rc": {"rc": True},
    "resvg-kmer": {"kmer": 6},
    "resvg-rc-kmer": {"rc": True, "kmer": 6},
}


class KmerFrequencies(nn.Module):
    """Overlapping k-mer frequencies of one-hot DNA, computed inside the model (no gradient flows through).

    ``(N, 4, L)`` one-hot -> ``(N, 4**k)``: column ``sum(code[i + j] * 4**(k - 1 - j))`` (the order of
    ``data.encoding.kmer_counts``), counts divided by the number of counted k-mers; a k-mer touching an N is not
    counted. The same features as the k-mer baselines (which also scale them, here left to batch normalisation).
    """

    def __init__(self, k: int):
        super().__init__()
        self.k = k
        self.register_buffer("powers", 4 ** torch.arange(k - 1, -1, -1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], 4, -1)  # a (N, 4, 1, L) channels-last input works too
        present = x.sum(1) > 0.5  # (N, L): False at N
        codes = x.argmax(1)  # (N, L), 0-3
        windows = codes.unfold(1, self.k, 1)  # (N, L - k + 1, k)
        index = (windows * self.powers).sum(-1)
        counted = present.unfold(1, self.k, 1).all(-1).to(x.dtype)  # windows without an N
        counts = torch.zeros(x.shape[0], 4**self.k, dtype=x.dtype, device=x.device)
        counts.scatter_add_(1, index, counted)
        return counts / counted.sum(1, keepdim=True).clamp(min=1)


class ResVGPlus(ResVG):
    """ResVG (Sabba et al., 2022) with optional deviations; ``rc=False, kmer=0`` is the paper's network exactly.

    Layer table (``L`` = 300, ``W`` = ``width``; the rows marked + are the deviations):

    ========================================================  ==================
    layer                                                     output
    ========================================================  ==================
    input, one-hot A C G T (N = all zeros)                    (N, 4, 300)
    + ``rc``: the batch and its reverse complement            (2N, 4, 300)
    conv 64 k7 'same' + BN + ReLU                             (., 64, 300)
    max-pool k4 stride 1                                      (., 64, 297)
    residual block: conv W k11 + BN + ReLU -> conv W k11      (., W, 297)
      + BN; shortcut conv W k11 + BN; add; ReLU
    global average pooling, linear                            (., 2) logits
    + ``kmer``: k-mer frequencies of the input                (., 4**k)
      batch norm (no affine), dropout, linear; added          (., 2) logits
    + ``rc``: mean of the two strands' logits                 (N, 2) logits
    ========================================================  ==================

    Deviations (each registered under a name in :data:`RESVG_VARIANTS`):

    - ``rc=True`` (``resvg-rc``): viral DNA is read from either strand, and a sequencer reports whichever it read,
      so a sequence and its reverse complement must get one score. The paper's ResVG gives them different scores
      (its filters see one strand). Here every sequence is scored on both strands by the same weights and the
      logits are averaged (a "conjoined" network), which makes the score exactly reverse-complement invariant and
      lets both strands of every training sequence inform the filters. Cost: twice ResVG's.
    - ``kmer=k`` (``resvg-kmer``, k = 6): a k-mer composition branch beside the residual one, its logits added to
      the residual head's. Composition is what the 6-mer logistic regression uses, and on held-out experiments it
      transferred better than ResVG (README); the residual branch then only has to learn what composition misses.
      The branch is a linear model on batch-normalised 6-mer frequencies (4,096 weights per class), so the network
      holds the k-mer logistic regression as a special case.
    - both (``resvg-rc-kmer``).

    Parameters
    ----------
    rc : bool
        Score both strands and average the logits.
    kmer : int
        k of the composition branch (0: none).
    kmer_dropout : float
        Dropout on the k-mer frequencies before their linear layer.
    width, seq_length, stem_channels, stem_kernel, pool_size, kernel_size, n_classes
        As :class:`ResVG`.
    """

    def __init__(self, *, rc: bool = False, kmer: int = 0, kmer_dropout: float = 0.0,
                 width: int = 1000, n_classes: int = 2, **resvg):  # fmt: skip
        super().__init__(width=width, n_classes=n_classes, **resvg)
        self.rc = rc
        self.kmer = None
        if kmer:
            self.kmer = nn.Sequential(
                KmerFrequencies(kmer), nn.BatchNorm1d(4**kmer, affine=False), nn.Dropout(kmer_dropout),
                nn.Linear(4**kmer, n_classes),
            )  # fmt: skip

    def _one_strand(self, x: torch.Tensor) -> torch.Tensor:
        logits = super().forward(x)
        return logits if self.kmer is None else logits + self.kmer(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, 4, L) one-hot -> logits (N, n_classes)."""
        if not self.rc:
            return self._one_strand(x)
        both = self._one_strand(torch.cat([x, reverse_complement_onehot(x)]))  # one batch: one pass of the weights
        return 0.5 * (both[: len(x)] + both[len(x) :])
