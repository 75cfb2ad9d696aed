"""The trained models that ship inside resgenome: their names, files and cards, and how ``--model`` finds one.

Each packaged model is a folder beside this file, ``<name>/model.pt`` (an ordinary resgenome checkpoint) and
``<name>/MODEL_CARD.md``, listed in ``index.json`` with its task, size, sha256, training data and headline metrics,
and each task's default model. All of it is written by ``benchmarks/train_packaged.py``, the only way these files
are made; nothing here trains.

How a model argument is resolved (:func:`resolve`), wherever a trained model is accepted (``predict``,
``evaluate``, :func:`resgenome.load`):

1. nothing given -> the task's default packaged model;
2. ``resgenome:NAME`` -> the packaged model NAME, always;
3. an existing file or folder -> that path, even when a packaged model has the same name (an existing command
   line never changes meaning; a note says how to reach the packaged one);
4. a packaged name (``resvg``) -> that packaged model;
5. anything else -> one line: no such file, and the packaged names.

A packaged file whose sha256 differs from the index's is refused (a damaged or altered installation).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import CheckpointError, ResgenomeError

#: A model argument starting with this always means a packaged model.
PREFIX = "resgenome:"
HERE = Path(__file__).resolve().parent
INDEX = "index.json"


@dataclass(frozen=True)
class PackagedModel:
    """One entry of ``index.json``.

    Attributes
    ----------
    name : str
        The packaged name (``resvg``); also what ``--model`` accepts.
    task : str
        ``viral`` or ``superenhancer``.
    model : str
        The registry model it is an instance of (``resvg``, ``kmer-logreg`` ...).
    path, card_path : Path
        ``<name>/model.pt`` and ``<name>/MODEL_CARD.md``.
    sha256 : str
        Hex digest of model.pt.
    size : int
        Bytes of model.pt.
    data : str
        One line: what it was trained on and what was held out.
    metrics : dict
        Headline numbers: ``validation`` and ``test`` AUROC / AUPRC / F1, and the ``held_out`` groups of each.
    default : bool
        Whether it is its task's default model.
    """

    name: str
    task: str
    model: str
    path: Path
    card_path: Path
    sha256: str
    size: int
    data: str
    metrics: dict
    default: bool

    @property
    def card(self) -> str:
        """The model card (Markdown)."""
        return self.card_path.read_text(encoding="utf-8")

    def verify(self) -> Path:
        """The checkpoint's path, after checking that its sha256 is the index's; :class:`CheckpointError` if not."""
        if not self.path.is_file():
            raise CheckpointError(
                f"{PREFIX}{self.name}: packaged model file {self.path} is missing; reinstall resgenome"
            )
        if file_sha256(self.path) != self.sha256:
            raise CheckpointError(
                f"{PREFIX}{self.name}: {self.path} does not match the sha256 in the package index (damaged or altered"
                " installation); reinstall resgenome"
            )
        return self.path


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1-MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _index() -> dict:
    return _read_index(HERE)


@functools.cache
def _read_index(folder: Path) -> dict:
    """The index of the package folder ``folder`` (read once; tests point :data:`HERE` at a folder of their own)."""
    path = folder / INDEX
    if not path.is_file():
        return {"models": {}, "defaults": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def models() -> list[PackagedModel]:
    """Every packaged model, in the index's order."""
    index, folder = _index(), HERE
    defaults = set(index.get("defaults", {}).values())
    return [
        PackagedModel(
            name=name, task=entry["task"], model=entry["model"], path=folder / entry["file"],
            card_path=folder / entry["card"], sha256=entry["sha256"], size=int(entry["bytes"]), data=entry["data"],
            metrics=entry.get("metrics", {}), default=name in defaults,
        )  # fmt: skip
        for name, entry in index["models"].items()
    ]


def names(task: str | None = None) -> list[str]:
    """Packaged names, of one task or of all."""
    return [m.name for m in models() if task is None or m.task == task]


def _listing(task: str | None = None) -> str:
    found = names(task)
    return ", ".join(found) if found else "none in this installation"


def get(name: str) -> PackagedModel:
    """The packaged model called ``name`` (with or without ``resgenome:``); a one-line error listing the names."""
    bare = name.removeprefix(PREFIX)
    for model in models():
        if model.name == bare:
            return model
    raise ResgenomeError(f"{name}: not a packaged model (packaged: {_listing()}; see `resgenome models list`)")


def default(task: str) -> PackagedModel:
    """The default packaged model of ``task``: the best on grouped validation (see its card)."""
    name = _index().get("defaults", {}).get(task)
    if name is None:
        raise ResgenomeError(f"no packaged {task} model in this installation: give --model DIR/model.pt")
    return get(name)


def resolve(
    spec: str | os.PathLike | None,
    *,
    task: str | None = None,
    option: str = "--model",
    note: Callable[[str], None] | None = None,
) -> Path:
    """The checkpoint a model argument means (rules in the module docstring).

    Parameters
    ----------
    spec : a path, a packaged name, ``resgenome:NAME``, or None for ``task``'s default.
    task : the task the caller needs; a packaged model of the other task is a one-line error naming the right ones.
        (A path's task is checked when it is loaded.)
    option : how the argument is called in messages.
    note : receives one line when a path shadows a packaged name.

    Returns
    -------
    Path
        A file or folder for :func:`resgenome.checkpoint.load_checkpoint`; a packaged file is sha256-checked first.
    """
    if spec is None:
        if task is None:
            raise ResgenomeError(f"{option}: give a model file or a packaged name ({_listing()})")
        return _checked(default(task), task, option)
    text = os.fspath(spec)
    if text.startswith(PREFIX):
        return _checked(_named(text, option), task, option)
    if Path(text).exists():
        if note is not None and text in names():
            note(f"{option} {text}: using the local path {text}; write {PREFIX}{text} for the packaged model")
        return Path(text)
    if text in names():
        return _checked(get(text), task, option)
    raise ResgenomeError(f"{option} {text}: no such file or folder, and not a packaged model (packaged: {_listing()})")


def _named(text: str, option: str) -> PackagedModel:
    try:
        return get(text)
    except ResgenomeError:
        raise ResgenomeError(f"{option} {text}: not a packaged model (packaged: {_listing()})") from None


def _checked(model: PackagedModel, task: str | None, option: str) -> Path:
    if task is not None and model.task != task:
        raise ResgenomeError(
            f"{option} {model.name}: the packaged {model.name} is a {model.task} model; this needs a {task} model"
            f" (packaged {task} models: {_listing(task)})"
        )
    return model.verify()


__all__ = ["PREFIX", "PackagedModel", "default", "file_sha256", "get", "models", "names", "resolve"]
