"""Contig calls of the viral task: which windows count, how a contig's windows combine, p-values, q-values, calls.

A contig is cut into windows (:func:`resgenome.data.encoding.windows`). Each window with enough real bases
(:func:`scorable`) gets a calibrated probability (:mod:`resgenome.calibration`), and it *looks viral* when that
probability reaches the window threshold — the model's operating point chosen on validation. The contig's evidence
is how many of its windows look viral, ``k`` of ``n``: one bounded vote per window, so a contig's evidence cannot be
carried by one extreme window, and adding windows that do not look viral can only lower the fraction ``k / n``.

Whether ``k`` of ``n`` is surprising for a non-viral contig is asked of an empirical null fitted on the validation
set's non-viral windows (:class:`ContigNull`), which the model never trained on:

- the rate ``r0`` at which non-viral windows look viral, counted with one added pseudo-window (so a p-value is
  never below what the validation set can support);
- overlapping windows are not independent: at stride ``s`` a window shares ``window - s`` bases with the next, so a
  contig of ``n`` windows carries the evidence of ``1 + (n - 1) * s / window`` independent ones (the number of
  windows that tile it without overlap), and ``k`` is scaled the same way (:func:`effective_counts`);
- non-viral genomes and samples differ: the rate at which their windows look viral varies from contig to contig
  around ``r0``. Without that variation in the null, every long enough contig of a sample whose rate is a little
  above ``r0`` would become "significant" — the length inflation this module exists to prevent. The null rate of a
  contig is therefore a Beta distribution with mean ``r0`` and coefficient of variation ``heterogeneity``, and ``k``
  is beta-binomial: a single window gets p-value ``r0`` exactly, whatever the heterogeneity; a long contig must
  show a fraction of viral-looking windows well above the rates non-viral contigs plausibly have.

A contig of one scored window (a record of up to one window) gets a finer p-value, the window's rank among the null
windows (:meth:`ContigNull.window_p_values`): the same call at the operating point, and a strong window is not
stuck at ``r0`` when q-values are wanted. Two consequences stand: a p-value cannot go below
``1 / (n_null + 1)`` (4.3e-4 for the devset's 2,311 non-viral validation windows), so across thousands of single
windows a 5% FDR has little room; and appending a window to a one-window contig switches it to the count, so in
``--fdr`` mode (not at the operating point) its p-value can rise.

p-values of a run become Benjamini-Hochberg q-values (:func:`q_values`); a contig is called ``viral`` when its
q-value is at most ``--fdr``, or, without ``--fdr``, when its p-value is at most ``r0`` (the operating point: a
300-bp contig is called exactly as the window threshold calls it, and a contig of any length that is non-viral like
the validation set is called viral with that same probability). Contigs shorter than ``--min-length`` or without a
scorable window are ``no-call`` (:func:`call_contigs`). The measurements behind each default are in the README
("Reading the calls").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import logsumexp
from scipy.stats import betabinom, binom, false_discovery_control

from .call_options import DEFAULT_HETEROGENEITY, DEFAULT_MAX_N_FRACTION, DEFAULT_MIN_LENGTH
from .data.encoding import CODE_N

CALLS = ("viral", "non-viral", "no-call")
__all__ = ["CALLS", "DEFAULT_HETEROGENEITY", "DEFAULT_MAX_N_FRACTION", "DEFAULT_MIN_LENGTH", "CallRule", "ContigNull",
           "as_written", "call_contigs", "contig_calls", "effective_counts", "fit_null", "q_values", "scorable"]
_EXACT_TAIL = 1e-6  # below this, beta-binomial tails are summed term by term: 1 - cdf loses the digits
_SCIPY_MAX_TRIALS = 50_000  # above this (contigs over ~15 Mbp at stride 150), our bounded summation instead


def scorable(window_codes: np.ndarray, max_n_fraction: float = DEFAULT_MAX_N_FRACTION) -> np.ndarray:
    """Which windows hold enough real bases to be evidence.

    Parameters
    ----------
    window_codes : np.ndarray, shape (W, L) uint8
        Codes (0-3 bases, :data:`~resgenome.data.encoding.CODE_N` for N); a short record's window is N-padded.
    max_n_fraction : float in [0, 1)

    Returns
    -------
    np.ndarray, shape (W,) bool: the fraction of N in the window is at most ``max_n_fraction``.
    """
    n_fraction = (np.asarray(window_codes) == CODE_N).mean(axis=1)
    return n_fraction <= max_n_fraction


def effective_counts(k: np.ndarray, n: np.ndarray, stride: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent windows' worth of viral-looking (K) and other (M) windows among ``n`` windows at ``stride``.

    Windows ``window`` bases apart do not overlap, so a contig of ``n`` windows at ``stride`` carries the evidence
    of ``1 + (n - 1) * f`` independent windows, ``f = stride / window`` (the windows that tile it without
    overlap). Split the same way: ``K = floor(1 + (k - 1) f)`` viral-looking ones (0 when ``k = 0``) and
    ``M = ceil((n - k) f)`` others. Rounding K down and M up keeps the p-value conservative, and makes it exactly
    monotone: a viral-looking window appended to a contig can only raise K, any other only M.

    Parameters
    ----------
    k, n : np.ndarray, shape (C,)
    stride, window : int

    Returns
    -------
    K, M : np.ndarray, shape (C,) float64 holding integers.
    """
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    f = min(stride, window) / window
    eps = 1e-9  # (n - k) * f is an integer more often than floating point says
    K = np.where(k > 0, np.floor(1 + (k - 1) * f + eps), 0.0)
    M = np.ceil((n - k) * f - eps)
    return K, M


@dataclass
class ContigNull:
    """The null of a contig's count of viral-looking windows, fitted on validation non-viral windows.

    Attributes
    ----------
    threshold : float
        Raw log-odds (before calibration) at and above which a window looks viral: the model's operating point.
        Calibration keeps the order of windows, so the same windows pass its calibrated value.
    n_null, n_above : int
        Non-viral validation windows, and how many of them look viral.
    heterogeneity : float
        Coefficient of variation of the contig-to-contig null rate (0: one rate for every contig, binomial).
    short : tuple of (length, n_null, n_above)
        The same count for the validation windows cut to ``length`` bases and N-padded, as a record shorter than
        the window is: padding makes non-viral windows look viral far more often (README), so a short record is
        tested against the rate of its own length.
    scores, short_scores : np.ndarray, shape (n_null,), sorted; dict length -> such an array
        The null windows' raw log-odds (whole, and cut to each length of ``short``), for the p-value of a contig
        of one window (:meth:`window_p_values`); None in a null fitted without them.
    """

    threshold: float
    n_null: int
    n_above: int
    heterogeneity: float = DEFAULT_HETEROGENEITY
    short: tuple[tuple[int, int, int], ...] = ()
    scores: np.ndarray | None = field(default=None, compare=False)
    short_scores: dict[int, np.ndarray] = field(default_factory=dict, compare=False)

    @property
    def rate(self) -> float:
        """``r0``: the rate at which non-viral windows look viral, with one pseudo-window that does."""
        return (self.n_above + 1) / (self.n_null + 1)

    def rate_at(self, length: np.ndarray) -> np.ndarray:
        """Null rate of one N-padded window holding ``length`` real bases, shape (C,).

        The rate measured at the longest cut at or below ``length``, never below the rate of any longer cut or of
        whole windows (shorter is never easier); 1 below the shortest cut (nothing known, nothing claimed).
        """
        length = np.asarray(length)
        cuts = sorted(self.short)
        grid = np.array([c[0] for c in cuts] + [np.iinfo(np.int64).max])
        rates = np.array([(c[2] + 1) / (c[1] + 1) for c in cuts] + [self.rate])
        rates = np.maximum.accumulate(rates[::-1])[::-1]  # each cut at least as high as every longer one
        where = np.searchsorted(grid, length, side="right") - 1
        return np.where(where >= 0, rates[np.maximum(where, 0)], 1.0)

    def window_p_values(self, z: np.ndarray, length: np.ndarray, window: int) -> np.ndarray:
        """p-values of contigs of one scored window: the share of null windows scoring at least as high.

        ``(1 + #{null >= z}) / (n_null + 1)`` for each raw log-odds ``z`` (C,); a record shorter than ``window``
        (``length`` (C,)) is ranked among the null windows cut to the longest cut at or below its length and every
        longer cut, the largest p-value kept (shorter is never easier); 1 below the shortest cut. At the threshold
        this is :attr:`rate`, above it smaller: one window's evidence at the resolution the validation set allows.
        """
        z, length = np.asarray(z, dtype=np.float64), np.asarray(length)

        def rank_p(scores: np.ndarray) -> np.ndarray:
            return (1 + len(scores) - np.searchsorted(scores, z, side="left")) / (len(scores) + 1)

        p = rank_p(self.scores)
        cuts = np.array(sorted(self.short_scores))
        if len(cuts) == 0:
            return np.where(length < window, 1.0, p)
        # a padded record's own cut: the longest at or below its length (none below the shortest cut)
        own = np.where(length >= cuts[0], cuts[np.maximum(np.searchsorted(cuts, length, side="right") - 1, 0)], 0)
        for cut in cuts:
            longer = (length < window) & (own > 0) & (cut >= own)
            p = np.where(longer, np.maximum(p, rank_p(self.short_scores[int(cut)])), p)
        return np.where((length < window) & (own == 0), 1.0, p)

    def beta(self) -> tuple[float, float] | None:
        """(a, b) of the Beta distribution of contig null rates; None for no heterogeneity."""
        r, cv = self.rate, self.heterogeneity
        if cv <= 0:
            return None
        total = max((1 - r) / (cv * cv * r) - 1, 1e-6)  # a + b, from variance (cv r)^2 = r (1 - r) / (a + b + 1)
        return r * total, (1 - r) * total

    def p_values(self, k: np.ndarray, n: np.ndarray, stride: int, window: int,
                 length: np.ndarray | None = None, best: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """P(a non-viral contig shows at least this many viral-looking windows), per contig.

        Parameters
        ----------
        k, n : np.ndarray, shape (C,)
            Viral-looking and scored windows of each contig; a contig with ``n == 0`` gets NaN.
        stride, window : int
            Of the windows, for :func:`effective_counts`.
        length : np.ndarray, shape (C,), optional
            Bases of each contig: one shorter than ``window`` (one padded window) is tested at :meth:`rate_at`.
        best : np.ndarray, shape (C,), optional
            The highest raw log-odds of each contig's windows: a contig of one scored window gets the finer
            :meth:`window_p_values` (same call at the operating point, smaller p-values for stronger windows).

        Returns
        -------
        np.ndarray, shape (C,) float64 in (0, 1], NaN where ``n == 0``: ``P(X >= K)`` for X beta-binomial on
        ``K + M`` draws (binomial at rate ``r0`` without heterogeneity); 1 when ``K == 0``.
        """
        K, M = effective_counts(k, n, stride, window)
        trials = K + M
        p = np.full(len(K), np.nan)
        test = (np.asarray(n) > 0) & (K > 0)
        ab = self.beta()
        if ab is None:
            p[test] = binom.sf(K[test] - 1, trials[test], self.rate)
        else:
            p[test] = _betabinom_sf(K[test], trials[test], *ab)
            p[test & (trials == 1)] = self.rate  # exactly: scipy's sf of one draw is off by ~1e-9
        p[(np.asarray(n) > 0) & (K == 0)] = 1.0
        if length is not None:
            padded = test & (np.asarray(length) < window)
            p[padded] = self.rate_at(np.asarray(length)[padded])
        if best is not None and self.scores is not None:
            # one window: its rank among the null windows (at most the count's p-value, which only says "passed")
            single = test & (np.asarray(n) == 1)
            length_ = np.full(len(K), window) if length is None else np.asarray(length)
            p[single] = self.window_p_values(np.asarray(best)[single], length_[single], window)
        return np.where(np.isnan(p), p, np.clip(p, np.finfo(np.float64).tiny, 1.0))

    def to_state(self) -> dict:
        """Plain values, for model.pt."""
        state = {"statistic": "viral-window-count", "threshold": float(self.threshold), "n_null": int(self.n_null),
                 "n_above": int(self.n_above), "heterogeneity": float(self.heterogeneity),
                 "short": [list(map(int, c)) for c in self.short]}  # fmt: skip
        if self.scores is not None:
            state["scores"] = torch.as_tensor(self.scores, dtype=torch.float64)
            state["short_scores"] = {int(k): torch.as_tensor(v, dtype=torch.float64)
                                     for k, v in self.short_scores.items()}  # fmt: skip
        return state

    @classmethod
    def from_state(cls, state: dict) -> "ContigNull":
        scores = state["scores"].numpy() if "scores" in state else None
        short_scores = {int(k): v.numpy() for k, v in state.get("short_scores", {}).items()}
        return cls(float(state["threshold"]), int(state["n_null"]), int(state["n_above"]),
                   float(state["heterogeneity"]), tuple(tuple(int(v) for v in c) for c in state.get("short", ())),
                   scores, short_scores)  # fmt: skip


def _betabinom_sf(k: np.ndarray, n: np.ndarray, a: float, b: float) -> np.ndarray:
    """P(X >= k) for X beta-binomial(n, a, b), elementwise.

    scipy sums the probability mass from 0 to k in one array, so for a chromosome-sized contig (n in the millions)
    it needs tens of MB and loses every digit of a tiny tail to ``1 - cdf``. Those contigs, and any tail scipy puts
    below :data:`_EXACT_TAIL`, are summed here term by term, in bounded chunks, from k outwards.
    """
    p = np.empty(len(k))
    small = n <= _SCIPY_MAX_TRIALS
    p[small] = betabinom.sf(k[small] - 1, n[small], a, b)
    for i in np.flatnonzero(~small | (p < _EXACT_TAIL)):
        mean = n[i] * a / (a + b)
        if k[i] > mean:  # the terms from k up decrease
            p[i] = np.exp(_log_sum_from(k[i], n[i], a, b, step=1))
        else:  # p is large: one minus the lower tail, whose terms decrease from k - 1 down
            p[i] = -np.expm1(_log_sum_from(k[i] - 1, n[i], a, b, step=-1)) if k[i] > 0 else 1.0
    return p


def _log_sum_from(start: float, n: float, a: float, b: float, step: int, chunk: int = 4096) -> float:
    """log of the sum of beta-binomial terms from ``start`` moving by ``step`` (+1 up to n, -1 down to 0), chunk by
    chunk, until the terms no longer count (below e^-35 of the sum): the terms decrease in that direction."""
    total = -np.inf
    stop = n + 1 if step > 0 else -1
    for lo in range(int(start), int(stop), step * chunk):
        hi = min(lo + chunk, n + 1) if step > 0 else max(lo - chunk, -1)
        terms = betabinom.logpmf(np.arange(lo, hi, step), n, a, b)
        total = np.logaddexp(total, logsumexp(terms))
        if terms[-1] < total - 35:
            break
    return float(total)


def fit_null(null_log_odds: np.ndarray, threshold: float, heterogeneity: float = DEFAULT_HETEROGENEITY,
             short: dict[int, np.ndarray] | None = None) -> ContigNull:  # fmt: skip
    """The contig null from the raw log-odds of non-viral validation windows, shape (N,).

    ``short`` maps a length to the raw log-odds of the same windows cut to that length and N-padded.
    """
    z = np.asarray(null_log_odds, dtype=np.float64)
    if len(z) == 0:
        raise ValueError("the null needs non-viral windows")
    short = {int(L): np.sort(np.asarray(v, dtype=np.float64)) for L, v in (short or {}).items()}
    cuts = tuple((L, len(v), int(np.sum(v >= threshold))) for L, v in sorted(short.items()))
    return ContigNull(float(threshold), len(z), int(np.sum(z >= threshold)), float(heterogeneity), cuts, np.sort(z),
                      short)  # fmt: skip


def q_values(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of the p-values of one run, shape (C,); NaN (no-call) stays NaN and does not
    count among the tests."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(len(p), np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        q[tested] = false_discovery_control(p[tested], method="bh")
    return q


@dataclass(frozen=True)
class CallRule:
    """How contigs are called: ``fdr`` set -> by q-value; otherwise by p-value at ``alpha`` (the null rate)."""

    fdr: float | None = None
    alpha: float = 0.0
    min_length: int = DEFAULT_MIN_LENGTH

    def describe(self) -> str:
        return f"q <= {self.fdr:g} (Benjamini-Hochberg)" if self.fdr is not None else f"p <= {self.alpha:.4g}"


def call_contigs(p: np.ndarray, q: np.ndarray, length: np.ndarray, n_scored: np.ndarray,
                 rule: CallRule) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The call and its reason for each contig.

    Parameters
    ----------
    p, q : np.ndarray, shape (C,)
        p- and q-values (NaN where nothing was scored).
    length, n_scored : np.ndarray, shape (C,)
        Bases and scored windows of each contig.
    rule : CallRule

    Returns
    -------
    calls, reasons : np.ndarray of str, shape (C,)
        ``viral`` / ``non-viral`` / ``no-call``; the reason names the rule that decided (``q<=fdr``, ``p>alpha``,
        ``shorter-than-min-length``, ``no-scorable-window`` ...).
    """
    length, n_scored = np.asarray(length), np.asarray(n_scored)
    value, name = (q, "q") if rule.fdr is not None else (p, "p")
    cut, cut_name = (rule.fdr, "fdr") if rule.fdr is not None else (rule.alpha, "alpha")
    # the operating point alpha is r0 itself: a contig with one viral-looking window has p = r0 up to rounding
    viral = np.asarray(value) <= cut * (1 + 1e-6)
    calls = np.where(viral, "viral", "non-viral").astype(object)
    reasons = np.where(viral, f"{name}<={cut_name}", f"{name}>{cut_name}").astype(object)
    empty = n_scored == 0
    calls[empty], reasons[empty] = "no-call", "no-scorable-window"
    short = length < rule.min_length
    calls[short], reasons[short] = "no-call", "shorter-than-min-length"
    return calls.astype(str), reasons.astype(str)


#: Significant digits of p- and q-values in tables; q-values are computed from the p-values as written, so that
#: anyone (and merge-predictions, joining shards) gets the same q-values from the table alone.
DIGITS = 6


def as_written(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to :data:`DIGITS` significant digits, as a table shows it; NaN stays NaN."""
    return np.array([float(f"{v:.{DIGITS}g}") for v in np.asarray(x, dtype=np.float64)])


def contig_calls(k: np.ndarray, n: np.ndarray, length: np.ndarray, null: ContigNull, rule: CallRule, *,
                 stride: int, window: int, best: np.ndarray | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """p-values, q-values, calls and reasons of every contig of a run, at once (q-values need all p-values).

    Parameters
    ----------
    k, n, length : np.ndarray, shape (C,)
        Viral-looking windows, scored windows and bases of each contig.
    best : np.ndarray, shape (C,), optional
        Highest raw log-odds of each contig's windows (see :meth:`ContigNull.p_values`).
    null : ContigNull
    rule : CallRule
    stride, window : int

    Returns
    -------
    dict of arrays of shape (C,): ``p_value``, ``q_value`` (NaN for ``no-call`` contigs, which are not tested),
    ``call``, ``reason``.
    """
    length, n = np.asarray(length), np.asarray(n)
    p = null.p_values(k, n, stride, window, length, best)
    p[length < rule.min_length] = np.nan  # not tested: they do not count among the run's tests either
    q = q_values(as_written(p))
    calls, reasons = call_contigs(p, q, length, n, rule)
    return {"p_value": p, "q_value": q, "call": calls, "reason": reasons}
