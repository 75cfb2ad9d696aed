"""The tasks: the declared contract and its preset tables, and the viral task's pieces (experiment groups,
duplicates across a split, splits, sparse k-mer inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import resgenome
from resgenome.data.encoding import encode
from resgenome.errors import ResgenomeError
from resgenome.models import classical, register, unregister
from resgenome.models.ressen_plus import RESSEN_VARIANTS
from resgenome.models.resvg import ResVG
from resgenome.models.resvg_plus import RESVG_VARIANTS
from resgenome.tasks import Task, get_task
from resgenome.tasks.viral import duplicates_across, experiment_groups


# ------------------------------------------------------------------------------------------------- the contract
def test_each_task_fulfils_the_contract_with_one_preset_table():
    for name in ("superenhancer", "viral"):
        task = get_task(name)
        assert isinstance(task, Task) and task.name == name
        assert set(task.presets) == {"smoke", "cpu", "paper"}
        for preset in task.presets.values():  # every entry names a model of the task
            assert set(preset.widths) | set(preset.epochs) <= set(task.neural_models)
            assert set(preset.classical_params) <= set(task.classical_models)
    # the papers' models first, then the variants beyond them (models/ressen_plus.py, models/resvg_plus.py)
    assert get_task("superenhancer").neural_models == ("ressen", "deepsen", *RESSEN_VARIANTS, "ressen-log1p",
                                                       "ressen-additive-log1p")  # fmt: skip
    assert get_task("viral").neural_models == ("resvg", "viraminer", "viraminer-staged", *RESVG_VARIANTS,
                                               "resvg-rcaug")  # fmt: skip
    with pytest.raises(ValueError, match="unknown task 'plants'"):
        get_task("plants")


def test_model_config_is_the_input_size_and_the_preset_widths_or_width():
    viral, se = get_task("viral"), get_task("superenhancer")
    assert viral.model_config("resvg", {"seq_length": 300}, "smoke") == {"seq_length": 300, "width": 8}
    assert viral.model_config("resvg", {"seq_length": 300}, "cpu")["width"] == 32
    assert viral.model_config("resvg", {"seq_length": 300}, "paper", width=16)["width"] == 16
    assert viral.model_config("viraminer", {"seq_length": 300}, "cpu", width=120) == {
        "seq_length": 300, "pattern_filters": 120, "frequency_filters": 100, "hidden": 100}  # fmt: skip
    # a paper network under its own recipe has that network's widths, at a preset and under --width
    assert viral.model_config("resvg-rcaug", {"seq_length": 300}, "cpu") == viral.model_config(
        "resvg", {"seq_length": 300}, "cpu")  # fmt: skip
    assert viral.model_config("resvg-rcaug", {"seq_length": 300}, "paper", width=16)["width"] == 16
    features = {"features": list("abcd")}
    assert se.model_config("ressen", features, "paper", width=512) == {
        "n_features": 4, "stem_channels": 64, "block1": (128, 256), "block2": (256, 512)}  # fmt: skip
    assert se.model_config("ressen", features, "cpu") == se.model_config("ressen", features, "paper")
    assert se.model_config("deepsen", features, "cpu", width=64) == {"n_features": 4}  # no width rule: ignored
    with pytest.raises(ResgenomeError, match="unknown model 'resvg' for the superenhancer task"):
        se.model_config("resvg", features)


def test_a_variant_is_its_paper_models_config_plus_its_deviations_at_every_preset_and_width():
    se, viral = get_task("superenhancer"), get_task("viral")
    features, seqs = {"features": list("abcd")}, {"seq_length": 300}
    for preset in ("smoke", "cpu", "paper"):
        for width in (None, 64):
            for name, deviations in RESSEN_VARIANTS.items():
                assert se.model_config(name, features, preset, width) == {
                    **se.model_config("ressen", features, preset, width), **deviations}
            for name, deviations in RESVG_VARIANTS.items():
                assert viral.model_config(name, seqs, preset, width) == {
                    **viral.model_config("resvg", seqs, preset, width), **deviations}


def test_a_registered_model_joins_the_task_it_names():
    register("toy-resvg", ResVG, task="viral")
    try:
        assert get_task("viral").neural_models[-1] == "toy-resvg"
        assert "toy-resvg" not in get_task("superenhancer").neural_models
    finally:
        unregister("toy-resvg")
    assert "toy-resvg" not in get_task("viral").neural_models


def test_defaults_live_in_the_contract_not_in_probes():
    offenders = [p.name for p in Path(resgenome.__file__).parent.rglob("*.py") if "hasattr(task" in p.read_text()]
    assert offenders == []
    se = get_task("superenhancer")
    assert se.check_split(None, None) == {}  # the contract's default: nothing to record
    assert se.load_options({"features": ["a", "length"]}) == {"use_length": True}
    assert get_task("viral").load_options({"seq_length": 300}) == {}


# ------------------------------------------------------------------------------------------------- the viral task


def test_experiment_groups_strip_contig_piece_numbers():
    ids = ["seq1_2013_E2_SCC", "seq2_2013_E2_SCC1", "seq3_2013_E2_SCC12", "seq4_2015_F2_20160119",
           "seq5_2015_F2_201601191", "seq6_2014_G7_MSNEW2", "seq7_2014_G7_MSNEW210", "seq8_2014_D3_Hyoty"]  # fmt: skip
    assert experiment_groups(ids).tolist() == [
        "2013_E2_SCC", "2013_E2_SCC", "2013_E2_SCC", "2015_F2_20160119", "2015_F2_20160119", "2014_G7_MSNEW2",
        "2014_G7_MSNEW2", "2014_D3_Hyoty",
    ]  # fmt: skip


def test_duplicates_across_counts_exact_and_reverse_complement():
    a = np.array([encode("ACGTT"), encode("GGGAA"), encode("CCCCC")])
    b = np.array([encode("ACGTT"), encode("TTCCC"), encode("AAAAA"), encode("GGGGG")])
    # ACGTT exact; TTCCC = rc(GGGAA); GGGGG = rc(CCCCC); AAAAA new
    assert duplicates_across(a, b) == (1, 2)
    assert duplicates_across(a, b[:0]) == (0, 0)


def test_splits_and_their_errors(synthetic_prefix):
    task = get_task("viral")
    data = task.load(synthetic_prefix)
    assert data.files == [f"{synthetic_prefix}_{p}.csv" for p in ("train", "validation", "test")]
    full = task.make_split(data, "fullset", 0)
    assert full.sizes() == {"train": 150, "validation": 60, "test": 60}
    assert data.ids[full.test[0]] == "dupexact_expA"
    rnd = task.make_split(data, "random", 0)
    assert sum(rnd.sizes().values()) == 270 and not set(rnd.train) & set(rnd.test)
    single = task.load(f"{synthetic_prefix}_train.csv")
    with pytest.raises(Exception, match="fullset needs the three files"):
        task.make_split(single, "fullset", 0)
    with pytest.raises(Exception, match="not a split"):
        task.make_split(data, "chromosome", 0)
    checks = task.check_split(data, full)
    assert checks["duplicates_in_train"]["test"] == {"exact": 1, "reverse_complement": 1}


def test_sparse_kmer_inputs_score_like_dense(synthetic_prefix):
    task = get_task("viral")
    data = task.load(synthetic_prefix)
    prep = task.fit_preprocessing(data, np.arange(150), {"model": "kmer-rf", "kmer": 4})
    X = task.classical_inputs(data, prep)
    assert X.shape == (270, 256)
    est = classical.make_estimator("kmer-rf", seed=0, n_estimators=5).fit(X[:150], data.labels[:150])
    exported = classical.export(est)
    np.testing.assert_allclose(classical.predict_exported(exported, X), est.predict_proba(X)[:, 1])
    np.testing.assert_allclose(classical.predict_exported(exported, X), classical.predict_exported(exported, X.toarray()))

