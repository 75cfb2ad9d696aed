"""Forward cost of a neural model in FLOPs per sample, from its layer shapes alone (no weights, no data).

The model is built on PyTorch's ``meta`` device, so even the paper-width ResVG costs nothing to "run": hooks read
each layer's output shape and count ``2 x multiply-adds`` of every convolution and linear layer. Batch
normalisation, activations and pooling (a few percent of the total) are left out, as is usual for FLOP counts.
A training step costs about three times the forward pass (forward, gradient w.r.t. inputs and w.r.t. weights).
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import build_model


def _input_shape(model: nn.Module, config: dict) -> tuple[int, ...]:
    shape = getattr(model, "input_shape", None)
    if shape is not None:
        return tuple(shape)
    return (1, int(config.get("n_features", 36)))  # the super-enhancer models: one channel of features


def _layer_flops(module: nn.Module, output: torch.Tensor) -> int:
    # times the batch of the output: one input sample, but a model may score it more than once (both strands)
    if isinstance(module, nn.Conv1d):
        per_output = module.in_channels // module.groups * module.kernel_size[0]
        return 2 * per_output * output.shape[1] * output.shape[-1] * output.shape[0]  # (N, C, L) or (N, C, 1, L)
    if isinstance(module, nn.Linear):
        return 2 * module.in_features * module.out_features * output.shape[0]
    return 0


def flops_per_sample(model_name: str, config: dict) -> int:
    """Forward FLOPs for one sample of the registered model ``model_name`` built from ``config``.

    Counts convolutions and linear layers (2 FLOPs per multiply-add). ResVG at the paper's width 1000 gives about
    7.37e9; ViraMiner at its published widths about 5.4e7.
    """
    with torch.device("meta"):
        model = build_model(model_name, dict(config))
    model.eval()
    total = 0

    def hook(module, _inputs, output):
        nonlocal total
        total += _layer_flops(module, output)

    meta_forward(model, config, [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Linear))], hook)
    return int(total)


def meta_forward(model: nn.Module, config: dict, modules: list[nn.Module], hook) -> None:
    """One forward pass of a single meta-device sample (shapes only, no arithmetic) with ``hook`` on ``modules``."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            model(torch.empty((1, *_input_shape(model, config)), device="meta"))
    finally:
        for handle in handles:
            handle.remove()
