"""CPU seconds per Mbp of ``predict viral``'s scoring paths, one thread, interleaved: ratios that hold under load.

    .venv/bin/python benchmarks/predict_cpu_time.py --mbp 2 --repeats 3

On a shared machine wall-clock speeds swing with the other jobs, and even ratios of runs made minutes apart do not
hold (``resgenome bench`` times wall clock, so run it idle). This script measures the process's own CPU time
(``time.process_time``) with PyTorch on one thread, alternating the settings run by run (default, stride 10, stride 1,
``--exact-windows``, bf16 where native) and taking each one's median: CPU time is what the job itself used, so the
ratios between paths stay close to an idle machine's (a loaded core still runs slower through shared caches, so the
absolute figures are only indicative). Random ACGT in 2-Mbp records and a random-weight cpu-preset ResVG, as in
``resgenome bench``. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from resgenome.bench import write_random_fasta, write_random_resvg
from resgenome.machine import bf16_native, load_average
from resgenome.predict import predict_viral

SETTINGS = {"default (stride 150)": {}, "stride 10": {"stride": 10}, "stride 1": {"stride": 1},
            "--exact-windows": {"exact_windows": True}, "bf16": {"precision": "bf16"}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbp", type=float, default=2.0, help="Input size in Mbp.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {k: v for k, v in SETTINGS.items() if k != "bf16" or bf16_native(torch.device("cpu"))}
    seconds: dict[str, list[float]] = {name: [] for name in settings}
    load = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, fasta = write_random_resvg(tmp / "model.pt"), tmp / "in.fa"
        write_random_fasta(fasta, int(args.mbp * 1e6))
        predict_viral(model, fasta, tmp / "out.tsv", progress=False)  # warm-up: imports, allocator, oneDNN kernels
        for _ in range(args.repeats):
            for name, kw in settings.items():
                start = time.process_time()
                predict_viral(model, fasta, tmp / "out.tsv", progress=False, **kw)
                seconds[name].append(time.process_time() - start)
    base = statistics.median(seconds["default (stride 150)"])
    print(f"{args.mbp:g} Mbp, 1 thread, median of {args.repeats}; load average {load} at the start\n")
    print("| setting | CPU s per Mbp | Mbp per CPU-second | time / default |\n|---|---:|---:|---:|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {median / args.mbp:.2f} | {args.mbp / median:.3f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
