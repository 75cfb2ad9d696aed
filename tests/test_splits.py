"""Splits: sizes, stratification, no group straddles, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from resgenome.data.splits import group_split, paper_split, random_split
from resgenome.errors import ResgenomeError


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.1).astype(int)
    groups = np.array([f"chr{i % 12 + 1}" for i in range(1000)])
    return y, groups


def test_paper_split_uses_test_as_validation(labels):
    y, _ = labels
    s = paper_split(y, seed=0)
    assert s.optimistic and np.array_equal(s.validation, s.test)
    assert len(s.test) == 100 and len(s.train) == 900
    assert not set(s.train) & set(s.test)
    assert "OPTIMISTIC" in s.describe(y)


def test_random_split_is_stratified_disjoint_and_seeded(labels):
    y, _ = labels
    s = random_split(y, seed=3)
    parts = [set(s.train), set(s.validation), set(s.test)]
    assert sum(map(len, parts)) == 1000 and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert abs(len(s.test) - 100) <= 1 and abs(len(s.validation) - 100) <= 1
    assert abs(y[s.test].mean() - y.mean()) < 0.02
    assert np.array_equal(random_split(y, seed=3).test, s.test)
    assert not np.array_equal(random_split(y, seed=4).test, s.test)


def test_group_split_never_straddles(labels):
    y, groups = labels
    s = group_split(groups, y, seed=0, name="chromosome")
    train_g, val_g, test_g = (set(groups[s.train]), set(groups[s.validation]), set(groups[s.test]))
    assert not (train_g & test_g or train_g & val_g or val_g & test_g)
    assert len(s.test) >= 100 and y[s.test].sum() > 0 and y[s.validation].sum() > 0
    assert sorted(test_g) == s.held_out["test"]


def test_group_split_named_holdout(labels):
    y, groups = labels
    s = group_split(groups, y, seed=0, test_groups=["chr3"])
    assert set(groups[s.test]) == {"chr3"}
    with pytest.raises(ResgenomeError, match="no group named 'chrZ'"):
        group_split(groups, y, seed=0, test_groups=["chrZ"])
