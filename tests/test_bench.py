"""`resgenome bench --quick` runs and writes bench.json in the shape issue 4 asks for (its numbers mean nothing)."""

from __future__ import annotations

import json

import pytest

from resgenome.bench import MODELS
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
    assert result["machine"]["torch"] and result["machine"]["cores"] >= 1
    assert "| resvg-cpu |" in capsys.readouterr().out  # the README table
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # written atomically, nothing left over


def test_unknown_model_is_a_one_line_error(tmp_path, capsys):
    assert main(["bench", "--quick", "--models", "resnet50", "--out", str(tmp_path / "b.json")]) == 2
    assert "resnet50" in capsys.readouterr().err and not (tmp_path / "b.json").exists()
