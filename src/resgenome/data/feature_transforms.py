"""Transforms of the super-enhancer features applied before the paper's Eq. 1-4, and feature orders for convolutions.

Why a transform: the ChIP-seq and DNase signals of the imPROSE table are heavy-tailed (skewness 3-49 on the
development table; Pol2's maximum is 176 for a median of 0.08), so Eq. 1's min-max step squeezes 99 % of the rows
into the bottom few per cent of [0, 1] and the few extreme rows dominate. ``log1p`` (sign-preserving, nothing to
fit) or ``rank`` (each feature mapped to its quantile among the training rows) spread them out again.

Why an order: ResSEN convolves its 36 features with kernels 7 and 3, as if neighbours in the vector meant
something, but the paper's Table 1 order is arbitrary. ``clustered`` reorders the features so that correlated
ones are neighbours (average-linkage clustering of 1 - |Spearman rho| on the training rows, leaves in dendrogram
order).

Everything fitted here is fitted on the training rows only and kept as plain lists, so it goes into a
weights-only checkpoint.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

TRANSFORMS = ("none", "log1p", "rank")
ORDERS = ("paper", "clustered")
_MAX_QUANTILES = 1000


def fit_transform(kind: str, X: np.ndarray) -> dict:
    """Fit a feature transform on the training rows.

    Parameters
    ----------
    kind : {"none", "log1p", "rank"}
    X : np.ndarray, shape (N, F)
        Raw training features.

    Returns
    -------
    dict of plain values (``kind``, and for ``rank`` the per-feature quantiles ``(Q, F)`` and their levels ``(Q,)``).
    """
    if kind not in TRANSFORMS:
        raise ValueError(f"unknown feature transform {kind!r}; choose one of {', '.join(TRANSFORMS)}")
    state: dict = {"kind": kind}
    if kind == "rank":
        levels = np.linspace(0.0, 1.0, min(_MAX_QUANTILES, len(X)))
        state["levels"] = levels.tolist()
        state["quantiles"] = np.quantile(X, levels, axis=0).tolist()
    return state


def apply_transform(state: dict, X: np.ndarray) -> np.ndarray:
    """X : (N, F) raw -> (N, F) float64 transformed, with a state from :func:`fit_transform`."""
    kind = state["kind"]
    if kind == "none":
        return X
    if kind == "log1p":
        return np.sign(X) * np.log1p(np.abs(X))  # = log1p(x) for the non-negative signals; defined for any x
    levels = np.asarray(state["levels"])
    quantiles = np.asarray(state["quantiles"])
    out = np.empty_like(X, dtype=np.float64)
    for j in range(X.shape[1]):
        q = quantiles[:, j]
        # many signals repeat one value (zero) over many quantiles: interpolating from both ends and averaging
        # maps a tied value to the middle of its quantile range, not to its first or last level
        up = np.interp(X[:, j], q, levels)
        down = -np.interp(-X[:, j], -q[::-1], -levels[::-1])
        out[:, j] = 0.5 * (up + down)
    return out


def fit_order(kind: str, X: np.ndarray) -> list[int]:
    """A feature order (indices into the columns of X) fitted on the training rows.

    ``paper`` keeps the given order; ``clustered`` puts correlated features next to each other (see module notes).
    """
    if kind not in ORDERS:
        raise ValueError(f"unknown feature order {kind!r}; choose one of {', '.join(ORDERS)}")
    n_features = X.shape[1]
    if kind == "paper" or n_features < 3:
        return list(range(n_features))
    rho = spearmanr(X).statistic
    rho = np.nan_to_num(np.asarray(rho, dtype=np.float64), nan=0.0)  # a constant column correlates with nothing
    distance = 1.0 - np.abs(rho)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(np.clip(distance, 0.0, None), checks=False), method="average")
    return [int(i) for i in leaves_list(tree)]
