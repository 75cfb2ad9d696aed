"""The report of ``resgenome reproduce``: one self-contained HTML file (inline CSS, figures as base64 PNG).

Everything shown is computed from the runs on disk; the published numbers are kept in their own section, each with
its source, so nobody mistakes them for measurements.
"""

from __future__ import annotations

import base64
import io
import math
import os
from html import escape
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..comparison import result_row
from ..io import atomic_open
from . import figures

#: section id -> title, in page order (ids are stable: tests and links rely on them)
SECTIONS = {
    "reading": "Honest reading",
    "setup": "Setup",
    "summary": "Summary",
    "roc-pr": "ROC and PR curves",
    "training-curves": "Training curves",
    "confusion": "Confusion matrices",
    "calibration": "Calibration",
    "overfitting": "Overfitting",
    "published": "Published figures",
    "runs": "Every run",
}

#: Numbers reported in the literature. Not measured here; shown with their sources only.
PUBLISHED = (
    {"task": "superenhancer", "model": "deepsen", "what": "DeepSEN re-run by Sabba et al. on a 90/10 split: accuracy",
     "value": "93.64%", "metric": "accuracy", "protocol": "paper",
     "source": "Sabba, Smara, Benhacine, Terra & Terra, \"Residual Neural Network in Genomics\" (2022), Results"},
    {"task": "superenhancer", "model": "deepsen", "what": "DeepSEN re-run by Sabba et al. on a 90/10 split: precision",
     "value": "90%", "metric": "precision", "protocol": "paper",
     "source": "Sabba et al. (2022), Results"},
    {"task": "viral", "model": "viraminer", "what": "ViraMiner test AUROC on the full data (264,049 sequences)",
     "value": "0.923", "metric": "auroc", "protocol": "paper",
     "source": "Tampuu et al., \"ViraMiner: Deep learning on raw DNA sequences for identifying viral genomes in "
               "human samples\", PLoS ONE 14(9) (2019)"},
    {"task": "viral", "model": "kmer-rf", "what": "Random forest on 6-mer counts, test AUROC on the full data",
     "value": "0.879", "metric": "auroc", "protocol": "paper", "source": "Tampuu et al., PLoS ONE 14(9) (2019)"},
)  # fmt: skip
PUBLISHED_CLAIMS = (
    ("ResSEN outperforms DeepSEN and shows no overfitting; DeepSEN overfits (accuracy and loss curves).",
     "Sabba et al. (2022), Figs. 5, 7, 8 (figures not preserved in our copy)"),
    ("ViraMiner has the better AUROC; ResVG the better precision and much less overfitting.",
     "Sabba et al. (2022), Figs. 6, 9, 10"),
    ("DeepSEN's published 98% accuracy was measured on all samples, 80% of which it had trained on.",
     "Sabba et al. (2022), Results"),
)  # fmt: skip

_PUBLISHED_CLASS = ' class="published"'
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232b;background:#f6f7f9;
line-height:1.45}
header{background:#1f3b57;color:#fff;padding:18px 32px 12px}
header h1{margin:0 0 4px;font-size:1.55em}
header p{margin:2px 0;opacity:.92;font-size:.93em}
nav{background:#e5eaf0;padding:8px 32px;font-size:.9em;position:sticky;top:0;z-index:2;border-bottom:1px solid #cdd5df}
nav a{margin-right:16px;color:#1f3b57;text-decoration:none;font-weight:600}
main{padding:8px 32px 40px;max-width:1250px}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:8px 22px 16px;margin:16px 0;
overflow-x:auto}
h2{color:#1f3b57;border-bottom:2px solid #e5eaf0;padding-bottom:4px}
h3{margin:18px 0 6px}
table{border-collapse:collapse;font-size:.86em;margin:6px 0 12px}
th,td{border:1px solid #d6dce3;padding:3px 8px;text-align:right;vertical-align:top;white-space:nowrap}
td.l,th.l{white-space:normal}
td span.w{white-space:normal;display:inline-block;max-width:330px}
th{background:#eef2f6;text-align:center}
td.l,th.l{text-align:left}
tr.residual td{background:#f1f8ee}
.badge{display:inline-block;font-size:.75em;padding:1px 6px;border-radius:8px;background:#fde2c8;color:#8a4200;
margin-left:4px}
.good{color:#1d6b2c;font-weight:600}.bad{color:#a12020;font-weight:600}
.reading li{margin:4px 0}
.published{background:#fff8e6;border:2px dashed #d9a520}
.published h2{color:#8a5a00}
.note{color:#55606d;font-size:.88em}
img{max-width:100%;border:1px solid #e5eaf0;margin:4px 0}
details summary{cursor:pointer;font-weight:600;margin:6px 0}
code{background:#eef2f6;padding:0 3px;border-radius:3px}
"""


# ---------------------------------------------------------------------------------------------------------- helpers
def _png(fig) -> str:
    """An <img> holding ``fig`` as a base64 PNG data URI; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)  # figures are laid out tight by their makers
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="figure">'


def _f(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def _ms(row: dict, key: str) -> str:
    mean, sd = row[f"{key}_mean"], row[f"{key}_sd"]
    return _f(mean) + ("" if sd is None or math.isnan(sd) else f" ± {sd:.3f}")


def _table(header: list[str], rows: list[list[str]], left: int = 1, classes: list[str] | None = None) -> str:
    """Cells are already escaped HTML; the first ``left`` columns are left-aligned."""
    head = "".join(f'<th class="l">{h}</th>' if i < left else f"<th>{h}</th>" for i, h in enumerate(header))
    head = f"<thead><tr>{head}</tr></thead>" if any(header) else ""  # key-value tables have no header row
    body = []
    for k, row in enumerate(rows):
        cls = f' class="{classes[k]}"' if classes and classes[k] else ""
        cells = "".join(f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


def _positives(minimum) -> str:
    if minimum == "all":
        return "every positive kept"
    return "stratified" if not minimum else f"stratified, at least {minimum} positives"


def _first_seed(runs, task, protocol):
    chosen = [r for r in runs if r.task == task and r.protocol == protocol]
    if not chosen:
        return []
    seed = min(r.seed for r in chosen)
    return [r for r in chosen if r.seed == seed]


# ---------------------------------------------------------------------------------------------------------- sections
def _reading(setup: dict, reading: dict) -> str:
    parts = []
    if setup["preset"] == "smoke":
        parts.append('<p class="bad">Smoke preset: tiny models on a few hundred rows. These numbers test the '
                     "machinery, not the models.</p>")  # fmt: skip
    parts.append("<p class=\"note\">Generated from the tables below. The conclusions rest on the <b>grouped</b> "
                 "protocol (whole chromosomes / experiments held out, so neighbouring, near-duplicate rows cannot "
                 "straddle train and test). A baseline counts as beaten only when the whole 95% paired bootstrap "
                 "interval of the AUROC difference lies above zero.</p>")  # fmt: skip
    for task, sentences in reading.items():
        if not sentences:
            continue
        items = "".join(f"<li>{escape(s)}</li>" for s in sentences[1:])
        parts.append(f"<h3>{escape(task)}</h3><p><b>{escape(sentences[0])}</b></p><ul class=\"reading\">{items}</ul>")
    return "".join(parts)


def _setup(setup: dict) -> str:
    hw = setup["hardware"]
    load = setup.get("load_average_start"), setup.get("load_average_end")
    load_text = " / ".join("-" if v is None else ", ".join(f"{x:.2f}" for x in v) for v in load)
    seeds = ", ".join(f"{p}: {n}" for p, n in setup["seeds"].items())
    parts = [
        "<h3>Run</h3>",
        _table(["", ""], [
            ["command", f"<code>{escape(setup['command'])}</code>"],
            ["preset", f"<code>{escape(setup['preset'])}</code>: {escape(setup['preset_why'])}"],
            ["seeds per protocol", escape(seeds)],
            ["time taken", f"{setup['wall_seconds']:.0f} s wall for this invocation ({setup['trained']} runs trained,"
                           f" {setup['reused']} reused from earlier); {setup['train_seconds_total']:.0f} s of training"
                           " summed over all runs"],
            ["finished", escape(setup["finished"])],
            ["bootstrap", escape(setup["bootstrap"])],
        ], left=2),
        "<h3>Hardware</h3>",
        _table(["", ""], [
            ["CPU", escape(str(hw["cpu"]))],
            ["cores / torch threads", f"{hw['cores']} / {hw['torch_threads']}"],
            ["device", escape(hw.get("gpu") or hw["device"])],
            ["torch / Python / resgenome", escape(f"{hw['torch']} / {hw['python']} / {hw['resgenome']}")],
            ["platform", escape(hw["platform"])],
            ["load average at start / end (1, 5, 15 min)", escape(load_text)
             + ' <span class="note">(a load above the core count means other work shared the CPU: times are'
               " inflated)</span>"],
        ], left=2),
    ]  # fmt: skip
    for task, info in setup["tasks"].items():
        files = "<br>".join(f"<code>{escape(f['path'])}</code> ({f['bytes'] / 1e6:.1f} MB)" for f in info["files"])
        parts.append(f"<h3>{escape(task)}</h3>")
        parts.append(_table(["", ""], [
            ["data", f"<code>{escape(info['data'])}</code>: {info['rows']:,} rows, {info['positive']:,} "
                     f"{escape(info['positive_label'])} ({100 * info['positive'] / max(info['rows'], 1):.1f}%)"],
            ["files", files],
            ["training", f"Adam, cross-entropy, batch {info['batch_size']}, early stopping patience "
                         f"{info['patience']}; model widths: <code>{escape(info['widths'])}</code> preset"],
            ["rows per split part", escape(", ".join(f"{k} at most {v['rows']:,} (" + _positives(v['min_positive'])
                                                      + ")" for k, v in info["caps"].items())) or "all rows"],
        ], left=2))  # fmt: skip
        rows = []
        for s in info["splits"]:
            held = "; ".join(f"{k}: {', '.join(v)}" for k, v in s["held_out"].items())
            badge = '<span class="badge">optimistic</span>' if s["optimistic"] else ""
            rows.append([f"{escape(s['protocol'])}{badge}", f"<code>{escape(s['split'])}</code>", escape(s["text"])]
                        + [f"{s[p]['n']:,} ({s[p]['positive']:,}; {100 * s[p]['positive'] / max(s[p]['n'], 1):.1f}%)"
                           for p in ("train", "validation", "test")]
                        + [f'<span class="w">{escape(held) or "-"}</span>'])  # fmt: skip
        parts.append("<p class=\"note\">Split sizes of seed 0: rows (positives; share positive). Other seeds draw "
                     "other rows, or other held-out groups, so grouped parts differ in size between seeds.</p>")
        parts.append(_table(["protocol", "split", "what", "train", "validation", "test", "held-out groups"], rows,
                            left=3))  # fmt: skip
        model_rows = [[escape(m["model"]), escape(m["kind"]),
                       escape(", ".join(f"{k}={v}" for k, v in m["config"].items()) or "defaults"),
                       f"{m['parameters']:,}" if "parameters" in m else "-",
                       str(m.get("epochs") or "-")] for m in info["models"]]  # fmt: skip
        parts.append(_table(["model", "kind", "settings", "parameters", "max epochs"], model_rows, left=3))
    return "".join(parts)


def _summary(setup: dict, summary: list[dict]) -> str:
    parts = ["<p class=\"note\">Test-set metrics, mean ± sd over seeds (sd blank for one seed). Threshold-dependent "
             "metrics (F1, precision, recall, accuracy) use the threshold that maximised F1 on validation. "
             "Δ AUROC = AUROC(residual model) − AUROC(this model), paired on the same test rows; "
             '<span class="good">green</span>: the residual model is better (interval above 0), '
             '<span class="bad">red</span>: worse (interval below 0).</p>']  # fmt: skip
    for task in setup["tasks"]:
        rows, classes = [], []
        for r in (r for r in summary if r["task"] == task):
            badge = '<span class="badge">optimistic</span>' if r["optimistic"] else ""
            diff = "-"
            if not math.isnan(r["auroc_diff"]):
                cls = "good" if r["auroc_diff_low"] > 0 else "bad" if r["auroc_diff_high"] < 0 else ""
                diff = (f'<span class="{cls}">{r["auroc_diff"]:+.3f} [{r["auroc_diff_low"]:+.3f}, '
                        f'{r["auroc_diff_high"]:+.3f}]</span>')  # fmt: skip
            rows.append([f"{escape(r['protocol'])}{badge}", escape(r["model"]), str(r["n_seeds"])]
                        + [_ms(r, k) for k in ("auroc", "auprc", "f1", "precision", "recall", "accuracy")]
                        + [diff, _f(r["overfit_gap_mean"]), _f(r["train_seconds_mean"], 1)])  # fmt: skip
            classes.append("residual" if r["kind"] == "residual" else "")
        parts.append(f"<h3>{escape(task)}</h3>")
        parts.append(_table(["protocol", "model", "seeds", "AUROC", "AUPRC", "F1", "precision", "recall",
                             "accuracy", "Δ AUROC residual − model [95% CI]", "overfit gap", "train s"], rows,
                            left=2, classes=classes))  # fmt: skip
        values = {}
        for r in (r for r in summary if r["task"] == task):
            values.setdefault(r["protocol"], {})[r["model"]] = (r["auroc_mean"], r["auroc_sd"])
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        figures.plot_by_protocol(values, axes[0], "test AUROC", f"{task}: test AUROC by protocol")
        values = {}
        for r in (r for r in summary if r["task"] == task):
            values.setdefault(r["protocol"], {})[r["model"]] = (r["auprc_mean"], r["auprc_sd"])
        figures.plot_by_protocol(values, axes[1], "test AUPRC", f"{task}: test AUPRC by protocol")
        fig.tight_layout()
        parts.append(_png(fig))
    return "".join(parts)


def _curves(setup: dict, runs) -> str:
    parts = ["<p class=\"note\">Grouped protocol, first seed, test set: every model on the same test rows.</p>"]
    for task in setup["tasks"]:
        chosen = _first_seed(runs, task, "grouped")
        if not chosen:
            continue
        curves = {r.model: (r.y, r.scores) for r in chosen}
        parts.append(f"<h3>{escape(task)}</h3>")
        parts.append(_png(figures.curves_figure(curves, f"{task}, grouped, seed {chosen[0].seed}:")))
    return "".join(parts)


def _training(setup: dict, runs) -> str:
    parts = ["<p class=\"note\">Train (solid) vs validation (dashed) cross-entropy and accuracy per epoch, the "
             "paper's evidence on overfitting (its Figs. 7-10); first seed, under the paper's protocol (where, for "
             "super-enhancers, validation = test) and the grouped one. Accuracy at threshold 0.5.</p>"]  # fmt: skip
    for task in setup["tasks"]:
        neural = [m["model"] for m in setup["tasks"][task]["models"] if "parameters" in m]
        for model in neural:
            histories = {f"{p} protocol": r.history for p in ("paper", "grouped") for r in _first_seed(runs, task, p)
                         if r.model == model and r.history}  # fmt: skip
            if not histories:
                continue
            fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
            figures.plot_histories(histories, "loss", axes[0], f"{task}: {model} loss")
            figures.plot_histories(histories, "acc", axes[1], f"{task}: {model} accuracy")
            fig.tight_layout()
            parts.append(f"<h3>{escape(task)}: {escape(model)}</h3>{_png(fig)}")
    return "".join(parts)


def _confusion(setup: dict, runs) -> str:
    parts = ["<p class=\"note\">Grouped protocol, first seed, test set, at the threshold chosen on validation.</p>"]
    for task, info in setup["tasks"].items():
        chosen = _first_seed(runs, task, "grouped")
        if not chosen:
            continue
        neg = "TE" if task == "superenhancer" else "non-viral"
        pos = "SE" if task == "superenhancer" else "viral"
        fig, axes = plt.subplots(1, len(chosen), figsize=(3.3 * len(chosen), 3.1), squeeze=False)
        for ax, r in zip(axes[0], chosen):
            figures.plot_confusion(r.metrics["test"]["confusion"], ax,
                                   f"{r.model} (t={r.metrics['threshold']:.2f})", labels=(neg, pos))  # fmt: skip
        fig.tight_layout()
        parts.append(f"<h3>{escape(task)}</h3>{_png(fig)}")
    return "".join(parts)


def _calibration(setup: dict, runs) -> str:
    parts = ["<p class=\"note\">Grouped protocol, first seed, test set: Brier score and expected calibration error "
             "(ECE, 15 equal-width bins) of each model's own probabilities and after the calibration fitted on the "
             "validation set (Platt scaling), and the reliability of the calibrated probabilities.</p>"]  # fmt: skip
    for task in setup["tasks"]:
        chosen = [r for r in _first_seed(runs, task, "grouped") if "calibration" in r.metrics]
        if not chosen:
            continue
        rows = []
        for r in chosen:
            test = r.metrics["calibration"]["test"]
            rows.append([escape(r.model), _f(test["before"]["brier"], 4), _f(test["after"]["brier"], 4),
                         _f(test["before"]["ece"], 4), _f(test["after"]["ece"], 4)])  # fmt: skip
        fig, ax = plt.subplots(figsize=(5, 4))
        figures.plot_reliability({r.model: r.metrics["calibration"]["test"]["reliability"]["after"] for r in chosen},
                                 ax, f"{task}: calibrated, test")  # fmt: skip
        fig.tight_layout()
        parts.append(f"<h3>{escape(task)}</h3>")
        parts.append(_table(["model", "Brier before", "Brier after", "ECE before", "ECE after"], rows))
        parts.append(_png(fig))
    return "".join(parts)


def _overfitting(setup: dict, summary: list[dict]) -> str:
    parts = ["<p class=\"note\">Overfitting gap = final-epoch validation loss − training loss (mean over seeds; "
             "neural models only, since the classical models have no training curve). A growing positive gap is the "
             "paper's evidence of overfitting. Best epoch = the epoch kept by early stopping.</p>"]  # fmt: skip
    for task in setup["tasks"]:
        rows = [r for r in summary if r["task"] == task and not math.isnan(r["overfit_gap_mean"])]
        if not rows:
            continue
        gaps = {}
        for r in rows:
            gaps.setdefault(r["protocol"], {})[r["model"]] = r["overfit_gap_mean"]
        table = [[escape(r["protocol"]), escape(r["model"]), _ms(r, "overfit_gap")] for r in rows]
        fig, ax = plt.subplots(figsize=(6.5, 3.3))
        figures.plot_gaps(gaps, ax, f"{task}: final val loss − train loss")
        fig.tight_layout()
        parts.append(f"<h3>{escape(task)}</h3>")
        parts.append(_table(["protocol", "model", "gap (mean ± sd)"], table, left=2))
        parts.append(_png(fig))
    return "".join(parts)


def _published(setup: dict, results: list[dict]) -> str:
    tasks = set(setup["tasks"])
    rows = [[escape(p["what"]), f"<b>{escape(p['value'])}</b>", escape(p["source"])] for p in PUBLISHED
            if p["task"] in tasks]  # fmt: skip
    claims = [[escape(c), escape(s)] for c, s in PUBLISHED_CLAIMS]
    parts = ["<p><b>Not measured here.</b> Numbers and claims as published, with their sources, on the authors' data "
             "(the 11,100-row DeepSEN table; the full 264,049-sequence ViraMiner set), not on the data of this "
             "run.</p>",
             _table(["published figure", "value", "source"], rows, left=3),
             _table(["published claim", "source"], claims, left=2)]  # fmt: skip
    ours = []
    for p in PUBLISHED:
        # the paper called classes by argmax: threshold-dependent metrics at 0.5, not at our F1-chosen threshold
        column = f"test_{p['metric']}" + ("" if p["metric"] in ("auroc", "auprc") else "_at_0.5")
        values = [r[column] for r in results if (r["task"], r["protocol"], r["model"]) ==
                  (p["task"], p["protocol"], p["model"]) and r.get(column) is not None]  # fmt: skip
        if values:
            sd = f" ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else ""
            what = f"{p['model']} test {p['metric']}" + ("" if column.endswith(p["metric"]) else " at threshold 0.5")
            ours.append([escape(f"{what}, {p['protocol']} protocol"), f"{np.mean(values):.3f}{sd}",
                         escape(f"{setup['tasks'][p['task']]['data']}, preset {setup['preset']}, "
                                f"{len(values)} seed{'s' if len(values) > 1 else ''}")])  # fmt: skip
    if ours:
        parts.append("<h3>Measured in this run, for comparison (other data and budget: see Setup)</h3>")
        parts.append(_table(["measured here", "value", "data, preset, seeds"], ours, left=3))
    return "".join(parts)


def _runs(results: list[dict]) -> str:
    columns = ["task", "protocol", "model", "seed", "n_train", "n_test", "test_auroc", "test_auprc", "test_f1",
               "test_precision", "test_recall", "test_accuracy", "validation_auroc", "threshold", "best_epoch",
               "epochs_run", "overfit_gap", "train_seconds"]  # fmt: skip
    rows = []
    for r in results:
        cells = []
        for c in columns:
            v = r.get(c)
            cells.append(_f(v) if isinstance(v, float) else escape("-" if v is None else str(v)))
        rows.append(cells)
    return (f"<details><summary>{len(results)} runs (also in results.csv and results.json)</summary>"
            f"{_table(columns, rows, left=3)}</details>")  # fmt: skip


# ---------------------------------------------------------------------------------------------------------- page
def render_report(*, setup: dict, runs, summary: list[dict], reading: dict, results: list[dict]) -> str:
    """The whole page as a string."""
    body = {
        "reading": _reading(setup, reading),
        "setup": _setup(setup),
        "summary": _summary(setup, summary),
        "roc-pr": _curves(setup, runs),
        "training-curves": _training(setup, runs),
        "confusion": _confusion(setup, runs),
        "calibration": _calibration(setup, runs),
        "overfitting": _overfitting(setup, summary),
        "published": _published(setup, results),
        "runs": _runs(results),
    }
    nav = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title in SECTIONS.items())
    sections = "".join(
        f'<section id="{sid}"{_PUBLISHED_CLASS if sid == "published" else ""}><h2>{escape(SECTIONS[sid])}</h2>'
        f"{body[sid]}</section>"
        for sid in SECTIONS
    )
    hw = setup["hardware"]
    tasks = ", ".join(setup["tasks"])
    loads = [v[0] for v in (setup.get("load_average_start"), setup.get("load_average_end")) if v]
    shared = ""
    if loads and max(loads) > (hw["cores"] or 1):  # other work competed for the CPU: say so where times are shown
        shared = f" (CPU shared with other jobs: load average up to {max(loads):.1f}, so times are inflated)"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>resgenome reproduce: {escape(tasks)} ({escape(setup['preset'])})</title><style>{CSS}</style></head>
<body><header><h1>Residual networks in genomics, re-tested</h1>
<p>Sabba et al. (2022) report that ResSEN and ResVG beat the CNNs they were compared with (DeepSEN, ViraMiner) and
overfit less. This report retrains every model on identical splits under three protocols and says what held up.</p>
<p>Tasks: {escape(tasks)} · preset <b>{escape(setup['preset'])}</b> · {len(results)} runs,
{setup['train_seconds_total'] / 60:.1f} min of training on {escape(str(hw['cores']))} cores
({escape(hw.get('gpu') or hw['device'])}){shared}
· resgenome {escape(hw['resgenome'])} · {escape(setup['finished'])}</p></header>
<nav>{nav}</nav><main>{sections}</main></body></html>
"""


def write_report(path: str | os.PathLike, *, setup: dict, runs, summary: list[dict], reading: dict,
                 results: list[dict] | None = None) -> Path:  # fmt: skip
    """Render and write the report atomically; return its path."""
    results = results if results is not None else [result_row(r) for r in runs]
    page = render_report(setup=setup, runs=runs, summary=summary, reading=reading, results=results)
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(page)
    return path
