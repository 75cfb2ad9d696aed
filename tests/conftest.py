"""Shared fixtures: tiny seeded tables written to tmp files, and the real data folder when it is set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from resgenome.data.tables import FEATURES

DATA_DIR = os.environ.get("RESGENOME_DATA_DIR")

# toy models gain nothing from threads, and one thread keeps timings stable when the machine is shared
torch.set_num_threads(1)


def write_se_table(path: Path, n: int = 600, seed: int = 0, n_chrom: int = 8, labels: bool = True) -> Path:
    """A synthetic imPROSE-format table: SE rows have higher signal in the first 10 features."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(int)
    X = rng.gamma(1.0, 1.0, size=(n, len(FEATURES)))
    X[:, :10] += 1.5 * y[:, None] * rng.random((n, 10))
    chrom = [f"chr{1 + i % n_chrom}" for i in range(n)]
    header = ["chrom", "start", "end"] + (["Class"] if labels else []) + list(FEATURES) + ["length"]
    lines = [",".join(header)]
    for i in range(n):
        start = 1000 * i
        row = [chrom[i], str(start), str(start + 500)] + (["SE" if y[i] else "TE"] if labels else [])
        row += [f"{v:.4f}" for v in X[i]] + ["500"]
        lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def se_csv(tmp_path: Path) -> Path:
    return write_se_table(tmp_path / "se.csv")


@pytest.fixture
def data_dir() -> Path:
    if not DATA_DIR:
        pytest.skip("RESGENOME_DATA_DIR is not set")
    return Path(DATA_DIR)


@pytest.fixture
def mesc_csv(data_dir: Path) -> Path:
    return data_dir / "superenhancers" / "mesc_khan2019_dev.csv"
