"""The super-enhancer command-line contract: train, evaluate, predict, and bad input (one line, no output)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from resgenome.cli import main

from .conftest import write_se_table

SMOKE = ["--preset", "smoke", "--epochs", "2", "--quiet", "--batch-size", "64"]


def _train(se_csv, out, model="ressen", extra=()):
    return main(["train", "superenhancer", "--data", str(se_csv), "--model", model, "--seed", "1",
                 "--out", str(out), *SMOKE, *extra])  # fmt: skip


@pytest.mark.parametrize("model", ["ressen", "deepsen", "rf", "logreg", "hgb"])
def test_train_writes_the_contract(se_csv, tmp_path, model):
    out = tmp_path / model
    assert _train(se_csv, out, model) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for part in ("validation", "test"):
        for key in ("accuracy", "precision", "recall", "f1", "auroc", "auprc"):
            assert isinstance(metrics[part][key], float), (part, key)
    assert 0 <= metrics["threshold"] <= 1
    assert metrics["split"] == "chromosome" and not metrics["optimistic"]
    ckpt = torch.load(out / "model.pt", weights_only=True)  # tensors and plain values only
    assert ckpt["task"] == "superenhancer" and ckpt["model"]["name"] == model
    assert ckpt["preprocessing"]["features"][0] == "H3K27ac" and ckpt["package_version"]
    assert (out / "roc_pr.png").stat().st_size > 0
    rows = list(csv.DictReader(open(out / "history.csv")))
    if model in ("ressen", "deepsen"):
        assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "train_acc", "val_acc"] and len(rows) == 2
        assert (out / "training_curves.png").exists()
    assert not (out / "train_state.pt").exists()


def test_test_rows_come_from_held_out_chromosomes(se_csv, tmp_path):
    assert _train(se_csv, tmp_path / "r", "logreg", ["--holdout", "chr3"]) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["held_out"]["test"] == ["chr3"]
    assert metrics["test"]["n"] == 75  # rows of chr3 in the fixture
    assert "chr3" not in metrics["held_out"]["validation"]


def test_paper_split_is_flagged_optimistic(se_csv, tmp_path, capsys):
    assert _train(se_csv, tmp_path / "p", "logreg", ["--split", "paper"]) == 0
    metrics = json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert metrics["optimistic"] and metrics["validation"] == metrics["test"]
    assert "optimistic" in capsys.readouterr().err.lower()


def test_evaluate_and_predict(se_csv, tmp_path):
    out = tmp_path / "m"
    assert _train(se_csv, out) == 0
    assert main(["evaluate", "--model", str(out / "model.pt"), "--data", str(se_csv), "--out", str(tmp_path / "e")]) == 0
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"accuracy", "precision", "recall", "f1", "auroc", "auprc"}
    unlabelled = write_se_table(tmp_path / "new.csv", n=50, seed=5, labels=False)
    pred = tmp_path / "pred.tsv"
    assert main(["predict", "superenhancer", "--model", str(out / "model.pt"), "--input", str(unlabelled),
                 "--output", str(pred)]) == 0  # fmt: skip
    rows = list(csv.DictReader(open(pred), delimiter="\t"))
    assert len(rows) == 50 and list(rows[0]) == ["chrom", "start", "end", "score", "label"]
    threshold = torch.load(out / "model.pt", weights_only=True)["threshold"]
    for r in rows:
        assert 0.0 <= float(r["score"]) <= 1.0
        assert r["label"] == ("SE" if float(r["score"]) >= threshold else "TE")


def test_normalize_per_sample_and_class_weight(se_csv, tmp_path):
    out = tmp_path / "ps"
    assert _train(se_csv, out, "deepsen", ["--normalize", "per-sample", "--class-weight"]) == 0
    ckpt = torch.load(out / "model.pt", weights_only=True)
    assert ckpt["preprocessing"]["scaler"]["mode"] == "per-sample"
    assert ckpt["training"]["train_config"]["class_weight"] is True


def test_same_seed_gives_identical_metrics_and_predictions(se_csv, tmp_path):
    for name in ("a", "b"):
        assert _train(se_csv, tmp_path / name) == 0
        assert main(["predict", "superenhancer", "--model", str(tmp_path / name / "model.pt"), "--input",
                     str(se_csv), "--output", str(tmp_path / f"{name}.tsv")]) == 0  # fmt: skip
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()


def _bad_input_cases(tmp_path, se_csv):
    text = se_csv.read_text().splitlines()
    header = text[0].split(",")
    cases = {}

    def variant(name, lines):
        path = tmp_path / f"{name}.csv"
        path.write_text("\n".join(lines) + "\n")
        cases[name] = path

    variant("missing_column", [",".join(c for c in header if c != "Oct4")] + [
        ",".join(v for c, v in zip(header, row.split(",")) if c != "Oct4") for row in text[1:]])  # fmt: skip
    for name, value in (("non_numeric", "high"), ("nan", "NaN"), ("inf", "inf"), ("bad_class", "XE")):
        rows = [r.split(",") for r in text]
        rows[7][header.index("Class" if name == "bad_class" else "Nanog")] = value
        variant(name, [",".join(r) for r in rows])
    (tmp_path / "empty.csv").write_text("")
    cases["empty"] = tmp_path / "empty.csv"
    cases["missing_file"] = tmp_path / "does_not_exist.csv"
    cases["directory"] = tmp_path
    return cases


@pytest.mark.parametrize("case", ["missing_column", "non_numeric", "nan", "inf", "bad_class", "empty",
                                  "missing_file", "directory"])  # fmt: skip
def test_bad_input_is_one_line_nonzero_no_output(se_csv, tmp_path, capsys, case):
    path = _bad_input_cases(tmp_path, se_csv)[case]
    out = tmp_path / "out"
    code = _train(path, out, "logreg")
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    assert str(path) in err or path.name in err
    if case in ("non_numeric", "nan", "inf", "bad_class"):
        assert "line 8" in err and ("Nanog" in err or "Class" in err)
    assert not out.exists()


def test_predict_bad_input_writes_nothing(se_csv, tmp_path, capsys):
    out = tmp_path / "m"
    assert _train(se_csv, out, "logreg") == 0
    bad = _bad_input_cases(tmp_path, se_csv)["nan"]
    pred = tmp_path / "pred.tsv"
    code = main(["predict", "superenhancer", "--model", str(out / "model.pt"), "--input", str(bad), "--output", str(pred)])
    assert code != 0 and not pred.exists()
    assert "line 8, column Nanog" in capsys.readouterr().err


def test_model_of_wrong_task_or_file_is_refused(se_csv, tmp_path, capsys):
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"not a model")
    code = main(["predict", "superenhancer", "--model", str(bogus), "--input", str(se_csv), "--output",
                 str(tmp_path / "p.tsv")])  # fmt: skip
    assert code != 0 and not (tmp_path / "p.tsv").exists()
    assert "not a resgenome model file" in capsys.readouterr().err


def test_unwritable_output_directory(se_csv, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    assert _train(se_csv, blocker / "run", "logreg") != 0
    err = capsys.readouterr().err
    assert "cannot create output directory" in err and len(err.strip().splitlines()) == 1


def test_variant_with_log1p_and_cosine_schedule_via_cli(se_csv, tmp_path):
    out = tmp_path / "additive"
    assert _train(se_csv, out, "ressen-additive", ["--transform", "log1p", "--feature-order", "clustered",
                                                   "--schedule", "cosine"]) == 0  # fmt: skip
    ckpt = torch.load(out / "model.pt", weights_only=True)
    assert ckpt["model"]["config"]["kernel_size"] == 1 and ckpt["preprocessing"]["transform"] == {"kind": "log1p"}
    assert sorted(ckpt["preprocessing"]["order"]) == list(range(36))
    assert ckpt["training"]["train_config"]["schedule"] == "cosine"
    assert main(["predict", "superenhancer", "--model", str(out / "model.pt"), "--input", str(se_csv),
                 "--output", str(tmp_path / "scores.tsv")]) == 0  # fmt: skip


def test_named_recipe_variant_is_the_paper_network_fed_its_recipe(se_csv, tmp_path, capsys):
    """ressen-log1p: ResSEN's layers and widths exactly, with log1p before Eq. 1-4 recorded in the checkpoint; an
    option that contradicts the recipe is one line and no run folder."""
    assert _train(se_csv, tmp_path / "paper", "ressen") == 0
    assert _train(se_csv, tmp_path / "log1p", "ressen-log1p") == 0
    paper = torch.load(tmp_path / "paper" / "model.pt", weights_only=True)
    variant = torch.load(tmp_path / "log1p" / "model.pt", weights_only=True)
    assert variant["model"]["name"] == "ressen-log1p" and variant["model"]["config"] == paper["model"]["config"]
    assert variant["preprocessing"]["transform"] == {"kind": "log1p"} and paper["preprocessing"]["transform"] == {"kind": "none"}
    assert {k: v.shape for k, v in variant["state"].items()} == {k: v.shape for k, v in paper["state"].items()}
    capsys.readouterr()
    assert _train(se_csv, tmp_path / "rank", "ressen-log1p", ["--transform", "rank"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ressen-log1p" in err and "log1p" in err
    assert not (tmp_path / "rank").exists()
