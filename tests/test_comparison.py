"""Comparing runs: result rows, mean ± sd over seeds, the paired bootstrap interval, and the verdict sentences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from resgenome.comparison import VARIANT, honest_reading, model_kind, result_row, stack_scores, summarise, summary_text
from resgenome.metrics import classification_metrics, pooled_paired_bootstrap_auroc_difference

from .conftest import make_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("runs"))


def test_a_result_row_holds_test_and_validation_metrics_and_the_gap(runs):
    run = next(r for r in runs if r.model == "resvg")
    row = result_row(run)
    assert row["kind"] == "residual" and row["test_auroc"] == run.metrics["test"]["auroc"]
    assert row["test_tp"] == run.metrics["test"]["confusion"]["tp"]
    assert row["overfit_gap"] == pytest.approx(0.6 - 0.3)  # last epoch: val 0.6, train 0.3
    assert [model_kind("viral", m) for m in ("resvg", "viraminer", "kmer-logreg")] == ["residual", "cnn", "classical"]


def test_summary_is_mean_sd_over_seeds_with_the_paired_interval(runs):
    summary = summarise(runs, n_boot=200)
    assert [(r["protocol"], r["model"]) for r in summary] == [
        (p, m) for p in ("paper", "grouped") for m in ("resvg", "viraminer", "kmer-logreg")]  # fmt: skip
    row = next(r for r in summary if (r["protocol"], r["model"]) == ("grouped", "viraminer"))
    aurocs = [r.metrics["test"]["auroc"] for r in runs if (r.protocol, r.model) == ("grouped", "viraminer")]
    assert row["n_seeds"] == 2 and row["auroc_mean"] == pytest.approx(np.mean(aurocs))
    assert row["auroc_sd"] == pytest.approx(np.std(aurocs, ddof=1))
    pairs = [(r.y, ref.scores, r.scores) for r in runs for ref in runs
             if (r.protocol, r.model, ref.protocol, ref.model) == ("grouped", "viraminer", "grouped", "resvg")
             and r.seed == ref.seed]  # fmt: skip
    expected = pooled_paired_bootstrap_auroc_difference(pairs, n_boot=200, seed=0)
    assert (row["auroc_diff"], row["auroc_diff_low"], row["auroc_diff_high"]) == (
        expected["diff"], expected["low"], expected["high"])  # fmt: skip
    assert row["auroc_diff_vs"] == "resvg" and row["auroc_diff_low"] > 0  # resvg separates the classes better
    residual = next(r for r in summary if (r["protocol"], r["model"]) == ("grouped", "resvg"))
    assert math.isnan(residual["auroc_diff"]) and residual["best_at_last_epoch"] == 2


def test_the_reading_says_who_won_by_the_interval(runs):
    summary = summarise(runs, n_boot=200)
    sentences = honest_reading("viral", summary)
    assert sentences[0].startswith("Under the grouped protocol (2 seeds), resvg beat viraminer, kmer-logreg on test")
    assert any(s.startswith("resvg beat viraminer (ΔAUROC +") for s in sentences)
    assert any(s.startswith("The paper protocol did not clearly change the scores") for s in sentences)
    assert any("Still improving when the epoch budget ran out" in s and "resvg in 4 of 4 runs" in s for s in sentences)

    # a baseline that is better flips the verdict
    for row in summary:
        if row["model"] == "kmer-logreg" and row["protocol"] == "grouped":
            row["auroc_diff"], row["auroc_diff_low"], row["auroc_diff_high"] = -0.2, -0.3, -0.1
    flipped = honest_reading("viral", summary)
    assert "lost to kmer-logreg" in flipped[0] and "kmer-logreg beat resvg (ΔAUROC -0.200" in " ".join(flipped)

    text = summary_text(summary).splitlines()
    assert text[0].startswith("task") and "dAUROC res-model [95% CI]" in text[0]
    assert any(line.split()[:3] == ["viral", "grouped", "kmer-logreg"] and "-0.200 [-0.300, -0.100]" in line
               for line in text)  # fmt: skip


def test_the_best_variant_gets_its_own_verdicts_after_the_paper_model(tmp_path):
    summary = summarise(make_runs(tmp_path, variant=True), n_boot=200)
    stack = VARIANT["viral"]
    assert stack.startswith("stack(") and [r["model"] for r in summary if r["protocol"] == "grouped"] == [
        "resvg", "resvg-rcaug", "viraminer", "kmer-logreg", stack]  # fmt: skip
    assert not any(r["model"] in ("resvg-rcaug", stack) for r in summary if r["protocol"] == "paper")
    row = next(r for r in summary if (r["protocol"], r["model"]) == ("grouped", "kmer-logreg"))
    assert row["variant_auroc_diff_vs"] == stack and row["variant_auroc_diff_low"] > 0
    assert row["variant_auroc_diff"] > row["auroc_diff"]  # the variant separates better than the paper model
    assert model_kind("viral", "resvg-rcaug") == "residual variant" and model_kind("viral", stack) == "stack"
    sentences = honest_reading("viral", summary)
    # the paper model's headline is as before: the models beyond the paper are not among its baselines
    assert sentences[0].startswith("Under the grouped protocol (2 seeds), resvg beat viraminer, kmer-logreg on test")
    variant = next(s for s in sentences if s.startswith(f"Under the grouped protocol (2 seeds), {stack} ("))
    assert "beat resvg, resvg-rcaug, viraminer, kmer-logreg on test AUROC" in variant
    assert f"Best test AUPRC: {stack}" in variant
    assert any(s.startswith(f"{stack} beat kmer-logreg (ΔAUROC +") for s in sentences)


def _members(rng, n):
    """Labels at 10 % prevalence, a member that knows them (logit = 2y + noise) and one that does not."""
    y = (rng.random(n) < 0.1).astype(int)
    informative = 1 / (1 + np.exp(-(2.0 * y - 1 + rng.normal(0, 1, n))))
    noise = rng.random(n)
    return y, informative, noise


def test_a_stack_weighs_its_members_on_validation_and_applies_those_weights_to_test():
    rng = np.random.default_rng(0)
    y_val, inf_val, noise_val = _members(rng, 3000)
    y_test, inf_test, noise_test = _members(rng, 3000)
    stacked = stack_scores(y_val, [inf_val, noise_val], [inf_test, noise_test])
    weights, intercept = np.array(stacked["weights"]), stacked["intercept"]
    assert weights[0] > 0.5 and abs(weights[1]) < 0.2 * weights[0]
    logits = np.column_stack([np.log(p / (1 - p)) for p in (inf_test, noise_test)])
    np.testing.assert_allclose(stacked["test"], 1 / (1 + np.exp(-(intercept + logits @ weights))), rtol=1e-9)
    # validation scores are out-of-fold, one per validation row, and rank like the informative member
    assert stacked["validation"].shape == y_val.shape
    assert classification_metrics(y_val, stacked["validation"])["auroc"] > 0.9
    assert not np.allclose(stacked["validation"], 1 / (1 + np.exp(-(intercept + np.column_stack(
        [np.log(p / (1 - p)) for p in (inf_val, noise_val)]) @ weights))))  # fmt: skip


def test_a_stack_needs_two_members_with_both_parts():
    y = np.array([0, 1] * 10)
    with pytest.raises(ValueError, match="two or more members"):
        stack_scores(y, [np.full(20, 0.5)], [np.full(5, 0.5)])
    with pytest.raises(ValueError, match="two or more members"):
        stack_scores(y, [np.full(20, 0.5)] * 2, [np.full(5, 0.5)])
    with pytest.raises(ValueError, match="at least 2 of each"):
        stack_scores(np.array([1] + [0] * 19), [np.full(20, 0.5)] * 2, [np.full(5, 0.5)] * 2)
