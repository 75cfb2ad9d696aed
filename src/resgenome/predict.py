"""Score real samples with a viral model: contigs of any length, streamed, windowed, batched across records.

A contig is cut into model-length windows, exactly those of :func:`resgenome.data.encoding.windows` on the whole
sequence; windows of consecutive records fill one batch. Windows with too much N are not scored; the others get
calibrated probabilities, and a contig gets a p-value, a q-value and a call (:mod:`resgenome.viral_calls`,
:mod:`resgenome.calls`). Because q-values need every p-value of the run, contig rows wait in a temporary file and the
table is written after the last record; the FASTA of called contigs is copied from the input in a second pass (so
``--fasta-out`` needs an input file, not a stream). Memory stays flat whatever the file or record size: a FASTA
record is read in pieces of :data:`~resgenome.data.readers.PIECE_BASES` bases
(:func:`~resgenome.data.readers.iter_fasta_pieces`), its windows are cut
(:class:`~resgenome.data.encoding.WindowCutter`) and scored as the pieces arrive with only the last window's worth of
bases carried from one piece to the next, and a row is written as soon as its record is complete. With
``skip_invalid`` the per-window rows of the record being read wait in a temporary file that spills to disk, since an
illegal character late in the record must drop them all. Every row carries the record's index in the input
(``record``), so the parts written with ``shard=(i, n)`` merge back into the unsharded output
(:func:`merge_predictions`). A ViraMiner CSV (300-bp rows) is read whole. The input is read once, front to back
(``-`` = standard input, any compression :mod:`resgenome.io` reads).

One run is a :class:`ViralPrediction`: it reads pieces, hands each record's bases to a scoring path and writes the
rows of the records the path reports complete. Two paths: for a ResVG by default,
:class:`~resgenome.fullconv_scoring.FullConvScoring` runs the network's trunk once along each record and takes the
windows away from its ends from there (the stride then costs nothing; windows near the ends keep their own score);
with ``exact_windows``, and for every other model, :class:`PerWindowScoring` scores every window by itself through
the :class:`~resgenome.predictor.Predictor`. Both hand raw log-odds, NaN for windows not scored, to one aggregation
(:func:`credit`), so the calls do not depend on the path but through the scores themselves.

A shard part starts with a shard line — ``#resgenome-shard``, ``i/n``, the input's size and sha256 (of its content,
decompressed, hashed as it is read), the model file's sha256 and the settings that change the rows, the calls' and
the scoring path's among them — and :func:`merge_predictions` refuses a set of parts that is not exactly shards 0 to
n-1 of one input, model and settings.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import heapq
import os
import shutil
import stat
import tempfile
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

from .call_options import DEFAULT_MAX_N_FRACTION, DEFAULT_MIN_LENGTH, CallOptions
from .calibration import MAX_LOG_ODDS
from .data import readers
from .data.encoding import WindowCutter, reverse_complement
from .data.readers import RecordPiece
from .errors import ResgenomeError
from .fullconv_scoring import FullConvScoring
from .io import Input, check_paths, is_stdio, open_input, open_output
from .machine import bf16_native
from .models.fullconv import PRECISIONS
from .predictor import Predictor, pick_device
from .runtime import tune_allocator
from .viral_calls import (
    CONTIG_COLUMNS,
    BedGraph,
    ContigTable,
    Manifest,
    MergedCalls,
    Tally,
    WindowEvidence,
    copy_records,
    fdr_of_settings,
    warn_if_uncalibrated,
    window_filter,
    write_manifest,
)

WINDOW_COLUMNS = ["seq_id", "start", "end", "score", "record"]
SKIPPED_COLUMNS = ["seq_id", "reason", "record"]
_WINDOWS_PER_CHUNK = 4096  # windows handed to the batcher at a time (views of the piece: no copy is made)
_PIECE_BASES = readers.PIECE_BASES  # bases read from a FASTA record at a time; tests make it tiny
_SPOOL_BYTES = 1 << 20  # per-window rows of an unfinished record kept in memory before spilling to disk
SHARD_TAG = "#resgenome-shard"
_INPUT_EXPECTED = "a FASTA file (plain, gzip, bzip2 or xz) or a ViraMiner CSV"
_PART_EXPECTED = "a part written by `resgenome predict viral --shard I/N`"


@dataclass
class _Record:
    """A contig whose windows are (being) scored; ``n_windows`` is None until its last piece has been read."""

    index: int
    seq_id: str
    length: int = 0
    n_windows: int | None = None
    padded: bool = False
    scored: int = 0  # windows through the batcher, scored or not (too much N): the record is done when all are
    tally: Tally = field(default_factory=Tally)

def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"i/n"`` (0 <= i < n) or ``(i, n)`` -> ``(i, n)``; None stays None."""
    if shard is None:
        return None
    if isinstance(shard, str):
        try:
            i, n = (int(part) for part in shard.split("/"))
        except ValueError:
            raise ResgenomeError(f"--shard {shard}: expected i/n, e.g. 0/4 for the first of four shards") from None
    else:
        i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise ResgenomeError(f"--shard {i}/{n}: need n >= 1 and 0 <= i < n (shards are numbered from 0)")
    return i, n


def _pieces(path: Input, select: Callable[[int], bool], skip_invalid: bool,
            on_read: Callable[[int], None] | None = None) -> Iterator[RecordPiece]:  # fmt: skip
    """The records ``select`` accepts, as pieces in input order (see :func:`~resgenome.data.readers.iter_fasta_pieces`).

    Records of other shards are passed over unchecked: each record's problems are reported by the shard owning it.
    A ViraMiner CSV is read whole and each row is one piece.
    """
    if readers.is_fasta(path):
        yield from readers.iter_fasta_pieces(path, _PIECE_BASES, select=select, skip_invalid=skip_invalid,
                                             on_read=on_read)  # fmt: skip
        return
    table = readers.read_viral_csv(path, length=None)
    for index, seq_id in enumerate(table.ids):
        if select(index):
            yield RecordPiece(seq_id, index, 0, table.codes[index], last=True)


class _Batcher:
    """Collects windows from consecutive records, scores full batches, and hands back completed records in order."""

    def __init__(self, score: Callable[[np.ndarray], np.ndarray], batch_size: int, window: int,
                 evidence: WindowEvidence, usable: Callable[[np.ndarray], np.ndarray],
                 on_windows: Callable[[_Record, np.ndarray, np.ndarray], None] | None = None):  # fmt: skip
        # score(codes) -> raw log-odds; usable(codes) -> which windows are scored at all (the others get NaN):
        # on_windows(record, starts, probabilities) receives every window at once, in input order, so per-window
        # output of a whole chromosome never accumulates in memory
        self.score, self.batch_size, self.on_windows = score, batch_size, on_windows
        self.evidence, self.usable = evidence, usable
        self.codes = np.empty((batch_size, window), dtype=np.uint8)
        self.use = np.empty(batch_size, dtype=bool)
        self.owner: list[_Record] = []
        self.starts = np.empty(batch_size, dtype=np.int64)
        self.pending: deque[_Record] = deque()

    def add(self, record: _Record, window_codes: np.ndarray, starts: np.ndarray,
            usable: np.ndarray | None = None) -> Iterator[_Record]:  # fmt: skip
        """Queue windows ``(W, L)`` starting at ``starts`` (W,); ``usable`` (W,) overrides ``self.usable``."""
        if not self.pending or self.pending[-1] is not record:
            self.pending.append(record)
        if usable is None:
            usable = self.usable(window_codes)
        offset = 0
        while offset < len(window_codes):
            room = self.batch_size - len(self.owner)
            take = min(room, len(window_codes) - offset)
            n = len(self.owner)
            self.codes[n : n + take] = window_codes[offset : offset + take]
            self.starts[n : n + take] = starts[offset : offset + take]
            self.use[n : n + take] = usable[offset : offset + take]
            self.owner.extend([record] * take)
            offset += take
            if len(self.owner) == self.batch_size:
                yield from self.flush()

    def drop(self, record: _Record) -> None:
        """Forget the latest record: its windows leave the batch, and those already scored are ignored."""
        keep = len(self.owner)
        while keep and self.owner[keep - 1] is record:
            keep -= 1
        del self.owner[keep:]
        if self.pending and self.pending[-1] is record:
            self.pending.pop()

    def flush(self) -> Iterator[_Record]:
        n = len(self.owner)
        if n:
            raw = np.full(n, np.nan)
            usable = self.use[:n]
            if usable.any():
                raw[usable] = self.score(self.codes[:n][usable])
            # windows of one record are contiguous in the batch: aggregate per run of equal owners
            bounds = [0] + [i for i in range(1, n) if self.owner[i] is not self.owner[i - 1]] + [n]
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                credit(self.owner[lo], self.starts[lo:hi], raw[lo:hi], self.evidence, self.on_windows)
            self.owner = []
        yield from self.ready()

    def ready(self) -> Iterator[_Record]:
        """The records, in input order, whose windows are all known (``n_windows`` set) and scored."""
        while self.pending and self.pending[0].scored == self.pending[0].n_windows:
            yield self.pending.popleft()


def credit(record: _Record, starts: np.ndarray, raw: np.ndarray, evidence: WindowEvidence,
           on_windows: Callable[[_Record, np.ndarray, np.ndarray], None] | None) -> None:  # fmt: skip
    """The one aggregation of both scoring paths: windows of ``record`` (in start order, ``starts`` (W,)) with raw
    log-odds ``raw`` (W,), NaN where not scored (too much N), are counted, tallied by ``evidence`` and passed on to
    ``on_windows`` as calibrated probabilities."""
    record.scored += len(raw)
    probabilities = evidence.tally(record.tally, raw)
    if on_windows is not None:
        on_windows(record, starts, probabilities)


class PerWindowScoring:
    """The per-window scoring path: each record's windows are cut on the stride grid as its bases arrive
    (:class:`~resgenome.data.encoding.WindowCutter`), batched across consecutive records (:class:`_Batcher`) and
    scored by ``score`` one batch at a time. Windows with more N than ``max_n_fraction`` among their own bases are
    passed through unscored (NaN); ``evidence`` tallies the others per record.

    Every method that can complete records returns an iterator over them, in input order.
    """

    def __init__(self, score: Callable[[np.ndarray], np.ndarray], window: int, stride: int, batch_size: int,
                 evidence: WindowEvidence, max_n_fraction: float,
                 on_windows: Callable[[_Record, np.ndarray, np.ndarray], None] | None = None):  # fmt: skip
        self.window, self.stride = window, stride
        self.usable = window_filter(max_n_fraction)
        self.batcher = _Batcher(score, batch_size, window, evidence, self.usable, on_windows)
        self.cutter: WindowCutter | None = None  # the current record's, made by start()

    def start(self, record: _Record) -> None:
        """A new record begins."""
        self.cutter = WindowCutter(self.window, self.stride, _WINDOWS_PER_CHUNK)

    def add(self, record: _Record, codes: np.ndarray) -> Iterator[_Record]:
        """The next bases of ``record``: its windows they complete go into the batch."""
        for cut, starts in self.cutter.add(codes):
            yield from self.batcher.add(record, cut, starts)

    def finish(self, record: _Record) -> Iterator[_Record]:
        """``record`` has no more bases: its closing window goes into the batch; once the returned iterator is
        exhausted, ``record.n_windows`` and ``record.padded`` are set."""
        closing = self.cutter.finish()
        if closing is not None:
            cut, starts = closing
            # a short record's padding is not missing sequence: the N rule looks at its own bases only
            usable = self.usable(cut[:, : record.length]) if record.length < self.window else None
            yield from self.batcher.add(record, cut, starts, usable)
        record.n_windows, record.padded = self.cutter.n_windows, record.length < self.window

    def drop(self, record: _Record) -> None:
        """``record`` turned out invalid: forget its windows."""
        self.batcher.drop(record)

    def ready(self) -> Iterator[_Record]:
        return self.batcher.ready()

    def flush(self) -> Iterator[_Record]:
        """Score what is left in the batch (at the end of the input)."""
        return self.batcher.flush()


@dataclass
class RunOutputs:
    """Where a run writes besides its table (None: not written), and its manifest (None: none)."""

    fasta: Path | None = None
    bedgraph: Path | None = None
    manifest: Manifest | None = None


class ViralPrediction:
    """One ``predict viral`` run: pieces in, rows out (see the module docstring and :func:`predict_viral`)."""

    def __init__(self, predictor: Predictor, input_path: str | os.PathLike, output: Path, *, stride: int,
                 per_window: bool, both_strands: bool, shard: tuple[int, int] | None, skip_invalid: bool,
                 progress: bool, shard_line: "_ShardLine | None" = None, options: CallOptions | None = None,
                 outputs: RunOutputs | None = None, exact_windows: bool = False):  # fmt: skip
        self.predictor, self.path, self.output = predictor, input_path, output
        self.name = str(input_path)  # the input's name in messages, once it is open
        self.shard_line = shard_line
        self.window = predictor.window
        self.per_window, self.both_strands, self.skip_invalid = per_window, both_strands, skip_invalid
        self.shard, self.progress, self.stride = shard, progress, stride
        self.options, self.outputs = options or CallOptions(), outputs or RunOutputs()
        self.evidence = WindowEvidence(predictor.calibration, predictor.threshold, both_strands)
        self.table = ContigTable(self.evidence, self.options, stride=stride, window=self.window)
        scanner = None if exact_windows else predictor.scanner()
        if scanner is None:
            self.scoring = PerWindowScoring(self.score, self.window, stride, predictor.batch_size, self.evidence,
                                            self.options.max_n_fraction, self.write_windows)  # fmt: skip
        else:
            # the same raw log-odds, N rule and tally as the per-window path: only where the scores come from differs
            self.scoring = FullConvScoring(scanner, self.score, stride=stride, batch_size=predictor.batch_size,
                                           both_strands=both_strands, max_n_fraction=self.options.max_n_fraction,
                                           on_scores=lambda r, starts, raw: credit(r, starts, raw, self.evidence,
                                                                                   self.write_windows))  # fmt: skip
        self.stats = {"records": 0, "windows": 0, "scored_windows": 0, "viral_windows": 0, "skipped": 0, "bases": 0,
                      "output": str(output), "method": "exact" if scanner is None else "fullconv",
                      "precision": predictor.precision, "warnings": []}  # fmt: skip
        self.out = self.skipped = self.spool = self.graph = None
        self.started = time.perf_counter()

    def score(self, codes: np.ndarray) -> np.ndarray:
        """Raw log-odds of a batch of windows, (W, window) uint8 -> (W,) float64; with both strands, the mean of a
        window's and its reverse complement's. Clipped: a forest whose trees all agree has infinite log-odds."""
        z = self.predictor.log_odds(codes)
        if self.both_strands:
            z = (z + self.predictor.log_odds(reverse_complement(codes))) / 2
        return np.clip(np.asarray(z, dtype=np.float64), -MAX_LOG_ODDS, MAX_LOG_ODDS)

    def run(self) -> dict:
        """Read, score, call and write everything; returns the counts (records, windows, calls, skipped, bases)."""
        mine = (lambda k: k % self.shard[1] == self.shard[0]) if self.shard else (lambda k: True)
        digest = self.shard is not None or self.outputs.manifest is not None
        with ExitStack() as stack:
            source = stack.enter_context(open_input(self.path, _INPUT_EXPECTED, digest=digest))
            self.name = source.name
            self._open_outputs(stack)
            bar = stack.enter_context(_Progress(self.progress, source.size()))
            record: _Record | None = None
            for piece in _pieces(source, mine, self.skip_invalid, bar.read):
                if record is None or piece.index != record.index:
                    record = _Record(piece.index, piece.record)
                    self.scoring.start(record)
                bar.bases(len(piece.codes))
                self.add_piece(record, piece)
            self.write_records(self.scoring.flush())
            self._finish(source)
        return self.stats

    def _open_outputs(self, stack: ExitStack) -> None:
        """The output (and with ``skip_invalid`` the skipped-records file and the spool), each through
        :func:`~resgenome.io.open_output` (a file atomically); a shard part starts with its shard line."""
        self.out = stack.enter_context(open_output(self.output, "w", newline=""))
        if self.shard_line:
            self.out.write(self.shard_line.placeholder())
        if self.per_window:  # a contig table is written whole at the end: q-values need every p-value
            self.out.write("\t".join(WINDOW_COLUMNS) + "\n")
        if self.skip_invalid:
            skipped_path = self.output.with_name(self.output.name + ".skipped.tsv")
            self.skipped = stack.enter_context(open_output(skipped_path, "w", newline=""))
            if self.shard_line:
                self.skipped.write(self.shard_line.placeholder())
            self.skipped.write("\t".join(SKIPPED_COLUMNS) + "\n")
        if self.per_window and self.skip_invalid:
            self.spool = stack.enter_context(tempfile.SpooledTemporaryFile(_SPOOL_BYTES, "w+", newline=""))
        if self.outputs.bedgraph is not None:
            handle = stack.enter_context(open_output(self.outputs.bedgraph, "w", newline=""))
            self.graph = BedGraph(handle, self.window, spool=self.skip_invalid)

    def _finish(self, source: Input) -> None:
        """After the last record, still inside the run's outputs: the contig table with q-values and calls, the
        shard line, the FASTA of the called records and the manifest."""
        if not self.per_window:
            self.stats.update(self.table.write(self.out))
        size, sha256 = source.digest() if (self.shard_line or self.outputs.manifest) else (None, None)
        if self.shard_line:  # the input has been read to its end: its size and digest complete the shard line
            for handle in filter(None, (self.out, self.skipped)):
                self.shard_line.complete(handle, size, sha256)
        if self.outputs.fasta is not None and not self.per_window:
            _write_fasta(self.outputs.fasta, Path(self.path), self.table.called())
        if self.outputs.manifest is not None:
            options = {"stride": self.stride, "per_window": self.per_window, "both_strands": self.both_strands,
                       "batch_size": self.predictor.batch_size, "device": str(self.predictor.device),
                       "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
                       "skip_invalid": self.skip_invalid, "fdr": self.options.fdr,
                       "min_length": self.options.min_length, "max_n_fraction": self.options.max_n_fraction,
                       "fasta_out": _str(self.outputs.fasta), "bedgraph": _str(self.outputs.bedgraph),
                       "exact_windows": self.stats["method"] == "exact",
                       "precision": self.predictor.precision}  # fmt: skip
            outputs = {"table": str(self.output), "fasta": options["fasta_out"], "bedgraph": options["bedgraph"],
                       "skipped": str(self.output) + ".skipped.tsv" if self.skip_invalid else None}  # fmt: skip
            rule = None if self.per_window else self.table.rule()
            payload = self.outputs.manifest.payload(self.stats, self.evidence, rule, time.perf_counter() - self.started,
                                                    options, outputs, input_name=self.name, input_size=size,
                                                    input_sha256=sha256)  # fmt: skip
            write_manifest(self.output.with_name(self.output.name + ".json"), payload)

    def add_piece(self, record: _Record, piece: RecordPiece) -> None:
        """Score the bases of one piece; at the record's last piece, close it and write what is complete.

        A record of N only is scored like any other: it has no window to score and gets ``no-call``."""
        if piece.error is not None:
            self.skip(record, piece.error)
            return
        record.length += len(piece.codes)  # before its windows are scored: a padded window's end needs it
        self.write_records(self.scoring.add(record, piece.codes))
        if not piece.last:
            return
        self.write_records(self.scoring.finish(record))
        if self.spool is not None:
            _drain(self.spool, self.out)
        if self.graph is not None:
            self.graph.record_read()
        self.stats["bases"] += record.length
        self.write_records(self.scoring.ready())

    def skip(self, record: _Record, error: ResgenomeError) -> None:
        """Drop an invalid record (and its windows already scored) and list it in the skipped-records file."""
        self.scoring.drop(record)
        if self.spool is not None:
            _drain(self.spool, None)
        if self.graph is not None:
            self.graph.drop(record)
        self.stats["skipped"] += 1
        reason = str(error).removeprefix(f"{self.name}: ").replace("\t", " ")
        self.skipped.write(f"{record.seq_id}\t{reason}\t{record.index}\n")

    def write_windows(self, record: _Record, starts: np.ndarray, probabilities: np.ndarray) -> None:
        """Per-window rows and bedGraph intervals, as soon as the windows are scored (NA: not scored)."""
        if self.graph is not None:
            self.graph.add(record, starts, probabilities)
        if not self.per_window:
            return
        ends = np.minimum(starts + self.window, record.length)
        rows = "".join(f"{record.seq_id}\t{a}\t{b}\t{'NA' if np.isnan(p) else f'{p:.6f}'}\t{record.index}\n"
                       for a, b, p in zip(starts.tolist(), ends.tolist(), probabilities.tolist()))  # fmt: skip
        # the record still being read may yet turn out invalid: its rows wait in the spool
        (self.spool if self.spool is not None and record.n_windows is None else self.out).write(rows)

    def write_records(self, records: Iterator[_Record]) -> None:
        """Count each completed record and, unless per window, spool its contig row for the final table."""
        for record in records:
            self.stats["records"] += 1
            self.stats["windows"] += record.n_windows
            self.stats["scored_windows"] += record.tally.n_scored
            self.stats["viral_windows"] += record.tally.viral
            if self.graph is not None:
                self.graph.finish(record)
            if not self.per_window:
                self.table.add(record.seq_id, record.index, record.length, record.n_windows, record.padded,
                               record.tally)  # fmt: skip


def predict_viral(
    model: str | os.PathLike | Predictor,
    input_path: str | os.PathLike,
    output: str | os.PathLike,
    *,
    stride: int = 150,
    per_window: bool = False,
    both_strands: bool = False,
    batch_size: int = 256,
    shard: str | tuple[int, int] | None = None,
    skip_invalid: bool = False,
    device: str | None = None,
    progress: bool = True,
    fdr: float | None = None,
    min_length: int = DEFAULT_MIN_LENGTH,
    max_n_fraction: float = DEFAULT_MAX_N_FRACTION,
    fasta_out: str | os.PathLike | None = None,
    bedgraph: str | os.PathLike | None = None,
    manifest: bool = True,
    exact_windows: bool = False,
    precision: str = "fp32",
) -> dict:
    """Score and call every contig of a FASTA / FASTA.gz / ViraMiner CSV with a saved viral model; write a TSV.

    Parameters
    ----------
    model : DIR/model.pt of a viral model (neural or k-mer), or a loaded viral :class:`~resgenome.predictor.Predictor`
        (used as it is, at ``batch_size``; ``device`` then does not apply).
    input_path : sequences of any length; longer than the model's window -> windows every ``stride`` bases (the
        last aligned to the end); shorter -> padded with N and flagged ``padded``.
    output : TSV with columns :data:`~resgenome.viral_calls.CONTIG_COLUMNS` (calibrated ``score_max`` /
        ``score_mean`` over scored windows, the count and fraction of viral-looking windows, ``p_value``,
        ``q_value``, ``call`` viral / non-viral / no-call and its ``reason``), or with ``per_window`` one row per
        window (:data:`WINDOW_COLUMNS`; start 0-based, end exclusive; score = calibrated probability, NA when not
        scored). ``-`` is standard output. A file is written atomically (nothing on error); see
        :func:`resgenome.io.open_output` for streams and links.
    both_strands : score each window and its reverse complement and average their log-odds.
    batch_size : windows per forward pass (scores depend on it in the last bits, as batching does everywhere).
    shard : ``"i/n"``: score only records k with ``k % n == i``; :func:`merge_predictions` joins the parts and
        recomputes the q-values over all of them.
    skip_invalid : skip records with an illegal character or without sequence, list them in ``OUTPUT.skipped.tsv``
        (seq_id, reason, record); without it the first such record is an error naming the file, line and record.
        (A record of N only is not invalid: it gets ``no-call``.)
    device : ``cpu``, ``cuda`` or None (CUDA when present).
    fdr : call by Benjamini-Hochberg q-value at this false discovery rate; None -> by p-value at the model's null
        rate (:mod:`resgenome.calls`).
    min_length, max_n_fraction : records shorter than ``min_length`` are ``no-call``; windows with more N than
        ``max_n_fraction`` among their own bases are not scored.
    fasta_out : FASTA of the records called viral, copied byte for byte from the input (gzip when it ends in .gz);
        the input is read a second time, so it must be a file.
    bedgraph : calibrated window probabilities as bedGraph (0-based), each window over the bases nearest its centre.
    manifest : write ``OUTPUT.json`` (version, model sha256, input size and sha256, options, counts, wall time);
        not for an output to standard output.

    exact_windows : score every window on its own, zero-padded at its edges, as the model was trained. Otherwise a
        ResVG runs its trunk once per base and scores the windows away from a record's ends from it (faster, and
        the stride costs nothing; see :mod:`resgenome.fullconv_scoring`). Other models always score per window.
    precision : ``fp32`` or ``bf16`` (neural models); without native bf16 on the device, fp32 and a warning.

    Returns
    -------
    dict with records, windows, scored_windows, viral_windows, skipped, bases, the count of each call, output, method
    (``fullconv`` or ``exact``), precision and warnings (lines for the user).
    """
    options = CallOptions(fdr, min_length, max_n_fraction)
    options.check()
    skipped_path = None if is_stdio(output) else Path(output).with_name(Path(output).name + ".skipped.tsv")
    if skip_invalid and skipped_path is None:
        raise ResgenomeError("--skip-invalid writes OUTPUT.skipped.tsv beside the output: give --output a file name")
    manifest_path = None if (not manifest or is_stdio(output)) else Path(output).with_name(Path(output).name + ".json")
    model_file = None if isinstance(model, Predictor) else _model_file(model)
    check_paths({"--model": model_file, "--input": input_path},
                {"--output": output, "--output (skipped list)": skipped_path if skip_invalid else None,
                 "--output (manifest)": manifest_path, "--fasta-out": fasta_out, "--bedgraph": bedgraph})  # fmt: skip
    if fasta_out is not None and (is_stdio(input_path) or _is_stream(input_path)):
        raise ResgenomeError("--fasta-out copies the called records from the input in a second pass: give --input a"
                             " file, not a stream")  # fmt: skip
    tune_allocator()
    if batch_size < 1:
        raise ResgenomeError(f"--batch-size {batch_size}: must be positive")
    shard = parse_shard(shard)
    if shard and fdr is not None and fasta_out is not None:
        raise ResgenomeError("--fasta-out with --shard and --fdr: q-values need the whole run; merge the parts with"
                             " merge-predictions and call at the FDR there")  # fmt: skip
    if precision not in PRECISIONS:
        raise ResgenomeError(f"--precision {precision}: choose {' or '.join(PRECISIONS)}")
    target, warnings = model.device if isinstance(model, Predictor) else pick_device(device or "auto"), []
    if precision == "bf16" and not bf16_native(target):
        warnings.append(f"--precision bf16: this {target.type} has no native bf16 (AVX512-BF16 or AMX); scored in fp32")
        precision = "fp32"
    if isinstance(model, Predictor):
        predictor = _viral_at(model, batch_size, precision)
    else:
        predictor = Predictor.load(model, task="viral", device=target, batch_size=batch_size, precision=precision)
    warn_if_uncalibrated(predictor.calibration, predictor.source, both_strands)
    if not 1 <= stride <= predictor.window:
        raise ResgenomeError(f"--stride {stride}: must be between 1 and the model's window, {predictor.window}")
    # a shard part and the manifest name the model file by its sha256
    model_sha256 = _sha256(model_file) if model_file is not None and (shard or manifest_path) else None
    shard_line = None
    if shard is not None:
        if model_file is None:  # a part records the sha256 of its model's file, which a Predictor in memory lacks
            raise ResgenomeError("shard: give the model as a file, whose sha256 the part records")
        if is_stdio(output) or _is_stream(output):
            raise ResgenomeError("--shard writes a part for merge-predictions, whose first line is completed once the"
                                 " input is read: give --output a file name")  # fmt: skip
        settings = (f"window={predictor.window},stride={stride},per_window={int(per_window)},"
                    f"both_strands={int(both_strands)},skip_invalid={int(skip_invalid)},fdr={fdr},"
                    f"min_length={min_length},max_n_fraction={max_n_fraction},"
                    f"exact_windows={int(exact_windows)},precision={precision}")  # fmt: skip
        shard_line = _ShardLine(shard, model_sha256, settings)
    info = {"name": predictor.model_name, "kind": predictor.kind, "training": predictor.metadata,
            "source": predictor.source}  # fmt: skip
    outputs = RunOutputs(None if fasta_out is None else Path(fasta_out), None if bedgraph is None else Path(bedgraph),
                         Manifest(model_file, model_sha256, info) if manifest_path else None)  # fmt: skip
    run = ViralPrediction(predictor, input_path, Path(output), stride=stride, per_window=per_window,
                          both_strands=both_strands, shard=shard, skip_invalid=skip_invalid, progress=progress,
                          shard_line=shard_line, options=options, outputs=outputs,
                          exact_windows=exact_windows)  # fmt: skip
    run.stats["warnings"] += warnings
    return run.run()


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _write_fasta(fasta_out: Path, path: Path, called: set[int]) -> None:
    """The called records, copied from the input (gzip-compressed when ``fasta_out`` ends in .gz)."""
    with open_output(fasta_out, "wb") as handle:
        if fasta_out.suffix == ".gz":
            with gzip.GzipFile(fileobj=handle, mode="wb") as zipped:  # closing it leaves ``handle`` open
                copy_records(path, called, zipped)
        else:
            copy_records(path, called, handle)


def _model_file(model_path: str | os.PathLike) -> Path:
    """DIR/model.pt for a run folder given as the model, else the path itself."""
    path = Path(model_path)
    return path / "model.pt" if path.is_dir() else path


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _is_stream(path: str | os.PathLike) -> bool:
    """True for an output written in place (FIFO, device, /dev/stdout): it cannot be completed afterwards."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode)


@dataclass
class _ShardLine:
    """The first line of a shard part: which shard, of which input, model and settings.

    The input is known only once it has been read (it may be a stream), so the line is written first with a
    placeholder of the same length and completed in place at the end (the part is a regular file, not yet renamed).
    """

    shard: tuple[int, int]
    model_sha256: str
    settings: str

    def text(self, size: int, sha256: str) -> str:
        i, n = self.shard
        return (f"{SHARD_TAG}\t{i}/{n}\tinput={size:020d}:{sha256}\tmodel={self.model_sha256}\t"
                f"{self.settings}\n")  # fmt: skip

    def placeholder(self) -> str:
        return self.text(0, "0" * 64)

    def complete(self, handle, size: int, sha256: str) -> None:
        handle.flush()
        os.pwrite(handle.fileno(), self.text(size, sha256).encode("ascii"), 0)


def _viral_at(predictor: Predictor, batch_size: int, precision: str) -> Predictor:
    """The loaded ``predictor`` scoring ``batch_size`` windows per pass in ``precision`` (a shallow copy sharing its
    model when either differs: scores depend in the last bits on batching, so a run scores as ``predict viral``
    would)."""
    if predictor.task != "viral":
        raise ResgenomeError(
            f"{predictor.source}: this is a {predictor.task} model; predicting contigs needs a viral model"
        )
    if (predictor.batch_size, predictor.precision) == (batch_size, precision):
        return predictor
    resized = copy.copy(predictor)
    resized.batch_size, resized.precision = batch_size, precision
    return resized


def _drain(spool, out) -> None:
    """Copy the spooled rows of the finished record to ``out`` (None: drop them), and empty the spool."""
    spool.seek(0)
    if out is not None:
        shutil.copyfileobj(spool, out)
        spool.seek(0)
    spool.truncate()


class _Progress:
    """A progress bar over the bytes of the input, so that its ETA holds for plain and compressed input alike, with the
    bases read and bases per second beside it. Without a known size (a pipe) it counts bytes without an ETA. Drawn
    only on a terminal (logs and tests stay clean)."""

    def __init__(self, enabled: bool, total: int | None):
        self.bar, self.n_bases = None, 0
        if enabled:
            self.bar = tqdm(desc="scoring", total=total, unit="B", unit_scale=True, disable=None, dynamic_ncols=True,
                            leave=False)  # fmt: skip

    def read(self, offset: int) -> None:
        """Bytes of the input read so far."""
        if self.bar is not None:
            self.bar.update(offset - self.bar.n)

    def bases(self, n: int) -> None:
        self.n_bases += n
        if self.bar is not None and not self.bar.disable:
            rate = self.n_bases / max(self.bar.format_dict["elapsed"], 1e-9)
            self.bar.set_postfix_str(f"{self.n_bases / 1e6:.1f} Mbp, {rate / 1e6:.2f} Mbp/s", refresh=False)

    def __enter__(self) -> "_Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


# ------------------------------------------------------------------------------------------------- merging
@dataclass
class _Part:
    """An open shard part: its shard line's fields, its column names and its rows ``(record, line)``."""

    source: Input
    name: str
    shard: tuple[int, int]
    input: str
    model: str
    settings: str
    header: list[str]
    rows: Iterator[tuple[int, str]]


def _read_part(path: str | os.PathLike) -> _Part:
    source = open_input(path, _PART_EXPECTED)
    name = source.name
    handle = source.text()
    try:
        first = handle.readline()
        fields = first.rstrip("\n").split("\t")
        if fields[0] != SHARD_TAG:
            raise ResgenomeError(f"{name}: not a `predict viral --shard` part (no shard line first); merge the parts of"
                                 " one --shard run")  # fmt: skip
        try:
            _, which, input_id, model, settings = fields
            i, n = (int(x) for x in which.split("/"))
        except ValueError:
            raise ResgenomeError(f"{name}: damaged shard line {first.strip()[:80]!r}") from None
        header = handle.readline().rstrip("\n").split("\t")
        if "record" not in header:
            raise ResgenomeError(f"{name}: not a `predict viral` output (no 'record' column)")
    except BaseException:
        source.close()
        raise
    column = header.index("record")

    def rows() -> Iterator[tuple[int, str]]:
        for number, line in enumerate(handle, 3):
            fields = line.rstrip("\n").split("\t")
            try:
                yield int(fields[column]), line
            except (IndexError, ValueError):
                raise ResgenomeError(f"{name}: line {number}: no record index; is the file complete?") from None

    return _Part(source, name, (i, n), input_id, model, settings, header, rows())


def merge_predictions(parts: list[str | os.PathLike], output: str | os.PathLike) -> int:
    """Join the outputs of ``predict_viral(..., shard=...)`` back into input order; return the number of rows.

    The parts must be exactly shards 0 to n-1, once each, of one run: the same input (size and sha256), model
    (sha256) and settings, as their shard lines say; otherwise nothing is written and the message names the missing,
    repeated or foreign part. Each part is in input order, so a streaming k-way merge on the ``record`` column
    restores the order of the unsharded output (the rows of a per-window output stay grouped by record); a contig
    table gets its q-values (and calls at an FDR) recomputed over all parts
    (:class:`~resgenome.viral_calls.MergedCalls`, the FDR read from the shard lines, which must agree like every
    setting). The parts of a ``skip_invalid`` run also merge their ``PART.skipped.tsv`` lists into
    ``OUTPUT.skipped.tsv``. ``-`` reads one part from standard input, or writes the output to standard output.
    """
    if not parts:
        raise ResgenomeError("merge-predictions: give at least one part")
    check_paths({"PARTS": list(parts)}, {"--output": output})
    opened: list[_Part] = []
    with ExitStack() as stack:
        for path in parts:
            opened.append(_read_part(path))
            stack.callback(opened[-1].source.close)
        _check_shard_set(opened)
        side_paths = side_output = None
        if "skip_invalid=1" in opened[0].settings.split(","):
            side_paths, side_output = _skipped_lists(parts, opened, output)
            check_paths({"PARTS": side_paths}, {"--output (skipped list)": side_output})
            side = [_read_part(p) for p in side_paths]
            for part in side:
                stack.callback(part.source.close)
            _check_shard_set(side)
        n = _merge(opened, output)
        if side_paths:
            _merge(side, side_output)
    return n


def _check_shard_set(parts: list[_Part]) -> None:
    """Refuse anything but shards 0..n-1 of one run, each once, naming the part at fault."""
    first = parts[0]
    n = first.shard[1]
    for part in parts[1:]:
        for what, mine, theirs in (("shard count", part.shard[1], n), ("input", part.input, first.input),
                                   ("model", part.model, first.model), ("settings", part.settings, first.settings),
                                   ("columns", part.header, first.header)):  # fmt: skip
            if mine != theirs:
                raise ResgenomeError(f"{part.name}: a part of another run than {first.name} (its {what} differs);"
                                     " merge the parts of one --shard run")  # fmt: skip
    seen: dict[int, str] = {}
    for part in parts:
        i = part.shard[0]
        if i in seen:
            raise ResgenomeError(f"{part.name}: shard {i}/{n} again (also {seen[i]}); give each part once")
        seen[i] = part.name
    missing = [i for i in range(n) if i not in seen]
    if missing:
        have = ", ".join(f"{i}/{n} from {seen[i]}" for i in sorted(seen))
        raise ResgenomeError(f"merge-predictions: shard {missing[0]}/{n} is missing"
                             f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; have {have};"
                             " nothing was written")  # fmt: skip


def _skipped_lists(parts, opened: list[_Part], output) -> tuple[list[Path], Path]:
    """The ``PART.skipped.tsv`` beside each part of a ``skip_invalid`` run, and ``OUTPUT.skipped.tsv``."""
    if is_stdio(output):
        raise ResgenomeError("the parts carry skipped lists (--skip-invalid): give --output a file name, so that"
                             " OUTPUT.skipped.tsv can be written beside it")  # fmt: skip
    side = []
    for path, part in zip(parts, opened):
        if is_stdio(path):
            raise ResgenomeError(f"{part.name}: its skipped list cannot be found beside standard input; give the"
                                 " part as a file")  # fmt: skip
        side.append(Path(path).with_name(Path(path).name + ".skipped.tsv"))
        if not side[-1].is_file():
            raise ResgenomeError(f"{part.name}: written with --skip-invalid, but its list {side[-1]} is missing")
    return side, Path(output).with_name(Path(output).name + ".skipped.tsv")


def _tag(rows: Iterator[tuple[int, str]], part: int) -> Iterator[tuple[int, int, str]]:
    for record, line in rows:
        yield record, part, line


def _merge(parts: list[_Part], output) -> int:
    header = parts[0].header
    # a contig table's q-values (and FDR calls) are recomputed over all parts: see MergedCalls
    calls = MergedCalls(header, fdr_of_settings(parts[0].settings)) if "q_value" in header else None
    n = 0
    last, owner = -1, {}
    with open_output(output, "w", newline="") as handle:
        handle.write("\t".join(header) + "\n")
        tagged = [_tag(part.rows, k) for k, part in enumerate(parts)]
        for record, k, line in heapq.merge(*tagged, key=lambda t: t[0]):
            if record < last or (record == last and owner[record] != k):
                raise ResgenomeError(
                    f"{parts[k].name}: record {record} is out of order or also in {parts[owner.get(record, k)].name};"
                    " parts must be distinct shards of one run"
                )
            owner = {record: k}
            last = record
            if calls is not None:
                calls.add(line)
            else:
                handle.write(line if line.endswith("\n") else line + "\n")
            n += 1
        if calls is not None:
            calls.write(handle)
    return n
