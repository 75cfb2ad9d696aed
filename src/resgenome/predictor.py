"""One model loaded once and asked to score many things: the only way resgenome turns inputs into scores.

A :class:`Predictor` holds what a checkpoint holds — the network (or a classical model's exported arrays), the task's
preprocessing, the threshold chosen on validation, how it was trained, and whatever calibration the model carries —
and scores

- encoded windows, uint8 codes ``(N, L)`` of the viral task (:meth:`Predictor.score_windows`, optionally averaged
  with their reverse complements);
- DNA sequences given as strings (:meth:`Predictor.score_sequences`);
- a dataset of its task, a :class:`~resgenome.data.tables.FeatureTable` or a
  :class:`~resgenome.data.readers.SequenceSet` (:meth:`Predictor.score_dataset`);
- the task's model input array of any of these (:meth:`Predictor.proba`), or its raw log-odds
  (:meth:`Predictor.log_odds`).

``predict``, ``evaluate``, ``train``'s own validation / test scoring, ``reproduce`` and ``bench`` all score through
it; :meth:`Predictor.payload` is the one place a checkpoint's content is assembled. Device choice
(:func:`pick_device`, never CUDA unless asked for or present) and the batched inference loop (:func:`predict_logits`,
also used by the trainer's per-epoch validation) live here too.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import torch
from torch import nn

from .calibration import Calibration
from .checkpoint import load_checkpoint, save_checkpoint
from .data.arrays import Transform
from .data.encoding import encode, reverse_complement
from .errors import CheckpointError, ResgenomeError
from .models import build_model, classical
from .models.fullconv import WindowScanner, fully_convolutional
from .tasks import TASKS, Task, get_task


#: Rows per forward pass when the caller names none. Scores depend (in the last bits) on how rows are batched, so
#: every scoring path keeps the batch size it has always used: this one for evaluation, training and tables,
#: ``predict viral --batch-size`` (256) for contigs.
DEFAULT_BATCH_SIZE = 1024


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (or None) -> CUDA when present, else CPU; ``cuda`` without a GPU is a one-line error."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device) == "cuda" and not torch.cuda.is_available():
        raise ResgenomeError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    return torch.device(device)


def autocast(device: torch.device, precision: str):
    """bf16 autocast on ``device`` when ``precision`` is ``bf16``; a no-op context for ``fp32``."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    X: torch.Tensor,
    *,
    transform: Transform = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str | None = None,
    precision: str = "fp32",
) -> torch.Tensor:
    """Logits of ``model`` for the rows of ``X``, batched, in eval mode; the model's previous mode is restored.

    Parameters
    ----------
    X : torch.Tensor
        ``(N, 1, F)`` features, or ``(N, L)`` uint8 codes that ``transform`` expands per batch.
    device : where to compute; None -> :func:`pick_device` ``("auto")``. The model is moved there if it is not.

    Returns
    -------
    torch.Tensor, shape (N, 2) float32, on the CPU
    """
    device = pick_device("auto") if device is None else torch.device(device)
    first = next(model.parameters(), None)
    if first is not None and first.device != device:  # score where the batches go (CUDA when present)
        model.to(device)
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, len(X), batch_size):
            xb = X[i : i + batch_size]
            if transform is not None:
                xb = transform(xb)
            with autocast(device, precision):
                out.append(model(xb.to(device, non_blocking=True)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 2)


class Predictor:
    """A trained model of either task, ready to score; built once, from a checkpoint or from memory.

    Attributes
    ----------
    task : str
        ``superenhancer`` or ``viral``.
    model_name : str
        The registry name (``resvg``, ``kmer-logreg`` ...).
    kind : str
        ``neural`` or ``classical``.
    threshold : float or None
        Scores at or above it are called positive; chosen on validation (None until a training run has chosen it).
    preprocessing : dict
        The task's preprocessing fitted on the training rows (scaler statistics, sequence length, k ...).
    metadata : dict
        How the model was trained (split, seed, epochs, data ...), as stored in the checkpoint.
    calibration : dict or None
        The calibration fitted on validation (:func:`resgenome.calibration.calibrate_run`), with a viral model's
        contig null; None for a model trained before calibration existed. :meth:`proba` stays the model's own
        probability, on the scale of :attr:`threshold`; ``predict viral`` (:mod:`resgenome.viral_calls`) applies
        the calibration to the raw :meth:`log_odds`.
    device : torch.device
    batch_size : int
        Rows per forward pass (see :data:`DEFAULT_BATCH_SIZE`).
    source : str
        Where it was loaded from, for messages.

    Parameters
    ----------
    task, model_name, preprocessing, threshold, metadata, calibration, batch_size, source : as above.
    model : nn.Module or dict
        A neural network holding its trained weights (``config`` is then its registry config), or the arrays of
        an exported classical model (:func:`resgenome.models.classical.export`).
    device : ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``; the network is moved there once.
    precision : ``fp32`` or ``bf16`` (autocast) for the forward passes.
    """

    def __init__(
        self,
        task: str,
        model_name: str,
        model: nn.Module | dict,
        preprocessing: dict,
        *,
        config: dict | None = None,
        threshold: float | None = None,
        metadata: dict | None = None,
        calibration: dict | None = None,
        device: str | torch.device | None = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        precision: str = "fp32",
        source: str = "<memory>",
    ):
        self._task: Task = get_task(task)
        self.task = self._task.name
        self.model_name = model_name
        self.kind = "neural" if isinstance(model, nn.Module) else "classical"
        self.model = model
        self.config = dict(config or {})
        self.preprocessing = preprocessing
        self.threshold = threshold
        self.metadata = dict(metadata or {})
        self.source = source
        if calibration is not None:  # never silently ignored: a calibration this version cannot read is refused
            try:
                Calibration.from_state(calibration["window"])
            except (KeyError, TypeError, ValueError, AttributeError):
                raise CheckpointError(f"{source}: carries a score calibration this resgenome cannot apply; upgrade"
                                      " it") from None  # fmt: skip
        self.calibration = calibration
        if batch_size < 1:
            raise ResgenomeError(f"--batch-size {batch_size}: must be positive")
        self.batch_size, self.precision = batch_size, precision
        self.device = pick_device(device)
        if self.kind == "neural":
            model.to(self.device)  # once, here; predict_logits moves the batches

    # ------------------------------------------------------------------------------------------ building
    @classmethod
    def load(cls, path: str | os.PathLike, *, task: str | None = None, device: str | torch.device | None = "auto",
             batch_size: int = DEFAULT_BATCH_SIZE, precision: str = "fp32",
             source: str | None = None) -> "Predictor":  # fmt: skip
        """Load ``DIR/model.pt`` (or ``DIR``); ``task`` refuses a model of the other task with a one-line error.

        ``source`` names the model in messages (default: ``path``; a packaged model is ``resgenome:NAME``).
        """
        return cls.from_payload(load_checkpoint(path, task=task), device=device, batch_size=batch_size,
                                precision=precision, source=source or str(path))  # fmt: skip

    @classmethod
    def from_payload(cls, payload: dict, *, device: str | torch.device | None = "auto",
                     batch_size: int = DEFAULT_BATCH_SIZE, precision: str = "fp32",
                     source: str = "<checkpoint>") -> "Predictor":  # fmt: skip
        """From a checkpoint dictionary (as :func:`~resgenome.checkpoint.load_checkpoint` returns it)."""
        if payload.get("task") not in TASKS:
            raise CheckpointError(f"{source}: a model of the task {payload.get('task')!r}, which this resgenome does "
                                  f"not know ({', '.join(TASKS)})")  # fmt: skip
        spec = payload["model"]
        model: nn.Module | dict = payload["state"]
        if spec["kind"] == "neural":
            try:
                model = build_model(spec["name"], spec["config"])
                model.load_state_dict(payload["state"])
            except (ValueError, RuntimeError, TypeError) as exc:
                raise ResgenomeError(
                    f"{source}: checkpoint does not match its model ({str(exc).splitlines()[0]})"
                ) from None
        return cls(payload["task"], spec["name"], model, payload["preprocessing"], config=spec.get("config"),
                   threshold=payload.get("threshold"), metadata=payload.get("training"),
                   calibration=payload.get("calibration"), device=device, batch_size=batch_size,
                   precision=precision, source=source)  # fmt: skip

    def payload(self) -> dict:
        """The checkpoint dictionary of this model (plain values and tensors): the one place it is assembled."""
        neural = self.kind == "neural"
        state = self.model
        if neural:
            state = self.model.state_dict()
            if self.device.type != "cpu":  # a model file holds CPU tensors, whatever device scored
                state = {key: value.cpu() for key, value in state.items()}
        payload = {
            "task": self.task,
            "model": {"name": self.model_name, "kind": self.kind, "config": self.config if neural else {}},
            "state": state,
            "preprocessing": self.preprocessing,
            "threshold": self.threshold,
            "training": self.metadata,
        }
        if self.calibration is not None:
            payload["calibration"] = self.calibration
        return payload

    def save(self, path: str | os.PathLike):
        """Write the checkpoint atomically (see :mod:`resgenome.checkpoint`); returns its path."""
        return save_checkpoint(path, self.payload())

    # ------------------------------------------------------------------------------------------ what it reads
    @property
    def window(self) -> int | None:
        """Viral: the model's input length in bases (300); None for the super-enhancer task."""
        length = self.preprocessing.get("seq_length")
        return None if length is None else int(length)

    @property
    def features(self) -> list[str] | None:
        """Super-enhancer: the feature columns, in model order; None for the viral task."""
        return self.preprocessing.get("features")

    # ------------------------------------------------------------------------------------------ scoring
    def encode(self, dataset) -> np.ndarray:
        """The task's model input for ``dataset`` (see :meth:`resgenome.tasks.Task.model_input`)."""
        return self._task.model_input(dataset, self.preprocessing)

    def proba(self, array: np.ndarray) -> np.ndarray:
        """Probability of the positive class for each row of the task's model input.

        The model's own ``softmax(logits)[:, 1]`` (float32) or the classical model's probability (float64), on the
        scale of :attr:`threshold` whether or not the model carries a calibration (calibrated probabilities come from
        :meth:`log_odds` through :class:`resgenome.calibration.Calibration`).

        Parameters
        ----------
        array : np.ndarray
            Viral: uint8 codes ``(N, L)``; super-enhancer: scaled features ``(N, F)``.

        Returns
        -------
        np.ndarray, shape (N,)
        """
        if self.kind == "neural":
            return torch.softmax(self._logits(array), dim=1)[:, 1].numpy()
        return classical.predict_exported(self.model, self._task.classical_matrix(array, self.preprocessing))

    def log_odds(self, array: np.ndarray) -> np.ndarray:
        """Raw log-odds ``log(p / (1 - p))`` of the positive class, before any calibration, float64 ``(N,)``.

        Neural: ``logit[1] - logit[0]``; linear and boosted models: their decision value; a forest: the log-odds of
        its vote fraction (infinite where every tree agrees).
        """
        if self.kind == "neural":
            logits = self._logits(array).double()
            return (logits[:, 1] - logits[:, 0]).numpy()
        return classical.log_odds_exported(self.model, self._task.classical_matrix(array, self.preprocessing))

    def score_dataset(self, dataset) -> np.ndarray:
        """Probabilities for every row of a dataset of the model's task, shape (N,)."""
        return self.proba(self.encode(dataset))

    def score_windows(self, codes: np.ndarray, *, both_strands: bool = False) -> np.ndarray:
        """Probabilities of model-length windows (viral).

        Parameters
        ----------
        codes : np.ndarray, shape (N, L) uint8
            Encoded windows (see :func:`resgenome.data.encoding.encode`), L the model's :attr:`window`.
        both_strands : average each window's probability with that of its reverse complement.

        Returns
        -------
        np.ndarray, shape (N,) float64
        """
        p = self.proba(codes)
        if both_strands:
            p = (p + self.proba(reverse_complement(codes))) / 2
        return np.asarray(p, dtype=np.float64)

    def score_sequences(self, sequences: Iterable[str], *, both_strands: bool = False) -> np.ndarray:
        """Probabilities of DNA strings, each exactly :attr:`window` bases long (viral), shape (N,) float64.

        Longer sequences (contigs) are cut into windows and scored by ``resgenome predict viral``.
        """
        codes = [encode(seq, record=str(k)) for k, seq in enumerate(sequences)]
        wrong = next((k for k, c in enumerate(codes) if len(c) != self.window), None)
        if wrong is not None:
            raise ResgenomeError(f"sequence {wrong} is {len(codes[wrong])} bp; the model scores windows of "
                                 f"{self.window} bp (use predict_viral for sequences of any length)")  # fmt: skip
        array = np.stack(codes) if codes else np.empty((0, self.window or 0), dtype=np.uint8)
        return self.score_windows(array, both_strands=both_strands)

    def scanner(self) -> WindowScanner | None:
        """The network as a scorer of every window of long pieces from one pass of its trunk per base
        (:mod:`resgenome.models.fullconv`), on this predictor's device and in its precision; None for a model that is
        not fully convolutional up to its pooling (ViraMiner, the classical models).

        Its window scores are the network's own only for windows that see no sequence beyond their ends; see
        :mod:`resgenome.fullconv_scoring` for how ``predict viral`` uses it.
        """
        if self.kind != "neural" or not fully_convolutional(self.model):
            return None
        return WindowScanner(self.model, self.window, precision=self.precision, device=self.device)

    def _logits(self, array: np.ndarray) -> torch.Tensor:
        X, transform = self._task.neural_tensor(array)
        return predict_logits(self.model, X, transform=transform, batch_size=self.batch_size, device=self.device,
                              precision=self.precision)  # fmt: skip

    def __repr__(self) -> str:
        return (f"Predictor(task={self.task!r}, model={self.model_name!r}, kind={self.kind!r}, "
                f"threshold={self.threshold!r}, device={str(self.device)!r})")  # fmt: skip


__all__ = ["Predictor", "pick_device", "predict_logits", "autocast", "DEFAULT_BATCH_SIZE"]
