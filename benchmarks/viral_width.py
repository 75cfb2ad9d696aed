"""Choose ResVG's cpu-preset width: training speed and validation AUROC for a few widths on the development set.

    RESGENOME_DATA_DIR=../shared/data .venv/bin/python benchmarks/viral_width.py --widths 16 32 64 --epochs 3 \
        --train-rows 6000 --speed-only 128 1000

Prints a markdown table: width, forward GFLOP per sequence, training sequences/s (forward + backward + Adam step,
batch 128, random batches timed apart from validation), best validation AUROC and the test AUROC of that epoch's
weights (fullset split; ``--train-rows`` trains on a seeded random subset of the training file to keep the sweep
affordable on a shared 2-core machine; validation and test are whole).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from resgenome.data.encoding import one_hot
from resgenome.models import build_model, flops_per_sample
from resgenome.pipeline import RunOptions, train_model
from resgenome.tasks import get_task
from resgenome.trainer import TrainConfig


def train_speed(width: int, batch_size: int = 128, steps: int = 10, seed: int = 0) -> float:
    """Training sequences per second of ResVG at ``width`` on random one-hot batches (after 2 warm-up steps)."""
    torch.manual_seed(seed)
    model = build_model("resvg", {"width": width})
    optimizer = torch.optim.Adam(model.parameters())
    x = one_hot(torch.randint(0, 4, (batch_size, 300), dtype=torch.uint8))
    y = torch.randint(0, 2, (batch_size,))
    for step in range(steps + 2):
        if step == 2:
            started = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--data", default="viral-devset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-rows", type=int, default=None, help="Train on this many training rows only.")
    parser.add_argument("--speed-only", type=int, nargs="*", default=[], help="Widths to time but not train.")
    args = parser.parse_args()
    task = get_task("viral")
    dataset = task.load(args.data)
    split = task.make_split(dataset, "fullset", args.seed)
    if args.train_rows:
        rng = np.random.default_rng(args.seed)
        split.train = np.sort(rng.choice(split.train, args.train_rows, replace=False))
    print(split.describe(dataset.labels), flush=True)
    rows = []
    for width in args.speed_only:
        gflop = flops_per_sample("resvg", {"width": width}) / 1e9
        speed = train_speed(width, batch_size=8, steps=2)  # wide models: a few small batches are enough to time
        print(f"width {width}: {gflop:.3f} GFLOP, {speed:.1f} seq/s (speed only)", flush=True)
        rows.append((width, gflop, speed, float("nan"), float("nan"), float("nan")))
    for width in args.widths:
        speed = train_speed(width)
        opts = RunOptions(model="resvg", split="fullset", seed=args.seed, width=width,
                          train=TrainConfig(epochs=args.epochs, patience=args.epochs, seed=args.seed, progress=False))
        metrics = train_model("viral", dataset, opts, None, split=split, log=None, figures=False)
        best = max(h["val_auroc"] for h in metrics["_history"])
        gflop = flops_per_sample("resvg", {"width": width}) / 1e9
        rows.append((width, gflop, speed, best, metrics["test"]["auroc"], metrics["_seconds"]))
        print(f"width {width}: {gflop:.3f} GFLOP, {speed:.0f} seq/s, val AUROC {best:.4f}, "
              f"test AUROC {metrics['test']['auroc']:.4f}, {metrics['_seconds']:.0f} s", flush=True)
    print("\n| width | GFLOP/seq (fwd) | train seq/s | best val AUROC | test AUROC | run s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for width, gflop, speed, best, test, seconds in sorted(rows):
        print(f"| {width} | {gflop:.3f} | {speed:.3g} | {best:.4f} | {test:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
