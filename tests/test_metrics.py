"""Metrics against hand-computed values (precision = TP/(TP+FP), not the paper's misprint)."""

from __future__ import annotations

import numpy as np
import pytest

from resgenome.metrics import best_f1_threshold, classification_metrics, paired_bootstrap_auroc_difference


def test_hand_computed_confusion_and_scores():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.1, 0.0])
    m = classification_metrics(y, s, 0.5)
    assert m["confusion"] == {"tp": 2, "fp": 1, "tn": 4, "fn": 1}
    assert m["precision"] == pytest.approx(2 / 3)  # TP/(TP+FP)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["f1"] == pytest.approx(2 / 3)
    # AUROC: 15 positive-negative pairs; only (0.3, 0.7) is misordered
    assert m["auroc"] == pytest.approx(14 / 15)


def test_precision_is_not_recall():
    y = np.array([1, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    m = classification_metrics(y, s, 0.5)
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == 1.0


def test_single_class_gives_no_auc():
    m = classification_metrics(np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4]))
    assert m["auroc"] is None and m["auprc"] is None


def test_best_f1_threshold_separates_perfectly():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.35, 0.4])
    t = best_f1_threshold(y, s)
    assert classification_metrics(y, s, t)["f1"] == 1.0


def test_paired_bootstrap_interval_contains_point_and_sign():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(int)
    good = y + rng.normal(0, 0.5, 400)
    bad = y + rng.normal(0, 2.0, 400)
    r = paired_bootstrap_auroc_difference(y, good, bad, n_boot=300)
    assert r["low"] <= r["diff"] <= r["high"] and r["low"] > 0


def test_pooled_bootstrap_of_one_set_is_the_paired_bootstrap():
    from sklearn.metrics import roc_auc_score

    from resgenome.metrics import _auroc_rows, pooled_paired_bootstrap_auroc_difference

    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.2).astype(int)
    a = y + rng.normal(0, 1, 300)
    b = np.round(y * 0.5 + rng.normal(0, 1, 300), 1)  # ties, as rounded scores have
    assert _auroc_rows(y[None], b[None])[0] == pytest.approx(roc_auc_score(y, b))
    pooled = pooled_paired_bootstrap_auroc_difference([(y, a, b)], n_boot=300, seed=0)
    single = paired_bootstrap_auroc_difference(y, a, b, n_boot=300, seed=0)
    assert pooled["diff"] == pytest.approx(single["diff"])
    assert pooled["low"] == pytest.approx(single["low"]) and pooled["high"] == pytest.approx(single["high"])
    # two repeats, one in each direction: the mean difference is zero and the interval straddles it
    both = pooled_paired_bootstrap_auroc_difference([(y, a, b), (y, b, a)], n_boot=300)
    assert both["diff"] == pytest.approx(0.0, abs=1e-12) and both["low"] < 0 < both["high"]


def test_auprc_rows_equal_average_precision_with_ties_and_duplicates():
    from sklearn.metrics import average_precision_score

    from resgenome.metrics import _auprc_rows

    rng = np.random.default_rng(5)
    for trial in range(20):
        n = int(rng.integers(5, 60))
        y = (rng.random(n) < 0.3).astype(int)
        y[0] = 1
        scores = np.round(y * 0.4 + rng.normal(0, 0.5, n), int(rng.integers(0, 3)))  # coarse rounding: many ties
        idx = rng.integers(0, n, n)  # bootstrap rows: duplicated (score, label) pairs
        for yy, ss in ((y, scores), (y[idx], scores[idx])):
            if yy.sum() == 0:
                assert np.isnan(_auprc_rows(yy[None], ss[None])[0])
                continue
            assert _auprc_rows(yy[None], ss[None])[0] == pytest.approx(average_precision_score(yy, ss)), trial


def test_pooled_bootstrap_of_auprc_detects_the_better_model():
    from resgenome.metrics import pooled_paired_bootstrap_difference

    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.1).astype(int)
    good = y + rng.normal(0, 0.5, 500)
    bad = y + rng.normal(0, 1.5, 500)
    r = pooled_paired_bootstrap_difference([(y, good, bad)], metric="auprc", n_boot=300)
    assert 0 < r["low"] <= r["diff"] <= r["high"]
    flipped = pooled_paired_bootstrap_difference([(y, bad, good)], metric="auprc", n_boot=300)
    assert flipped["diff"] == pytest.approx(-r["diff"]) and flipped["high"] < 0
