"""The ``resgenome`` command line: parse arguments, call the API, print. No logic of its own.

Each command imports the API it calls inside its own body, the one place in the package that defers imports: the
API pulls in PyTorch, scikit-learn and matplotlib, so importing it here at the top made ``resgenome --version`` and
``--help`` take 8.8-9.1 s instead of 0.17-0.28 s (measured on a shared 2-core machine at load ~5; the ratio is what
matters). import-linter still sees these imports, so the layer contracts in pyproject.toml cover them.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import warnings
from pathlib import Path

import click

from . import __version__
from .call_options import DEFAULT_MAX_N_FRACTION, DEFAULT_MIN_LENGTH
from .errors import ModelWarning, ResgenomeError
from .io import Interrupted, OutputClosed, output_folder, signals_raise
from .runtime import tune_allocator

_DEBUG = {"on": False}
_STDIN = "'-' reads standard input."
_OUTPUT_HELP = ("'-' writes standard output. A file is replaced atomically (complete or not at all; through a symbolic"
                " link, its target); standard output, a FIFO or a device is written directly, where atomicity is"
                " impossible.")  # fmt: skip


def _echo(message: str) -> None:
    click.echo(message, err=True)


class _Finite(click.FloatRange):
    """A float range that also refuses NaN and infinity, which would otherwise surface only mid-run."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a finite number.", param, ctx)
        return number


def _cuda_present(ctx, param, value: str) -> str:
    """``--device cuda`` on a machine without CUDA is refused now, not after the data is read."""
    if value == "cuda":
        import torch  # only when CUDA is asked for: importing PyTorch costs seconds (see the module docstring)

        if not torch.cuda.is_available():
            raise click.BadParameter("no CUDA device is available here; use cpu or auto.", ctx, param)
    return value


class _Shard(click.ParamType):
    """``I/N`` with 0 <= I < N, as a tuple."""

    name = "I/N"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            i, n = (int(part) for part in str(value).split("/"))
        except ValueError:
            self.fail(f"{value!r} is not I/N (e.g. 0/4 for the first of four shards).", param, ctx)
        if not (n >= 1 and 0 <= i < n):
            self.fail(f"{value} needs N >= 1 and 0 <= I < N (shards are numbered from 0).", param, ctx)
        return i, n


_MODEL_HELP = "(`resgenome models list`; resgenome:NAME always means the packaged one, an existing path wins)."
_DEFAULT_HELP = "DIR/model.pt or a packaged name; default: the packaged {task} default "


def _trained_model(spec: str | None, task: str | None) -> Path:
    """The checkpoint a --model argument means (a path, a packaged name, or the task's packaged default)."""
    from . import pretrained

    path = pretrained.resolve(spec, task=task, note=_echo)
    if spec is None:
        _echo(f"using the packaged {task} model {pretrained.default(task).name} (`resgenome models show "
              f"{pretrained.default(task).name}`)")  # fmt: skip
    return path


def _shared_training_options(fn):
    options = [
        click.option("--data", required=True,
                     help="CSV / FASTA / PREFIX or a registry name (see `data list`); plain, gzip, bzip2 or xz. "
                          + _STDIN),  # fmt: skip
        click.option("--model", "model", required=True, help="Model name (see the task's list)."),
        click.option("--split", default=None, help="Split protocol (default: the task's grouped split)."),
        click.option("--epochs", default=30, show_default=True, type=click.IntRange(1, 100_000)),
        click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1)),
        click.option("--out", required=True, type=click.Path(path_type=Path),
                     help="Output directory (removed again if the run fails, unless it existed)."),
        click.option("--batch-size", default=128, show_default=True, type=click.IntRange(2, 1 << 20)),
        click.option("--lr", default=1e-3, show_default=True, type=_Finite(min=0, min_open=True),
                     help="Adam learning rate."),  # fmt: skip
        click.option("--patience", default=10, show_default=True, type=click.IntRange(1, 100_000),
                     help="Early stopping: epochs without improvement on validation."),  # fmt: skip
        click.option("--class-weight/--no-class-weight", default=False, show_default=True,
                     help="Weight the loss by inverse class frequency."),  # fmt: skip
        click.option("--preset", type=click.Choice(["smoke", "cpu", "paper"]), default="cpu", show_default=True,
                     help="Model width preset: paper = the paper's widths (GPU), cpu = affordable on a CPU."),  # fmt: skip
        click.option("--width", type=click.IntRange(8, 4096), default=None, help="Override the main width."),
        click.option("--holdout", multiple=True, help="Group (chromosome / experiment) to hold out as test."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                     callback=_cuda_present),  # fmt: skip
        click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True),
        click.option("--resume", is_flag=True,
                     help="Continue an interrupted run in --out from its last epoch (an interrupted run keeps only"
                          " OUT/train_state.pt for this)."),  # fmt: skip
        click.option("--quiet", is_flag=True, help="No progress bars or per-epoch lines."),
        click.option("--schedule", type=click.Choice(["constant", "cosine"]), default="constant", show_default=True,
                     help="Learning rate: constant (the papers') or one warm-up epoch then cosine decay."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run_training(task: str, **kw) -> None:
    from .api import train as run_training
    from .io import refuse_overwriting_inputs
    from .parallel import process_group
    from .pipeline import RUN_FILES

    options = {key: kw[key] for key in ("split", "epochs", "seed", "batch_size", "lr", "patience", "class_weight",
                                        "preset", "width", "holdout", "device", "precision")}  # fmt: skip
    options.update({key: kw[key] for key in ("normalize", "use_length", "kmer", "labels", "schedule", "rc_augment",
                                             "transform", "feature_order") if key in kw})  # fmt: skip
    refuse_overwriting_inputs({"--data": kw["data"], "--labels": kw.get("labels")},
                              {"--out": [Path(kw["out"]) / name for name in RUN_FILES]})  # fmt: skip
    # the data are read inside the folder's block: a failure there removes the folder made here
    with output_folder(kw["out"], keep=_resumable) as out, process_group(kw["device"]) as (rank, _world):
        log = None if kw["quiet"] or rank != 0 else _echo  # rank: a no-op group unless started by torchrun
        _model, metrics = run_training(task, kw["data"], kw["model"], out=out, resume=kw["resume"], log=log,
                                       **options)  # fmt: skip
    if rank != 0:
        return
    _echo(f"wrote {kw['out']}/model.pt, metrics.json, history.csv and figures")
    if metrics.get("warning"):
        _echo("warning: " + metrics["warning"])


def _resumable(folder: Path, exc: BaseException) -> bool:
    """An interrupted training run keeps its folder when it holds the state to resume from, and says so."""
    state = folder / "train_state.pt"
    if isinstance(exc, Interrupted) and state.exists():
        exc.hint = f"run the same command with --resume to continue from the last finished epoch (kept {state})"
        return True
    return False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="resgenome")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Residual networks for super-enhancers (ResSEN) and viral DNA (ResVG), with their baselines."""
    _DEBUG["on"] = debug


# ---------------------------------------------------------------------------------------------- data
@cli.group()
def data() -> None:
    """Named public datasets: list and download."""


@data.command("list")
def data_list() -> None:
    """List the registry's datasets and where they are found."""
    from .data import registry

    click.echo("name\ttask\tpresent\twhere\tsource")
    for row in registry.describe():
        where = row["where"] or ("`resgenome data fetch " + row["name"] + "`" if row["downloadable"] else "-")
        click.echo(f"{row['name']}\t{row['task']}\t{'yes' if row['present'] else 'no'}\t{where}\t{row['source']}")


@data.command("fetch")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Target directory (default: $RESGENOME_DATA_DIR or ~/.cache/resgenome).")  # fmt: skip
@click.option("--force", is_flag=True, help="Download again even if present.")
def data_fetch(name: str, directory: Path | None, force: bool) -> None:
    """Download dataset NAME, verify its checksum, and store it atomically."""
    from .data import registry

    if directory is None:
        paths = registry.fetch(name, directory, force=force)
    else:
        with output_folder(directory, keep=lambda folder, _exc: any(folder.iterdir())):
            paths = registry.fetch(name, directory, force=force)
    for path in paths:
        click.echo(str(path))


# ---------------------------------------------------------------------------------------------- train
@cli.group()
def train() -> None:
    """Train a model; writes model.pt, metrics.json, history.csv and figures to --out."""


@train.command("superenhancer")
@_shared_training_options
@click.option("--normalize", type=click.Choice(["per-feature", "per-sample"]), default="per-feature",
              show_default=True, help="Eq. 1-4 per feature (fitted on training rows) or per sample.")  # fmt: skip
@click.option("--use-length", is_flag=True, help="Use the region length as a 37th feature.")
@click.option("--transform", type=click.Choice(["none", "log1p", "rank"]), default="none", show_default=True,
              help="Transform of the heavy-tailed signals before Eq. 1-4 (none = the paper).")
@click.option("--feature-order", type=click.Choice(["paper", "clustered"]), default="paper", show_default=True,
              help="Order of the features the convolutions see (clustered: correlated features side by side).")
def train_superenhancer(**kw) -> None:
    """Super-enhancer vs typical enhancer (models: ressen, deepsen, rf, logreg, hgb; variants ressen-1x1,
    ressen-additive, ressen-skip, ressen-log1p, ressen-additive-log1p; splits: chromosome, random, paper)."""
    _run_training("superenhancer", **kw)


@train.command("viral")
@_shared_training_options
@click.option("--kmer", default=6, show_default=True, type=click.IntRange(3, 7),
              help="k of the k-mer counts of kmer-rf / kmer-logreg.")  # fmt: skip
@click.option("--labels", type=click.Path(path_type=Path, allow_dash=True), default=None,
              help="seq_id<TAB>label file (1 = viral) when --data is FASTA. " + _STDIN)  # fmt: skip
@click.option("--rc-augment", is_flag=True, help="Train on each sequence or its reverse complement (at random).")
def train_viral(**kw) -> None:
    """Viral vs non-viral 300-bp DNA (models: resvg, viraminer, viraminer-staged, kmer-rf, kmer-logreg; variants
    resvg-rc, resvg-kmer, resvg-rc-kmer, resvg-rcaug; splits: fullset, random, experiment)."""
    _run_training("viral", **kw)


# ---------------------------------------------------------------------------------------------- evaluate
@cli.command()
@click.option("--model", "model", required=True, metavar="MODEL", help="DIR/model.pt or a packaged name " + _MODEL_HELP)
@click.option("--data", required=True,
              help="Labelled data of the model's task (path or registry name; plain, gzip, bzip2 or xz). "
                   + _STDIN)  # fmt: skip
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output directory (removed again if the command fails, unless it existed).")  # fmt: skip
@click.option("--labels", type=click.Path(path_type=Path, allow_dash=True), default=None,
              help="Viral task: seq_id<TAB>label file when --data is FASTA. " + _STDIN)  # fmt: skip
def evaluate(model: str, data: str, out: Path, labels: Path | None) -> None:
    """Evaluate a saved model on labelled data at its saved threshold (metrics.json under `test`)."""
    from .pipeline import evaluate_model

    with output_folder(out):
        metrics = evaluate_model(_trained_model(model, None), data, out, labels=labels)
    t = metrics["test"]
    if t["auroc"] is None:
        held = "no positive rows" if t["n_positive"] == 0 else "only positive rows"
        _echo(f"warning: the data hold one class only ({held}): AUROC and AUPRC are undefined (n/a)")
    auroc = "n/a" if t["auroc"] is None else f"{t['auroc']:.4f}"
    _echo(f"{metrics['model']} on {data}: AUROC {auroc}, F1 {t['f1']:.4f}, accuracy {t['accuracy']:.4f}")


# ---------------------------------------------------------------------------------------------- calibrate
@cli.command()
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path), help="DIR/model.pt")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="model.pt to write: a new file (the input model is never changed).")  # fmt: skip
@click.option("--data", default=None, help="The model's training data (default: as recorded in the model).")
@click.option("--split", default=None, help="Its split (default: as recorded).")
@click.option("--holdout", multiple=True, help="Its held-out group(s) (default: as recorded).")
@click.option("--seed", type=int, default=None, help="Its seed (default: as recorded).")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="Viral task: seq_id<TAB>label file when --data is FASTA.")  # fmt: skip
@click.option("--method", type=click.Choice(["temperature", "platt", "isotonic"]), default=None,
              help="Calibration map (default: platt, chosen by measurement; see README).")  # fmt: skip
def calibrate(model_path: Path, out: Path, holdout: tuple[str, ...], **kw) -> None:
    """Add a calibration (and a viral model's contig null) fitted on the validation rows of the model's own split."""
    from .pipeline import calibrate_model

    report = calibrate_model(model_path, out, holdout=list(holdout), **kw)
    before, after = report["test"]["before"], report["test"]["after"]
    _echo(f"calibration ({report['method']}) on test: Brier {before['brier']:.4f} -> {after['brier']:.4f}, "
          f"ECE {before['ece']:.4f} -> {after['ece']:.4f}; wrote {out}")  # fmt: skip


# ---------------------------------------------------------------------------------------------- predict
@cli.group()
def predict() -> None:
    """Score new data with a saved model."""


@predict.command("superenhancer")
@click.option("--model", "model", default=None, metavar="MODEL",
              help=_DEFAULT_HELP.format(task="superenhancer") + _MODEL_HELP)
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path, allow_dash=True),
              help="Feature table (CSV; plain, gzip, bzip2 or xz, recognised by content). " + _STDIN)  # fmt: skip
@click.option("--output", required=True, type=click.Path(path_type=Path, allow_dash=True),
              help="TSV to write. " + _OUTPUT_HELP)  # fmt: skip
def predict_superenhancer(model: str | None, input_path: Path, output: Path) -> None:
    """Score a feature table (Class optional): TSV of chrom, start, end, score (P(SE)), label (SE/TE)."""
    from .pipeline import predict_table

    n = predict_table(_trained_model(model, "superenhancer"), input_path, output)
    _echo(f"wrote {n} predictions to {output}")


@predict.command("viral")
@click.option("--model", "model", default=None, metavar="MODEL",
              help=_DEFAULT_HELP.format(task="viral") + _MODEL_HELP)
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path, allow_dash=True),
              help="FASTA or ViraMiner CSV, plain, gzip, bzip2 or xz (recognised by content); sequences of any"
                   " length. " + _STDIN)  # fmt: skip
@click.option("--output", required=True, type=click.Path(path_type=Path, allow_dash=True),
              help="TSV to write. " + _OUTPUT_HELP)  # fmt: skip
@click.option("--fdr", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Call viral at this false discovery rate (Benjamini-Hochberg q-values over the run). Default: call"
                   " by p-value at the model's operating point.")  # fmt: skip
@click.option("--min-length", default=DEFAULT_MIN_LENGTH, show_default=True, type=click.IntRange(1),
              help="Records shorter than this get no call.")  # fmt: skip
@click.option("--max-n-fraction", default=DEFAULT_MAX_N_FRACTION, show_default=True,
              type=click.FloatRange(0, 1, max_open=True), help="Windows with more N than this are not scored.")
@click.option("--fasta-out", type=click.Path(path_type=Path, allow_dash=True), default=None,
              help="Write the records called viral here, bases unchanged (.gz: compressed); needs --input as a file.")
@click.option("--bedgraph", type=click.Path(path_type=Path, allow_dash=True), default=None,
              help="Write calibrated window probabilities as bedGraph (0-based) for a genome browser.")  # fmt: skip
@click.option("--stride", default=150, show_default=True, type=click.IntRange(1),
              help="Step between the windows of a long sequence.")  # fmt: skip
@click.option("--per-window", is_flag=True, help="One row per window (seq_id, start, end, score) instead of contigs.")
@click.option("--both-strands", is_flag=True, help="Average each window's log-odds with its reverse complement's.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(1, 1 << 16))
@click.option("--shard", default=None, type=_Shard(),
              help="Score records k with k % N == I only (I from 0); join the parts with merge-predictions. The"
                   " part's first line records I/N, the input's size and sha256, the model's sha256 and the"
                   " settings.")  # fmt: skip
@click.option("--skip-invalid", is_flag=True,
              help="Skip records with illegal characters or no sequence; list them in OUTPUT.skipped.tsv (a record of"
                   " only N is not skipped: it gets no-call).")  # fmt: skip
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              callback=_cuda_present)  # fmt: skip
@click.option("--exact-windows", is_flag=True,
              help="Score each window on its own, zero-padded at its edges (the slower path; ResVG otherwise runs "
                   "once per base and windows away from contig ends see their neighbouring bases).")  # fmt: skip
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 where the CPU/GPU has it natively (AVX512-BF16 or AMX); fp32 with a warning elsewhere.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def predict_viral(model: str | None, input_path: Path, output: Path, device: str, quiet: bool, **kw) -> None:
    """Score and call contigs: TSV with p_value, q_value, call (viral / non-viral / no-call) and reason; OUTPUT.json
    records the run."""
    from .predict import predict_viral as run_prediction

    stats = run_prediction(_trained_model(model, "viral"), input_path, output,
                           device=None if device == "auto" else device,
                           progress=not quiet, **kw)  # fmt: skip
    for line in stats["warnings"]:
        _echo(f"warning: {line}")
    skipped = f"; skipped {stats['skipped']} invalid records (see {output}.skipped.tsv)" if kw["skip_invalid"] else ""
    calls = "" if kw["per_window"] else (f", {stats['viral']} viral, {stats['non-viral']} non-viral, "
                                         f"{stats['no-call']} no-call")  # fmt: skip
    _echo(f"wrote {stats['records']} records ({stats['windows']} windows{calls}) to {output}{skipped}")


@cli.command("merge-predictions")
@click.option("--output", required=True, type=click.Path(path_type=Path, allow_dash=True),
              help="TSV to write. " + _OUTPUT_HELP)  # fmt: skip
@click.argument("parts", nargs=-1, required=True, type=click.Path(path_type=Path, allow_dash=True))
def merge_predictions(output: Path, parts: tuple[Path, ...]) -> None:
    """Join the --shard parts of `predict viral` back into input order.

    PARTS must be shards 0 to N-1 of one run, each once, in any order: a missing, repeated or foreign part (another
    input, model or settings) is refused by name and nothing is written. '-' reads one part from standard input.
    """
    from .predict import merge_predictions as merge

    n = merge(list(parts), output)
    _echo(f"wrote {n} rows to {output}")


# ---------------------------------------------------------------------------------------------- workflow
@cli.group(invoke_without_command=True)
@click.option("--print-path", is_flag=True, help="Print the packaged Snakefile's path (for snakemake --snakefile).")
@click.option("--print-config", is_flag=True, help="Print the default config, to copy and edit.")
@click.pass_context
def workflow(ctx: click.Context, print_path: bool, print_config: bool) -> None:
    """Score many FASTA files, or one large one, in shards on this machine or a cluster (Snakemake)."""
    from .workflow import DEFAULT_CONFIG, SNAKEFILE

    if print_path:
        click.echo(str(SNAKEFILE))
    if print_config:
        click.echo(DEFAULT_CONFIG.read_text(encoding="utf-8"), nl=False)
    if ctx.invoked_subcommand is None and not (print_path or print_config):
        click.echo(ctx.get_help())


@workflow.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("snakemake_args", nargs=-1, type=click.UNPROCESSED)
def workflow_run(snakemake_args: tuple[str, ...]) -> None:
    """Run Snakemake on the packaged workflow with SNAKEMAKE_ARGS, e.g. `--configfile run.yaml --cores 8`, or
    `--workflow-profile slurm` on a SLURM cluster (needs snakemake-executor-plugin-slurm)."""
    from .workflow import run as run_snakemake

    code = run_snakemake(snakemake_args)
    if code:
        raise click.exceptions.Exit(code)


# ---------------------------------------------------------------------------------------------- models
@cli.group()
def models() -> None:
    """The trained models that ship with resgenome: list them, read their cards."""


@models.command("list")
def models_list() -> None:
    """Name, task, default, size, sha256, training data and grouped hold-out metrics of each packaged model."""
    from . import pretrained

    click.echo("name\ttask\tdefault\tbytes\tsha256\ttraining data\tvalidation\ttest (held out)")
    for m in pretrained.models():
        click.echo(f"{m.name}\t{m.task}\t{'yes' if m.default else 'no'}\t{m.size}\t{m.sha256}\t{m.data}\t"
                   f"{_headline(m.metrics.get('validation', {}))}\t{_headline(m.metrics.get('test', {}))}")  # fmt: skip


def _headline(metrics: dict) -> str:
    return " ".join(f"{key.upper()} {metrics[key]:.3f}" for key in ("auroc", "auprc") if metrics.get(key) is not None)


@models.command("show")
@click.argument("name")
def models_show(name: str) -> None:
    """Print the model card of packaged model NAME."""
    from . import pretrained

    click.echo(pretrained.get(name).card, nl=False)


# ---------------------------------------------------------------------------------------------- bench
@cli.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="JSON file to write.")
@click.option("--models", multiple=True, metavar="NAMES",
              help="Models to measure, comma-separated or repeated (default: ressen, deepsen, resvg-cpu, resvg-paper,"
                   " viraminer; also viraminer-cpu).")  # fmt: skip
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True, callback=_cuda_present)
@click.option("--quick", is_flag=True, help="Smoke run in seconds: tiny sizes, one repeat; numbers not meaningful.")
@click.option("--predict/--no-predict", default=True, show_default=True, help="Also time `predict viral`.")
@click.option("--predict-mbp", multiple=True, type=_Finite(min=0.001, max=100_000), metavar="MBP",
              help="Input size(s) of the predict run in Mbp, repeatable (default 5; 0.02 with --quick).")  # fmt: skip
def bench(out: Path, models: tuple[str, ...], device: str, quick: bool, predict: bool,
          predict_mbp: tuple[float, ...]) -> None:  # fmt: skip
    """Measure this machine's matmul peak and memory bandwidth, each model's throughput and MFU, and predict speed."""
    from .bench import markdown_table, run_bench

    names = [n.strip() for group in models for n in group.split(",") if n.strip()]
    with output_folder(Path(out).parent):
        result = run_bench(out, models=names or None, device=device, quick=quick, predict=predict,
                           predict_mbp=list(predict_mbp) or None, log=_echo)  # fmt: skip
    click.echo(markdown_table(result))
    _echo(f"wrote {out}")


# ---------------------------------------------------------------------------------------------- reproduce
@cli.command()
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output folder; rerunning with the same folder skips finished runs.")  # fmt: skip
@click.option("--preset", type=click.Choice(["smoke", "cpu", "paper"]), default="cpu", show_default=True,
              help="smoke: < 2 min, tests only; cpu: < 20 min on 2 cores; paper: the paper's widths (GPU).")  # fmt: skip
@click.option("--seeds", type=click.IntRange(1, 100), default=None,
              help="Seeds for every protocol (default: the preset's; cpu: 3 grouped, 1 paper and honest).")  # fmt: skip
@click.option("--task", type=click.Choice(["superenhancer", "viral", "both"]), default="both", show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder holding the datasets (default: $RESGENOME_DATA_DIR, then the download cache).")  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress bars or per-run lines.")
def reproduce(out: Path, preset: str, seeds: int | None, task: str, data_dir: Path | None, quiet: bool) -> None:
    """The paper's comparison redone: every model, identical splits, three protocols; writes OUT/report.html."""
    from .reproduce import reproduce as run_reproduction

    def finished_work(folder: Path, _exc: BaseException) -> bool:  # runs a rerun would reuse are worth keeping
        return any(p.name != "reproduce.json" for p in folder.iterdir())

    with output_folder(out, keep=finished_work):
        summary = run_reproduction(out, preset=preset, seeds=seeds, task=task, data_dir=data_dir,
                                   log=None if quiet else _echo, progress=not quiet)  # fmt: skip
    click.echo(summary["text"])
    for name, sentences in summary["reading"].items():
        click.echo(f"\n{name}:")
        for sentence in sentences:
            click.echo(f"- {sentence}")
    click.echo(f"\nreport: {summary['report']}")


# ---------------------------------------------------------------------------------------------- entry points
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code. Errors in the user's input are one line on stderr, no traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    tune_allocator()
    try:
        with warnings.catch_warnings(), signals_raise():  # warnings: the default display comes back afterwards;
            # signals: SIGTERM / SIGINT unwind through every with-block, which removes temporary files
            warnings.showwarning = _show_warning
            # an explicit Exit (e.g. Snakemake's exit code from `workflow run`) comes back as the return value
            code = cli.main(args=argv, prog_name="resgenome", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:  # click turns a KeyboardInterrupt into Abort
        return _interrupted(exc)
    except click.exceptions.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "resgenome"
        _echo(f"error: {' '.join(exc.format_message().split())} (see '{where} --help')")
        return exc.exit_code
    except click.exceptions.ClickException as exc:
        _echo(f"error: {' '.join(exc.format_message().split())}")
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except ResgenomeError as exc:
        if debug:
            raise
        _echo(f"error: {exc}")
        return exc.exit_code
    except (OutputClosed, BrokenPipeError):  # the reader went away (`| head`): stop quietly, as Unix tools do
        _silence_stdout()
        return 128 + signal.SIGPIPE
    except MemoryError:
        _echo("error: out of memory; try a smaller --batch-size")
        return 1
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        _echo(f"error: {where}{exc.strerror or exc}")
        return 1
    return code if isinstance(code, int) else 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our own warnings are one line on stderr, like our errors; others keep Python's format."""
    if issubclass(category, ModelWarning):
        _echo(f"warning: {message}")
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _interrupted(exc: BaseException) -> int:
    """One line for an interruption (SIGINT, SIGTERM), and the exit code a shell gives a process killed by it."""
    signum = exc.signum if isinstance(exc, Interrupted) else getattr(exc.__cause__, "signum", signal.SIGINT)
    hint = getattr(exc, "hint", "") or getattr(exc.__cause__, "hint", "")
    _echo(f"interrupted by {signal.Signals(signum).name}; {hint or 'temporary files removed, no output written'}")
    return 128 + signum


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's final flush into the closed pipe stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
