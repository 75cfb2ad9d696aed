"""DeepSEN-style CNN baseline for super-enhancers (Bu et al., BMC Bioinformatics 2019)."""

from __future__ import annotations

import torch
from torch import nn


class DeepSEN(nn.Module):
    """Three convolution + pooling stages, then a fully connected layer (the architecture DeepSEN describes).

    DeepSEN's exact widths are not published in the paper we reproduce; ours, chosen as a plain CNN of about the
    same depth as ResSEN's trunk but without residual connections or batch normalisation:

    =========================================  ==============
    layer                                      output
    =========================================  ==============
    input                                      (N, 1, 36)
    conv 32 k3 'same' + ReLU, max-pool 2        (N, 32, 18)
    conv 64 k3 'same' + ReLU, max-pool 2        (N, 64, 9)
    conv 128 k3 'same' + ReLU, max-pool 2       (N, 128, 4)
    flatten, dropout 0.5                        (N, 512)
    linear 64 + ReLU, linear 2                  (N, 2) logits
    =========================================  ==============

    Parameters
    ----------
    n_features : int
    channels : tuple of int
        Filters of the three convolutions.
    kernel_size, pool_size : int
    hidden : int
        Width of the fully connected layer.
    dropout : float
    """

    def __init__(
        self,
        n_features: int = 36,
        *,
        channels: tuple[int, int, int] = (32, 64, 128),
        kernel_size: int = 3,
        pool_size: int = 2,
        hidden: int = 64,
        dropout: float = 0.5,
        n_classes: int = 2,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels, length = 1, n_features
        for out_channels in channels:
            layers += [
                nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
                nn.ReLU(inplace=True),
                nn.MaxPool1d(pool_size),
            ]
            in_channels, length = out_channels, length // pool_size
        self.features = nn.Sequential(*layers)
        self.flat_features = in_channels * length
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(self.flat_features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, 1, n_features) -> logits (N, n_classes)."""
        return self.head(self.features(x))
