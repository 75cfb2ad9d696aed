"""Feature transforms before Eq. 1-4 and feature orders (data/feature_transforms.py) and their use by the task."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.preprocessing import QuantileTransformer

from resgenome.data.feature_transforms import apply_transform, fit_order, fit_transform
from resgenome.pipeline import RunOptions, train_model
from resgenome.predictor import Predictor
from resgenome.tasks import get_task
from resgenome.trainer import TrainConfig


def test_log1p_is_sign_preserving_and_needs_no_fit():
    X = np.array([[0.0, 1.0, -1.0, np.e - 1]])
    state = fit_transform("log1p", X)
    assert state == {"kind": "log1p"}
    assert np.allclose(apply_transform(state, X), [[0.0, np.log(2), -np.log(2), 1.0]])


def test_rank_equals_scikit_learns_quantile_transform_except_at_tied_minima():
    rng = np.random.default_rng(0)
    X = rng.gamma(0.5, 2.0, size=(400, 3))
    X[rng.random((400, 3)) < 0.4] = 0.0  # many tied zeros, as sparse ChIP signals have
    new = np.vstack([X[:50], [[-1.0, 0.5, 1e6]]])  # training values, and values beyond the training range
    state = fit_transform("rank", X)
    ours = apply_transform(state, new)
    sklearn = QuantileTransformer(n_quantiles=400, output_distribution="uniform").fit(X).transform(new)
    interior = new > 0
    assert np.allclose(ours[interior], sklearn[interior], atol=1e-9)
    # scikit-learn sends every tied minimum to 0; we send it to the middle of the quantiles it occupies
    zero_share = (X == 0).mean(axis=0)
    zeros = np.argwhere(new == 0)
    assert np.allclose(ours[zeros[:, 0], zeros[:, 1]], zero_share[zeros[:, 1]] / 2, atol=0.01)
    assert ours[-1, 0] == 0.0 and ours[-1, 2] == 1.0  # beyond the training range: clipped


def test_clustered_order_puts_correlated_features_side_by_side():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 500))
    # columns: a, b, a + noise, b + noise, a + noise: the a-family and the b-family must each be contiguous
    X = np.column_stack([a, b, a + 0.1 * rng.normal(size=500), b + 0.1 * rng.normal(size=500),
                         a + 0.1 * rng.normal(size=500)])  # fmt: skip
    order = fit_order("clustered", X)
    assert sorted(order) == [0, 1, 2, 3, 4]
    families = ["a" if i in (0, 2, 4) else "b" for i in order]
    assert families in (["a"] * 3 + ["b"] * 2, ["b"] * 2 + ["a"] * 3)
    assert fit_order("paper", X) == [0, 1, 2, 3, 4]


def test_task_fits_on_training_rows_and_the_checkpoint_replays_it(se_csv, tmp_path):
    task = get_task("superenhancer")
    table = task.load(str(se_csv))
    train = np.arange(100)
    prep = task.fit_preprocessing(table, train, {"transform": "rank", "feature_order": "clustered"})
    assert prep["transform"]["kind"] == "rank" and sorted(prep["order"]) == list(range(36))
    scaled = task.neural_inputs(table.subset(train), prep).X[:, 0]
    # rank then Eq. 1-4 on the training rows: each column has mean 0 and sd 1 (in the new order)
    assert torch.allclose(scaled.mean(0), torch.zeros(36), atol=1e-4)
    assert torch.allclose(scaled.std(0, unbiased=False), torch.ones(36), atol=1e-3)
    cfg = TrainConfig(epochs=1, batch_size=64, seed=0, progress=False)
    opts = RunOptions(model="ressen", preset="smoke", transform="log1p", feature_order="clustered", train=cfg)
    metrics = train_model("superenhancer", str(se_csv), opts, tmp_path / "run", log=None, figures=False)
    ckpt = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert ckpt["preprocessing"]["transform"] == {"kind": "log1p"}
    predictor = Predictor.load(tmp_path / "run" / "model.pt")
    test_rows = np.loadtxt(tmp_path / "run" / "test_scores.csv", delimiter=",", skiprows=1)[:, 2]
    split = task.make_split(table, "chromosome", 0)
    assert np.allclose(predictor.score_dataset(table.subset(split.test)), test_rows, atol=1e-6)
    assert metrics["test"]["n"] == len(split.test)
