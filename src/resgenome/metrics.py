"""Classification metrics from scores (probabilities of the positive class), as pure functions.

Precision is TP / (TP + FP) — the paper's Eq. 11 misprints it as TP / (TP + FN), which is recall.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, brier_score_loss, precision_recall_curve, roc_auc_score

METRIC_KEYS = ("accuracy", "precision", "recall", "f1", "auroc", "auprc")


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, int]:
    """Standard confusion matrix counts, positive class = 1."""
    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    return {
        "tp": int(np.sum(y_true & y_pred)),
        "fp": int(np.sum(~y_true & y_pred)),
        "tn": int(np.sum(~y_true & ~y_pred)),
        "fn": int(np.sum(y_true & ~y_pred)),
    }


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    """All metrics at one threshold, plus threshold-free AUROC and AUPRC.

    Parameters
    ----------
    y_true : np.ndarray, shape (N,) of {0, 1}
    scores : np.ndarray, shape (N,)
        Probability of class 1 (not logits).
    threshold : float
        A sample is called positive when ``score >= threshold``.

    Returns
    -------
    dict with accuracy, precision, recall, f1, auroc, auprc (floats; AUROC/AUPRC are NaN-free: None when only one
    class is present), the confusion counts, ``n`` and ``threshold``.
    """
    y_true = np.asarray(y_true).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    c = confusion(y_true, scores >= threshold)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = 0 < y_true.sum() < len(y_true)
    return {
        "accuracy": (tp + tn) / len(y_true),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auroc": float(roc_auc_score(y_true, scores)) if both else None,
        "auprc": float(average_precision_score(y_true, scores)) if both else None,
        "threshold": float(threshold),
        "n": int(len(y_true)),
        "n_positive": int(y_true.sum()),
        "confusion": c,
    }


def best_f1_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold that maximises F1 (chosen on validation data, then applied to test)."""
    y_true = np.asarray(y_true).astype(int)
    if y_true.sum() == 0:
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def evaluate_scores(
    y_true: np.ndarray, scores: np.ndarray, threshold: float
) -> dict:
    """Metrics at the chosen threshold (top level) and at 0.5 (under ``at_0.5``)."""
    result = classification_metrics(y_true, scores, threshold)
    result["at_0.5"] = classification_metrics(y_true, scores, 0.5)
    return result


#: Equal-width probability bins of the expected calibration error (the usual choice since Guo et al., 2017).
ECE_BINS = 15


def brier_score(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Mean squared difference between the probability of class 1 (not logits), shape (N,), and the 0/1 label."""
    return float(brier_score_loss(np.asarray(y_true).astype(int), np.asarray(proba, dtype=np.float64), pos_label=1))


def reliability_bins(y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Per equal-width probability bin: mean predicted probability, observed fraction of class 1, count.

    Returns
    -------
    dict of arrays of shape (B,), B <= ``n_bins`` (empty bins are left out): ``predicted``, ``observed``, ``count``.
    """
    y = np.asarray(y_true).astype(np.float64)
    p = np.asarray(proba, dtype=np.float64)
    which = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)  # p = 1 belongs to the last bin
    count = np.bincount(which, minlength=n_bins)
    keep = count > 0
    predicted = np.bincount(which, weights=p, minlength=n_bins)[keep] / count[keep]
    observed = np.bincount(which, weights=y, minlength=n_bins)[keep] / count[keep]
    return {"predicted": predicted, "observed": observed, "count": count[keep]}


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """ECE: the count-weighted mean of |observed fraction - mean probability| over equal-width bins.

    scikit-learn has no ECE; its ``calibration_curve`` drops the bin counts the weighting needs.
    """
    bins = reliability_bins(y_true, proba, n_bins)
    n = bins["count"].sum()
    return float(np.sum(bins["count"] * np.abs(bins["observed"] - bins["predicted"])) / n) if n else 0.0


def calibration_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Brier score and ECE of probabilities of class 1, shape (N,)."""
    return {"brier": brier_score(y_true, proba), "ece": expected_calibration_error(y_true, proba)}


def paired_bootstrap_auroc_difference(
    y_true: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray, *, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """95% paired bootstrap interval of AUROC(a) - AUROC(b) on the same test set."""
    y_true = np.asarray(y_true).astype(int)
    rng = np.random.default_rng(seed)
    n = len(y_true)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        yt = y_true[idx]
        if yt.min() == yt.max():
            continue
        diffs.append(roc_auc_score(yt, scores_a[idx]) - roc_auc_score(yt, scores_b[idx]))
    diffs = np.asarray(diffs)
    point = roc_auc_score(y_true, scores_a) - roc_auc_score(y_true, scores_b)
    return {"diff": float(point), "low": float(np.quantile(diffs, 0.025)), "high": float(np.quantile(diffs, 0.975))}


def _auroc_rows(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUROC of each row of ``scores`` (B, n) against the labels in the same row of ``y`` (B, n), by ranks (ties
    averaged, as roc_auc_score); NaN for a row holding one class only."""
    ranks = rankdata(scores, axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def _auprc_rows(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Average precision (AUPRC) of each row of ``scores`` (B, n) against ``y`` (B, n), as
    ``average_precision_score``: tied scores form one threshold; NaN for a row without positives."""
    order = np.argsort(-scores, axis=1, kind="stable")
    s = np.take_along_axis(scores, order, axis=1)
    tp = np.cumsum(np.take_along_axis(y, order, axis=1), axis=1)
    rank = np.arange(1, y.shape[1] + 1)
    block_end = np.ones_like(s, dtype=bool)  # the last position of each run of tied scores is a threshold
    block_end[:, :-1] = s[:, :-1] != s[:, 1:]
    # tp at the previous threshold: tp is non-decreasing, so a running max of tp at thresholds, shifted by one
    at_ends = np.maximum.accumulate(np.where(block_end, tp, 0), axis=1)
    previous = np.zeros_like(at_ends)
    previous[:, 1:] = at_ends[:, :-1]
    n_pos = tp[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = (block_end * (tp - previous) * tp / rank).sum(axis=1) / n_pos
    return np.where(n_pos > 0, ap, np.nan)


_ROW_METRICS = {"auroc": _auroc_rows, "auprc": _auprc_rows}


def pooled_paired_bootstrap_difference(
    sets: list[tuple[np.ndarray, np.ndarray, np.ndarray]], *, metric: str = "auroc", n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Mean over repeats (seeds, folds) of metric(a) - metric(b), with a 95% paired bootstrap interval of that mean.

    Parameters
    ----------
    sets : list of (y_true, scores_a, scores_b)
        One entry per repeat: a test set (shape (n_k,) each) scored by both models. Each replicate resamples every
        repeat's test rows independently (the same rows for a and b: paired), takes the per-repeat difference, and
        averages over repeats; the interval is the 2.5 and 97.5 percentiles of those averages. It reflects the
        sampling of test rows given the trained models, not the spread between training runs (see the per-seed sd).
    metric : {"auroc", "auprc"}
        AUROC, or AUPRC as average precision (scikit-learn's ``average_precision_score``).

    Returns
    -------
    dict with ``diff`` (mean of the per-repeat differences on the full test sets), ``low``, ``high``, ``n_sets``.
    """
    rows = _ROW_METRICS[metric]
    rng = np.random.default_rng(seed)
    point, draws = [], []
    for y, a, b in sets:
        y = np.asarray(y).astype(np.int64)
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        point.append(rows(y[None], a[None])[0] - rows(y[None], b[None])[0])
        per_set = np.empty(n_boot)
        for lo in range(0, n_boot, 250):  # blocks bound memory: 250 x n for the largest test sets
            idx = rng.integers(0, len(y), (min(250, n_boot - lo), len(y)))
            yb = y[idx]
            per_set[lo : lo + len(idx)] = rows(yb, a[idx]) - rows(yb, b[idx])
        draws.append(per_set)
    means = np.nanmean(np.vstack(draws), axis=0) if draws else np.array([np.nan])
    means = means[np.isfinite(means)]
    if len(means) == 0 or not np.isfinite(np.nanmean(point)):
        return {"diff": float("nan"), "low": float("nan"), "high": float("nan"), "n_sets": len(sets)}
    return {"diff": float(np.nanmean(point)), "low": float(np.quantile(means, 0.025)),
            "high": float(np.quantile(means, 0.975)), "n_sets": len(sets)}  # fmt: skip


def pooled_paired_bootstrap_auroc_difference(
    sets: list[tuple[np.ndarray, np.ndarray, np.ndarray]], *, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """:func:`pooled_paired_bootstrap_difference` of AUROC (the name ``reproduce`` uses)."""
    return pooled_paired_bootstrap_difference(sets, metric="auroc", n_boot=n_boot, seed=seed)
