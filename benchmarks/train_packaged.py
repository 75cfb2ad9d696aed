"""Train the packaged models, evaluate them on whole held-out groups, and write them with their cards and index.

The one command that makes ``src/resgenome/pretrained/`` (rerun it whenever what a checkpoint carries changes):

    RESGENOME_DATA_DIR=../shared/data OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/train_packaged.py \\
        --work runs/packaged

What it does, in order:

1. Trains every recipe of :data:`RECIPES` on its task's grouped split (:data:`PROTOCOLS`) through the same API as
   ``resgenome train`` (``pipeline.train_model``), into WORK/<name>/; a finished run (model.pt + metrics.json) is
   read back instead of retrained, so an interrupted build resumes and a rerun only repackages. Each recipe is also
   trained once per extra held-out group (WORK/<name>@<group>/) to show how much the score depends on which sample
   type is unseen; those runs are reported, not shipped.
2. Picks each task's default model: the best validation score (the task's selection metric) among its recipes, on
   the same split. Test scores play no part in any choice.
3. Times scoring on this machine (1 Mbp contig for viral models, the development table for super-enhancer models).
4. Writes OUT/<name>/model.pt (the run's checkpoint with portable training metadata), OUT/<name>/MODEL_CARD.md and
   OUT/index.json (task, file size, sha256, data, headline metrics, the defaults).

Every number in a card comes from the run's metrics.json / test_scores.csv or from step 3.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import brier_score_loss

from resgenome import __version__
from resgenome.calibration import Calibration, log_odds_from_proba
from resgenome.calls import ContigNull
from resgenome.data import registry
from resgenome.models.flops import flops_per_sample
from resgenome.metrics import expected_calibration_error
from resgenome.pipeline import RunOptions, train_model
from resgenome.predict import predict_viral
from resgenome.predictor import Predictor
from resgenome.tasks import get_task
from resgenome.trainer import TrainConfig

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "src" / "resgenome" / "pretrained"
SCRIPT = "benchmarks/train_packaged.py"
PREDICT_STRIDE = 150  # `predict viral`'s default stride: windows per Mbp = 1e6 / stride
TIMING_BASES = 1_000_000


@dataclass(frozen=True)
class Protocol:
    """A task's grouped split: the data (a registry name), the split, its seed and the fixed test groups."""

    task: str
    data: str
    split: str
    seed: int
    holdout: tuple[str, ...]
    files: str  # the files behind ``data``, as a reader of the card finds them
    why: str  # why these groups are held out
    extra_holdouts: tuple[str, ...] = ()  # further test groups, each trained once more and reported


@dataclass(frozen=True)
class Recipe:
    """One packaged model: its registry model and the options of ``resgenome train`` that make it."""

    name: str
    task: str
    model: str
    title: str
    preset: str = "cpu"
    epochs: int = 30
    patience: int = 10
    kmer: int = 6
    neural: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    def train_args(self, protocol: Protocol, holdout: tuple[str, ...], out: str) -> list[str]:
        """The `resgenome train` command line that trains this recipe exactly as this script does."""
        args = ["resgenome", "train", self.task, "--data", protocol.data, "--model", self.model,
                "--split", protocol.split, "--seed", str(protocol.seed)]  # fmt: skip
        for group in holdout:
            args += ["--holdout", group]
        if self.neural:
            args += ["--preset", self.preset, "--epochs", str(self.epochs), "--patience", str(self.patience)]
        elif self.task == "viral":
            args += ["--kmer", str(self.kmer)]
        return args + ["--out", out]


PROTOCOLS = {
    "viral": Protocol(
        task="viral", data="viral-experiments", split="experiment", seed=0,
        holdout=("2011_N19_VIRASKINFAPMISEQ",),
        files="`$RESGENOME_DATA_DIR/viral/exp*.csv`: six of ViraMiner's per-experiment files, verbatim "
              "(23,636 sequences of 300 bp, 469 viral)",
        why="Only two experiments hold more than 100 viral sequences (2013_E2_SCC: 312, 2011_N19: 121). The test "
            "experiment is the one of these two that leaves more viral sequences to learn from; validation "
            "experiments are then drawn from the rest with the seed (whole experiments, as for test). The other "
            "large experiment is held out in a second run of the same recipe, reported below and not shipped.",
        extra_holdouts=("2013_E2_SCC",),
    ),
    "superenhancer": Protocol(
        task="superenhancer", data="mesc-khan2019-dev", split="chromosome", seed=0, holdout=(),
        files="`$RESGENOME_DATA_DIR/superenhancers/mesc_khan2019_dev.csv`: the imPROSE table of mouse ESC "
              "constituent enhancers minus some chromosomes (8,878 rows, 551 SE)",
        why="Constituents of one super-enhancer are genomic neighbours and near-copies, so whole chromosomes are "
            "held out: validation and test chromosomes are drawn with the seed until each part has at least 10% "
            "of the rows and both classes (the README's 5-seed table shows the spread over other draws).",
    ),
}  # fmt: skip

RECIPES = (
    Recipe("resvg", "viral", "resvg", "ResVG at the cpu width (W = 32)", preset="cpu", epochs=20, patience=4,
           notes=("The paper's ResVG layers at residual width 32 instead of 1000 (the cpu preset, chosen by "
                  "validation AUROC per FLOP; see the README), Adam lr 1e-3, batch 128, early stopping on "
                  "validation AUROC with patience 4, weights of the best validation epoch.",)),
    Recipe("kmer-logreg", "viral", "kmer-logreg", "logistic regression on 6-mer frequencies", neural=False,
           notes=("scikit-learn logistic regression on the 4,096 6-mer frequencies of each window, each scaled "
                  "by its standard deviation on the training rows; stored as arrays (no pickle).",)),
    Recipe("ressen", "superenhancer", "ressen", "ResSEN at the paper's widths", preset="cpu", epochs=30,
           patience=6,
           notes=("Exactly the paper's ResSEN layers and widths (64; 128/256; 256/512; 17,408 -> 2), per-feature "
                  "min-max + standardisation fitted on the training rows, Adam lr 1e-3, batch 128, early stopping "
                  "on validation AUPRC with patience 6, weights of the best validation epoch.",)),
    Recipe("logreg", "superenhancer", "logreg", "logistic regression on the 36 features", neural=False,
           notes=("scikit-learn logistic regression on the 36 features after the same per-feature scaling as "
                  "ResSEN; stored as arrays (no pickle).",)),
)  # fmt: skip


# ---------------------------------------------------------------------------------------------- 1. training
def run_dir(work: Path, recipe: Recipe, holdout: tuple[str, ...], protocol: Protocol) -> Path:
    """WORK/<name> for the shipped split, WORK/<name>@<group> for an extra held-out group."""
    return work / (recipe.name if holdout == protocol.holdout else f"{recipe.name}@{'+'.join(holdout)}")


def train_recipe(recipe: Recipe, protocol: Protocol, holdout: tuple[str, ...], dataset, out: Path, log) -> dict:
    """Train (or read back) one run; returns its metrics.json as a dict."""
    if (out / "metrics.json").is_file() and (out / "model.pt").is_file():
        return json.loads((out / "metrics.json").read_text())
    cfg = TrainConfig(epochs=recipe.epochs, patience=recipe.patience, seed=protocol.seed, progress=False)
    opts = RunOptions(model=recipe.model, split=protocol.split, seed=protocol.seed, preset=recipe.preset,
                      kmer=recipe.kmer, holdout=list(holdout), train=cfg)  # fmt: skip
    tagged = (lambda line: log(f"[{out.name}] {line}")) if log else None
    train_model(protocol.task, dataset, opts, out, resume=True, log=tagged)
    return json.loads((out / "metrics.json").read_text())


def read_test_scores(run: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of a run's test rows, from its test_scores.csv."""
    with open(run / "test_scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([int(r["label"]) for r in rows]), np.array([float(r["score"]) for r in rows])


# ---------------------------------------------------------------------------------------------- 2. defaults
def pick_defaults(results: dict[str, dict]) -> dict[str, str]:
    """Each task's recipe with the best validation score on the task's selection metric (ties: listed first)."""
    defaults: dict[str, str] = {}
    for recipe in (r for r in RECIPES if r.name in results):
        metric = get_task(recipe.task).selection_metric
        score = results[recipe.name]["validation"][metric]
        best = defaults.get(recipe.task)
        if best is None or score > results[best]["validation"][metric]:
            defaults[recipe.task] = recipe.name
    return defaults


# ---------------------------------------------------------------------------------------------- 3. compute
def measure_compute(recipe: Recipe, predictor: Predictor, table_path: Path | None) -> dict:
    """FLOPs per unit and seconds per unit measured here (with the load average, since the machine is shared)."""
    load, threads = os.getloadavg()[0], torch.get_num_threads()
    flops = flops_per_sample(recipe.model, predictor.config) if recipe.neural else None
    if recipe.task == "viral":
        if flops is None:  # the linear model's dot product over 4**k scaled k-mer frequencies
            flops = 2 * 4 ** int(predictor.preprocessing["kmer"])
        rng = np.random.default_rng(0)
        with tempfile.TemporaryDirectory() as tmp:
            fasta = Path(tmp) / "contig.fa"
            fasta.write_text(">contig\n" + "".join(rng.choice(list("ACGT"), TIMING_BASES)) + "\n")
            started = time.perf_counter()
            predict_viral(predictor, fasta, Path(tmp) / "calls.tsv", progress=False)
            seconds = time.perf_counter() - started
        return {"unit": "Mbp", "windows_per_unit": 1e6 / PREDICT_STRIDE, "flops_per_window": flops,
                "seconds_per_unit": seconds * 1e6 / TIMING_BASES, "load_average": load, "threads": threads}  # fmt: skip
    if flops is None:
        flops = 2 * len(predictor.features)
    task = get_task("superenhancer")
    table = task.load(table_path, require_labels=False)
    started = time.perf_counter()
    predictor.score_dataset(table)
    seconds = time.perf_counter() - started
    return {"unit": "10,000 regions", "windows_per_unit": 10_000, "flops_per_window": flops,
            "seconds_per_unit": seconds * 10_000 / len(table), "load_average": load, "threads": threads}  # fmt: skip


# ---------------------------------------------------------------------------------------------- 4. package
def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_model(recipe: Recipe, protocol: Protocol, run: Path, metrics: dict, dest: Path) -> Path:
    """Copy the run's checkpoint to DEST/<name>/model.pt with training metadata that names no local path."""
    predictor = Predictor.load(run / "model.pt", device="cpu")
    predictor.metadata = {**predictor.metadata, "data": protocol.data, "held_out": metrics["held_out"],
                          "packaged_as": recipe.name}  # fmt: skip
    target = dest / recipe.name / "model.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    predictor.save(target)
    return target


def write_package(args, recipes: list[Recipe], results: dict[str, dict], extras: dict[str, dict[str, dict]]) -> None:
    """Steps 2-4: defaults, timings, then every model.pt, MODEL_CARD.md and index.json under ``args.out``."""
    defaults = pick_defaults(results)
    table = registry.resolve_data_argument(PROTOCOLS["superenhancer"].data)[0]
    index = {"format": 1, "package_version": __version__, "script": SCRIPT, "defaults": defaults, "models": {}}
    for recipe in recipes:
        protocol, metrics = PROTOCOLS[recipe.task], results[recipe.name]
        run = run_dir(args.work, recipe, protocol.holdout, protocol)
        target = package_model(recipe, protocol, run, metrics, args.out)
        predictor = Predictor.load(target, device="cpu")
        facts = {
            "recipe": recipe, "protocol": protocol, "metrics": metrics, "extras": extras.get(recipe.name, {}),
            "defaults": defaults, "results": results, "sha256": sha256(target), "bytes": target.stat().st_size,
            "compute": measure_compute(recipe, predictor, table), "scores": read_test_scores(run),
            "predictor": predictor, **_split_facts(protocol, metrics),
        }  # fmt: skip
        card = target.parent / "MODEL_CARD.md"
        card.write_text(render_card(facts), encoding="utf-8")
        index["models"][recipe.name] = {
            "task": recipe.task, "model": recipe.model, "file": f"{recipe.name}/model.pt",
            "card": f"{recipe.name}/MODEL_CARD.md", "sha256": facts["sha256"], "bytes": facts["bytes"],
            "data": _data_line(protocol, metrics), "selection_metric": get_task(recipe.task).selection_metric,
            "metrics": {"held_out": metrics["held_out"],
                        **{part: {k: metrics[part][k] for k in ("auroc", "auprc", "f1")}
                           for part in ("validation", "test")}},
        }  # fmt: skip
        print(f"wrote {target} ({facts['bytes']} bytes, sha256 {facts['sha256']}) and its card", flush=True)
    (args.out / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    total = sum(m["bytes"] for m in index["models"].values())
    print(f"wrote {args.out / 'index.json'}; defaults {defaults}; {total / 1e6:.2f} MB of models", flush=True)
    print("\n" + readme_table(index), flush=True)


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def readme_table(index: dict) -> str:
    """The README's table of the packaged models (markdown), from the index."""
    lines = ["| name | task | default | test rows held out | validation AUROC / AUPRC | test AUROC / AUPRC / F1 "
             "| size |", "|---|---|---|---|---:|---:|---:|"]  # fmt: skip
    for name, m in index["models"].items():
        v, t = m["metrics"]["validation"], m["metrics"]["test"]
        lines.append(f"| `{name}` | {m['task']} | {'**yes**' if index['defaults'][m['task']] == name else 'no'} | "
                     f"{', '.join(m['metrics']['held_out']['test'])} | {v['auroc']:.3f} / {v['auprc']:.3f} | "
                     f"{t['auroc']:.3f} / {t['auprc']:.3f} / {t['f1']:.3f} | {_size(m['bytes'])} |")  # fmt: skip
    return "\n".join(lines)


def _data_line(protocol: Protocol, metrics: dict) -> str:
    sizes, held = metrics["sizes"], metrics["held_out"]
    return (f"{protocol.data}: train {sizes['train']} rows; validation {sizes['validation']} "
            f"({', '.join(held['validation'])}); test {sizes['test']} ({', '.join(held['test'])})")  # fmt: skip


def _split_facts(protocol: Protocol, metrics: dict) -> dict:
    """Positives in the training rows, and a shell expression giving exactly the test rows (for `evaluate`)."""
    task = get_task(protocol.task)
    dataset = task.load(protocol.data)
    groups, labels = np.asarray(task.groups(dataset)).astype(str), task.labels(dataset)
    held = metrics["held_out"]
    train = ~np.isin(groups, held["validation"] + held["test"])
    facts = {"train_positive": int(labels[train].sum()), "train_rate": float(labels[train].mean())}
    if protocol.task == "viral":
        in_test = np.isin(groups, held["test"])
        files = np.unique(dataset.origin[in_test])
        if len(files) != 1 or not in_test[dataset.origin == files[0]].all():
            raise SystemExit(f"test groups {held['test']} are not exactly one file; extend _split_facts")
        facts["test_file"], facts["test_rows"] = f"$RESGENOME_DATA_DIR/viral/{Path(dataset.files[files[0]]).name}", ""
    else:  # the header and the rows of the test chromosomes, in a file (resgenome refuses pipes: it reads twice)
        condition = " || ".join(f'$1=="{g}"' for g in held["test"])
        facts["test_file"] = "runs/test-chromosomes.csv"
        table = "$RESGENOME_DATA_DIR/superenhancers/mesc_khan2019_dev.csv"
        facts["test_rows"] = f"mkdir -p runs && awk -F, 'NR==1 || {condition}' {table} > {facts['test_file']}\n"
    return facts


# ---------------------------------------------------------------------------------------------- the card
def render_card(f: dict) -> str:
    """The model card: every section the issue asks for, filled from the run and the measurements."""
    recipe, protocol, metrics = f["recipe"], f["protocol"], f["metrics"]
    sections = [_card_header(f), _card_use(f), _card_data(f), _card_metrics(f), _card_calibration(f),
                _card_failures(f), _card_compute(f), _card_reproduce(f), _card_licence(f)]  # fmt: skip
    return "\n\n".join(s.strip("\n") for s in sections) + "\n"


def _m(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _card_header(f: dict) -> str:
    recipe, metrics, defaults = f["recipe"], f["metrics"], f["defaults"]
    metric = get_task(recipe.task).selection_metric
    rivals = [r for r in RECIPES if r.task == recipe.task and r.name in f["results"]]
    scores = ", ".join(f"{r.name} {_m(f['results'][r.name]['validation'][metric])}" for r in rivals)
    is_default = defaults[recipe.task] == recipe.name
    if is_default:
        default = f"**yes**: the best validation {metric.upper()} of the packaged {recipe.task} models ({scores})"
    else:
        default = f"no: {defaults[recipe.task]} is (validation {metric.upper()}: {scores})"
    command = {"viral": "predict viral --input contigs.fa.gz",
               "superenhancer": "predict superenhancer --input table.csv"}[recipe.task]  # fmt: skip
    use = f"`resgenome {command} --model {recipe.name} ...`; from Python `resgenome.load(\"{recipe.name}\")`"
    return f"""# Model card: `{recipe.name}` — {recipe.title}

| | |
|---|---|
| task | {recipe.task} ({use}) |
| default model of its task | {default} |
| model | `{recipe.model}` {json.dumps(f["predictor"].config, sort_keys=True) if recipe.neural else ""} |
| file | `model.pt`, {f["bytes"]:,} bytes, sha256 `{f["sha256"]}` |
| made by | `{SCRIPT}` with resgenome {__version__} |
| decision threshold | {metrics["threshold"]:.4f} (maximises F1 on the validation groups) |

{" ".join(recipe.notes)}"""


def _card_use(f: dict) -> str:
    if f["recipe"].task == "viral":
        return """## Intended use

Ranking and flagging **viral DNA in assembled contigs or reads from human metagenomic samples** like those of the
ViraMiner study (its 19 experiments include skin, serum and condyloma samples; the training rows come from the
experiments named below): `resgenome predict viral`
cuts each sequence into 300-bp windows (stride 150) and gives the contig the highest window score. Use the score to
rank contigs for follow-up (BLAST, CheckV, inspection), and the label only after reading *Known failure modes*.
Not for: deciding that a single contig is viral with no other evidence; samples of other hosts or environments
without checking on labelled data of your own (`resgenome evaluate`, or retrain: `resgenome train viral`)."""
    return """## Intended use

Ranking **constituent enhancers of mouse embryonic stem cells** by how likely they belong to a super-enhancer, from
the 36 imPROSE features (ChIP-seq of histone marks, cofactors and transcription factors, DNaseI, sequence
signatures) computed the way imPROSE computed them (`resgenome predict superenhancer --input table.csv`).
Not for: other cell types or species, features computed by another pipeline or normalisation, or regions that are
not enhancers, without checking on labelled data of your own first (`resgenome evaluate`, or retrain:
`resgenome train superenhancer`)."""


def _card_data(f: dict) -> str:
    protocol, metrics = f["protocol"], f["metrics"]
    sizes, held = metrics["sizes"], metrics["held_out"]
    positives = {part: metrics[part]["n_positive"] for part in ("validation", "test")}
    unit = "experiment" if protocol.task == "viral" else "chromosome"
    groups = ", ".join(held["validation"])
    dup = metrics.get("duplicates_in_train", {}).get("test")
    dup_line = (f" Sequences of the test experiment also found in training: {dup['exact']} exact, "
                f"{dup['reverse_complement']} as reverse complement." if dup else "")  # fmt: skip
    return f"""## Training data and split

Registry dataset `{protocol.data}`: {protocol.files}. Split `--split {protocol.split} --seed {protocol.seed}`
(whole {unit}s; no {unit} is in two parts):

| part | rows | positive | {unit}s |
|---|---:|---:|---|
| train | {sizes["train"]:,} | {f["train_positive"]} | all others |
| validation (early stopping, threshold, default model) | {sizes["validation"]:,} | {positives["validation"]} | {groups} |
| test (reported once, used for nothing else) | {sizes["test"]:,} | {positives["test"]} | {", ".join(held["test"])} |

{protocol.why}{dup_line}"""


def _card_metrics(f: dict) -> str:
    metrics, recipe = f["metrics"], f["recipe"]
    rows = []
    for label, m in (("validation", metrics["validation"]), ("**test (held out)**", metrics["test"])):
        rows.append(f"| {label} | {m['n']:,} ({m['n_positive']}) | {_m(m['auroc'])} | {_m(m['auprc'])} | "
                    f"{_m(m['precision'])} | {_m(m['recall'])} | {_m(m['f1'])} |")  # fmt: skip
    extra = ""
    if f["extras"]:
        lines = [f"| {group} | {e['sizes']['train']:,} | {e['test']['n']:,} ({e['test']['n_positive']}) | "
                 f"{_m(e['test']['auroc'])} | {_m(e['test']['auprc'])} | {_m(e['test']['f1'])} |"
                 for group, e in f["extras"].items()]  # fmt: skip
        extra = ("\n\nThe same recipe with another experiment held out as test (trained again, not shipped; "
                 "validation experiments drawn with the same seed from the rest):\n\n"
                 "| held-out experiment | train rows | test rows (viral) | AUROC | AUPRC | F1 |\n"
                 "|---|---:|---:|---:|---:|---:|\n" + "\n".join(lines))  # fmt: skip
    epochs = (f" Training ran {metrics['epochs_run']} epochs; the weights are those of epoch {metrics['best_epoch']}, "
              f"the best on validation." if recipe.neural else "")  # fmt: skip
    return f"""## Grouped hold-out metrics

Precision, recall and F1 at the threshold above; AUROC / AUPRC threshold-free. The test rows come from
{", ".join(metrics["held_out"]["test"])}, which neither training nor any choice saw.{epochs}

| rows | n (positive) | AUROC | AUPRC | precision | recall | F1 |
|---|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}{extra}"""


def _card_calibration(f: dict) -> str:
    y, p = f["scores"]
    threshold = f["metrics"]["threshold"]
    carried = f["predictor"].calibration
    if carried is None:
        return f"""## Calibration

None: the score is the model's own probability, not fitted to observed frequencies. On the test rows the mean
score is {p.mean():.4f} against a positive rate of {y.mean():.4f}; Brier score {brier_score_loss(y, p):.4f}. Add a
calibration with `resgenome calibrate` (viral contigs get no call without one)."""
    window = Calibration.from_state(carried["window"])
    calibrated = window.proba(log_odds_from_proba(p))  # test_scores.csv holds the model's own probabilities
    before, after = expected_calibration_error(y, p), expected_calibration_error(y, calibrated)
    verdict = ("better calibrated" if after < before else
               "worse calibrated than the model's own scores: the test groups are unlike the validation groups")
    method = {"platt": "Platt", "temperature": "temperature", "isotonic": "isotonic"}.get(window.method, window.method)
    text = f"""## Calibration

Window scores are calibrated by {method} scaling stored in model.pt, fitted on the validation groups ({window.n_fit:,}
rows, {window.n_positive} positive). On the test rows: mean calibrated probability {calibrated.mean():.4f} against a
positive rate of {y.mean():.4f}; Brier score {brier_score_loss(y, p):.4f} before, {brier_score_loss(y, calibrated):.4f}
after; expected calibration error {before:.4f} before, {after:.4f} after ({verdict})."""
    if f["recipe"].task == "viral":
        null = ContigNull.from_state(carried["contig_null"])
        fpr = float(np.mean(p[y == 0] >= threshold))
        text += f"""

**Contig calls.** A window looks viral at the threshold above; {null.rate:.4f} of the non-viral validation windows
do ({fpr:.4f} of the non-viral test windows). A contig is called viral by how many of its windows look viral,
tested against that null with overlap and genome-to-genome variation taken into account, so a long non-viral
contig is not called viral more often than a short one (the README's "Reading the calls" measures it)."""
    return text


def _card_failures(f: dict) -> str:
    if f["recipe"].task == "superenhancer":
        return f"""## Known failure modes

- **Other cell types and species**: trained on mouse ESC only; SE constituents there carry high signal in almost
  every mark. The relation may differ elsewhere, and nothing here measured it.
- **Features from another pipeline**: the scaling statistics are fitted on imPROSE's values; features computed
  with other read depths, peak callers or normalisation shift the scores without warning.
- **Chromosome-to-chromosome spread is large**: over five held-out chromosome draws (the README's super-enhancer
  table) test AUPRC of ResSEN and logistic regression had a standard deviation of 0.05-0.07; this card's split is
  one draw.
- **Rare class**: {100 * f["train_rate"]:.1f}% of the training rows are SE; precision depends on that prevalence and
  falls where SE are rarer."""
    extra = "; ".join(f"held-out {g}: AUROC {_m(e['test']['auroc'])}" for g, e in f["extras"].items())
    spread = f" ({extra} against {_m(f['metrics']['test']['auroc'])} on this card's test experiment)" if extra else ""
    return f"""## Known failure modes

- **Unseen sample types**: scores transfer poorly to a sequencing experiment the model never saw{spread}. The
  pooled 80/10/10 split of the same data gives far higher numbers (README); those are not what to expect on a
  new sample.
- **Short sequences**: every training sequence was exactly 300 bp. Shorter input is padded with N and flagged
  `padded = 1`; such scores were never validated.
- **Long contigs**: see *Calibration*: the best of many windows is high by chance.
- **Eukaryotic viruses vs phages**: the positives are viral sequences found in human clinical samples by the
  ViraMiner study; how the model scores bacteriophages (most of a gut or environmental virome) or viruses of other
  hosts was not measured. Do not use it to find phages without labelled data of your own.
- **Rare class**: {100 * f["train_rate"]:.1f}% of the training sequences are viral; precision at the threshold
  depends on how common viral sequences are in your sample."""


def _card_compute(f: dict) -> str:
    c, recipe = f["compute"], f["recipe"]
    per_unit = c["flops_per_window"] * c["windows_per_unit"]
    what = "window" if recipe.task == "viral" else "region"
    how = ("`predict viral` at the default stride (150) on a random 1-Mbp contig, batch 256"
           if recipe.task == "viral" else "scoring the 8,878 rows of the development table")  # fmt: skip
    counted = ("(convolutions and linear layers, `resgenome.models.flops`)" if recipe.neural
               else "(the dot product over the scaled k-mer frequencies; counting k-mers is extra)"
               if recipe.task == "viral" else "(the dot product over the scaled features)")  # fmt: skip
    return f"""## Compute

{c["flops_per_window"]:,.0f} FLOP per {what} forward {counted}: {_flop(per_unit)} per {c["unit"]}.
Measured on a shared 2-core CPU with {c["threads"]} PyTorch thread(s) (load average {c["load_average"]:.1f} at the time,
so an upper bound, not a target): {c["seconds_per_unit"]:.2f} s per {c["unit"]}, {how}. Any CPU runs it; a GPU is used when present."""


def _flop(n: float) -> str:
    for unit, scale in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} FLOP"


def _card_reproduce(f: dict) -> str:
    recipe, protocol, metrics = f["recipe"], f["protocol"], f["metrics"]
    train = shlex.join(recipe.train_args(protocol, tuple(protocol.holdout), f"runs/{recipe.name}"))
    evaluate = (f"resgenome evaluate --model resgenome:{recipe.name} --data {f['test_file']} "
                f"--out runs/{recipe.name}-test")  # fmt: skip
    extra = "".join(f"\n{shlex.join(recipe.train_args(protocol, (g,), f'runs/{recipe.name}@{g}'))}"
                    for g in f["extras"])  # fmt: skip
    return f"""## Reproduce

The test row of the table above, from this file (`metrics.json` under `test`; bash, with the development data in
`$RESGENOME_DATA_DIR`):

```sh
{f["test_rows"]}{evaluate}
```

This model again from scratch, and every packaged model with its card (same seed and split; a neural model's
numbers can differ in the last digits with another thread count or CPU, a classical model's do not):

```sh
{train}{extra}
RESGENOME_DATA_DIR=../shared/data OMP_NUM_THREADS=2 .venv/bin/python {SCRIPT} --work runs/packaged
```"""


def _card_licence(f: dict) -> str:
    if f["recipe"].task == "viral":
        data = ("Tampuu, Bzhalava, Dillner & Vicente, *ViraMiner: Deep learning on raw DNA sequences for identifying "
                "viral genomes in human samples*, PLoS ONE 14(9) (2019); data from "
                "https://github.com/NeuroCSUT/ViraMiner (`data/DNA_data`). That repository states no licence: the "
                "weights here are derived from its data, so cite the paper and check its authors' terms before "
                "redistributing them outside resgenome.")  # fmt: skip
    else:
        data = ("Khan & Zhang, *Integrative modeling reveals key chromatin and sequence signatures predicting "
                "super-enhancers*, Scientific Reports 9: 2877 (2019); data from imPROSE, "
                "https://github.com/asntech/improse (`improse/data/original_data.csv`, BSD licence).")  # fmt: skip
    return f"""## Licence and citation

- Code: resgenome's licence (MIT). The weights are shipped under it as far as resgenome's own rights go; they are
  derived from the training data below, whose terms apply too.
- Training data: {data}
- Model architecture: Sabba, Smara, Benhacine, Terra & Terra, *Residual Neural Network in Genomics* (2022)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/packaged"), help="Training runs (resumable).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Package folder to write.")
    parser.add_argument("--models", nargs="+", default=[r.name for r in RECIPES],
                        help="Train only these recipes (e.g. one task per process); the package then holds only them,"
                             " so the shipped one is written with all of them.")  # fmt: skip
    parser.add_argument("--no-extra", action="store_true",
                        help="Do not train the extra held-out-group runs (finished ones are still reported).")
    parser.add_argument("--train-only", action="store_true", help="Stop after training (no package written).")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    log = None if args.quiet else (lambda line: print(line, flush=True))
    recipes = [r for r in RECIPES if r.name in args.models]
    unknown = set(args.models) - {r.name for r in RECIPES}
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(sorted(unknown))}; known: {', '.join(r.name for r in RECIPES)}")
    results: dict[str, dict] = {}
    extras: dict[str, dict[str, dict]] = {}
    for task in dict.fromkeys(r.task for r in recipes):
        protocol = PROTOCOLS[task]
        dataset = get_task(task).load(protocol.data)
        for recipe in (r for r in recipes if r.task == task):
            out = run_dir(args.work, recipe, protocol.holdout, protocol)
            results[recipe.name] = train_recipe(recipe, protocol, protocol.holdout, dataset, out, log)
            t = results[recipe.name]["test"]
            if log:
                log(f"{recipe.name}: test AUROC {t['auroc']:.4f} AUPRC {t['auprc']:.4f} (held out "
                    f"{', '.join(results[recipe.name]['held_out']['test'])})")  # fmt: skip
            for group in protocol.extra_holdouts:
                out = run_dir(args.work, recipe, (group,), protocol)
                if args.no_extra and not (out / "metrics.json").is_file():
                    continue  # not trained, and not to be: the card leaves it out
                extras.setdefault(recipe.name, {})[group] = train_recipe(recipe, protocol, (group,), dataset, out, log)
    if args.train_only:
        return 0
    write_package(args, recipes, results, extras)
    return 0


if __name__ == "__main__":
    sys.exit(main())
