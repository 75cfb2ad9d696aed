"""Model registry: every model is rebuilt from ``(name, config)`` stored in its checkpoint.

Tensor contract: super-enhancer models take ``(N, 1, 36)``; sequence models take one-hot ``(N, 4, L)``. Every
neural model returns logits ``(N, 2)``; the probability of the positive class is ``softmax(logits)[:, 1]``.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from .deepsen import DeepSEN
from .flops import flops_per_sample
from .ressen import ResSEN
from .ressen_plus import RESSEN_VARIANTS, ResSENPlus
from .resvg import ResVG
from .resvg_plus import RESVG_VARIANTS, ResVGPlus
from .viraminer import ViraMiner

__all__ = ["NEURAL_MODELS", "CLASSICAL_MODELS", "build_model", "count_parameters", "flops_per_sample", "register"]

NEURAL_MODELS: dict[str, Callable[..., nn.Module]] = {"ressen": ResSEN, "deepsen": DeepSEN}
CLASSICAL_MODELS = ("rf", "logreg", "hgb")


def register(name: str, factory: Callable[..., nn.Module]) -> None:
    """Add a neural model class under ``name`` (the viral models register themselves here)."""
    NEURAL_MODELS[name] = factory


def build_model(name: str, config: dict) -> nn.Module:
    """Instantiate a registered neural model from its plain-dict config."""
    try:
        factory = NEURAL_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(NEURAL_MODELS))}") from None
    return factory(**config)


register("resvg", ResVG)
register("viraminer", ViraMiner)
# the same network trained ViraMiner's way (branches alone, then the output layer): see viraminer.fit_staged
register("viraminer-staged", ViraMiner)
# variants beyond the papers, each under its own name (the config stored with the weights holds its deviations)
for _name in RESSEN_VARIANTS:
    register(_name, ResSENPlus)
for _name in RESVG_VARIANTS:
    register(_name, ResVGPlus)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

