"""The Python API (`resgenome.load / train / evaluate`, `Model.predict / predict_table`): the same rows and
columns as the command line, one-line errors, and the README's Python examples run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import resgenome as rg
from resgenome import pretrained
from resgenome.cli import main
from resgenome.errors import ResgenomeError
from resgenome.predict import CONTIG_COLUMNS, WINDOW_COLUMNS

REPO = Path(__file__).resolve().parents[1]


def _sequences(lengths=(300, 1000, 120, 2500, 451), seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), n)) for n in lengths]


def _write_fasta(path: Path, sequences: list[str], ids: list[str]) -> Path:
    path.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, sequences)))
    return path


# ---------------------------------------------------------------------------------------------- load / predict
def test_load_resvg_predicts_one_row():
    model = rg.load("resvg")
    assert (model.task, model.name) == ("viral", "resvg") and model.card == pretrained.get("resvg").card
    assert model.threshold == pytest.approx(model.predictor.threshold)
    calls = model.predict(["ACGT" * 75])
    assert isinstance(calls, pd.DataFrame) and list(calls.columns) == CONTIG_COLUMNS and len(calls) == 1
    row = calls.iloc[0]
    assert row["seq_id"] == "seq0" and row["length"] == 300 and row["n_windows"] == 1
    # 300 bp of ACGT repeats: one window; its call follows the p-value at the model's null rate
    assert 0 <= row["score_max"] <= 1 and row["call"] in ("viral", "non-viral")
    assert (row["call"] == "viral") == (row["p_value"] <= calls.attrs["manifest"]["calls"]["alpha"] * (1 + 1e-6))


@pytest.mark.parametrize("name", ["resvg", "kmer-logreg"])
def test_predict_gives_the_rows_of_predict_viral(name, tmp_path):
    """From a list, a mapping and a FASTA path: exactly the TSV `resgenome predict viral` writes."""
    sequences = _sequences()
    ids = [f"c{k}" for k in range(len(sequences))]
    fasta = _write_fasta(tmp_path / "in.fa", sequences, ids)
    out = tmp_path / "cli.tsv"
    assert main(["predict", "viral", "--model", name, "--input", str(fasta), "--output", str(out), "--quiet"]) == 0
    cli = pd.read_csv(out, sep="\t", dtype={"seq_id": str})
    model = rg.load(name)
    pd.testing.assert_frame_equal(model.predict(fasta), cli)
    pd.testing.assert_frame_equal(model.predict(dict(zip(ids, sequences))), cli)
    from_list = model.predict(sequences)
    assert from_list["seq_id"].tolist() == [f"seq{k}" for k in range(len(sequences))]
    pd.testing.assert_frame_equal(from_list.drop(columns="seq_id"), cli.drop(columns="seq_id"))


def test_predict_options_are_predict_viral_options(tmp_path):
    sequences = _sequences((700,))
    fasta = _write_fasta(tmp_path / "in.fa", sequences, ["x"])
    out = tmp_path / "w.tsv"
    assert main(["predict", "viral", "--model", "resvg", "--input", str(fasta), "--output", str(out), "--quiet",
                 "--per-window", "--stride", "100", "--both-strands"]) == 0  # fmt: skip
    windows = rg.load("resvg").predict(sequences, per_window=True, stride=100, both_strands=True)
    assert list(windows.columns) == WINDOW_COLUMNS and len(windows) == 5  # starts 0, 100, ..., 400
    pd.testing.assert_frame_equal(windows.drop(columns="seq_id"),
                                  pd.read_csv(out, sep="\t").drop(columns="seq_id"))  # fmt: skip


def test_ids_stay_text():
    calls = rg.load("kmer-logreg").predict({"NA": "ACGT" * 75, "007": "TTGCA" * 60})
    assert calls["seq_id"].tolist() == ["NA", "007"]


def test_skip_invalid_lists_the_skipped_records():
    calls = rg.load("kmer-logreg").predict(["ACGT" * 75, "ACGTXACGT", "GGCC" * 80], skip_invalid=True)
    assert calls["seq_id"].tolist() == ["seq0", "seq2"]
    skipped = calls.attrs["skipped"]
    assert skipped["seq_id"].tolist() == ["seq1"] and "illegal character" in skipped["reason"][0]


def test_bad_sequences_are_one_line_naming_the_sequence():
    model = rg.load("kmer-logreg")
    with pytest.raises(ResgenomeError) as caught:
        model.predict(["ACGT" * 75, "ACGTXACGT"])
    message = str(caught.value)
    assert message.startswith("sequences: record 'seq1'") and "illegal character" in message
    assert "line" not in message and "resgenome-" not in message  # no trace of the temporary file
    with pytest.raises(ResgenomeError, match="not a file; to score sequences pass a list"):
        model.predict("ACGT" * 75)
    with pytest.raises(ResgenomeError, match="single words"):
        model.predict({"two words": "ACGT" * 75})


def test_methods_of_the_other_task_are_refused():
    with pytest.raises(ResgenomeError, match=r"predict_table\(\) scores superenhancer data.*use predict\(\)"):
        rg.load("kmer-logreg").predict_table(pd.DataFrame())
    with pytest.raises(ResgenomeError, match=r"predict\(\) scores viral data.*use predict_table\(\)"):
        rg.load("logreg").predict(["ACGT" * 75])


def test_load_refuses_a_model_of_another_task_and_picks_defaults():
    with pytest.raises(ResgenomeError, match="superenhancer model"):
        rg.load("ressen", task="viral")
    assert rg.load(task="superenhancer").name == pretrained.default("superenhancer").name


def test_predict_table_on_the_first_rows_of_the_development_table(mesc_csv, tmp_path):
    head = pd.read_csv(mesc_csv).head(25)
    scores = rg.load("ressen").predict_table(head)
    assert list(scores.columns) == ["chrom", "start", "end", "score", "label"] and len(scores) == 25
    assert scores["chrom"].tolist() == head["chrom"].tolist() and scores["start"].tolist() == head["start"].tolist()
    head.to_csv(tmp_path / "head.csv", index=False)
    out = tmp_path / "cli.tsv"
    assert main(["predict", "superenhancer", "--model", "ressen", "--input", str(tmp_path / "head.csv"),
                 "--output", str(out)]) == 0  # fmt: skip
    pd.testing.assert_frame_equal(scores, pd.read_csv(out, sep="\t", dtype={"chrom": str}))
    pd.testing.assert_frame_equal(rg.load("ressen").predict_table(tmp_path / "head.csv"), scores)


def test_bad_dataframe_is_one_line_naming_the_dataframe(mesc_csv):
    head = pd.read_csv(mesc_csv).head(5).drop(columns=["H3K27ac"])
    with pytest.raises(ResgenomeError, match=r"^the DataFrame \(as CSV, header = line 1\): line 1: missing column"):
        rg.load("logreg").predict_table(head)


# ---------------------------------------------------------------------------------------------- train / evaluate
def test_train_and_evaluate_mirror_the_cli(se_csv, tmp_path):
    options = ["--split", "chromosome", "--seed", "1", "--preset", "smoke", "--epochs", "2", "--batch-size", "64",
               "--quiet"]  # fmt: skip
    assert main(["train", "superenhancer", "--data", str(se_csv), "--model", "ressen", *options,
                 "--out", str(tmp_path / "cli")]) == 0  # fmt: skip
    cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    model, metrics = rg.train("superenhancer", se_csv, "ressen", split="chromosome", seed=1, preset="smoke", epochs=2,
                              batch_size=64)  # fmt: skip
    assert isinstance(model, rg.Model) and model.task == "superenhancer"
    assert not any(key.startswith("_") for key in metrics)
    for part in ("validation", "test"):
        assert metrics[part]["auroc"] == cli[part]["auroc"] and metrics[part]["f1"] == cli[part]["f1"]
    assert model.threshold == cli["threshold"]
    assert main(["evaluate", "--model", str(tmp_path / "cli"), "--data", str(se_csv),
                 "--out", str(tmp_path / "ev")]) == 0  # fmt: skip
    evaluated = rg.evaluate(model, se_csv)
    assert evaluated["test"] == json.loads((tmp_path / "ev" / "metrics.json").read_text())["test"]
    assert rg.evaluate(str(tmp_path / "cli"), se_csv)["test"] == evaluated["test"]
    model.save(tmp_path / "saved" / "model.pt")
    assert rg.load(tmp_path / "saved").predict_table(se_csv).equals(model.predict_table(se_csv))


# ---------------------------------------------------------------------------------------------- the package
def test_import_is_light_and_exports_the_api():
    """`import resgenome` (and so the CLI's start) does not load PyTorch; the API arrives on first use."""
    code = "import sys, resgenome as rg; print('torch' in sys.modules, sorted(rg.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env()).stdout
    assert out.strip() == "False ['Model', '__version__', 'evaluate', 'load', 'train']"


@pytest.mark.slow
def test_one_liner_prints_a_one_row_dataframe():
    code = ("import pandas as pd, resgenome as rg; pd.set_option('display.width', 400); "
            "pd.set_option('display.max_columns', None); m = rg.load('resvg'); print(m.predict(['ACGT' * 75]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0].split() == CONTIG_COLUMNS and len(lines) == 2 and lines[1].split()[:2] == ["0", "seq0"]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    return env


def readme_python_blocks() -> list[str]:
    """The ```python blocks of the README's "Use from Python" section."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Use from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.slow
def test_readme_python_example_runs(data_dir, tmp_path, monkeypatch):
    blocks = readme_python_blocks()
    assert blocks, "the README has no python block under 'Use from Python'"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "contigs.fa").write_text("".join(f">contig{k}\n{s}\n" for k, s in enumerate(_sequences())))
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README, run as documented
