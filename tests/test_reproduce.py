"""`resgenome reproduce --preset smoke` end to end: tables, the self-contained report, resuming, errors."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import re
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from resgenome.cli import main
from resgenome.comparison import STACKS, VARIANT, protocols_of, shown_models, stack_name
from resgenome.data.splits import group_split
from resgenome.reproduce import MODELS, PROTOCOLS, PRESETS, _cap, make_split, reproduce
from resgenome.tasks import TaskPreset
from resgenome.report.html import SECTIONS

from .conftest import write_se_table

pytestmark = pytest.mark.slow

HAS_VIRAL = importlib.util.find_spec("resgenome.tasks.viral") is not None
TASKS = ("superenhancer", "viral") if HAS_VIRAL else ("superenhancer",)
#: per task: ROC/PR, by-protocol, confusion and overfitting figures, plus one training figure per neural model
FIGURES_PER_TASK = 4 + 2


def _write_viral(prefix: Path, n: int = 1200, seed: int = 0) -> None:
    """ViraMiner-format PREFIX_{train,validation,test}.csv: 4 experiments, viral rows rich in G and C."""
    rng = np.random.default_rng(seed)
    experiments = ["2014_alpha", "2014_beta", "2015_gamma", "2016_delta"]
    rows = []
    for i in range(n):
        viral = rng.random() < 0.12
        p = [0.2, 0.3, 0.3, 0.2] if viral else [0.3, 0.2, 0.2, 0.3]
        seq = "".join(rng.choice(list("ACGT"), 300, p=p))
        rows.append(f"seq{i}_{experiments[i % 4]},{seq},{int(viral)}")
    cut = [0, int(0.8 * n), int(0.9 * n), n]
    for k, part in enumerate(("train", "validation", "test")):
        Path(f"{prefix}_{part}.csv").write_text("\n".join(rows[cut[k] : cut[k + 1]]) + "\n")


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    """The real development data when RESGENOME_DATA_DIR holds it, else small synthetic files in its layout."""
    real = os.environ.get("RESGENOME_DATA_DIR")
    if real and (Path(real) / "superenhancers" / "mesc_khan2019_dev.csv").is_file():
        return Path(real)
    folder = tmp_path_factory.mktemp("data")
    (folder / "superenhancers").mkdir()
    write_se_table(folder / "superenhancers" / "mesc_khan2019_dev.csv", n=1500, n_chrom=10)
    (folder / "viral").mkdir()
    _write_viral(folder / "viral" / "devset")
    return folder


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, data_folder):
    out = tmp_path_factory.mktemp("repro") / "out"
    task = "both" if HAS_VIRAL else "superenhancer"
    started = time.perf_counter()
    summary = reproduce(out, preset="smoke", task=task, data_dir=data_folder, log=None, progress=False)
    return out, summary, time.perf_counter() - started


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_one_result_row_per_task_protocol_model_seed(smoke):
    out, summary, _ = smoke
    rows = _read_csv(out / "results.csv")
    seeds = PRESETS["smoke"].seeds
    plan = {(t, p, m, str(s)) for t in TASKS for m in shown_models(t) for p in protocols_of(t, m) for s in range(seeds)}
    assert len(rows) == len(plan) and {(r["task"], r["protocol"], r["model"], r["seed"]) for r in rows} == plan
    # the best variant of each task is trained under the grouped protocol, beside the paper model
    assert {(r["task"], r["protocol"]) for r in rows if r["model"] in VARIANT.values()} == {
        (t, "grouped") for t in TASKS}  # fmt: skip
    # a stack is built from its members' grouped runs of the same seed, fitted on validation, nothing retrained
    for task in set(STACKS) & set(TASKS):
        stacked = json.loads((out / "runs" / task / "grouped" / stack_name(STACKS[task]) / "seed0" / "metrics.json")
                             .read_text())  # fmt: skip
        assert [m["both_strands"] for m in stacked["members"]] == [m.endswith("@both") for m in STACKS[task]]
        assert [Path(m["run"]).parent.name for m in stacked["members"]] == [m.removesuffix("@both") for m in STACKS[task]]
        assert len(stacked["weights"]) == len(STACKS[task]) and stacked["split"] == "experiment"
        assert any(r["model"] == stack_name(STACKS[task]) and r["kind"] == "stack" for r in rows)
    first = rows[0]
    for column in ("test_auroc", "test_auprc", "validation_auroc", "train_seconds", "best_epoch", "overfit_gap",
                   "final_train_loss", "final_val_loss", "test_tp", "threshold"):  # fmt: skip
        assert column in first
    assert all(float(r["test_auroc"]) >= 0 for r in rows)
    assert len(summary["results"]) == len(rows)
    assert (out / "results.json").is_file()


def test_same_split_for_every_model_of_a_protocol(smoke):
    out, _, _ = smoke
    rows = _read_csv(out / "results.csv")
    for task in TASKS:
        for protocol in PROTOCOLS:
            sizes = {(r["n_train"], r["n_validation"], r["n_test"], r["n_test_positive"]) for r in rows
                     if r["task"] == task and r["protocol"] == protocol}  # fmt: skip
            assert len(sizes) == 1, (task, protocol, sizes)
        labels = [np.loadtxt(p, delimiter=",", skiprows=1)[:, 1]
                  for p in sorted((out / "runs" / task / "grouped").glob("*/seed0/test_scores.csv"))]  # fmt: skip
        assert len(labels) == len(shown_models(task)) and all(np.array_equal(labels[0], y) for y in labels)


def test_summary_has_the_paired_bootstrap_interval(smoke):
    out, _, _ = smoke
    rows = _read_csv(out / "summary.csv")
    for column in ("auroc_mean", "auroc_sd", "auprc_mean", "f1_mean", "precision_mean", "recall_mean",
                   "accuracy_mean", "auroc_diff_vs", "auroc_diff", "auroc_diff_low", "auroc_diff_high"):  # fmt: skip
        assert column in rows[0]
    baselines = [r for r in rows if r["kind"] != "residual"]
    assert baselines and all(r["auroc_diff_vs"] in ("ressen", "resvg") for r in baselines)
    for r in baselines:
        low, diff, high = float(r["auroc_diff_low"]), float(r["auroc_diff"]), float(r["auroc_diff_high"])
        assert low <= high and not math.isnan(diff)


def test_report_is_one_self_contained_file_with_every_section(smoke):
    out, summary, _ = smoke
    page = (out / "report.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'id="{section}"' in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "<script" not in page
    images = page.count('<img src="data:image/png;base64,')
    assert images >= FIGURES_PER_TASK * len(TASKS)
    assert "Sabba" in page and "ECE before" in page  # the calibration section's table
    if HAS_VIRAL:
        for published in ("93.64%", "90%", "0.923", "0.879", "Tampuu"):
            assert published in page
    for sentences in summary["reading"].values():
        assert sentences and "grouped protocol" in sentences[0]


def test_rerun_skips_finished_runs_and_gives_identical_tables(smoke, data_folder, capsys):
    out, _, first_seconds = smoke
    before = {name: (out / name).read_bytes() for name in ("results.csv", "summary.csv", "results.json")}
    trained = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("model.pt")}
    started = time.perf_counter()
    code = main(["reproduce", "--out", str(out), "--preset", "smoke", "--task", "both" if HAS_VIRAL else
                 "superenhancer", "--data-dir", str(data_folder), "--quiet"])  # fmt: skip
    seconds = time.perf_counter() - started
    assert code == 0
    printed = capsys.readouterr().out
    assert "AUROC" in printed and "report:" in printed
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("model.pt")} == trained  # nothing retrained
    assert seconds < first_seconds  # tables and report only (the machine may be shared: no tighter bound)
    for name, content in before.items():
        assert (out / name).read_bytes() == content, name


def test_a_folder_holds_one_preset(smoke, capsys):
    out, _, _ = smoke
    assert main(["reproduce", "--out", str(out), "--preset", "cpu"]) != 0
    assert "--preset smoke" in capsys.readouterr().err


def test_missing_data_says_how_to_fetch_it(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["reproduce", "--out", str(tmp_path / "out"), "--preset", "smoke", "--task", "superenhancer",
                 "--data-dir", str(empty)])  # fmt: skip
    assert code != 0
    assert "resgenome data fetch mesc-khan2019" in capsys.readouterr().err


def test_capping_keeps_grouped_parts_apart_and_keeps_positives():
    rng = np.random.default_rng(0)
    groups = np.array([f"chr{i % 12}" for i in range(3000)])
    y = (rng.random(3000) < 0.05).astype(int)
    split = group_split(groups, y, 0, name="chromosome")
    idx = _cap(split.train, y, (300, 40), np.random.default_rng(1))
    assert len(idx) == 300 and set(idx) <= set(split.train) and y[idx].sum() >= 40
    assert _cap(split.test, y, (10**6, 1), np.random.default_rng(1)) is split.test  # small parts stay whole

    table = SimpleNamespace(chrom=groups, y=y)  # all the super-enhancer split reads of a table
    plan = TaskPreset(patience=1, batch_size=8, caps={"train": (200, 20), "test": (100, 10)})
    capped = make_split("superenhancer", table, "grouped", 0, plan)
    assert len(capped.train) == 200 and y[capped.train].sum() >= 20 and len(capped.test) <= 100
    parts = [set(groups[getattr(capped, p)]) for p in ("train", "validation", "test")]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    paper = make_split("superenhancer", table, "paper", 0, plan)
    assert np.array_equal(paper.validation, paper.test)  # the paper's protocol validates on its test rows


def test_a_reused_run_must_have_been_trained_on_the_same_split(tmp_path):
    from resgenome.data.splits import Split
    from resgenome.errors import ResgenomeError
    from resgenome.pipeline import write_json
    from resgenome.reproduce import Run, check_reused, split_digest

    split = Split("random", np.arange(0, 8), np.arange(8, 9), np.arange(9, 10))
    other = Split("random", np.arange(1, 9), np.arange(0, 1), np.arange(9, 10))
    run = Run("superenhancer", "honest", "rf", 0, tmp_path)
    write_json(tmp_path / "run.json", {"split_digest": split_digest(split)})
    check_reused(run, split)
    with pytest.raises(ResgenomeError, match="other rows"):
        check_reused(run, other)


def test_time_estimate_from_one_batch(data_folder):
    from resgenome.reproduce import _load, estimate_seconds, locate_data

    name, files = locate_data("superenhancer", data_folder)
    table = _load("superenhancer", files)
    preset = PRESETS["smoke"]
    seeds = {p: 1 for p in PROTOCOLS}
    splits = {p: [make_split("superenhancer", table, p, 0, preset.tasks["superenhancer"])] for p in PROTOCOLS}
    seconds = estimate_seconds("superenhancer", table, splits, preset, seeds)
    assert 0 < seconds < 600
