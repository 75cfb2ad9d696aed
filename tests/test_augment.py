"""Reverse-complement augmentation of one-hot batches (augment.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resgenome.augment import random_reverse_complement, reverse_complement_onehot
from resgenome.data.encoding import encode, one_hot, reverse_complement


def _random_onehot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 5, (n, length)).astype(np.uint8)  # code 4 = N
    return one_hot(codes)


def test_onehot_reverse_complement_equals_the_code_reverse_complement():
    codes = encode("ACGTNNAACG").reshape(1, -1)
    assert torch.equal(reverse_complement_onehot(one_hot(codes)), one_hot(reverse_complement(codes)))
    with pytest.raises(ValueError):
        reverse_complement_onehot(torch.zeros(2, 5, 10))


def test_random_reverse_complement_is_reproducible_and_flips_about_half():
    x = _random_onehot(400, 20)
    a = random_reverse_complement(x, torch.Generator().manual_seed(3))
    b = random_reverse_complement(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    flipped = torch.tensor([not torch.equal(a[i], x[i]) for i in range(len(x))])
    assert 150 < int(flipped.sum()) < 250
    assert torch.equal(a[flipped], reverse_complement_onehot(x[flipped])) and torch.equal(a[~flipped], x[~flipped])
