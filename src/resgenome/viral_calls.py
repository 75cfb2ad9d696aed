"""What a `predict viral` run adds to its window scores: calibrated evidence, the contig table with p-values, q-values
and calls, and the side outputs (FASTA of the called contigs, bedGraph of window probabilities, run manifest).

:mod:`resgenome.predict` streams records and windows; the pieces here are handed the windows as they are scored and
the records as they complete, so they fit any streaming loop:

- :class:`WindowEvidence` — the model's calibration and contig null (one strand, or both averaged), turning raw
  log-odds into calibrated probabilities and viral-looking votes, tallied per record;
- :class:`ContigTable` — q-values need every p-value of the run, so a contig's row cannot be final when its record
  ends: rows wait in a temporary file (spilled to disk past a few MB) with only three numbers per contig in memory,
  and the table is written once the last record is scored;
- :class:`BedGraph` — one calibrated probability per window, each window's over the bases nearer its centre than
  any other window's centre, so intervals tile the contig without overlap (as genome browsers require);
- :func:`copy_records` — the called records, copied byte for byte from the input in a second streamed pass;
- :class:`Manifest` — OUTPUT.json: version, model and input (size, sha256), every option, counts per call;
- :class:`MergedCalls` — q-values and FDR calls recomputed over the parts of a sharded run when they are merged.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

import numpy as np
from scipy.special import expit

from . import __version__
from .calibration import Calibration, log_odds_from_proba
from .call_options import CallOptions
from .calls import (
    DIGITS,
    CallRule,
    ContigNull,
    contig_calls,
    q_values,
    scorable,
)
from .data.readers import is_fasta
from .errors import ModelWarning, ResgenomeError
from .io import Input, open_input, open_output

CONTIG_COLUMNS = ["seq_id", "length", "n_windows", "n_scored", "viral_windows", "viral_fraction", "p_value",
                  "q_value", "call", "reason", "score_max", "score_mean", "padded", "record"]  # fmt: skip
_SPOOL_BYTES = 8 << 20  # contig rows kept in memory before the spool spills to disk
_COPY_BLOCK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_COPY_EXPECTED = "a FASTA file (plain, gzip, bzip2 or xz) or a ViraMiner CSV"


@dataclass
class Tally:
    """Per-record sums of its windows' evidence."""

    n_scored: int = 0
    viral: int = 0
    best: float = -np.inf  # calibrated probability
    best_raw: float = -np.inf  # raw log-odds, for the p-value of a contig of one window
    total: float = 0.0


class WindowEvidence:
    """A model's window calibration and contig null, for windows scored on one strand or averaged over both.

    A model.pt without calibration (trained before it existed) still scores: windows keep the model's own
    probabilities, and contigs get no p-value and the call ``no-call`` (reason ``uncalibrated-model``), with one
    warning saying how to add a calibration (``resgenome calibrate``).
    """

    def __init__(self, calibration: dict | None, threshold: float, both_strands: bool = False):
        """``calibration``: the ``calibration`` entry of model.pt (None for an old model); ``threshold``: the
        model's operating point as a probability of its own scores."""
        state = calibration
        if state is not None and both_strands:
            state = {**state, **state["both_strands"]} if "both_strands" in state else None
        self.calibrated = state is not None and "contig_null" in state
        if self.calibrated:
            self.calibration = Calibration.from_state(state["window"])
            self.null: ContigNull | None = ContigNull.from_state(state["contig_null"])
            self.threshold = self.null.threshold
            self.validation_viral = state.get("validation_viral")
        else:
            self.calibration, self.null, self.validation_viral = Calibration(), None, None
            self.threshold = float(log_odds_from_proba(np.array([threshold]))[0])

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw log-odds, shape (W,); NaN (not scored) stays NaN."""
        return self.calibration.proba(raw) if self.calibrated else expit(raw)

    def tally(self, tally: Tally, raw: np.ndarray) -> np.ndarray:
        """Add windows' raw log-odds (NaN = not scored), shape (W,), to a record's tally; return their probabilities."""
        p = self.probability(raw)
        scored = ~np.isnan(raw)
        if scored.any():
            tally.n_scored += int(scored.sum())
            tally.viral += int(np.sum(raw[scored] >= self.threshold))
            tally.best = max(tally.best, float(p[scored].max()))
            tally.best_raw = max(tally.best_raw, float(raw[scored].max()))
            tally.total += float(p[scored].sum())
        return p

    def describe(self) -> dict:
        """What the manifest says about the model's operating point and null."""
        if not self.calibrated:
            return {"calibrated": False}
        return {"calibrated": True, "method": self.calibration.method,
                "window_threshold_probability": float(self.calibration.proba(np.array([self.threshold]))[0]),
                "null_rate": self.null.rate, "heterogeneity": self.null.heterogeneity,
                "validation_non_viral_windows": self.null.n_null,
                "validation_viral_windows_passing": self.validation_viral}  # fmt: skip


def warn_if_uncalibrated(calibration: dict | None, path: str | os.PathLike, both_strands: bool = False) -> None:
    """One warning for a model.pt that carries no calibration usable for this run (see :class:`WindowEvidence`)."""
    if calibration is None:
        warnings.warn(f"{path}: this model has no calibration (it predates calibrated calls): scores are the model's "
                      "own and contigs get no p-value and no call; add one with `resgenome calibrate`",
                      ModelWarning, stacklevel=2)  # fmt: skip
    elif both_strands and "both_strands" not in calibration:
        warnings.warn(f"{path}: this model's calibration has no part for --both-strands: contigs get no p-value and "
                      "no call; run without --both-strands, or calibrate the model again", ModelWarning, stacklevel=2)


def window_filter(max_n_fraction: float) -> Callable[[np.ndarray], np.ndarray]:
    """``usable(window_codes) -> bool mask``: windows with at most ``max_n_fraction`` N are scored."""
    return lambda codes: scorable(codes, max_n_fraction)


class ContigTable:
    """Contig rows spooled as records complete; the final table, with q-values and calls, after the last record.

    In memory per contig: five numbers (viral-looking and scored windows, length, best raw log-odds, input index),
    40 bytes; the rows themselves wait in a temporary file that spills to disk past 8 MB."""

    def __init__(self, evidence: WindowEvidence, options: CallOptions, *, stride: int, window: int):
        self.evidence, self.options, self.stride, self.window = evidence, options, stride, window
        self.spool = None  # made by the first add: a per-window run never needs it
        self.k, self.n, self.length, self.best = array("q"), array("q"), array("q"), array("d")
        self.record_index = array("q")
        self.calls: np.ndarray | None = None

    def add(self, seq_id: str, index: int, length: int, n_windows: int, padded: bool, tally: Tally) -> None:
        """Spool one completed record: ``seq_id, length, n_windows, n_scored, viral_windows, viral_fraction`` and,
        after the columns computed at the end, ``score_max, score_mean, padded, record``."""
        if self.spool is None:
            self.spool = tempfile.SpooledTemporaryFile(_SPOOL_BYTES, "w+", newline="", encoding="utf-8")
        n = tally.n_scored
        fraction = f"{tally.viral / n:.6f}" if n else "NA"
        best, mean = (f"{tally.best:.6f}", f"{tally.total / n:.6f}") if n else ("NA", "NA")
        self.spool.write(f"{seq_id}\t{length}\t{n_windows}\t{n}\t{tally.viral}\t{fraction}\t{best}\t{mean}\t"
                         f"{int(padded)}\t{index}\n")  # fmt: skip
        self.k.append(tally.viral)
        self.n.append(n)
        self.length.append(length)
        self.best.append(tally.best_raw)
        self.record_index.append(index)

    def rule(self) -> CallRule:
        alpha = self.evidence.null.rate if self.evidence.calibrated else 0.0
        return CallRule(self.options.fdr, alpha, self.options.min_length)

    def write(self, out: IO[str]) -> dict[str, int]:
        """Write header and rows to ``out``; return the count of each call."""
        k, n = np.frombuffer(self.k, dtype=np.int64), np.frombuffer(self.n, dtype=np.int64)
        length = np.frombuffer(self.length, dtype=np.int64)
        if self.evidence.calibrated:
            result = contig_calls(k, n, length, self.evidence.null, self.rule(), stride=self.stride,
                                  window=self.window, best=np.frombuffer(self.best, dtype=np.float64))  # fmt: skip
        else:
            nan = np.full(len(k), np.nan)
            result = {"p_value": nan, "q_value": nan, "call": np.full(len(k), "no-call"),
                      "reason": np.full(len(k), "uncalibrated-model")}  # fmt: skip
        self.calls = result["call"]
        out.write("\t".join(CONTIG_COLUMNS) + "\n")
        if self.spool is not None:
            self.spool.seek(0)
            for line, p, q, call, reason in zip(self.spool, result["p_value"], result["q_value"], result["call"],
                                                result["reason"]):  # fmt: skip
                fields = line.rstrip("\n").split("\t")
                out.write("\t".join(fields[:6] + [_number(p), _number(q), call, reason] + fields[6:]) + "\n")
            self.spool.close()
        return {c: int(np.sum(self.calls == c)) for c in ("viral", "non-viral", "no-call")}

    def called(self) -> set[int]:
        """Input indices of the records called viral (after :meth:`write`)."""
        return set(np.frombuffer(self.record_index, dtype=np.int64)[self.calls == "viral"].tolist())


def _number(x: float) -> str:
    return "NA" if np.isnan(x) else f"{x:.{DIGITS}g}"


class MergedCalls:
    """q-values (and FDR calls) recomputed over every part of a sharded run, for ``merge-predictions``.

    Each shard's q-values count only its own contigs. The merge writes the joined rows to a temporary file while it
    collects their p-values (one float per contig in memory); then q-values over the whole run are computed and
    every row is written out with its ``q_value`` — and, for a run called at an FDR, its ``call`` and ``reason`` —
    replaced. Parts are read once, so one of them may be standard input.
    """

    def __init__(self, header: list[str], fdr: float | None):
        self.p_col, self.q_col = header.index("p_value"), header.index("q_value")
        self.call_col, self.reason_col = header.index("call"), header.index("reason")
        self.fdr = fdr
        self.p = array("d")
        self.spool = tempfile.SpooledTemporaryFile(_SPOOL_BYTES, "w+", newline="", encoding="utf-8")

    def add(self, line: str) -> None:
        """One merged row, in output order."""
        value = line.split("\t")[self.p_col]
        self.p.append(np.nan if value == "NA" else float(value))
        self.spool.write(line if line.endswith("\n") else line + "\n")

    def write(self, out: IO[str]) -> None:
        """Every row collected, with the run's q-values and calls."""
        q = q_values(np.frombuffer(self.p, dtype=np.float64))
        self.spool.seek(0)
        for line, qv in zip(self.spool, q):
            fields = line.rstrip("\n").split("\t")
            fields[self.q_col] = _number(qv)
            if self.fdr is not None and fields[self.call_col] != "no-call":
                viral = qv <= self.fdr
                fields[self.call_col] = "viral" if viral else "non-viral"
                fields[self.reason_col] = "q<=fdr" if viral else "q>fdr"
            out.write("\t".join(fields) + "\n")
        self.spool.close()


def fdr_of_settings(settings: str) -> float | None:
    """The ``--fdr`` a shard part was called at, from its shard line's settings (``...,fdr=0.05,...``)."""
    for item in settings.split(","):
        key, _, value = item.partition("=")
        if key == "fdr":
            return None if value == "None" else float(value)
    return None


# ------------------------------------------------------------------------------------------------- bedGraph
@dataclass
class _Pending:
    start: int
    value: float
    lo: int


class BedGraph:
    """Calibrated window probabilities as bedGraph (0-based, end exclusive), streamed in input order.

    Window ``i`` covers ``[lo_i, hi_i)`` with ``hi_i = lo_{i+1} = (start_i + start_{i+1} + window) // 2``, the
    midpoint between the two windows' centres; the first window starts at 0 and the last ends with the contig.
    Windows not scored (too much N) leave their interval out. With ``skip_invalid`` the lines of the record being
    read wait in a spool until the record is known to be valid.
    """

    def __init__(self, out: IO[str], window: int, spool: bool = False):
        self.out, self.window = out, window
        self.pending: dict[int, _Pending] = {}
        self.spool = tempfile.SpooledTemporaryFile(1 << 20, "w+", newline="") if spool else None

    def _emit(self, record, pending: _Pending, hi: int) -> None:
        if not np.isnan(pending.value) and hi > pending.lo:
            target = self.spool if self.spool is not None and record.n_windows is None else self.out
            target.write(f"{record.seq_id}\t{pending.lo}\t{hi}\t{pending.value:.6f}\n")

    def add(self, record, starts: np.ndarray, probabilities: np.ndarray) -> None:
        """Windows of ``record`` in order (starts 0-based; probability NaN = not scored)."""
        previous = self.pending.get(record.index)
        for start, value in zip(starts.tolist(), probabilities.tolist()):
            if previous is None:
                previous = _Pending(start, value, 0)
                continue
            boundary = (previous.start + start + self.window) // 2
            self._emit(record, previous, boundary)
            previous = _Pending(start, value, boundary)
        self.pending[record.index] = previous

    def finish(self, record) -> None:
        """The record's last window is in: close it at the contig's end."""
        last = self.pending.pop(record.index, None)
        if last is not None:
            self._emit(record, last, record.length)

    def record_read(self) -> None:
        """The record being read ended validly: its spooled lines go to the output."""
        if self.spool is not None:
            self.spool.seek(0)
            shutil.copyfileobj(self.spool, self.out)
            self.spool.seek(0)
            self.spool.truncate()

    def drop(self, record) -> None:
        """The record being read turned out invalid: forget its lines."""
        self.pending.pop(record.index, None)
        if self.spool is not None:
            self.spool.seek(0)
            self.spool.truncate()


# ------------------------------------------------------------------------------------------------- FASTA out
def copy_records(path: str | os.PathLike, wanted: set[int], out: IO[bytes]) -> int:
    """Copy the records whose 0-based index is in ``wanted`` from a FASTA file (any compression
    :func:`resgenome.io.open_input` reads) to ``out``, byte for byte: header line, sequence lines, line breaks.
    Streams in blocks; returns the number of records copied.

    A ViraMiner CSV gives ``>seq_id`` and the sequence field as written, one line each.
    """
    with open_input(path, _COPY_EXPECTED) as source:
        if not is_fasta(source):
            return _copy_csv_records(source, wanted, out)
        index, copying, at_line_start, copied, first = -1, False, True, 0, True
        while block := source.read(_COPY_BLOCK):
            if first and block.startswith(_BOM):
                block = block[len(_BOM) :]
            first = False
            pos = 0
            while pos < len(block):
                # a '>' opens a record only at the start of a line, as the reader parses it
                if at_line_start and block[pos : pos + 1] == b">":
                    start = pos
                else:
                    cut = block.find(b"\n>", pos)
                    start = -1 if cut < 0 else cut + 1
                if start < 0:
                    if copying:
                        out.write(block[pos:])
                    break
                if copying:
                    out.write(block[pos:start])
                index += 1
                copying = index in wanted
                copied += copying
                if copying:
                    out.write(b">")
                pos, at_line_start = start + 1, False
            at_line_start = block.endswith(b"\n")
    return copied


def _copy_csv_records(source: Input, wanted: set[int], out: IO[bytes]) -> int:
    copied, index, header_possible = 0, -1, True
    for line in source.text():
        fields = line.split(",")
        if not line.strip():
            continue
        if header_possible:
            header_possible = False
            if len(fields) == 3 and fields[1].strip().lower() in ("sequence", "seq"):
                continue
        index += 1
        if index in wanted:
            out.write(f">{fields[0].strip()}\n{fields[1].strip()}\n".encode())
            copied += 1
    return copied


# ------------------------------------------------------------------------------------------------- manifest
class Manifest:
    """OUTPUT.json of a `predict viral` run. The model file is hashed when the manifest is made (before any output
    is opened); the input is hashed as it is read (its content, decompressed), so a stream can be hashed too."""

    def __init__(self, model_file: Path | None, model_sha256: str | None, model: dict):
        """``model``: name, kind, source and the training record (``training``) of the model; ``model_file`` None for
        a model given in memory (no file to hash)."""
        self.model_file, self.model_sha256, self.model = model_file, model_sha256, model

    def payload(self, stats: dict, evidence: WindowEvidence, rule: CallRule | None, seconds: float, options: dict,
                outputs: dict, *, input_name: str, input_size: int | None,
                input_sha256: str | None) -> dict:  # fmt: skip
        training = self.model.get("training") or {}
        scored = stats.get("scored_windows", 0)
        return {
            "resgenome": __version__,
            "command": "predict viral",
            "model": {"path": None if self.model_file is None else str(self.model_file), "sha256": self.model_sha256,
                      "name": self.model.get("name"), "kind": self.model.get("kind"),
                      "source": self.model.get("source"), "trained_on": training.get("data"),
                      "split": training.get("split")},  # fmt: skip
            # content as read: decompressed, so a plain and a compressed copy of one input have the same sha256
            "input": {"path": input_name, "content_bytes": input_size, "content_sha256": input_sha256},
            "options": options,
            "calls": {"rule": rule.describe() if rule and evidence.calibrated else "none (model not calibrated)",
                      "fdr": options.get("fdr"), "alpha": rule.alpha if rule else None, **evidence.describe()},
            "counts": stats,
            # a run's windows pass the threshold far more, or far less, often than validation's: the model may not
            # transfer to this sample, whatever the p-values say
            "windows_passing_threshold": {"this_run": stats.get("viral_windows", 0) / scored if scored else None,
                                          "validation_non_viral": evidence.null.rate if evidence.null else None},
            "outputs": outputs,
            "wall_seconds": round(seconds, 3),
        }  # fmt: skip


def write_manifest(path: Path, payload: dict) -> None:
    with open_output(path, "w") as handle:
        json.dump(payload, handle, indent=2)
        handle.write("\n")
