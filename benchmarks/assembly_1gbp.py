"""Time ``resgenome predict viral`` on a reproducible assembly-like FASTA.gz of any size (1 Gbp by default).

    # 1. the input: contig lengths log-normal, clipped to 1 kb - 1 Mb; bases drawn from the development set's
    #    300-bp sequences (so composition, N content and k-mers are real), seeded, byte-identical for a seed
    RESGENOME_DATA_DIR=../shared/data .venv/bin/python benchmarks/assembly_1gbp.py generate \
        --total-mbp 1000 --out runs/assembly/assembly_1gbp.fa.gz
    # 2. the run, on an idle machine: wall time, bases/s and peak RSS of the whole command
    .venv/bin/python benchmarks/assembly_1gbp.py run --model runs/resvg-devset/model.pt \
        --input runs/assembly/assembly_1gbp.fa.gz --output runs/assembly/predictions.tsv \
        --result benchmarks/results/assembly/assembly_1gbp.json
    # 3. two runs' calls side by side (e.g. fp32 against --precision bf16): calls in both, in one only, scores moved
    .venv/bin/python benchmarks/assembly_1gbp.py compare runs/assembly/predictions.tsv \
        runs/assembly/predictions_bf16.tsv

``run`` starts ``resgenome predict viral --model M --input F --output O`` (plus any ``--predict-args``) in a child
Python that reports its own peak resident memory (``VmHWM`` of /proc/self/status at exit; ``ru_maxrss`` from
``wait4`` would include this script's memory, which Linux carries into a child at exec). The child's stderr is this
terminal's, so the progress bar (bases/s and ETA) shows. The JSON records the input's size and contig-length
summary, the wall time, bases/s, peak RSS, the CPU and the load average before and after.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from resgenome.data.encoding import VIRAL_LENGTH
from resgenome.data.readers import read_viral_csv
from resgenome.io import atomic_open
from resgenome.machine import cpu_features

#: Contig lengths: log-normal with this median and log-space sd (mean ~10 kb; most of the bases are in contigs of
#: 10-100 kb, as in a metagenome assembly), clipped to [MIN, MAX].
MEDIAN_BP, SIGMA, MIN_BP, MAX_BP = 5_000, 1.2, 1_000, 1_000_000
_LINE = 80  # bases per FASTA line
_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)
_DEVSET = ("devset_train.csv", "devset_validation.csv", "devset_test.csv")

_CHILD = """
import sys
from resgenome.cli import main
code = main(["predict", "viral", *sys.argv[2:]])
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
with open(sys.argv[1], "w") as handle:
    handle.write(str(peak_kb))
sys.exit(code)
"""


def contig_lengths(total: int, rng: np.random.Generator) -> np.ndarray:
    """Log-normal lengths in [MIN_BP, MAX_BP] summing to ``total`` (the last one cut to fit; dropped below MIN_BP)."""
    lengths: list[int] = []
    left = total
    while left >= MIN_BP:
        draw = np.clip(rng.lognormal(np.log(MEDIAN_BP), SIGMA, 4096), MIN_BP, MAX_BP).astype(np.int64)
        for n in draw.tolist():
            n = min(n, left)
            if n < MIN_BP:
                left = 0
                break
            lengths.append(n)
            left -= n
            if left < MIN_BP:
                break
    return np.array(lengths, dtype=np.int64)


def fasta_lines(codes: np.ndarray) -> bytes:
    """Codes as FASTA sequence lines of :data:`_LINE` bases."""
    full = len(codes) // _LINE * _LINE
    grid = np.full((full // _LINE, _LINE + 1), ord("\n"), dtype=np.uint8)
    grid[:, :_LINE] = _LETTERS[codes[:full]].reshape(-1, _LINE)
    tail = _LETTERS[codes[full:]].tobytes() + b"\n" if full < len(codes) else b""
    return grid.tobytes() + tail


def generate(out: Path, total_mbp: float, data_dir: Path, seed: int, level: int) -> dict:
    """Write the assembly; return its summary (contigs, bases, length quantiles, sha256 of the file)."""
    windows = np.concatenate([read_viral_csv(data_dir / "viral" / name).codes for name in _DEVSET])
    rng = np.random.default_rng(seed)
    lengths = contig_lengths(int(total_mbp * 1e6), rng)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "wb") as raw:
        # mtime 0 and no file name in the gzip header: the same seed gives the same bytes
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=level, mtime=0) as handle:
            for k, n in enumerate(lengths.tolist()):
                picks = rng.integers(0, len(windows), -(-n // VIRAL_LENGTH))
                handle.write(f">contig_{k + 1:06d} len={n}\n".encode() + fasta_lines(windows[picks].reshape(-1)[:n]))
    digest = hashlib.sha256()
    with open(out, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    q = np.quantile(lengths, [0, 0.5, 0.9, 1])
    return {"contigs": int(len(lengths)), "bases": int(lengths.sum()), "seed": seed, "gzip_level": level,
            "length_min": int(q[0]), "length_median": int(q[1]), "length_p90": int(q[2]), "length_max": int(q[3]),
            "length_mean": float(lengths.mean()), "file_bytes": out.stat().st_size, "sha256": digest.hexdigest(),
            "lognormal": {"median_bp": MEDIAN_BP, "sigma": SIGMA, "min_bp": MIN_BP, "max_bp": MAX_BP}}  # fmt: skip


def count_bases(path: Path) -> tuple[int, int]:
    """(contigs, bases) of a FASTA(.gz), reading it once."""
    contigs = bases = 0
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
        for line in handle:
            if line.startswith(b">"):
                contigs += 1
            else:
                bases += len(line.rstrip())
    return contigs, bases


def run(model: Path, fasta: Path, output: Path, extra: list[str]) -> dict:
    """Time the CLI on ``fasta``: wall seconds, bases/s and the child's own peak RSS."""
    contigs, bases = count_bases(fasta)
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak_kb"
        command = ["--model", str(model), "--input", str(fasta), "--output", str(output), *extra]
        load = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, str(peak_file), *command])
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"predict viral failed with exit code {done.returncode}")
        peak_kb = int(peak_file.read_text())
    return {"command": "resgenome predict viral " + " ".join(command), "contigs": contigs, "bases": bases,
            "wall_s": wall, "bases_per_s": bases / wall, "mbp_per_s": bases / wall / 1e6,
            "peak_rss_mb": peak_kb / 1024, "load_average_start": load, "load_average_end": os.getloadavg()[0],
            "cpu": cpu_features()["model"], "cores": os.cpu_count()}  # fmt: skip


def compare(first: Path, second: Path) -> dict:
    """The calls of two prediction tables of the same input: viral in each, in both, in one only; score changes."""
    import pandas as pd

    a, b = (pd.read_csv(p, sep="\t", comment="#", usecols=["seq_id", "call", "score_mean", "viral_windows"])
            for p in (first, second))  # fmt: skip
    if len(a) != len(b) or not (a["seq_id"].to_numpy() == b["seq_id"].to_numpy()).all():
        raise SystemExit(f"{first} and {second} do not hold the same records in the same order")
    va, vb = (a["call"] == "viral").to_numpy(), (b["call"] == "viral").to_numpy()
    return {"records": len(a), "viral_first": int(va.sum()), "viral_second": int(vb.sum()),
            "viral_both": int((va & vb).sum()), "viral_first_only": int((va & ~vb).sum()),
            "viral_second_only": int((~va & vb).sum()),
            "viral_windows_first": int(a["viral_windows"].sum()), "viral_windows_second": int(b["viral_windows"].sum()),
            "max_abs_score_mean_change": float((a["score_mean"] - b["score_mean"]).abs().max())}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("generate", help="Write the assembly-like FASTA.gz.")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--total-mbp", type=float, default=1000.0)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--level", type=int, default=6, help="gzip level (6, gzip's default, as real assemblies).")
    make.add_argument("--data-dir", type=Path, default=os.environ.get("RESGENOME_DATA_DIR"),
                      help="Folder holding viral/devset_*.csv (default: RESGENOME_DATA_DIR).")  # fmt: skip
    timed = sub.add_parser("run", help="Time predict viral on it.")
    timed.add_argument("--model", type=Path, required=True, help="DIR/model.pt, or a packaged model's name.")
    timed.add_argument("--input", type=Path, required=True)
    timed.add_argument("--output", type=Path, required=True, help="The predictions TSV.")
    timed.add_argument("--predict-args", default="", help="Extra options of predict viral, e.g. '--precision bf16'.")
    timed.add_argument("--result", type=Path, help="JSON to write the timing to.")
    side = sub.add_parser("compare", help="Compare the calls of two prediction tables of the same input.")
    side.add_argument("first", type=Path)
    side.add_argument("second", type=Path)
    args = parser.parse_args()
    if args.command == "compare":
        print(json.dumps(compare(args.first, args.second), indent=2))
        return
    if args.command == "generate":
        if args.data_dir is None:
            raise SystemExit("give --data-dir or set RESGENOME_DATA_DIR")
        started = time.perf_counter()
        summary = generate(args.out, args.total_mbp, Path(args.data_dir), args.seed, args.level)
        summary["seconds"] = time.perf_counter() - started
        print(json.dumps(summary, indent=2))
        return
    result = run(args.model, args.input, args.output, args.predict_args.split())
    # the model and input as folder/file names: where they live differs from machine to machine
    if args.model.exists():  # not a packaged model's name
        result["command"] = result["command"].replace(str(args.model), f"{args.model.parent.name}/{args.model.name}")
    result["command"] = result["command"].replace(str(args.input), args.input.name)
    result["command"] = result["command"].replace(str(args.output), args.output.name)
    print(json.dumps(result, indent=2))
    if args.result:
        with atomic_open(args.result, "w") as handle:
            json.dump(result, handle, indent=2)
            handle.write("\n")


if __name__ == "__main__":
    main()
