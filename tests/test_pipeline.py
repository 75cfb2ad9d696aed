"""``train_model`` and ``evaluate_model`` for the viral task, through the command line: the run directory, the
duplicates check, staged training, FASTA with a label file, evaluation reproducing the test metrics."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from resgenome.cli import main
from resgenome.data.encoding import reverse_complement
from resgenome.errors import ResgenomeError
from resgenome.metrics import best_f1_threshold, classification_metrics
from resgenome.pipeline import RunOptions, read_scores, run_scores, stack_runs, train_model, write_scores
from resgenome.predictor import Predictor
from resgenome.tasks import get_task
from resgenome.trainer import TrainConfig

from .conftest import needs_data, synthetic_rows, train_cli


def test_train_model_leaves_the_options_as_given_and_saves_a_predictor(synthetic_prefix, tmp_path):
    opts = RunOptions(model="resvg", preset="smoke", train=TrainConfig(epochs=1, batch_size=64, progress=False))
    metrics = train_model("viral", str(synthetic_prefix), opts, tmp_path / "run", log=None, figures=False)
    assert opts.train.selection_metric == "auprc"  # the caller's default, untouched
    assert "val_auroc" in metrics["_history"][0]  # the viral task's selection metric was used
    predictor = Predictor.load(tmp_path / "run", device="cpu")
    assert predictor.metadata["train_config"]["selection_metric"] == "auroc"
    assert predictor.threshold == metrics["threshold"] and predictor.config == {"seq_length": 300, "width": 8}
    y, scores = metrics["_test_scores"]
    # the test scores written by training are the saved model's scores of the test file
    test = get_task("viral").load(f"{synthetic_prefix}_test.csv")
    assert np.array_equal(predictor.score_dataset(test), scores) and np.array_equal(test.labels, y)



def test_duplicates_report_in_log_and_metrics(synthetic_prefix, tmp_path, capsys):
    assert train_cli(synthetic_prefix, "kmer-logreg", tmp_path / "lr", "--kmer", "4", quiet=False) == 0
    metrics = json.loads((tmp_path / "lr" / "metrics.json").read_text())
    assert metrics["duplicates_in_train"]["test"] == {"exact": 1, "reverse_complement": 1}
    assert metrics["split"] == "fullset" and metrics["task"] == "viral"
    assert metrics["test"]["auroc"] > 0.5
    assert "1 test sequences also in train, 1 more as reverse complement" in capsys.readouterr().err


def test_viraminer_staged_via_cli_and_reload(synthetic_prefix, tmp_path):
    out = tmp_path / "vm"
    assert train_cli(synthetic_prefix, "viraminer-staged", out) == 0
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 3  # one epoch per stage
    assert main(["evaluate", "--model", str(out / "model.pt"), "--data", f"{synthetic_prefix}_test.csv",
                 "--out", str(tmp_path / "ev")]) == 0  # fmt: skip



def test_rc_variant_with_rc_augmentation_via_cli_scores_both_strands_alike(synthetic_prefix, tmp_path):
    out = tmp_path / "rc"
    assert train_cli(synthetic_prefix, "resvg-rc", out, "--rc-augment", "--schedule", "cosine") == 0
    predictor = Predictor.load(out / "model.pt", device="cpu")
    assert predictor.config["rc"] is True
    assert predictor.metadata["train_config"]["rc_augment"] is True
    assert predictor.metadata["train_config"]["schedule"] == "cosine"
    dataset = get_task("viral").load(f"{synthetic_prefix}_test.csv")
    flipped = get_task("viral").load(f"{synthetic_prefix}_test.csv")
    flipped.codes = reverse_complement(flipped.codes)
    assert np.allclose(predictor.score_dataset(dataset), predictor.score_dataset(flipped), atol=1e-5)


def test_resvg_rcaug_is_resvg_trained_on_both_strands_and_keeps_the_fast_path(synthetic_prefix, tmp_path):
    out = tmp_path / "rcaug"
    assert train_cli(synthetic_prefix, "resvg-rcaug", out) == 0
    predictor = Predictor.load(out / "model.pt", device="cpu")
    assert predictor.model_name == "resvg-rcaug" and predictor.metadata["train_config"]["rc_augment"] is True
    assert type(predictor.model).__name__ == "ResVG" and predictor.config == {"seq_length": 300, "width": 8}
    assert predictor.scanner() is not None  # the paper's network: scored fully convolutionally by predict viral

@pytest.fixture(scope="module")
def two_runs(synthetic_prefix, tmp_path_factory):
    """A ResVG and a 4-mer logistic regression trained on the same synthetic split, with that dataset and split."""
    root = tmp_path_factory.mktemp("stack")
    task = get_task("viral")
    dataset = task.load(str(synthetic_prefix))
    split = task.make_split(dataset, "fullset", 0)
    for model in ("resvg", "kmer-logreg"):
        opts = RunOptions(model=model, preset="smoke", kmer=4, train=TrainConfig(epochs=1, batch_size=64, progress=False))
        train_model("viral", dataset, opts, root / model, split=split, log=None, figures=False)
    return root, dataset, split


def test_both_strand_scores_of_a_run_average_each_sequence_with_its_reverse_complement(two_runs):
    root, dataset, split = two_runs
    y, both = run_scores(root / "resvg", "test", both_strands=True, dataset=dataset, split=split)
    rows = dataset.subset(split.test)
    predictor = Predictor.load(root / "resvg" / "model.pt", device="cpu")
    expected = (predictor.score_windows(rows.codes) + predictor.score_windows(reverse_complement(rows.codes))) / 2
    np.testing.assert_allclose(both, expected, atol=1e-6)
    assert np.array_equal(y, rows.labels) and (root / "resvg" / "test_scores_both.csv").is_file()
    assert not np.allclose(both, run_scores(root / "resvg", "test")[1])  # the single-strand scores differ
    # rows that are not the run's own are refused, not silently scored
    with pytest.raises(ResgenomeError, match="not the ones the run was scored on"):
        run_scores(root / "resvg", "validation", both_strands=True, dataset=dataset, split=replace(
            split, validation=split.validation[::-1]))  # fmt: skip


def test_a_stacked_run_is_fitted_on_validation_and_scores_test_with_those_weights(two_runs, tmp_path):
    root, dataset, split = two_runs
    members = [(root / "resvg", True), (root / "kmer-logreg", False)]
    metrics = stack_runs(members, tmp_path / "stack", dataset=dataset, split=split, info={"model": "s"})
    y_test, stacked = read_scores(tmp_path / "stack" / "test_scores.csv")
    logits = np.column_stack([np.log(p / (1 - p)) for p in (
        run_scores(root / "resvg", "test", both_strands=True)[1], run_scores(root / "kmer-logreg", "test")[1])])
    expected = 1 / (1 + np.exp(-(metrics["intercept"] + logits @ np.array(metrics["weights"]))))
    np.testing.assert_allclose(stacked, expected, rtol=1e-6)
    y_val, oof = read_scores(tmp_path / "stack" / "validation_scores.csv")
    assert metrics["threshold"] == pytest.approx(best_f1_threshold(y_val, oof))
    assert metrics["model"] == "s" and metrics["test"]["auroc"] == pytest.approx(
        classification_metrics(y_test, stacked)["auroc"])  # fmt: skip


@needs_data
def test_train_writes_the_run_directory(trained):
    for model, out in trained.items():
        for name in ("model.pt", "metrics.json", "history.csv", "test_scores.csv", "roc_pr.png"):
            assert (out / name).is_file(), (model, name)
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["model"] == model and metrics["sizes"] == {"train": 400, "validation": 400, "test": 400}
        assert "duplicates_in_train" in metrics and metrics["test"]["auroc"] is not None
        # calibration fitted on validation, reported on test; the model keeps it with its contig null
        report = metrics["calibration"]
        assert report["method"] == "platt" and set(report["test"]) == {"before", "after", "reliability"}
        assert report["validation"]["after"]["ece"] < report["validation"]["before"]["ece"]
        assert (out / "reliability.png").is_file()
        calibration = torch.load(out / "model.pt", weights_only=True)["calibration"]
        assert calibration["window"]["method"] == "platt" and calibration["contig_null"]["n_null"] > 0
        assert calibration["both_strands"]["contig_null"]["short"]


def test_the_score_files_keep_the_ranking_of_tiny_probabilities(tmp_path):
    # a 6-mer logistic regression gives probabilities of 1e-9 and below; fixed decimals would write them all as 0
    p = np.array([3e-10, 1e-9, 2e-9, 0.5, 1 - 1e-10, 1 - 1e-11])
    write_scores(tmp_path / "s.csv", [0, 0, 1, 0, 1, 1], p)
    back = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)[:, 2]
    np.testing.assert_allclose(back, p, rtol=1e-11)
    assert np.all(np.diff(back[:3]) > 0) and back[4] < back[5] < 1


def test_a_runs_score_files_reproduce_its_metrics(trained):
    for model, out in trained.items():
        metrics = json.loads((out / "metrics.json").read_text())
        for part in ("validation", "test"):
            data = np.loadtxt(out / f"{part}_scores.csv", delimiter=",", skiprows=1)
            got = classification_metrics(data[:, 1].astype(int), data[:, 2])
            assert got["auroc"] == pytest.approx(metrics[part]["auroc"], abs=1e-9), (model, part)
            assert got["auprc"] == pytest.approx(metrics[part]["auprc"], abs=1e-9), (model, part)


@needs_data
@pytest.mark.parametrize("model", ["resvg", "kmer-logreg"])
def test_evaluate_reproduces_the_test_metrics(trained, devset_prefix, tmp_path, model):
    out = tmp_path / "ev"
    assert main(["evaluate", "--model", str(trained[model]), "--data", f"{devset_prefix}_test.csv",
                 "--out", str(out)]) == 0  # fmt: skip
    got = json.loads((out / "metrics.json").read_text())["test"]
    expected = json.loads((trained[model] / "metrics.json").read_text())["test"]
    assert got["auroc"] == pytest.approx(expected["auroc"], abs=1e-9)
    assert got["confusion"] == expected["confusion"]


def test_fasta_with_label_file_trains_and_evaluates(tmp_path):
    rows = synthetic_rows(240, 9)
    with open(tmp_path / "s.fa", "w") as fasta, open(tmp_path / "s.tsv", "w") as labels:
        labels.write("seq_id\tlabel\n")
        for seq_id, seq, y in rows:
            fasta.write(f">{seq_id}\n{seq[:100]}\n{seq[100:]}\n")
            labels.write(f"{seq_id}\t{y}\n")
    fa, tsv = str(tmp_path / "s.fa"), str(tmp_path / "s.tsv")
    assert train_cli(Path(fa), "kmer-logreg", tmp_path / "m", "--labels", tsv, "--split", "random", "--kmer", "3") == 0
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["sizes"]["test"] == 24
    assert main(["evaluate", "--model", str(tmp_path / "m"), "--data", fa, "--labels", tsv, "--out",
                 str(tmp_path / "ev")]) == 0  # fmt: skip
    assert train_cli(Path(fa), "kmer-logreg", tmp_path / "nolabels", "--split", "random") != 0
