"""Calibrated window probabilities: map a model's raw log-odds to probabilities that mean what they say.

Every viral model gives each window a raw log-odds ``z`` (a neural model: ``logit[1] - logit[0]``; a k-mer model:
``logit`` of its probability). A calibration, fitted on the validation windows only, maps ``z`` to a calibrated
log-odds; ``sigmoid`` of that is the calibrated probability. Three maps, from the fewest parameters to the most:

- ``temperature``: ``z / T`` (Guo et al., 2017); fixes over- or under-confidence, keeps 0 log-odds at 0.5.
- ``platt``: ``a * z + b`` (Platt, 1999), a one-feature logistic regression (scikit-learn); also moves the midpoint.
- ``isotonic``: a non-decreasing step function of ``z`` (scikit-learn's ``IsotonicRegression``); flexible, but with
  few positives (53 in the devset validation set) it learns steps from noise and ties windows of different scores.

All three are non-decreasing in ``z``, so the ranking of windows, and AUROC, are unchanged (strictly increasing for
temperature and Platt). Which one a model gets is chosen by :func:`choose_method` — the lowest cross-validated
log-loss on the validation windows — and the measurement that set the default is in the README
("Reading the calls"). A fitted calibration is plain floats and tensors (:meth:`Calibration.to_state`), stored in
model.pt under ``calibration``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from .calls import DEFAULT_HETEROGENEITY, fit_null
from .data.encoding import CODE_N
from .metrics import brier_score, calibration_metrics, expected_calibration_error, reliability_bins

METHODS = ("temperature", "platt", "isotonic")
#: Chosen by cross-validated log-loss on the validation windows of four viral models (README, "Reading the calls").
DEFAULT_METHOD = "platt"
#: Raw log-odds are clipped to this magnitude: a k-mer model's probability of exactly 0 or 1 would be infinite.
MAX_LOG_ODDS = 30.0


def log_odds_from_logits(logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """Raw log-odds of the positive class from two-class logits.

    Parameters
    ----------
    logits : array, shape (N, 2)

    Returns
    -------
    np.ndarray, shape (N,) float64: ``logits[:, 1] - logits[:, 0]`` (softmax of two classes = sigmoid of this).
    """
    logits = np.asarray(logits, dtype=np.float64)
    return np.clip(logits[:, 1] - logits[:, 0], -MAX_LOG_ODDS, MAX_LOG_ODDS)


def log_odds_from_proba(p: np.ndarray) -> np.ndarray:
    """Raw log-odds from probabilities of the positive class, shape (N,); 0 and 1 map to -/+ :data:`MAX_LOG_ODDS`."""
    with np.errstate(divide="ignore"):
        z = logit(np.asarray(p, dtype=np.float64))
    return np.clip(z, -MAX_LOG_ODDS, MAX_LOG_ODDS)


@dataclass
class Calibration:
    """A fitted map from raw to calibrated log-odds.

    Attributes
    ----------
    method : ``"temperature"``, ``"platt"``, ``"isotonic"`` or ``"none"`` (the identity: old models).
    slope, intercept : float
        Temperature and Platt: calibrated log-odds = ``slope * z + intercept`` (temperature: ``1 / T`` and 0).
    knots_x, knots_y : np.ndarray, shape (K,)
        Isotonic: the step function's breakpoints in ``z`` and its probabilities there, interpolated linearly
        between knots and held constant beyond them (scikit-learn's ``X_thresholds_`` / ``y_thresholds_``).
    n_fit, n_positive : int
        Windows (and viral windows) it was fitted on.
    """

    method: str = "none"
    slope: float = 1.0
    intercept: float = 0.0
    knots_x: np.ndarray | None = None
    knots_y: np.ndarray | None = None
    n_fit: int = 0
    n_positive: int = 0

    def log_odds(self, z: np.ndarray) -> np.ndarray:
        """Calibrated log-odds of raw log-odds ``z`` (shape (N,)); non-decreasing in ``z``."""
        z = np.asarray(z, dtype=np.float64)
        if self.method != "isotonic":
            return self.slope * z + self.intercept
        # an isotonic probability of 0 or 1 would be an infinite log-odds; a frequency estimated from n windows
        # cannot be resolved below 1 / (2n), so it is clipped there
        eps = 0.5 / max(self.n_fit, 1)
        p = np.clip(np.interp(z, self.knots_x, self.knots_y), eps, 1 - eps)
        return logit(p)

    def proba(self, z: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class, shape (N,)."""
        return expit(self.log_odds(z))

    def to_state(self) -> dict:
        """Plain values and tensors, for model.pt (loaded with ``weights_only=True``)."""
        state = {"method": self.method, "slope": float(self.slope), "intercept": float(self.intercept),
                 "n_fit": int(self.n_fit), "n_positive": int(self.n_positive)}  # fmt: skip
        if self.method == "isotonic":
            state["knots_x"] = torch.as_tensor(self.knots_x, dtype=torch.float64)
            state["knots_y"] = torch.as_tensor(self.knots_y, dtype=torch.float64)
        return state

    @classmethod
    def from_state(cls, state: dict) -> "Calibration":
        """From :meth:`to_state`'s dictionary; ValueError for a method this version does not know."""
        if state["method"] not in (*METHODS, "none"):
            raise ValueError(f"unknown calibration method {state['method']!r}")
        knots = {k: state[k].numpy() for k in ("knots_x", "knots_y") if k in state}
        return cls(state["method"], float(state["slope"]), float(state["intercept"]), knots.get("knots_x"),
                   knots.get("knots_y"), int(state.get("n_fit", 0)), int(state.get("n_positive", 0)))  # fmt: skip


def fit_calibration(z: np.ndarray, y: np.ndarray, method: str = "platt") -> Calibration:
    """Fit one calibration on validation windows.

    Parameters
    ----------
    z : np.ndarray, shape (N,)
        Raw log-odds (:func:`log_odds_from_logits` / :func:`log_odds_from_proba`).
    y : np.ndarray, shape (N,) of {0, 1}
        Labels; both classes must be present.
    method : one of :data:`METHODS`.
    """
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y).astype(int)
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")
    if not 0 < y.sum() < len(y):
        raise ValueError("calibration needs windows of both classes")
    counts = {"n_fit": len(y), "n_positive": int(y.sum())}
    if method == "temperature":
        def nll(log_t: float) -> float:
            return log_loss(y, expit(z / np.exp(log_t)), labels=[0, 1])

        log_t = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded").x  # T from 0.007 to 150
        return Calibration("temperature", float(np.exp(-log_t)), 0.0, **counts)
    if method == "platt":
        # C = inf: no penalty, the plain maximum-likelihood fit of two parameters
        fitted = LogisticRegression(C=np.inf, max_iter=1000).fit(z[:, None], y)
        return Calibration("platt", float(fitted.coef_[0, 0]), float(fitted.intercept_[0]), **counts)
    fitted = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(z, y)
    return Calibration("isotonic", knots_x=np.asarray(fitted.X_thresholds_, dtype=np.float64),
                       knots_y=np.asarray(fitted.y_thresholds_, dtype=np.float64), **counts)  # fmt: skip


def cross_validate(z: np.ndarray, y: np.ndarray, methods=METHODS, *, folds: int = 5, repeats: int = 4,
                   seed: int = 0) -> dict[str, dict[str, float]]:  # fmt: skip
    """Out-of-fold log-loss, Brier score and ECE of each method on the validation windows.

    Each repeat splits the windows into ``folds`` stratified folds; every method is fitted on the other folds and
    scored on the held-out one, so the comparison never scores a calibration on the windows it was fitted on.

    Returns
    -------
    dict: method -> {"log_loss", "brier", "ece"} (means over repeats of the pooled out-of-fold values), plus
    ``"uncalibrated"`` (the raw probabilities ``sigmoid(z)``).
    """
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y).astype(int)
    folds = max(2, min(folds, int(y.sum()), int(len(y) - y.sum())))
    sums: dict[str, dict[str, float]] = {}

    def add(name: str, p: np.ndarray) -> None:
        row = sums.setdefault(name, {"log_loss": 0.0, "brier": 0.0, "ece": 0.0})
        row["log_loss"] += log_loss(y, np.clip(p, 1e-12, 1 - 1e-12), labels=[0, 1]) / repeats
        row["brier"] += brier_score(y, p) / repeats
        row["ece"] += expected_calibration_error(y, p) / repeats

    for r in range(repeats):
        out = {m: np.empty(len(y)) for m in methods}
        for fit_rows, held in StratifiedKFold(folds, shuffle=True, random_state=seed + r).split(z, y):
            for m in methods:
                out[m][held] = fit_calibration(z[fit_rows], y[fit_rows], m).proba(z[held])
        for m in methods:
            add(m, out[m])
        add("uncalibrated", expit(z))
    return sums


def choose_method(z: np.ndarray, y: np.ndarray, methods=METHODS, *, seed: int = 0) -> tuple[str, dict]:
    """The method with the lowest cross-validated log-loss on the validation windows, and the whole comparison."""
    table = cross_validate(z, y, methods, seed=seed)
    best = min(methods, key=lambda m: table[m]["log_loss"])
    return best, table


# ------------------------------------------------------------------------------------------------- a model's state
#: Lengths a record shorter than the window is tested at (README: how the null rate grows as windows are cut).
SHORT_LENGTHS = (50, 100, 150, 200, 250, 270, 285)


def fit_model_calibration(val_log_odds: np.ndarray, y_val: np.ndarray, threshold: float, *,
                          method: str = DEFAULT_METHOD) -> dict:  # fmt: skip
    """The ``calibration`` entry of model.pt for a model scoring table rows (or windows, without a contig null).

    Parameters
    ----------
    val_log_odds : np.ndarray, shape (N,)
        Raw log-odds of the validation rows.
    y_val : np.ndarray, shape (N,)
    threshold : float
        The model's operating point as a probability of its own (uncalibrated) scores.

    Returns
    -------
    dict of plain values and tensors: ``method``, ``threshold`` (raw log-odds), ``window``
    (:meth:`Calibration.to_state`).
    """
    return {"method": method, "threshold": float(log_odds_from_proba(np.array([threshold]))[0]),
            "window": fit_calibration(val_log_odds, y_val, method).to_state()}  # fmt: skip


def fit_viral_calibration(score: Callable[[np.ndarray, bool], np.ndarray], codes: np.ndarray, y_val: np.ndarray,
                          threshold: float, *, method: str = DEFAULT_METHOD,
                          heterogeneity: float | None = None) -> dict:  # fmt: skip
    """The ``calibration`` entry of a viral model: window calibrations and contig nulls, one strand and both.

    Parameters
    ----------
    score : callable
        ``score(codes, both_strands)`` -> raw log-odds of windows ``(W, L)`` uint8, shape (W,); with
        ``both_strands`` the mean of a window's and its reverse complement's.
    codes : np.ndarray, shape (N, L) uint8
        The validation windows; ``y_val`` (N,) their labels.
    threshold : float
        The model's operating point as a probability of its own (uncalibrated) scores.
    heterogeneity : float or None
        Of the contig null; None -> :data:`resgenome.calls.DEFAULT_HETEROGENEITY`.

    Returns
    -------
    dict: what :func:`fit_model_calibration` returns, plus ``contig_null`` (:class:`resgenome.calls.ContigNull`,
    with the null rates of non-viral windows cut to :data:`SHORT_LENGTHS`), ``validation_viral`` ([viral windows,
    how many pass the threshold]) and ``both_strands`` ({``window``, ``contig_null``} for windows scored on both
    strands, fitted on windows scored that way).
    """

    y_val = np.asarray(y_val).astype(int)
    cv = DEFAULT_HETEROGENEITY if heterogeneity is None else heterogeneity
    null_codes = codes[y_val == 0]
    state = {}
    for both in (False, True):
        z = score(codes, both)
        part = fit_model_calibration(z, y_val, threshold, method=method)
        cuts = {}
        for length in SHORT_LENGTHS:
            cut = null_codes.copy()
            cut[:, length:] = CODE_N  # as a record of `length` bases is padded
            cuts[length] = score(cut, both)
        part["contig_null"] = fit_null(z[y_val == 0], part["threshold"], cv, cuts).to_state()
        part["validation_viral"] = [int(y_val.sum()), int(np.sum(z[y_val == 1] >= part["threshold"]))]
        if both:
            state["both_strands"] = part
        else:
            state.update(part)
    return state


def calibrate_run(val_log_odds: np.ndarray, y_val: np.ndarray, test_log_odds: np.ndarray, y_test: np.ndarray,
                  threshold: float, *, windows: Callable[[np.ndarray, bool], np.ndarray] | None = None,
                  val_codes: np.ndarray | None = None, method: str = DEFAULT_METHOD,
                  heterogeneity: float | None = None) -> tuple[dict, dict, np.ndarray]:  # fmt: skip
    """Fit a trained model's calibration on validation and report it on test: what ``train`` stores and writes.

    Parameters
    ----------
    val_log_odds, test_log_odds : np.ndarray, shapes (N_val,), (N_test,)
        Raw log-odds of the validation and test rows; ``y_val``, ``y_test`` their labels.
    threshold : float
        The operating point chosen on validation, as a probability of the model's own scores.
    windows, val_codes : viral task only: ``windows(codes, both_strands) -> raw log-odds`` and the validation
        windows ``(N_val, L)`` uint8, for :func:`fit_viral_calibration` (contig nulls, both strands).

    Returns
    -------
    state : the ``calibration`` entry of model.pt.
    report : for metrics.json: ``method``, Brier score and ECE ``before`` / ``after`` calibration on validation
        (where it was fitted) and on test, and the test reliability bins before and after.
    test_proba : np.ndarray, shape (N_test,): calibrated test probabilities.
    """
    if windows is not None:
        state = fit_viral_calibration(windows, val_codes, y_val, threshold, method=method, heterogeneity=heterogeneity)
    else:
        state = fit_model_calibration(val_log_odds, y_val, threshold, method=method)
    fitted = Calibration.from_state(state["window"])
    test_proba = fitted.proba(test_log_odds)
    report = {"method": method}
    for part, z, y in (("validation", val_log_odds, y_val), ("test", test_log_odds, y_test)):
        report[part] = {"before": calibration_metrics(y, expit(z)), "after": calibration_metrics(y, fitted.proba(z))}
    report["test"]["reliability"] = {
        name: {k: v.tolist() for k, v in reliability_bins(y_test, p).items()}
        for name, p in (("before", expit(test_log_odds)), ("after", test_proba))
    }
    return state, report, test_proba
