"""The model registry: name -> how to build the model, which task's data it reads, and how it is trained.

Every model is rebuilt from ``(name, config)`` stored in its checkpoint. A new neural model is one file in this
package plus one :func:`register` line at the bottom of this module (see docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from torch import nn

from .deepsen import DeepSEN
from .ressen import ResSEN
from .ressen_plus import RESSEN_VARIANTS, ResSENPlus
from .resvg import ResVG
from .resvg_plus import RESVG_VARIANTS, ResVGPlus
from .viraminer import ViraMiner, fit_staged


@dataclass(frozen=True)
class ModelSpec:
    """A registered neural model.

    factory : the ``nn.Module`` class (or any callable taking the config as keywords).
    task : ``superenhancer`` or ``viral``: the data it reads (its input contract).
    train : None to train with the shared trainer alone, or a procedure that drives it, called as
        ``train(model, config, train_data, validation_data, cfg, fit=<the trainer>, state_path=..., resume=...,
        log=...)`` and returning the trainer's result (e.g. :func:`~resgenome.models.viraminer.fit_staged`).
    recipe : the training and preprocessing choices that are part of the model's name (fields of
        :class:`~resgenome.trainer.TrainConfig` or :class:`~resgenome.pipeline.RunOptions`, e.g.
        ``{"rc_augment": True}``): a variant that is the paper's network trained or fed differently is registered
        under its own name with its recipe, so its checkpoint, tables and report say what it is.
    """

    factory: Callable[..., nn.Module]
    task: str
    train: Callable | None = None
    recipe: dict = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {}
CLASSICAL_MODELS = ("rf", "logreg", "hgb")


def register(name: str, factory: Callable[..., nn.Module], *, task: str, train: Callable | None = None,
             recipe: dict | None = None) -> None:  # fmt: skip
    """Add a neural model under ``name``, for the task whose data it reads (a name in
    :data:`resgenome.tasks.TASKS`; the task lists it among its ``neural_models``)."""
    MODELS[name] = ModelSpec(factory, task, train, dict(recipe or {}))


def unregister(name: str) -> None:
    """Remove a model added by :func:`register` (tests register toy models and take them away again)."""
    MODELS.pop(name, None)


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def model_names(task: str) -> tuple[str, ...]:
    """The neural models of ``task``, in registration order."""
    return tuple(name for name, spec in MODELS.items() if spec.task == task)


def build_model(name: str, config: dict) -> nn.Module:
    """Instantiate a registered neural model from its plain-dict config."""
    return model_spec(name).factory(**config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


register("ressen", ResSEN, task="superenhancer")
register("deepsen", DeepSEN, task="superenhancer")
register("resvg", ResVG, task="viral")
register("viraminer", ViraMiner, task="viral")
# the same network trained ViraMiner's way (branches alone, then the output layer)
register("viraminer-staged", ViraMiner, task="viral", train=fit_staged)
# variants beyond the papers, each under its own name (the config stored with the weights holds its deviations)
for _name in RESSEN_VARIANTS:
    register(_name, ResSENPlus, task="superenhancer")
for _name in RESVG_VARIANTS:
    register(_name, ResVGPlus, task="viral")
# networks trained or fed differently, under their own names (benchmarks/results/variants.md has the evidence):
# ResVG on either strand of each training sequence at random; ResSEN, and its all-1x1 variant, on log1p of the
# signals before Eq. 1-4. name -> (the registered model whose network and widths it uses, its recipe)
RECIPE_VARIANTS = {
    "resvg-rcaug": ("resvg", {"rc_augment": True}),
    "ressen-log1p": ("ressen", {"transform": "log1p"}),
    "ressen-additive-log1p": ("ressen-additive", {"transform": "log1p"}),
}
for _name, (_paper, _recipe) in RECIPE_VARIANTS.items():
    register(_name, MODELS[_paper].factory, task=MODELS[_paper].task, recipe=_recipe)
