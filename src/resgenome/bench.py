"""``resgenome bench``: what this machine can do (FLOP/s, memory bandwidth) and how close each model gets to it.

One run measures, with warm-up excluded and the median of several repeats:

* ``peak_gflops``: the best of several matrix-multiply shapes (:data:`PEAK_SHAPES`: squares, and the im2col shapes
  of the models' convolutions, so that no model can beat the "peak" by having friendlier shapes), fp32 and bf16
  (bf16 is measured even where the CPU has no bf16 instructions, on small matrices because it is slow there;
  ``bf16_supported`` says which case this is); ``peak_shapes`` has each shape's GFLOP/s, and ``theoretical_gflops``
  the CPU's FMA rate from its flags and nominal frequency (:func:`resgenome.machine.theoretical_gflops`) with the
  measured peak's fraction of it.
* ``memory_gbps``: the best of a copy and a triad (``a = b + s c``) over arrays far larger than the caches,
  counting every byte read and written once.
* ``models``: per model its analytic forward FLOPs (:mod:`resgenome.models.flops`), training and inference
  samples/s of the trainer's own step (:func:`resgenome.trainer.train_step`) and of :func:`torch.inference_mode`
  forwards, their achieved GFLOP/s (a training sample counts 3x the forward FLOPs) and MFU (achieved / measured
  fp32 peak), ``data_share`` (time of the trainer's batch fetch — row gather plus one-hot expansion — over the
  time of a whole step, fetch included) and an activation-traffic estimate (see :func:`activation_bytes`) with
  the fraction of the measured bandwidth it implies.
* ``predict``: ``predict_viral`` end to end (read FASTA, encode, window, one-hot, score, write TSV) on a random
  FASTA with a random-weight cpu-preset ResVG saved as a real checkpoint, in a child process that reports its own
  peak RSS (``VmHWM``; see :func:`run_predict`): default settings at each input size, then at the largest size the
  variants of :data:`PREDICT_VARIANTS` (stride 10, ``--exact-windows``, bf16), their time ratios, and the FLOP bound
  (measured fp32 peak / FLOPs per base, :func:`flops_per_base`) with the fraction of it reached.
  ``predict_mbp_per_s`` (top level) is the default run's speed.

The JSON shape (MFU as a fraction)::

    {"peak_gflops": {"fp32": x, "bf16": x}, "peak_shapes": {...}, "theoretical_gflops": {"fp32": x, ...},
     "bf16_supported": bool, "memory_gbps": x,
     "models": {"resvg-cpu": {"flops_per_sample": x, "train_samples_per_s": x, "infer_samples_per_s": x,
                              "train_mfu": x, "infer_mfu": x, "data_share": x, ...}, ...},
     "bf16_training": {...}, "predict_mbp_per_s": x,
     "predict": {"bases_per_s": x, "peak_rss_mb": x, "stride10_time_ratio": x, "flop_bound_fraction": x,
                 "variants": {...}, ...},
     "machine": {"cpu": ..., "cpu_features": {"avx512f": bool, "avx512_bf16": bool, "amx_bf16": bool, ...}, ...}}
"""

from __future__ import annotations

import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .calibration import Calibration
from .calls import ContigNull
from .data.arrays import ArrayData
from .data.encoding import VIRAL_LENGTH, one_hot
from .data.tables import FEATURES
from .errors import ResgenomeError
from .io import atomic_open, check_writable_dir
from .machine import bf16_native, cpu_features, load_average, probe, theoretical_gflops
from .models import build_model, flops_per_sample
from .models.flops import meta_forward
from .predict import predict_viral
from .predictor import Predictor, pick_device
from .runtime import tune_allocator
from .tasks import get_task
from .trainer import train_step

#: Bytes per float32 element, the unit of the activation-traffic estimate.
_FP32_BYTES = 4
#: Activation traffic of a training sample relative to its forward pass: the backward pass reads each saved
#: activation and the incoming gradient and writes the outgoing one, about twice the forward traffic.
TRAIN_TRAFFIC_FACTOR = 3
#: Elements of each bandwidth array: 2^26 float32 = 256 MiB, eight times a 32 MiB L3 cache.
_BANDWIDTH_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class ModelBench:
    """How one named benchmark builds its model and how hard it is driven.

    ``task`` and ``preset`` go through the task's own ``model_config``, so the bench follows the presets users
    train with; ``train_batch`` / ``infer_batch`` are the batch sizes; ``steps`` the timed repeats (after
    ``warmup`` untimed ones).
    """

    task: str
    model: str
    preset: str
    train_batch: int
    infer_batch: int
    steps: int = 7
    warmup: int = 2


#: The benchmarks run by default, in order. ``resvg-paper`` costs ~22 GFLOP per training sample: a small batch
#: and few repeats keep it to seconds.
MODELS: dict[str, ModelBench] = {
    "ressen": ModelBench("superenhancer", "ressen", "paper", 128, 256),
    "deepsen": ModelBench("superenhancer", "deepsen", "paper", 128, 256),
    "resvg-cpu": ModelBench("viral", "resvg", "cpu", 128, 256),
    "resvg-paper": ModelBench("viral", "resvg", "paper", 4, 8, steps=3, warmup=1),
    "viraminer": ModelBench("viral", "viraminer", "paper", 128, 256),
}
#: Extra benchmarks available through ``--models``.
EXTRA_MODELS: dict[str, ModelBench] = {
    "viraminer-cpu": ModelBench("viral", "viraminer", "cpu", 128, 256),
}
#: ``--quick``: batches of 2 (BatchNorm's minimum in training), one timed call and no warm-up; checks that
#: everything runs and measures nothing worth quoting.
_QUICK_BATCH, _QUICK_STEPS, _QUICK_WARMUP = 2, 1, 0
_PREDICT_PRESET = "cpu"  # predict is timed with the cpu-preset ResVG, as the goal is stated
#: Matrix-multiply shapes ``(m, k, n)`` of the measured peak: squares, and the im2col shapes of the cpu-preset ResVG's
#: widest convolutions (a batch of 256 windows x 297 positions, 64 channels x 11 taps, 32 filters) and of the
#: paper-width one (1000 x 11 taps, 1000 filters), which the BLAS may run faster than any square.
PEAK_SHAPES = ((1024, 1024, 1024), (2048, 2048, 2048), (3072, 3072, 3072), (4096, 4096, 4096),
               (76032, 704, 32), (76032, 704, 64), (2376, 11000, 1000))  # fmt: skip
_QUICK_SHAPES = ((512, 512, 512), (1024, 1024, 1024), (4096, 704, 32))
_CUDA_SHAPES = ((4096, 4096, 4096), (8192, 8192, 8192), (76032, 704, 64), (2376, 11000, 1000))
#: ``predict_viral`` settings timed beside the default one, at the largest input size (see :func:`bench_predict`).
PREDICT_VARIANTS = {"stride10": {"stride": 10}, "exact": {"exact_windows": True}, "bf16": {"precision": "bf16"}}
_BUDGET_S = 8.0  # seconds of timed repeats per measurement (see median_seconds); keeps the full run to minutes


# ------------------------------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int, device: torch.device,
                   budget_s: float | None = None) -> float:  # fmt: skip
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones.

    With ``budget_s``, stops early once the timed calls have taken that long and at least three (or ``repeats``)
    have run, so a slow machine or model cannot stretch the bench without bound.
    """
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
        if budget_s is not None and sum(times) > budget_s and len(times) >= min(3, repeats):
            break
    return statistics.median(times)


# ------------------------------------------------------------------------------------------------- machine limits
def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (see :func:`resgenome.machine.bf16_native`)."""
    return bf16_native(device)


def matmul_gflops(dtype: torch.dtype, device: torch.device, shapes: tuple[tuple[int, int, int], ...],
                  repeats: int) -> tuple[float, dict[str, float]]:  # fmt: skip
    """Best over ``shapes`` of the median GFLOP/s of an ``(m x k) @ (k x n)`` product (``2 m k n`` FLOP), and each
    shape's GFLOP/s keyed ``"m x k x n"``."""
    each = {}
    for m, k, n in shapes:
        a = torch.randn(m, k, device=device).to(dtype)
        b = torch.randn(k, n, device=device).to(dtype)
        c = torch.empty(m, n, device=device, dtype=dtype)
        seconds = median_seconds(lambda: torch.mm(a, b, out=c), repeats, 1, device)
        each[f"{m} x {k} x {n}"] = 2 * m * k * n / seconds / 1e9
    return max(each.values()), each


def memory_gbps(device: torch.device, elements: int = _BANDWIDTH_ELEMENTS, repeats: int = 7) -> dict:
    """Memory bandwidth in GB/s from a copy (2 arrays touched) and a triad (3 arrays), fp32, out of cache.

    Bytes counted are those read plus those written (a write-allocate's extra read is not counted, as in STREAM).
    """
    b = torch.ones(elements, device=device)
    c = torch.full((elements,), 2.0, device=device)
    a = torch.empty(elements, device=device)
    size = elements * _FP32_BYTES
    copy = 2 * size / median_seconds(lambda: a.copy_(b), repeats, 2, device) / 1e9
    triad = 3 * size / median_seconds(lambda: torch.add(b, c, alpha=3.0, out=a), repeats, 2, device) / 1e9
    return {"copy": copy, "triad": triad, "best": max(copy, triad)}


# ------------------------------------------------------------------------------------------------- cost models
def activation_bytes(model_name: str, config: dict) -> int:
    """Activation traffic of one forward sample in bytes: ``4 x sum over leaf modules of (inputs + output)``.

    Every leaf module (convolution, batch norm, ReLU, pooling, linear ...) is taken to read its inputs and write
    its output once, in float32; an in-place ReLU thus counts one read and one write of its tensor. Weights are
    left out (they are shared by the batch and stay in cache), so this is the traffic of a batch large enough that
    its activations leave the caches; a training sample moves about :data:`TRAIN_TRAFFIC_FACTOR` times as much.
    Shapes come from a forward pass on PyTorch's ``meta`` device, as in :func:`resgenome.models.flops_per_sample`.
    """
    with torch.device("meta"):
        model = build_model(model_name, dict(config))
    model.eval()
    total = 0

    def count(tensors) -> int:
        if isinstance(tensors, torch.Tensor):
            return tensors.numel()
        if isinstance(tensors, (tuple, list)):
            return sum(count(t) for t in tensors)
        return 0

    def hook(_module, inputs, output):
        nonlocal total
        total += count(inputs) + count(output)

    meta_forward(model, config, [m for m in model.modules() if not list(m.children())], hook)
    return total * _FP32_BYTES


def _model_config(spec: ModelBench) -> dict:
    """The model config of ``spec``, from its task's own ``model_config`` (as ``train`` builds it)."""
    prep = {"features": list(FEATURES)} if spec.task == "superenhancer" else {"seq_length": VIRAL_LENGTH}
    return get_task(spec.task).model_config(spec.model, prep, spec.preset)


def _dataset(spec: ModelBench, config: dict, n: int, generator: torch.Generator):
    """A random in-memory dataset in the trainer's format: (N, 1, F) float features, or (N, L) uint8 codes."""
    y = torch.randint(0, 2, (n,), generator=generator)
    if spec.task == "superenhancer":
        return ArrayData(torch.randn(n, 1, config["n_features"], generator=generator), y)
    codes = torch.randint(0, 4, (n, config["seq_length"]), generator=generator, dtype=torch.uint8)
    return ArrayData(codes, y, one_hot)


# ------------------------------------------------------------------------------------------------- models
def bench_model(
    spec: ModelBench, device: torch.device, peak_fp32: float, bandwidth: float, *, quick: bool = False,
    precision: str = "fp32",
) -> dict:
    """Throughput, MFU, data share and activation traffic of one model; see the module docstring.

    Inference is timed as the model's own forward pass under :func:`torch.inference_mode` (what MFU is about), not
    through the Predictor, whose end-to-end cost ``predict`` measures.
    """
    steps, warmup = (_QUICK_STEPS, _QUICK_WARMUP) if quick else (spec.steps, spec.warmup)
    train_batch, infer_batch = (_QUICK_BATCH, _QUICK_BATCH) if quick else (spec.train_batch, spec.infer_batch)
    config = _model_config(spec)
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = build_model(spec.model, config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = _dataset(spec, config, max(4 * train_batch, infer_batch), generator)
    idx = torch.randperm(len(data), generator=generator)[:train_batch]
    xb, yb = data.batch(idx)
    xb, yb = xb.to(device), yb.to(device)

    model.train()
    budget = None if quick else _BUDGET_S

    def step():
        train_step(model, optimizer, xb, yb, precision=precision)

    step_s = median_seconds(step, steps, warmup, device, budget)
    fetch_s = median_seconds(lambda: data.batch(idx), max(steps, 5), 1, device, budget)

    model.eval()
    xi, _ = data.batch(torch.arange(infer_batch))
    xi = xi.to(device)

    def infer():
        with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16"):
            model(xi)

    infer_s = median_seconds(infer, steps, warmup, device, budget)

    flops = flops_per_sample(spec.model, config)
    train_sps, infer_sps = train_batch / step_s, infer_batch / infer_s
    train_gflops, infer_gflops = 3 * flops * train_sps / 1e9, flops * infer_sps / 1e9
    traffic = activation_bytes(spec.model, config)
    train_gbps = TRAIN_TRAFFIC_FACTOR * traffic * train_sps / 1e9
    infer_gbps = traffic * infer_sps / 1e9
    return {
        "model": spec.model, "preset": spec.preset, "config": {k: list(v) if isinstance(v, tuple) else v
                                                                for k, v in config.items()},
        "precision": precision, "train_batch": train_batch, "infer_batch": infer_batch,
        "flops_per_sample": flops,
        "train_samples_per_s": train_sps, "infer_samples_per_s": infer_sps,
        "train_gflops": train_gflops, "infer_gflops": infer_gflops,
        "train_mfu": train_gflops / peak_fp32, "infer_mfu": infer_gflops / peak_fp32,
        "data_share": fetch_s / (fetch_s + step_s),
        "bytes_per_sample_forward": traffic,
        "bytes_per_sample_train": TRAIN_TRAFFIC_FACTOR * traffic,
        "train_gbps": train_gbps, "infer_gbps": infer_gbps,
        "train_bandwidth_fraction": train_gbps / bandwidth, "infer_bandwidth_fraction": infer_gbps / bandwidth,
    }  # fmt: skip


# ------------------------------------------------------------------------------------------------- predict
def write_random_fasta(path: Path, total_bases: int, record_bases: int = 2_000_000, seed: int = 0,
                       line: int = 80) -> int:  # fmt: skip
    """A FASTA of random ACGT in records of ``record_bases`` (the last shorter), ``line`` bases per line.

    Written in blocks, so memory stays at one block whatever ``total_bases``. Returns the number of records.
    """
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    block = (1 << 14) * line  # bases per write, a whole number of lines
    records = 0
    with open(path, "wb") as handle:
        left = total_bases
        while left > 0:
            size = min(record_bases, left)
            records += 1
            handle.write(f">contig{records} random ACGT, {size} bp\n".encode())
            for lo in range(0, size, block):
                bases = letters[rng.integers(0, 4, min(block, size - lo))]
                full = len(bases) // line * line
                grid = np.full((full // line, line + 1), ord("\n"), dtype=np.uint8)
                grid[:, :line] = bases[:full].reshape(-1, line)
                handle.write(grid.tobytes())
                if full < len(bases):
                    handle.write(bases[full:].tobytes() + b"\n")
            left -= size
    return records


def write_random_resvg(path: Path, preset: str = "cpu", seed: int = 0) -> Path:
    """A real viral checkpoint of ResVG at ``preset`` with random weights (threshold 0.5), as ``train`` writes.

    Its calibration is the identity with a nominal contig null (1% of windows passing), not fitted on anything: it
    is there so that timed runs go through the whole of ``predict viral``, p-values and calls included.
    """
    prep = {"seq_length": VIRAL_LENGTH}
    config = get_task("viral").model_config("resvg", prep, preset)
    torch.manual_seed(seed)
    nominal = {"method": "platt", "threshold": 0.0, "window": Calibration("platt", 1.0, 0.0).to_state(),
               "contig_null": ContigNull(0.0, 999, 9).to_state(), "validation_viral": [0, 0]}  # fmt: skip
    predictor = Predictor("viral", "resvg", build_model("resvg", config), prep, config=config, threshold=0.5,
                          metadata={"note": "random weights written by resgenome bench"},
                          calibration={**nominal, "both_strands": dict(nominal)}, device="cpu")  # fmt: skip
    return predictor.save(path)


_PREDICT_CHILD = """
import json, resource, sys, time
from resgenome.predict import predict_viral
start = time.perf_counter()
stats = predict_viral(sys.argv[1], sys.argv[2], sys.argv[3], device=sys.argv[4], progress=False,
                      **json.loads(sys.argv[5]))
seconds = time.perf_counter() - start
try:  # the high-water mark of this process's own memory since exec (Linux)
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "bases": stats["bases"], "windows": stats["windows"], "peak_kb": peak_kb,
                  "method": stats["method"], "precision": stats["precision"], "warnings": stats["warnings"]}))
"""


def run_predict(model_path: Path, fasta: Path, output: Path, device: torch.device, **settings) -> dict:
    """Time ``predict_viral`` (default settings, or ``settings``) in a child process, which reports its own peak RSS.

    ``seconds`` is the call itself (reading to writing); ``wall_s`` adds interpreter start-up and imports. The peak
    RSS is the child's ``VmHWM`` from ``/proc/self/status``, not ``ru_maxrss`` from ``wait4`` /
    ``RUSAGE_CHILDREN``: Linux carries the RSS of the forking parent (here the bench, over a GB) into the child's
    ``ru_maxrss`` when it execs, which once made a 5 Mbp run look like 1.2 GB.
    """
    command = [sys.executable, "-c", _PREDICT_CHILD, str(model_path), str(fasta), str(output), device.type,
               json.dumps(settings)]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"predict child failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "input_mbp": result["bases"] / 1e6, "windows": result["windows"], "seconds": result["seconds"],
        "wall_s": wall, "bases_per_s": result["bases"] / result["seconds"], "peak_rss_mb": result["peak_kb"] / 1024,
        "method": result["method"], "precision": result["precision"], "warnings": result["warnings"], **settings,
    }  # fmt: skip


def flops_per_base(config: dict, stride: int, method: str) -> float:
    """Forward FLOPs per input base of ``predict viral`` with the ResVG of ``config``.

    ``fullconv``: the network's cost per position of its trunk, the slope of the analytic FLOPs in the input length
    (two lengths; the head's fixed cost cancels). ``exact``: a window's FLOPs per ``stride`` bases.
    """
    length = config["seq_length"]
    if method == "exact":
        return flops_per_sample("resvg", config) / stride
    longer = flops_per_sample("resvg", {**config, "seq_length": 2 * length})
    return (longer - flops_per_sample("resvg", config)) / length


def bench_predict(sizes_mbp: list[float], device: torch.device, infer_sps: float | None = None,
                  peak_fp32: float | None = None, variants: dict | None = None,
                  peak_bf16: float | None = None) -> dict:  # fmt: skip
    """``predict_viral`` at each input size (Mbp), then each of ``variants`` (default :data:`PREDICT_VARIANTS`) at
    the largest; the top-level numbers are those of the default settings at the largest input.

    ``infer_sps`` (windows/s of the cpu-preset ResVG from the model bench), when given, yields the per-window path's
    compute bound: at the default stride of 150 each base is scored twice, so bases/s <= windows/s x stride.
    ``peak_fp32`` (GFLOP/s) yields each run's FLOP bound, peak / :func:`flops_per_base`, and the fraction of it
    reached; a bf16 run is held to ``peak_bf16`` (without it, it gets no bound: the fp32 peak is not its ceiling). The time ratios are per base, at the same input, measured minutes apart in one bench.
    """
    stride = inspect.signature(predict_viral).parameters["stride"].default
    config = get_task("viral").model_config("resvg", {"seq_length": VIRAL_LENGTH}, _PREDICT_PRESET)
    variants = PREDICT_VARIANTS if variants is None else variants

    def bound(run: dict) -> dict:
        peak = peak_bf16 if run.get("precision") == "bf16" else peak_fp32
        if peak:
            per_base = flops_per_base(config, run.get("stride", stride), run["method"])
            run["flops_per_base"], run["flop_bound_bases_per_s"] = per_base, peak * 1e9 / per_base
            run["flop_bound_fraction"] = run["bases_per_s"] / run["flop_bound_bases_per_s"]
        return run

    runs, timed = [], {}
    with tempfile.TemporaryDirectory(prefix="resgenome-bench-") as tmp:
        tmp = Path(tmp)
        model_path = write_random_resvg(tmp / "model.pt", _PREDICT_PRESET)
        for mbp in sorted(sizes_mbp):
            fasta = tmp / f"random_{mbp:g}Mbp.fa"
            records = write_random_fasta(fasta, int(mbp * 1e6))
            runs.append(bound({**run_predict(model_path, fasta, tmp / "predictions.tsv", device), "records": records}))
            if mbp == max(sizes_mbp):  # the variants at the largest size, right after its default run
                timed = {name: bound(run_predict(model_path, fasta, tmp / "predictions.tsv", device, **settings))
                         for name, settings in variants.items()}  # fmt: skip
            fasta.unlink()
    return _predict_summary(runs[-1], runs, timed, stride, infer_sps)


def _predict_summary(top: dict, runs: list[dict], timed: dict, stride: int, infer_sps: float | None) -> dict:
    """bench.json's ``predict``: the default run at the largest input, the variants and their per-base time ratios."""
    result = {"bases_per_s": top["bases_per_s"], "peak_rss_mb": top["peak_rss_mb"], "model": "resvg-cpu",
              "stride": stride, "method": top["method"], "runs": runs, "variants": timed}  # fmt: skip
    result.update({k: top[k] for k in ("flops_per_base", "flop_bound_bases_per_s", "flop_bound_fraction") if k in top})
    if "stride10" in timed:
        result["stride10_time_ratio"] = top["bases_per_s"] / timed["stride10"]["bases_per_s"]
    if "exact" in timed:
        result["exact_time_ratio"] = top["bases_per_s"] / timed["exact"]["bases_per_s"]
    if "bf16" in timed:
        result["bf16_speedup"] = timed["bf16"]["bases_per_s"] / top["bases_per_s"]
    if infer_sps:
        result["compute_bound_bases_per_s"] = infer_sps * stride  # the per-window path's, at the default stride
    return result


# ------------------------------------------------------------------------------------------------- machine
def machine_info(device: torch.device) -> dict:
    """CPU model, cores, PyTorch version and threads, relevant CPU flags, and the load average at the start
    (:func:`resgenome.machine.probe`, under the keys bench.json has always used)."""
    info = probe(device)
    load = info.pop("load_average")
    info["load_average_start"] = load[0] if load else None
    return info


# ------------------------------------------------------------------------------------------------- the run
def run_bench(
    out: str | os.PathLike,
    *,
    models: list[str] | None = None,
    device: str = "cpu",
    quick: bool = False,
    predict: bool = True,
    predict_mbp: list[float] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Run the benchmark and write its JSON atomically to ``out``; return the result.

    Parameters
    ----------
    out : path of the JSON file (its folder is created if needed).
    models : names from :data:`MODELS` (default all of them) or :data:`EXTRA_MODELS`.
    device : ``cpu`` or ``cuda``.
    quick : a smoke run (seconds): small matrices and batches, one repeat, a 0.02 Mbp predict input.
    predict : time ``predict_viral`` too.
    predict_mbp : input sizes for ``predict`` in Mbp (default 5; quick 0.02).
    """
    tuned = tune_allocator()  # measure the process as `resgenome train` runs it
    say = log or (lambda _message: None)
    known = {**MODELS, **EXTRA_MODELS}
    names = list(MODELS) if not models else list(models)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ResgenomeError(f"--models {','.join(unknown)}: unknown; choose from {', '.join(known)}")
    target = pick_device(device)
    check_writable_dir(Path(out).parent)  # fail (or create the folder) now, not after minutes of measuring
    started = time.perf_counter()
    info = machine_info(target)
    features = ", ".join(name for name, present in info["cpu_features"].items() if present) or "none of note"
    say(f"bench on {info['cpu']} ({features}), {info['usable_cores']} cores, torch {info['torch']}, "
        f"{info['torch_threads']} threads, load {info['load_average_start']:.2f}")  # fmt: skip

    peaks, native_bf16, bandwidth = _machine_limits(target, quick, say, info["usable_cores"])
    peak_fp32 = peaks["peak_gflops"]["fp32"]
    results = {}
    for name in names:
        row = bench_model(known[name], target, peak_fp32, bandwidth["best"], quick=quick)
        results[name] = row
        say(f"{name}: train {row['train_samples_per_s']:.1f}/s (MFU {row['train_mfu']:.2f}), infer "
            f"{row['infer_samples_per_s']:.1f}/s (MFU {row['infer_mfu']:.2f}), data share {row['data_share']:.3f}")
    bf16_training, fp32_row = _bf16_training(results, target, peak_fp32, bandwidth["best"], native_bf16, quick)
    say(f"bf16 training ({bf16_training['model']}): {bf16_training['train_speedup_vs_fp32']:.2f}x fp32")

    predict_result = None
    if predict:
        variants = {k: v for k, v in PREDICT_VARIANTS.items() if native_bf16 or k != "bf16"}  # bf16 would be fp32
        predict_result = bench_predict(predict_mbp or ([0.02] if quick else [5.0]), target,
                                       fp32_row["infer_samples_per_s"], peak_fp32, variants,
                                       peak_bf16=peaks["peak_gflops"]["bf16"] if native_bf16 else None)  # fmt: skip
        say(_predict_line(predict_result))
    load = load_average()
    info.update({"load_average_end": load[0] if load else None, "bench_seconds": time.perf_counter() - started,
                 "quick": quick, "malloc_tuned": tuned})  # tune_allocator: large freed blocks stay in the heap
    result = {
        **peaks, "bf16_supported": native_bf16,
        "memory_gbps": bandwidth["best"], "memory": bandwidth, "models": results, "bf16_training": bf16_training,
        "predict_mbp_per_s": predict_result["bases_per_s"] / 1e6 if predict_result else None,
        "predict": predict_result, "machine": info,
    }  # fmt: skip
    with atomic_open(out, "w") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
    return result


def _machine_limits(target: torch.device, quick: bool, say, cores: int) -> tuple[dict, bool, dict]:
    """(``peak_gflops``, ``peak_shapes`` and ``theoretical_gflops`` of bench.json; native bf16?; memory bandwidth)."""
    cuda = target.type == "cuda"
    shapes = _QUICK_SHAPES if quick else (_CUDA_SHAPES if cuda else PEAK_SHAPES)
    repeats = 2 if quick else 5
    peak_fp32, shapes_fp32 = matmul_gflops(torch.float32, target, shapes, repeats)
    native_bf16 = bf16_supported(target)
    # without native bf16 a 2048^3 product takes a minute: measure the (slow) software path on a small matrix
    slow_shapes = ((256, 256, 256),) if quick else ((512, 512, 512),)
    peak_bf16, shapes_bf16 = matmul_gflops(torch.bfloat16, target, shapes if native_bf16 else slow_shapes, repeats)
    say(f"matmul peak (best of {len(shapes)} shapes): fp32 {peak_fp32:.1f} GFLOP/s, bf16 {peak_bf16:.1f} GFLOP/s "
        f"({'native' if native_bf16 else 'no native bf16 on this device'})")  # fmt: skip
    measured = {"fp32": peak_fp32, "bf16": peak_bf16}
    theory = theoretical_gflops(cpu_features(), cores) if not cuda else {"fp32": None, "bf16": None, "how": "GPU"}
    theory.update({f"measured_fraction_{k}": measured[k] / theory[k] if theory[k] else None for k in measured})
    if theory["fp32"]:
        above = ": the cores run above their nominal clock (turbo)" if theory["measured_fraction_fp32"] > 1 else ""
        say(f"theoretical FMA rate at the nominal clock: fp32 {theory['fp32']:.0f} GFLOP/s (the measured peak is "
            f"{theory['measured_fraction_fp32']:.2f} of it{above}), bf16 {theory['bf16']:.0f}; "
            f"{theory['how']}")  # fmt: skip
    bandwidth = memory_gbps(target, elements=(1 << 22) if quick else _BANDWIDTH_ELEMENTS, repeats=repeats)
    say(f"memory bandwidth: copy {bandwidth['copy']:.1f} GB/s, triad {bandwidth['triad']:.1f} GB/s")
    peaks = {"peak_gflops": measured, "peak_shapes": {"fp32": shapes_fp32, "bf16": shapes_bf16},
             "theoretical_gflops": theory}  # fmt: skip
    return peaks, native_bf16, bandwidth


def _predict_line(r: dict) -> str:
    """One line on the predict runs, for the log."""
    bf16 = f"; bf16 runs {r['bf16_speedup']:.2f}x faster" if "bf16_speedup" in r else "; bf16 not timed (not native)"
    return (f"predict viral ({r['method']}, stride {r['stride']}): {r['bases_per_s'] / 1e6:.3f} Mbp/s "
            f"({r['flop_bound_fraction']:.2f} of its FLOP bound), peak RSS {r['peak_rss_mb']:.0f} MB; per base, "
            f"stride 10 costs {r['stride10_time_ratio']:.2f}x and --exact-windows {r['exact_time_ratio']:.2f}x{bf16}")


def _bf16_training(results: dict, target: torch.device, peak_fp32: float, bandwidth: float, native_bf16: bool,
                   quick: bool) -> tuple[dict, dict]:  # fmt: skip
    """bf16 vs fp32 training on the cpu-preset ResVG (the goal's model, and cheap enough even in software bf16);
    returns the comparison and the fp32 row (measured here unless ``results`` has it)."""
    known = {**MODELS, **EXTRA_MODELS}
    bf16_name = "resvg-cpu"
    # without native bf16 each step is several times slower: fewer repeats
    bf16_spec = known[bf16_name] if native_bf16 else replace(known[bf16_name], steps=3, warmup=1)
    bf16 = bench_model(bf16_spec, target, peak_fp32, bandwidth, quick=quick, precision="bf16")
    fp32_row = results.get(bf16_name) or bench_model(known[bf16_name], target, peak_fp32, bandwidth,
                                                     quick=quick)  # fmt: skip
    bf16_training = {
        "model": bf16_name, "supported": native_bf16,
        "train_samples_per_s": bf16["train_samples_per_s"], "infer_samples_per_s": bf16["infer_samples_per_s"],
        "train_speedup_vs_fp32": bf16["train_samples_per_s"] / fp32_row["train_samples_per_s"],
        "infer_speedup_vs_fp32": bf16["infer_samples_per_s"] / fp32_row["infer_samples_per_s"],
    }  # fmt: skip
    return bf16_training, fp32_row


def markdown_table(result: dict) -> str:
    """The README's table: one row per model."""
    lines = [
        "| model | GFLOP/sample (fwd) | train samples/s | train MFU | infer samples/s | infer MFU | data share |"
        " activation MB/sample (train) | train GB/s (share of bw) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["models"].items():
        lines.append(
            f"| {name} | {r['flops_per_sample'] / 1e9:.3f} | {r['train_samples_per_s']:.1f} | {r['train_mfu']:.2f}"
            f" | {r['infer_samples_per_s']:.1f} | {r['infer_mfu']:.2f} | {r['data_share']:.3f}"
            f" | {r['bytes_per_sample_train'] / 1e6:.1f}"
            f" | {r['train_gbps']:.2f} ({r['train_bandwidth_fraction']:.2f}) |"
        )
    return "\n".join(lines)


__all__ = ["MODELS", "EXTRA_MODELS", "PEAK_SHAPES", "PREDICT_VARIANTS", "run_bench", "bench_model", "bench_predict",
           "flops_per_base", "activation_bytes", "matmul_gflops", "memory_gbps", "bf16_supported",
           "write_random_fasta", "write_random_resvg", "markdown_table"]  # fmt: skip
