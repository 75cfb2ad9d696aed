"""Classical baselines: exported arrays reproduce scikit-learn's probabilities and decision values exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import sparse

from resgenome.models.classical import export, log_odds_exported, make_estimator, predict_exported


@pytest.mark.parametrize("name,params", [("rf", {"n_estimators": 15}), ("logreg", {}), ("hgb", {"max_iter": 25})])
def test_export_matches_sklearn(name, params):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 7))
    y = (X[:, 0] - X[:, 3] ** 2 + rng.normal(0, 0.5, 400) > -0.5).astype(int)
    est = make_estimator(name, seed=0, **params).fit(X[:300], y[:300])
    exported = export(est)
    test = X[300:]
    np.testing.assert_allclose(predict_exported(exported, test), est.predict_proba(test)[:, 1], atol=1e-12)
    if name == "rf":  # a forest has no decision function: the log-odds of its vote fraction
        p = est.predict_proba(test)[:, 1]
        with np.errstate(divide="ignore"):
            expected = np.log(p) - np.log1p(-p)
    else:
        expected = est.decision_function(test)
    np.testing.assert_allclose(log_odds_exported(exported, test), expected, atol=1e-9)
    from_sparse = log_odds_exported(exported, sparse.csr_matrix(test))
    np.testing.assert_array_equal(from_sparse, log_odds_exported(exported, test))
    # only tensors and plain values: loadable with weights_only
    for value in exported.values():
        assert isinstance(value, (torch.Tensor, str, float))
