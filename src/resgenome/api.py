"""resgenome from Python: load a trained or packaged model once, score sequences or tables, train, evaluate.

Everything here goes through the functions behind the command line, so a notebook and a shell pipeline get the
same rows and the same columns: :meth:`Model.predict` runs ``predict viral``'s own code
(:func:`resgenome.predict.predict_viral`) and :meth:`Model.predict_table` ``predict superenhancer``'s
(:func:`resgenome.pipeline.predict_table`), each on a temporary file that is read back into a pandas DataFrame;
:func:`train` and :func:`evaluate` are ``resgenome train`` / ``resgenome evaluate``.

>>> import resgenome as rg
>>> model = rg.load("resvg")                       # a packaged model (see `resgenome models list`) or DIR/model.pt
>>> calls = model.predict(["ACGT" * 75])            # one row per sequence: seq_id, length, ..., p_value, call
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import pretrained
from .call_options import DEFAULT_MAX_N_FRACTION, DEFAULT_MIN_LENGTH
from .errors import ResgenomeError
from .pipeline import RunOptions, evaluate_model, predict_table as write_table_predictions, train_model
from .predict import predict_viral
from .predictor import DEFAULT_BATCH_SIZE, Predictor
from .tasks import get_task
from .trainer import TrainConfig

#: ``predict viral``'s defaults, so that ``Model.predict`` scores exactly as the command does.
PREDICT_STRIDE = 150
PREDICT_BATCH_SIZE = 256


class Model:
    """A trained model of either task, loaded once, ready to score many inputs.

    Made by :func:`load` or :func:`train`; wraps a :class:`~resgenome.predictor.Predictor`.

    Attributes
    ----------
    task : str
        ``viral`` (score DNA with :meth:`predict`) or ``superenhancer`` (score feature tables with
        :meth:`predict_table`).
    name : str
        The packaged name, the file it was loaded from, or the registry model for a model trained in memory.
    threshold : float
        Scores at or above it are labelled positive (chosen on validation when the model was trained).
    card : str or None
        The model card (Markdown) of a packaged model; None otherwise.
    predictor : Predictor
        The underlying scorer, for the lower-level interface (encoded windows, log-odds).
    """

    def __init__(self, predictor: Predictor, *, name: str | None = None, card: str | None = None):
        self.predictor = predictor
        self.name = name or predictor.source
        self.card = card

    @property
    def task(self) -> str:
        return self.predictor.task

    @property
    def threshold(self) -> float:
        return self.predictor.threshold

    # ------------------------------------------------------------------------------------------ viral
    def predict(
        self,
        sequences: str | os.PathLike | Iterable[str] | Mapping[str, str],
        *,
        stride: int = PREDICT_STRIDE,
        per_window: bool = False,
        both_strands: bool = False,
        skip_invalid: bool = False,
        batch_size: int = PREDICT_BATCH_SIZE,
        fdr: float | None = None,
        min_length: int = DEFAULT_MIN_LENGTH,
        max_n_fraction: float = DEFAULT_MAX_N_FRACTION,
    ) -> pd.DataFrame:
        """Score DNA sequences of any length, as ``resgenome predict viral`` does.

        Parameters
        ----------
        sequences : path, list of str, or mapping of id -> str
            A FASTA / FASTA.gz / ViraMiner CSV file, or the sequences themselves (ids ``seq0``, ``seq1`` ... for
            a list; the mapping's keys otherwise, which must be single words). A single string is a path: to score
            one sequence, pass ``[sequence]``.
        stride, per_window, both_strands, skip_invalid, batch_size, fdr, min_length, max_n_fraction
            As the options of ``predict viral`` (see ``resgenome predict viral --help``).

        Returns
        -------
        pandas.DataFrame
            One row per sequence, in input order, with ``predict viral``'s columns
            (:data:`resgenome.viral_calls.CONTIG_COLUMNS`: the count of viral-looking windows, ``p_value``,
            ``q_value``, ``call`` viral / non-viral / no-call and its ``reason``, calibrated ``score_max`` and
            ``score_mean`` ...); with ``per_window``, one row per window (seq_id, start, end, score, record). Values
            are those the command writes. The run manifest is in ``DataFrame.attrs["manifest"]`` (a dict);
            ``skip_invalid`` leaves invalid records out and lists them in ``DataFrame.attrs["skipped"]`` (a
            DataFrame: seq_id, reason, record).
        """
        self._need("viral", "predict", "predict_table")
        with tempfile.TemporaryDirectory(prefix="resgenome-") as tmp:
            path, shown = _sequences_file(sequences, Path(tmp))
            output = Path(tmp) / "calls.tsv"
            with _input_named(path, shown, keep_lines=shown != "sequences"):
                predict_viral(self.predictor, path, output, stride=stride, per_window=per_window,
                              both_strands=both_strands, batch_size=batch_size, skip_invalid=skip_invalid,
                              progress=False, fdr=fdr, min_length=min_length,
                              max_n_fraction=max_n_fraction)  # fmt: skip
            frame = _read_tsv(output, "seq_id")
            frame.attrs["manifest"] = json.loads(output.with_name(output.name + ".json").read_text())
            if skip_invalid:
                frame.attrs["skipped"] = _read_tsv(output.with_name(output.name + ".skipped.tsv"), "seq_id")
        return frame

    # ------------------------------------------------------------------------------------------ super-enhancer
    def predict_table(self, table: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
        """Score an enhancer feature table, as ``resgenome predict superenhancer`` does.

        Parameters
        ----------
        table : pandas.DataFrame or path
            The imPROSE layout: chrom, start, end, the 36 features (by name, any order), optionally Class and
            length. A DataFrame is written to a temporary CSV and read by the same reader as a file, so it is
            checked the same way.

        Returns
        -------
        pandas.DataFrame
            One row per region, in input order: chrom, start, end, score (P(SE)), label (SE / TE at
            :attr:`threshold`).
        """
        self._need("superenhancer", "predict_table", "predict")
        with tempfile.TemporaryDirectory(prefix="resgenome-") as tmp:
            if isinstance(table, pd.DataFrame):
                path, shown = Path(tmp) / "table.csv", "the DataFrame (as CSV, header = line 1)"
                table.to_csv(path, index=False)
            else:
                path, shown = Path(table), os.fspath(table)
            output = Path(tmp) / "scores.tsv"
            with _input_named(path, shown):
                write_table_predictions(self.predictor, path, output)
            return _read_tsv(output, "chrom")

    # ------------------------------------------------------------------------------------------ other
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as a checkpoint file (e.g. ``DIR/model.pt``, DIR created if needed) that ``--model`` and
        :func:`load` accept; returns its path."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return self.predictor.save(path)

    def _need(self, task: str, method: str, other: str) -> None:
        if self.task != task:
            raise ResgenomeError(f"{self.name}: {method}() scores {task} data; this is a {self.task} model "
                                 f"(use {other}())")  # fmt: skip

    def __repr__(self) -> str:
        return (f"Model(name={self.name!r}, task={self.task!r}, model={self.predictor.model_name!r}, "
                f"threshold={self.threshold!r})")  # fmt: skip


def load(name_or_path: str | os.PathLike | None = None, *, task: str | None = None, device: str = "auto") -> Model:
    """Load a packaged model by name, or a checkpoint by path, once.

    Parameters
    ----------
    name_or_path : str or path or None
        A packaged name (``resvg``, ``kmer-logreg``, ``ressen``, ``logreg``; ``resgenome:NAME`` always means the
        packaged one), ``DIR`` or ``DIR/model.pt``; None with ``task`` gives the task's default model. An existing
        path wins over a packaged name of the same spelling.
    task : ``viral`` or ``superenhancer``: refuse a model of the other task (and pick the default when no name).
    device : ``auto`` (CUDA when present), ``cpu`` or ``cuda``.

    Returns
    -------
    Model
    """
    notes: list[str] = []
    path = pretrained.resolve(name_or_path, task=task, option="model", note=notes.append)
    for line in notes:
        warnings.warn(line, stacklevel=2)
    packaged = _packaged_at(path)
    predictor = Predictor.load(path, task=task, device=device, batch_size=DEFAULT_BATCH_SIZE,
                               source=f"{pretrained.PREFIX}{packaged.name}" if packaged else None)  # fmt: skip
    if packaged is not None:
        return Model(predictor, name=packaged.name, card=packaged.card)
    return Model(predictor, name=os.fspath(name_or_path))


def train(
    task: str,
    data: str | os.PathLike | Any,
    model: str,
    *,
    out: str | os.PathLike | None = None,
    split: str | None = None,
    holdout: Iterable[str] = (),
    epochs: int = 30,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 1e-3,
    patience: int = 10,
    class_weight: bool = False,
    preset: str = "cpu",
    width: int | None = None,
    normalize: str = "per-feature",
    use_length: bool = False,
    kmer: int = 6,
    labels: str | os.PathLike | None = None,
    device: str = "auto",
    precision: str = "fp32",
    schedule: str = "constant",
    rc_augment: bool = False,
    transform: str = "none",
    feature_order: str = "paper",
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[Model, dict]:
    """Train a model as ``resgenome train TASK`` does, and return it with its metrics.

    Parameters
    ----------
    task : ``viral`` or ``superenhancer``.
    data : a path, a PREFIX (viral), a registry name (``resgenome data list``), or a dataset already read.
    model : the architecture: ``resvg``, ``viraminer``, ``kmer-logreg`` ... (viral); ``ressen``, ``deepsen``,
        ``logreg`` ... (superenhancer). Not a packaged model.
    out : folder for model.pt, metrics.json, history.csv, test_scores.csv and figures; None keeps it in memory.
    split, holdout, epochs, seed, batch_size, lr, patience, class_weight, preset, width, normalize, use_length,
    kmer, labels, device, precision, schedule, rc_augment, transform, feature_order, resume
        The options of ``resgenome train`` of the same names (see ``resgenome train TASK --help``); the default
        split is the task's grouped one.
    log : receives the progress lines (the split, epochs, the test line); None is silent.

    Returns
    -------
    model : Model
        The weights of the best validation epoch, at the threshold chosen on validation.
    metrics : dict
        As metrics.json: ``validation`` and ``test`` metrics, ``threshold``, ``split``, ``sizes``, ``held_out``...
    """
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, class_weight=class_weight,
                      seed=seed, device=device, precision=precision, progress=log is not None,
                      schedule=schedule, rc_augment=rc_augment)  # fmt: skip
    opts = RunOptions(model=model, split=split, seed=seed, preset=preset, width=width, normalize=normalize,
                      holdout=list(holdout), use_length=use_length, kmer=kmer, train=cfg, transform=transform,
                      feature_order=feature_order)  # fmt: skip
    if isinstance(data, (str, os.PathLike)) and (use_length or labels is not None):
        if labels is not None and task != "viral":
            raise ResgenomeError("labels is for FASTA data of the viral task")
        options = {"use_length": True} if use_length else {"labels": labels}
        data = get_task(task).load(data, **options)
    metrics = train_model(task, data, opts, out, resume=resume, log=log)
    predictor = metrics.pop("_predictor")
    for private in [key for key in metrics if key.startswith("_")]:
        del metrics[private]
    return Model(predictor, name=model if out is None else os.fspath(out)), metrics


def evaluate(
    model: Model | str | os.PathLike,
    data: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
) -> dict:
    """Score labelled data with a trained model at its saved threshold, as ``resgenome evaluate`` does.

    Parameters
    ----------
    model : a :class:`Model`, a packaged name or a checkpoint path.
    data : labelled data of the model's task (path or registry name).
    out : folder for metrics.json, test_scores.csv and curves.png; None writes nothing.
    labels : viral task: ``seq_id<TAB>label`` file when ``data`` is FASTA.

    Returns
    -------
    dict
        ``task``, ``model``, ``data``, ``threshold`` and the metrics under ``test`` (accuracy, precision, recall,
        f1, auroc, auprc, confusion, ``at_0.5``).
    """
    loaded = model if isinstance(model, Model) else load(model)
    return evaluate_model(loaded.predictor, data, out, labels=labels)


# ---------------------------------------------------------------------------------------------- helpers
def _packaged_at(path: Path) -> pretrained.PackagedModel | None:
    """The packaged model whose file ``path`` is, if any (so a packaged model keeps its name and card)."""
    resolved = (path / "model.pt" if path.is_dir() else path).resolve()
    return next((m for m in pretrained.models() if m.path.resolve() == resolved), None)


def _sequences_file(sequences, folder: Path) -> tuple[Path, str]:
    """(a file ``predict_viral`` reads, how to name it in messages) for a path or for sequences in memory."""
    if isinstance(sequences, (str, os.PathLike)):
        path = Path(sequences)
        try:
            found = path.is_file()
        except OSError:  # e.g. a sequence passed as a path: a name too long for the file system
            found = False
        if not found:
            raise ResgenomeError(f"{sequences!s:.60}: not a file; to score sequences pass a list, e.g. "
                                 "model.predict([sequence])")  # fmt: skip
        return path, os.fspath(sequences)
    items = sequences.items() if isinstance(sequences, Mapping) else ((f"seq{k}", s) for k, s in enumerate(sequences))
    path = folder / "sequences.fa"
    with open(path, "w", encoding="utf-8") as handle:
        for seq_id, sequence in items:
            if not isinstance(sequence, str):
                raise ResgenomeError(f"sequence {seq_id}: expected a str, got {type(sequence).__name__}")
            if not seq_id or re.search(r"\s", str(seq_id)):
                raise ResgenomeError(f"sequence id {seq_id!r}: ids must be non-empty single words")
            handle.write(f">{seq_id}\n{sequence}\n")
    return path, "sequences"


class _input_named:
    """Names a temporary input file in a ResgenomeError as what the caller gave. For sequences given in memory the
    temporary FASTA's line numbers are dropped (the record id is what identifies the sequence); a DataFrame keeps
    them, counted as in its CSV (header = line 1). A file the caller named is left as it is."""

    def __init__(self, path: Path, shown: str, *, keep_lines: bool = True):
        self.path, self.shown, self.keep_lines = str(path), shown, keep_lines

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, ResgenomeError) and self.shown != self.path and self.path in str(error):
            message = str(error).replace(self.path, self.shown)
            if not self.keep_lines:
                message = re.sub(r" \(line \d+\)|: line \d+(?=:)", "", message)
            raise type(error)(message) from None
        return False


def _read_tsv(path: Path, text_column: str) -> pd.DataFrame:
    """A TSV written by resgenome, with ids kept as text (no 'NA' -> NaN, no '1' -> 1) and every other column's
    'NA' (a p-value or score that does not exist, e.g. for a no-call) read as NaN."""
    frame = pd.read_csv(path, sep="\t", dtype={text_column: str}, keep_default_na=False, na_filter=False)
    for column in frame.columns:
        if column != text_column and not pd.api.types.is_numeric_dtype(frame[column]):
            as_number = pd.to_numeric(frame[column].replace("NA", np.nan), errors="coerce")
            if as_number.notna().sum() == (frame[column] != "NA").sum():  # numbers and NA only: a numeric column
                frame[column] = as_number
    return frame


__all__ = ["Model", "load", "train", "evaluate"]
