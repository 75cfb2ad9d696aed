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
from .calibration import calibrate_run, log_odds_from_logits, log_odds_from_proba
from .checkpoint import load_checkpoint, save_checkpoint
from .data.sequences import SequenceSet, reverse_complement
from .data.splits import Split
from .errors import ResgenomeError
from .io import atomic_open, check_writable_dir
from .metrics import best_f1_threshold, evaluate_scores
from .models import build_model, classical
from .tasks import get_task
from .train import TrainConfig, distributed, fit, predict_logits, predict_proba


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
                                  {"normalize": opts.normalize, "model": opts.model, "kmer": opts.kmer})  # fmt: skip
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

        def log_odds(part):
            data = task.neural_inputs(part, prep)
            return log_odds_from_logits(predict_logits(model, data.X, transform=data.transform,
                                                       device=cfg.device if cfg.device != "auto" else None))

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

        def log_odds(part):
            return log_odds_from_proba(score(part))

        state = exported
        kind = "classical"
    val_scores, test_scores = score(val_set), score(test_set)
    seconds = time.perf_counter() - started
    threshold = best_f1_threshold(task.labels(val_set), val_scores)
    calibration, calibration_report, test_calibrated = _calibrate(task, log_odds, val_set, test_set, threshold)
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
        "calibration": calibration_report,
        **extra,
    }
    if split.optimistic:
        metrics["warning"] = "test set was also used for validation (the paper's protocol): optimistic"
    if out is not None and rank == 0:
        training = {"split": split.name, "seed": opts.seed, "preset": opts.preset, "normalize": opts.normalize,
                    "train_config": opts.train.to_dict(), "sizes": split.sizes(), "data": str(getattr(dataset, "source", data)),
                    "holdout": list(opts.holdout)}  # fmt: skip
        save_checkpoint(out / "model.pt", {
            "task": task.name, "model": {"name": opts.model, "kind": kind, "config": config}, "state": state,
            "preprocessing": prep, "threshold": threshold, "training": training, "calibration": calibration,
        })  # fmt: skip
        write_json(out / "metrics.json", metrics)
        write_history(out / "history.csv", history)
        write_scores(out / "test_scores.csv", task.labels(test_set), test_scores, test_calibrated)
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


def _calibrate(task, log_odds, val_set, test_set, threshold, method=None):
    """(model.pt ``calibration`` entry, metrics.json ``calibration`` report, calibrated test probabilities)."""
    windows = None
    if task.name == "viral":
        def windows(codes, both_strands):
            z = log_odds(SequenceSet([""] * len(codes), codes, None, "<validation>"))
            if both_strands:
                z = (z + log_odds(SequenceSet([""] * len(codes), reverse_complement(codes), None, "<validation>"))) / 2
            return z

    return calibrate_run(log_odds(val_set), task.labels(val_set), log_odds(test_set), task.labels(test_set),
                         threshold, windows=windows, val_codes=getattr(val_set, "codes", None),
                         **({"method": method} if method else {}))  # fmt: skip


def _f(x):
    return "n/a" if x is None else f"{x:.4f}"


def load_model(path: str | os.PathLike, task: str | None = None):
    """(checkpoint dict, scorer) where scorer(dataset) -> probabilities of the positive class (uncalibrated), and
    ``scorer.log_odds(dataset)`` -> the raw log-odds the calibration of :mod:`resgenome.calibration` starts from."""
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

        def log_odds(dataset, **kw):
            data = t.neural_inputs(dataset, prep)
            return log_odds_from_logits(predict_logits(model, data.X, transform=data.transform, **kw))

        scorer.model = model
    else:
        state = ckpt["state"]

        def scorer(dataset, **kw):
            return classical.predict_exported(state, t.classical_inputs(dataset, prep))

        def log_odds(dataset, **kw):
            return log_odds_from_proba(scorer(dataset))

    scorer.log_odds = log_odds
    return ckpt, scorer


def calibrate_model(model_path: str | os.PathLike, out: str | os.PathLike, *, data: str | None = None,
                    split: str | None = None, holdout: list[str] | None = None, seed: int | None = None,
                    labels: str | os.PathLike | None = None, method: str | None = None) -> dict:  # fmt: skip
    """Add a calibration (and, for a viral model, its contig null) to a trained model.pt; write it to ``out``.

    For models trained before calibration existed, and for packaged models: the validation rows of the model's own
    split are rebuilt from ``data`` / ``split`` / ``holdout`` / ``seed`` (default: what the checkpoint recorded) and
    must have the sizes the checkpoint recorded, so that the calibration is fitted on data the model did not train
    on. Returns the Brier / ECE report (as under ``calibration`` in metrics.json).
    """
    from .calibration import DEFAULT_METHOD

    source, target = Path(model_path), Path(out)
    ckpt, scorer = load_model(source)
    if target.resolve() == (source / "model.pt" if source.is_dir() else source).resolve():
        raise ResgenomeError(f"{out}: is the input model; write the calibrated model to a new file")
    task = get_task(ckpt["task"])
    training = ckpt.get("training", {})
    data = data or training.get("data")
    split_name, seed = split or training.get("split"), training.get("seed", 0) if seed is None else seed
    holdout = list(holdout or training.get("holdout") or [])
    if data is None or split_name is None:
        raise ResgenomeError(f"{model_path}: records no training data or split; give --data and --split")
    dataset = task.load(data, labels=labels) if labels is not None else task.load(data)
    rebuilt = task.make_split(dataset, split_name, seed, holdout=holdout)
    if training.get("sizes") and rebuilt.sizes() != training["sizes"]:
        raise ResgenomeError(
            f"{data}: split {split_name} (seed {seed}{', holdout ' + ' '.join(holdout) if holdout else ''}) has sizes"
            f" {rebuilt.sizes()}, not the {training['sizes']} the model was trained with; give the --data, --split,"
            " --holdout and --seed of its training"
        )
    val, test = dataset.subset(rebuilt.validation), dataset.subset(rebuilt.test)
    state, report, _ = _calibrate(task, scorer.log_odds, val, test, ckpt["threshold"], method or DEFAULT_METHOD)
    payload = {k: v for k, v in ckpt.items() if k not in ("format", "format_version")}
    save_checkpoint(target, {**payload, "calibration": state,
                             "training": {**training, "holdout": holdout}})  # fmt: skip
    return report


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


def write_scores(path, y, scores, calibrated=None) -> None:
    """row, label, score (the model's own probability)[, calibrated probability] per test row."""
    with atomic_open(path, "w", newline="") as handle:
        handle.write("row,label,score" + (",calibrated\n" if calibrated is not None else "\n"))
        for i, (label, s) in enumerate(zip(y, scores)):
            extra = f",{calibrated[i]:.8f}" if calibrated is not None else ""
            handle.write(f"{i},{int(label)},{s:.8f}{extra}\n")


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
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    calibration = metrics["calibration"]
    figures.plot_reliability({f"{when} calibration (ECE {calibration['test'][when]['ece']:.3f})": bins
                              for when, bins in calibration["test"]["reliability"].items()}, ax,
                             f"{name} reliability (test)")  # fmt: skip
    figures.save(fig, out / "reliability.png")
