"""The two tasks. Each says only what differs: how data are read, split, preprocessed and written out."""

from __future__ import annotations


def get_task(name: str):
    """The task object for ``superenhancer`` or ``viral``."""
    if name == "superenhancer":
        from .superenhancer import SuperEnhancerTask

        return SuperEnhancerTask()
    if name == "viral":
        from .viral import ViralTask

        return ViralTask()
    raise ValueError(f"unknown task {name!r}; choose superenhancer or viral")
