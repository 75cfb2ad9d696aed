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
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from . import __version__
from .comparison import (
    MODELS,
    N_BOOT,
    PROTOCOLS,
    STACKS,
    TASKS,
    Run,
    clean,
    honest_reading,
    model_kind,
    protocols_of,
    result_row,
    stack_name,
    summarise,
    summary_text,
    write_table,
)
from .data import registry
from .data.splits import Split
from .errors import ResgenomeError
from .io import atomic_open, check_writable_dir
from .machine import load_average, probe
from .models import build_model, count_parameters, model_spec
from .pipeline import RunOptions, read_scores, stack_runs, train_model, write_json
from .predictor import pick_device
from .report.html import write_report
from .tasks import ALL, TaskPreset, get_task
from .tasks.viral import PRESETS as VIRAL_PRESETS
from .trainer import TrainConfig, train_step

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
#: default data: (development set found in a data directory, downloadable full set)
DEFAULT_DATA = {"superenhancer": ("mesc-khan2019-dev", "mesc-khan2019"), "viral": ("viral-devset", "viraminer")}


# ---------------------------------------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    """A named budget: seeds per protocol and threads; what it means per task (widths, epochs, split caps) is the
    row of the same name in each task's preset table (:attr:`resgenome.tasks.Task.presets`)."""

    name: str
    seeds: int  # seeds of the grouped protocol (the one the conclusions rest on)
    side_seeds: int  # seeds of the paper and honest protocols
    why: str
    threads: int | None = None  # CPU threads for torch and OpenMP; None = their defaults

    @property
    def tasks(self) -> dict[str, TaskPreset]:
        """task -> its :class:`~resgenome.tasks.TaskPreset` at this preset."""
        return {name: get_task(name).presets[self.name] for name in TASKS}

    def seeds_for(self, protocol: str, override: int | None = None) -> int:
        if override is not None:
            return override
        return self.seeds if protocol == "grouped" else self.side_seeds


_RESVG_W = {name: VIRAL_PRESETS[name].widths["resvg"]["width"] for name in ("cpu", "paper")}
PRESETS = {
    "smoke": Preset(
        name="smoke", seeds=1, side_seeds=1,
        why="for tests and CI: tiny widths, 1-2 epochs, a few hundred rows per split part (with extra positives), "
        "1 seed, 4-mers, 10-tree forests, one thread. Its numbers say nothing about the models.",
        threads=1,  # tiny models gain nothing from threads, and on a shared CPU idle threads spin at every barrier
    ),  # fmt: skip
    "cpu": Preset(
        name="cpu", seeds=3, side_seeds=1,
        why="about 11 minutes on 2 otherwise idle CPU cores (51 runs: the paper models and baselines, and the best "
        "variant of each task under the grouped protocol). ResSEN at the paper's width (~25 s per epoch on the "
        "full table, so at most 3 epochs, with early stopping on validation AUPRC: it is still improving then, so it "
        "is under-trained relative to the cheap baselines); ressen-additive-log1p for as many; DeepSEN up to 20 epochs; "
        "ResVG at the cpu width "
        f"and resvg-rcaug (W={_RESVG_W['cpu']} against the paper's W={_RESVG_W['paper']}, which needs a GPU) and the "
        "cpu-width ViraMiner for at most 3 epochs each, on a training part "
        "cut to 4,000 sequences (every viral one kept, non-viral ones sampled) and a validation part cut to 4,000 "
        "(stratified: held-out experiments can be half the data, and it is scored every epoch); test untouched; "
        "3 seeds for the grouped protocol, 1 for the paper and honest ones; 6-mer forests of 100 trees; the "
        "super-enhancer classical models at their defaults (300 trees / 300 boosting rounds).",
    ),  # fmt: skip
    "paper": Preset(
        name="paper", seeds=3, side_seeds=3,
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


def make_split(task_name: str, dataset, protocol: str, seed: int, plan: TaskPreset) -> Split:
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
    run.y, run.scores = read_scores(run.path / "test_scores.csv")
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
                      selection_metric=task.selection_metric, seed=run.seed, device="auto",
                      progress=progress)  # fmt: skip
    opts = RunOptions(model=run.model, split=split.name, seed=run.seed, preset=preset.name, kmer=plan.kmer,
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


# ---------------------------------------------------------------------------------------------------------- setup
def estimate_seconds(task_name: str, dataset, splits: dict, preset: Preset, seeds: dict[str, int]) -> float:
    """Neural training time of the whole plan, from timing one small training batch of each neural model."""
    task = get_task(task_name)
    plan = preset.tasks[task_name]
    prep = task.fit_preprocessing(dataset, np.arange(min(len(dataset), 64)), {"model": MODELS[task_name][0]})
    # 32 rows: small enough for the paper's widths on a CPU, large enough that per-batch overheads do not dominate
    sample = task.neural_inputs(dataset.subset(np.arange(min(len(dataset), 32))), prep)
    xb = sample.X if sample.transform is None else sample.transform(sample.X)
    device = pick_device("auto")
    total = 0.0
    for model_name in MODELS[task_name]:
        if model_name not in task.neural_models:
            continue
        model = build_model(model_name, task.model_config(model_name, prep, preset.name)).to(device)
        optimizer = torch.optim.Adam(model.parameters())
        best = math.inf
        for _ in range(3):  # the first step pays for allocation
            t0 = time.perf_counter()
            train_step(model, optimizer, xb.to(device), sample.y.to(device))
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        per_row = best / len(sample)
        for protocol in protocols_of(task_name, model_name):
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
    chosen, tasks = _check_arguments(preset, task, seeds)
    out = check_writable_dir(out)
    _check_plan(out, chosen.name)
    started = time.perf_counter()
    load_start = load_average()
    seeds_by_protocol = {p: chosen.seeds_for(p, seeds) for p in PROTOCOLS}
    grid = _Grid.prepare(tasks, chosen, seeds_by_protocol, data_dir, say)
    estimate = _estimate(grid, chosen, seeds_by_protocol, say) if chosen.name == "paper" else None
    runs, trained, reused = _run_grid(out, grid, chosen, seeds_by_protocol, progress, say)
    runs += _build_stacks(out, grid, seeds_by_protocol["grouped"], say)

    results = [result_row(r) for r in runs]
    summary = summarise(runs)
    reading = _reading(tasks, summary, chosen)
    _write_tables(out, results, summary)
    seconds = time.perf_counter() - started
    setup = {
        "preset": chosen.name, "preset_why": chosen.why, "seeds": seeds_by_protocol, "tasks": grid.described,
        "hardware": probe(pick_device("auto")), "load_average_start": load_start, "load_average_end": load_average(),
        "wall_seconds": seconds, "trained": trained, "reused": reused, "estimated_neural_seconds": estimate,
        "train_seconds_total": float(np.nansum([r.seconds for r in runs])),
        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"resgenome reproduce --out {out} --preset {chosen.name} --task {task}"
                   + (f" --seeds {seeds}" if seeds is not None else ""),
        "bootstrap": BOOTSTRAP_TEXT,
    }  # fmt: skip
    report = write_report(out / "report.html", setup=setup, runs=runs, summary=summary, reading=reading,
                          results=results)  # fmt: skip
    text = summary_text(summary)
    say(f"{trained} runs trained, {reused} reused; {seconds:.0f} s; wrote {out}/results.csv, results.json, "
        f"summary.csv and {report}")  # fmt: skip
    return {"summary": summary, "results": results, "reading": reading, "text": text, "trained": trained,
            "reused": reused, "seconds": seconds, "report": report, "setup": setup}  # fmt: skip


BOOTSTRAP_TEXT = (
    f"{N_BOOT} paired replicates; AUROC difference = mean over seeds of the per-seed difference on that seed's test "
    "set; 95% interval = percentiles of that mean when every seed's test rows are resampled together (test-sampling "
    "uncertainty given the trained models; the seed-to-seed sd is in the table beside it)."
)


def _reading(tasks: tuple[str, ...], summary: list[dict], preset: Preset) -> dict[str, list[str]]:
    """task -> the honest-reading sentences, plus a caveat where the training part was cut unevenly."""
    reading = {name: honest_reading(name, summary) for name in tasks}
    for name in tasks:
        cap = preset.tasks[name].caps.get("train")
        if cap and cap[1] >= ALL:
            reading[name].append("The training part keeps every positive but only some negatives, so it has more "
                                 "positives than validation: its loss is higher for that reason alone, and the "
                                 "overfitting gap reads lower than it would on balanced parts.")  # fmt: skip
    return reading


def _check_arguments(preset: str, task: str, seeds: int | None) -> tuple[Preset, tuple[str, ...]]:
    """The preset and the tasks asked for; a one-line error for an unknown preset or task or too few seeds."""
    if preset not in PRESETS:
        raise ResgenomeError(f"--preset {preset}: choose one of {', '.join(PRESETS)}")
    if task not in TASKS + ("both",):
        raise ResgenomeError(f"--task {task}: choose superenhancer, viral or both")
    if seeds is not None and seeds < 1:
        raise ResgenomeError("--seeds must be at least 1")
    return PRESETS[preset], TASKS if task == "both" else (task,)


@dataclass
class _Grid:
    """The data of a reproduction: per task its dataset, its splits (protocol -> one per seed) and its description
    for the report."""

    tasks: tuple[str, ...]
    datasets: dict
    splits: dict
    described: dict

    @classmethod
    def prepare(cls, tasks: tuple[str, ...], preset: Preset, seeds: dict[str, int], data_dir, say) -> "_Grid":
        datasets, splits, described = {}, {}, {}
        for name in tasks:
            data_name, files = locate_data(name, data_dir)
            say(f"{name}: {data_name} ({', '.join(str(f) for f in files)})")
            datasets[name] = _load(name, files)
            splits[name] = {p: [make_split(name, datasets[name], p, s, preset.tasks[name]) for s in range(seeds[p])]
                            for p in PROTOCOLS}  # fmt: skip
            described[name] = _describe_task(name, data_name, files, datasets[name], splits[name], preset)
        return cls(tasks, datasets, splits, described)


def _estimate(grid: _Grid, preset: Preset, seeds: dict[str, int], say) -> float:
    """The paper preset's neural training time, said aloud: the one preset whose cost depends on the hardware by
    orders of magnitude."""
    estimate = sum(estimate_seconds(n, grid.datasets[n], grid.splits[n], preset, seeds) for n in grid.tasks)
    if not torch.cuda.is_available():
        say(f"warning: no CUDA device; the paper preset on this CPU needs about {estimate / 3600:.1f} h of "
            "neural training for the whole plan (estimated from one timed batch per model). Use --preset cpu "
            "for a CPU-sized run.")  # fmt: skip
    else:
        say(f"estimated neural training time for the whole plan: {estimate / 60:.0f} min")
    return estimate


def _run_grid(out: Path, grid: _Grid, preset: Preset, seeds: dict[str, int], progress: bool,
              say) -> tuple[list[Run], int, int]:  # fmt: skip
    """Train (or reuse) every run of the plan; returns the runs read back from disk and the trained / reused counts.

    Seed 0 of every protocol first (grouped first), then the further seeds: an interrupted reproduction already
    holds one complete comparison, which ``--seeds 1`` on the same folder turns into a report.
    """
    order, tasks = ("grouped", "paper", "honest"), grid.tasks
    limits = _thread_limits(preset.threads)
    plan = sorted(((n, p, m, s) for p in order for s in range(seeds[p]) for n in tasks for m in MODELS[n]
                   if p in protocols_of(n, m)),
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
                check_reused(run, grid.splits[name][protocol][seed])
                run.reused = True
                reused += 1
            else:
                t0 = time.perf_counter()
                _train_one(run, grid.datasets[name], grid.splits[name][protocol][seed], preset, progress)
                trained += 1
                say(f"{name} {protocol} {model} seed {seed}: trained in {time.perf_counter() - t0:.1f} s")
            runs.append(read_run(run))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        limits.restore()
    return runs, trained, reused


def _build_stacks(out: Path, grid: _Grid, seeds: int, say) -> list[Run]:
    """The stacked model of each task that has one (:data:`~resgenome.comparison.STACKS`), per grouped seed, from
    that seed's finished member runs; built once (a finished stack folder is reused like a trained run)."""
    runs = []
    for name in grid.tasks:
        if name not in STACKS:
            continue
        model = stack_name(STACKS[name])
        for seed in range(seeds):
            run = Run(name, "grouped", model, seed, run_dir(out, name, "grouped", model, seed))
            split = grid.splits[name]["grouped"][seed]
            if is_finished(run.path):
                check_reused(run, split)
                run.reused = True
            else:
                members = [(run_dir(out, name, "grouped", m.removesuffix("@both"), seed), m.endswith("@both"))
                           for m in STACKS[name]]  # fmt: skip
                info = {"task": name, "model": model, "split": split.name, "optimistic": split.optimistic,
                        "seed": seed, "sizes": split.sizes(), "held_out": split.held_out}  # fmt: skip
                stack_runs(members, run.path, dataset=grid.datasets[name], split=split, info=info)
                write_json(run.path / "run.json", {"train_seconds": 0.0, "split_digest": split_digest(split),
                                                   "resgenome": __version__})  # fmt: skip
                say(f"{name} grouped {model} seed {seed}: stacked on validation")
            runs.append(read_run(run))
    return runs


def _write_tables(out: Path, results: list[dict], summary: list[dict]) -> None:
    """results.csv, results.json and summary.csv."""
    write_table(out / "results.csv", results)
    with atomic_open(out / "results.json", "w") as handle:
        json.dump([{k: clean(v) for k, v in row.items()} for row in results], handle, indent=1)
        handle.write("\n")
    write_table(out / "summary.csv", summary)


class _thread_limits:
    """Limit torch and OpenMP/BLAS threads until :meth:`restore` (no-op for None)."""

    def __init__(self, threads: int | None):
        self._torch = torch.get_num_threads()
        self._limiter = None
        if threads:
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
    prep = {"features": list(getattr(dataset, "features", []))} if name == "superenhancer" else \
        {"seq_length": dataset.length}  # fmt: skip
    models = []
    for model in MODELS[name]:
        entry = {"model": model, "kind": model_kind(name, model), "protocols": list(protocols_of(name, model))}
        if model in task.neural_models:
            config = task.model_config(model, prep, preset.name)
            entry["config"] = {k: v for k, v in config.items() if k not in ("n_features", "seq_length")}
            entry["config"].update(model_spec(model).recipe)  # a named variant's training / preprocessing choices
            entry["parameters"] = count_parameters(build_model(model, config))
            entry["epochs"] = plan.epochs.get(model)
        else:
            entry["config"] = dict(plan.classical_params.get(model, {}))
            if name == "viral":
                entry["config"]["k"] = plan.kmer
        models.append(entry)
    if name in STACKS:
        models.append({"model": stack_name(STACKS[name]), "kind": "stack", "protocols": ["grouped"],
                       "config": {"members": list(STACKS[name]), "stacker": "logistic regression on the members' "
                                  "logits, fitted on the validation rows"}})  # fmt: skip
    return {
        "data": data_name, "files": [{"path": str(f), "bytes": f.stat().st_size} for f in files],
        "rows": int(len(y)), "positive": int(y.sum()), "splits": parts, "models": models,
        "patience": plan.patience, "batch_size": plan.batch_size, "widths": preset.name,
        "caps": {k: {"rows": v[0], "min_positive": v[1] if v[1] < ALL else "all"} for k, v in plan.caps.items()},
        "positive_label": task.positive,
    }  # fmt: skip
