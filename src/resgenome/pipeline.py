"""Train, evaluate and score with any model of either task: the API behind the CLI and ``reproduce``.

The steps are the same for both tasks and every model — split, fit preprocessing on the training rows only, fit,
pick the threshold on validation, score the test rows once — and the task object supplies what differs.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import __version__
from .checkpoint import load_checkpoint, save_checkpoint
from .data.splits import Split
from .errors import ResgenomeError
from .io import atomic_open, check_writable_dir
from .metrics import best_f1_threshold, evaluate_scores
from .models import build_model, classical
from .tasks import get_task
from .train import TrainConfig, distributed, fit, predict_proba


@dataclass
class RunOptions:
    """Everything about a training run besides the data (plain values; stored in the checkpoint)."""

    model: str
    split: str | None = None
    seed: int = 0
    preset: str = "cpu"
    width: int | None = None
    normalize: str = "per-feature"
    holdout: list[str] = field(default_factory=list)
    use_length: bool = False
    kmer: int = 6
    classical_params: dict = field(default_factory=dict)  # e.g. {"n_estimators": 50} for a quick forest
    # superenhancer preprocessing beyond the paper (data/feature_transforms.py): "none" | "log1p" | "rank" before
    # Eq. 1-4, and "paper" | "clustered" feature order
    transform: str = "none"
    feature_order: str = "paper"
    train: TrainConfig = field(default_factory=TrainConfig)


def train_model(
    task_name: str,
    data: str | Any,
    opts: RunOptions,
    out: str | os.PathLike | None,
    *,
    split: Split | None = None,
    resume: bool = False,
    log: Callable[[str], None] | None = print,
    figures: bool = True,
) -> dict:
    """Train one model and evaluate it on the held-out test rows; write DIR/model.pt, metrics.json, history.csv,
    test_scores.csv and figures when ``out`` is given. Returns the metrics dictionary (as in metrics.json), with
    the test labels and scores under ``_test_scores`` (not written to metrics.json).
    """
    task = get_task(task_name)
    rank, _ = distributed()
    dataset = task.load(data) if isinstance(data, (str, os.PathLike)) else data
    split_name = opts.split or task.default_split
    if split is None:
        split = task.make_split(dataset, split_name, opts.seed, holdout=opts.holdout)
    y = task.labels(dataset)
    if out is not None and rank == 0:
        out = check_writable_dir(out)
    if log:
        log(split.describe(y))
    split_checks = task.check_split(dataset, split) if hasattr(task, "check_split") else {}
    if log and split_checks.get("message"):
        log(split_checks["message"])
    is_neural = opts.model in task.neural_models
    if not is_neural and opts.model not in task.classical_models:
        known = ", ".join(task.neural_models + task.classical_models)
        raise ResgenomeError(f"--model {opts.model}: not a model of the {task.name} task (choose {known})")

    train_set, val_set, test_set = (dataset.subset(split.train), dataset.subset(split.validation),
                                    dataset.subset(split.test))  # fmt: skip
    prep = task.fit_preprocessing(dataset, split.train,
                                  {"normalize": opts.normalize, "model": opts.model, "kmer": opts.kmer,
                                   "transform": opts.transform, "feature_order": opts.feature_order})  # fmt: skip
    started = time.perf_counter()
    history: list[dict] = []
    extra: dict[str, Any] = {}
    if is_neural:
        cfg = opts.train
        cfg.selection_metric = task.selection_metric
        config = task.model_config(opts.model, prep, opts.preset, opts.width)
        torch.manual_seed(opts.train.seed)
        model = build_model(opts.model, config)
        state_path = Path(out) / "train_state.pt" if out is not None else None
        fitter = task.fitter(opts.model, config) if hasattr(task, "fitter") else fit  # e.g. staged training
        result = fitter(
            model, task.neural_inputs(train_set, prep), task.neural_inputs(val_set, prep), cfg,
            state_path=state_path, resume=resume, log=log,
        )  # fmt: skip
        history = result.history
        extra = {"best_epoch": result.best_epoch, "epochs_run": len(history), "stopped_early": result.stopped_early}

        def score(part):
            data = task.neural_inputs(part, prep)
            return predict_proba(model, data.X, transform=data.transform, device=cfg.device if cfg.device != "auto"
                                 else None)  # fmt: skip

        state = model.state_dict()
        kind = "neural"
    else:
        estimator = classical.make_estimator(opts.model, seed=opts.seed, class_weight=opts.train.class_weight,
                                             **opts.classical_params)  # fmt: skip
        estimator.fit(task.classical_inputs(train_set, prep), task.labels(train_set))
        exported = classical.export(estimator)
        config = {}

        def score(part):
            return classical.predict_exported(exported, task.classical_inputs(part, prep))

        state = exported
        kind = "classical"
    val_scores, test_scores = score(val_set), score(test_set)
    seconds = time.perf_counter() - started
    threshold = best_f1_threshold(task.labels(val_set), val_scores)
    metrics = {
        "task": task.name,
        "model": opts.model,
        "split": split.name,
        "optimistic": split.optimistic,
        "seed": opts.seed,
        "sizes": split.sizes(),
        "held_out": split.held_out,
        **{k: v for k, v in split_checks.items() if k != "message"},
        "threshold": threshold,
        "validation": evaluate_scores(task.labels(val_set), val_scores, threshold),
        "test": evaluate_scores(task.labels(test_set), test_scores, threshold),
        **extra,
    }
    if split.optimistic:
        metrics["warning"] = "test set was also used for validation (the paper's protocol): optimistic"
    if out is not None and rank == 0:
        training = {"split": split.name, "seed": opts.seed, "preset": opts.preset, "normalize": opts.normalize,
                    "train_config": opts.train.to_dict(), "sizes": split.sizes(), "data": str(getattr(dataset, "source", data))}  # fmt: skip
        save_checkpoint(out / "model.pt", {
            "task": task.name, "model": {"name": opts.model, "kind": kind, "config": config}, "state": state,
            "preprocessing": prep, "threshold": threshold, "training": training,
        })  # fmt: skip
        write_json(out / "metrics.json", metrics)
        write_history(out / "history.csv", history)
        write_scores(out / "test_scores.csv", task.labels(test_set), test_scores)
        # validation scores too: what a stacked model or a post-hoc comparison is fitted on (never the test rows)
        write_scores(out / "validation_scores.csv", task.labels(val_set), val_scores)
        if figures:
            _write_figures(out, history, task.labels(test_set), test_scores, opts.model, metrics)
        stale = out / "train_state.pt"
        if stale.exists():
            stale.unlink()  # the run is complete; its resumable state is no longer needed
    if log:
        t = metrics["test"]
        log(f"{opts.model} test: AUROC {_f(t['auroc'])} AUPRC {_f(t['auprc'])} F1 {t['f1']:.4f} "
            f"(threshold {threshold:.3f}); {seconds:.1f} s")  # fmt: skip
    metrics["_test_scores"] = (task.labels(test_set), test_scores)
    metrics["_history"] = history
    metrics["_seconds"] = seconds
    return metrics


def _f(x):
    return "n/a" if x is None else f"{x:.4f}"


def load_model(path: str | os.PathLike, task: str | None = None):
    """(checkpoint dict, scorer) where scorer(dataset) -> probabilities of the positive class."""
    ckpt = load_checkpoint(path, task=task)
    t = get_task(ckpt["task"])
    prep = ckpt["preprocessing"]
    if ckpt["model"]["kind"] == "neural":
        try:
            model = build_model(ckpt["model"]["name"], ckpt["model"]["config"])
            model.load_state_dict(ckpt["state"])
        except (ValueError, RuntimeError, TypeError) as exc:
            raise ResgenomeError(f"{path}: checkpoint does not match its model ({str(exc).splitlines()[0]})") from None

        def scorer(dataset, **kw):
            data = t.neural_inputs(dataset, prep)
            return predict_proba(model, data.X, transform=data.transform, **kw)

        scorer.model = model
    else:
        state = ckpt["state"]

        def scorer(dataset, **kw):
            return classical.predict_exported(state, t.classical_inputs(dataset, prep))

    return ckpt, scorer


def evaluate_model(model_path, data, out, *, labels=None) -> dict:
    """Score a labelled data set with a saved model at its saved threshold; write metrics.json under ``test``.

    ``labels``: for the viral task, a ``seq_id<TAB>label`` file when ``data`` is FASTA.
    """
    ckpt, scorer = load_model(model_path)
    task = get_task(ckpt["task"])
    options = _load_options(ckpt)
    if labels is not None:
        if ckpt["task"] != "viral":
            raise ResgenomeError("--labels is for FASTA data of the viral task")
        options["labels"] = labels
    dataset = task.load(data, **options)
    out = check_writable_dir(out)
    scores = scorer(dataset)
    y = task.labels(dataset)
    metrics = {"task": task.name, "model": ckpt["model"]["name"], "data": str(data),
               "threshold": ckpt["threshold"], "test": evaluate_scores(y, scores, ckpt["threshold"])}  # fmt: skip
    write_json(out / "metrics.json", metrics)
    write_scores(out / "test_scores.csv", y, scores)
    from .report import figures

    figures.save(figures.curves_figure({ckpt["model"]["name"]: (y, scores)}), out / "curves.png")
    return metrics


def _load_options(ckpt) -> dict:
    if ckpt["task"] == "superenhancer":
        return {"use_length": "length" in ckpt["preprocessing"]["features"]}
    return {}


def predict_table(model_path, input_path, output) -> int:
    """``predict superenhancer``: score a table (Class optional), write chrom, start, end, score, label."""
    ckpt, scorer = load_model(model_path, task="superenhancer")
    task = get_task("superenhancer")
    table = task.load(input_path, require_labels=False, **_load_options(ckpt))
    scores = scorer(table)
    header, rows = task.prediction_rows(table, scores, ckpt["threshold"])
    n = write_tsv(output, header, rows)
    return n


# ------------------------------------------------------------------ writers (all atomic)
def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return obj


def write_json(path, obj) -> None:
    with atomic_open(path, "w") as handle:
        json.dump(_jsonable(obj), handle, indent=2, sort_keys=False)
        handle.write("\n")


def write_history(path, history: list[dict]) -> None:
    columns = ["epoch", "train_loss", "val_loss", "train_acc", "val_acc"]
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for h in history:
            writer.writerow([h["epoch"]] + [f"{h[c]:.6f}" for c in columns[1:]])


def write_scores(path, y, scores) -> None:
    with atomic_open(path, "w", newline="") as handle:
        handle.write("row,label,score\n")
        for i, (label, s) in enumerate(zip(y, scores)):
            handle.write(f"{i},{int(label)},{s:.8f}\n")


def write_tsv(path, header, rows) -> int:
    n = 0
    with atomic_open(path, "w", newline="") as handle:
        handle.write("\t".join(header) + "\n")
        for row in rows:
            handle.write("\t".join(str(v) for v in row) + "\n")
            n += 1
    return n


def _write_figures(out: Path, history, y, scores, name, metrics) -> None:
    from .report import figures

    if history:
        figures.save(figures.training_figure(history, name), out / "training_curves.png")
    figures.save(figures.curves_figure({name: (y, scores)}, name), out / "roc_pr.png")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    figures.plot_confusion(metrics["test"]["confusion"], ax, f"{name} test (t={metrics['threshold']:.2f})")
    figures.save(fig, out / "confusion.png")
