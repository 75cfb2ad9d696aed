"""The packaged Snakemake workflow: where it lives, what its config means, and the thin `workflow run` wrapper.

The workflow scores many FASTA files, or one large one, with ``resgenome predict viral --shard i/n`` as independent
jobs and joins each sample's parts with ``resgenome merge-predictions``; Snakemake runs the jobs on local cores
(``--cores N``) or submits them to a cluster (an executor plugin such as ``snakemake-executor-plugin-slurm``). The
Snakefile only calls the command line, so a job on a cluster node runs exactly what a user would type.

This module imports neither Snakemake nor PyTorch: the Snakefile imports it to read its config, and it must stay
cheap because a cluster job parses the Snakefile again before it runs.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import ResgenomeError

HERE = Path(__file__).resolve().parent
SNAKEFILE = HERE / "Snakefile"
DEFAULT_CONFIG = HERE / "config.yaml"
PROFILES = HERE / "profiles"
INSTALL_HINT = "pip install 'resgenome[workflow]'"

# sample names become file names and Snakemake wildcards: no path separators, no shell metacharacters
_SAMPLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SEQUENCE_SUFFIXES = (".fasta", ".fa", ".fna", ".fas", ".csv")
_SHEET_COLUMNS = ("sample", "path")
# the keys of config.yaml; any other key is a typo that would otherwise leave a default silently in force
KEYS = ("model", "inputs", "samples", "shards", "threads", "stride", "batch_size", "both_strands", "skip_invalid",
        "fdr", "min_length", "max_n_fraction", "precision", "exact_windows", "outdir")  # fmt: skip
_PRECISIONS = ("fp32", "bf16")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz")  # what predict viral decompresses


@dataclass(frozen=True)
class Plan:
    """A checked workflow config: what to score, with which model, in how many shards, and where to write.

    ``samples`` maps each sample name to its input file (paths as given, relative to Snakemake's working
    directory); every other field is a ``predict viral`` option of the same name.
    """

    model: str
    samples: dict[str, str]
    shards: int
    stride: int
    threads: int
    outdir: str
    batch_size: int
    both_strands: bool
    skip_invalid: bool
    fdr: float | None = None
    min_length: int | None = None
    max_n_fraction: float | None = None
    precision: str = "fp32"
    exact_windows: bool = False

    def predict_flags(self) -> str:
        """The options every ``predict viral`` job gets besides model, input, output and shard."""
        flags = [f"--stride {self.stride}", f"--batch-size {self.batch_size}"]
        flags += ["--both-strands"] * self.both_strands + ["--skip-invalid"] * self.skip_invalid
        flags += [f"--precision {self.precision}"] * (self.precision != "fp32") + ["--exact-windows"] * self.exact_windows
        # calls: an option left empty keeps predict viral's own default
        calls = (("fdr", self.fdr), ("min-length", self.min_length), ("max-n-fraction", self.max_n_fraction))
        for name, value in calls:
            if value is not None:
                flags.append(f"--{name} {value}")
        return " ".join(flags)

    def merged(self, sample: str) -> str:
        """The merged table of ``sample``."""
        return f"{self.outdir}/{sample}.tsv"

    def part(self, sample: str, shard: int | str, n: int | str) -> str:
        """Shard ``shard`` of ``n`` of ``sample``; the shard count is in the name, so changing it starts afresh."""
        return f"{self.outdir}/shards/{sample}/{shard}-of-{n}.tsv"

    def parts(self, sample: str) -> list[str]:
        return [self.part(sample, i, self.shards) for i in range(self.shards)]

    def targets(self) -> list[str]:
        """Every file the workflow promises: one table per sample (and its list of skipped records)."""
        tables = [self.merged(s) for s in self.samples]
        return tables + [skipped(t) for t in tables] * self.skip_invalid


def skipped(table: str) -> str:
    """The side file in which ``predict viral --skip-invalid`` and ``merge-predictions`` list skipped records."""
    return table + ".skipped.tsv"


def sample_name(path: str) -> str:
    """``data/run1.fasta.gz`` -> ``run1``: the file name without its compression and sequence suffixes."""
    name = Path(path).name
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    for suffix in _SEQUENCE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_sample_sheet(path: str) -> dict[str, str]:
    """A tab-separated sample sheet with a header naming the columns ``sample`` and ``path`` (others are ignored).

    Raises
    ------
    ResgenomeError
        A missing file, a header without those columns, a row with a missing field, or a sample named twice.
    """
    try:
        handle = open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise ResgenomeError(f"config: samples: {path}: cannot read ({exc.strerror or exc})") from None
    samples: dict[str, str] = {}
    with handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is None or not set(_SHEET_COLUMNS) <= set(header):
            raise ResgenomeError(f"{path}: line 1: the sample sheet needs a header with the columns 'sample' and"
                                 " 'path' (tab-separated)")  # fmt: skip
        at = [header.index(c) for c in _SHEET_COLUMNS]
        for number, row in enumerate(reader, 2):
            if not any(field.strip() for field in row):
                continue  # blank lines, often at the end of a hand-written sheet
            if len(row) <= max(at) or not all(row[k].strip() for k in at):
                raise ResgenomeError(f"{path}: line {number}: needs a sample name and a path")
            name, file = (row[k].strip() for k in at)
            if name in samples:
                raise ResgenomeError(f"{path}: line {number}: sample {name!r} is listed twice")
            samples[name] = file
    if not samples:
        raise ResgenomeError(f"{path}: the sample sheet lists no samples")
    return samples


def _samples(config: dict[str, Any]) -> dict[str, str]:
    """The samples of ``inputs`` (a list of files) or of ``samples`` (a sample sheet): exactly one of the two."""
    inputs, sheet = config.get("inputs") or [], config.get("samples") or ""
    if isinstance(inputs, str):
        inputs = [inputs]
    if bool(inputs) == bool(sheet):
        raise ResgenomeError("config: give either 'inputs' (a list of FASTA files) or 'samples' (a sample sheet),"
                             " not both and not neither")  # fmt: skip
    if sheet:
        samples = read_sample_sheet(str(sheet))
    else:
        samples = {}
        for file in map(str, inputs):
            name = sample_name(file)
            if name in samples:
                raise ResgenomeError(f"config: inputs: {samples[name]} and {file} would both be sample {name!r};"
                                     " rename one or use a sample sheet ('samples')")  # fmt: skip
            samples[name] = file
    for name, file in samples.items():
        if not _SAMPLE_NAME.fullmatch(name):
            raise ResgenomeError(f"config: sample name {name!r}: use letters, digits, '_', '.' and '-' only"
                                 " (it becomes a file name); name samples in a sample sheet ('samples')")  # fmt: skip
        if not os.path.isfile(file):
            raise ResgenomeError(f"config: sample {name}: {file}: file not found")
    return samples


def _positive_int(config: dict[str, Any], key: str) -> int:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ResgenomeError(f"config: {key}: {value!r}: expected a whole number of at least 1")
    return value


def _flag(config: dict[str, Any], key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):  # a string 'False' would be true: refuse it rather than guess
        raise ResgenomeError(f"config: {key}: {value!r}: expected true or false")
    return value


def _precision(config: dict[str, Any]) -> str:
    value = config.get("precision") or "fp32"
    if value not in _PRECISIONS:
        raise ResgenomeError(f"config: precision: {value!r}: expected one of {', '.join(_PRECISIONS)}")
    return value


def _number(config: dict[str, Any], key: str, low: float, high: float, *, integer: bool = False) -> float | None:
    """An optional number in [low, high) (None when left empty)."""
    value = config.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or not low <= value < high:
        kind = "a whole number" if integer else "a number"
        raise ResgenomeError(f"config: {key}: {value!r}: expected {kind} from {low:g} up to (not including) {high:g}")
    return value


def plan(config: dict[str, Any]) -> Plan:
    """Check a workflow config (the defaults of ``config.yaml`` overlaid by the user's) and return its plan.

    Raises
    ------
    ResgenomeError
        One line naming the config key (and file, line or sample) that is wrong.
    """
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        raise ResgenomeError(f"config: unknown key {unknown[0]!r}; the keys are {', '.join(KEYS)}")
    model = str(config.get("model") or "")
    if not model:
        raise ResgenomeError("config: model: give the model file to score with, e.g. --config"
                             " model=runs/resvg/model.pt")  # fmt: skip
    if os.path.isdir(model) and os.path.isfile(os.path.join(model, "model.pt")):
        model = os.path.join(model, "model.pt")  # a file, so that Snakemake sees when the model changes
    if not os.path.isfile(model):
        raise ResgenomeError(f"config: model: {model}: file not found (pass DIR/model.pt)")
    outdir = str(config.get("outdir") or "").rstrip("/")
    if not outdir:
        raise ResgenomeError("config: outdir: give the folder to write the tables to")
    if "{" in outdir or "}" in outdir:  # Snakemake would read them as wildcards in every output path
        raise ResgenomeError(f"config: outdir: {outdir}: braces are not allowed in the output folder's name")
    return Plan(
        model=model, samples=_samples(config), shards=_positive_int(config, "shards"),
        stride=_positive_int(config, "stride"), threads=_positive_int(config, "threads"), outdir=outdir,
        batch_size=_positive_int(config, "batch_size"), both_strands=_flag(config, "both_strands"),
        skip_invalid=_flag(config, "skip_invalid"), fdr=_number(config, "fdr", 1e-12, 1),
        min_length=_number(config, "min_length", 1, float("inf"), integer=True),
        max_n_fraction=_number(config, "max_n_fraction", 0, 1), precision=_precision(config),
        exact_windows=_flag(config, "exact_windows"),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------- running it
def snakemake_installed() -> bool:
    """Whether Snakemake can be imported by this Python (it is the optional extra ``resgenome[workflow]``)."""
    return importlib.util.find_spec("snakemake") is not None


def snakemake_command(args: Sequence[str]) -> list[str]:
    """The Snakemake command line for the packaged workflow; ``args`` are the user's Snakemake options."""
    for arg in args:
        if arg in ("-s", "--snakefile") or arg.startswith("--snakefile="):
            raise ResgenomeError("workflow run: --snakefile is the packaged workflow's; run snakemake yourself to use"
                                 " another")  # fmt: skip
    # this Python, so the jobs' `python -m resgenome` is the resgenome that started them
    return [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), *args]


def run(args: Sequence[str]) -> int:
    """Run Snakemake on the packaged workflow with the user's options; return its exit code.

    Raises
    ------
    ResgenomeError
        Snakemake is not installed (the message says how to install it).
    """
    if not snakemake_installed():
        raise ResgenomeError(f"snakemake is not installed; install the workflow extra: {INSTALL_HINT}")
    with subprocess.Popen(snakemake_command(args)) as child:
        try:
            return child.wait()
        except KeyboardInterrupt:
            # the terminal sent Snakemake the same interrupt: let it cancel its jobs and remove incomplete files
            child.wait()
            raise
