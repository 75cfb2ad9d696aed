"""Train, evaluate and score with any model of either task: the API behind the CLI and ``reproduce``.

The steps are the same for both tasks and every model — split, fit preprocessing on the training rows only, fit,
pick the threshold on validation, score the test rows once — and the task object supplies what differs. Every
score comes from a :class:`~resgenome.predictor.Predictor`.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

import matplotlib.pyplot as plt
import numpy as np
import torch

from .calibration import DEFAULT_METHOD, MAX_LOG_ODDS, calibrate_run
from .comparison import stack_scores
from .data.encoding import reverse_complement
from .data.splits import Split
from .errors import ResgenomeError
from .io import atomic_open, check_paths, check_writable_dir, open_output, refuse_overwriting_inputs
from .metrics import best_f1_threshold, evaluate_scores
from .models import MODELS, RECIPE_VARIANTS, build_model, classical, model_spec
from .parallel import distributed
from .predictor import Predictor
from .report import figures as plots
from .tasks import Task, get_task
from .trainer import TrainConfig, fit

PARTS = ("train", "validation", "test")


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
    the test labels and scores under ``_test_scores`` and the trained :class:`~resgenome.predictor.Predictor`
    under ``_predictor`` (neither written to metrics.json).

    The trainer runs with ``opts.train`` and the task's selection metric; ``opts`` itself is left as given.
    """
    task = get_task(task_name)
    rank, _ = distributed()
    # the options first, before any data is read or folder made
    _check_model(task, opts.model)
    opts = with_recipe(opts)
    split_name = opts.split or task.default_split
    if split is None and split_name not in task.splits:
        raise ResgenomeError(f"--split {split_name}: not a split of the {task.name} task ({', '.join(task.splits)})")
    if out is not None and isinstance(data, (str, os.PathLike)):
        refuse_overwriting_inputs({"--data": _input_files(data)}, {"--out": [Path(out) / f for f in RUN_FILES]})
    dataset = task.load(data) if isinstance(data, (str, os.PathLike)) else data
    if split is None:
        split = task.make_split(dataset, split_name, opts.seed, holdout=opts.holdout)
    _check_classes(task, getattr(dataset, "source", data), task.labels(dataset), split)
    task.check_training_rows(dataset, split.train)
    if out is not None and rank == 0:
        out = check_writable_dir(out)
    split_checks = _describe_split(task, dataset, split, log)
    parts = {part: dataset.subset(getattr(split, part)) for part in PARTS}
    prep = task.fit_preprocessing(dataset, split.train,
                                  {"normalize": opts.normalize, "model": opts.model, "kmer": opts.kmer,
                                   "transform": opts.transform, "feature_order": opts.feature_order})  # fmt: skip
    cfg = replace(opts.train, selection_metric=task.selection_metric)
    started = time.perf_counter()
    if opts.model in task.neural_models:
        state_path = Path(out) / "train_state.pt" if out is not None else None
        predictor, history, extra = _fit_neural(task, opts.model, parts, prep, cfg, opts, state_path, resume, log)
    else:
        predictor, history, extra = _fit_classical(task, opts, parts, prep), [], {}
    val_scores, test_scores = predictor.score_dataset(parts["validation"]), predictor.score_dataset(parts["test"])
    seconds = time.perf_counter() - started
    y_test = task.labels(parts["test"])
    threshold = best_f1_threshold(task.labels(parts["validation"]), val_scores)
    calibration, calibration_report, test_calibrated = _calibrate(task, predictor, parts, threshold)
    metrics = {
        "task": task.name, "model": opts.model, "split": split.name, "optimistic": split.optimistic,
        "seed": opts.seed, "sizes": split.sizes(), "held_out": split.held_out,
        **{k: v for k, v in split_checks.items() if k != "message"},
        "threshold": threshold,
        "validation": evaluate_scores(task.labels(parts["validation"]), val_scores, threshold),
        "test": evaluate_scores(y_test, test_scores, threshold),
        "calibration": calibration_report,
        **extra,
    }  # fmt: skip
    if split.optimistic:
        metrics["warning"] = "test set was also used for validation (the paper's protocol): optimistic"
    predictor.threshold, predictor.calibration = threshold, calibration
    predictor.metadata = {"split": split.name, "seed": opts.seed, "preset": opts.preset,
                          "normalize": opts.normalize, "train_config": cfg.to_dict(), "sizes": split.sizes(),
                          "data": str(getattr(dataset, "source", data)), "holdout": list(opts.holdout)}  # fmt: skip
    if out is not None and rank == 0:
        _write_run(Path(out), predictor, metrics, history, y_test, (test_scores, test_calibrated), figures,
                   validation=(task.labels(parts["validation"]), val_scores))
    if log:
        t = metrics["test"]
        log(f"{opts.model} test: AUROC {_f(t['auroc'])} AUPRC {_f(t['auprc'])} F1 {t['f1']:.4f} "
            f"(threshold {threshold:.3f}); {seconds:.1f} s")  # fmt: skip
    # the trained model, at its threshold, goes back too: resgenome.api.train returns it
    return {**metrics, "_test_scores": (y_test, test_scores), "_predictor": predictor, "_history": history,
            "_seconds": seconds}


def with_recipe(opts: RunOptions) -> RunOptions:
    """``opts`` with the recipe of its model applied (:attr:`~resgenome.models.registry.ModelSpec.recipe`): a named
    variant such as ``resvg-rcaug`` brings its own training or preprocessing choices. An option set otherwise than
    both its default and the recipe is refused: the name would no longer say what was trained."""
    recipe = MODELS[opts.model].recipe if opts.model in MODELS else {}
    if not recipe:
        return opts
    train_fields = {f.name: f.default for f in fields(TrainConfig)}
    run_fields = {f.name: f.default for f in fields(RunOptions) if f.name != "train"}
    train_changes, run_changes = {}, {}
    for key, value in recipe.items():
        target, defaults = (train_changes, train_fields) if key in train_fields else (run_changes, run_fields)
        given = getattr(opts.train if target is train_changes else opts, key)
        if given not in (defaults[key], value):
            network = RECIPE_VARIANTS.get(opts.model, ("the model it varies",))[0]
            raise ResgenomeError(f"--model {opts.model} means {key} = {value!r}; {key} = {given!r} contradicts it "
                                 f"(train {network} with that option instead)")  # fmt: skip
        target[key] = value
    return replace(opts, train=replace(opts.train, **train_changes), **run_changes)


def _describe_split(task: Task, dataset, split: Split, log) -> dict:
    """Log the split's sizes and the task's checks of it (e.g. duplicates straddling it); return the checks."""
    if log:
        log(split.describe(task.labels(dataset)))
    checks = task.check_split(dataset, split)
    if log and checks.get("message"):
        log(checks["message"])
    return checks


def _check_model(task: Task, model: str) -> None:
    if model not in task.neural_models and model not in task.classical_models:
        known = ", ".join(task.neural_models + task.classical_models)
        raise ResgenomeError(f"--model {model}: not a model of the {task.name} task (choose {known})")


def _fit_neural(task: Task, name: str, parts: dict, prep: dict, cfg: TrainConfig, opts: RunOptions,
                state_path: Path | None, resume: bool, log) -> tuple[Predictor, list[dict], dict]:  # fmt: skip
    """Build the model at the run's widths and train it (its own procedure if it registered one, else the shared
    trainer); returns the Predictor of the best validation epoch, the history and the trainer's facts."""
    config = task.model_config(name, prep, opts.preset, opts.width)
    torch.manual_seed(cfg.seed)
    model = build_model(name, config)
    train_data, val_data = task.neural_inputs(parts["train"], prep), task.neural_inputs(parts["validation"], prep)
    run = dict(state_path=state_path, resume=resume, log=log)
    procedure = model_spec(name).train
    if procedure is None:
        result = fit(model, train_data, val_data, cfg, **run)
    else:
        result = procedure(model, config, train_data, val_data, cfg, fit=fit, **run)
    extra = {"best_epoch": result.best_epoch, "epochs_run": len(result.history), "stopped_early": result.stopped_early}
    return Predictor(task.name, name, model, prep, config=config, device=cfg.device), result.history, extra


def _fit_classical(task: Task, opts: RunOptions, parts: dict, prep: dict) -> Predictor:
    """Fit the scikit-learn baseline on the training rows; its exported arrays become the Predictor's model."""
    estimator = classical.make_estimator(opts.model, seed=opts.seed, class_weight=opts.train.class_weight,
                                         **opts.classical_params)  # fmt: skip
    estimator.fit(task.classical_inputs(parts["train"], prep), task.labels(parts["train"]))
    return Predictor(task.name, opts.model, classical.export(estimator), prep)


def _write_run(out: Path, predictor: Predictor, metrics: dict, history: list[dict], y_test: np.ndarray,
               test_scores: tuple[np.ndarray, np.ndarray], with_figures: bool,
               validation: tuple[np.ndarray, np.ndarray]) -> None:  # fmt: skip
    """DIR/model.pt, metrics.json, history.csv, test_scores.csv, validation_scores.csv and figures; the resumable
    state is removed.

    ``test_scores``: the model's own test probabilities and the calibrated ones. ``validation``: labels and the
    model's own probabilities on the validation rows."""
    predictor.save(out / "model.pt")
    write_json(out / "metrics.json", metrics)
    write_history(out / "history.csv", history)
    test_scores, test_calibrated = test_scores
    write_scores(out / "test_scores.csv", y_test, test_scores, test_calibrated)
    # validation scores too: what a stacked model or a post-hoc comparison is fitted on (never the test rows)
    write_scores(out / "validation_scores.csv", *validation)
    if with_figures:
        _write_figures(out, history, y_test, test_scores, predictor.model_name, metrics)
    stale = out / "train_state.pt"
    if stale.exists():
        stale.unlink()  # the run is complete; its resumable state is no longer needed


def read_scores(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities) of a score file written by :func:`write_scores`."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return table[:, 1].astype(np.int64), table[:, 2]


def run_scores(run: Path, part: str, *, both_strands: bool = False, dataset=None,
               split: Split | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(labels, probabilities) of a finished run's ``validation`` or ``test`` rows.

    Its own score file; with ``both_strands``, the rows of ``split`` (the one the run was trained on) rescored by the
    run's model, each sequence's probability averaged with its reverse complement's, written once as
    ``<part>_scores_both.csv`` beside the run's own. The rescored labels must equal the run's own row for row.
    """
    run = Path(run)
    if not both_strands:
        return read_scores(run / f"{part}_scores.csv")
    cached = run / f"{part}_scores_both.csv"
    if cached.is_file():
        return read_scores(cached)
    if dataset is None or split is None:
        raise ResgenomeError(f"{run}: both-strand scores need the dataset and the split the run was trained on")
    y, _ = read_scores(run / f"{part}_scores.csv")
    rows = dataset.subset(getattr(split, part))
    if not np.array_equal(y, rows.labels):
        raise ResgenomeError(f"{run}: the {part} rows given are not the ones the run was scored on")
    scores = Predictor.load(run / "model.pt", device="cpu").score_windows(rows.codes, both_strands=True)
    write_scores(cached, y, scores)
    return y, scores


def stacked_scores(members: list[tuple[Path, bool]], *, dataset=None, split: Split | None = None) -> dict:
    """Stack finished runs trained on one split: ``{"validation": (y, scores), "test": (y, scores), "weights",
    "intercept"}`` from :func:`~resgenome.comparison.stack_scores` on the members' scores (:func:`run_scores`).

    ``members``: (run folder, both strands?) pairs; they must have been scored on the same rows.
    """
    val = [run_scores(m, "validation", both_strands=b, dataset=dataset, split=split) for m, b in members]
    test = [run_scores(m, "test", both_strands=b, dataset=dataset, split=split) for m, b in members]
    if any(not np.array_equal(v[0], val[0][0]) for v in val) or any(not np.array_equal(t[0], test[0][0]) for t in test):
        raise ResgenomeError(f"{', '.join(str(m) for m, _ in members)}: the members of a stack were not scored on "
                             "the same rows")  # fmt: skip
    fit = stack_scores(val[0][0], [s for _, s in val], [s for _, s in test])
    return {"validation": (val[0][0], fit["validation"]), "test": (test[0][0], fit["test"]),
            "weights": fit["weights"], "intercept": fit["intercept"]}  # fmt: skip


def stack_runs(members: list[tuple[Path, bool]], out: Path, *, dataset=None, split: Split | None = None,
               info: dict | None = None) -> dict:  # fmt: skip
    """A stacked model of finished runs trained on one split; nothing is trained but a logistic regression.

    ``members``: (run folder, both strands?) pairs. The stacker (:func:`stacked_scores`) is fitted on the members'
    validation scores; the threshold is picked on its out-of-fold validation scores, as for any run; the test rows
    are scored once. Writes OUT/metrics.json, validation_scores.csv and test_scores.csv (``info`` is added to the
    metrics) and returns the metrics.
    """
    fit = stacked_scores(members, dataset=dataset, split=split)
    parts = {part: fit[part] for part in ("validation", "test")}
    threshold = best_f1_threshold(*parts["validation"])
    metrics = {**(info or {}), "members": [{"run": str(m), "both_strands": b} for m, b in members],
               "weights": fit["weights"], "intercept": fit["intercept"], "threshold": threshold,
               **{part: evaluate_scores(y, s, threshold) for part, (y, s) in parts.items()}}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    for part, (y, s) in parts.items():
        write_scores(out / f"{part}_scores.csv", y, s)
    write_json(out / "metrics.json", metrics)
    return metrics


def _calibrate(task: Task, predictor: Predictor, parts: dict, threshold: float,
               method: str = DEFAULT_METHOD) -> tuple[dict, dict, np.ndarray]:  # fmt: skip
    """Fit the calibration (and a viral model's contig null) on the validation rows; report it on the test rows.

    Returns the model.pt ``calibration`` entry, the metrics.json ``calibration`` report and the calibrated test
    probabilities (see :func:`resgenome.calibration.calibrate_run`).
    """

    def log_odds(array: np.ndarray) -> np.ndarray:  # a forest whose trees all agree has infinite log-odds
        return np.clip(predictor.log_odds(array), -MAX_LOG_ODDS, MAX_LOG_ODDS)

    def windows(codes: np.ndarray, both_strands: bool) -> np.ndarray:
        z = log_odds(codes)
        return (z + log_odds(reverse_complement(codes))) / 2 if both_strands else z

    val, test = parts["validation"], parts["test"]
    viral = task.name == "viral"
    return calibrate_run(log_odds(predictor.encode(val)), task.labels(val), log_odds(predictor.encode(test)),
                         task.labels(test), threshold, windows=windows if viral else None,
                         val_codes=val.codes if viral else None, method=method)  # fmt: skip


def calibrate_model(model_path: str | os.PathLike, out: str | os.PathLike, *, data: str | None = None,
                    split: str | None = None, holdout: list[str] | None = None, seed: int | None = None,
                    labels: str | os.PathLike | None = None, method: str | None = None) -> dict:  # fmt: skip
    """Add a calibration (and, for a viral model, its contig null) to a trained model.pt; write it to ``out``.

    For models trained before calibration existed, and for packaged models: the validation rows of the model's own
    split are rebuilt from ``data`` / ``split`` / ``holdout`` / ``seed`` (default: what the checkpoint recorded) and
    must have the sizes the checkpoint recorded, so that the calibration is fitted on data the model did not train
    on. Returns the Brier / ECE report (as under ``calibration`` in metrics.json).
    """
    source, target = Path(model_path), Path(out)
    predictor = Predictor.load(source)
    if target.resolve() == (source / "model.pt" if source.is_dir() else source).resolve():
        raise ResgenomeError(f"{out}: is the input model; write the calibrated model to a new file")
    task = get_task(predictor.task)
    training = predictor.metadata
    data = data or training.get("data")
    split_name, seed = split or training.get("split"), training.get("seed", 0) if seed is None else seed
    holdout = list(holdout or training.get("holdout") or [])
    if data is None or split_name is None:
        raise ResgenomeError(f"{model_path}: records no training data or split; give --data and --split")
    options = task.load_options(predictor.preprocessing)
    if labels is not None:
        options["labels"] = labels
    dataset = task.load(data, **options)
    rebuilt = task.make_split(dataset, split_name, seed, holdout=holdout)
    if training.get("sizes") and rebuilt.sizes() != training["sizes"]:
        raise ResgenomeError(
            f"{data}: split {split_name} (seed {seed}{', holdout ' + ' '.join(holdout) if holdout else ''}) has sizes"
            f" {rebuilt.sizes()}, not the {training['sizes']} the model was trained with; give the --data, --split,"
            " --holdout and --seed of its training"
        )
    parts = {part: dataset.subset(getattr(rebuilt, part)) for part in ("validation", "test")}
    predictor.calibration, report, _ = _calibrate(task, predictor, parts, predictor.threshold,
                                                  method or DEFAULT_METHOD)  # fmt: skip
    predictor.metadata = {**training, "holdout": holdout}
    predictor.save(target)
    return report


def _f(x):
    return "n/a" if x is None else f"{x:.4f}"


#: What a training run writes into its folder (figures besides), and what ``evaluate`` writes into its own.
RUN_FILES = ("model.pt", "metrics.json", "history.csv", "test_scores.csv", "train_state.pt", "roc_pr.png",
             "training_curves.png", "confusion.png")  # fmt: skip
EVALUATE_FILES = ("metrics.json", "test_scores.csv", "curves.png")


def _input_files(data) -> list:
    """The files behind a ``--data`` argument that exist as given (for the same-file check; nothing is read)."""
    if str(data) == "-" or Path(data).is_file():
        return [data]
    return [p for p in (Path(f"{data}_{part}.csv") for part in PARTS) if p.is_file()]


def _check_classes(task: Task, source, y: np.ndarray, split: Split) -> None:
    """Training needs both classes; so does validation, where the threshold and the early-stopping epoch are chosen."""
    names = {0: task.negative, 1: task.positive}
    for part, index, why in (("training", split.train, "a classifier needs examples of both"),
                             ("validation", split.validation, "the threshold and the early-stopping epoch are chosen"
                              " there and need both")):  # fmt: skip
        present = np.unique(np.asarray(y)[index])
        if len(present) < 2:
            held = f"only one class ({names[int(present[0])]})" if len(present) else "no rows"
            raise ResgenomeError(f"{source}: the {part} rows hold {held}; {why} (check the data or the split)")


def evaluate_model(model, data, out, *, labels=None) -> dict:
    """Score a labelled data set with a saved model at its saved threshold; write metrics.json under ``test``.

    ``model``: DIR/model.pt or a loaded :class:`~resgenome.predictor.Predictor`. ``out``: the folder for
    metrics.json, test_scores.csv and curves.png, or None to write nothing. ``labels``: for the viral task, a
    ``seq_id<TAB>label`` file when ``data`` is FASTA.
    """
    predictor = model if isinstance(model, Predictor) else Predictor.load(model)
    task = get_task(predictor.task)
    options = task.load_options(predictor.preprocessing)
    if labels is not None:
        if predictor.task != "viral":
            raise ResgenomeError("--labels is for FASTA data of the viral task")
        options["labels"] = labels
    model_path = None if isinstance(model, Predictor) else model
    refuse_overwriting_inputs({"--model": model_path, "--data": _input_files(data), "--labels": labels},
                              {"--out": [] if out is None else [Path(out) / f for f in EVALUATE_FILES]})  # fmt: skip
    dataset = task.load(data, **options)
    out = None if out is None else check_writable_dir(out)
    scores = predictor.score_dataset(dataset)
    y = task.labels(dataset)
    metrics = {"task": task.name, "model": predictor.model_name, "data": str(data),
               "threshold": predictor.threshold, "test": evaluate_scores(y, scores, predictor.threshold)}  # fmt: skip
    if out is None:
        return metrics
    write_json(out / "metrics.json", metrics)
    write_scores(out / "test_scores.csv", y, scores)
    plots.save(plots.curves_figure({predictor.model_name: (y, scores)}), out / "curves.png")
    return metrics


def predict_table(model, input_path, output) -> int:
    """``predict superenhancer``: score a table (Class optional), write chrom, start, end, score, label.

    ``model``: DIR/model.pt or a loaded super-enhancer :class:`~resgenome.predictor.Predictor`. Returns the rows
    written. ``input_path`` and ``output`` may be ``-`` (standard input / output); see :mod:`resgenome.io`.
    """
    check_paths({"--model": None if isinstance(model, Predictor) else model, "--input": input_path},
                {"--output": output})
    if isinstance(model, Predictor):
        if model.task != "superenhancer":
            raise ResgenomeError(f"{model.source}: this is a {model.task} model; scoring a table needs a "
                                 "superenhancer model")  # fmt: skip
        predictor = model
    else:
        predictor = Predictor.load(model, task="superenhancer")
    task = get_task("superenhancer")
    table = task.load(input_path, require_labels=False, **task.load_options(predictor.preprocessing))
    scores = predictor.score_dataset(table)
    header, rows = task.prediction_rows(table, scores, predictor.threshold)
    return write_tsv(output, header, rows)


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
    """row, label, score (the model's own probability)[, calibrated probability] per test row.

    Scores are written to 12 significant digits, not a fixed number of decimals: a linear model's probabilities of
    1e-9 and 3e-10 must stay distinct and ordered, or any AUROC or stack computed from the file would see ties.
    """
    with atomic_open(path, "w", newline="") as handle:
        handle.write("row,label,score" + (",calibrated\n" if calibrated is not None else "\n"))
        for i, (label, s) in enumerate(zip(y, scores)):
            extra = f",{calibrated[i]:.12g}" if calibrated is not None else ""
            handle.write(f"{i},{int(label)},{s:.12g}{extra}\n")


def write_tsv(path, header, rows) -> int:
    n = 0
    with open_output(path, "w", newline="") as handle:
        handle.write("\t".join(header) + "\n")
        for row in rows:
            handle.write("\t".join(str(v) for v in row) + "\n")
            n += 1
    return n


def _write_figures(out: Path, history, y, scores, name, metrics) -> None:
    if history:
        plots.save(plots.training_figure(history, name), out / "training_curves.png")
    plots.save(plots.curves_figure({name: (y, scores)}, name), out / "roc_pr.png")
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    plots.plot_confusion(metrics["test"]["confusion"], ax, f"{name} test (t={metrics['threshold']:.2f})")
    plots.save(fig, out / "confusion.png")
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    calibration = metrics["calibration"]
    plots.plot_reliability({f"{when} calibration (ECE {calibration['test'][when]['ece']:.3f})": bins
                            for when, bins in calibration["test"]["reliability"].items()}, ax,
                           f"{name} reliability (test)")  # fmt: skip
    plots.save(fig, out / "reliability.png")
