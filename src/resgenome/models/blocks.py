"""Building blocks shared by the paper's residual models (ResSEN, ResVG) and the CNN baselines."""

from __future__ import annotations

from torch import nn


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
            nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm1d(out_channels),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
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
