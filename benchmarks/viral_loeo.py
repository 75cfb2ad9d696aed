"""Leave-experiment-out on the viral data: each experiment with at least 10 viral sequences is the test set in turn.

    RESGENOME_DATA_DIR=../shared/data .venv/bin/python benchmarks/viral_loeo.py --data viral-experiments \\
        --models resvg kmer-logreg --epochs 10 --patience 3 --out runs/viral_loeo

Validation experiments are chosen from the others with the seed (``group_split``), training uses the rest; runs go
to OUT/<experiment>/<model>/ and are read back when present. Prints a markdown table of test AUROC and AUPRC.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from resgenome.tasks import get_task

sys.path.insert(0, str(Path(__file__).parent))
from viral_table import run  # noqa: E402  (same run-or-read-back helper)

MIN_VIRAL = 10


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="viral-experiments")
    parser.add_argument("--models", nargs="+", default=["resvg", "viraminer", "kmer-rf", "kmer-logreg"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--kmer", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("runs/viral_loeo"))
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    args.split = "experiment"
    task = get_task("viral")
    dataset = task.load(args.data)
    groups = task.groups(dataset)
    names, viral = np.unique(groups[dataset.labels == 1], return_counts=True)
    held = [str(n) for n, v in zip(names, viral) if v >= MIN_VIRAL]
    counts = {str(n): int(v) for n, v in zip(names, viral)}
    print(f"experiments with >= {MIN_VIRAL} viral sequences: {', '.join(f'{n} ({counts[n]})' for n in held)}")
    rows = []
    for experiment in held:
        for model in args.models:
            args.holdout = [experiment]
            metrics = run(dataset, model, args.seed, args, args.out / experiment / model)
            t = metrics["test"]
            print(f"{experiment} {model}: AUROC {t['auroc']:.4f} AUPRC {t['auprc']:.4f} "
                  f"(test {t['n']} sequences, {t['n_positive']} viral)", flush=True)  # fmt: skip
            rows.append((experiment, model, t))
    print("\n| held-out experiment | test n (viral) | " + " | ".join(f"{m} AUROC / AUPRC" for m in args.models) + " |")
    print("|---|---:|" + "---:|" * len(args.models))
    for experiment in held:
        cells = {m: t for e, m, t in rows if e == experiment}
        first = next(iter(cells.values()))
        values = " | ".join(f"{cells[m]['auroc']:.3f} / {cells[m]['auprc']:.3f}" for m in args.models)
        print(f"| {experiment} | {first['n']} ({first['n_positive']}) | {values} |")
    print(f"\n(rerun: python {shlex.join(sys.argv)})")


if __name__ == "__main__":
    main()
