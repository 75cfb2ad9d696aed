"""`resgenome bench --quick` runs and writes bench.json in the shape issue 4 asks for (its numbers mean nothing)."""

from __future__ import annotations

import json

import pytest

from resgenome.bench import MODELS, flops_per_base
from resgenome.cli import main

MODEL_KEYS = ("flops_per_sample", "train_samples_per_s", "infer_samples_per_s", "train_mfu", "infer_mfu")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_bench_writes_the_contract(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["peak_gflops"]["fp32"] > 0 and result["peak_gflops"]["bf16"] > 0
    assert isinstance(result["bf16_supported"], bool) and result["memory_gbps"] > 0
    assert set(result["models"]) == set(MODELS) == {"ressen", "deepsen", "resvg-cpu", "resvg-paper", "viraminer"}
    for name, row in result["models"].items():
        for key in MODEL_KEYS:
            assert row[key] > 0, (name, key)
        assert 0 <= row["data_share"] < 1, name
    assert result["models"]["viraminer"]["bytes_per_sample_train"] > 0
    assert result["models"]["resvg-paper"]["flops_per_sample"] > 7e9  # the paper width really is benchmarked
    assert result["predict"]["bases_per_s"] > 0 and result["predict"]["peak_rss_mb"] > 0
    predict = result["predict"]
    assert result["predict_mbp_per_s"] == pytest.approx(predict["bases_per_s"] / 1e6)
    assert predict["method"] == "fullconv" and predict["stride"] == 150
    assert predict["stride10_time_ratio"] > 0 and predict["exact_time_ratio"] > 0 and predict["flop_bound_fraction"] > 0
    assert predict["variants"]["exact"]["method"] == "exact" and predict["variants"]["stride10"]["stride"] == 10
    assert ("bf16_speedup" in predict) == result["bf16_supported"]  # timed only where bf16 is native
    if result["bf16_supported"]:  # a bf16 run is held to the bf16 peak, not the (lower) fp32 one
        bf16 = predict["variants"]["bf16"]
        assert bf16["flop_bound_bases_per_s"] == pytest.approx(
            result["peak_gflops"]["bf16"] * 1e9 / bf16["flops_per_base"])  # fmt: skip
    assert len(result["peak_shapes"]["fp32"]) >= 3 and result["peak_gflops"]["fp32"] == max(
        result["peak_shapes"]["fp32"].values())  # fmt: skip
    assert "how" in result["theoretical_gflops"]
    assert set(result["machine"]["cpu_features"]) >= {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
    assert result["machine"]["torch"] and result["machine"]["cores"] >= 1
    assert "| resvg-cpu |" in capsys.readouterr().out  # the README table
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # written atomically, nothing left over


def test_unknown_model_is_a_one_line_error(tmp_path, capsys):
    assert main(["bench", "--quick", "--models", "resnet50", "--out", str(tmp_path / "b.json")]) == 2
    assert "resnet50" in capsys.readouterr().err and not (tmp_path / "b.json").exists()


def test_flops_per_base_of_both_scoring_paths():
    """Fully convolutional: one trunk position per base (stem 4->64 k7, block 64->W, W->W, shortcut 64->W, k11);
    per window: a whole window's FLOPs every stride bases."""
    width = 32
    config = {"width": width, "seq_length": 300}
    per_position = 2 * (4 * 64 * 7 + 64 * width * 11 + width * width * 11 + 64 * width * 11)
    assert flops_per_base(config, 150, "fullconv") == per_position == flops_per_base(config, 10, "fullconv")
    window = 2 * (4 * 64 * 7 * 300 + (2 * 64 * width * 11 + width * width * 11) * 297 + width * 2)
    assert flops_per_base(config, 150, "exact") == pytest.approx(window / 150)
