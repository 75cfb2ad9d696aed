"""The allocator setting of runtime.py: applied on glibc Linux, idempotent, and switched off by the environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_CHILD = "from resgenome.runtime import tune_allocator; print(tune_allocator(), tune_allocator())"


def _run(env_extra: dict[str, str]) -> str:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, check=True).stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_allocator_is_tuned_once_on_linux():
    assert _run({"RESGENOME_MALLOC": ""}).split() == ["True", "True"]


def test_allocator_left_alone_on_request():
    assert _run({"RESGENOME_MALLOC": "default"}).split() == ["False", "False"]
