"""The report: one self-contained HTML file with every section, written atomically, from synthetic runs (fast; the
end-to-end report of a real reproduction is tested in test_reproduce.py)."""

from __future__ import annotations

import re

import pytest

from resgenome.comparison import honest_reading, result_row, summarise
from resgenome.machine import probe
from resgenome.report.html import SECTIONS, write_report

from .conftest import make_runs


def _setup(runs) -> dict:
    split = {"n": 300, "positive": 90}
    return {
        "preset": "smoke", "preset_why": "tests", "seeds": {"paper": 2, "grouped": 2}, "wall_seconds": 1.0,
        "trained": len(runs), "reused": 0, "train_seconds_total": 12.0, "finished": "2026-01-01 00:00 UTC",
        "bootstrap": "200 paired replicates", "command": "resgenome reproduce --preset smoke",
        "hardware": {**probe("cpu"), "gpu": "Toy GPU 9000"}, "load_average_start": [0.5, 0.5, 0.5],
        "load_average_end": None,
        "tasks": {"viral": {
            "data": "toy", "files": [], "rows": 1600, "positive": 480, "positive_label": "viral", "batch_size": 64,
            "patience": 1, "widths": "smoke", "caps": {"train": {"rows": 400, "min_positive": "all"}},
            "splits": [{"protocol": p, "split": s, "optimistic": False, "text": "toy <split>", "held_out": {},
                        "train": {"n": 1000, "positive": 300}, "validation": split, "test": split}
                       for p, s in (("paper", "fullset"), ("grouped", "experiment"))],
            "models": [{"model": "resvg", "kind": "residual", "config": {"width": 8}, "parameters": 1234,
                        "epochs": 2},
                       {"model": "viraminer", "kind": "cnn", "config": {"hidden": 8}, "parameters": 99, "epochs": 2},
                       {"model": "kmer-logreg", "kind": "classical", "config": {"k": 4}}],
        }},
    }  # fmt: skip


def test_report_is_one_self_contained_file_with_every_section(tmp_path):
    runs = make_runs(tmp_path)
    summary = summarise(runs, n_boot=50)
    path = write_report(tmp_path / "report.html", setup=_setup(runs), runs=runs, summary=summary,
                        reading={"viral": honest_reading("viral", summary)})  # fmt: skip
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["report.html"]  # atomic: no temporary left
    page = path.read_text(encoding="utf-8")
    for sid in SECTIONS:
        assert f'<section id="{sid}"' in page, sid
    assert not re.search(r'<(img|script|link)[^>]+(src|href)="(http|//)', page)  # nothing fetched from elsewhere
    assert page.count('src="data:image/png;base64,') >= 6  # summary, curves, 2 training, confusion, overfitting
    assert "toy &lt;split&gt;" in page and "toy <split>" not in page  # text is escaped
    assert "Toy GPU 9000" in page  # the probe's GPU name, where there is one, names the device
    assert "Smoke preset: tiny models" in page
    # rows of the run table are the comparison's result rows
    assert f"{len(runs)} runs (also in results.csv and results.json)" in page
    assert result_row(runs[0])["model"] in page


@pytest.mark.parametrize("load, shared", [([9.0, 1, 1], True), ([0.2, 1, 1], False)])
def test_a_loaded_machine_is_said_where_times_are_shown(tmp_path, load, shared):
    runs = make_runs(tmp_path, seeds=1)
    setup = {**_setup(runs), "load_average_start": load}
    setup["hardware"]["cores"] = 2
    page = write_report(tmp_path / "r.html", setup=setup, runs=runs, summary=summarise(runs, n_boot=20),
                        reading={}).read_text(encoding="utf-8")  # fmt: skip
    assert ("CPU shared with other jobs" in page) == shared
