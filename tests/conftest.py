"""Shared fixtures: tiny seeded tables and sequence files, toy models (a 2-filter ResVG, a 4-feature ResSEN), a
smoke ResVG trained on synthetic data, a random ResVG with real batch-norm statistics, and synthetic runs for the
comparison and the report."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from resgenome.cli import main
from resgenome.comparison import VARIANT, Run
from resgenome.data.encoding import decode, encode, reverse_complement
from resgenome.data.tables import FEATURES, FeatureTable, Scaler
from resgenome.metrics import evaluate_scores
from resgenome.models import build_model
from resgenome.models.resvg import ResVG
from resgenome.predictor import Predictor

DATA_DIR = os.environ.get("RESGENOME_DATA_DIR")
needs_data = pytest.mark.skipif(not DATA_DIR, reason="RESGENOME_DATA_DIR is not set")
MOTIF = "GATTACAGATTACA"

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


# ------------------------------------------------------------------------------------------------- toy models
TOY_WINDOW = 30


@pytest.fixture
def toy_resvg() -> Predictor:
    """A 2-filter ResVG on 30-bp windows, seeded random weights, on the CPU (threshold 0.5)."""
    torch.manual_seed(0)
    config = {"width": 2, "seq_length": TOY_WINDOW, "stem_channels": 4}
    return Predictor("viral", "resvg", build_model("resvg", config), {"seq_length": TOY_WINDOW}, config=config,
                     threshold=0.5, device="cpu")  # fmt: skip


@pytest.fixture
def toy_table() -> FeatureTable:
    """A 4-feature table of 40 rows (labels alternate)."""
    rng = np.random.default_rng(3)
    n = 40
    return FeatureTable(rng.gamma(1.0, 1.0, size=(n, 4)), np.arange(n) % 2, np.array(["chr1"] * n),
                        np.arange(n) * 100, np.arange(n) * 100 + 50, ("a", "b", "c", "d"), "toy.csv")  # fmt: skip


@pytest.fixture
def toy_ressen(toy_table) -> Predictor:
    """A narrow ResSEN on the 4 features of ``toy_table``, its scaler fitted on every row (threshold 0.5)."""
    torch.manual_seed(0)
    config = {"n_features": 4, "stem_channels": 4, "block1": (4, 4), "block2": (4, 4)}
    prep = {"scaler": Scaler("per-feature").fit(toy_table.X).state(), "features": list(toy_table.features)}
    return Predictor("superenhancer", "ressen", build_model("ressen", config), prep, config=config, threshold=0.5,
                     device="cpu")  # fmt: skip


# ------------------------------------------------------------------------------------------------- viral data
def synthetic_rows(n: int, seed: int, experiment: str = "expA") -> list[tuple[str, str, int]]:
    """300-bp sequences; every third carries MOTIF (label 1)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        seq = "".join(rng.choice(list("ACGT"), 300))
        label = int(i % 3 == 0)
        if label:
            at = int(rng.integers(0, 300 - len(MOTIF)))
            seq = seq[:at] + MOTIF + seq[at + len(MOTIF) :]
        rows.append((f"seq{seed}x{i}_{experiment}", seq, label))
    return rows


def write_csv(path: Path, rows) -> Path:
    path.write_text("".join(f"{i},{s},{y}\n" for i, s, y in rows))
    return path


@pytest.fixture(scope="session")
def synthetic_prefix(tmp_path_factory) -> Path:
    """PREFIX_{train,validation,test}.csv; the test part repeats one train sequence and one train reverse complement."""
    root = tmp_path_factory.mktemp("synthetic")
    train, val, test = synthetic_rows(150, 1), synthetic_rows(60, 2), synthetic_rows(60, 3)
    test[0] = ("dupexact_expA", train[5][1], train[5][2])
    test[1] = ("duprc_expA", decode(reverse_complement(encode(train[7][1]))), train[7][2])
    for part, rows in (("train", train), ("validation", val), ("test", test)):
        write_csv(root / f"syn_{part}.csv", rows)
    return root / "syn"


@pytest.fixture(scope="session")
def devset_prefix(tmp_path_factory) -> Path:
    """The first 400 rows of each development-set file, as a PREFIX."""
    if not DATA_DIR:
        pytest.skip("RESGENOME_DATA_DIR is not set")
    root = tmp_path_factory.mktemp("devslice")
    for part in ("train", "validation", "test"):
        lines = (Path(DATA_DIR) / "viral" / f"devset_{part}.csv").read_text().splitlines(keepends=True)[:400]
        (root / f"dev_{part}.csv").write_text("".join(lines))
    return root / "dev"


def train_cli(data: Path, model: str, out: Path, *extra: str, quiet: bool = True) -> int:
    return main(["train", "viral", "--data", str(data), "--model", model, "--preset", "smoke", "--epochs", "1",
                 "--batch-size", "64", "--out", str(out), *extra] + ["--quiet"] * quiet)  # fmt: skip


@pytest.fixture(scope="session")
def trained(devset_prefix, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    out = {}
    for model in ("resvg", "kmer-logreg"):
        assert train_cli(devset_prefix, model, root / model, "--split", "fullset") == 0
        out[model] = root / model
    return out


@pytest.fixture(scope="session")
def toy_model(synthetic_prefix, tmp_path_factory) -> Path:
    """A smoke ResVG trained on the synthetic data (no shared data needed): for prediction tests."""
    out = tmp_path_factory.mktemp("toy") / "resvg"
    assert train_cli(synthetic_prefix, "resvg", out) == 0
    return out / "model.pt"


def random_fasta(path: Path, lengths: list[int], seed: int = 0, width: int = 70) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    records = {}
    with open(path, "w") as handle:
        for k, length in enumerate(lengths):
            seq = "".join(rng.choice(list("ACGTNacgt"), length, p=[0.22] * 4 + [0.04] + [0.02] * 4))
            records[f"contig{k}"] = seq
            handle.write(f">contig{k} sample description\n")
            for i in range(0, length, width):
                handle.write(seq[i : i + width] + "\n")
    return records


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


# ------------------------------------------------------------------------------------------------- synthetic runs
def make_runs(tmp: Path, *, seeds: int = 2, n: int = 300, variant: bool = False) -> list[Run]:
    """Viral runs as ``reproduce`` reads them back: resvg (residual) separates the classes, viraminer (its CNN
    baseline) and kmer-logreg do so less; grouped and paper protocols, ``seeds`` seeds, the same test rows per seed.
    ``variant``: the models beyond the paper too, grouped only: resvg-rcaug, and the chosen variant (the stack)
    separating the classes best."""
    runs = []
    extra = {"resvg-rcaug": 3.5, VARIANT["viral"]: 5.0} if variant else {}
    quality = {"resvg": 3.0, "viraminer": 1.0, "kmer-logreg": 0.3, **extra}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        y = (rng.random(n) < 0.3).astype(np.int64)
        noise = rng.normal(size=n)
        for protocol in ("grouped", "paper"):
            for model, q in quality.items():
                if model in extra and protocol != "grouped":
                    continue
                scores = 1 / (1 + np.exp(-(q * (y - 0.5) + noise + rng.normal(size=n))))
                split = "experiment" if protocol == "grouped" else "fullset"
                metrics = {"task": "viral", "model": model, "split": split,
                           "optimistic": False, "seed": seed, "sizes": {"train": 1000, "validation": n, "test": n},
                           "threshold": 0.5, "validation": evaluate_scores(y, scores, 0.5),
                           "test": evaluate_scores(y, scores, 0.5)}  # fmt: skip
                history = []
                if model not in ("kmer-logreg", VARIANT["viral"]):
                    metrics.update({"best_epoch": 2, "epochs_run": 2, "stopped_early": False})
                    history = [{"epoch": e, "train_loss": 0.6 / e, "val_loss": 0.5 + 0.05 * e, "train_acc": 0.7,
                                "val_acc": 0.68} for e in (1, 2)]  # fmt: skip
                runs.append(Run("viral", protocol, model, seed, tmp / protocol / model / f"seed{seed}", metrics,
                                history, y, scores, seconds=1.0 + seed))  # fmt: skip
    return runs


def random_resvg(seed: int = 0, **config) -> ResVG:
    """A random ResVG (width 8) in eval mode whose batch norms have non-trivial statistics and negative scales too, so
    that folding them into the convolutions is really exercised."""
    torch.manual_seed(seed)
    model = ResVG(width=8, **config)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(-1.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def random_codes(n: int, seed: int) -> np.ndarray:
    """``n`` codes 0-4 (about one in five an N, so N handling is exercised)."""
    return np.random.default_rng(seed).integers(0, 5, n).astype(np.uint8)
