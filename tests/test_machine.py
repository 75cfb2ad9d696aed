"""The machine probe that bench and reproduce both record."""

from __future__ import annotations

import torch

from resgenome.bench import machine_info
from resgenome.machine import FEATURES, bf16_native, probe, theoretical_gflops


def test_probe_describes_this_machine():
    info = probe("cpu")
    assert info["cores"] >= 1 and 1 <= info["usable_cores"] <= info["cores"]
    assert info["torch"] == torch.__version__ and info["torch_threads"] == torch.get_num_threads()
    assert info["device"] == "cpu" and info["gpu"] is None and info["cpu"]
    assert info["load_average"] is None or len(info["load_average"]) == 3
    assert isinstance(bf16_native(torch.device("cpu")), bool)
    assert set(info["cpu_features"]) == set(FEATURES) >= {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
    assert all(isinstance(v, bool) for v in info["cpu_features"].values())


def test_theoretical_rate_from_flags_and_frequency():
    base = {"mhz": 2000.0, "fma": True, "avx2": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False}
    avx2 = theoretical_gflops(base, cores=2)
    assert avx2["fp32"] == 2 * 2.0 * 2 * 8 * 2 and avx2["bf16"] == avx2["fp32"]  # no native bf16: the fp32 rate
    avx512 = theoretical_gflops({**base, "avx512f": True, "avx512_bf16": True}, cores=2)
    assert avx512["fp32"] == 2 * 2.0 * 2 * 16 * 2 and avx512["bf16"] == 2 * 2.0 * 128
    amx = theoretical_gflops({**base, "avx512f": True, "avx512_bf16": True, "amx_bf16": True}, cores=1)
    assert amx["bf16"] == 2.0 * 1024 and "AMX" in amx["how"]
    assert theoretical_gflops({**base, "mhz": None}, cores=2)["fp32"] is None


def test_bench_records_the_same_probe():
    info, probed = machine_info(torch.device("cpu")), probe("cpu")
    for key in ("cpu", "cores", "usable_cores", "torch", "cpu_flags", "cpu_capability", "python"):
        assert info[key] == probed[key], key
    assert "load_average" not in info and "load_average_start" in info  # bench.json's key for it
