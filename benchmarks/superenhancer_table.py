"""The super-enhancer comparison for the README: every model on the same chromosome-held-out splits, N seeds.

    RESGENOME_DATA_DIR=../shared/data .venv/bin/python benchmarks/superenhancer_table.py --seeds 5 --out runs/se

Finished runs (a metrics.json in their folder) are reused, so an interrupted table resumes where it stopped.
Prints a markdown table of mean ± sd of validation AUPRC and test AUROC, AUPRC and F1.

Variants of the neural models' training (``--lr``, ``--weight-decay``, ``--class-weight``) go to their own folders
(``--tag``); compare them on the *validation* column only, then read the test column of the one chosen:

    .venv/bin/python benchmarks/superenhancer_table.py --models ressen --seeds 2 --weight-decay 1e-4 --tag wd1e-4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from resgenome.pipeline import RunOptions, train_model
from resgenome.tasks import get_task
from resgenome.train import TrainConfig

MODELS = ("ressen", "deepsen", "rf", "logreg", "hgb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mesc-khan2019-dev")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--split", default="chromosome")
    parser.add_argument("--normalize", default="per-feature")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay)
    parser.add_argument("--class-weight", action="store_true", help="weight the loss by inverse class frequency")
    parser.add_argument("--tag", default="", help="suffix of the run folders of a training variant")
    parser.add_argument("--out", type=Path, default=Path("runs/superenhancer"))
    args = parser.parse_args()
    suffix = f"-{args.tag}" if args.tag else ""

    task = get_task("superenhancer")
    table = task.load(args.data)
    results: dict[str, list[dict]] = {m: [] for m in args.models}
    for seed in range(args.seeds):
        split = task.make_split(table, args.split, seed)
        for model in args.models:
            out = args.out / f"{model}-{args.normalize}{suffix}" / f"seed{seed}"
            if not (out / "metrics.json").exists():
                cfg = TrainConfig(epochs=args.epochs, patience=args.patience, seed=seed, lr=args.lr,
                                  weight_decay=args.weight_decay, class_weight=args.class_weight, progress=False)
                opts = RunOptions(model=model, split=args.split, seed=seed, normalize=args.normalize, train=cfg)
                train_model("superenhancer", table, opts, out, split=split, log=None, resume=True)
            metrics = json.loads((out / "metrics.json").read_text())
            results[model].append(metrics)
            t = metrics["test"]
            print(f"seed {seed} {model}: AUROC {t['auroc']:.4f} AUPRC {t['auprc']:.4f} F1 {t['f1']:.4f}", flush=True)

    print(f"\n{args.seeds} seeds, split {args.split}, normalize {args.normalize}{suffix}\n")
    print("| model | validation AUPRC | test AUROC | test AUPRC | test F1 | epochs run (best) |")
    print("|---|---|---|---|---|---|")
    for model, runs in results.items():
        val = np.array([r["validation"]["auprc"] for r in runs])
        cells = [f"{val.mean():.3f} ± {val.std(ddof=1) if len(val) > 1 else 0:.3f}"]
        for key in ("auroc", "auprc", "f1"):
            values = np.array([r["test"][key] for r in runs])
            cells.append(f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0:.3f}")
        epochs = "-" if "epochs_run" not in runs[0] else ", ".join(f"{r['epochs_run']} ({r['best_epoch']})" for r in runs)
        print(f"| {model} | " + " | ".join(cells) + f" | {epochs} |")


if __name__ == "__main__":
    main()
