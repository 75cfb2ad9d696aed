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
    dict with ``cpu`` (model name), ``cores`` (logical CPUs), ``usable_cores`` (those this process may run on),
    ``torch``, ``torch_threads``, ``cpu_capability`` (PyTorch's vector instruction level), ``cpu_flags`` (the AVX /
    AMX / FMA flags), ``python``, ``platform``, ``resgenome``, ``device`` (``str(device)``), ``gpu`` (the CUDA device
    name when ``device`` is CUDA, else None) and ``load_average`` (1, 5 and 15 minutes, or None where unknown).
    """
    device = torch.device(device)
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {
        "cpu": model or "unknown", "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "amx", "fma"))),
        "python": platform.python_version(), "platform": platform.platform(), "resgenome": __version__,
        "device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "load_average": load_average(),
    }  # fmt: skip


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
