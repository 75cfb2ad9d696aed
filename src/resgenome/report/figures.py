"""Plots: training curves (the paper's overfitting evidence), ROC and PR curves, confusion matrices, reliability.

Every function takes ``ax=None`` and returns the Axes; callers save and close figures (Agg backend, no screen).
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve  # noqa: E402

from ..io import atomic_path  # noqa: E402


def plot_history(history: list[dict], what: str = "loss", ax=None, title: str | None = None):
    """Train vs validation ``loss`` or ``acc`` per epoch."""
    ax = ax or plt.gca()
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h[f"train_{what}"] for h in history], label="train", marker=".")
    ax.plot(epochs, [h[f"val_{what}"] for h in history], label="validation", marker=".")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss" if what == "loss" else "accuracy")
    ax.set_title(title or ("loss" if what == "loss" else "accuracy"))
    ax.legend()
    return ax


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], ax=None, title: str = "ROC (test)"):
    """``curves`` maps a model name to (y_true, scores)."""
    ax = ax or plt.gca()
    for name, (y, s) in curves.items():
        if len(np.unique(y)) < 2:  # no curve exists: scikit-learn would warn and draw a meaningless one
            ax.plot([], [], label=f"{name} (one class only: undefined)")
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_pr(curves: dict[str, tuple[np.ndarray, np.ndarray]], ax=None, title: str = "Precision-recall (test)"):
    ax = ax or plt.gca()
    base = None
    for name, (y, s) in curves.items():
        if len(np.unique(y)) < 2:
            ax.plot([], [], label=f"{name} (one class only: undefined)")
            continue
        precision, recall, _ = precision_recall_curve(y, s)
        ax.step(recall, precision, where="post", label=f"{name} (AUPRC {average_precision_score(y, s):.3f})")
        base = float(np.mean(y))
    if base is not None:
        ax.axhline(base, color="grey", linestyle=":", linewidth=1, label=f"chance ({base:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_confusion(confusion: dict[str, int], ax=None, title: str = "confusion (test)", labels=("neg", "pos")):
    ax = ax or plt.gca()
    m = np.array([[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]])
    ax.imshow(m, cmap="Blues")
    for i in range(2):
        for j in range(2):
            dark = m[i, j] > m.max() / 2  # white digits on the dark cells of the Blues map
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks([0, 1], [f"pred {labels[0]}", f"pred {labels[1]}"])
    ax.set_yticks([0, 1], [f"true {labels[0]}", f"true {labels[1]}"])
    ax.set_title(title)
    return ax


def plot_reliability(curves: dict[str, dict], ax=None, title: str = "reliability (test)"):
    """Observed fraction of positives against mean predicted probability, per probability bin.

    ``curves`` maps a label to bins as :func:`resgenome.metrics.reliability_bins` returns them (``predicted``,
    ``observed``, ``count``, lists or arrays); a point's area follows its bin's count. Both axes are logarithmic
    below 0.01 (most windows of a task with 2% positives have small probabilities), linear above.
    """
    ax = ax or plt.gca()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfectly calibrated")
    for k, (name, bins) in enumerate(curves.items()):
        predicted, observed = np.asarray(bins["predicted"]), np.asarray(bins["observed"])
        count = np.asarray(bins["count"], dtype=float)
        ax.plot(predicted, observed, color=f"C{k}", marker="", linewidth=1)
        ax.scatter(predicted, observed, s=8 + 60 * np.sqrt(count / max(count.max(), 1)), color=f"C{k}", label=name)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed fraction positive")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left")
    return ax


def save(fig, path: str | os.PathLike, dpi: int = 110) -> None:
    """Save atomically and close."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def training_figure(history: list[dict], title: str = ""):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    plot_history(history, "loss", axes[0], f"{title} loss".strip())
    plot_history(history, "acc", axes[1], f"{title} accuracy".strip())
    fig.tight_layout()
    return fig


def curves_figure(curves: dict, title: str = ""):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    plot_roc(curves, axes[0], f"{title} ROC".strip())
    plot_pr(curves, axes[1], f"{title} precision-recall".strip())
    fig.tight_layout()
    return fig


def plot_by_protocol(values: dict[str, dict[str, tuple[float, float]]], ax=None, ylabel: str = "test AUROC",
                     title: str = "by protocol"):  # fmt: skip
    """Mean ± sd of one metric per model (x) and protocol (one marker series each).

    ``values`` maps protocol -> model -> (mean, sd); sd may be NaN (one seed).
    """
    ax = ax or plt.gca()
    models = list(dict.fromkeys(m for per_model in values.values() for m in per_model))
    x = np.arange(len(models))
    width = 0.8 / max(len(values), 1)
    for k, (protocol, per_model) in enumerate(values.items()):
        offset = (k - (len(values) - 1) / 2) * width
        mean = np.array([per_model.get(m, (np.nan, np.nan))[0] for m in models], dtype=float)
        sd = np.array([per_model.get(m, (np.nan, np.nan))[1] for m in models], dtype=float)
        ax.errorbar(x + offset, mean, yerr=np.nan_to_num(sd), fmt="o", capsize=3, label=protocol)
    ax.set_xticks(x, models)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_gaps(gaps: dict[str, dict[str, float]], ax=None, title: str = "overfitting: final val loss - train loss"):
    """Grouped bars: ``gaps`` maps protocol -> model -> gap (mean over seeds). Higher = more overfitting."""
    ax = ax or plt.gca()
    models = list(dict.fromkeys(m for per_model in gaps.values() for m in per_model))
    x = np.arange(len(models))
    width = 0.8 / max(len(gaps), 1)
    for k, (protocol, per_model) in enumerate(gaps.items()):
        offset = (k - (len(gaps) - 1) / 2) * width
        ax.bar(x + offset, [per_model.get(m, np.nan) for m in models], width, label=protocol)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, models)
    ax.set_ylabel("val loss - train loss")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_histories(histories: dict[str, list[dict]], what: str = "loss", ax=None, title: str | None = None):
    """Train (solid) vs validation (dashed) ``loss`` or ``acc`` per epoch for several runs, one colour per run."""
    ax = ax or plt.gca()
    for k, (name, history) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in history]
        color = f"C{k}"
        ax.plot(epochs, [h[f"train_{what}"] for h in history], color=color, marker=".", label=f"{name}: train")
        ax.plot(epochs, [h[f"val_{what}"] for h in history], color=color, marker=".", linestyle="--",
                label=f"{name}: validation")  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss" if what == "loss" else "accuracy")
    ax.set_title(title or what)
    last = max((h["epoch"] for history in histories.values() for h in history), default=0)
    if 0 < last <= 12:  # whole epochs only; the automatic ticks would show 0.96 ... 1.04 for one epoch
        ax.set_xticks(range(1, int(last) + 1))
    ax.legend(fontsize="small")
    return ax
