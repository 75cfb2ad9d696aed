"""Classical baselines: exported arrays reproduce scikit-learn's probabilities exactly."""

from __future__ import annotations

import numpy as np
import pytest

from resgenome.models.classical import export, make_estimator, predict_exported


@pytest.mark.parametrize("name,params", [("rf", {"n_estimators": 15}), ("logreg", {}), ("hgb", {"max_iter": 25})])
def test_export_matches_sklearn(name, params):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 7))
    y = (X[:, 0] - X[:, 3] ** 2 + rng.normal(0, 0.5, 400) > -0.5).astype(int)
    est = make_estimator(name, seed=0, **params).fit(X[:300], y[:300])
    exported = export(est)
    np.testing.assert_allclose(predict_exported(exported, X[300:]), est.predict_proba(X[300:])[:, 1], atol=1e-12)
    import torch

    # only tensors and plain values: loadable with weights_only
    for value in exported.values():
        assert isinstance(value, (torch.Tensor, str, float))
