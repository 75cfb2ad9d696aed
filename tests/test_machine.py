"""The machine probe that bench and reproduce both record."""

from __future__ import annotations

import torch

from resgenome.bench import machine_info
from resgenome.machine import bf16_native, probe


def test_probe_describes_this_machine():
    info = probe("cpu")
    assert info["cores"] >= 1 and 1 <= info["usable_cores"] <= info["cores"]
    assert info["torch"] == torch.__version__ and info["torch_threads"] == torch.get_num_threads()
    assert info["device"] == "cpu" and info["gpu"] is None and info["cpu"]
    assert info["load_average"] is None or len(info["load_average"]) == 3
    assert isinstance(bf16_native(torch.device("cpu")), bool)


def test_bench_records_the_same_probe():
    info, probed = machine_info(torch.device("cpu")), probe("cpu")
    for key in ("cpu", "cores", "usable_cores", "torch", "cpu_flags", "cpu_capability", "python"):
        assert info[key] == probed[key], key
    assert "load_average" not in info and "load_average_start" in info  # bench.json's key for it
