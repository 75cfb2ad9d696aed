"""The labelled in-memory dataset the trainer reads: tensors in the model contract, expanded per batch.

Tasks build it from their datasets (:meth:`resgenome.tasks.Task.neural_inputs`); the trainer and ``resgenome bench``
draw batches from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

Transform = Callable[[torch.Tensor], torch.Tensor] | None


@dataclass
class ArrayData:
    """A labelled in-memory dataset.

    X : torch.Tensor
        ``(N, 1, F)`` float32 features, or ``(N, L)`` uint8 sequence codes expanded per batch by ``transform``.
    y : torch.Tensor, shape (N,) int64
    transform : callable or None
        Applied to each batch of X on its way to the model (one-hot expansion).
    """

    X: torch.Tensor
    y: torch.Tensor
    transform: Transform = None

    def __len__(self) -> int:
        return len(self.y)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``idx`` as the model sees them: (inputs after ``transform``, labels). ``resgenome bench`` times it."""
        xb, yb = self.X[idx], self.y[idx]
        return (xb if self.transform is None else self.transform(xb)), yb
