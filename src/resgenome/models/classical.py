"""Classical baselines (random forest, logistic regression, gradient boosting) behind one small interface.

They are fitted with scikit-learn, then exported to plain arrays so a classical model is stored in the same
weights-only checkpoint as a neural one (no pickle, so loading a model file can never run code). Prediction from
the exported arrays is our own vectorised tree walk / linear score; a test checks it equals scikit-learn's.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

CLASSICAL = ("rf", "logreg", "hgb")


def make_estimator(name: str, *, seed: int = 0, class_weight: bool = False, n_jobs: int = 2, **params):
    """The scikit-learn estimator for a baseline name, with our defaults."""
    cw = "balanced" if class_weight else None
    name = name.removeprefix("kmer-")  # the viral task's k-mer baselines are the same estimators on k-mer counts
    if name == "rf":  # imPROSE's default model
        defaults = {"n_estimators": 300, "min_samples_leaf": 1}
        return RandomForestClassifier(**{**defaults, **params}, class_weight=cw, random_state=seed, n_jobs=n_jobs)
    if name == "logreg":
        return LogisticRegression(**{"C": 1.0, "max_iter": 2000, **params}, class_weight=cw, random_state=seed)
    if name == "hgb":
        defaults = {"max_iter": 300, "learning_rate": 0.05, "early_stopping": False}
        return HistGradientBoostingClassifier(**{**defaults, **params}, class_weight=cw, random_state=seed)
    raise ValueError(f"unknown classical model {name!r}; choose one of {', '.join(CLASSICAL)}")


def export(estimator) -> dict[str, torch.Tensor | str | float]:
    """Plain arrays (torch tensors) that reproduce ``estimator.predict_proba(X)[:, 1]``."""
    if isinstance(estimator, LogisticRegression):
        return {
            "kind": "linear",
            "coef": torch.as_tensor(estimator.coef_[0], dtype=torch.float64),
            "intercept": float(estimator.intercept_[0]),
        }
    if isinstance(estimator, RandomForestClassifier):
        trees = [e.tree_ for e in estimator.estimators_]
        value = [t.value[:, 0, :] / t.value[:, 0, :].sum(axis=1, keepdims=True) for t in trees]
        return _pack(trees, [v[:, 1] for v in value], kind="forest")
    if isinstance(estimator, HistGradientBoostingClassifier):
        predictors = [p[0] for p in estimator._predictors]
        packed = _pack_hgb([p.nodes for p in predictors])
        packed["baseline"] = float(np.ravel(estimator._baseline_prediction)[0])
        return packed
    raise TypeError(f"cannot export {type(estimator).__name__}")


def _pack(trees, leaf_values, kind: str) -> dict:
    offsets = np.cumsum([0] + [t.node_count for t in trees])
    left = np.concatenate([t.children_left for t in trees]).astype(np.int64)
    right = np.concatenate([t.children_right for t in trees]).astype(np.int64)
    leaf = left < 0
    for k in range(len(trees)):  # make child indices global
        sl = slice(offsets[k], offsets[k + 1])
        left[sl] = np.where(left[sl] >= 0, left[sl] + offsets[k], -1)
        right[sl] = np.where(right[sl] >= 0, right[sl] + offsets[k], -1)
    return {
        "kind": kind,
        "roots": torch.as_tensor(offsets[:-1], dtype=torch.int64),
        "left": torch.as_tensor(left),
        "right": torch.as_tensor(right),
        "feature": torch.as_tensor(np.concatenate([t.feature for t in trees]).astype(np.int64)),
        "threshold": torch.as_tensor(np.concatenate([t.threshold for t in trees]).astype(np.float64)),
        "leaf": torch.as_tensor(leaf),
        "value": torch.as_tensor(np.concatenate(leaf_values).astype(np.float64)),
    }


def _pack_hgb(node_arrays) -> dict:
    class _Tree:  # adapt HGB's structured node array to the fields _pack reads
        def __init__(self, nodes):
            self.node_count = len(nodes)
            is_leaf = nodes["is_leaf"].astype(bool)
            self.children_left = np.where(is_leaf, -1, nodes["left"].astype(np.int64))
            self.children_right = np.where(is_leaf, -1, nodes["right"].astype(np.int64))
            self.feature = nodes["feature_idx"]
            self.threshold = nodes["num_threshold"]

    trees = [_Tree(n) for n in node_arrays]
    return _pack(trees, [n["value"] for n in node_arrays], kind="boosting")


def predict_exported(model: dict, X: np.ndarray) -> np.ndarray:
    """Probability of class 1 from an exported model; X : (N, F) float, dense or scipy-sparse."""
    if hasattr(X, "toarray"):  # sparse k-mer counts: densify a block of rows at a time to bound memory
        return _blockwise(predict_exported, model, X)
    X = np.asarray(X, dtype=np.float64)
    if model["kind"] == "linear":
        z = X @ model["coef"].numpy() + model["intercept"]
        return 1.0 / (1.0 + np.exp(-z))
    total = _tree_total(model, X)
    if model["kind"] == "forest":
        return total / len(model["roots"])
    return 1.0 / (1.0 + np.exp(-(total + model["baseline"])))


def log_odds_exported(model: dict, X: np.ndarray) -> np.ndarray:
    """Log-odds of class 1 from an exported model, float64 (N,): the decision value of a linear or boosted model,
    ``log(p / (1 - p))`` of a forest's vote fraction (infinite where all trees agree)."""
    if hasattr(X, "toarray"):
        return _blockwise(log_odds_exported, model, X)
    X = np.asarray(X, dtype=np.float64)
    if model["kind"] == "linear":
        return X @ model["coef"].numpy() + model["intercept"]
    total = _tree_total(model, X)
    if model["kind"] == "forest":
        p = total / len(model["roots"])
        with np.errstate(divide="ignore"):
            return np.log(p) - np.log1p(-p)
    return total + model["baseline"]


def _blockwise(function, model: dict, X) -> np.ndarray:
    """``function(model, rows)`` over blocks of 4096 rows of a sparse X, densified one block at a time."""
    rows = 4096
    parts = [function(model, X[i : i + rows].toarray()) for i in range(0, X.shape[0], rows)]
    return np.concatenate(parts) if parts else np.zeros(0)


def _tree_total(model: dict, X: np.ndarray) -> np.ndarray:
    """Sum over the trees of the leaf value each row of X (N, F) float64 reaches."""
    left, right = model["left"].numpy(), model["right"].numpy()
    feature, threshold = model["feature"].numpy(), model["threshold"].numpy()
    leaf, value = model["leaf"].numpy(), model["value"].numpy()
    rows = np.arange(len(X))
    total = np.zeros(len(X))
    for root in model["roots"].numpy():
        node = np.full(len(X), root, dtype=np.int64)
        active = ~leaf[node]
        while active.any():
            n = node[active]
            go_left = X[rows[active], feature[n]] <= threshold[n]
            node[active] = np.where(go_left, left[n], right[n])
            active = ~leaf[node]
        total += value[node]
    return total
