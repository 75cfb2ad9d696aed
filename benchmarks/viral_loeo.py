"""Leave-experiment-out on the viral data: each experiment with at least 10 viral sequences is the test set in turn.

    RESGENOME_DATA_DIR=../shared/data .venv/bin/python benchmarks/viral_loeo.py --data viral-experiments \\
        --models resvg resvg-rc:cw viraminer:cw kmer-logreg --seeds 0 1 2 --epochs 20 --patience 5 --out runs/loeo

Validation experiments are chosen from the others with the seed (``group_split``), training uses the rest. A model
is a name with optional training options after a colon, comma-separated: ``cw`` (class-weighted loss), ``rcaug``
(reverse-complement augmentation), ``cos`` (warm-up + cosine schedule), ``lr=1e-4``, ``wd=1e-4`` (weight decay),
``w=64`` (width). Runs go to
OUT/<experiment>/<model spec>/seed<S>/ and are read back when present, so an interrupted table resumes.

``resvg:rcaug@both`` is the run of ``resvg:rcaug`` scored on both strands: each sequence's probability averaged with
its reverse complement's (written once beside the run's own scores).

``--stack A+B[+C]`` adds a stacked model: for each fold and seed, a logistic regression on the models' logits is
fitted on the *validation* scores (standardised on validation) and applied to the test scores.

``--no-train`` trains nothing: each model is shown with the finished runs it has (e.g. a costly baseline run with one
seed), and only models with a run in every fold x seed enter the bootstrap.

``--screen`` prints validation metrics only (use it to choose; the test part of a fold is read once per final
model). Without it: per-fold and mean test AUROC / AUPRC, and with ``--compare VARIANT`` a pooled paired bootstrap
interval (all folds x seeds) of the test AUROC and AUPRC difference between VARIANT and the best of the other models
(``--paper`` and ``--variants`` models are shown but not counted as baselines).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from resgenome.metrics import classification_metrics, pooled_paired_bootstrap_difference
from resgenome.pipeline import RunOptions, run_scores, stacked_scores, train_model
from resgenome.tasks import get_task
from resgenome.trainer import TrainConfig

MIN_VIRAL = 10
OPTIONS = {"cw": ("class_weight", None), "rcaug": ("rc_augment", None), "lr": ("lr", float),
           "wd": ("weight_decay", float), "w": ("width", int), "cos": ("schedule", "cosine")}  # fmt: skip


def parse_spec(spec: str) -> tuple[str, dict]:
    """``resvg-rc:cw,lr=1e-4`` -> ("resvg-rc", {"class_weight": True, "lr": 1e-4})."""
    model, _, rest = spec.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in OPTIONS:
            sys.exit(f"{spec}: unknown option {key!r} (known: {', '.join(OPTIONS)})")
        name, kind = OPTIONS[key]
        options[name] = True if kind is None else kind if isinstance(kind, str) else kind(value)
    return model, options


def folder(spec: str) -> str:
    return spec.replace(":", "-").replace(",", "-").replace("=", "")


def run(dataset, spec: str, experiment: str, seed: int, args) -> Path:
    """Train (or find) one run; returns its folder."""
    out = args.out / experiment / folder(spec) / f"seed{seed}"
    if (out / "metrics.json").is_file():
        return out
    model, options = parse_spec(spec)
    width = options.pop("width", None)
    cfg = TrainConfig(epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, seed=seed,
                      progress=False, **options)  # fmt: skip
    opts = RunOptions(model=model, split="experiment", seed=seed, preset=args.preset, width=width, kmer=args.kmer,
                      holdout=[experiment], train=cfg)  # fmt: skip
    log = (lambda line: print(f"  [{spec} {experiment} seed {seed}] {line}", flush=True)) if args.verbose else None
    train_model("viral", dataset, opts, out, resume=True, log=log, figures=False)
    return out


def collect(dataset, folds: list[str], args) -> dict:
    """{spec: {(experiment, seed): {"validation": (y, s), "test": (y, s), "metrics": ...}}} for every model and stack.

    A spec ending in ``@both`` is the run of the spec before it, scored on both strands (``pipeline.run_scores``); stacks by ``pipeline.stacked_scores``.
    """
    results: dict[str, dict] = {}
    for experiment in folds:
        for seed in args.seeds:
            runs = {}
            split = get_task("viral").make_split(dataset, "experiment", seed, holdout=[experiment])
            for spec in args.models:
                base, both = spec.removesuffix("@both"), spec.endswith("@both")
                done = args.out / experiment / folder(base) / f"seed{seed}" / "metrics.json"
                if args.no_train and not done.is_file():
                    continue  # shown with the runs it has; left out of the bootstrap
                run_dir = run(dataset, base, experiment, seed, args)
                runs[spec] = (run_dir, both)
                metrics = json.loads((run_dir / "metrics.json").read_text())
                entry = {"validation": run_scores(run_dir, "validation", both_strands=both, dataset=dataset,
                                                  split=split), "metrics": metrics}  # fmt: skip
                if not args.screen:
                    entry["test"] = run_scores(run_dir, "test", both_strands=both, dataset=dataset, split=split)
                results.setdefault(spec, {})[(experiment, seed)] = entry
                v = classification_metrics(*entry["validation"])
                epochs = f", epochs {metrics['epochs_run']} (best {metrics['best_epoch']})" if "best_epoch" in metrics else ""
                print(f"{experiment} seed {seed} {spec}: validation AUROC {v['auroc']:.4f} AUPRC {v['auprc']:.4f}"
                      f"{epochs}", flush=True)  # fmt: skip
            for combo in args.stack:
                parts = combo.split("+")
                if not all(p in runs for p in parts):
                    continue
                stacked = stacked_scores([runs[p] for p in parts], dataset=dataset, split=split)
                if args.screen:
                    stacked.pop("test")
                results.setdefault(f"stack({combo})", {})[(experiment, seed)] = stacked
    return results


def _metric(y, s, key):
    return classification_metrics(y, s)[key]


def table(results: dict, folds: list[str], part: str, seeds: list[int]) -> str:
    """Mean over the seeds each model has in each fold (``runs``: how many fold x seed runs in all)."""
    lines = [f"| model | runs | " + " | ".join(folds) + " | mean AUROC | mean AUPRC |",
             "|---|---:|" + "---:|" * (len(folds) + 2)]  # fmt: skip
    for spec, runs in results.items():
        cells, aurocs, auprcs = [], [], []
        for experiment in folds:
            pairs = [runs[(experiment, s)][part] for s in seeds if (experiment, s) in runs]
            if not pairs:
                cells.append("–")
                continue
            a = np.mean([_metric(y, s, "auroc") for y, s in pairs])
            p = np.mean([_metric(y, s, "auprc") for y, s in pairs])
            aurocs.append(a), auprcs.append(p)
            cells.append(f"{a:.3f} / {p:.3f}")
        mean_a = f"{np.mean(aurocs):.3f}" if len(aurocs) == len(folds) else "–"
        mean_p = f"{np.mean(auprcs):.3f}" if len(auprcs) == len(folds) else "–"
        lines.append(f"| {spec} | {len(runs)} | " + " | ".join(cells) + f" | {mean_a} | {mean_p} |")
    return "\n".join(lines)


def compare(results: dict, variant: str, others: list[str], folds: list[str], seeds: list[int]) -> list[str]:
    """The pooled paired bootstrap of ``variant`` minus the best baseline (by mean test metric): every complete model
    but the stacks and ``others`` (the paper model and the other residual variants, shown but not baselines)."""
    lines = []
    complete = {m for m, runs in results.items() if all((e, s) in runs for e in folds for s in seeds)}
    if variant not in complete:
        return [f"- {variant}: not every fold x seed has a finished run; no interval"]
    baselines = [m for m in results if m != variant and m not in others and not m.startswith("stack(") and m in complete]
    for key in ("auroc", "auprc"):
        def mean_test(m):
            return np.mean([_metric(*results[m][(e, s)]["test"], key) for e in folds for s in seeds])

        best = max(baselines, key=mean_test)
        sets = []
        for e in folds:
            for s in seeds:
                y, a = results[variant][(e, s)]["test"]
                y_b, b = results[best][(e, s)]["test"]
                assert np.array_equal(y, y_b), (variant, best, e, s)
                sets.append((y, a, b))
        ci = pooled_paired_bootstrap_difference(sets, metric=key, n_boot=2000, seed=0)
        lines.append(f"- test {key.upper()}: {variant} - {best} = {ci['diff']:+.3f} [{ci['low']:+.3f}, "
                     f"{ci['high']:+.3f}] ({ci['n_sets']} folds x seeds)")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="viral-experiments")
    parser.add_argument("--models", nargs="+", default=["resvg", "viraminer", "kmer-rf", "kmer-logreg"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--folds", nargs="*", default=None, help="held-out experiments (default: all eligible)")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--kmer", type=int, default=6)
    parser.add_argument("--stack", nargs="*", default=[], metavar="A+B")
    parser.add_argument("--screen", action="store_true", help="validation metrics only")
    parser.add_argument("--compare", default=None, metavar="VARIANT")
    parser.add_argument("--paper", nargs="*", default=["resvg"])
    parser.add_argument("--variants", nargs="*", default=[], help="residual variants: shown, not baselines")
    parser.add_argument("--out", type=Path, default=Path("runs/viral_loeo"))
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--no-train", action="store_true",
                        help="read finished runs only: a model shows the runs it has; only models with every fold x "
                             "seed enter the bootstrap")  # fmt: skip
    args = parser.parse_args(argv)
    task = get_task("viral")
    dataset = task.load(args.data)
    groups = task.groups(dataset)
    names, viral = np.unique(groups[dataset.labels == 1], return_counts=True)
    eligible = [str(n) for n, v in zip(names, viral) if v >= MIN_VIRAL]
    folds = args.folds or eligible
    print(f"held-out experiments: {', '.join(folds)}; seeds {args.seeds}")
    results = collect(dataset, folds, args)
    print("\nvalidation AUROC / AUPRC, mean over seeds (stacks: out-of-fold within validation)\n")
    print(table(results, folds, "validation", args.seeds))
    if not args.screen:
        print("\ntest AUROC / AUPRC, mean over seeds\n")
        print(table(results, folds, "test", args.seeds))
        if args.compare:
            print(f"\npaired bootstrap (2000 resamples of each fold's test rows, pooled over folds x seeds):\n")
            print("\n".join(compare(results, args.compare, args.paper + args.variants, folds, args.seeds)))
    print(f"\n(rerun: python {shlex.join(sys.argv)})")


if __name__ == "__main__":
    main()
