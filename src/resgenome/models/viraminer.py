"""ViraMiner-style two-branch CNN (Tampuu et al., PLoS ONE 2019), the baseline ResVG was compared with.

Also its staged training: each branch trained alone, then both merged and only the output layer retrained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .blocks import AdaptiveAvgPool1d, AdaptiveMaxPool1d, Conv1d, as_channels_last

BRANCHES = ("both", "pattern", "frequency")


class Branch(nn.Module):
    """conv (no padding) + ReLU -> global pool -> dropout -> dense + ReLU -> dropout.

    ``pool="max"`` detects whether a motif occurs anywhere (the pattern branch); ``pool="avg"`` measures how often
    it occurs (the frequency branch). Shapes: ``(N, 4, L) -> (N, hidden)``.
    """

    def __init__(self, filters: int, kernel_size: int, hidden: int, pool: str, dropout: float):
        super().__init__()
        self.conv = nn.Sequential(Conv1d(4, filters, kernel_size), nn.ReLU(inplace=True))
        self.pool = AdaptiveMaxPool1d(1) if pool == "max" else AdaptiveAvgPool1d(1)
        self.dense = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(filters, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.pool(self.conv(x)))


class ViraMiner(nn.Module):
    """Two convolutional branches on one-hot DNA, merged into one output layer.

    Layer table (defaults = ViraMiner's best published widths; L = 300):

    ==============================================================  ==================
    layer                                                           output
    ==============================================================  ==================
    input, one-hot A C G T                                          (N, 4, 300)
    pattern: conv 1200 k11 (valid) + ReLU, global max-pool          (N, 1200)
             dropout, dense 1000 + ReLU, dropout                    (N, 1000)
    frequency: conv 1000 k8 (valid) + ReLU, global average-pool     (N, 1000)
             dropout, dense 1000 + ReLU, dropout                    (N, 1000)
    concatenate, linear                                             (N, 2) logits
    ==============================================================  ==================

    Deviations: two softmax logits instead of one sigmoid unit (equivalent); the dense width and dropout rate are
    ours (ViraMiner tuned them per run). ``branch="pattern"`` or ``"frequency"`` builds one branch with its own
    output layer, for ViraMiner's staged training (:func:`fit_staged`).

    Parameters
    ----------
    pattern_filters, pattern_kernel, frequency_filters, frequency_kernel : int
    hidden : int
        Width of each branch's dense layer.
    dropout : float
    branch : {"both", "pattern", "frequency"}
    seq_length : int
        Only for :attr:`input_shape` (global pooling makes the model length-agnostic).
    n_classes : int
    """

    def __init__(
        self,
        *,
        pattern_filters: int = 1200,
        pattern_kernel: int = 11,
        frequency_filters: int = 1000,
        frequency_kernel: int = 8,
        hidden: int = 1000,
        dropout: float = 0.5,
        branch: str = "both",
        seq_length: int = 300,
        n_classes: int = 2,
    ):
        super().__init__()
        if branch not in BRANCHES:
            raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
        self.branch = branch
        self.input_shape = (4, seq_length)
        if branch in ("both", "pattern"):
            self.pattern = Branch(pattern_filters, pattern_kernel, hidden, "max", dropout)
        if branch in ("both", "frequency"):
            self.frequency = Branch(frequency_filters, frequency_kernel, hidden, "avg", dropout)
        n_branches = 2 if branch == "both" else 1
        self.head = nn.Linear(n_branches * hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, 4, L) one-hot -> logits (N, n_classes)."""
        x = as_channels_last(x)  # (N, 4, 1, L): the branches run 4-D, so the in-place ReLU acts on no view
        if self.branch == "pattern":
            return self.head(self.pattern(x))
        if self.branch == "frequency":
            return self.head(self.frequency(x))
        return self.head(torch.cat([self.pattern(x), self.frequency(x)], dim=1))


def fit_staged(
    model: ViraMiner,
    config: dict,
    train,
    validation,
    cfg,
    *,
    fit: Callable,
    state_path: str | Path | None = None,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
):
    """ViraMiner's own training: pattern branch alone, frequency branch alone, then the merged output layer.

    Three calls to the shared trainer ``fit`` (passed in, :func:`resgenome.trainer.fit`), each with its own early
    stopping. The merged ``model`` (``branch="both"``) receives the two trained branches, which are frozen, so the
    last stage trains only ``model.head``. Returns the last stage's result with the three histories joined (epochs
    numbered on, a ``stage`` key added); each stage resumes from its own state file beside ``state_path``.
    """
    if model.branch != "both":
        raise ValueError("fit_staged trains a merged ViraMiner (branch='both')")
    state_path = Path(state_path) if state_path else None
    history: list[dict] = []
    stage_files = []
    for name in ("pattern", "frequency"):
        single = ViraMiner(**{**config, "branch": name})
        stage_path = state_path.with_name(f"{state_path.stem}.{name}{state_path.suffix}") if state_path else None
        stage_files.append(stage_path)
        if log:
            log(f"stage {name} branch alone")
        result = fit(single, train, validation, cfg, state_path=stage_path, resume=resume, log=log)
        getattr(model, name).load_state_dict(getattr(single, name).state_dict())
        history += [{**h, "stage": name} for h in result.history]
    for name in ("pattern", "frequency"):
        for parameter in getattr(model, name).parameters():
            parameter.requires_grad_(False)
    if log:
        log("stage merged: output layer only, branches frozen")
    result = fit(model, train, validation, cfg, state_path=state_path, resume=resume, log=log)
    history += [{**h, "stage": "merged"} for h in result.history]
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    for number, h in enumerate(history, 1):
        h["epoch"] = number
    result.history = history
    for path in stage_files:
        if path is not None and path.exists():
            path.unlink()
    return result
