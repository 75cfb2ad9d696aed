"""Checkpoints: weights-only loading, refusal of pickles that run code, wrong task, newer format."""

from __future__ import annotations

import pickle

import pytest
import torch

from resgenome.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from resgenome.errors import CheckpointError
from resgenome.models.ressen import ResSEN


def _payload():
    model = ResSEN(stem_channels=4, block1=(4, 4), block2=(4, 4))
    return {"task": "superenhancer", "model": {"name": "ressen", "kind": "neural", "config": {}},
            "state": model.state_dict(), "preprocessing": {"features": ["a"]}, "threshold": 0.5}  # fmt: skip


def test_round_trip_and_fields(tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", _payload())
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "resgenome" and raw["format_version"] == FORMAT_VERSION and raw["package_version"]
    loaded = load_checkpoint(path, task="superenhancer")
    assert loaded["threshold"] == 0.5
    assert load_checkpoint(tmp_path)["task"] == "superenhancer"  # a run directory works too


def test_same_payload_gives_the_same_bytes(tmp_path):
    """Packaged models are identified by their sha256: saving the same model twice, under any name, gives the same
    file (torch names the archive after the file it writes, and the atomic write's temporary name is random)."""
    torch.manual_seed(0)
    payload = _payload()
    (tmp_path / "a").mkdir()
    first = save_checkpoint(tmp_path / "a" / "model.pt", payload)
    second = save_checkpoint(tmp_path / "other.pt", payload)
    assert first.read_bytes() == second.read_bytes()


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > pwned.txt",))


def test_malicious_pickle_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model.pt"
    torch.save({"format": "resgenome", "format_version": 1, "evil": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned.txt").exists()
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(plain)
    assert not (tmp_path / "pwned.txt").exists()


def test_wrong_task_newer_version_and_garbage(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _payload())
    with pytest.raises(CheckpointError, match="superenhancer model; the command needs a viral model"):
        load_checkpoint(path, task="viral")
    newer = tmp_path / "newer.pt"
    torch.save({**torch.load(path, weights_only=True), "format_version": FORMAT_VERSION + 1}, newer)
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(newer)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not a resgenome checkpoint"):
        load_checkpoint(other)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="not a resgenome model file|refused"):
        load_checkpoint(junk)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
