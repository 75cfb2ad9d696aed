"""The packaged models: files match their index and cards, names resolve by the documented rules, the CLI finds
them (`models list/show`, `--model NAME`, no `--model`), and the cards' test metrics are what the files score."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from resgenome import pretrained
from resgenome.cli import main
from resgenome.errors import CheckpointError, ResgenomeError
from resgenome.predictor import Predictor
from resgenome.tasks import get_task

SHIPPED = {"resvg": "viral", "kmer-logreg": "viral", "ressen": "superenhancer", "logreg": "superenhancer"}
CARD_SECTIONS = ("## Intended use", "## Training data and split", "## Grouped hold-out metrics", "## Calibration",
                 "## Known failure modes", "## Compute", "## Reproduce", "## Licence and citation")  # fmt: skip
MAX_BYTES = 10 * 1024 * 1024


@pytest.fixture
def package_copy(tmp_path, monkeypatch) -> Path:
    """The package folder copied to tmp_path and made the one resgenome reads (so a test may alter it)."""
    folder = tmp_path / "pretrained"
    shutil.copytree(pretrained.HERE, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setattr(pretrained, "HERE", folder)
    return folder


def _fasta(path: Path, lengths=(300, 1000, 120, 2500), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "w") as handle:
        for k, n in enumerate(lengths):
            handle.write(f">contig{k} test\n{''.join(rng.choice(list('ACGT'), n))}\n")
    return path


# ---------------------------------------------------------------------------------------------- the files
def test_every_shipped_model_is_packaged_with_its_task():
    assert {m.name: m.task for m in pretrained.models()} == SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_file_matches_index_and_card_and_loads(name):
    model = pretrained.get(name)
    assert pretrained.file_sha256(model.path) == model.sha256
    assert model.path.stat().st_size == model.size
    card = model.card
    assert f"sha256 `{model.sha256}`" in card
    assert f"{model.size:,} bytes" in card
    for section in CARD_SECTIONS:
        assert section in card, section
    predictor = Predictor.load(model.verify(), device="cpu")
    assert predictor.task == model.task and predictor.model_name == model.model
    assert predictor.threshold is not None
    assert f"{predictor.threshold:.4f}" in card
    # the index's held-out groups are the ones the checkpoint records, and the card names them
    assert predictor.metadata["held_out"] == model.metrics["held_out"]
    assert all(group in card for group in model.metrics["held_out"]["test"])


def test_package_is_small():
    assert sum(m.size for m in pretrained.models()) < MAX_BYTES


def test_default_of_each_task_has_the_best_validation_score():
    index = json.loads((pretrained.HERE / "index.json").read_text())
    for task in ("viral", "superenhancer"):
        metric = get_task(task).selection_metric
        scores = {m.name: m.metrics["validation"][metric] for m in pretrained.models() if m.task == task}
        assert index["defaults"][task] == max(scores, key=scores.get)
        assert pretrained.default(task).default and pretrained.default(task).task == task


def test_altered_file_is_refused(package_copy):
    target = package_copy / "logreg" / "model.pt"
    data = bytearray(target.read_bytes())
    data[-40] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        pretrained.resolve("logreg")


# ---------------------------------------------------------------------------------------------- resolution
def test_names_resolve_to_packaged_files():
    assert pretrained.resolve("resvg") == pretrained.get("resvg").path
    assert pretrained.resolve("resgenome:ressen", task="superenhancer") == pretrained.get("ressen").path
    assert pretrained.resolve(None, task="viral") == pretrained.default("viral").path


def test_existing_path_wins_over_a_name_with_a_note(tmp_path, monkeypatch):
    local = tmp_path / "resvg"
    local.mkdir()
    monkeypatch.chdir(tmp_path)
    notes = []
    assert pretrained.resolve("resvg", note=notes.append) == Path("resvg")
    assert len(notes) == 1 and "resgenome:resvg" in notes[0]
    assert pretrained.resolve("resgenome:resvg") == pretrained.get("resvg").path  # the prefix always means packaged


def test_unknown_name_is_one_line_listing_the_names():
    with pytest.raises(ResgenomeError) as caught:
        pretrained.resolve("resvgg")
    message = str(caught.value)
    assert "\n" not in message and "no such file" in message
    for name in SHIPPED:
        assert name in message
    with pytest.raises(ResgenomeError, match="not a packaged model"):
        pretrained.resolve("resgenome:nope")


def test_packaged_model_of_the_other_task_is_refused_by_name():
    with pytest.raises(ResgenomeError, match=r"ressen is a superenhancer model; this needs a viral model"):
        pretrained.resolve("ressen", task="viral")


# ---------------------------------------------------------------------------------------------- the CLI
def test_models_list_and_show(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split("\t")[0]: line.split("\t") for line in out[1:]}
    assert set(rows) == set(SHIPPED)
    for name, row in rows.items():
        model = pretrained.get(name)
        assert row[1] == model.task and row[3] == str(model.size) and row[4] == model.sha256
        assert "AUROC" in row[-1]
    assert main(["models", "show", "resvg"]) == 0
    assert capsys.readouterr().out == pretrained.get("resvg").card
    assert main(["models", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "resvg" in err


def test_predict_viral_without_model_uses_the_default(tmp_path, capsys):
    fasta = _fasta(tmp_path / "contigs.fa")
    assert main(["predict", "viral", "--input", str(fasta), "--output", str(tmp_path / "a.tsv"), "--quiet"]) == 0
    default = pretrained.default("viral").name
    assert f"packaged viral model {default}" in capsys.readouterr().err
    explicit = ["--model", f"resgenome:{default}"]
    assert main(["predict", "viral", *explicit, "--input", str(fasta), "--output", str(tmp_path / "b.tsv"),
                 "--quiet"]) == 0  # fmt: skip
    a, b = (tmp_path / "a.tsv").read_text(), (tmp_path / "b.tsv").read_text()
    assert a == b and len(a.splitlines()) == 5


def test_predict_superenhancer_by_name_and_default(mesc_csv, tmp_path, capsys):
    head = tmp_path / "head.csv"
    head.write_text("".join(open(mesc_csv).readlines()[:21]))
    assert main(["predict", "superenhancer", "--model", "ressen", "--input", str(head),
                 "--output", str(tmp_path / "r.tsv")]) == 0  # fmt: skip
    assert main(["predict", "superenhancer", "--input", str(head), "--output", str(tmp_path / "d.tsv")]) == 0
    for out in ("r.tsv", "d.tsv"):
        rows = list(csv.DictReader(open(tmp_path / out), delimiter="\t"))
        assert len(rows) == 20 and all(0 <= float(r["score"]) <= 1 for r in rows)


def test_predict_with_a_model_of_the_other_task_is_one_line(tmp_path, capsys):
    fasta = _fasta(tmp_path / "c.fa")
    assert main(["predict", "viral", "--model", "ressen", "--input", str(fasta), "--output",
                 str(tmp_path / "x.tsv")]) == 2  # fmt: skip
    assert "superenhancer model" in capsys.readouterr().err and not (tmp_path / "x.tsv").exists()


def test_train_model_is_an_architecture_not_a_packaged_model(se_csv, tmp_path, monkeypatch):
    """`train --model logreg` fits a new logistic regression, whatever a packaged model or a folder is called."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logreg").mkdir()  # a folder with the name must not be taken for a model either
    assert main(["train", "superenhancer", "--data", str(se_csv), "--model", "logreg", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0  # fmt: skip
    trained = Predictor.load(tmp_path / "run", device="cpu")
    assert trained.model_name == "logreg"
    assert pretrained.file_sha256(tmp_path / "run" / "model.pt") != pretrained.get("logreg").sha256


# ---------------------------------------------------------------------------------------------- the cards' numbers
def _test_rows(name: str, data_dir: Path, tmp_path: Path) -> Path:
    """The held-out test rows of a packaged model, as the card's command selects them."""
    model = pretrained.get(name)
    groups = model.metrics["held_out"]["test"]
    if model.task == "viral":
        task = get_task("viral")
        dataset = task.load("viral-experiments")
        keep = np.isin(task.groups(dataset), groups)
        path = tmp_path / "test.csv"
        with open(path, "w") as handle:
            for seq_id, codes, label in zip(np.asarray(dataset.ids)[keep], dataset.codes[keep], dataset.labels[keep]):
                handle.write(f"{seq_id},{''.join('ACGTN'[c] for c in codes)},{label}\n")
        return path
    lines = open(data_dir / "superenhancers" / "mesc_khan2019_dev.csv").readlines()
    path = tmp_path / "test.csv"
    path.write_text(lines[0] + "".join(line for line in lines[1:] if line.split(",", 1)[0] in groups))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_card_test_metrics_are_what_the_file_scores(name, data_dir, tmp_path):
    """`resgenome evaluate --model NAME` on the held-out rows gives the index's (and card's) test metrics."""
    rows = _test_rows(name, data_dir, tmp_path)
    assert main(["evaluate", "--model", name, "--data", str(rows), "--out", str(tmp_path / "ev")]) == 0
    got = json.loads((tmp_path / "ev" / "metrics.json").read_text())["test"]
    want = pretrained.get(name).metrics["test"]
    for key in ("auroc", "auprc", "f1"):
        assert got[key] == pytest.approx(want[key], abs=1e-6), key
    assert f"| {got['auroc']:.3f} | {got['auprc']:.3f} |" in pretrained.get(name).card
