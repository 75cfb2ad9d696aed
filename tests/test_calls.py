"""Tests for contig calls (resgenome.calls): scorable windows, effective counts, the null, q-values, calls."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from resgenome.calls import (
    CallRule,
    ContigNull,
    call_contigs,
    contig_calls,
    effective_counts,
    fit_null,
    q_values,
    scorable,
)
from resgenome.data.encoding import CODE_N

NULL = ContigNull(threshold=0.0, n_null=999, n_above=9)  # r0 = 10 / 1000


def test_windows_with_too_many_n_are_not_scored():
    codes = np.zeros((4, 10), dtype=np.uint8)
    codes[1, :5] = CODE_N  # exactly half
    codes[2, :6] = CODE_N
    codes[3, :] = CODE_N
    assert scorable(codes, 0.5).tolist() == [True, True, False, False]
    assert scorable(codes, 0.0).tolist() == [True, False, False, False]


def test_effective_counts_by_hand():
    k, n = np.array([0, 1, 1, 3, 2, 5]), np.array([1, 1, 3, 3, 19, 5])
    K, M = effective_counts(k, n, stride=150, window=300)
    assert K.tolist() == [0, 1, 1, 2, 1, 3] and M.tolist() == [1, 0, 1, 0, 9, 0]
    K, M = effective_counts(k, n, stride=300, window=300)  # no overlap: the counts themselves
    assert K.tolist() == k.tolist() and M.tolist() == (n - k).tolist()


@pytest.mark.parametrize("heterogeneity", [0.0, 0.5, 1.0, 3.0])
def test_one_viral_looking_window_has_the_null_rate_as_p_value(heterogeneity):
    null = ContigNull(0.0, 999, 9, heterogeneity)
    assert null.rate == pytest.approx(0.01)
    assert null.p_values(np.array([1, 0]), np.array([1, 1]), 150, 300) == pytest.approx([0.01, 1.0])


def test_without_heterogeneity_and_overlap_the_p_value_is_binomial():
    null = ContigNull(0.0, 999, 9, heterogeneity=0.0)
    k, n = np.array([1, 2, 5, 40]), np.array([10, 10, 100, 1000])
    assert null.p_values(k, n, 300, 300) == pytest.approx(binom.sf(k - 1, n, 0.01), rel=1e-9)


@pytest.mark.parametrize("stride", [1, 100, 150, 300])
@pytest.mark.parametrize("heterogeneity", [0.0, 1.0])
def test_p_values_move_the_right_way_when_windows_are_appended(stride, heterogeneity):
    """Appending a window that does not look viral never lowers p; appending one that does never raises it."""
    null = ContigNull(0.0, 999, 9, heterogeneity)
    k, n = np.meshgrid(np.arange(0, 60), np.arange(1, 60))
    k, n = k[k <= n], n[k <= n]
    p = null.p_values(k, n, stride, 300)
    assert np.all(null.p_values(k, n + 1, stride, 300) >= p * (1 - 1e-12))
    assert np.all(null.p_values(k + 1, n + 1, stride, 300) <= p * (1 + 1e-12))


def test_deep_tail_p_values_are_positive_and_ordered():
    k = np.array([200, 400, 800, 1000])
    p = NULL.p_values(k, np.full(4, 1999), 150, 300)
    assert np.all(p > 0) and np.all(np.diff(p) < 0)


def test_non_viral_contigs_are_not_called_more_often_when_longer():
    """Windows of non-viral contigs look viral at the null rate, independently; at the default operating point the
    share called viral must not grow with length. The max rule (any window over the threshold) fails this."""
    rng = np.random.default_rng(0)
    rule = CallRule(alpha=NULL.rate)
    shares, max_rule = [], []
    for n_windows in (1, 19, 199, 1999):
        n = np.full(20_000, n_windows)
        k = rng.binomial(n, NULL.rate)
        result = contig_calls(k, n, 150 * (n + 1), NULL, rule, stride=150, window=300)
        shares.append(np.mean(result["call"] == "viral"))
        max_rule.append(np.mean(k > 0))
    assert shares[0] == pytest.approx(NULL.rate, abs=0.003)
    assert all(s <= 1.5 * shares[0] for s in shares[1:]), shares
    assert max_rule[-1] > 0.9  # what the old rule did


def test_heterogeneity_keeps_a_sample_with_a_higher_rate_from_becoming_viral_with_length():
    rng = np.random.default_rng(1)
    n = np.full(5_000, 19_999)  # 3-Mbp contigs
    k = rng.binomial(n, 2 * NULL.rate)  # an unseen sample: twice the validation rate
    plain = ContigNull(0.0, 999, 9, heterogeneity=0.0).p_values(k, n, 150, 300)
    robust = NULL.p_values(k, n, 150, 300)
    assert np.mean(plain <= NULL.rate) > 0.9 and np.mean(robust <= NULL.rate) < 0.01


def test_fit_null_counts_windows_at_or_above_the_threshold():
    null = fit_null(np.array([-3.0, -1.0, 0.5, 0.5, 2.0]), threshold=0.5, heterogeneity=0.0)
    assert (null.n_null, null.n_above, null.rate) == (5, 3, pytest.approx(4 / 6))
    assert ContigNull.from_state(null.to_state()) == null


def test_q_values_are_monotone_in_p_and_skip_untested_contigs():
    rng = np.random.default_rng(2)
    p = rng.random(500) ** 3
    p[::7] = np.nan
    q = q_values(p)
    tested = ~np.isnan(p)
    assert np.array_equal(np.isnan(q), ~tested)
    order = np.argsort(p[tested])
    assert np.all(np.diff(q[tested][order]) >= 0) and np.all(q[tested] >= p[tested])
    # by hand: m = 4 tests
    assert q_values(np.array([0.01, 0.04, np.nan, 0.03, 0.5])) == pytest.approx(
        [0.04, 0.16 / 3, np.nan, 0.16 / 3, 0.5], nan_ok=True)


def test_calls_and_reasons():
    p = np.array([0.001, 0.2, np.nan, 0.001, 0.001])
    q = q_values(p)
    length = np.array([3000, 3000, 3000, 100, 3000])
    n_scored = np.array([19, 19, 0, 1, 19])
    calls, reasons = call_contigs(p, q, length, n_scored, CallRule(fdr=0.05, min_length=150))
    assert calls.tolist() == ["viral", "non-viral", "no-call", "no-call", "viral"]
    assert reasons.tolist() == ["q<=fdr", "q>fdr", "no-scorable-window", "shorter-than-min-length", "q<=fdr"]
    calls, reasons = call_contigs(p, q, length, n_scored, CallRule(alpha=0.0005, min_length=150))
    assert calls.tolist()[:2] == ["non-viral", "non-viral"] and reasons[0] == "p>alpha"


def test_short_contigs_are_not_tested():
    result = contig_calls(np.array([1, 1]), np.array([1, 1]), np.array([1, 300]), NULL, CallRule(fdr=0.05),
                          stride=150, window=300)  # fmt: skip
    assert np.isnan(result["p_value"][0]) and result["call"].tolist() == ["no-call", "viral"]
    assert result["q_value"][1] == pytest.approx(NULL.rate)  # one test only


def test_a_short_record_is_tested_at_the_null_rate_of_its_own_length():
    cuts = {150: np.r_[np.zeros(49), -np.ones(50)], 250: np.r_[np.zeros(4), -np.ones(95)]}  # 50 and 5 above
    null = fit_null(np.zeros(99) - 1, 0.0, short=cuts)
    assert null.rate == pytest.approx(0.01)
    assert null.rate_at(np.array([100, 150, 200, 250, 299])) == pytest.approx([1.0, 0.5, 0.5, 0.05, 0.05])
    p = null.p_values(np.array([1, 1, 1, 0]), np.array([1, 1, 1, 1]), 150, 300, np.array([200, 260, 300, 200]))
    assert p == pytest.approx([0.5, 0.05, 0.01, 1.0])
    assert ContigNull.from_state(null.to_state()) == null


def test_chromosome_sized_contigs_get_the_same_p_values_with_bounded_memory(monkeypatch):
    from resgenome import calls

    k, n = np.array([1, 3, 30, 600, 9_000]), np.array([10, 1999, 1999, 1999, 40_000])
    expected = NULL.p_values(k, n, 150, 300)
    monkeypatch.setattr(calls, "_SCIPY_MAX_TRIALS", 0)  # every contig through our own summation
    assert NULL.p_values(k, n, 150, 300) == pytest.approx(expected, rel=1e-6)


def test_one_window_is_ranked_among_the_null_windows():
    z = np.arange(100.0)  # null scores 0 ... 99; the threshold 90 passes 10 of them
    cuts = {150: z + 50, 250: z + 5}  # cut windows score higher: padding makes them look viral
    null = fit_null(z, 90.0, short=cuts)
    assert null.rate == pytest.approx(11 / 101)
    # whole windows: (1 + #null >= z) / 101; at the threshold exactly the rate
    assert null.window_p_values(np.array([90.0, 95.0, 200.0]), np.full(3, 300), 300) == pytest.approx(
        [11 / 101, 6 / 101, 1 / 101])
    # a 260-bp record among the 250-bp cut (and the whole windows); a 100-bp one is below every cut
    assert null.window_p_values(np.array([95.0, 95.0]), np.array([260, 100]), 300) == pytest.approx([11 / 101, 1.0])
    # through p_values: one scored window gets its rank, never more than the count's p-value
    p = null.p_values(np.array([1, 1, 0]), np.array([1, 1, 1]), 150, 300, np.array([300, 300, 300]),
                      np.array([95.0, 90.0, 10.0]))
    assert p == pytest.approx([6 / 101, 11 / 101, 1.0])
    loaded = ContigNull.from_state(null.to_state())
    assert np.array_equal(loaded.scores, null.scores) and np.array_equal(loaded.short_scores[150], cuts[150])


@pytest.mark.parametrize("n_null, n_above", [(1155, 2), (2311, 8), (3954, 111)])
def test_one_window_at_the_threshold_is_called_at_the_operating_point(n_null, n_above):
    """p = r0 exactly for one viral-looking window (scipy's beta-binomial is off by ~1e-9 here), so the default
    call takes it, whatever the heterogeneity."""
    for cv in (0.0, 0.5, 1.0):
        null = ContigNull(0.0, n_null, n_above, cv)
        result = contig_calls(np.array([1]), np.array([1]), np.array([300]), null, CallRule(alpha=null.rate),
                              stride=150, window=300)  # fmt: skip
        assert result["p_value"][0] == null.rate and result["call"][0] == "viral"
