"""The one checkpoint format of resgenome: tensors and plain Python values only.

A model file loads with ``torch.load(path, weights_only=True)``, so opening it can never run code. It holds::

    {"format": "resgenome", "format_version": 1, "package_version": "0.1.0", "task": "superenhancer" | "viral",
     "model": {"name": "ressen", "kind": "neural" | "classical", "config": {...}},
     "state": {...}          # state_dict of a neural model, or the arrays of a classical one
     "preprocessing": {...}, # scaler statistics, feature names, sequence length ...
     "threshold": 0.42, "training": {...}}   # how it was trained (split, seed, epochs ...)
"""

from __future__ import annotations

import io
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .errors import CheckpointError
from .io import atomic_open

FORMAT = "resgenome"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically; fills in the format fields. The same payload always gives the same bytes."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "package_version": __version__, **payload}
    if not isinstance(payload.get("task"), str):
        raise ValueError("a checkpoint names its task (resgenome.tasks.TASKS)")
    path = Path(path)
    # serialised in memory first: torch names the archive's inner folder after the file, and the atomic write's
    # temporary file has a random name, so saving to it directly gave different bytes for the same model each time
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getbuffer())
    return path


def load_checkpoint(path: str | os.PathLike, *, task: str | None = None) -> dict[str, Any]:
    """Load and check a checkpoint; refuse anything that is not a plain resgenome checkpoint.

    Raises
    ------
    CheckpointError
        Missing file, not a torch file, a file that needs code to unpickle (possibly malicious), another format,
        a newer format version, or another task than ``task``.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: model file not found")
    if path.is_dir():
        candidate = path / "model.pt"
        if candidate.exists():
            path = candidate
        else:
            raise CheckpointError(f"{path}: is a directory without model.pt; pass DIR/model.pt")
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if not (magic == b"PK" or magic[:1] == b"\x80"):  # neither a torch zip archive nor a (legacy) pickle
        raise CheckpointError(f"{path}: not a resgenome model file (expected a model.pt written by resgenome train)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)|global[: ]+([\w.]+)", str(exc))
        what = f" (it calls {found.group(1) or found.group(2)})" if found else ""
        raise CheckpointError(
            f"{path}: refused: loading this file would run code{what}; it is not a plain resgenome checkpoint"
            " and may be malicious"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any failure to parse means 'not a checkpoint'
        raise CheckpointError(
            f"{path}: not a resgenome model file (cannot be read by torch: {str(exc).splitlines()[0][:120]})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a resgenome checkpoint (no 'format: {FORMAT}' field)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this resgenome understands"
            f" ({FORMAT_VERSION}); upgrade resgenome"
        )
    if task is not None and payload.get("task") != task:
        raise CheckpointError(
            f"{path}: this is a {payload.get('task')} model; the command needs a {task} model"
        )
    return payload
