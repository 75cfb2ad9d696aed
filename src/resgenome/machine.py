"""What machine a measurement ran on: the one probe that ``resgenome bench`` and ``resgenome reproduce`` record.

Timings mean little without the CPU, its cores, the threads PyTorch used and how loaded the machine was, so both
commands store :func:`probe`'s dictionary beside their numbers.
"""

from __future__ import annotations

import os
import platform

import torch

from . import __version__


def probe(device: torch.device | str = "cpu") -> dict:
    """The machine as it is now.

    Returns
    -------
    dict with ``cpu`` (model name), ``cpu_mhz`` (see :func:`cpu_features`), ``cores`` (logical CPUs),
    ``usable_cores`` (those this process may run on), ``torch``, ``torch_threads``, ``cpu_capability`` (PyTorch's
    vector instruction level), ``cpu_flags`` (the AVX / AMX / FMA flags), ``cpu_features`` (whether the CPU has each
    of :data:`FEATURES`), ``python``, ``platform``, ``resgenome``, ``device`` (``str(device)``), ``gpu`` (the CUDA
    device name when ``device`` is CUDA, else None) and ``load_average`` (1, 5 and 15 minutes, or None where unknown).
    """
    device = torch.device(device)
    cpu = cpu_features()
    return {
        "cpu": cpu["model"], "cpu_mhz": cpu["mhz"], "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": cpu["flags"], "cpu_features": {name: cpu[name] for name in FEATURES},
        "python": platform.python_version(), "platform": platform.platform(), "resgenome": __version__,
        "device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "load_average": load_average(),
    }  # fmt: skip


#: The CPU flags that bound arithmetic speed: fused multiply-add, the vector widths, and bf16 in hardware
#: (AVX512-BF16 dot products, AMX tiles).
FEATURES = ("fma", "avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_features() -> dict:
    """This CPU from /proc/cpuinfo: ``model``, ``mhz``, ``flags`` (AVX / AMX / FMA ones) and a bool per
    :data:`FEATURES`.

    ``mhz`` is the ``cpu MHz`` line: the nominal clock in a virtual machine, the current one on bare metal (a core
    in turbo may run faster); None where there is no /proc/cpuinfo.
    """
    model, mhz, flags = platform.processor() or platform.machine(), None, set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key == "cpu MHz" and mhz is None:
                    mhz = float(value)
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except (OSError, ValueError):
        pass
    return {"model": model or "unknown", "mhz": mhz,
            "flags": sorted(f for f in flags if f.startswith(("avx", "amx", "fma"))),
            **{name: name in flags for name in FEATURES}}  # fmt: skip


def theoretical_gflops(features: dict, cores: int) -> dict:
    """The CPU's arithmetic upper bound from its flags: cores x nominal GHz x FLOP per cycle per core.

    fp32: two FMA units per core (the most any x86 core has; the flags do not say whether a given Xeon has one or
    two) x SIMD lanes (16 with AVX-512, 8 with AVX2 + FMA, else 4) x 2 FLOP per FMA. bf16: AMX-BF16 1024 FLOP per
    cycle per core (Intel's figure for its tile multiply), else AVX512-BF16 2 units x 32 pairs x 2 = 128, else no
    native bf16 (the fp32 rate). An upper bound at the nominal clock; turbo can exceed it a little.

    Parameters
    ----------
    features : dict as :func:`cpu_features` returns (``mhz`` and the flags of :data:`FEATURES`).
    cores : int, the cores the computation may use.

    Returns
    -------
    dict with ``fp32`` and ``bf16`` GFLOP/s (None without a frequency) and ``how`` (the arithmetic, in words).
    """
    if not features.get("mhz"):
        return {"fp32": None, "bf16": None, "how": "no cpu MHz in /proc/cpuinfo"}
    lanes = 16 if features["avx512f"] else 8 if features["avx2"] and features["fma"] else 4
    fp32_per_cycle = 2 * lanes * 2
    bf16_unit = "AMX-BF16" if features["amx_bf16"] else "AVX512-BF16" if features["avx512_bf16"] else "no native"
    bf16_per_cycle = {"AMX-BF16": 1024, "AVX512-BF16": 128}.get(bf16_unit, fp32_per_cycle)
    ghz = features["mhz"] / 1000
    return {"fp32": cores * ghz * fp32_per_cycle, "bf16": cores * ghz * bf16_per_cycle,
            "how": f"{cores} cores x {ghz:.2f} GHz (cpu MHz) x FLOP/cycle/core: fp32 2 FMA units x {lanes} lanes x "
                   f"2 = {fp32_per_cycle}; bf16 {bf16_per_cycle} ({bf16_unit})"}  # fmt: skip


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages, or None where the platform has none."""
    try:
        return list(os.getloadavg())
    except (OSError, AttributeError):
        return None


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware (CPU: AVX512-BF16 or AMX; CUDA: compute capability >= 8).

    Elsewhere PyTorch emulates bf16, which is several times slower than fp32 (see ``resgenome bench``).
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
