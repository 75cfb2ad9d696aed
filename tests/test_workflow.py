"""Tests for the packaged Snakemake workflow: its config checks, the `workflow` command, and a real sharded run."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from resgenome import workflow
from resgenome.bench import write_random_resvg
from resgenome.cli import main
from resgenome.errors import ResgenomeError

ROOT = Path(__file__).resolve().parents[1]


def write_fasta(path: Path, records: dict[str, str], width: int = 60) -> Path:
    text = "".join(f">{name} description\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
                   for name, seq in records.items())  # fmt: skip
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as handle:
        handle.write(text)
    return path


def random_records(lengths: list[int], seed: int) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    alphabet = list("ACGTNacgt")
    p = [0.22] * 4 + [0.04] + [0.02] * 4
    return {f"s{seed}_contig{k}": "".join(rng.choice(alphabet, n, p=p)) for k, n in enumerate(lengths)}


def base_config(tmp_path: Path, **overrides) -> dict:
    model = write_random_resvg(tmp_path / "model.pt", preset="smoke")
    fasta = write_fasta(tmp_path / "run1.fasta", random_records([500, 40], seed=1))
    config = yaml.safe_load(workflow.DEFAULT_CONFIG.read_text())
    config.update(model=str(model), inputs=[str(fasta)])
    config.update(overrides)
    return config


# ------------------------------------------------------------------------------------------------- config
def test_sample_names_come_from_file_names():
    assert workflow.sample_name("data/run1.fasta.gz") == "run1"
    assert workflow.sample_name("run.2.FA") == "run.2"
    assert workflow.sample_name("x/assembly.fna") == "assembly"
    assert workflow.sample_name("reads.csv") == "reads"
    assert workflow.sample_name("contigs") == "contigs"
    # every compression predict viral reads
    assert workflow.sample_name("a/soil.fa.bz2") == "soil" == workflow.sample_name("soil.fasta.xz")


def test_the_default_config_has_exactly_the_known_keys():
    assert set(yaml.safe_load(workflow.DEFAULT_CONFIG.read_text())) == set(workflow.KEYS)


def test_plan_of_a_valid_config(tmp_path):
    config = base_config(tmp_path, shards=3, stride=100, both_strands=True, skip_invalid=True)
    config["model"] = str(tmp_path)  # a run folder stands for its model.pt, as for `predict viral`
    plan = workflow.plan(config)
    assert plan.model == str(tmp_path / "model.pt")
    assert plan.samples == {"run1": str(tmp_path / "run1.fasta")}
    assert plan.parts("run1") == [f"{plan.outdir}/shards/run1/{i}-of-3.tsv" for i in range(3)]
    assert plan.targets() == [f"{plan.outdir}/run1.tsv", f"{plan.outdir}/run1.tsv.skipped.tsv"]
    assert plan.predict_flags() == "--stride 100 --batch-size 256 --both-strands --skip-invalid"
    calls = workflow.plan({**config, "fdr": 0.05, "min_length": 300, "max_n_fraction": 0.1})
    assert calls.predict_flags().endswith("--fdr 0.05 --min-length 300 --max-n-fraction 0.1")
    fast = workflow.plan({**config, "precision": "bf16", "exact_windows": True})
    assert fast.predict_flags().endswith("--skip-invalid --precision bf16 --exact-windows")


def test_a_sample_sheet_names_the_samples(tmp_path):
    config = base_config(tmp_path)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tpath\tnote\nsoil_A\t{config['inputs'][0]}\tfirst\n\n")
    config.update(inputs=[], samples=str(sheet))
    assert workflow.plan(config).samples == {"soil_A": str(tmp_path / "run1.fasta")}


@pytest.mark.parametrize(("change", "message"), [
    ({"model": ""}, "config: model: give the model file"),
    ({"model": "missing/model.pt"}, "config: model: missing/model.pt: file not found"),
    ({"inputs": []}, "either 'inputs'"),
    ({"samples": "sheet.tsv"}, "not both"),
    ({"inputs": ["nowhere.fa"]}, "config: sample nowhere: nowhere.fa: file not found"),
    ({"shards": 0}, "config: shards: 0: expected a whole number of at least 1"),
    ({"threads": "2"}, "config: threads: '2'"),
    ({"skip_invalid": "False"}, "config: skip_invalid: 'False': expected true or false"),
    ({"outdir": ""}, "config: outdir"),
    ({"shard": 8}, "config: unknown key 'shard'; the keys are model, inputs"),
    ({"outdir": "out/{sample}"}, "config: outdir: out/{sample}: braces are not allowed"),
    ({"fdr": 1.5}, "config: fdr: 1.5: expected a number from"),
    ({"min_length": 0.5}, "config: min_length: 0.5: expected a whole number"),
    ({"precision": "fp16"}, "config: precision: 'fp16': expected one of fp32, bf16"),
    ({"exact_windows": "yes"}, "config: exact_windows: 'yes': expected true or false"),
])  # fmt: skip
def test_config_mistakes_are_one_line(tmp_path, change, message):
    config = base_config(tmp_path, **change)
    with pytest.raises(ResgenomeError, match=message) as info:
        workflow.plan(config)
    assert "\n" not in str(info.value)


def test_two_inputs_with_one_sample_name_are_refused(tmp_path):
    config = base_config(tmp_path)
    (tmp_path / "b").mkdir()
    other = write_fasta(tmp_path / "b" / "run1.fa.gz", random_records([400], seed=2))
    config["inputs"].append(str(other))
    with pytest.raises(ResgenomeError, match="would both be sample 'run1'"):
        workflow.plan(config)
    config["inputs"] = [str(write_fasta(tmp_path / "bad name.fa", random_records([400], seed=3)))]
    with pytest.raises(ResgenomeError, match="sample name 'bad name'"):
        workflow.plan(config)


@pytest.mark.parametrize(("sheet", "message"), [
    ("name\tfile\nx\ty\n", "line 1: the sample sheet needs a header"),
    ("sample\tpath\nx\n", "line 2: needs a sample name and a path"),
    ("sample\tpath\nx\t{fa}\nx\t{fa}\n", "line 3: sample 'x' is listed twice"),
    ("sample\tpath\n", "lists no samples"),
])  # fmt: skip
def test_sample_sheet_mistakes_name_the_line(tmp_path, sheet, message):
    config = base_config(tmp_path, inputs=[])
    path = tmp_path / "samples.tsv"
    path.write_text(sheet.format(fa=tmp_path / "run1.fasta"))
    config["samples"] = str(path)
    with pytest.raises(ResgenomeError, match=message):
        workflow.plan(config)


# ------------------------------------------------------------------------------------------------- command
def test_print_path_and_print_config(capsys):
    assert main(["workflow", "--print-path"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == workflow.SNAKEFILE and path.is_file()
    assert main(["workflow", "--print-config"]) == 0
    assert capsys.readouterr().out == workflow.DEFAULT_CONFIG.read_text()


def test_without_snakemake_one_line_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "snakemake", None)  # what an environment without the extra looks like
    assert main(["workflow", "run", "--cores", "2"]) == 2
    err = capsys.readouterr().err
    assert err == "error: snakemake is not installed; install the workflow extra: pip install 'resgenome[workflow]'\n"


def test_another_snakefile_is_refused(capsys):
    assert main(["workflow", "run", "--snakefile", "Snakefile", "--cores", "1"]) == 2
    assert "--snakefile is the packaged workflow's" in capsys.readouterr().err


@pytest.mark.slow
def test_a_config_mistake_stops_snakemake_with_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = subprocess.run([sys.executable, "-m", "resgenome", "workflow", "run", "--cores", "1", "--config",
                           "model=missing.pt", "inputs=run1.fa"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == "error: config: model: missing.pt: file not found (pass DIR/model.pt)"
    assert "Traceback" not in done.stderr and not (tmp_path / "resgenome-workflow").exists()


@pytest.mark.slow
def test_the_slurm_profile_is_found_by_name_and_sizes_the_jobs(tmp_path, monkeypatch):
    """`--workflow-profile slurm` from any folder finds the packaged profile; its keys are valid Snakemake options.

    The SLURM plugin is not installed here, so the profile's executor is replaced by the dry-run one.
    """
    config = base_config(tmp_path, shards=2, threads=3)
    monkeypatch.chdir(tmp_path)
    done = subprocess.run([sys.executable, "-m", "resgenome", "workflow", "run", "--workflow-profile", "slurm",
                           "--executor", "dryrun", "--set-resources", "predict_shard:runtime=600", "--config",
                           f"model={config['model']}", f"inputs={config['inputs'][0]}", "shards=2", "threads=3"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = done.stdout + done.stderr
    assert f"profile {workflow.PROFILES / 'slurm'}" in log
    jobs = log.split("rule predict_shard:")[1:]
    assert len(jobs) == 2
    for job in jobs:  # the one overridden resource changes, the others stay
        assert "threads: 3" in job and "mem_mb=2000" in job and "runtime=600" in job


@pytest.mark.slow
def test_the_wheel_ships_the_workflow(tmp_path):
    """Files beside the code reach a user's install only if pyproject.toml lists them as package data."""
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("resgenome-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    here = workflow.HERE
    wanted = {f"resgenome/workflow/{p.relative_to(here)}" for p in here.rglob("*") if p.is_file()
              and "__pycache__" not in p.parts}  # fmt: skip
    assert wanted <= shipped
    assert {"resgenome/workflow/Snakefile", "resgenome/workflow/profiles/slurm/config.yaml"} <= wanted


# ------------------------------------------------------------------------------------------------- a real run
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sharded_workflow_equals_one_process_byte_for_byte(tmp_path, monkeypatch):
    """Two samples in two shards each, run by Snakemake on 2 cores, give the tables of single `predict viral` runs.

    Records of varied length (shorter than a window, exactly one, many, with N and lower case), an invalid record
    (listed in the side file under skip_invalid), and a sample with fewer records than shards (an empty shard).
    """
    monkeypatch.chdir(tmp_path)  # relative paths in the config, as a user writes them
    write_random_resvg(Path("model.pt"), preset="smoke")
    many = random_records([700, 50, 300, 1234, 450, 299, 301, 2500], seed=1)
    many = {**dict(list(many.items())[:4]), "broken": "ACGTXXACGT" * 40, **dict(list(many.items())[4:])}
    write_fasta(Path("many.fasta"), many)
    write_fasta(Path("few.fa.gz"), random_records([900], seed=2))
    Path("run.yaml").write_text(yaml.safe_dump({
        "model": "model.pt", "inputs": ["many.fasta", "few.fa.gz"], "shards": 2, "threads": 1, "stride": 100,
        "skip_invalid": True, "fdr": 0.1, "outdir": "out",
    }))  # fmt: skip
    assert main(["workflow", "run", "--configfile", "run.yaml", "--cores", "2", "--quiet"]) == 0

    for sample, fasta in (("many", "many.fasta"), ("few", "few.fa.gz")):
        single = Path(f"{sample}.single.tsv")
        assert main(["predict", "viral", "--model", "model.pt", "--input", fasta, "--output", str(single),
                     "--stride", "100", "--skip-invalid", "--fdr", "0.1", "--quiet"]) == 0  # fmt: skip
        assert Path(f"out/{sample}.tsv").read_bytes() == single.read_bytes()
        assert Path(f"out/{sample}.tsv.skipped.tsv").read_bytes() == Path(f"{single}.skipped.tsv").read_bytes()
        # it really was two jobs, and their parts are gone once merged
        assert sorted(p.name for p in Path(f"out/logs/{sample}").glob("predict.*.log")) == [
            f"predict.{i}-of-2.log" for i in range(2)
        ]
    assert "broken" in Path("out/many.tsv.skipped.tsv").read_text()
    assert len(Path("out/few.tsv").read_text().splitlines()) == 2  # header + 1 record: shard 1 of 2 had none
    assert not list(Path("out").glob("shards/**/*.tsv"))
