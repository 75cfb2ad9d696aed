"""Do contig calls inflate with length, and do --fdr calls keep their false discovery rate? Measured on test data.

    RESGENOME_DATA_DIR=../shared/data .venv/bin/python benchmarks/contig_calls.py \\
        --models runs/resvg-devset/model.pt runs/kmer-logreg-devset/model.pt \\
                 runs/resvg-loeo-2013_E2_SCC/model.pt runs/kmer-logreg-loeo-2013_E2_SCC/model.pt \\
        --out benchmarks/results/calls/contig_calls.json

Each model.pt must carry a calibration (``resgenome train`` writes one; ``resgenome calibrate`` adds one to an older
model). Its test windows are those of the split it was trained on: the devset test file for ``--split fullset``
models, the held-out experiment for ``--split experiment`` models (trained without it). From them:

- contigs of 300 bp (every test window once), 3 kb, 30 kb and 300 kb (10, 100, 1000 windows drawn at random with
  replacement and joined end to end), made of non-viral windows only or of viral windows only, are written as
  FASTA and called by ``predict viral`` with its defaults — the command users run. Printed per length: the share of
  non-viral contigs called viral (it must not grow with length: at most 1.5x the 300-bp share) and of viral
  contigs called viral (it must not fall with length), beside the old rule (viral when any window passes the
  threshold, i.e. the max of window scores);
- the test windows as 300-bp records, called with ``--fdr 0.05`` and ``--fdr 0.10``: the realized false discovery
  rate (non-viral among those called viral) beside the target; and the same for 3-kb contigs (10 test windows of
  one class joined) in an assembly-like mixture, 1,000 non-viral and 50 viral.

Ends with the README tables in markdown: each share is followed by the old rule's in parentheses.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from resgenome.data.encoding import decode
from resgenome.predict import predict_viral

sys.path.insert(0, str(Path(__file__).parent))
from calls_defaults import model_parts  # noqa: E402  (the split a model was trained on)

LENGTH_WINDOWS = (1, 10, 100, 1000)  # 300 bp, 3 kb, 30 kb, 300 kb
CONTIGS = {10: 1000, 100: 200, 1000: 50}  # contigs per length and class (300 bp: every test window once)
FDR_TARGETS = (0.05, 0.10)
MIXTURE = {"windows": 10, "non_viral": 1000, "viral": 50}  # 3-kb contigs, 5% of them viral


def write_contigs(path: Path, codes: np.ndarray, picks: list[np.ndarray]) -> None:
    """One FASTA record per contig: the windows ``codes[p]`` joined in order."""
    with open(path, "w") as handle:
        for i, rows in enumerate(picks):
            seq = decode(codes[rows].reshape(-1))
            handle.write(f">contig{i}\n" + "".join(seq[j : j + 80] + "\n" for j in range(0, len(seq), 80)))


def call(model: Path, fasta: Path, out: Path, **options) -> list[dict]:
    predict_viral(model, fasta, out, progress=False, **options)
    with open(out, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def length_table(model: Path, codes: np.ndarray, y: np.ndarray, work: Path, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for m in LENGTH_WINDOWS:
        row = {"length": 300 * m}
        for label, name in ((0, "non_viral"), (1, "viral")):
            pool = np.flatnonzero(y == label)
            picks = [pool[[i]] for i in range(len(pool))] if m == 1 else list(rng.choice(pool, (CONTIGS[m], m)))
            fasta = work / f"{name}-{m}.fa"
            write_contigs(fasta, codes, picks)
            calls = call(model, fasta, work / f"{name}-{m}.tsv")
            row[f"{name}_contigs"] = len(calls)
            row[f"{name}_called"] = float(np.mean([c["call"] == "viral" for c in calls]))
            row[f"{name}_max_rule"] = float(np.mean([int(c["viral_windows"]) > 0 for c in calls]))
            row[f"{name}_no_call"] = int(sum(c["call"] == "no-call" for c in calls))
        rows.append(row)
        print(f"  {300 * m:>7} bp: non-viral called {row['non_viral_called']:.4f} (max rule "
              f"{row['non_viral_max_rule']:.4f}); viral called {row['viral_called']:.4f} (max rule "
              f"{row['viral_max_rule']:.4f})", flush=True)  # fmt: skip
    base = rows[0]["non_viral_called"]
    for row in rows:
        row["non_viral_within_1.5x"] = bool(row["non_viral_called"] <= 1.5 * base)
    viral = [r["viral_called"] for r in rows]
    rows[0]["viral_never_falls"] = bool(all(b >= a for a, b in zip(viral[:-1], viral[1:])))
    return rows


def fdr_table(model: Path, codes: np.ndarray, y: np.ndarray, work: Path, seed: int) -> dict[str, list[dict]]:
    """Realized FDR at each target: on the test windows as 300-bp records, and on a mixture of 3-kb contigs."""
    fasta = work / "windows.fa"
    write_contigs(fasta, codes, [np.array([i]) for i in range(len(y))])
    out = {"windows": _fdr_rows(model, fasta, y, work)}
    rng = np.random.default_rng(seed + 1)
    picks, labels = [], []
    for label, name in ((0, "non_viral"), (1, "viral")):
        pool = np.flatnonzero(y == label)
        picks += list(rng.choice(pool, (MIXTURE[name], MIXTURE["windows"])))
        labels += [label] * MIXTURE[name]
    order = rng.permutation(len(picks))
    fasta = work / "mixture.fa"
    write_contigs(fasta, codes, [picks[i] for i in order])
    print("  3-kb contigs, 5% viral:", flush=True)
    out["contigs_3kb"] = _fdr_rows(model, fasta, np.array(labels)[order], work)
    return out


def _fdr_rows(model: Path, fasta: Path, y: np.ndarray, work: Path) -> list[dict]:
    out = []
    for target in FDR_TARGETS:
        calls = call(model, fasta, work / f"{fasta.stem}-fdr-{target}.tsv", fdr=target)
        called = np.array([c["call"] == "viral" for c in calls])
        false = int(np.sum(called & (y == 0)))
        out.append({"target": target, "called": int(called.sum()), "false": false,
                    "realized_fdr": false / called.sum() if called.any() else None,
                    "recall": float(np.sum(called & (y == 1)) / max(1, y.sum()))})  # fmt: skip
        print(f"  --fdr {target}: {called.sum()} called, {false} non-viral: realized FDR "
              f"{out[-1]['realized_fdr'] if out[-1]['realized_fdr'] is None else round(out[-1]['realized_fdr'], 3)}"
              f", recall {out[-1]['recall']:.3f}", flush=True)  # fmt: skip
    return out


def markdown(results: dict) -> str:
    """The README tables: share called viral per length, and realized FDR per target."""
    lines = ["| model (test data) | contigs | 300 bp | 3 kb | 30 kb | 300 kb | within 1.5x / never falls |",
             "|---|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for name, entry in results.items():
        rows = entry.get("lengths")
        if not rows:
            continue
        for kind, label in (("non_viral", "non-viral"), ("viral", "viral")):
            ours = " | ".join(f"{r[f'{kind}_called']:.4f} ({r[f'{kind}_max_rule']:.3f})" for r in rows)
            check = (all(r["non_viral_within_1.5x"] for r in rows) if kind == "non_viral"
                     else rows[0]["viral_never_falls"])  # fmt: skip
            lines.append(f"| {name} ({entry['source']}) | {label} | {ours} | {'yes' if check else 'NO'} |")
    lines += ["", "| model (test data) | records | target FDR | called viral | of which non-viral | realized FDR |"
              " recall |", "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, entry in results.items():
        for records, label in (("windows", "300-bp windows"), ("contigs_3kb", "3-kb contigs, 5% viral")):
            for row in entry.get("fdr", {}).get(records, []):
                fdr = "-" if row["realized_fdr"] is None else f"{row['realized_fdr']:.3f}"
                lines.append(f"| {name} ({entry['source']}) | {label} | {row['target']:.2f} | {row['called']} | "
                             f"{row['false']} | {fdr} | {row['recall']:.3f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", choices=["lengths", "fdr"], default=["lengths", "fdr"])
    args = parser.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for path in args.models:
        predictor, dataset, split = model_parts(path)
        if predictor.calibration is None:
            sys.exit(f"{path}: no calibration; add one with `resgenome calibrate`")
        test = dataset.subset(split.test)
        source = "devset test file" if split.name == "fullset" else f"held-out experiment {split.held_out['test'][0]}"
        print(f"{path.parent.name} on the {source} ({len(test)} windows, {int(test.labels.sum())} viral)", flush=True)
        entry = results.setdefault(path.parent.name, {})
        entry.update({"source": source, "test_windows": len(test), "test_viral": int(test.labels.sum())})
        with tempfile.TemporaryDirectory() as work:
            if "lengths" in args.only:
                entry["lengths"] = length_table(path, test.codes, test.labels, Path(work), args.seed)
            if "fdr" in args.only:
                entry["fdr"] = fdr_table(path, test.codes, test.labels, Path(work), args.seed)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
