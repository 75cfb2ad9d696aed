"""Score real samples with a viral model: contigs of any length, streamed, windowed, batched across records.

A contig is cut into model-length windows, exactly those of :func:`resgenome.data.sequences.windows` on the whole
sequence; windows of consecutive records fill one batch. Windows with too much N are not scored; the others get calibrated
probabilities, and a contig gets a p-value, a q-value and a call (:mod:`resgenome.viral_calls`, :mod:`resgenome.calls`).
Because q-values need every p-value of the run, contig rows wait in a temporary file and the table is written after
the last record; the FASTA of called contigs is copied from the input in a second pass. Memory stays flat whatever the file or record size: a FASTA record is read in pieces of
:data:`~resgenome.data.sequences.PIECE_BASES` bases (:func:`~resgenome.data.sequences.iter_fasta_pieces`), its
windows are cut and scored as the pieces arrive with only the last window's worth of bases carried from one piece to
the next, and a row is written as soon as its record is complete. With ``skip_invalid`` the per-window rows of the
record being read wait in a temporary file that spills to disk, since an illegal character late in the record must
drop them all. Every row carries the record's index in the input (``record``), so the parts written with
``shard=(i, n)`` merge back into the unsharded output (:func:`merge_predictions`). A ViraMiner CSV (300-bp rows) is
read whole.
"""

from __future__ import annotations

import gzip
import heapq
import os
import shutil
import tempfile
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .calls import DEFAULT_MAX_N_FRACTION, DEFAULT_MIN_LENGTH
from .data import sequences
from .data.sequences import RecordPiece, SequenceSet
from .errors import ResgenomeError
from .io import atomic_open
from .runtime import tune_allocator
from .train import pick_device
from .viral_calls import (
    CONTIG_COLUMNS,
    BedGraph,
    CallOptions,
    ContigTable,
    Manifest,
    PartCalls,
    Tally,
    WindowEvidence,
    copy_records,
    warn_if_uncalibrated,
    window_filter,
    write_manifest,
)

WINDOW_COLUMNS = ["seq_id", "start", "end", "score", "record"]
SKIPPED_COLUMNS = ["seq_id", "reason", "record"]
_WINDOWS_PER_CHUNK = 4096  # windows handed to the batcher at a time (views of the piece: no copy is made)
_PIECE_BASES = sequences.PIECE_BASES  # bases read from a FASTA record at a time; tests make it tiny
_SPOOL_BYTES = 1 << 20  # per-window rows of an unfinished record kept in memory before spilling to disk


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


def _pieces(path: Path, select: Callable[[int], bool], skip_invalid: bool) -> Iterator[RecordPiece]:
    """The records ``select`` accepts, as pieces in input order (see :func:`sequences.iter_fasta_pieces`).

    Records of other shards are passed over unchecked: each record's problems are reported by the shard owning it.
    A ViraMiner CSV is read whole and each row is one piece.
    """
    if sequences.is_fasta(path):
        yield from sequences.iter_fasta_pieces(path, _PIECE_BASES, select=select, skip_invalid=skip_invalid)
        return
    table = sequences.read_viral_csv(path, length=None)
    for index, seq_id in enumerate(table.ids):
        if select(index):
            yield RecordPiece(seq_id, index, 0, table.codes[index], last=True)


class _WindowCutter:
    """Cuts the windows of one record from its pieces as they arrive.

    The starts and contents are those of :func:`sequences.windows` on the whole record (0, stride, 2*stride, ...,
    then one aligned to the end, or one N-padded window for a short record), but only the last ``window`` bases are
    carried from one piece to the next: enough for the next window on the stride grid and for the final one.
    """

    def __init__(self, window: int, stride: int):
        self.window, self.stride = window, stride
        self.tail = np.empty(0, dtype=np.uint8)  # the last `window` bases read, or all of them while fewer
        self.length = 0  # bases read
        self.next_start = 0  # the first start on the stride grid not yet cut
        self.n_windows = 0

    def add(self, codes: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(windows, starts)`` of the grid windows these bases complete: shapes (W, window) and (W,), W at most
        :data:`_WINDOWS_PER_CHUNK`. The windows are views of a scratch array, valid until the next call."""
        seq = np.concatenate([self.tail, codes])
        offset = self.length - len(self.tail)  # record position of seq[0]
        self.length += len(codes)
        self.tail = seq[-self.window :].copy()  # a copy, so that seq can be freed
        first, stop = self.next_start, self.length - self.window + 1  # starts below stop have all their bases
        if stop <= first:
            return
        n = (stop - 1 - first) // self.stride + 1
        self.next_start, self.n_windows = first + n * self.stride, self.n_windows + n
        view = sliding_window_view(seq, self.window)
        step = self.stride * _WINDOWS_PER_CHUNK
        for lo in range(first, stop, step):
            starts = np.arange(lo, min(lo + step, stop), self.stride)
            yield view[starts[0] - offset : starts[-1] - offset + 1 : self.stride], starts

    def finish(self) -> tuple[np.ndarray, np.ndarray] | None:
        """After the last piece: the closing window and its start, shapes (1, window) and (1,), or None when the grid
        already ends with the record."""
        if self.length >= self.window and (self.length - self.window) % self.stride == 0:
            return None
        cut, _, _ = sequences.windows(self.tail, self.window, self.stride)
        self.n_windows += 1
        return cut, np.array([max(self.length - self.window, 0)])


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
                record = self.owner[lo]
                record.scored += hi - lo
                probabilities = self.evidence.tally(record.tally, raw[lo:hi])
                if self.on_windows is not None:
                    self.on_windows(record, self.starts[lo:hi], probabilities)
            self.owner = []
        yield from self.ready()

    def ready(self) -> Iterator[_Record]:
        """The records, in input order, whose windows are all known (``n_windows`` set) and scored."""
        while self.pending and self.pending[0].scored == self.pending[0].n_windows:
            yield self.pending.popleft()


def predict_viral(
    model_path: str | os.PathLike,
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
) -> dict:
    """Score and call every contig of a FASTA / FASTA.gz / ViraMiner CSV with a saved viral model; write a TSV.

    Parameters
    ----------
    model_path : DIR/model.pt of a viral model (neural or k-mer).
    input_path : sequences of any length; longer than the model's window -> windows every ``stride`` bases (the
        last aligned to the end); shorter -> padded with N and flagged ``padded``.
    output : TSV with columns :data:`~resgenome.viral_calls.CONTIG_COLUMNS` (calibrated ``score_max`` /
        ``score_mean`` over scored windows, the count and fraction of viral-looking windows, ``p_value``,
        ``q_value``, ``call`` viral / non-viral / no-call and its ``reason``), or with ``per_window`` one row per
        window (:data:`WINDOW_COLUMNS`; start 0-based, end exclusive; score = calibrated probability, NA when not
        scored). Written atomically: nothing on error.
    both_strands : score each window and its reverse complement and average their log-odds.
    shard : ``"i/n"``: score only records k with ``k % n == i``; :func:`merge_predictions` joins the parts and
        recomputes the q-values over all of them.
    skip_invalid : skip records with an illegal character or without sequence, list them in ``OUTPUT.skipped.tsv``
        (seq_id, reason, record); without it the first such record is an error naming the file, line and record.
    device : ``cpu``, ``cuda`` or None (CUDA when present).
    fdr : call by Benjamini-Hochberg q-value at this false discovery rate; None -> by p-value at the model's null
        rate (:mod:`resgenome.calls`).
    min_length, max_n_fraction : records shorter than ``min_length`` are ``no-call``; windows with more N than
        ``max_n_fraction`` are not scored.
    fasta_out : FASTA of the records called viral, copied byte for byte from the input (gzip when it ends in .gz).
    bedgraph : calibrated window probabilities as bedGraph (0-based), each window over the bases nearest its centre.
    manifest : write ``OUTPUT.json`` (version, model and input sha256, options, counts, wall time).

    Returns
    -------
    dict with records, windows, scored_windows, viral_windows, skipped, bases, counts per call, output.
    """
    from .pipeline import load_model

    started = time.perf_counter()
    tune_allocator()
    options = CallOptions(fdr, min_length, max_n_fraction)
    options.check()
    ckpt, scorer = load_model(model_path, task="viral")
    warn_if_uncalibrated(ckpt, model_path)
    window = int(ckpt["preprocessing"]["seq_length"])
    if not 1 <= stride <= window:
        raise ResgenomeError(f"--stride {stride}: must be between 1 and the model's window, {window}")
    if batch_size < 1:
        raise ResgenomeError(f"--batch-size {batch_size}: must be positive")
    shard = parse_shard(shard)
    if shard and fdr is not None and fasta_out is not None:
        raise ResgenomeError("--fasta-out with --shard and --fdr: q-values need the whole run; merge the parts with"
                             " merge-predictions and call at the FDR there")  # fmt: skip
    path, output = Path(input_path), Path(output)
    run = Manifest(model_path, ckpt, path) if manifest else None
    evidence = WindowEvidence(ckpt, both_strands)
    score = _raw_scorer(ckpt, scorer, path, batch_size, both_strands, device)
    mine = (lambda k: k % shard[1] == shard[0]) if shard else (lambda k: True)
    stats = {"records": 0, "windows": 0, "scored_windows": 0, "viral_windows": 0, "skipped": 0, "bases": 0,
             "output": str(output)}  # fmt: skip

    def write_windows(record: _Record, starts: np.ndarray, probabilities: np.ndarray) -> None:
        if graph is not None:
            graph.add(record, starts, probabilities)
        if not per_window:
            return
        ends = np.minimum(starts + window, record.length)
        rows = "".join(f"{record.seq_id}\t{a}\t{b}\t{'NA' if np.isnan(p) else f'{p:.6f}'}\t{record.index}\n"
                       for a, b, p in zip(starts.tolist(), ends.tolist(), probabilities.tolist()))  # fmt: skip
        # the record still being read may yet turn out invalid: its rows wait in the spool
        (spool if spool is not None and record.n_windows is None else out).write(rows)

    def write(record: _Record) -> None:
        stats["records"] += 1
        stats["windows"] += record.n_windows
        stats["scored_windows"] += record.tally.n_scored
        stats["viral_windows"] += record.tally.viral
        if graph is not None:
            graph.finish(record)
        if not per_window:
            table.add(record.seq_id, record.index, record.length, record.n_windows, record.padded, record.tally)

    skipped_path = output.with_name(output.name + ".skipped.tsv")
    with ExitStack() as stack:
        out = stack.enter_context(atomic_open(output, "w", newline=""))
        graph = None
        if bedgraph is not None:
            graph = BedGraph(stack.enter_context(atomic_open(bedgraph, "w", newline="")), window, skip_invalid)
        table = ContigTable(evidence, options, stride=stride, window=window)
        usable_windows = window_filter(max_n_fraction)
        batcher = _Batcher(score, batch_size, window, evidence, usable_windows, write_windows)
        if per_window:
            out.write("\t".join(WINDOW_COLUMNS) + "\n")
        skipped = stack.enter_context(atomic_open(skipped_path, "w", newline="")) if skip_invalid else None
        if skipped:
            skipped.write("\t".join(SKIPPED_COLUMNS) + "\n")
        spool = None
        if per_window and skip_invalid:
            spool = stack.enter_context(tempfile.SpooledTemporaryFile(_SPOOL_BYTES, "w+", newline=""))
        bar = stack.enter_context(_progress(progress))
        record: _Record | None = None
        for piece in _pieces(path, mine, skip_invalid):
            if record is None or piece.index != record.index:
                record, cutter = _Record(piece.index, piece.record), _WindowCutter(window, stride)
            bar.update(len(piece.codes))
            if piece.error is not None:
                batcher.drop(record)
                if spool is not None:
                    _drain(spool, None)
                if graph is not None:
                    graph.drop(record)
                stats["skipped"] += 1
                reason = str(piece.error).removeprefix(f"{path}: ").replace("\t", " ")
                skipped.write(f"{record.seq_id}\t{reason}\t{record.index}\n")
                continue
            record.length += len(piece.codes)  # before its windows are scored: a padded window's end needs it
            for cut, starts in cutter.add(piece.codes):
                for done in batcher.add(record, cut, starts):
                    write(done)
            if not piece.last:
                continue
            closing = cutter.finish()
            if closing is not None:
                cut, starts = closing
                # a short record's padding is not missing sequence: the N rule looks at its own bases only
                usable = usable_windows(cut[:, : record.length]) if record.length < window else None
                for done in batcher.add(record, cut, starts, usable):
                    write(done)
            record.n_windows, record.padded = cutter.n_windows, record.length < window
            if spool is not None:
                _drain(spool, out)
            if graph is not None:
                graph.record_read()
            stats["bases"] += record.length
            for done in batcher.ready():
                write(done)
        for done in batcher.flush():
            write(done)
        if not per_window:
            stats.update(table.write(out))
            if fasta_out is not None:
                _write_fasta(Path(fasta_out), path, table.called())
        if run is not None:
            _write_run_manifest(run, output, evidence, table, stats, started, {
                "stride": stride, "per_window": per_window, "both_strands": both_strands, "batch_size": batch_size,
                "shard": f"{shard[0]}/{shard[1]}" if shard else None, "skip_invalid": skip_invalid,
                "device": device, "fdr": fdr, "min_length": min_length, "max_n_fraction": max_n_fraction,
                "fasta_out": None if fasta_out is None else str(fasta_out),
                "bedgraph": None if bedgraph is None else str(bedgraph)})  # fmt: skip
    return stats


def _write_fasta(fasta_out: Path, path: Path, called: set[int]) -> None:
    """The called records, copied from the input (gzip-compressed when ``fasta_out`` ends in .gz)."""
    with atomic_open(fasta_out, "wb") as handle:
        if fasta_out.suffix == ".gz":
            with gzip.GzipFile(fileobj=handle, mode="wb") as zipped:  # closing it leaves ``handle`` open
                copy_records(path, called, zipped, fasta=sequences.is_fasta(path))
        else:
            copy_records(path, called, handle, fasta=sequences.is_fasta(path))


def _raw_scorer(ckpt: dict, scorer, path: Path, batch_size: int, both_strands: bool,
                device: str | None) -> Callable[[np.ndarray], np.ndarray]:  # fmt: skip
    """``score(codes) -> raw log-odds`` of windows ``(W, L)`` uint8, averaged with the reverse complement's."""
    kwargs = {}
    if ckpt["model"]["kind"] == "neural":
        target = pick_device(device or "auto")
        scorer.model.to(target)  # predict_logits moves the batches, not the model
        kwargs = {"device": target, "batch_size": batch_size}

    def score(codes: np.ndarray) -> np.ndarray:
        z = scorer.log_odds(SequenceSet([""] * len(codes), codes, None, str(path)), **kwargs)
        if both_strands:
            rc = SequenceSet([""] * len(codes), sequences.reverse_complement(codes), None, str(path))
            z = (z + scorer.log_odds(rc, **kwargs)) / 2
        return np.asarray(z, dtype=np.float64)

    return score


def _write_run_manifest(run: Manifest, output: Path, evidence: WindowEvidence, table: ContigTable, stats: dict,
                        started: float, options: dict) -> None:  # fmt: skip
    """OUTPUT.json beside the output (see :class:`resgenome.viral_calls.Manifest`)."""
    outputs = {"table": str(output), "fasta": options["fasta_out"], "bedgraph": options["bedgraph"],
               "skipped": str(output) + ".skipped.tsv" if options["skip_invalid"] else None}  # fmt: skip
    rule = None if options["per_window"] else table.rule()
    payload = run.payload(stats, evidence, rule, time.perf_counter() - started, options, outputs)
    write_manifest(output.with_name(output.name + ".json"), payload)


def _drain(spool, out) -> None:
    """Copy the spooled rows of the finished record to ``out`` (None: drop them), and empty the spool."""
    spool.seek(0)
    if out is not None:
        shutil.copyfileobj(spool, out)
        spool.seek(0)
    spool.truncate()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _progress(enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    # disable=None: drawn only on a terminal, so logs and tests stay clean
    return tqdm(desc="scoring", unit="bp", unit_scale=True, disable=None, dynamic_ncols=True, leave=False)


# ------------------------------------------------------------------------------------------------- merging
def _read_part(path: Path) -> tuple[list[str], Iterator[tuple[int, str]]]:
    try:
        handle = open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise ResgenomeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    header = handle.readline().rstrip("\n").split("\t")
    if "record" not in header:
        handle.close()
        raise ResgenomeError(f"{path}: not a `predict viral` output (no 'record' column)")
    column = header.index("record")

    def rows() -> Iterator[tuple[int, str]]:
        with handle:
            for number, line in enumerate(handle, 2):
                fields = line.rstrip("\n").split("\t")
                try:
                    yield int(fields[column]), line
                except (IndexError, ValueError):
                    raise ResgenomeError(f"{path}: line {number}: no record index; is the file complete?") from None

    return header, rows()


def merge_predictions(parts: list[str | os.PathLike], output: str | os.PathLike) -> int:
    """Join the outputs of ``predict_viral(..., shard=...)`` back into input order; return the number of rows.

    Each part is already in input order, so a streaming k-way merge on the ``record`` column restores the order of
    the unsharded output (the rows of a per-window output stay grouped by record). Contig tables get their q-values
    (and calls at an FDR) recomputed over all parts (:class:`resgenome.viral_calls.PartCalls`). Side files
    ``PART.skipped.tsv`` are merged into ``OUTPUT.skipped.tsv`` when every part has one.
    """
    paths = [Path(p) for p in parts]
    if not paths:
        raise ResgenomeError("merge-predictions: give at least one part")
    n = _merge(paths, Path(output))
    side = [p.with_name(p.name + ".skipped.tsv") for p in paths]
    if all(p.is_file() for p in side):
        _merge(side, Path(output).with_name(Path(output).name + ".skipped.tsv"))
    return n


def _tag(rows: Iterator[tuple[int, str]], part: int) -> Iterator[tuple[int, int, str]]:
    for record, line in rows:
        yield record, part, line


def _merge(paths: list[Path], output: Path) -> int:
    opened = [_read_part(p) for p in paths]
    header = opened[0][0]
    for p, (h, _) in zip(paths, opened):
        if h != header:
            raise ResgenomeError(f"{p}: its columns differ from those of {paths[0]}; parts of different runs?")
    calls = PartCalls(paths, header) if "q_value" in header else None
    n = 0
    last, owner = -1, {}
    with atomic_open(output, "w", newline="") as handle:
        handle.write("\t".join(header) + "\n")
        tagged = [_tag(rows, k) for k, (_, rows) in enumerate(opened)]
        for record, k, line in heapq.merge(*tagged, key=lambda t: t[0]):
            if record < last or (record == last and owner[record] != k):
                raise ResgenomeError(
                    f"{paths[k]}: record {record} is out of order or also in {paths[owner.get(record, k)]};"
                    " parts must be distinct shards of one run"
                )
            owner = {record: k}
            last = record
            if calls is not None:
                line = calls.rewrite(k, line)
            handle.write(line if line.endswith("\n") else line + "\n")
            n += 1
    return n
