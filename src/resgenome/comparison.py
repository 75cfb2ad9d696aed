"""Comparing trained models: per-run result rows, mean ± sd over seeds, paired bootstrap intervals, verdict text.

Pure functions of the runs read back from disk (:class:`Run`); ``resgenome reproduce`` (:mod:`resgenome.reproduce`)
trains them, and the report (:mod:`resgenome.report.html`) shows what is computed here.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from .io import atomic_open
from .metrics import METRIC_KEYS, pooled_paired_bootstrap_auroc_difference
from .tasks import get_task

TASKS = ("superenhancer", "viral")
#: the three protocols, from the paper's own to the grouped one the conclusions rest on (see resgenome.reproduce)
PROTOCOLS = ("paper", "honest", "grouped")
#: the models compared per task, in table order; the residual model of each task and its CNN baseline
MODELS = {
    "superenhancer": ("ressen", "ressen-additive-log1p", "deepsen", "rf", "logreg", "hgb"),
    "viral": ("resvg", "resvg-rcaug", "viraminer", "kmer-rf", "kmer-logreg"),
}
RESIDUAL = {"superenhancer": "ressen", "viral": "resvg"}
CNN_BASELINE = {"superenhancer": "deepsen", "viral": "viraminer"}
#: the networks beyond the paper of each task (recipe variants, resgenome.models.RECIPE_VARIANTS), chosen on
#: validation (benchmarks/results/variants.md). Trained under the grouped protocol only, the one a user's data is in.
BEYOND_PAPER = {"superenhancer": ("ressen-additive-log1p",), "viral": ("resvg-rcaug",)}
#: stacked models: the members' logits joined by a logistic regression fitted on the validation rows
#: (resgenome.pipeline.stack_runs), built from the grouped runs of one seed; nothing is trained but the stacker.
#: A member ending in "@both" is scored on both strands (each sequence averaged with its reverse complement).
STACKS = {"viral": ("resvg@both", "resvg-rcaug@both", "kmer-logreg@both")}


def stack_name(members) -> str:
    return "stack(" + "+".join(members) + ")"


#: the best model beyond the paper of each task, chosen on validation: its verdicts come after the paper model's
VARIANT = {"superenhancer": "ressen-additive-log1p", "viral": stack_name(STACKS["viral"])}
#: the protocols the models beyond the paper are trained under (the paper models and baselines: all three)
VARIANT_PROTOCOLS = ("grouped",)


def shown_models(task: str) -> tuple[str, ...]:
    """The models of a task in table order: the trained ones, then its stack."""
    return MODELS[task] + ((stack_name(STACKS[task]),) if task in STACKS else ())


def protocols_of(task: str, model: str) -> tuple[str, ...]:
    """The protocols ``model`` is trained (or, a stack, built) under in ``resgenome reproduce``."""
    return VARIANT_PROTOCOLS if model in BEYOND_PAPER[task] or model == VARIANT[task] else PROTOCOLS


def beyond_paper(task: str, model: str) -> bool:
    return model in BEYOND_PAPER[task] or model.startswith("stack(")


#: test metrics averaged over seeds in summary.csv; bootstrap replicates of the AUROC difference
SUMMARY_METRICS = ("auroc", "auprc", "f1", "precision", "recall", "accuracy")
N_BOOT = 2000


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


# ---------------------------------------------------------------------------------------------------------- stacking
def _logit(p: np.ndarray) -> np.ndarray:
    """Log-odds clipped at p = 1e-15 (|z| <= 34.5), not calibration.log_odds_from_proba's |z| <= 30: a 6-mer model's
    probabilities go below 1e-13, and clipping them there would tie them (and move the stacks' figures)."""
    p = np.clip(np.asarray(p, dtype=float), 1e-15, 1 - 1e-15)
    return np.log(p / (1 - p))


def stack_scores(y_validation: np.ndarray, validation: list[np.ndarray], test: list[np.ndarray], *,
                 folds: int = 5, seed: int = 0) -> dict:  # fmt: skip
    """Stack several models of one split: a logistic regression on their logits, fitted on the *validation* rows.

    ``validation`` and ``test`` hold one probability vector per member (same order). The member logits are
    standardised with the validation mean and sd. Returns ``{"validation": scores, "test": scores, "weights": [...],
    "intercept": b}``: the validation scores are out-of-fold (``folds``-fold stratified within the validation rows),
    so a stack is compared with its members on validation like any model; the test scores come from the stacker
    fitted on all validation rows; ``weights`` are per member logit (in logit units, after undoing the scaling).
    The test rows are never seen by the fit.
    """
    if len(validation) != len(test) or len(validation) < 2:
        raise ValueError(f"a stack needs two or more members with validation and test scores (got {len(validation)} "
                         f"and {len(test)})")  # fmt: skip
    y = np.asarray(y_validation, dtype=int)
    if np.bincount(y, minlength=2).min() < 2:
        raise ValueError(f"a stack is fitted on validation rows of both classes, at least 2 of each (got "
                         f"{np.bincount(y, minlength=2).tolist()})")  # fmt: skip
    zv = np.column_stack([_logit(s) for s in validation])
    zt = np.column_stack([_logit(s) for s in test])
    mean, sd = zv.mean(0), zv.std(0) + 1e-9
    stacker = LogisticRegression(C=1.0)
    splits = StratifiedKFold(min(folds, int(np.bincount(y, minlength=2).min())), shuffle=True, random_state=seed)
    out_of_fold = cross_val_predict(stacker, (zv - mean) / sd, y, cv=splits, method="predict_proba")[:, 1]
    stacker.fit((zv - mean) / sd, y)
    weights = stacker.coef_[0] / sd
    return {
        "validation": out_of_fold,
        "test": stacker.predict_proba((zt - mean) / sd)[:, 1],
        "weights": weights.tolist(),
        "intercept": float(stacker.intercept_[0] - (weights * mean).sum()),
    }


# ---------------------------------------------------------------------------------------------------------- tables
def model_kind(task: str, model: str) -> str:
    if model == RESIDUAL[task]:
        return "residual"
    if model.startswith("stack("):
        return "stack"
    if model in BEYOND_PAPER[task]:
        return "residual variant"
    return "cnn" if model in get_task(task).neural_models else "classical"


def result_row(run: Run) -> dict:
    """One row of results.csv: every metric of test and validation, training time and the overfitting gap."""
    m = run.metrics
    sizes = m.get("sizes", {})
    row: dict = {
        "task": run.task, "protocol": run.protocol, "split": m.get("split"), "model": run.model,
        "kind": model_kind(run.task, run.model), "seed": run.seed, "optimistic": bool(m.get("optimistic")),
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
                     "kind": model_kind(task, model), "n_seeds": len(group),
                     "optimistic": bool(group[0].metrics.get("optimistic"))}  # fmt: skip
        for key in SUMMARY_METRICS:
            row[f"{key}_mean"], row[f"{key}_sd"] = _mean_sd(r.metrics["test"].get(key) for r in group)
        gaps = [result_row(r)["overfit_gap"] for r in group]
        row["overfit_gap_mean"], row["overfit_gap_sd"] = _mean_sd(gaps)
        row["train_seconds_mean"], _ = _mean_sd(r.seconds for r in group)
        # neural runs whose best validation epoch was their last: still improving when the budget ran out
        row["best_at_last_epoch"] = sum(1 for r in group if r.history and not r.metrics.get("stopped_early")
                                        and r.metrics.get("best_epoch") == len(r.history))  # fmt: skip
        for prefix, focus in (("auroc_diff", RESIDUAL[task]), ("variant_auroc_diff", VARIANT[task])):
            row.update(_paired_difference(by_key.get((task, protocol, focus), []), group, focus, n_boot, prefix))
        rows.append(row)
    order = {(t, p, m): (TASKS.index(t), PROTOCOLS.index(p), shown_models(t).index(m))
             for t in TASKS for p in PROTOCOLS for m in shown_models(t)}  # fmt: skip
    return sorted(rows, key=lambda r: order.get((r["task"], r["protocol"], r["model"]), (9, 9, 9)))


def _paired_difference(focus_runs: list[Run], group: list[Run], focus: str, n_boot: int, prefix: str) -> dict:
    """``PREFIX``, ``PREFIX_low``, ``PREFIX_high``, ``PREFIX_vs``, ``PREFIX_seeds``: the AUROC of ``focus`` minus that
    of the group's model, over the seeds both have on the same test rows (nothing when the group is ``focus``)."""
    row = {f"{prefix}_vs": "", prefix: math.nan, f"{prefix}_low": math.nan, f"{prefix}_high": math.nan,
           f"{prefix}_seeds": 0}  # fmt: skip
    if not group or group[0].model == focus:
        return row
    ref = {r.seed: r for r in focus_runs}
    sets = [(r.y, ref[r.seed].scores, r.scores) for r in group if r.seed in ref and np.array_equal(ref[r.seed].y, r.y)]
    if sets:
        ci = pooled_paired_bootstrap_auroc_difference(sets, n_boot=n_boot, seed=0)
        row.update({f"{prefix}_vs": focus, prefix: ci["diff"], f"{prefix}_low": ci["low"],
                    f"{prefix}_high": ci["high"], f"{prefix}_seeds": ci["n_sets"]})  # fmt: skip
    return row


def _verdict(row: dict, name: str, residual: str, prefix: str = "auroc_diff") -> str:
    lo, hi, d = row[f"{prefix}_low"], row[f"{prefix}_high"], row[prefix]
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
    was the residual model still improving when its budget ran out, and did it overfit less than its CNN baseline."""
    rows = {(r["protocol"], r["model"]): r for r in summary if r["task"] == task}
    out = _grouped_verdicts(task, {k: r for k, r in rows.items() if not beyond_paper(task, k[1])}, RESIDUAL[task])
    out += _grouped_verdicts(task, rows, VARIANT[task], "variant_auroc_diff",
                             " (the best variant beyond the paper, chosen on validation)")
    out += _protocol_effects(task, rows)
    out += _budget_note(task, rows)
    out += _overfitting_note(task, rows)
    return out


def _grouped_verdicts(task: str, rows: dict, residual: str, prefix: str = "auroc_diff", what: str = "") -> list[str]:
    """The headline (what ``residual`` beat under the grouped protocol, and the best AUPRC), then one verdict per
    other model, by the bootstrap interval of the AUROC difference in the rows' ``prefix`` columns."""
    out = []
    baselines = [r for (p, m), r in rows.items() if p == "grouped" and m != residual]
    if baselines and ("grouped", residual) in rows:
        seeds = rows[("grouped", residual)]["n_seeds"]
        beaten = [r["model"] for r in baselines if r[f"{prefix}_low"] > 0]
        lost = [r["model"] for r in baselines if r[f"{prefix}_high"] < 0]
        ties = [r["model"] for r in baselines if r["model"] not in beaten + lost]
        best = max(rows[("grouped", m)]["auprc_mean"] for (p, m) in rows if p == "grouped")
        leader = [m for (p, m), r in rows.items() if p == "grouped" and r["auprc_mean"] == best][0]
        headline = (f"Under the grouped protocol ({seeds} seed{'s' if seeds > 1 else ''}), {residual}{what} beat "
                    + (", ".join(beaten) if beaten else "none of the baselines")
                    + (f", lost to {', '.join(lost)}" if lost else "")
                    + (f" and was not distinguishable from {', '.join(ties)}" if ties else "")
                    + f" on test AUROC. Best test AUPRC: {leader} ({best:.3f})"
                    + ("." if leader == residual else
                       f"; {residual} {rows[('grouped', residual)]['auprc_mean']:.3f}."))  # fmt: skip
        out.append(headline)
        out.extend(_verdict(r, r["model"], residual, prefix) for r in baselines)
    return out


def _protocol_effects(task: str, rows: dict) -> list[str]:
    """Per side protocol (paper, honest): did it inflate test AUROC compared with the grouped one?"""
    out = []
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
    return out


def _budget_note(task: str, rows: dict) -> list[str]:
    """Neural runs whose best validation epoch was their last: under-trained at this preset."""
    residual, cnn = RESIDUAL[task], CNN_BASELINE[task]
    out = []
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
    return out


def _overfitting_note(task: str, rows: dict) -> list[str]:
    """The overfitting gap (final validation loss - training loss) of the residual model vs its CNN baseline."""
    residual, cnn = RESIDUAL[task], CNN_BASELINE[task]
    out = []
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


def clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (np.floating,)):
        return clean(float(value))
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def write_table(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if clean(v) is None else clean(v) for k, v in row.items()})

