"""torchrun: two CPU processes (gloo) train one model; rank 0 writes once, and the ranks end with equal weights."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys

import pytest
import torch

from resgenome.parallel import DUMP_RANK_STATE, block_of, shard_order

from .conftest import write_se_table


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("n", [1, 7, 10, 67])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_shards_are_equal_and_cover_every_row(n, world):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    shards = [shard_order(order, r, world) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # equal steps on every rank, or DDP waits forever
    assert set(torch.cat(shards).tolist()) == set(range(n))
    blocks = [block_of(n, r, world) for r in range(world)]
    assert [i for b in blocks for i in range(n)[b]] == list(range(n))  # contiguous, in order, no overlap


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_torchrun_two_ranks_train_once_with_equal_weights(tmp_path):
    table = write_se_table(tmp_path / "se.csv", n=240)
    out, hashes = tmp_path / "run", tmp_path / "hashes"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
        "-m", "resgenome", "train", "superenhancer", "--data", str(table), "--model", "ressen", "--preset", "smoke",
        "--epochs", "3", "--batch-size", "32", "--lr", "3e-3", "--seed", "1", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, DUMP_RANK_STATE: str(hashes), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=110)
    assert done.returncode == 0, done.stderr[-3000:]

    for name in ("model.pt", "metrics.json", "history.csv", "test_scores.csv"):
        assert (out / name).is_file(), name
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == [] and not (out / "train_state.pt").exists()
    # only rank 0 logs and writes: one line per epoch and one "wrote" line, not two
    assert done.stderr.count("epoch 1:") == 1 and done.stderr.count("wrote ") == 1, done.stderr[-3000:]

    history = list(csv.DictReader(open(out / "history.csv")))
    assert len(history) == 3 and float(history[-1]["train_loss"]) < float(history[0]["train_loss"])
    rank0, rank1 = ((hashes / f"rank{r}.sha256").read_text() for r in (0, 1))
    assert rank0 == rank1 and len(rank0.split()) == 2  # last-epoch and best-epoch weights, equal on both ranks
