"""Score real samples with a viral model: contigs of any length, streamed, windowed, batched across records.

A contig is cut into model-length windows (:func:`resgenome.data.sequences.windows`); windows of consecutive
records fill one batch; a contig's score is the max (and mean) of its windows' scores. Memory stays flat: at most one
record (as read by :func:`~resgenome.data.sequences.read_fasta`), one chunk of its windows and one batch are held,
and output rows are written as soon as their record is complete. Every row carries the record's index in the input
(``record``), so the parts written with ``shard=(i, n)`` merge back into the unsharded output
(:func:`merge_predictions`).
"""

from __future__ import annotations

import heapq
import os
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .data import sequences
from .data.sequences import SequenceSet
from .errors import InputError, ResgenomeError
from .io import atomic_open
from .train import pick_device

CONTIG_COLUMNS = ["seq_id", "length", "n_windows", "score", "score_mean", "label", "padded", "record"]
WINDOW_COLUMNS = ["seq_id", "start", "end", "score", "record"]
SKIPPED_COLUMNS = ["seq_id", "reason", "record"]
_WINDOWS_PER_CHUNK = 4096  # windows cut from one record at a time: 4096 x 300 bytes = 1.2 MB of codes


@dataclass
class _Record:
    """A contig whose windows are (being) scored."""

    index: int
    seq_id: str
    length: int
    n_windows: int
    padded: bool
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


def _is_fasta(path: Path) -> bool:
    if not path.exists():
        raise InputError(f"{path}: file not found; expected FASTA (plain or gzip) or a ViraMiner CSV")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; expected FASTA (plain or gzip) or a ViraMiner CSV")
    # sequences.read_sequences decides the same way; its helper is private, so this is the one shared dependency
    return sequences._first_character(path, str(path)) == b">"


def _records(path: Path, skip: Callable[[int], bool]) -> Iterator[tuple[int, str, bytes | np.ndarray | None]]:
    """(index, id, sequence) of every record in input order; sequence None for records ``skip`` rejects.

    FASTA records come as raw bytes (encoded later, so one bad record can be skipped); CSV rows as codes.
    """
    if _is_fasta(path):
        for index, (seq_id, raw) in enumerate(sequences.read_fasta(path, validate=False)):
            yield index, seq_id, None if skip(index) else raw
    else:
        table = sequences.read_viral_csv(path, length=None)
        for index, seq_id in enumerate(table.ids):
            yield index, seq_id, None if skip(index) else table.codes[index]


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

    def flush(self) -> Iterator[_Record]:
        n = len(self.owner)
        if n:
            scores = self.score(self.codes[:n])
            # windows of one record are contiguous in the batch: aggregate per run of equal owners
            bounds = [0] + [i for i in range(1, n) if self.owner[i] is not self.owner[i - 1]] + [n]
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                record, part = self.owner[lo], scores[lo:hi]
                record.scored += hi - lo
                record.best = max(record.best, float(part.max()))
                record.total += float(part.sum())
                if self.on_windows is not None:
                    self.on_windows(record, self.starts[lo:hi], part)
            self.owner = []
        while self.pending and self.pending[0].scored == self.pending[0].n_windows:
            yield self.pending.popleft()


def _window_chunks(codes: np.ndarray, window: int, stride: int) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """(windows, starts, padded) of one record, at most :data:`_WINDOWS_PER_CHUNK` windows at a time.

    A long record is cut into overlapping sub-sequences whose windows are exactly the record's windows, so a whole
    chromosome never needs its full window array in memory.
    """
    starts = sequences.window_starts(len(codes), window, stride)
    for lo in range(0, len(starts), _WINDOWS_PER_CHUNK):
        chunk = starts[lo : lo + _WINDOWS_PER_CHUNK]
        end = len(codes) if lo + _WINDOWS_PER_CHUNK >= len(starts) else chunk[-1] + window
        cut, n, padded = sequences.windows(codes[chunk[0] : end], window, stride)
        if n != len(chunk):  # cannot happen while windows() and window_starts() agree; guards a silent misalignment
            raise RuntimeError(f"window chunk of {n} windows for {len(chunk)} starts")
        yield cut, chunk, padded


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
    skip_invalid : skip records with illegal characters, list them in ``OUTPUT.skipped.tsv`` (seq_id, reason);
        without it the first such record is an error naming the file and record.
    device : ``cpu``, ``cuda`` or None (CUDA when present).

    Returns
    -------
    dict with records, windows, skipped, viral, bases, output.
    """
    from .pipeline import load_model

    ckpt, scorer = load_model(model_path, task="viral")
    window = int(ckpt["preprocessing"]["seq_length"])
    if not 1 <= stride <= window:
        raise ResgenomeError(f"--stride {stride}: must be between 1 and the model's window, {window}")
    if batch_size < 1:
        raise ResgenomeError(f"--batch-size {batch_size}: must be positive")
    threshold = float(ckpt["threshold"])
    shard = parse_shard(shard)
    path, output = Path(input_path), Path(output)
    kwargs = {}
    if ckpt["model"]["kind"] == "neural":
        target = pick_device(device or "auto")
        scorer.model.to(target)  # predict_logits moves the batches, not the model
        kwargs = {"device": target, "batch_size": batch_size}

    def score(codes: np.ndarray) -> np.ndarray:
        batch = SequenceSet([""] * len(codes), codes, None, str(path))
        p = scorer(batch, **kwargs)
        if both_strands:
            rc = SequenceSet(batch.ids, sequences.reverse_complement(codes), None, str(path))
            p = (p + scorer(rc, **kwargs)) / 2
        return np.asarray(p, dtype=np.float64)

    mine = (lambda k: k % shard[1] != shard[0]) if shard else (lambda k: False)
    stats = {"records": 0, "windows": 0, "skipped": 0, "viral": 0, "bases": 0, "output": str(output)}
    def write_windows(record: _Record, starts: np.ndarray, scores: np.ndarray) -> None:
        ends = np.minimum(starts + window, record.length)
        out.write("".join(f"{record.seq_id}\t{a}\t{b}\t{p:.6f}\t{record.index}\n"
                          for a, b, p in zip(starts.tolist(), ends.tolist(), scores.tolist())))  # fmt: skip

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
        batcher = _Batcher(score, batch_size, window, write_windows if per_window else None)
        out.write("\t".join(WINDOW_COLUMNS if per_window else CONTIG_COLUMNS) + "\n")
        skipped = stack.enter_context(atomic_open(skipped_path, "w", newline="")) if skip_invalid else None
        if skipped:
            skipped.write("\t".join(SKIPPED_COLUMNS) + "\n")
        bar = stack.enter_context(_progress(progress))
        for index, seq_id, raw in _records(path, mine):
            if raw is None:
                continue
            if isinstance(raw, np.ndarray):
                codes = raw
            else:
                try:
                    codes = sequences.encode(raw, source=str(path), record=repr(seq_id))
                except InputError as exc:
                    if not skip_invalid:
                        raise
                    stats["skipped"] += 1
                    reason = str(exc).split(": ", 2)[-1].replace("\t", " ")
                    skipped.write(f"{seq_id}\t{reason}\t{index}\n")
                    continue
            starts = sequences.window_starts(len(codes), window, stride)
            record = _Record(index, seq_id, len(codes), len(starts), len(codes) < window)
            for cut, chunk_starts, _ in _window_chunks(codes, window, stride):
                for done in batcher.add(record, cut, chunk_starts):
                    write(out, done)
                    bar.update(done.length)
            stats["bases"] += len(codes)
        for done in batcher.flush():
            write(out, done)
            bar.update(done.length)
    return stats


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
