"""How much fully convolutional scoring changes ResVG's window scores and test AUROC, against per-window scoring.

    RESGENOME_DATA_DIR=../shared/data .venv/bin/python benchmarks/fullconv_agreement.py \
        --model runs/resvg-devset/model.pt --test ../shared/data/viral/devset_test.csv \
        --out benchmarks/results/fullconv/agreement.json

The 300-bp test sequences (in file order) are joined end to end into contigs of ``--join`` sequences (10: 3 kb; 100:
30 kb), written as FASTA and scored by ``predict viral --per-window`` both ways: the default path (the trunk run once
along each contig, window scores from it) and ``--exact-windows`` (each window alone, zero-padded at its edges, as in
training). At stride 300 the windows are exactly the test sequences, each with its own label, so both get a test
AUROC; inner windows (all but the first and last of a contig) see the neighbouring sequences' 13 bases on each side in
the default path, which is the whole difference. The neighbours are other, unrelated test sequences: harsher than a
real contig, whose neighbouring bases belong to the same genome. At stride 150 half of the windows straddle two
sequences and have no label: only the score differences are reported. With ``--bf16`` the default path is also run
in bf16 (where the CPU has it natively) and compared with its fp32 run.

Prints a markdown table and writes the JSON given by ``--out``. The AUROC difference has a 95% paired bootstrap
interval over the test sequences (:func:`resgenome.metrics.paired_bootstrap_auroc_difference`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from resgenome.data.encoding import VIRAL_LENGTH, decode
from resgenome.data.readers import read_viral_csv
from resgenome.io import atomic_open
from resgenome.machine import bf16_native
from resgenome.metrics import paired_bootstrap_auroc_difference
from resgenome.predict import predict_viral


def write_contigs(codes: np.ndarray, join: int, path: Path) -> list[int]:
    """Join the rows of ``codes`` (N, 300) in order, ``join`` per contig (the last may hold fewer); write FASTA.

    Returns the number of sequences in each contig.
    """
    sizes = []
    with open(path, "w") as handle:
        for k, lo in enumerate(range(0, len(codes), join)):
            part = codes[lo : lo + join]
            sizes.append(len(part))
            seq = decode(part.reshape(-1))
            handle.write(f">contig{k}\n" + "\n".join(seq[i : i + 80] for i in range(0, len(seq), 80)) + "\n")
    return sizes


def score_windows(model: Path, fasta: Path, stride: int, **settings) -> pd.DataFrame:
    """Per-window scores of ``fasta`` (seq_id, start, end, score) from ``predict viral --per-window``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "windows.tsv"
        # every window scored (a window of N only is still left out), as the paths are compared window by window;
        # scores are the model's calibrated probabilities, a monotone map of its own (AUROC is unchanged by it)
        predict_viral(model, fasta, out, stride=stride, per_window=True, progress=False, max_n_fraction=0.999,
                      **settings)  # fmt: skip
        return pd.read_csv(out, sep="\t")


def differences(a: np.ndarray, b: np.ndarray) -> dict:
    delta = np.abs(a - b)
    return {"max_abs_dp": float(delta.max()), "mean_abs_dp": float(delta.mean()),
            "p99_abs_dp": float(np.quantile(delta, 0.99)), "n_windows": int(len(delta))}  # fmt: skip


def labelled(y: np.ndarray, scores: dict[str, np.ndarray], mask: np.ndarray) -> dict:
    """AUROC and AUPRC of each score set on the rows in ``mask``, and the paired bootstrap AUROC difference."""
    row = {name: {"auroc": float(roc_auc_score(y[mask], s[mask])), "auprc": float(average_precision_score(y[mask],
           s[mask]))} for name, s in scores.items()}  # fmt: skip
    row["fullconv_minus_exact_auroc"] = paired_bootstrap_auroc_difference(y[mask], scores["fullconv"][mask],
                                                                          scores["exact"][mask])  # fmt: skip
    row["n"], row["n_viral"] = int(mask.sum()), int(y[mask].sum())
    return row


def compare(model: Path, codes: np.ndarray, y: np.ndarray, join: int, tmp: Path, bf16: bool) -> dict:
    """Both paths on the test sequences joined ``join`` at a time: stride 300 (labelled) and stride 150."""
    fasta = tmp / f"joined{join}.fa"
    sizes = write_contigs(codes, join, fasta)
    runs = {"fullconv": {}, "exact": {"exact_windows": True}}
    if bf16:
        runs["fullconv_bf16"] = {"precision": "bf16"}
    # stride 300: window k of contig c is test sequence c * join + k
    scored = {name: score_windows(model, fasta, VIRAL_LENGTH, **settings) for name, settings in runs.items()}
    contig = scored["exact"]["seq_id"].str.removeprefix("contig").astype(int).to_numpy()
    order = contig * join + scored["exact"]["start"].to_numpy() // VIRAL_LENGTH
    assert np.array_equal(order, np.arange(len(codes))), "windows do not line up with the test sequences"
    scores = {name: frame["score"].to_numpy() for name, frame in scored.items()}
    starts = scored["exact"]["start"].to_numpy()
    ends_of_contig = np.repeat(np.array(sizes) * VIRAL_LENGTH, sizes)
    inner = (starts > 0) & (starts + VIRAL_LENGTH < ends_of_contig)
    result = {
        "join": join, "contig_bp": join * VIRAL_LENGTH, "contigs": len(sizes),
        "stride300": {"all": {**differences(scores["fullconv"], scores["exact"]),
                              **labelled(y, scores, np.ones_like(inner))},
                      "inner": {**differences(scores["fullconv"][inner], scores["exact"][inner]),
                                **labelled(y, scores, inner)},
                      "edge_windows_identical": bool(np.array_equal(scores["fullconv"][~inner],
                                                                    scores["exact"][~inner]))},
    }  # fmt: skip
    if bf16:
        result["stride300"]["bf16_vs_fp32"] = differences(scores["fullconv_bf16"], scores["fullconv"])
    half = {name: score_windows(model, fasta, VIRAL_LENGTH // 2, **settings)["score"].to_numpy()
            for name, settings in runs.items() if name != "fullconv_bf16"}  # fmt: skip
    result["stride150"] = differences(half["fullconv"], half["exact"])
    return result


def markdown(results: list[dict], bf16: bool) -> str:
    lines = ["| contigs | windows | max / mean abs dp (stride 300) | mean abs dp inner "
             "| max / mean abs dp (stride 150) | AUROC per window / fullconv | AUROC difference (95% CI) |"
             + (" bf16 vs fp32 max / mean abs dp |" if bf16 else ""),
             "|---|---:|---|---:|---|---|---|" + ("---|" if bf16 else "")]  # fmt: skip
    for r in results:
        s300, s150 = r["stride300"], r["stride150"]
        a = s300["all"]
        d = a["fullconv_minus_exact_auroc"]
        line = (f"| {r['contigs']} x {r['contig_bp'] / 1000:g} kb | {a['n_windows']} | {a['max_abs_dp']:.4f} / "
                f"{a['mean_abs_dp']:.5f} | {s300['inner']['mean_abs_dp']:.5f} | {s150['max_abs_dp']:.4f} / "
                f"{s150['mean_abs_dp']:.5f} | {a['exact']['auroc']:.4f} / {a['fullconv']['auroc']:.4f} | "
                f"{d['diff']:+.4f} ({d['low']:+.4f}, {d['high']:+.4f}) |")  # fmt: skip
        if bf16:
            b = s300["bf16_vs_fp32"]
            line += f" {b['max_abs_dp']:.4f} / {b['mean_abs_dp']:.5f} (AUROC {a['fullconv_bf16']['auroc']:.4f}) |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="A trained ResVG (DIR/model.pt).")
    parser.add_argument("--test", required=True, type=Path, help="ViraMiner CSV of labelled 300-bp test sequences.")
    parser.add_argument("--join", type=int, nargs="+", default=[10, 100], help="Sequences per contig.")
    parser.add_argument("--bf16", action="store_true", help="Also run the default path in bf16 (native only).")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bf16 = args.bf16 and bf16_native(torch.device("cpu"))
    if args.bf16 and not bf16:
        print("this CPU has no native bf16: the bf16 comparison is skipped")
    test = read_viral_csv(args.test)
    with tempfile.TemporaryDirectory() as tmp:
        results = [compare(args.model, test.codes, test.labels, join, Path(tmp), bf16) for join in args.join]
    with atomic_open(args.out, "w") as handle:
        # the folder and file names only: where they live differs from machine to machine
        json.dump({"model": f"{args.model.parent.name}/{args.model.name}", "test": args.test.name,
                   "command": "benchmarks/fullconv_agreement.py --join " + " ".join(map(str, args.join))
                   + " --bf16" * args.bf16, "results": results}, handle, indent=2)  # fmt: skip
        handle.write("\n")
    print(markdown(results, bf16))


if __name__ == "__main__":
    main()
