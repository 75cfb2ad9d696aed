"""The Task contract: everything that differs between the two tasks, declared once, with its defaults in one place.

A task says how its data are read, split, labelled and preprocessed, what array its models read, and what its
presets mean; the trainer, the :class:`~resgenome.predictor.Predictor`, ``train_model`` and ``reproduce`` are
written once against this class. Shapes: a dataset has N rows; the super-enhancer model input is scaled features
``(N, F)`` (F = 36), the viral one uint8 codes ``(N, L)`` (L = 300, 0-3 = ACGT, 4 = N).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from ..data.arrays import ArrayData, Transform
from ..data.splits import Split
from ..errors import ResgenomeError
from ..models import RECIPE_VARIANTS, model_names

#: "every positive" as the minimum of a split-part cap
ALL = 10**9


@dataclass(frozen=True)
class TaskPreset:
    """What a named preset (``smoke``, ``cpu``, ``paper``) means for one task: one row of its preset table.

    widths : model name -> config entries (filters, channels ...) at this preset; a model without an entry is built
        with its constructor's defaults.
    epochs : neural model -> maximum epochs in ``resgenome reproduce`` (early stopping on the task's validation
        metric may stop sooner).
    patience, batch_size : the trainer's early-stopping patience (epochs) and batch size in ``reproduce``.
    kmer : k of the k-mer baselines (viral).
    classical_params : classical model -> scikit-learn parameters overriding ours (e.g. fewer trees).
    caps : split part -> (maximum rows, minimum positives) applied after splitting, seeded; a part with fewer rows is
        kept whole, and positives beyond the stratified share are added up to the minimum (:data:`ALL`: every one).
    """

    widths: dict[str, dict] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=dict)
    patience: int = 10
    batch_size: int = 128
    kmer: int = 6
    classical_params: dict[str, dict] = field(default_factory=dict)
    caps: dict[str, tuple[int, int]] = field(default_factory=dict)


class Task(ABC):
    """One prediction task. Subclasses fill in the class attributes and the abstract methods; the rest is shared."""

    #: ``superenhancer`` or ``viral``
    name: ClassVar[str]
    #: validation metric for model selection and early stopping (``auprc`` or ``auroc``)
    selection_metric: ClassVar[str]
    #: scikit-learn baselines of the task (see :mod:`resgenome.models.classical`)
    classical_models: ClassVar[tuple[str, ...]]
    #: split protocols ``make_split`` knows, and the one used when none is named
    splits: ClassVar[tuple[str, ...]]
    default_split: ClassVar[str]
    #: names of the positive (label 1) and negative class, as written in prediction outputs
    positive: ClassVar[str]
    negative: ClassVar[str]
    #: preset name -> :class:`TaskPreset`: every width, epoch budget and split cap of the task
    presets: ClassVar[dict[str, TaskPreset]]
    #: model -> how ``--width W`` sets its config (replacing the preset's widths); models absent ignore ``--width``
    width_rules: ClassVar[dict[str, Callable[[int], dict]]] = {}

    @property
    def neural_models(self) -> tuple[str, ...]:
        """The registered neural models reading this task's data (:func:`resgenome.models.register`)."""
        return model_names(self.name)

    # ------------------------------------------------------------------------------------------ data
    @abstractmethod
    def load(self, data: Any, **options) -> Any:
        """Read ``--data`` (a path, a PREFIX or a registry name) into the task's dataset of N rows.

        The dataset has ``len()`` and ``subset(index)``; ``options`` are the task's (``use_length``, ``labels`` ...),
        and ``require_labels=False`` reads unlabelled data for scoring.
        """

    def load_options(self, preprocessing: dict) -> dict:
        """Options of :meth:`load` that make data readable by a model with this ``preprocessing`` (none by default)."""
        return {}

    @abstractmethod
    def make_split(self, dataset: Any, split: str, seed: int, **options) -> Split:
        """Row indices of train / validation / test under the protocol ``split`` (one of :attr:`splits`), seeded.

        ``holdout`` (a list of group names) fixes the test groups of a grouped split.
        """

    def check_split(self, dataset: Any, split: Split) -> dict:
        """Facts about a split worth recording in metrics.json (e.g. duplicates straddling it); a ``message`` key
        is logged instead of stored. None by default."""
        return {}

    def check_training_rows(self, dataset: Any, train_idx: np.ndarray) -> None:
        """Refuse training rows that parse but cannot teach anything (e.g. no feature varies), in one line. Both
        classes in training and validation are checked for every task by ``train_model``; nothing more by default."""

    @abstractmethod
    def groups(self, dataset: Any) -> np.ndarray:
        """The group of each row (chromosome, experiment) that grouped splits keep together, shape (N,)."""

    @abstractmethod
    def labels(self, dataset: Any) -> np.ndarray:
        """Labels, shape (N,) int64, 1 = positive class; None for unlabelled data."""

    # ------------------------------------------------------------------------------------------ model inputs
    @abstractmethod
    def fit_preprocessing(self, dataset: Any, train_idx: np.ndarray, options: dict) -> dict:
        """Preprocessing fitted on the training rows only (plain values, stored in the checkpoint).

        ``options`` holds ``normalize``, ``model`` and ``kmer`` of the run.
        """

    @abstractmethod
    def model_input(self, dataset: Any, preprocessing: dict) -> np.ndarray:
        """The array every model of the task reads, before anything model-specific: shape (N, ...).

        Super-enhancer: scaled features (N, F) float32; viral: uint8 codes (N, L).
        """

    @abstractmethod
    def neural_tensor(self, array: np.ndarray) -> tuple[torch.Tensor, Transform]:
        """The model input as the tensor a neural model's batches are cut from, and the per-batch transform that
        turns a batch into the model contract ((N, 1, F) features as they are; (N, L) codes -> (N, 4, L) one-hot)."""

    @abstractmethod
    def classical_matrix(self, array: np.ndarray, preprocessing: dict) -> Any:
        """The model input as the (N, D) matrix of the scikit-learn baselines (dense, or scipy-sparse k-mers)."""

    @abstractmethod
    def input_config(self, preprocessing: dict) -> dict:
        """The config entries giving a model its input size: ``n_features`` or ``seq_length``."""

    def neural_inputs(self, dataset: Any, preprocessing: dict) -> ArrayData:
        """A labelled dataset as the trainer reads it: model-input tensor, labels (N,) int64, per-batch transform."""
        X, transform = self.neural_tensor(self.model_input(dataset, preprocessing))
        return ArrayData(X, torch.from_numpy(np.asarray(self.labels(dataset), dtype=np.int64)), transform)

    def classical_inputs(self, dataset: Any, preprocessing: dict) -> Any:
        """A dataset as the scikit-learn baselines read it, (N, D)."""
        return self.classical_matrix(self.model_input(dataset, preprocessing), preprocessing)

    def model_config(self, model: str, preprocessing: dict, preset: str = "cpu", width: int | None = None) -> dict:
        """The plain-dict config of a neural ``model``: its input size and its widths at ``preset`` (or ``--width``).
        A variant that is a paper network with its own recipe (:data:`~resgenome.models.RECIPE_VARIANTS`) has that
        network's widths."""
        if model not in self.neural_models:
            raise ResgenomeError(f"unknown model {model!r} for the {self.name} task")
        network = RECIPE_VARIANTS[model][0] if model in RECIPE_VARIANTS else model
        config = dict(self.presets[preset].widths.get(network, {}))
        if width and network in self.width_rules:
            config = self.width_rules[network](width)
        return {**self.input_config(preprocessing), **config}
