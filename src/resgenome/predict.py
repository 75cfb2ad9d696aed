"""Score real samples with a viral model: contigs of any length, streamed, windowed, batched across records.

A contig is cut into model-length windows, exactly those of :func:`resgenome.data.sequences.windows` on the whole
sequence; windows of consecutive records fill one batch; a contig's score is the max (and mean) of its windows'
scores. Memory stays flat whatever the file or record size: a FASTA record is read in pieces of
:data:`~resgenome.data.sequences.PIECE_BASES` bases (:func:`~resgenome.data.sequences.iter_fasta_pieces`), its
windows are cut and scored as the pieces arrive with only the last window's worth of bases carried from one piece to
the next, and a row is written as soon as its record is complete. With ``skip_invalid`` the per-window rows of the
record being read wait in a temporary file that spills to disk, since an illegal character late in the record must
drop them all. Every row carries the record's index in the input (``record``), so the parts written with
``shard=(i, n)`` merge back into the unsharded output (:func:`merge_predictions`). A ViraMiner CSV (300-bp rows) is
read whole.

Two ways to score the windows: for ResVG by default, each base goes once through the network's trunk and a window's
score comes from the mean of the trunk's output over it (:mod:`resgenome.predict_fullconv`; windows at a record's
ends keep their own score); with ``exact_windows`` (and for every other model) each window is scored on its own
(:class:`_ExactWindows`). Both feed the same records, rows and order.
"""

from __future__ import annotations

import heapq
import os
import shutil
import tempfile
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from tqdm.auto import tqdm

from .data import sequences
from .data.sequences import RecordPiece, SequenceSet
from .errors import ResgenomeError
from .io import atomic_open
from .models.fullconv import PRECISIONS, WindowScanner
from .predict_fullconv import FullConvWindows
from .runtime import tune_allocator
from .train import bf16_native, pick_device

CONTIG_COLUMNS = ["seq_id", "length", "n_windows", "score", "score_mean", "label", "padded", "record"]
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
    scored: int = 0
    best: float = -np.inf
    total: float = 0.0

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


def _pieces(path: Path, select: Callable[[int], bool], skip_invalid: bool,
            on_read: Callable[[int], None] | None = None) -> Iterator[RecordPiece]:  # fmt: skip
    """The records ``select`` accepts, as pieces in input order (see :func:`sequences.iter_fasta_pieces`).

    Records of other shards are passed over unchecked: each record's problems are reported by the shard owning it.
    A ViraMiner CSV is read whole and each row is one piece.
    """
    if sequences.is_fasta(path):
        yield from sequences.iter_fasta_pieces(path, _PIECE_BASES, select=select, skip_invalid=skip_invalid,
                                               on_read=on_read)  # fmt: skip
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
                 on_windows: Callable[[_Record, np.ndarray, np.ndarray], None] | None = None):  # fmt: skip
        # on_windows(record, starts, scores) receives every scored window at once, in input order, so per-window
        # output of a whole chromosome never accumulates in memory
        self.score, self.batch_size, self.on_windows = score, batch_size, on_windows
        self.codes = np.empty((batch_size, window), dtype=np.uint8)
        self.owner: list[_Record] = []
        self.starts = np.empty(batch_size, dtype=np.int64)
        self.pending: deque[_Record] = deque()

    def add(self, record: _Record, window_codes: np.ndarray, starts: np.ndarray) -> Iterator[_Record]:
        if not self.pending or self.pending[-1] is not record:
            self.pending.append(record)
        offset = 0
        while offset < len(window_codes):
            room = self.batch_size - len(self.owner)
            take = min(room, len(window_codes) - offset)
            n = len(self.owner)
            self.codes[n : n + take] = window_codes[offset : offset + take]
            self.starts[n : n + take] = starts[offset : offset + take]
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
            scores = self.score(self.codes[:n])
            # windows of one record are contiguous in the batch: aggregate per run of equal owners
            bounds = [0] + [i for i in range(1, n) if self.owner[i] is not self.owner[i - 1]] + [n]
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                _credit(self.owner[lo], self.starts[lo:hi], scores[lo:hi], self.on_windows)
            self.owner = []
        yield from self.ready()

    def ready(self) -> Iterator[_Record]:
        """The records, in input order, whose windows are all known (``n_windows`` set) and scored."""
        while self.pending and self.pending[0].scored == self.pending[0].n_windows:
            yield self.pending.popleft()


def _credit(record: _Record, starts: np.ndarray, scores: np.ndarray,
            on_windows: Callable[[_Record, np.ndarray, np.ndarray], None] | None) -> None:  # fmt: skip
    """Add scored windows of ``record`` (in start order) to its max and sum, and pass them on to ``on_windows``."""
    record.scored += len(scores)
    record.best = max(record.best, float(scores.max()))
    record.total += float(scores.sum())
    if on_windows is not None:
        on_windows(record, starts, scores)


class _ExactWindows:
    """Every window cut and scored on its own (:class:`_WindowCutter` + :class:`_Batcher`), behind the interface of
    :class:`~resgenome.predict_fullconv.FullConvWindows`: add, finish, drop, flush, ready."""

    def __init__(self, score: Callable[[np.ndarray], np.ndarray], batch_size: int, window: int, stride: int,
                 on_windows: Callable[[_Record, np.ndarray, np.ndarray], None] | None):  # fmt: skip
        self.window, self.stride = window, stride
        self.batcher = _Batcher(score, batch_size, window, on_windows)
        self.record, self.cutter, self.done = None, None, deque()

    def add(self, record: _Record, codes: np.ndarray) -> None:
        if record is not self.record:
            self.record, self.cutter = record, _WindowCutter(self.window, self.stride)
        for cut, starts in self.cutter.add(codes):
            self.done.extend(self.batcher.add(record, cut, starts))

    def finish(self, record: _Record) -> int:
        closing = self.cutter.finish()
        if closing is not None:
            self.done.extend(self.batcher.add(record, *closing))
        return self.cutter.n_windows

    def drop(self, record: _Record) -> None:
        self.batcher.drop(record)

    def flush(self) -> None:
        self.done.extend(self.batcher.flush())

    def ready(self) -> Iterator[_Record]:
        while self.done:
            yield self.done.popleft()
        yield from self.batcher.ready()


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
    exact_windows: bool = False,
    precision: str = "fp32",
) -> dict:
    """Score every contig of a FASTA / FASTA.gz / ViraMiner CSV with a saved viral model; write a TSV.

    Parameters
    ----------
    model_path : DIR/model.pt of a viral model (neural or k-mer).
    input_path : sequences of any length; longer than the model's window -> windows every ``stride`` bases (the
        last aligned to the end); shorter -> padded with N and flagged ``padded``.
    output : TSV with columns :data:`CONTIG_COLUMNS` (``score`` = max over windows, ``score_mean`` = mean, ``label``
        viral / non-viral at the model's saved threshold on ``score``), or with ``per_window`` one row per window
        (:data:`WINDOW_COLUMNS`; start 0-based, end exclusive). Written atomically: nothing on error.
    both_strands : score each window and its reverse complement and average the two.
    shard : ``"i/n"``: score only records k with ``k % n == i``; :func:`merge_predictions` joins the parts.
    skip_invalid : skip records with an illegal character or without sequence, list them in ``OUTPUT.skipped.tsv``
        (seq_id, reason, record); without it the first such record is an error naming the file, line and record.
    device : ``cpu``, ``cuda`` or None (CUDA when present).
    exact_windows : score every window on its own, zero-padded at its edges, as the model was trained; otherwise a
        ResVG computes its trunk once per base and scores the windows away from a record's ends from it (faster,
        and the stride costs nothing; see :mod:`resgenome.predict_fullconv`). Other models always score per window.
    precision : ``fp32`` or ``bf16`` (neural models; where the device has no native bf16, fp32 is used and a
        warning returned).

    Returns
    -------
    dict with records, windows, skipped, viral, bases, output, method (``fullconv`` or ``exact``), precision and
    warnings (a list of lines for the user).
    """
    from .pipeline import load_model

    tune_allocator()
    ckpt, scorer = load_model(model_path, task="viral")
    window = int(ckpt["preprocessing"]["seq_length"])
    if not 1 <= stride <= window:
        raise ResgenomeError(f"--stride {stride}: must be between 1 and the model's window, {window}")
    if batch_size < 1:
        raise ResgenomeError(f"--batch-size {batch_size}: must be positive")
    threshold = float(ckpt["threshold"])
    shard = parse_shard(shard)
    path, output = Path(input_path), Path(output)
    kwargs, warnings, scanner = {}, [], None
    if precision not in PRECISIONS:
        raise ResgenomeError(f"--precision {precision}: choose {' or '.join(PRECISIONS)}")
    if ckpt["model"]["kind"] == "neural":
        target = pick_device(device or "auto")
        scorer.model.to(target)  # predict_logits moves the batches, not the model
        if precision == "bf16" and not bf16_native(target):
            warnings.append(f"--precision bf16: {target.type} has no native bf16 (AVX512-BF16 or AMX); scored in fp32")
            precision = "fp32"
        kwargs = {"device": target, "batch_size": batch_size, "precision": precision}
        if not exact_windows and ckpt["model"]["name"] == "resvg":
            scanner = WindowScanner(scorer.model.eval(), window, precision=precision, device=target)
    else:
        precision = "fp32"

    def score(codes: np.ndarray) -> np.ndarray:
        batch = SequenceSet([""] * len(codes), codes, None, str(path))
        p = scorer(batch, **kwargs)
        if both_strands:
            rc = SequenceSet(batch.ids, sequences.reverse_complement(codes), None, str(path))
            p = (p + scorer(rc, **kwargs)) / 2
        return np.asarray(p, dtype=np.float64)

    mine = (lambda k: k % shard[1] == shard[0]) if shard else (lambda k: True)
    stats = {"records": 0, "windows": 0, "skipped": 0, "viral": 0, "bases": 0, "output": str(output),
             "method": "exact" if scanner is None else "fullconv", "precision": precision, "warnings": warnings}

    def write_windows(record: _Record, starts: np.ndarray, scores: np.ndarray) -> None:
        ends = np.minimum(starts + window, record.length)
        rows = "".join(f"{record.seq_id}\t{a}\t{b}\t{p:.6f}\t{record.index}\n"
                       for a, b, p in zip(starts.tolist(), ends.tolist(), scores.tolist()))  # fmt: skip
        # the record still being read may yet turn out invalid: its rows wait in the spool
        (spool if spool is not None and record.n_windows is None else out).write(rows)

    def write(handle, record: _Record) -> None:
        stats["records"] += 1
        stats["windows"] += record.n_windows
        if record.best >= threshold:
            stats["viral"] += 1
        if per_window:
            return  # its windows were written as they were scored
        label = "viral" if record.best >= threshold else "non-viral"
        mean = record.total / record.n_windows
        handle.write(f"{record.seq_id}\t{record.length}\t{record.n_windows}\t{record.best:.6f}\t{mean:.6f}\t"
                     f"{label}\t{int(record.padded)}\t{record.index}\n")  # fmt: skip

    skipped_path = output.with_name(output.name + ".skipped.tsv")
    with ExitStack() as stack:
        out = stack.enter_context(atomic_open(output, "w", newline=""))
        on_windows = write_windows if per_window else None
        if scanner is None:
            windows = _ExactWindows(score, batch_size, window, stride, on_windows)
        else:
            windows = FullConvWindows(scanner, score, stride=stride, batch_size=batch_size, both_strands=both_strands,
                                      on_scores=lambda r, starts, p: _credit(r, starts, p, on_windows))  # fmt: skip
        out.write("\t".join(WINDOW_COLUMNS if per_window else CONTIG_COLUMNS) + "\n")
        skipped = stack.enter_context(atomic_open(skipped_path, "w", newline="")) if skip_invalid else None
        if skipped:
            skipped.write("\t".join(SKIPPED_COLUMNS) + "\n")
        spool = None
        if per_window and skip_invalid:
            spool = stack.enter_context(tempfile.SpooledTemporaryFile(_SPOOL_BYTES, "w+", newline=""))
        bar = stack.enter_context(_Progress(progress, path))
        record: _Record | None = None
        for piece in _pieces(path, mine, skip_invalid, bar.read):
            if record is None or piece.index != record.index:
                record = _Record(piece.index, piece.record)
            bar.bases(len(piece.codes))
            if piece.error is not None:
                windows.drop(record)
                if spool is not None:
                    _drain(spool, None)
                stats["skipped"] += 1
                reason = str(piece.error).removeprefix(f"{path}: ").replace("\t", " ")
                skipped.write(f"{record.seq_id}\t{reason}\t{record.index}\n")
                continue
            record.length += len(piece.codes)  # before its windows are scored: a padded window's end needs it
            windows.add(record, piece.codes)
            if piece.last:
                record.n_windows, record.padded = windows.finish(record), record.length < window
                if spool is not None:
                    _drain(spool, out)
                stats["bases"] += record.length
            for done in windows.ready():
                write(out, done)
        windows.flush()
        for done in windows.ready():
            write(out, done)
    return stats


def _drain(spool, out) -> None:
    """Copy the spooled rows of the finished record to ``out`` (None: drop them), and empty the spool."""
    spool.seek(0)
    if out is not None:
        shutil.copyfileobj(spool, out)
        spool.seek(0)
    spool.truncate()


class _Progress:
    """A progress bar over the bytes of the input file, so that its ETA holds for plain and gzip input alike, with the
    bases read per second beside it. Drawn only on a terminal (logs and tests stay clean)."""

    def __init__(self, enabled: bool, path: Path):
        self.bar, self.n_bases = None, 0
        if enabled:
            total = path.stat().st_size if path.is_file() else None
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
    the unsharded output (the rows of a per-window output stay grouped by record). Side files
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
            handle.write(line if line.endswith("\n") else line + "\n")
            n += 1
    return n
