"""The measurements behind the defaults of viral contig calls: calibration method, --min-length, contig statistic.

    RESGENOME_DATA_DIR=../shared/data .venv/bin/python benchmarks/calls_defaults.py \\
        --models runs/resvg-devset/model.pt runs/kmer-logreg-devset/model.pt \\
                 runs/resvg-loeo-2013_E2_SCC/model.pt runs/kmer-logreg-loeo-2013_E2_SCC/model.pt \\
        --out benchmarks/results/calls/defaults.json

Each model is a trained viral model.pt; its split is rebuilt from the checkpoint (``--split fullset`` models on
``viral-devset``, ``--split experiment`` models on ``viral-experiments`` with the held-out experiment read from the
run's metrics.json). Every choice is made on the validation windows only; test numbers are printed beside them as
a check, never used to choose.

- calibration: out-of-fold log-loss, Brier score and ECE of temperature, Platt and isotonic scaling on validation
  (5 stratified folds x 4 repeats), and test Brier / ECE before and after each.
- min-length: AUROC of windows truncated to 50 ... 300 bp (N-padded to the window, as ``predict viral`` pads a
  short record), and the rate at which truncated non-viral windows pass the full-length window threshold.
- statistic: contigs of 1, 10, 100 and 1000 joined 300-bp windows (300 bp ... 300 kb), windows every 150 bp as
  ``predict viral`` cuts them, built from validation windows the calibration and null were *not* fitted on: a
  random half of validation for the pooled-split models (2 folds), and each validation experiment in turn for the
  held-out-experiment models (the null is then from other experiments, as it will be for a user's sample). The
  fraction called viral per length for the max rule (today's), the mean calibrated log-odds with a normal null, and
  the count of viral-looking windows with a binomial and beta-binomial null at several heterogeneities.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from resgenome import calibration as cal
from resgenome.calls import ContigNull, fit_null
from resgenome.data.encoding import CODE_N
from resgenome.metrics import calibration_metrics
from resgenome.predictor import Predictor
from resgenome.tasks import get_task

TRUNCATIONS = (50, 100, 150, 200, 250, 270, 285, 295, 300)
CONTIG_WINDOWS = (1, 10, 100, 1000)  # joined 300-bp windows: 300 bp, 3 kb, 30 kb, 300 kb
CONTIGS_PER_LENGTH = {1: 0, 10: 600, 100: 120, 1000: 30}  # 0: every window once
HETEROGENEITIES = (0.0, 0.5, 1.0, 2.0)
STRIDE = 150


def model_parts(model_path: Path):
    """(predictor, dataset, split) with the split the model was trained on."""
    task = get_task("viral")
    predictor = Predictor.load(model_path, task="viral", device="cpu", batch_size=512)
    training = predictor.metadata
    if training["split"] == "fullset":
        dataset = task.load(training["data"])
        split = task.make_split(dataset, "fullset", training["seed"])
    else:
        # recorded by `train` and `calibrate`; older models have it only in their run's metrics.json
        held = training.get("holdout") or json.loads(
            (model_path.parent / "metrics.json").read_text())["held_out"]["test"]
        dataset = task.load(training["data"])
        split = task.make_split(dataset, training["split"], training["seed"], holdout=held)
    if split.sizes() != training["sizes"]:
        sys.exit(f"{model_path}: the rebuilt split {split.sizes()} is not the model's {training['sizes']}")
    return predictor, dataset, split


def log_odds(predictor: Predictor, codes: np.ndarray) -> np.ndarray:
    """Raw log-odds of windows (N, L), clipped as everywhere (a forest's unanimous vote is infinite)."""
    return np.clip(predictor.log_odds(codes), -cal.MAX_LOG_ODDS, cal.MAX_LOG_ODDS)


def measure_calibration(z_val, y_val, z_test, y_test) -> dict:
    table = cal.cross_validate(z_val, y_val)
    test = {"uncalibrated": calibration_metrics(y_test, 1 / (1 + np.exp(-z_test)))}
    for method in cal.METHODS:
        test[method] = calibration_metrics(y_test, cal.fit_calibration(z_val, y_val, method).proba(z_test))
    return {"validation_cv": table, "chosen": min(cal.METHODS, key=lambda m: table[m]["log_loss"]), "test": test}


def truncate(codes: np.ndarray, length: int) -> np.ndarray:
    out = codes.copy()
    out[:, length:] = CODE_N
    return out


def measure_min_length(predictor, parts: dict, threshold: float) -> dict:
    rows = {}
    for length in TRUNCATIONS:
        row = {}
        for name, (codes, y) in parts.items():
            z = log_odds(predictor, truncate(codes, length))
            row[f"{name}_auroc"] = float(roc_auc_score(y, z))
            row[f"{name}_null_rate"] = float(np.mean(z[y == 0] >= threshold))
            row[f"{name}_viral_rate"] = float(np.mean(z[y == 1] >= threshold))
        rows[length] = row
    return rows


# ----------------------------------------------------------------------------------------------- contig statistic
def contig_log_odds(predictor, codes: np.ndarray, z: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Raw log-odds of every window of contigs made by joining ``codes[picks[c]]``: shape (C, 2m - 1).

    Windows at stride 150 over joined 300-bp pieces are the pieces themselves (scores ``z``) and, between two
    pieces, a junction window of the last 150 bp of one and the first 150 of the next (scored here).
    """
    n_contigs, m = picks.shape
    out = np.empty((n_contigs, 2 * m - 1))
    out[:, 0::2] = z[picks]
    if m > 1:
        left, right = picks[:, :-1].ravel(), picks[:, 1:].ravel()
        half = codes.shape[1] - STRIDE
        junction = np.concatenate([codes[left, STRIDE:], codes[right, :half]], axis=1)
        out[:, 1::2] = log_odds(predictor, junction).reshape(n_contigs, m - 1)
    return out


def rule_calls(zc_windows: list[np.ndarray], raw_windows: list[np.ndarray], fitted, null: ContigNull,
               null_zc: np.ndarray) -> dict[str, float]:  # fmt: skip
    """Fraction of contigs called viral by each candidate rule, every rule at the same nominal level r0."""
    alpha = null.rate
    k = np.array([np.sum(w >= null.threshold) for w in raw_windows])
    n = np.array([len(w) for w in raw_windows])
    out = {"max": float(np.mean(k > 0))}
    mu, sd = null_zc.mean(), null_zc.std(ddof=1)
    n_eff = 1 + (n - 1) * STRIDE / 300
    mean_z = np.array([w.mean() for w in zc_windows])
    out["mean-log-odds"] = float(np.mean(norm.sf((mean_z - mu) * np.sqrt(n_eff) / sd) <= alpha))
    for cv in HETEROGENEITIES:
        p = ContigNull(null.threshold, null.n_null, null.n_above, cv).p_values(k, n, STRIDE, 300)
        out[f"count-cv{cv:g}"] = float(np.mean(p <= alpha * (1 + 1e-6)))
    return out


def measure_statistic(predictor, codes, y, z, fit_rows, eval_rows, threshold, seed) -> dict:
    """Calibration and null fitted on ``fit_rows``; contigs built from ``eval_rows``; rates per length and class."""
    fitted = cal.fit_calibration(z[fit_rows], y[fit_rows], "platt")
    null_rows = fit_rows[y[fit_rows] == 0]
    null = fit_null(z[null_rows], threshold)
    null_zc = fitted.log_odds(z[null_rows])
    rng = np.random.default_rng(seed)
    result = {"null_rate": null.rate}
    for label, name in ((0, "non-viral"), (1, "viral")):
        pool = eval_rows[y[eval_rows] == label]
        if len(pool) == 0:
            continue
        for m in CONTIG_WINDOWS:
            count = CONTIGS_PER_LENGTH[m]
            picks = pool[:, None] if count == 0 else rng.choice(pool, size=(count, m), replace=True)
            raw = contig_log_odds(predictor, codes, z, picks)
            rates = rule_calls([fitted.log_odds(r) for r in raw], list(raw), fitted, null, null_zc)
            result[f"{name}/{300 * m}"] = {"contigs": len(picks), **rates}
    return result


def statistic_folds(y: np.ndarray, groups: np.ndarray, pooled: bool, seed: int):
    """(name, fit rows, evaluation rows) in validation coordinates."""
    rows = np.arange(len(y))
    if pooled:
        rng = np.random.default_rng(seed)
        half = np.zeros(len(y), dtype=bool)
        for label in (0, 1):  # stratified halves
            mine = rng.permutation(rows[y == label])
            half[mine[: len(mine) // 2]] = True
        return [("half A", rows[~half], rows[half]), ("half B", rows[half], rows[~half])]
    return [(f"experiment {g}", rows[groups != g], rows[groups == g]) for g in np.unique(groups)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", nargs="+", default=["calibration", "min-length", "statistic"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    task = get_task("viral")
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for path in args.models:
        predictor, dataset, split = model_parts(path)
        val, test = dataset.subset(split.validation), dataset.subset(split.test)
        z_val, z_test = log_odds(predictor, val.codes), log_odds(predictor, test.codes)
        threshold = float(cal.log_odds_from_proba(np.array([predictor.threshold]))[0])
        entry = results.setdefault(path.parent.name, {"split": split.name, "held_out": split.held_out})
        if "calibration" in args.only:
            entry["calibration"] = measure_calibration(z_val, val.labels, z_test, test.labels)
            print(path, "calibration", json.dumps(entry["calibration"], indent=1), flush=True)
        if "min-length" in args.only:
            entry["min_length"] = measure_min_length(
                predictor, {"validation": (val.codes, val.labels), "test": (test.codes, test.labels)}, threshold)
            print(path, "min-length", json.dumps(entry["min_length"], indent=1), flush=True)
        if "statistic" in args.only:
            folds = statistic_folds(val.labels, task.groups(val), split.name == "fullset", args.seed)
            entry["statistic"] = {name: measure_statistic(predictor, val.codes, val.labels, z_val, fit, held, threshold,
                                                          args.seed) for name, fit, held in folds}  # fmt: skip
            print(path, "statistic", json.dumps(entry["statistic"], indent=1), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
