"""The wheel: `python -m build` makes one that carries the packaged models, their cards and their index."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from resgenome import pretrained

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_the_packaged_models(tmp_path):
    """Built from a copy of the sources (the checkout stays untouched), without build isolation so that it needs
    no download: setuptools and build come with the dev extra."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(source)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (wheel,) = dist.glob("resgenome-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "resgenome/pretrained/index.json" in names and "resgenome/pretrained/__init__.py" in names
    models = pretrained.models()
    assert models, "no packaged models to check"
    with zipfile.ZipFile(wheel) as archive:
        for model in models:
            for path in (model.path, model.card_path):
                inside = "resgenome/pretrained/" + path.relative_to(pretrained.HERE).as_posix()
                assert inside in names, inside
                assert archive.read(inside) == path.read_bytes()  # the very bytes the index's sha256 is of
