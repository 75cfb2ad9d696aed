"""Viral task comparison table: ResVG vs ViraMiner vs k-mer baselines over seeds, mean ± sd of test metrics.

    RESGENOME_DATA_DIR=../shared/data .venv/bin/python benchmarks/viral_table.py \\
        --data ../shared/data/viral/devset --split fullset --seeds 0 1 2 --epochs 15 --patience 4 --out runs/viral

Each run is trained through the API (``pipeline.train_model``) and written to OUT/<model>/seed<S>/; a run whose
metrics.json exists is read back instead of retrained, so an interrupted table resumes. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from resgenome.pipeline import RunOptions, train_model
from resgenome.tasks import get_task
from resgenome.trainer import TrainConfig

MODELS = ("resvg", "viraminer", "kmer-rf", "kmer-logreg")
COLUMNS = ("auroc", "auprc", "precision", "recall", "f1")


def run(dataset, model: str, seed: int, args, out: Path) -> dict:
    done = out / "metrics.json"
    if done.is_file():
        return json.loads(done.read_text())
    cfg = TrainConfig(epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, seed=seed,
                      progress=False)  # fmt: skip
    opts = RunOptions(model=model, split=args.split, seed=seed, preset=args.preset, kmer=args.kmer,
                      holdout=list(args.holdout), train=cfg)  # fmt: skip
    log = (lambda line: print(f"  [{model} seed {seed}] {line}", flush=True)) if args.verbose else None
    return train_model("viral", dataset, opts, out, resume=True, log=log, figures=False)


def table(results: dict[str, list[dict]]) -> str:
    lines = ["| model | runs | " + " | ".join(c.upper() if c.startswith("au") else c for c in COLUMNS) + " |",
             "|---|---:|" + "---:|" * len(COLUMNS)]  # fmt: skip
    for model, runs in results.items():
        cells = []
        for column in COLUMNS:
            values = np.array([r["test"][column] for r in runs if r["test"][column] is not None], dtype=float)
            sd = f" ± {values.std(ddof=1):.3f}" if len(values) > 1 else ""  # one run: no spread to report
            cells.append(f"{values.mean():.3f}{sd}")
        lines.append(f"| {model} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="viral-devset")
    parser.add_argument("--split", default="fullset")
    parser.add_argument("--holdout", nargs="*", default=[])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--kmer", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("runs/viral"))
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    dataset = get_task("viral").load(args.data)
    results: dict[str, list[dict]] = {}
    for model in args.models:
        for seed in args.seeds:
            metrics = run(dataset, model, seed, args, args.out / model / f"seed{seed}")
            t = metrics["test"]
            print(f"{model} seed {seed}: AUROC {t['auroc']:.4f} AUPRC {t['auprc']:.4f} F1 {t['f1']:.4f}", flush=True)
            results.setdefault(model, []).append(metrics)
    print()
    print(table(results))
    print(f"\n(test set of --split {args.split} on {args.data}; rerun: python {shlex.join(sys.argv)})")


if __name__ == "__main__":
    main()
