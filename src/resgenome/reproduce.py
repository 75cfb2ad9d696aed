"""``resgenome reproduce``: the paper's comparison redone on identical splits under three protocols, as one report.

For each task x protocol x model x seed, :func:`resgenome.pipeline.train_model` trains and scores one model into
``OUT/runs/<task>/<protocol>/<model>/seed<k>/``. Every model of a task x protocol x seed gets the same
:class:`~resgenome.data.splits.Split` object, so the comparison between models is paired. Finished runs are read back
from their files instead of being trained again, so an interrupted reproduction resumes where it stopped, and the
tables are always computed from what is on disk.

Protocols (``paper`` is the paper's own, ``honest`` a clean random split, ``grouped`` the one that holds out whole
chromosomes / experiments, and so is the one the conclusions rest on):

============  =======================================  ====================================
protocol      superenhancer                            viral
============  =======================================  ====================================
paper         ``paper``: 90/10, test = validation      ``fullset``: the given train /
              (optimistic: selection sees test)        validation / test files
honest        ``random``: stratified 80/10/10          ``random``: stratified 80/10/10
grouped       ``chromosome``: chromosomes held out     ``experiment``: experiments held out
============  =======================================  ====================================
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import __version__
from .data import registry
from .data.splits import Split
from .errors import ResgenomeError
from .io import atomic_open, check_writable_dir
from .metrics import METRIC_KEYS, pooled_paired_bootstrap_auroc_difference
from .models.resvg import RESVG_WIDTHS
from .pipeline import RunOptions, train_model, write_json
from .tasks import get_task
from .train import TrainConfig

TASKS = ("superenhancer", "viral")
PROTOCOLS = ("paper", "honest", "grouped")
#: protocol -> the task's split name
PROTOCOL_SPLITS = {
    "superenhancer": {"paper": "paper", "honest": "random", "grouped": "chromosome"},
    "viral": {"paper": "fullset", "honest": "random", "grouped": "experiment"},
}
PROTOCOL_TEXT = {
    "superenhancer": {
        "paper": "stratified 90/10; the test set is also the validation set (early stopping and threshold see the "
        "test labels), as the paper did: OPTIMISTIC",
        "honest": "stratified random 80/10/10 train / validation / test",
        "grouped": "whole chromosomes held out for validation and for test (~10% of rows each)",
    },
    "viral": {
        "paper": "ViraMiner's fullset cut: the given train / validation / test files (a random 80/10/10 cut of the "
        "pooled experiments), as the paper did",
        "honest": "stratified random 80/10/10 over the pooled files",
        "grouped": "whole sequencing experiments held out for validation and for test",
    },
}
MODELS = {
    "superenhancer": ("ressen", "deepsen", "rf", "logreg", "hgb"),
    "viral": ("resvg", "viraminer", "kmer-rf", "kmer-logreg"),
}
RESIDUAL = {"superenhancer": "ressen", "viral": "resvg"}
CNN_BASELINE = {"superenhancer": "deepsen", "viral": "viraminer"}
#: default data: (development set found in a data directory, downloadable full set)
DEFAULT_DATA = {"superenhancer": ("mesc-khan2019-dev", "mesc-khan2019"), "viral": ("viral-devset", "viraminer")}
SUMMARY_METRICS = ("auroc", "auprc", "f1", "precision", "recall", "accuracy")
N_BOOT = 2000


# ---------------------------------------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class TaskPlan:
    """What a preset does for one task.

    epochs : maximum epochs per neural model (early stopping on the task's validation metric may stop sooner)
    widths : the model-width preset passed to the task (``smoke``, ``cpu`` or ``paper``)
    caps : part -> (maximum rows, minimum positives) applied to each split part after splitting, seeded; a part
        with fewer rows is kept whole. Positives beyond the stratified share are added up to the minimum, so a tiny
        sample still has some (subsampling after splitting keeps grouped splits grouped).
    """

    epochs: dict[str, int]
    patience: int
    batch_size: int
    widths: str
    kmer: int = 6
    classical_params: dict[str, dict] = field(default_factory=dict)
    caps: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Preset:
    """A named budget: seeds per protocol and a :class:`TaskPlan` per task."""

    name: str
    seeds: int  # seeds of the grouped protocol (the one the conclusions rest on)
    side_seeds: int  # seeds of the paper and honest protocols
    tasks: dict[str, TaskPlan]
    why: str
    threads: int | None = None  # CPU threads for torch and OpenMP; None = their defaults

    def seeds_for(self, protocol: str, override: int | None = None) -> int:
        if override is not None:
            return override
        return self.seeds if protocol == "grouped" else self.side_seeds


_ALL = 10**9  # "every positive" as a minimum
PRESETS = {
    "smoke": Preset(
        name="smoke", seeds=1, side_seeds=1,
        tasks={
            "superenhancer": TaskPlan(
                epochs={"ressen": 1, "deepsen": 2}, patience=1, batch_size=64, widths="smoke",
                classical_params={"rf": {"n_estimators": 10}, "hgb": {"max_iter": 20}},
                caps={"train": (400, 40), "validation": (200, 20), "test": (200, 20)},
            ),
            "viral": TaskPlan(
                epochs={"resvg": 1, "viraminer": 1}, patience=1, batch_size=64, widths="smoke", kmer=4,
                classical_params={"kmer-rf": {"n_estimators": 10}, "kmer-logreg": {"max_iter": 200}},
                caps={"train": (400, 40), "validation": (200, 20), "test": (200, 20)},
            ),
        },
        why="for tests and CI: tiny widths, 1-2 epochs, a few hundred rows per split part (with extra positives), "
        "1 seed, 4-mers, 10-tree forests, one thread. Its numbers say nothing about the models.",
        threads=1,  # tiny models gain nothing from threads, and on a shared CPU idle threads spin at every barrier
    ),  # fmt: skip
    "cpu": Preset(
        name="cpu", seeds=3, side_seeds=1,
        tasks={
            "superenhancer": TaskPlan(
                epochs={"ressen": 3, "deepsen": 20}, patience=2, batch_size=128, widths="cpu",
            ),
            "viral": TaskPlan(
                epochs={"resvg": 3, "viraminer": 3}, patience=2, batch_size=128, widths="cpu", kmer=6,
                classical_params={"kmer-rf": {"n_estimators": 100}},
                caps={"train": (4000, _ALL), "validation": (4000, 0)},
            ),
        },
        why="about 18 minutes on 2 otherwise idle CPU cores. ResSEN at the paper's width (~25 s per epoch on the "
        "full table, so at most 3 epochs, with early stopping on validation AUPRC: it is still improving then, so it "
        "is under-trained relative to the cheap baselines); DeepSEN up to 20 epochs; ResVG at the cpu width "
        f"(W={RESVG_WIDTHS['cpu']} against the paper's W={RESVG_WIDTHS['paper']}, which needs a GPU) and the "
        "cpu-width ViraMiner for at most 3 epochs each, on a training part "
        "cut to 4,000 sequences (every viral one kept, non-viral ones sampled) and a validation part cut to 4,000 "
        "(stratified: held-out experiments can be half the data, and it is scored every epoch); test untouched; "
        "3 seeds for the grouped protocol, 1 for the paper and honest ones; 6-mer forests of 100 trees; the "
        "super-enhancer classical models at their defaults (300 trees / 300 boosting rounds).",
    ),  # fmt: skip
    "paper": Preset(
        name="paper", seeds=3, side_seeds=3,
        tasks={
            "superenhancer": TaskPlan(epochs={"ressen": 30, "deepsen": 30}, patience=8, batch_size=128, widths="paper"),
            "viral": TaskPlan(epochs={"resvg": 20, "viraminer": 20}, patience=4, batch_size=128, widths="paper",
                              kmer=6),  # fmt: skip
        },
        why="the paper's widths (ResVG W=1000, ViraMiner 1200/1000 filters), up to 30 / 20 epochs with early stopping, "
        "all rows, 3 seeds for every protocol, 6-mer forests of 300 trees. Meant for a GPU.",
    ),
}


# ---------------------------------------------------------------------------------------------------------- data
def locate_data(task: str, data_dir: str | os.PathLike | None = None) -> tuple[str, list[Path]]:
    """(dataset name, files) of the task's default data: the development set if a data directory holds it, else
    the downloadable full set from the cache; a one-line error saying how to get it otherwise."""
    dev, full = DEFAULT_DATA[task]
    try:
        return dev, registry.locate(dev, data_dir)
    except ResgenomeError:
        pass
    try:
        return full, registry.locate(full, data_dir)
    except ResgenomeError:
        where = ", ".join(str(d) for d in registry.search_dirs(data_dir))
        raise ResgenomeError(
            f"no data for the {task} task in {where}: run `resgenome data fetch {full}` (or point --data-dir / "
            f"{registry.DATA_DIR_ENV} at a folder holding the {dev} files)"
        ) from None


def _load(task_name: str, files: list[Path]):
    task = get_task(task_name)
    if task_name == "viral":
        prefix = str(files[0])
        if len(files) == 3 and prefix.endswith("_train.csv"):
            return task.load(prefix[: -len("_train.csv")])  # PREFIX_{train,validation,test}.csv
    return task.load(str(files[0]))


def _cap(idx: np.ndarray, y: np.ndarray, cap: tuple[int, int] | None, rng: np.random.Generator) -> np.ndarray:
    """At most cap[0] rows of ``idx``, stratified, with at least cap[1] positives where there are that many."""
    if cap is None or len(idx) <= cap[0]:
        return idx
    n, min_pos = cap
    pos, neg = idx[y[idx] == 1], idx[y[idx] == 0]
    n_pos = min(len(pos), max(round(n * len(pos) / len(idx)), min_pos))
    n_neg = min(len(neg), n - n_pos)
    chosen = np.concatenate([rng.choice(pos, n_pos, replace=False), rng.choice(neg, n_neg, replace=False)])
    return np.sort(chosen)


def make_split(task_name: str, dataset, protocol: str, seed: int, plan: TaskPlan) -> Split:
    """The split of one task x protocol x seed, shared by every model; capped per part as the preset says."""
    task = get_task(task_name)
    split = task.make_split(dataset, PROTOCOL_SPLITS[task_name][protocol], seed)
    if not plan.caps:
        return split
    y = task.labels(dataset)
    parts = {}
    for k, part in enumerate(("train", "validation", "test")):
        rng = np.random.default_rng([seed, k, 7919])
        parts[part] = _cap(getattr(split, part), y, plan.caps.get(part), rng)
    if split.optimistic:  # the paper's protocol validates on its test set: keep them the same rows
        parts["validation"] = parts["test"]
    return Split(split.name, parts["train"], parts["validation"], parts["test"], split.optimistic, split.held_out)


# ---------------------------------------------------------------------------------------------------------- runs
@dataclass
class Run:
    """One trained model, as read back from its folder."""

    task: str
    protocol: str
    model: str
    seed: int
    path: Path
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    y: np.ndarray | None = None
    scores: np.ndarray | None = None
    seconds: float = math.nan
    reused: bool = False


def run_dir(out: Path, task: str, protocol: str, model: str, seed: int) -> Path:
    return out / "runs" / task / protocol / model / f"seed{seed}"


def is_finished(path: Path) -> bool:
    return (path / "metrics.json").is_file() and (path / "test_scores.csv").is_file()


def split_digest(split: Split) -> str:
    """A short fingerprint of the rows of a split, so a reused run is known to have been trained on the same one."""
    digest = hashlib.sha256()
    for part in (split.train, split.validation, split.test):
        digest.update(np.asarray(part, dtype=np.int64).tobytes() + b"|")
    return digest.hexdigest()[:16]


def check_reused(run: Run, split: Split) -> None:
    info = run.path / "run.json"
    recorded = json.loads(info.read_text()).get("split_digest") if info.is_file() else None
    if recorded is not None and recorded != split_digest(split):
        raise ResgenomeError(f"{run.path}: was trained on other rows than this reproduction's split (data or preset "
                             "changed); use another --out")  # fmt: skip


def read_run(run: Run) -> Run:
    """Fill ``run`` from metrics.json, history.csv, test_scores.csv and run.json in its folder."""
    run.metrics = json.loads((run.path / "metrics.json").read_text())
    table = np.loadtxt(run.path / "test_scores.csv", delimiter=",", skiprows=1, ndmin=2)
    run.y, run.scores = table[:, 1].astype(np.int64), table[:, 2]
    run.history = []
    if (run.path / "history.csv").is_file():
        with open(run.path / "history.csv", newline="") as handle:
            run.history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    info = run.path / "run.json"
    if info.is_file():
        run.seconds = float(json.loads(info.read_text()).get("train_seconds", math.nan))
    return run


def _train_one(run: Run, dataset, split: Split, preset: Preset, progress: bool) -> None:
    plan = preset.tasks[run.task]
    task = get_task(run.task)
    cfg = TrainConfig(epochs=plan.epochs.get(run.model, 0), batch_size=plan.batch_size, patience=plan.patience,
                      seed=run.seed, device="auto", progress=progress)  # fmt: skip
    opts = RunOptions(model=run.model, split=split.name, seed=run.seed, preset=plan.widths, kmer=plan.kmer,
                      classical_params=dict(plan.classical_params.get(run.model, {})), train=cfg)  # fmt: skip
    lines: list[str] = []
    earlier = 0.0  # training time spent before an interruption, kept in the resumable state
    state = run.path / "train_state.pt"
    if state.is_file():
        earlier = float(torch.load(state, map_location="cpu", weights_only=True).get("seconds", 0.0))
    metrics = train_model(task.name, dataset, opts, run.path, split=split, resume=True, log=lines.append,
                          figures=False)  # fmt: skip
    with atomic_open(run.path / "train.log", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    write_json(run.path / "run.json", {"train_seconds": earlier + metrics["_seconds"], "preset": preset.name,
                                       "split_digest": split_digest(split),
                                       "run_options": asdict(opts), "resgenome": __version__})  # fmt: skip


# ---------------------------------------------------------------------------------------------------------- tables
def _kind(task: str, model: str) -> str:
    if model == RESIDUAL[task]:
        return "residual"
    return "cnn" if model in get_task(task).neural_models else "classical"


def result_row(run: Run) -> dict:
    """One row of results.csv: every metric of test and validation, training time and the overfitting gap."""
    m = run.metrics
    sizes = m.get("sizes", {})
    row: dict = {
        "task": run.task, "protocol": run.protocol, "split": m.get("split"), "model": run.model,
        "kind": _kind(run.task, run.model), "seed": run.seed, "optimistic": bool(m.get("optimistic")),
        "n_train": sizes.get("train"), "n_validation": sizes.get("validation"), "n_test": sizes.get("test"),
        "n_test_positive": m["test"].get("n_positive"), "threshold": m.get("threshold"),
    }  # fmt: skip
    for part in ("test", "validation"):
        values = m[part]
        for key in METRIC_KEYS:
            row[f"{part}_{key}"] = values.get(key)
        for key in ("tp", "fp", "tn", "fn"):
            row[f"{part}_{key}"] = values["confusion"][key]
        for key in ("accuracy", "precision", "recall", "f1"):
            row[f"{part}_{key}_at_0.5"] = values.get("at_0.5", {}).get(key)
    last = run.history[-1] if run.history else {}
    row.update({
        "train_seconds": run.seconds, "epochs_run": m.get("epochs_run"), "best_epoch": m.get("best_epoch"),
        "final_train_loss": last.get("train_loss"), "final_val_loss": last.get("val_loss"),
        "final_train_acc": last.get("train_acc"), "final_val_acc": last.get("val_acc"),
        "overfit_gap": (last["val_loss"] - last["train_loss"]) if last else None,
    })  # fmt: skip
    if run.task == "viral" and "duplicates_in_train" in m:
        row["test_duplicates_of_train"] = m["duplicates_in_train"]["test"]["exact"]
        row["test_rc_duplicates_of_train"] = m["duplicates_in_train"]["test"]["reverse_complement"]
    return row


def _mean_sd(values) -> tuple[float, float]:
    v = np.array([x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan


def summarise(runs: list[Run], n_boot: int = N_BOOT) -> list[dict]:
    """Mean ± sd per task x protocol x model, and the paired bootstrap interval of AUROC(residual) - AUROC(model).

    The AUROC difference is computed per seed on that seed's test set (the same rows for both models) and averaged
    over seeds; its 95% interval comes from resampling every seed's test rows at once (see
    :func:`~resgenome.metrics.pooled_paired_bootstrap_auroc_difference`).
    """
    by_key: dict[tuple, list[Run]] = {}
    for run in runs:
        by_key.setdefault((run.task, run.protocol, run.model), []).append(run)
    rows = []
    for (task, protocol, model), group in by_key.items():
        group = sorted(group, key=lambda r: r.seed)
        row: dict = {"task": task, "protocol": protocol, "split": group[0].metrics.get("split"), "model": model,
                     "kind": _kind(task, model), "n_seeds": len(group),
                     "optimistic": bool(group[0].metrics.get("optimistic"))}  # fmt: skip
        for key in SUMMARY_METRICS:
            row[f"{key}_mean"], row[f"{key}_sd"] = _mean_sd(r.metrics["test"].get(key) for r in group)
        gaps = [result_row(r)["overfit_gap"] for r in group]
        row["overfit_gap_mean"], row["overfit_gap_sd"] = _mean_sd(gaps)
        row["train_seconds_mean"], _ = _mean_sd(r.seconds for r in group)
        # neural runs whose best validation epoch was their last: still improving when the budget ran out
        row["best_at_last_epoch"] = sum(1 for r in group if r.history and not r.metrics.get("stopped_early")
                                        and r.metrics.get("best_epoch") == len(r.history))  # fmt: skip
        residual = RESIDUAL[task]
        row.update({"auroc_diff_vs": "", "auroc_diff": math.nan, "auroc_diff_low": math.nan,
                    "auroc_diff_high": math.nan, "auroc_diff_seeds": 0})  # fmt: skip
        if model != residual:
            ref = {r.seed: r for r in by_key.get((task, protocol, residual), [])}
            sets = []
            for r in group:
                if r.seed in ref and np.array_equal(ref[r.seed].y, r.y):
                    sets.append((r.y, ref[r.seed].scores, r.scores))
            if sets:
                ci = pooled_paired_bootstrap_auroc_difference(sets, n_boot=n_boot, seed=0)
                row.update({"auroc_diff_vs": residual, "auroc_diff": ci["diff"], "auroc_diff_low": ci["low"],
                            "auroc_diff_high": ci["high"], "auroc_diff_seeds": ci["n_sets"]})  # fmt: skip
        rows.append(row)
    order = {(t, p, m): (TASKS.index(t), PROTOCOLS.index(p), MODELS[t].index(m))
             for t in TASKS for p in PROTOCOLS for m in MODELS[t]}  # fmt: skip
    return sorted(rows, key=lambda r: order.get((r["task"], r["protocol"], r["model"]), (9, 9, 9)))


def _verdict(row: dict, name: str, residual: str) -> str:
    lo, hi, d = row["auroc_diff_low"], row["auroc_diff_high"], row["auroc_diff"]
    if math.isnan(d):
        return f"{residual} vs {name}: no paired comparison"
    ci = f"ΔAUROC {d:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}]"
    if lo > 0:
        return f"{residual} beat {name} ({ci})"
    if hi < 0:
        return f"{name} beat {residual} ({ci})"
    return f"{residual} vs {name}: no clear difference ({ci})"


def honest_reading(task: str, summary: list[dict]) -> list[str]:
    """Short sentences, the headline first: did the residual model beat each baseline under the grouped protocol (by
    the bootstrap interval of the AUROC difference), did the paper's and the honest protocols inflate the scores,
    and did the residual model overfit less than its CNN baseline."""
    rows = {(r["protocol"], r["model"]): r for r in summary if r["task"] == task}
    residual, cnn = RESIDUAL[task], CNN_BASELINE[task]
    out = []
    baselines = [r for (p, m), r in rows.items() if p == "grouped" and m != residual]
    if baselines and ("grouped", residual) in rows:
        seeds = rows[("grouped", residual)]["n_seeds"]
        beaten = [r["model"] for r in baselines if r["auroc_diff_low"] > 0]
        lost = [r["model"] for r in baselines if r["auroc_diff_high"] < 0]
        ties = [r["model"] for r in baselines if r["model"] not in beaten + lost]
        best = max(rows[("grouped", m)]["auprc_mean"] for (p, m) in rows if p == "grouped")
        leader = [m for (p, m), r in rows.items() if p == "grouped" and r["auprc_mean"] == best][0]
        headline = (f"Under the grouped protocol ({seeds} seed{'s' if seeds > 1 else ''}), {residual} beat "
                    + (", ".join(beaten) if beaten else "none of the baselines")
                    + (f", lost to {', '.join(lost)}" if lost else "")
                    + (f" and was not distinguishable from {', '.join(ties)}" if ties else "")
                    + f" on test AUROC. Best test AUPRC: {leader} ({best:.3f})"
                    + ("." if leader == residual else
                       f"; {residual} {rows[('grouped', residual)]['auprc_mean']:.3f}."))  # fmt: skip
        out.append(headline)
        out.extend(_verdict(r, r["model"], residual) for r in baselines)
    for protocol in ("paper", "honest"):
        diffs = []
        for model in MODELS[task]:
            a, b = rows.get((protocol, model)), rows.get(("grouped", model))
            if a and b and not math.isnan(a["auroc_mean"]) and not math.isnan(b["auroc_mean"]):
                diffs.append((model, a["auroc_mean"] - b["auroc_mean"]))
        if diffs:
            higher = sum(d > 0 for _, d in diffs)
            mean = float(np.mean([d for _, d in diffs]))
            if mean > 0.01 and higher > len(diffs) / 2:
                word = "inflated the scores"
            elif mean < -0.01 and higher < len(diffs) / 2:
                word = "gave lower scores"
            else:
                word = "did not clearly change the scores"
            text = (f"The {protocol} protocol {word} compared with the grouped one: test AUROC higher for {higher} of "
                    f"{len(diffs)} models, mean difference {mean:+.3f} ("
                    + ", ".join(f"{m} {d:+.3f}" for m, d in diffs) + ").")  # fmt: skip
            if protocol == "paper" and task == "superenhancer":
                text += (" Its test set also chose the epoch and the threshold, so its F1, precision and recall are "
                         "biased upwards whatever the AUROC does.")  # fmt: skip
            out.append(text)
    budget = []
    for model in (residual, cnn):
        runs = [r for (p, m), r in rows.items() if m == model]
        n_last, n_runs = sum(r["best_at_last_epoch"] for r in runs), sum(r["n_seeds"] for r in runs)
        if n_last:
            budget.append(f"{model} in {n_last} of {n_runs} runs")
    if budget:
        out.append("Still improving when the epoch budget ran out (best validation epoch = last epoch): "
                   + "; ".join(budget) + ". Those models are under-trained at this preset, so their comparison "
                   "with the fully fitted classical baselines is not yet a fair test; a larger budget (--preset "
                   "paper) may change it.")  # fmt: skip
    parts = []
    for p in PROTOCOLS:
        r, c = rows.get((p, residual)), rows.get((p, cnn))
        if r and c and not (math.isnan(r["overfit_gap_mean"]) or math.isnan(c["overfit_gap_mean"])):
            d = r["overfit_gap_mean"] - c["overfit_gap_mean"]
            who = "about equal" if abs(d) < 0.01 else f"{residual if d < 0 else cnn} less"
            parts.append(f"{p} {r['overfit_gap_mean']:+.3f} vs {c['overfit_gap_mean']:+.3f} ({who})")
    if parts:
        out.append(f"Overfitting gap (final validation loss − training loss), {residual} vs {cnn}: "
                   + "; ".join(parts)
                   + ". Short training budgets leave little room for overfitting to show.")  # fmt: skip
    return out


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def summary_text(summary: list[dict]) -> str:
    """The plain-text table printed at the end."""
    header = f"{'task':<14}{'protocol':<9}{'model':<12}{'seeds':>5}  {'AUROC':<14}{'AUPRC':<14}{'F1':<14}" \
             f"{'dAUROC res-model [95% CI]':<28}"  # fmt: skip
    lines = [header, "-" * len(header)]
    for r in summary:
        def ms(key):
            mean, sd = r[f"{key}_mean"], r[f"{key}_sd"]
            return _fmt(mean) + ("" if math.isnan(sd) else f" ± {sd:.3f}")

        diff = "" if math.isnan(r["auroc_diff"]) else \
            f"{r['auroc_diff']:+.3f} [{r['auroc_diff_low']:+.3f}, {r['auroc_diff_high']:+.3f}]"  # fmt: skip
        flag = "*" if r["optimistic"] else ""
        lines.append(f"{r['task']:<14}{r['protocol'] + flag:<9}{r['model']:<12}{r['n_seeds']:>5}  {ms('auroc'):<14}"
                     f"{ms('auprc'):<14}{ms('f1'):<14}{diff:<28}")  # fmt: skip
    if any(r["optimistic"] for r in summary):
        lines.append("* optimistic: the test set was also the validation set")
    return "\n".join(lines)


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (np.floating,)):
        return _clean(float(value))
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def write_table(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if _clean(v) is None else _clean(v) for k, v in row.items()})


# ---------------------------------------------------------------------------------------------------------- setup
def hardware() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    cuda = torch.cuda.is_available()
    return {
        "cpu": cpu or "unknown", "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "python": platform.python_version(), "platform": platform.platform(), "resgenome": __version__,
    }  # fmt: skip


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def estimate_seconds(task_name: str, dataset, splits: dict, preset: Preset, seeds: dict[str, int]) -> float:
    """Neural training time of the whole plan, from timing one small training batch of each neural model."""
    task = get_task(task_name)
    plan = preset.tasks[task_name]
    prep = task.fit_preprocessing(dataset, np.arange(min(len(dataset), 64)), {"model": MODELS[task_name][0]})
    # 32 rows: small enough for the paper's widths on a CPU, large enough that per-batch overheads do not dominate
    sample = task.neural_inputs(dataset.subset(np.arange(min(len(dataset), 32))), prep)
    xb = sample.X if sample.transform is None else sample.transform(sample.X)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    total = 0.0
    from .models import build_model

    for model_name in MODELS[task_name]:
        if model_name not in task.neural_models:
            continue
        model = build_model(model_name, task.model_config(model_name, prep, plan.widths)).to(device)
        optimizer = torch.optim.Adam(model.parameters())
        best = math.inf
        for _ in range(3):  # the first step pays for allocation
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(xb.to(device)), sample.y.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        per_row = best / len(sample)
        for protocol in PROTOCOLS:
            for split in splits[protocol][: seeds[protocol]]:
                rows = len(split.train) + len(split.validation) / 3  # a forward pass is about a third of a step
                total += per_row * rows * plan.epochs.get(model_name, 0)
    return total


# ---------------------------------------------------------------------------------------------------------- main
def reproduce(
    out: str | os.PathLike,
    preset: str = "cpu",
    seeds: int | None = None,
    task: str = "both",
    data_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
    progress: bool = True,
) -> dict:
    """Train every model of the chosen task(s) under every protocol and seed, then write the tables and the report.

    Parameters
    ----------
    out : output folder (created); rerunning with the same folder reuses finished runs.
    preset : ``smoke``, ``cpu`` or ``paper`` (see :data:`PRESETS`).
    seeds : seeds per protocol (default: the preset's).
    task : ``superenhancer``, ``viral`` or ``both``.
    data_dir : folder holding the data (default: ``$RESGENOME_DATA_DIR``, then the download cache).

    Returns
    -------
    dict with ``summary`` (rows of summary.csv), ``results`` (rows of results.csv), ``reading`` (task ->
    sentences), ``text`` (the plain-text table), ``trained`` / ``reused`` run counts, ``seconds`` and ``report``.
    """
    say = log or (lambda _message: None)
    if preset not in PRESETS:
        raise ResgenomeError(f"--preset {preset}: choose one of {', '.join(PRESETS)}")
    if task not in TASKS + ("both",):
        raise ResgenomeError(f"--task {task}: choose superenhancer, viral or both")
    if seeds is not None and seeds < 1:
        raise ResgenomeError("--seeds must be at least 1")
    chosen = PRESETS[preset]
    tasks = TASKS if task == "both" else (task,)
    out = check_writable_dir(out)
    _check_plan(out, chosen.name)
    started = time.perf_counter()
    load_start = _load_average()
    seeds_by_protocol = {p: chosen.seeds_for(p, seeds) for p in PROTOCOLS}

    datasets, setup_tasks, splits = {}, {}, {}
    for name in tasks:
        data_name, files = locate_data(name, data_dir)
        say(f"{name}: {data_name} ({', '.join(str(f) for f in files)})")
        datasets[name] = _load(name, files)
        splits[name] = {p: [make_split(name, datasets[name], p, s, chosen.tasks[name])
                            for s in range(seeds_by_protocol[p])] for p in PROTOCOLS}  # fmt: skip
        setup_tasks[name] = _describe_task(name, data_name, files, datasets[name], splits[name], chosen)

    estimate = None
    if preset == "paper":  # the one preset whose cost depends on the hardware by orders of magnitude
        estimate = sum(estimate_seconds(n, datasets[n], splits[n], chosen, seeds_by_protocol) for n in tasks)
        if not torch.cuda.is_available():
            say(f"warning: no CUDA device; the paper preset on this CPU needs about {estimate / 3600:.1f} h of "
                "neural training for the whole plan (estimated from one timed batch per model). Use --preset cpu "
                "for a CPU-sized run.")  # fmt: skip
        else:
            say(f"estimated neural training time for the whole plan: {estimate / 60:.0f} min")

    # seed 0 of every protocol first (grouped first), then the further seeds: an interrupted reproduction already
    # holds one complete comparison, which `--seeds 1` on the same folder turns into a report
    order = ("grouped", "paper", "honest")
    limits = _thread_limits(chosen.threads)
    plan = sorted(((n, p, m, s) for p in order for s in range(seeds_by_protocol[p]) for n in tasks for m in MODELS[n]),
                  key=lambda r: (r[3], order.index(r[1]), tasks.index(r[0])))  # fmt: skip
    runs: list[Run] = []
    trained = reused = 0
    bar = _bar(len(plan), progress)
    try:
        for name, protocol, model, seed in plan:
            run = Run(name, protocol, model, seed, run_dir(out, name, protocol, model, seed))
            if bar is not None:
                bar.set_postfix_str(f"{name}/{protocol}/{model}/seed{seed}")
            if is_finished(run.path):
                check_reused(run, splits[name][protocol][seed])
                run.reused = True
                reused += 1
            else:
                t0 = time.perf_counter()
                _train_one(run, datasets[name], splits[name][protocol][seed], chosen, progress)
                trained += 1
                say(f"{name} {protocol} {model} seed {seed}: trained in {time.perf_counter() - t0:.1f} s")
            runs.append(read_run(run))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        limits.restore()

    results = [result_row(r) for r in runs]
    summary = summarise(runs)
    reading = {name: honest_reading(name, summary) for name in tasks}
    for name in tasks:
        cap = chosen.tasks[name].caps.get("train")
        if cap and cap[1] >= _ALL:
            reading[name].append("The training part keeps every positive but only some negatives, so it has more "
                                 "positives than validation: its loss is higher for that reason alone, and the "
                                 "overfitting gap reads lower than it would on balanced parts.")  # fmt: skip
    write_table(out / "results.csv", results)
    with atomic_open(out / "results.json", "w") as handle:
        json.dump([{k: _clean(v) for k, v in row.items()} for row in results], handle, indent=1)
        handle.write("\n")
    write_table(out / "summary.csv", summary)
    seconds = time.perf_counter() - started
    setup = {
        "preset": chosen.name, "preset_why": chosen.why, "seeds": seeds_by_protocol, "tasks": setup_tasks,
        "hardware": hardware(), "load_average_start": load_start, "load_average_end": _load_average(),
        "wall_seconds": seconds, "trained": trained, "reused": reused, "estimated_neural_seconds": estimate,
        "train_seconds_total": float(np.nansum([r.seconds for r in runs])),
        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"resgenome reproduce --out {out} --preset {chosen.name} --task {task}"
                   + (f" --seeds {seeds}" if seeds is not None else ""),
        "bootstrap": f"{N_BOOT} paired replicates; AUROC difference = mean over seeds of the per-seed difference on "
                     "that seed's test set; 95% interval = percentiles of that mean when every seed's test rows are "
                     "resampled together (test-sampling uncertainty given the trained models; the seed-to-seed sd is "
                     "in the table beside it).",
    }  # fmt: skip
    from .report.html import write_report

    report = write_report(out / "report.html", setup=setup, runs=runs, summary=summary, reading=reading,
                          results=results)  # fmt: skip
    text = summary_text(summary)
    say(f"{trained} runs trained, {reused} reused; {seconds:.0f} s; wrote {out}/results.csv, results.json, "
        f"summary.csv and {report}")  # fmt: skip
    return {"summary": summary, "results": results, "reading": reading, "text": text, "trained": trained,
            "reused": reused, "seconds": seconds, "report": report, "setup": setup}  # fmt: skip


class _thread_limits:
    """Limit torch and OpenMP/BLAS threads until :meth:`restore` (no-op for None)."""

    def __init__(self, threads: int | None):
        self._torch = torch.get_num_threads()
        self._limiter = None
        if threads:
            from threadpoolctl import threadpool_limits

            torch.set_num_threads(threads)
            self._limiter = threadpool_limits(limits=threads)

    def restore(self) -> None:
        torch.set_num_threads(self._torch)
        if self._limiter is not None:
            self._limiter.restore_original_limits()


def _check_plan(out: Path, preset: str) -> None:
    """Refuse to mix presets in one folder: a resumed run must be the same experiment."""
    path = out / "reproduce.json"
    if path.is_file():
        previous = json.loads(path.read_text()).get("preset")
        if previous != preset:
            raise ResgenomeError(f"{out}: holds a reproduction with --preset {previous}; use another --out")
    else:
        write_json(path, {"preset": preset, "resgenome": __version__})


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="reproduce", unit="run", disable=None, dynamic_ncols=True)


def _describe_task(name: str, data_name: str, files: list[Path], dataset, splits: dict, preset: Preset) -> dict:
    task = get_task(name)
    y = task.labels(dataset)
    plan = preset.tasks[name]
    parts = []
    for protocol in PROTOCOLS:
        split = splits[protocol][0]
        entry = {"protocol": protocol, "split": split.name, "optimistic": split.optimistic,
                 "text": PROTOCOL_TEXT[name][protocol], "held_out": split.held_out}  # fmt: skip
        for part in ("train", "validation", "test"):
            idx = getattr(split, part)
            entry[part] = {"n": int(len(idx)), "positive": int(y[idx].sum())}
        parts.append(entry)
    from .models import build_model, count_parameters

    prep = {"features": list(getattr(dataset, "features", []))} if name == "superenhancer" else \
        {"seq_length": dataset.length}  # fmt: skip
    models = []
    for model in MODELS[name]:
        entry = {"model": model, "kind": _kind(name, model)}
        if model in task.neural_models:
            config = task.model_config(model, prep, plan.widths)
            entry["config"] = {k: v for k, v in config.items() if k not in ("n_features", "seq_length")}
            entry["parameters"] = count_parameters(build_model(model, config))
            entry["epochs"] = plan.epochs.get(model)
        else:
            entry["config"] = dict(plan.classical_params.get(model, {}))
            if name == "viral":
                entry["config"]["k"] = plan.kmer
        models.append(entry)
    return {
        "data": data_name, "files": [{"path": str(f), "bytes": f.stat().st_size} for f in files],
        "rows": int(len(y)), "positive": int(y.sum()), "splits": parts, "models": models,
        "patience": plan.patience, "batch_size": plan.batch_size, "widths": plan.widths,
        "caps": {k: {"rows": v[0], "min_positive": v[1] if v[1] < _ALL else "all"} for k, v in plan.caps.items()},
        "positive_label": task.positive,
    }  # fmt: skip
