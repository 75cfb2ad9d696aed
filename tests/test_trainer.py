"""The trainer: learns, is deterministic for a seed, and resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from resgenome.data.arrays import ArrayData
from resgenome.data.encoding import one_hot
from resgenome.models.ressen import ResSEN
from resgenome.models.resvg import ResVG
from resgenome.predictor import predict_logits
from resgenome.trainer import TrainConfig, fit, learning_rate

from .conftest import write_se_table

SMALL = {"stem_channels": 4, "block1": (8, 8), "block2": (8, 8)}


def _toy(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 1, 12, generator=g)
    y = (X[:, 0, :3].sum(1) > 0.5).long()
    return ArrayData(X, y)


def _cfg(**kw):
    return TrainConfig(**{"epochs": 4, "batch_size": 32, "seed": 7, "progress": False, "patience": 50, **kw})


def test_loss_falls_and_model_learns():
    train, val = _toy(), _toy(seed=1)
    model = ResSEN(12, **SMALL)
    result = fit(model, train, val, _cfg(epochs=8))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    scores = torch.softmax(predict_logits(model, val.X), dim=1)[:, 1].numpy()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(val.y.numpy(), scores) > 0.8


def test_same_seed_same_weights_other_seed_different():
    train, val = _toy(), _toy(seed=1)
    states = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        model = ResSEN(12, **SMALL)
        fit(model, train, val, _cfg(seed=seed))
        states.append(model.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k
    assert any(not torch.equal(states[0][k], states[2][k]) for k in states[0] if states[0][k].is_floating_point())


class _Stop(Exception):
    pass


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    train, val = _toy(), _toy(seed=1)
    torch.manual_seed(0)
    model = ResSEN(12, **SMALL)
    full = fit(model, train, val, _cfg(epochs=5))

    def stop_after_two(message):
        if message.startswith("epoch 2:"):
            raise _Stop

    torch.manual_seed(0)
    state = tmp_path / "train_state.pt"
    with pytest.raises(_Stop):
        fit(ResSEN(12, **SMALL), train, val, _cfg(epochs=5), state_path=state, log=stop_after_two)
    assert state.exists()
    torch.manual_seed(123)  # a fresh process would start with other random state
    resumed_model = ResSEN(12, **SMALL)
    resumed = fit(resumed_model, train, val, _cfg(epochs=5), state_path=state, resume=True)
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in resumed.history]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in full.history]
    for k, v in model.state_dict().items():
        assert torch.equal(v, resumed_model.state_dict()[k]), k


def test_early_stopping_keeps_best_epoch():
    train, val = _toy(), _toy(seed=1)
    model = ResSEN(12, **SMALL)
    result = fit(model, train, val, _cfg(epochs=30, patience=2, lr=0.05))
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 2
    best = max(h["val_auprc"] for h in result.history)
    assert result.best_score == pytest.approx(best)
    assert np.isfinite(result.history[-1]["val_loss"])


# ------------------------------------------------------------------ training options beyond the papers
def test_rc_augmentation_in_the_trainer_is_reproducible_and_changes_training():
    rng = np.random.default_rng(6)
    codes = torch.from_numpy(rng.integers(0, 4, (64, 40)).astype(np.uint8))
    y = torch.from_numpy((rng.random(64) < 0.5).astype(np.int64))
    data = ArrayData(codes, y, one_hot)
    states = []
    for rc in (True, True, False):
        torch.manual_seed(0)
        model = ResVG(width=4, stem_channels=4)
        fit(model, data, data, TrainConfig(epochs=2, batch_size=16, seed=0, progress=False, rc_augment=rc))
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert any(not torch.equal(states[0][k], states[2][k]) for k in states[0] if states[0][k].is_floating_point())


def test_cosine_schedule_warms_up_then_decays_and_constant_is_the_papers():
    cfg = TrainConfig(lr=1e-3, epochs=11, schedule="cosine")
    assert learning_rate(cfg, 1, 0.0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 1, 0.5) == pytest.approx(5.5e-4)
    assert learning_rate(cfg, 2, 0.0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 7, 0.0) == pytest.approx(5e-4)  # half way through epochs 2..11
    rates = [learning_rate(cfg, e, 0.0) for e in range(2, 12)]
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert learning_rate(TrainConfig(lr=1e-3), 5, 0.3) == 1e-3
    with pytest.raises(ValueError):
        learning_rate(TrainConfig(schedule="steps"), 1, 0.0)


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    se_csv = write_se_table(tmp_path / "se.csv", n=1200, seed=2)
    args = ["train", "superenhancer", "--data", str(se_csv), "--model", "ressen", "--preset", "smoke", "--epochs", "4",
            "--batch-size", "8", "--patience", "50", "--seed", "3", "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "resgenome"]
    reference = tmp_path / "reference"
    subprocess.run(command + args + ["--out", str(reference)], check=True, env=env, capture_output=True)

    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen(command + args + ["--out", str(interrupted)], env=env, stderr=subprocess.PIPE)
    state = interrupted / "train_state.pt"
    deadline = time.monotonic() + 120
    while not state.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be interrupted"
    time.sleep(0.3)  # well inside the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (interrupted / "metrics.json").exists()
    assert not any(p.name.endswith(".tmp") or p.name.startswith(".") for p in interrupted.iterdir())

    resumed = subprocess.run(command + args + ["--out", str(interrupted), "--resume"], env=env, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()
    ref = json.loads((reference / "metrics.json").read_text())
    got = json.loads((interrupted / "metrics.json").read_text())
    assert got == ref
    assert (reference / "history.csv").read_text() == (interrupted / "history.csv").read_text()
