"""Training-time augmentation of one-hot DNA batches: reverse complements (viral DNA is read from either strand).

Tensor contract: one-hot ``(N, 4, L)`` with channels A, C, G, T (N = all-zero column), as ``data.encoding.one_hot``.
Reversing both the channel and the length axis of that layout is exactly the reverse complement (A<->T, C<->G,
read backwards; N stays all-zero), so no lookup is needed.
"""

from __future__ import annotations

import torch


def reverse_complement_onehot(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of one-hot DNA, x : (N, 4, L) -> (N, 4, L) (a new tensor)."""
    if x.dim() != 3 or x.shape[1] != 4:
        raise ValueError(f"expected one-hot DNA of shape (N, 4, L), got {tuple(x.shape)}")
    return x.flip((1, 2))


def random_reverse_complement(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Replace each sequence of the batch by its reverse complement with probability ``p``.

    x : (N, 4, L) one-hot. ``generator`` makes the choice reproducible: the trainer seeds it with (seed, epoch,
    batch), so a resumed run draws the same strands as an uninterrupted one.
    """
    flip = torch.rand(len(x), generator=generator) < p
    if not flip.any():
        return x
    out = x.clone()
    out[flip] = reverse_complement_onehot(x[flip])
    return out
