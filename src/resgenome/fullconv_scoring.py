"""The fully convolutional scoring path of ``predict viral``: every base goes through ResVG's trunk once.

:class:`FullConvScoring` plugs into :class:`resgenome.predict.ViralPrediction` beside
:class:`~resgenome.predict.PerWindowScoring`, with the same methods. The windows of a record are those of
:func:`resgenome.data.encoding.window_starts` (0, stride, ..., and one aligned to the end), scored in two ways:

* **inner windows**, whose trunk positions see only bases of the record (start ``s`` with ``s >= left`` and
  ``s + span + right <= length``; 13 and 297 + 16 for ResVG): their logits are means of the trunk's position logits
  over the record (:mod:`resgenome.models.fullconv`), computed once per base and summed with cumulative sums;
* **edge windows** (the first window, the one aligned to the end, any other reaching within the receptive field of
  an end, and the single N-padded window of a record shorter than the model): scored on their own, by the same
  function as the per-window path (``--exact-windows``), so they keep its scores exactly.

Both kinds come out as raw log-odds (``logit1 - logit0``, the mean over both strands with ``both_strands``, clipped
to :data:`~resgenome.calibration.MAX_LOG_ODDS`), like the per-window path's, and a window with more N than
``max_n_fraction`` among its own bases is not scored (NaN), by the same rule (:func:`resgenome.calls.scorable`;
for inner windows from a running count of N codes), so both paths feed one aggregation
(:func:`resgenome.predict.credit`).

Streaming: a record arrives in pieces; the trunk positions that its newly confirmed inner windows need are queued as
*segments* (record positions ``[a, b)`` with their ``left`` and ``right`` bases of context), and segments of
consecutive records are packed end to end into the rows of one batch, each with its own context, so a batch is full
whatever the contig lengths (a segment is split across rows when needed, each part again with its context). A row's
output at a segment's positions is exact: it sees only that segment's bases. Edge windows wait in a batch of their
own. Both batches are scored together, and the results are handed back in the order the work was queued, so each
record's windows come out in start order. With ``both_strands`` each row is also scored reverse complemented (one
flip of the whole row), and the reversed outputs of each segment line up with the forward ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from .calibration import MAX_LOG_ODDS
from .calls import scorable
from .data.encoding import CODE_N, one_hot, reverse_complement
from .models.fullconv import WindowScanner, window_logits

#: Bases per row of a trunk batch and rows per batch: 4 x 8192 bases per call, about the per-window path's batch of
#: 256 x 300; measured on one core, 2k to 128k bases per call run at the same speed within noise.
ROW_BASES, ROWS = 8192, 4
#: A segment is not split to leave a part of fewer positions than this in a row (each part costs its context again).
_MIN_PART = 256


@dataclass
class _Track:
    """One record's progress: what has been read, queued and delivered."""

    record: object
    buf: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint8))  # bases from `buf_start` on
    buf_start: int = 0
    n: int = 0  # bases read
    next_grid: int = 0  # first window start on the stride grid not yet classified
    first_inner: int | None = None  # start of the first inner window: trunk positions are queued from there
    queued: int = 0  # trunk positions [first_inner, queued) are queued
    needed: int = 0  # ... and [first_inner, needed) are needed by the inner windows confirmed so far
    last_inner: int = -1  # the last confirmed inner window
    usable: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))  # N rule, confirmed undelivered inner
    next_inner: int = 0  # the first inner window not yet delivered
    origin: int = 0  # record position of csum[0]
    csum: list = field(default_factory=list)  # per strand: (P + 1, C) float64 cumulative sums from `origin`
    outstanding: int = 0  # queued jobs not yet delivered
    finished: bool = False
    dropped: bool = False

    def codes(self, lo: int, hi: int) -> np.ndarray:
        return self.buf[lo - self.buf_start : hi - self.buf_start]


@dataclass
class _Segment:
    track: _Track
    a: int  # record positions [a, b)
    b: int
    row: int  # row of the batch and offset of the segment's first base (position a - left)
    offset: int


@dataclass
class _Edge:
    track: _Track
    starts: np.ndarray
    lo: int  # windows [lo, hi) of the edge batch
    hi: int


def count_windows(length: int, window: int, stride: int) -> int:
    """``len(window_starts(length, window, stride))`` without building the starts."""
    if length <= window:
        return 1
    return (length - window) // stride + 1 + ((length - window) % stride > 0)


class FullConvScoring:
    """Scores the windows of records streamed in pieces, in input order (see the module docstring).

    Parameters
    ----------
    scanner : WindowScanner
        The model's trunk (on its device, in its precision), e.g. :meth:`resgenome.predictor.Predictor.scanner`.
    score_windows : callable
        ``(K, window) uint8 codes -> (K,) float64 raw log-odds``, clipped: the per-window path, for edge windows
        (the mean with the reverse complement's included when ``both_strands``).
    stride : int
    batch_size : int
        Edge windows per batch.
    both_strands : bool
        Average each inner window's log-odds with that of its reverse complement.
    max_n_fraction : float
        Windows with a larger fraction of N among their own bases are not scored (raw log-odds NaN).
    on_scores : callable
        ``on_scores(record, starts, raw)`` receives each record's windows in start order (raw log-odds, NaN where
        not scored), the records in input order.
    rows, row_bases : int
        The trunk's batch: rows of bases into which segments are packed.

    The calls per record are :meth:`start`, :meth:`add` for each piece, then :meth:`finish` (or :meth:`drop`); every
    method that can complete records returns an iterator over them, in input order, to be exhausted before the
    next call. After :meth:`finish`'s iterator is exhausted, ``record.n_windows`` and ``record.padded`` are set.
    """

    def __init__(self, scanner: WindowScanner, score_windows: Callable[[np.ndarray], np.ndarray], *, stride: int,
                 batch_size: int, both_strands: bool, max_n_fraction: float,
                 on_scores: Callable[[object, np.ndarray, np.ndarray], None],
                 rows: int = ROWS, row_bases: int = ROW_BASES):  # fmt: skip
        self.scanner, self.score_windows, self.on_scores = scanner, score_windows, on_scores
        self.window, self.stride, self.both_strands = scanner.window, stride, both_strands
        self.left, self.right, self.span = scanner.left, scanner.right, scanner.span
        self.context = self.left + self.right
        self.max_n_fraction = max_n_fraction
        # an inner window's own bases are read once its trunk positions' context is: its N count is taken then
        assert self.span + self.right >= self.window, "a window's bases must lie within its trunk positions' context"
        if row_bases < self.context + 1:
            raise ValueError(f"rows of {row_bases} bases cannot hold a position and its {self.context} of context")
        self.rows = np.full((rows, row_bases), CODE_N, dtype=np.uint8)
        self.edges = np.empty((batch_size, self.window), dtype=np.uint8)
        self.edge_usable = np.empty(batch_size, dtype=bool)
        self.row, self.fill, self.n_edges = 0, 0, 0
        self.jobs: list[_Segment | _Edge] = []
        self.tracks: deque[_Track] = deque()

    # ------------------------------------------------------------------------------------------- reading
    def start(self, record) -> None:
        """A new record begins."""
        self.tracks.append(_Track(record))

    def add(self, record, codes: np.ndarray) -> Iterator:
        """The next bases of ``record`` (uint8 codes)."""
        t = self.tracks[-1]
        t.buf = np.concatenate([t.buf, codes]) if len(t.buf) else np.asarray(codes, dtype=np.uint8)
        t.n += len(codes)
        # grid windows whose bases are all read: near the start, edge windows for good; then inner ones as far as
        # their context is read too; the rest wait for more bases (or the end)
        last_edge = min(self.left - 1, t.n - self.window)
        if t.next_grid <= last_edge:
            self._edge(t, np.arange(t.next_grid, last_edge + 1, self.stride))
            t.next_grid += ((last_edge - t.next_grid) // self.stride + 1) * self.stride
        last_inner = t.n - self.span - self.right
        if self.left <= t.next_grid <= last_inner:
            if t.first_inner is None:
                t.first_inner = t.queued = t.needed = t.next_inner = t.origin = t.next_grid
            t.last_inner = t.next_grid + (last_inner - t.next_grid) // self.stride * self.stride
            confirmed = np.arange(t.next_grid, t.last_inner + 1, self.stride)
            t.usable = np.concatenate([t.usable, self._usable(t, confirmed)])
            t.needed, t.next_grid = t.last_inner + self.span, t.last_inner + self.stride
        self._queue_positions(t)
        self._trim(t)
        return self.ready()

    def finish(self, record) -> Iterator:
        """``record`` has no more bases: queue its last positions and its end windows."""
        t = self.tracks[-1]
        self._queue_positions(t)
        # the grid windows not yet classified reach within the receptive field of the end; then the window aligned
        # to the end, unless the grid ends there, or a short record's one N-padded window
        ends = list(range(t.next_grid, t.n - self.window + 1, self.stride))
        if t.n < self.window or (t.n - self.window) % self.stride:
            ends.append(max(t.n - self.window, 0))
        if ends:
            self._edge(t, np.array(ends))
        done = list(self.ready())  # records completed so far: not this one, which is not finished yet
        t.finished = True
        record.n_windows, record.padded = count_windows(t.n, self.window, self.stride), t.n < self.window
        return iter(done)

    def drop(self, record) -> None:
        """``record`` turned out invalid: its queued work is scored but not delivered."""
        if self.tracks and self.tracks[-1].record is record:
            self.tracks.pop().dropped = True

    def ready(self) -> Iterator:
        """The records, in input order, whose windows have all been delivered."""
        while self.tracks and self.tracks[0].finished and self.tracks[0].outstanding == 0:
            yield self.tracks.popleft().record

    def flush(self) -> Iterator:
        """Score what is queued (at the end of the input)."""
        self._score()
        return self.ready()

    def _usable(self, t: _Track, starts: np.ndarray) -> np.ndarray:
        """The N rule for whole windows starting at ``starts`` (K,) whose bases are in ``t.buf``: (K,) bool, as
        :func:`~resgenome.calls.scorable` decides it, from a running count of N codes (not a (K, window) copy)."""
        n_count = np.concatenate([[0], np.cumsum(t.buf == CODE_N)])
        lo = starts - t.buf_start
        return (n_count[lo + self.window] - n_count[lo]) / self.window <= self.max_n_fraction

    def _trim(self, t: _Track) -> None:
        """Keep only the bases that queued-to-be work can still need."""
        keep = min(t.next_grid - self.left, t.n - self.window)
        if t.first_inner is not None:
            keep = min(keep, t.queued - self.left)
        keep = max(keep, 0)
        if keep > t.buf_start:
            t.buf = t.buf[keep - t.buf_start :].copy()  # a copy, so the piece it came from can be freed
            t.buf_start = keep

    # ------------------------------------------------------------------------------------------- queueing
    def _edge(self, t: _Track, starts: np.ndarray) -> None:
        for start in starts.tolist():
            if self.n_edges == len(self.edges):
                self._score()
            cut = t.codes(start, start + self.window)
            self.edges[self.n_edges, : len(cut)] = cut
            self.edges[self.n_edges, len(cut) :] = CODE_N  # only a record shorter than the window
            # a short record's padding is not missing sequence: the N rule looks at its own bases only
            self.edge_usable[self.n_edges] = scorable(cut[None, :], self.max_n_fraction)[0]
            self.jobs.append(_Edge(t, np.array([start]), self.n_edges, self.n_edges + 1))
            t.outstanding += 1
            self.n_edges += 1

    def _queue_positions(self, t: _Track) -> None:
        """Pack the trunk positions ``[queued, needed)`` of ``t`` into rows, each part with its context."""
        width = self.rows.shape[1]
        while t.queued < t.needed:
            room = width - self.fill - self.context
            if self.fill and room < min(t.needed - t.queued, _MIN_PART):  # an empty row takes any part
                self.row, self.fill = self.row + 1, 0
                if self.row == len(self.rows):
                    self._score()
                continue
            a = t.queued
            b = min(t.needed, a + room)
            self.rows[self.row, self.fill : self.fill + b - a + self.context] = t.codes(a - self.left, b + self.right)
            self.jobs.append(_Segment(t, a, b, self.row, self.fill))
            t.outstanding += 1
            t.queued = b
            self.fill += b - a + self.context

    # ------------------------------------------------------------------------------------------- scoring
    def _score(self) -> None:
        """Score everything queued and deliver it, in queue order."""
        if not self.jobs:
            return
        # rows beyond `used`, and the ends of rows beyond their last segment, may hold bases of earlier batches:
        # harmless, as no output that is used sees them
        used = self.row + (self.fill > 0)
        logits = strand_logits = None
        if used:
            rows = self.rows[:used]
            logits = self.scanner.position_logits(one_hot(rows)).numpy()
            if self.both_strands:
                strand_logits = self.scanner.position_logits(one_hot(reverse_complement(rows))).numpy()
        edge_scores = np.full(self.n_edges, np.nan)
        usable = self.edge_usable[: self.n_edges]
        if usable.any():
            edge_scores[usable] = self.score_windows(self.edges[: self.n_edges][usable])
        jobs, self.jobs = self.jobs, []
        self.row, self.fill, self.n_edges = 0, 0, 0
        width = self.rows.shape[1]
        for job in jobs:
            t = job.track
            t.outstanding -= 1
            if t.dropped:
                continue
            if isinstance(job, _Edge):
                self.on_scores(t.record, job.starts, edge_scores[job.lo : job.hi])
                continue
            first = job.offset + self.left  # row position of record position a
            z = [logits[job.row, first : first + job.b - job.a]]
            if strand_logits is not None:
                # the reversed row holds this segment's bases at [width - offset - length, width - offset); position
                # p of the record lines up with reversed-row position width - offset - right - 1 - (p - a)
                end = width - job.offset - self.right
                z.append(strand_logits[job.row, end - (job.b - job.a) : end][::-1])
            self._deliver(t, job.a, job.b, z)

    def _deliver(self, t: _Track, a: int, b: int, z: list[np.ndarray]) -> None:
        """Trunk logits of record positions ``[a, b)`` (one array per strand): score the inner windows they complete."""
        if not t.csum:
            t.csum = [np.zeros((1, part.shape[1])) for part in z]
        t.csum = [np.concatenate([c, c[-1] + np.cumsum(part, axis=0, dtype=np.float64)]) for c, part in zip(t.csum, z)]
        last = min(t.last_inner, b - self.span)
        if last >= t.next_inner:
            starts = np.arange(t.next_inner, last + 1, self.stride)
            raw = sum(np.diff(window_logits(c, starts - t.origin, self.span, self.scanner.bias), axis=1)[:, 0]
                      for c in t.csum) / len(t.csum)  # fmt: skip
            raw = np.clip(raw, -MAX_LOG_ODDS, MAX_LOG_ODDS)
            usable, t.usable = t.usable[: len(starts)], t.usable[len(starts) :]
            raw[~usable] = np.nan
            t.next_inner = int(starts[-1]) + self.stride
            self.on_scores(t.record, starts, raw)
        cut = min(t.next_inner, b) - t.origin  # sums before the next window to score are no longer needed
        t.csum = [c[cut:] for c in t.csum]
        t.origin += cut
