"""Models of both tasks and their registry.

Tensor contract: super-enhancer models take ``(N, 1, 36)``; sequence models take one-hot ``(N, 4, L)``. Every
neural model returns logits ``(N, 2)``; the probability of the positive class is ``softmax(logits)[:, 1]``.

A new neural model is one file here plus one :func:`~resgenome.models.registry.register` line in
:mod:`resgenome.models.registry`, naming the task whose data it reads (see docs/architecture.md). Its constructor
takes keyword hyperparameters and the task's input size (``n_features`` or ``seq_length``); widths per preset, if
any, go in the task's preset table.
"""

from __future__ import annotations

from .flops import flops_per_sample
from .registry import (
    CLASSICAL_MODELS,
    MODELS,
    RECIPE_VARIANTS,
    ModelSpec,
    build_model,
    count_parameters,
    model_names,
    model_spec,
    register,
    unregister,
)

__all__ = ["ModelSpec", "MODELS", "RECIPE_VARIANTS", "CLASSICAL_MODELS", "build_model", "count_parameters", "flops_per_sample",
           "model_names", "model_spec", "register", "unregister"]  # fmt: skip
