"""The super-enhancer comparison for the README: every model on the same chromosome-held-out splits, N seeds.

    RESGENOME_DATA_DIR=../shared/data .venv/bin/python benchmarks/superenhancer_table.py --seeds 5 --out runs/se

Finished runs (a metrics.json in their folder) are reused, so an interrupted table resumes where it stopped.
Prints a markdown table of mean ± sd of validation AUPRC and test AUROC, AUPRC and F1.

Variants go to their own folders, ``<model>-<normalize>[-<transform>][-clustered][-<tag>]``: training options
(``--lr``, ``--weight-decay``, ``--class-weight``, ``--schedule cosine``, ``--width``, ``--tag``), preprocessing beyond the paper (``--transform log1p``
or ``rank`` before Eq. 1-4, ``--feature-order clustered``) and the ResSEN variants of ``models/ressen_plus.py``
(``--models ressen-additive``), and ensembles of K runs per split that differ only in their initialisation seed
(``--ensemble 3``, in ``<folder>-ens3``), and stacks of finished runs (``--stack A+B``: a logistic regression on their
logits fitted on each split's validation rows, in ``stack-A+B``; its validation scores are out-of-fold). Compare
them on the *validation* column only, then read the test column of the one chosen:

    .venv/bin/python benchmarks/superenhancer_table.py --models ressen --seeds 3 --transform log1p

``--compare`` trains nothing: it reads finished run folders (``label=folder``, one per model; the first is the
variant under test, the paper model is marked with ``--paper``) and prints them side by side with a pooled paired
bootstrap interval of the test AUROC and AUPRC difference between the first folder and the best of the others:

    .venv/bin/python benchmarks/superenhancer_table.py --seeds 5 --out runs/se --compare \\
        "ResSEN-additive=ressen-additive-per-feature-log1p" "DeepSEN=deepsen-per-feature" "logreg=logreg-per-feature" \\
        --paper "ResSEN=ressen-per-feature"
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from resgenome.metrics import best_f1_threshold, evaluate_scores, pooled_paired_bootstrap_difference
from resgenome.pipeline import RunOptions, read_scores, stack_runs, train_model, write_json, write_scores
from resgenome.tasks import get_task
from resgenome.trainer import TrainConfig

MODELS = ("ressen", "deepsen", "rf", "logreg", "hgb")


def folder_name(model: str, args) -> str:
    """The run folder of a model under the options of ``args`` (the paper's options add nothing to the name)."""
    parts = [model, args.normalize]
    if args.transform != "none":
        parts.append(args.transform)
    if args.feature_order != "paper":
        parts.append(args.feature_order)
    if args.width:
        parts.append(f"w{args.width}")
    if args.schedule != "constant":
        parts.append(args.schedule)
    if args.tag:
        parts.append(args.tag)
    return "-".join(parts)


def train_one(table, split, model: str, seed: int, init_seed: int, out: Path, args) -> dict:
    """One run (split ``seed``, weights initialised and batches shuffled by ``init_seed``), or its saved metrics."""
    if not (out / "metrics.json").exists():
        cfg = TrainConfig(epochs=args.epochs, patience=args.patience, seed=init_seed, lr=args.lr,
                          weight_decay=args.weight_decay, class_weight=args.class_weight, progress=False,
                          schedule=args.schedule)  # fmt: skip
        opts = RunOptions(model=model, split=args.split, seed=seed, normalize=args.normalize, transform=args.transform,
                          feature_order=args.feature_order, width=args.width, train=cfg)  # fmt: skip
        train_model("superenhancer", table, opts, out, split=split, log=None, resume=True, figures=False)
    return json.loads((out / "metrics.json").read_text())


def ensemble(members: list[Path], out: Path) -> dict:
    """Average the members' probabilities (same split); threshold and metrics as ``train_model`` computes them."""
    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    parts = {}
    for part in ("validation", "test"):
        scores = [read_scores(m / f"{part}_scores.csv") for m in members]
        parts[part] = (scores[0][0], np.mean([s for _, s in scores], axis=0))
    threshold = best_f1_threshold(*parts["validation"])
    metrics = {"members": [str(m) for m in members], "threshold": threshold,
               **{part: evaluate_scores(y, s, threshold) for part, (y, s) in parts.items()}}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    for part, (y, s) in parts.items():
        write_scores(out / f"{part}_scores.csv", y, s)
    write_json(out / "metrics.json", metrics)
    return metrics


def stacked(members: list[Path], out: Path) -> dict:
    """Stack finished runs of one split (``resgenome.pipeline.stack_runs``: logistic regression on the members'
    logits, fitted on the validation rows; validation scores out-of-fold). Threshold and metrics as for any run."""
    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    missing = [str(m) for m in members if not (m / "metrics.json").is_file()]
    if missing:
        sys.exit(f"--stack: no finished run in {', '.join(missing)}")
    return stack_runs([(m, False) for m in members], out)


def stack_all(args) -> dict[str, list[dict]]:
    """Every ``--stack A+B`` (run folders under OUT) on every seed's split, in ``stack-A+B/seed<S>``."""
    results = {}
    for combo in args.stack:
        folders = combo.split("+")
        results[f"stack({combo})"] = [
            stacked([args.out / f / f"seed{seed}" for f in folders], args.out / f"stack-{combo}" / f"seed{seed}")
            for seed in range(args.seeds)
        ]
    return results


def train_all(args) -> dict[str, list[dict]]:
    """Every model of ``args.models`` on every seed's split; with ``--ensemble K``, K runs per split averaged."""
    task = get_task("superenhancer")
    table = task.load(args.data)
    results: dict[str, list[dict]] = {m: [] for m in args.models}
    for seed in range(args.seeds):
        split = task.make_split(table, args.split, seed)
        for model in args.models:
            base = args.out / folder_name(model, args)
            members = [base / (f"seed{seed}" if k == 0 else f"seed{seed}-init{k}") for k in range(args.ensemble)]
            metrics = [train_one(table, split, model, seed, seed + 1000 * k, m, args) for k, m in enumerate(members)]
            if args.ensemble > 1:
                metrics = [ensemble(members, args.out / f"{folder_name(model, args)}-ens{args.ensemble}" / f"seed{seed}")]
            results[model].append(metrics[0])
            t, v = metrics[0]["test"], metrics[0]["validation"]
            test = "" if args.screen else f" | test AUROC {t['auroc']:.4f} AUPRC {t['auprc']:.4f} F1 {t['f1']:.4f}"
            print(f"seed {seed} {model}: validation AUPRC {v['auprc']:.4f}{test}", flush=True)
    return results


def mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0:.3f}"


def print_table(results: dict[str, list[dict]], title: str, screen: bool = False) -> None:
    """Mean ± sd over seeds; ``screen`` shows validation only (for choosing between variants)."""
    print(f"\n{title}\n")
    tests = () if screen else ("auroc", "auprc", "f1")
    print("| model | runs | validation AUROC | validation AUPRC | " + "".join(f"test {k.upper()} | " for k in tests)
          + "epochs run (best) |")
    print("|---|---:|---|---|" + "---|" * len(tests) + "---|")
    for model, runs in results.items():
        cells = [mean_sd([r["validation"][key] for r in runs]) for key in ("auroc", "auprc")]
        cells += [mean_sd([r["test"][key] for r in runs]) for key in tests]
        epochs = "-" if "epochs_run" not in runs[0] else ", ".join(f"{r['epochs_run']} ({r['best_epoch']})" for r in runs)
        print(f"| {model} | {len(runs)} | " + " | ".join(cells) + f" | {epochs} |")


def compare(args) -> None:
    """Side-by-side table of finished runs and the bootstrap interval of (first folder) - (best other)."""
    specs = [s.split("=", 1) for s in args.compare]
    paper = [s.split("=", 1) for s in args.paper]
    runs = {}
    for label, folder in paper + specs:
        seeds = [args.out / folder / f"seed{s}" for s in range(args.seeds)]
        missing = [str(p) for p in seeds if not (p / "metrics.json").is_file()]
        if missing:
            sys.exit(f"--compare: no finished run in {', '.join(missing)}")
        runs[label] = [json.loads((p / "metrics.json").read_text()) | {"_dir": p} for p in seeds]
    print_table(runs, f"{args.seeds} seeds, split {args.split} (test chromosomes differ by seed)")
    variant, baselines = specs[0][0], [label for label, _ in specs[1:]]
    print(f"\npaired bootstrap (2000 resamples of each seed's test rows), {variant} minus the best baseline:\n")
    for metric in ("auroc", "auprc"):
        best = max(baselines, key=lambda b: np.mean([r["test"][metric] for r in runs[b]]))
        sets = []
        for mine, theirs in zip(runs[variant], runs[best]):
            y, a = read_scores(mine["_dir"] / "test_scores.csv")
            y_b, b = read_scores(theirs["_dir"] / "test_scores.csv")
            if not np.array_equal(y, y_b):
                sys.exit(f"--compare: {mine['_dir']} and {theirs['_dir']} were not scored on the same test rows")
            sets.append((y, a, b))
        ci = pooled_paired_bootstrap_difference(sets, metric=metric, n_boot=2000, seed=0)
        print(f"- test {metric.upper()}: {variant} - {best} = {ci['diff']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mesc-khan2019-dev")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--split", default="chromosome")
    parser.add_argument("--normalize", default="per-feature")
    parser.add_argument("--transform", default="none", choices=("none", "log1p", "rank"))
    parser.add_argument("--feature-order", default="paper", choices=("paper", "clustered"))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay)
    parser.add_argument("--class-weight", action="store_true", help="weight the loss by inverse class frequency")
    parser.add_argument("--width", type=int, default=None, help="ResSEN's last block width (paper: 512)")
    parser.add_argument("--schedule", default="constant", choices=("constant", "cosine"))
    parser.add_argument("--tag", default="", help="suffix of the run folders of a training variant")
    parser.add_argument("--stack", nargs="+", default=None, metavar="FOLDER+FOLDER",
                        help="stack finished runs (their folders under OUT), fitted on validation; trains nothing")
    parser.add_argument("--ensemble", type=int, default=1, help="K runs per split (init seeds) averaged")
    parser.add_argument("--out", type=Path, default=Path("runs/superenhancer"))
    parser.add_argument("--compare", nargs="+", default=None, metavar="LABEL=FOLDER")
    parser.add_argument("--paper", nargs="*", default=[], metavar="LABEL=FOLDER")
    parser.add_argument("--screen", action="store_true", help="validation metrics only (for choosing a variant)")
    args = parser.parse_args(argv)
    if args.compare:
        compare(args)
    elif args.stack:
        print_table(stack_all(args), f"{args.seeds} seeds, split {args.split}, stacks (validation out-of-fold)",
                    args.screen)  # fmt: skip
    else:
        results = train_all(args)
        print_table(results, f"{args.seeds} seeds, split {args.split}, {folder_name('<model>', args)}", args.screen)
    print(f"\n(rerun: python {shlex.join(sys.argv)})")


if __name__ == "__main__":
    main()
