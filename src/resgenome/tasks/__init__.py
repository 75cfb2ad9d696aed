"""The two tasks. Each says only what differs: how data are read, split, preprocessed and fed to the models.

The contract they both fulfil is :class:`~resgenome.tasks.base.Task`; :func:`get_task` returns one by name.
"""

from __future__ import annotations

from .base import ALL, Task, TaskPreset
from .superenhancer import SuperEnhancerTask
from .viral import ViralTask

TASKS: dict[str, type[Task]] = {"superenhancer": SuperEnhancerTask, "viral": ViralTask}

__all__ = ["ALL", "Task", "TaskPreset", "TASKS", "get_task", "SuperEnhancerTask", "ViralTask"]


def get_task(name: str) -> Task:
    """The task object for ``superenhancer`` or ``viral``."""
    try:
        return TASKS[name]()
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose superenhancer or viral") from None
