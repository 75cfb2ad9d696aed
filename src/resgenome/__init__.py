"""resgenome: the residual networks of "Residual Neural Network in Genomics" (Sabba et al., 2022), made usable.

Two tasks share one package: super-enhancer prediction from 36 features per enhancer (ResSEN) and viral sequence
detection from 300-bp DNA (ResVG), each with the CNN it was compared with and classical baselines.

From Python (see :mod:`resgenome.api`)::

    import resgenome as rg
    model = rg.load("resvg")                 # a packaged model, or DIR/model.pt
    calls = model.predict(["ACGT" * 75])     # pandas DataFrame, the columns of `resgenome predict viral`
    model, metrics = rg.train("superenhancer", "mesc-khan2019-dev", "logreg")
    metrics = rg.evaluate(model, "table.csv")

The API is imported on first use, so the command line starts without loading PyTorch and pandas for nothing.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = ("Model", "load", "train", "evaluate")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    # imported by name, not by an import statement: every module reads __version__ from here, and a static import
    # of the API would make each of them depend on the whole package (and the import contracts say so)
    if name in _API:
        return getattr(importlib.import_module(".api", __name__), name)
    raise AttributeError(f"module 'resgenome' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
