"""Super-enhancer feature tables (the imPROSE / Khan & Zhang 2019 format) and their scaling (the paper's Eq. 1-4).

A table has the header ``chrom,start,end,Class,<36 features>,length``; ``Class`` is ``SE`` (constituent of a
super-enhancer) or ``TE`` (typical enhancer) and may be absent in a table that is only to be scored.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import Input, open_input

#: The 36 features in the paper's Table 1 order, under the column names of the imPROSE file (which orders them
#: differently and spells Pol II, Chd7 and Tcfcp2l1 as Pol2, CHD7 and Tcfcp2I1).
FEATURES: tuple[str, ...] = (
    "H3K27ac", "H3K4me1", "H3K4me3", "H3K9me3", "DNaseI", "Pol2", "p300", "CBP", "Cdk9", "Med12", "Cdk8",
    "Brg1", "Brd4", "CHD7", "Smc1", "Nipbl", "Lsd1", "Mi2b", "HDAC2", "HDAC", "Oct4", "Sox2", "Nanog", "Esrrb",
    "Klf4", "Tcfcp2I1", "Prdm14", "Nr5a2", "Smad3", "Stat3", "Tcf3", "AT_content", "GC_content", "phastCons",
    "phastConsP", "repeat_fraction",
)  # fmt: skip
COORDINATES = ("chrom", "start", "end")
_EXPECTED = "a CSV with header chrom,start,end,Class,<features>"
_BOM = b"\xef\xbb\xbf"  # spreadsheet programs put it at the start of exported CSVs
LABEL_COLUMN = "Class"
CLASSES = {"TE": 0, "SE": 1}
LABEL_NAMES = {v: k for k, v in CLASSES.items()}


@dataclass
class FeatureTable:
    """A parsed super-enhancer table.

    Attributes
    ----------
    X : np.ndarray, shape (N, F) float64
        Raw (unscaled) features in ``features`` order.
    y : np.ndarray, shape (N,) int64, or None
        1 = SE, 0 = TE; None for a table without ``Class``.
    chrom : np.ndarray, shape (N,) of str
    start, end : np.ndarray, shape (N,) int64
    features : tuple of str
    source : str
    """

    X: np.ndarray
    y: np.ndarray | None
    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    features: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, index: np.ndarray) -> "FeatureTable":
        return FeatureTable(
            self.X[index], None if self.y is None else self.y[index], self.chrom[index], self.start[index],
            self.end[index], self.features, self.source,
        )  # fmt: skip


def read_table(
    path: str | os.PathLike, *, features: tuple[str, ...] = FEATURES, require_labels: bool = True
) -> FeatureTable:
    """Read and validate a super-enhancer table.

    Every problem is an :class:`InputError` naming the file, the line (1-based, header = line 1) and the column.

    Parameters
    ----------
    path : path-like
    features : tuple of str
        Columns to use as features, in model order (add ``"length"`` to use it).
    require_labels : bool
        If True, a ``Class`` column of SE/TE is required (training, evaluation); if False it is optional
        (prediction) and read when present.

    The file (``-`` = standard input; plain, gzip, bzip2 or xz) is read once, front to back.
    """
    with open_input(path, _EXPECTED) as source:  # one pass: a pipe has no second chance
        name = source.name
        header = _read_header(source, name, features, require_labels)
        frame = pd.DataFrame(_read_rows(source, name, len(header)), columns=header)
    if len(frame) == 0:
        raise InputError(f"{name}: has a header but no data rows")

    X = np.empty((len(frame), len(features)), dtype=np.float64)
    for j, column in enumerate(features):
        X[:, j] = _numeric_column(frame[column], name, column, finite=True)
    start = _numeric_column(frame["start"], name, "start", finite=True).astype(np.int64)
    end = _numeric_column(frame["end"], name, "end", finite=True).astype(np.int64)
    chrom = frame["chrom"].str.strip().to_numpy(dtype=object)
    blank = np.flatnonzero(chrom == "")
    if blank.size:
        raise InputError(f"{name}: line {blank[0] + 2}, column chrom: empty chromosome name")

    y = None
    if LABEL_COLUMN in frame.columns:
        labels = frame[LABEL_COLUMN].str.strip()
        bad = ~labels.isin(list(CLASSES))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{name}: line {i + 2}, column Class: {labels.iloc[i]!r} is not a class; expected SE or TE"
            )
        y = labels.map(CLASSES).to_numpy(dtype=np.int64)
    return FeatureTable(X, y, chrom.astype(str), start, end, tuple(features), name)


def _read_header(source: Input, name: str, features: tuple[str, ...], require_labels: bool) -> list[str]:
    """The header's column names, after checking the file is text with every needed column and no unknown one.
    Only looks ahead (the rows are read from the start, after it)."""
    head = source.peek(4096)
    head = head[len(_BOM) :] if head.startswith(_BOM) else head
    if not head.strip():
        raise InputError(f"{name}: file is empty; expected a CSV with header chrom,start,end,Class,<features>")
    if b"\x00" in head:
        raise InputError(f"{name}: binary file, expected a CSV with header chrom,start,end,Class,<features>")
    try:  # the header line only: the peek may end inside a multi-byte character further on
        text_head = head[: head.find(b"\n") + 1 or len(head)].decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not a UTF-8 text file; expected a CSV") from None
    header = next(csv.reader([text_head.splitlines()[0]]))
    header = [h.strip() for h in header]
    missing = [c for c in (*COORDINATES, *features) if c not in header]
    if require_labels and LABEL_COLUMN not in header:
        missing.insert(3, LABEL_COLUMN)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(
            f"{name}: line 1: missing column(s) {shown}; expected header chrom,start,end,Class,<36 features>"
            " as in the imPROSE table"
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(f"{name}: line 1: duplicated column(s) {', '.join(dupes)}")
    extra = [h for h in header if h not in (*COORDINATES, LABEL_COLUMN, *FEATURES, "length")]
    if extra:  # most often a misspelt feature or a shifted header; silently ignoring it would hide either
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise InputError(
            f"{name}: line 1: unexpected column(s) {shown}; expected only chrom,start,end,Class,<36 features>,length"
            " as in the imPROSE table (remove or rename them)"
        )
    return header


def _read_rows(source: Input, name: str, n_fields: int) -> list[list[str]]:
    """The data rows as strings, each checked to have as many fields as the header (a short or long row means
    shifted values); blank lines are allowed after the last row only, so row i is on line i + 2."""
    rows: list[list[str]] = []
    try:
        with source.text() as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            next(reader, None)
            blank = None  # the first blank line
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    blank = blank or reader.line_num
                    continue
                if blank is not None:
                    raise InputError(f"{name}: line {blank}: empty line inside the table; remove it")
                if len(row) != n_fields:
                    raise InputError(f"{name}: line {reader.line_num}: {len(row)} fields, but the header has {n_fields}")
                rows.append(row)
    except UnicodeDecodeError:
        raise InputError(f"{name}: not a UTF-8 text file; expected a CSV") from None
    except csv.Error as exc:
        raise InputError(f"{name}: line {reader.line_num}: not a well-formed CSV ({exc})") from None
    return rows


def _numeric_column(values: pd.Series, name: str, column: str, *, finite: bool) -> np.ndarray:
    """Parse one column as float64; name the first offending line (the header is line 1)."""
    parsed = pd.to_numeric(values.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(parsed) if finite else np.isnan(parsed)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = values.iloc[i]
        what = "missing value" if raw.strip() == "" else f"{raw!r} is not a finite number"
        raise InputError(f"{name}: line {i + 2}, column {column}: {what}")
    return parsed


# --------------------------------------------------------------------------------------------------- scaling
SCALINGS = ("per-feature", "per-sample")


class Scaler:
    """The paper's Eq. 1-4: min-max normalisation, then standardisation.

    Eq. 1 is misprinted in the paper as (x - min) + (max - min); we use (x - min) / (max - min).

    ``per-feature`` (default) fits min, max, mean and sd of each feature on the training rows only and stores them.
    ``per-sample`` is the literal reading of "between input nodes": each sample is scaled across its own 36 values,
    so there is nothing to fit (and no way to leak test statistics).
    """

    def __init__(self, mode: str = "per-feature", eps: float = 1e-8):
        if mode not in SCALINGS:
            raise ValueError(f"unknown normalisation {mode!r}; choose one of {', '.join(SCALINGS)}")
        self.mode = mode
        self.eps = eps
        self.stats: dict[str, np.ndarray] = {}

    def fit(self, X: np.ndarray) -> "Scaler":
        if self.mode == "per-feature":
            lo, hi = X.min(axis=0), X.max(axis=0)
            Z = (X - lo) / np.maximum(hi - lo, self.eps)
            self.stats = {"min": lo, "max": hi, "mean": Z.mean(axis=0), "std": Z.std(axis=0)}
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """X : (N, F) raw -> (N, F) float32 scaled."""
        if self.mode == "per-sample":
            lo, hi = X.min(axis=1, keepdims=True), X.max(axis=1, keepdims=True)
            Z = (X - lo) / np.maximum(hi - lo, self.eps)
            Z = (Z - Z.mean(axis=1, keepdims=True)) / np.maximum(Z.std(axis=1, keepdims=True), self.eps)
            return Z.astype(np.float32)
        if not self.stats:
            raise RuntimeError("Scaler.transform called before fit")
        s = self.stats
        Z = (X - s["min"]) / np.maximum(s["max"] - s["min"], self.eps)
        return ((Z - s["mean"]) / np.maximum(s["std"], self.eps)).astype(np.float32)

    def state(self) -> dict:
        """Plain values for the checkpoint (lists of floats, loadable with weights_only=True)."""
        return {"mode": self.mode, "eps": self.eps, "stats": {k: v.tolist() for k, v in self.stats.items()}}

    @classmethod
    def from_state(cls, state: dict) -> "Scaler":
        scaler = cls(state["mode"], state["eps"])
        scaler.stats = {k: np.asarray(v, dtype=np.float64) for k, v in state["stats"].items()}
        return scaler
