"""Score real samples with a viral model: contigs of any length, streamed, windowed, batched across records.

A contig is cut into model-length windows, exactly those of :func:`resgenome.data.encoding.windows` on the whole
sequence; windows of consecutive records fill one batch; a contig's score is the max (and mean) of its windows'
scores. Memory stays flat whatever the file or record size: a FASTA record is read in pieces of
:data:`~resgenome.data.readers.PIECE_BASES` bases (:func:`~resgenome.data.readers.iter_fasta_pieces`), its
windows are cut (:class:`~resgenome.data.encoding.WindowCutter`) and scored as the pieces arrive with only the last
window's worth of bases carried from one piece to the next, and a row is written as soon as its record is complete.
With ``skip_invalid`` the per-window rows of the record being read wait in a temporary file that spills to disk,
since an illegal character late in the record must drop them all. Every row carries the record's index in the input
(``record``), so the parts written with ``shard=(i, n)`` merge back into the unsharded output
(:func:`merge_predictions`). A ViraMiner CSV (300-bp rows) is read whole.

One run is a :class:`ViralPrediction`: it reads pieces, hands each record's bases to a scoring path and writes the
rows of the records the path reports complete. Two paths: for a ResVG by default,
:class:`~resgenome.fullconv_scoring.FullConvScoring` runs the network's trunk once along each record and takes the
windows away from its ends from there (the stride then costs nothing; windows near the ends keep their own score);
with ``exact_windows``, and for every other model, :class:`PerWindowScoring` scores every window by itself through
the :class:`~resgenome.predictor.Predictor`.
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
from tqdm.auto import tqdm

from .data import readers
from .data.encoding import WindowCutter
from .data.readers import RecordPiece
from .errors import ResgenomeError
from .fullconv_scoring import FullConvScoring
from .io import atomic_open
from .machine import bf16_native
from .models.fullconv import PRECISIONS
from .predictor import Predictor, pick_device
from .runtime import tune_allocator

CONTIG_COLUMNS = ["seq_id", "length", "n_windows", "score", "score_mean", "label", "padded", "record"]
WINDOW_COLUMNS = ["seq_id", "start", "end", "score", "record"]
SKIPPED_COLUMNS = ["seq_id", "reason", "record"]
_WINDOWS_PER_CHUNK = 4096  # windows handed to the batcher at a time (views of the piece: no copy is made)
_PIECE_BASES = readers.PIECE_BASES  # bases read from a FASTA record at a time; tests make it tiny
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
                credit(self.owner[lo], self.starts[lo:hi], scores[lo:hi], self.on_windows)
            self.owner = []
        yield from self.ready()

    def ready(self) -> Iterator[_Record]:
        """The records, in input order, whose windows are all known (``n_windows`` set) and scored."""
        while self.pending and self.pending[0].scored == self.pending[0].n_windows:
            yield self.pending.popleft()


def credit(record: _Record, starts: np.ndarray, scores: np.ndarray,
           on_windows: Callable[[_Record, np.ndarray, np.ndarray], None] | None) -> None:  # fmt: skip
    """Add scored windows of ``record`` (in start order) to its count, max and sum; pass them on to ``on_windows``."""
    record.scored += len(scores)
    record.best = max(record.best, float(scores.max()))
    record.total += float(scores.sum())
    if on_windows is not None:
        on_windows(record, starts, scores)


class PerWindowScoring:
    """The per-window scoring path: each record's windows are cut on the stride grid as its bases arrive
    (:class:`~resgenome.data.encoding.WindowCutter`), batched across consecutive records (:class:`_Batcher`) and
    scored by ``score`` one batch at a time.

    Every method that can complete records returns an iterator over them, in input order.
    """

    def __init__(self, score: Callable[[np.ndarray], np.ndarray], window: int, stride: int, batch_size: int,
                 on_windows: Callable[[_Record, np.ndarray, np.ndarray], None] | None = None):  # fmt: skip
        self.window, self.stride = window, stride
        self.batcher = _Batcher(score, batch_size, window, on_windows)
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
            yield from self.batcher.add(record, *closing)
        record.n_windows, record.padded = self.cutter.n_windows, record.length < self.window

    def drop(self, record: _Record) -> None:
        """``record`` turned out invalid: forget its windows."""
        self.batcher.drop(record)

    def ready(self) -> Iterator[_Record]:
        return self.batcher.ready()

    def flush(self) -> Iterator[_Record]:
        """Score what is left in the batch (at the end of the input)."""
        return self.batcher.flush()


class ViralPrediction:
    """One ``predict viral`` run: pieces in, rows out (see the module docstring and :func:`predict_viral`)."""

    def __init__(self, predictor: Predictor, input_path: Path, output: Path, *, stride: int, per_window: bool,
                 both_strands: bool, shard: tuple[int, int] | None, skip_invalid: bool, progress: bool,
                 exact_windows: bool = False):  # fmt: skip
        self.predictor, self.path, self.output = predictor, input_path, output
        self.window = predictor.window
        self.per_window, self.both_strands, self.skip_invalid = per_window, both_strands, skip_invalid
        self.shard, self.progress = shard, progress
        on_windows = self.write_windows if per_window else None
        scanner = None if exact_windows else predictor.scanner()
        if scanner is None:
            self.scoring = PerWindowScoring(self.score, self.window, stride, predictor.batch_size, on_windows)
        else:
            self.scoring = FullConvScoring(scanner, self.score, stride=stride, batch_size=predictor.batch_size,
                                           both_strands=both_strands,
                                           on_scores=lambda r, starts, p: credit(r, starts, p, on_windows))  # fmt: skip
        self.stats = {"records": 0, "windows": 0, "skipped": 0, "viral": 0, "bases": 0, "output": str(output),
                      "method": "exact" if scanner is None else "fullconv", "precision": predictor.precision,
                      "warnings": []}  # fmt: skip
        self.out = self.skipped = self.spool = None

    def score(self, codes: np.ndarray) -> np.ndarray:
        """Probabilities of a batch of windows, (W, window) uint8 -> (W,) float64."""
        return self.predictor.score_windows(codes, both_strands=self.both_strands)

    def run(self) -> dict:
        """Read, score and write everything; returns the counts (records, windows, skipped, viral, bases)."""
        mine = (lambda k: k % self.shard[1] == self.shard[0]) if self.shard else (lambda k: True)
        with ExitStack() as stack:
            self._open_outputs(stack)
            bar = stack.enter_context(_Progress(self.progress, self.path))
            record: _Record | None = None
            for piece in _pieces(self.path, mine, self.skip_invalid, bar.read):
                if record is None or piece.index != record.index:
                    record = _Record(piece.index, piece.record)
                    self.scoring.start(record)
                bar.bases(len(piece.codes))
                self.add_piece(record, piece)
            self.write_records(self.scoring.flush())
        return self.stats

    def _open_outputs(self, stack: ExitStack) -> None:
        """The output (and with ``skip_invalid`` the skipped-records file and the spool), written atomically."""
        self.out = stack.enter_context(atomic_open(self.output, "w", newline=""))
        self.out.write("\t".join(WINDOW_COLUMNS if self.per_window else CONTIG_COLUMNS) + "\n")
        if self.skip_invalid:
            skipped_path = self.output.with_name(self.output.name + ".skipped.tsv")
            self.skipped = stack.enter_context(atomic_open(skipped_path, "w", newline=""))
            self.skipped.write("\t".join(SKIPPED_COLUMNS) + "\n")
        if self.per_window and self.skip_invalid:
            self.spool = stack.enter_context(tempfile.SpooledTemporaryFile(_SPOOL_BYTES, "w+", newline=""))

    def add_piece(self, record: _Record, piece: RecordPiece) -> None:
        """Score the bases of one piece; at the record's last piece, close it and write what is complete."""
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
        self.stats["bases"] += record.length
        self.write_records(self.scoring.ready())

    def skip(self, record: _Record, error: ResgenomeError) -> None:
        """Drop an invalid record (and its windows already scored) and list it in the skipped-records file."""
        self.scoring.drop(record)
        if self.spool is not None:
            _drain(self.spool, None)
        self.stats["skipped"] += 1
        reason = str(error).removeprefix(f"{self.path}: ").replace("\t", " ")
        self.skipped.write(f"{record.seq_id}\t{reason}\t{record.index}\n")

    def write_windows(self, record: _Record, starts: np.ndarray, scores: np.ndarray) -> None:
        """Per-window rows, as soon as they are scored."""
        ends = np.minimum(starts + self.window, record.length)
        rows = "".join(f"{record.seq_id}\t{a}\t{b}\t{p:.6f}\t{record.index}\n"
                       for a, b, p in zip(starts.tolist(), ends.tolist(), scores.tolist()))  # fmt: skip
        # the record still being read may yet turn out invalid: its rows wait in the spool
        (self.spool if self.spool is not None and record.n_windows is None else self.out).write(rows)

    def write_records(self, records: Iterator[_Record]) -> None:
        """Count each completed record and, unless per window, write its contig row."""
        threshold = self.predictor.threshold
        for record in records:
            self.stats["records"] += 1
            self.stats["windows"] += record.n_windows
            if record.best >= threshold:
                self.stats["viral"] += 1
            if self.per_window:
                continue  # its windows were written as they were scored
            label = "viral" if record.best >= threshold else "non-viral"
            mean = record.total / record.n_windows
            self.out.write(f"{record.seq_id}\t{record.length}\t{record.n_windows}\t{record.best:.6f}\t{mean:.6f}\t"
                           f"{label}\t{int(record.padded)}\t{record.index}\n")  # fmt: skip


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
    batch_size : windows per forward pass (scores depend on it in the last bits, as batching does everywhere).
    shard : ``"i/n"``: score only records k with ``k % n == i``; :func:`merge_predictions` joins the parts.
    skip_invalid : skip records with an illegal character or without sequence, list them in ``OUTPUT.skipped.tsv``
        (seq_id, reason, record); without it the first such record is an error naming the file, line and record.
    device : ``cpu``, ``cuda`` or None (CUDA when present).
    exact_windows : score every window on its own, zero-padded at its edges, as the model was trained. Otherwise a
        ResVG runs its trunk once per base and scores the windows away from a record's ends from it (faster, and
        the stride costs nothing; see :mod:`resgenome.fullconv_scoring`). Other models always score per window.
    precision : ``fp32`` or ``bf16`` (neural models); without native bf16 on the device, fp32 and a warning.

    Returns
    -------
    dict with records, windows, skipped, viral, bases, output, method (``fullconv`` or ``exact``), precision and
    warnings (lines for the user).
    """
    tune_allocator()
    if batch_size < 1:
        raise ResgenomeError(f"--batch-size {batch_size}: must be positive")
    if precision not in PRECISIONS:
        raise ResgenomeError(f"--precision {precision}: choose {' or '.join(PRECISIONS)}")
    target, warnings = pick_device(device or "auto"), []
    if precision == "bf16" and not bf16_native(target):
        warnings.append(f"--precision bf16: this {target.type} has no native bf16 (AVX512-BF16 or AMX); scored in fp32")
        precision = "fp32"
    predictor = Predictor.load(model_path, task="viral", device=target, batch_size=batch_size, precision=precision)
    if not 1 <= stride <= predictor.window:
        raise ResgenomeError(f"--stride {stride}: must be between 1 and the model's window, {predictor.window}")
    run = ViralPrediction(predictor, Path(input_path), Path(output), stride=stride, per_window=per_window,
                          both_strands=both_strands, shard=parse_shard(shard), skip_invalid=skip_invalid,
                          progress=progress, exact_windows=exact_windows)  # fmt: skip
    run.stats["warnings"] += warnings
    return run.run()


def _drain(spool, out) -> None:
    """Copy the spooled rows of the finished record to ``out`` (None: drop them), and empty the spool."""
    spool.seek(0)
    if out is not None:
        shutil.copyfileobj(spool, out)
        spool.seek(0)
    spool.truncate()


class _Progress:
    """A progress bar over the bytes of the input file, so that its ETA holds for plain and gzip input alike, with the
    bases read and bases per second beside it. Drawn only on a terminal (logs and tests stay clean)."""

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
