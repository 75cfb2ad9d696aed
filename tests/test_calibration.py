"""Tests for window calibration (resgenome.calibration) and the calibration metrics (Brier, ECE)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from scipy.special import expit

from resgenome import calibration as cal
from resgenome.metrics import brier_score, expected_calibration_error, reliability_bins


def logistic_data(n: int, slope: float, intercept: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw log-odds z and labels drawn with P(y = 1 | z) = sigmoid(slope * z + intercept)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, n)
    return z, (rng.random(n) < expit(slope * z + intercept)).astype(int)


def test_platt_recovers_the_slope_and_intercept_that_made_the_labels():
    z, y = logistic_data(40_000, 0.4, -2.0)
    fitted = cal.fit_calibration(z, y, "platt")
    assert fitted.slope == pytest.approx(0.4, abs=0.03) and fitted.intercept == pytest.approx(-2.0, abs=0.1)


def test_temperature_softens_an_overconfident_model():
    z, y = logistic_data(20_000, 0.25, 0.0)  # the raw log-odds are 4x too confident
    fitted = cal.fit_calibration(z, y, "temperature")
    assert fitted.intercept == 0 and 1 / fitted.slope == pytest.approx(4.0, rel=0.1)


def test_calibration_lowers_the_error_on_new_windows():
    z, y = logistic_data(5_000, 0.3, -1.5, seed=1)
    z_new, y_new = logistic_data(5_000, 0.3, -1.5, seed=2)
    before = expected_calibration_error(y_new, expit(z_new))
    after = {m: expected_calibration_error(y_new, cal.fit_calibration(z, y, m).proba(z_new)) for m in cal.METHODS}
    assert after["platt"] < before / 3 and after["isotonic"] < before / 3
    assert after["temperature"] < before  # it cannot move the midpoint (intercept -1.5), only soften


def test_every_method_keeps_the_order_of_windows():
    z, y = logistic_data(3_000, 0.5, -1.0)
    grid = np.linspace(-15, 15, 601)
    for method in cal.METHODS:
        out = cal.fit_calibration(z, y, method).log_odds(grid)
        assert np.all(np.diff(out) >= 0) and np.all(np.isfinite(out)), method


def test_cross_validation_prefers_platt_when_the_labels_need_a_shift():
    z, y = logistic_data(6_000, 1.0, -3.0)  # a temperature cannot move the midpoint
    method, table = cal.choose_method(z, y)
    assert table["platt"]["log_loss"] < table["temperature"]["log_loss"]
    assert method in ("platt", "isotonic") and set(table) == {*cal.METHODS, "uncalibrated"}


@pytest.mark.parametrize("method", cal.METHODS)
def test_a_calibration_survives_a_weights_only_checkpoint(method):
    z, y = logistic_data(2_000, 0.5, -1.0)
    fitted = cal.fit_calibration(z, y, method)
    buffer = io.BytesIO()
    torch.save({"calibration": fitted.to_state()}, buffer)
    buffer.seek(0)
    loaded = cal.Calibration.from_state(torch.load(buffer, weights_only=True)["calibration"])
    grid = np.linspace(-20, 20, 101)
    assert np.array_equal(loaded.log_odds(grid), fitted.log_odds(grid))


def test_raw_log_odds_from_logits_and_from_probabilities():
    logits = np.array([[0.0, 2.0], [1.0, -1.0]])
    assert np.allclose(cal.log_odds_from_logits(logits), [2.0, -2.0])
    z = cal.log_odds_from_proba(np.array([0.0, 0.5, 1.0, expit(3.0)]))
    assert np.allclose(z, [-cal.MAX_LOG_ODDS, 0.0, cal.MAX_LOG_ODDS, 3.0])


def test_a_calibration_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        cal.fit_calibration(np.zeros(5), np.zeros(5), "platt")


# ------------------------------------------------------------------------------------------------- metrics
def test_brier_and_ece_by_hand():
    y = np.array([1, 0, 0, 1])
    p = np.array([0.8, 0.8, 0.8, 0.8])  # one bin: mean probability 0.8, observed fraction 0.5
    assert brier_score(y, p) == pytest.approx((0.04 + 0.64 + 0.64 + 0.04) / 4)
    assert expected_calibration_error(y, p) == pytest.approx(0.3)
    bins = reliability_bins(np.array([0, 1, 1]), np.array([0.01, 0.99, 1.0]), n_bins=10)
    assert bins["count"].tolist() == [1, 2] and bins["observed"].tolist() == [0.0, 1.0]


def test_ece_of_calibrated_probabilities_is_small():
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = rng.random(200_000) < p
    assert expected_calibration_error(y, p) < 0.005 < expected_calibration_error(y, p**2)
