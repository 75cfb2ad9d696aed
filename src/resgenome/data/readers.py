"""Reading DNA files: ViraMiner CSV, FASTA (whole records or streamed in pieces), label TSVs, and the sequence set.

Every bad file is reported as one :class:`~resgenome.errors.InputError` naming the file and the line or record.
FASTA files are streamed: record by record (:func:`read_fasta`), or in pieces of bounded size whatever the record
length (:func:`iter_fasta_pieces`). Bases become codes through :mod:`resgenome.data.encoding`'s lookup table.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..errors import InputError
from ..io import Input, input_name, open_input
from .encoding import _ALLOWED, _LOOKUP, _WHITESPACE, VIRAL_LENGTH, _describe, _first_illegal, _hint

__all__ = [
    "experiment_of", "SequenceSet", "read_viral_csv", "read_fasta", "PIECE_BASES", "RecordPiece",
    "iter_fasta_pieces", "iter_fasta_codes", "read_label_tsv", "is_fasta", "read_sequences",
]  # fmt: skip

#: Bases per piece of :func:`iter_fasta_pieces` by default: 1 MiB of codes, whatever the record length.
PIECE_BASES = 1 << 20

_BOM = b"\xef\xbb\xbf"  # spreadsheet programs put it at the start of exported CSVs
_BLOCK = 1 << 20  # FASTA read size: memory use beyond the current record is about one block
_MAX_HEADER = 1 << 20  # a longer "header" means the file is not FASTA; refusing it keeps memory bounded

_CSV_EXPECTED = "a ViraMiner CSV with lines seq_id,sequence,label"
_FASTA_EXPECTED = "a FASTA file ('>id' header lines, each followed by sequence lines), plain, gzip, bzip2 or xz"
_TSV_EXPECTED = "a label file with lines seq_id<TAB>label, label 0 or 1"

# Inside a FASTA record line breaks (and stray spaces) are legal; the check table lets them through.
_FASTA_CHECK = _LOOKUP.copy()
_FASTA_CHECK[np.frombuffer(_WHITESPACE, dtype=np.uint8)] = 0
_FASTA_CHECK.flags.writeable = False


def experiment_of(seq_id: str) -> str:
    """The ViraMiner experiment of a sequence id: everything after the first underscore.

    ``"seq4977_2014_D3_Diabetes_Hyoty"`` -> ``"2014_D3_Diabetes_Hyoty"``; an id without an underscore has
    experiment ``""``.
    """
    return seq_id.partition("_")[2]



# ------------------------------------------------------------------------------------------------- the set
@dataclass
class SequenceSet:
    """Equal-length sequences with their ids and (optional) labels.

    Attributes
    ----------
    ids : list of str, length N
    codes : np.ndarray, shape (N, L) uint8
    labels : np.ndarray, shape (N,) int64, or None
        1 = viral, 0 = not viral; None for unlabelled sequences.
    source : str
        The file they were read from.
    """

    ids: list[str]
    codes: np.ndarray
    labels: np.ndarray | None
    source: str

    def __post_init__(self) -> None:
        if self.codes.ndim != 2 or len(self.codes) != len(self.ids):
            raise ValueError(f"codes must have shape (N={len(self.ids)}, L), got {self.codes.shape}")
        if self.labels is not None and self.labels.shape != (len(self.ids),):
            raise ValueError(f"labels must have shape ({len(self.ids)},), got {self.labels.shape}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def length(self) -> int:
        """L, the common sequence length."""
        return int(self.codes.shape[1])

    @property
    def experiments(self) -> list[str]:
        """The experiment of each sequence (see :func:`experiment_of`), length N."""
        return [experiment_of(seq_id) for seq_id in self.ids]

    def subset(self, index: np.ndarray) -> "SequenceSet":
        """Rows selected by an integer or boolean index array, in index order."""
        rows = np.arange(len(self))[np.asarray(index)]
        labels = None if self.labels is None else self.labels[rows]
        return SequenceSet([self.ids[i] for i in rows], self.codes[rows], labels, self.source)


# ------------------------------------------------------------------------------------------------- files
def _open(path: str | os.PathLike | Input, expected: str) -> Input:
    """Open once for binary reading (``-`` = standard input), decompressing gzip, bzip2 or xz by their content; an
    :class:`~resgenome.io.Input` already open is shared, not reopened (see :func:`resgenome.io.open_input`)."""
    return open_input(path, expected)


def _read(handle: Input, size: int, name: str, where: str = "") -> bytes:
    """``size`` bytes; a read error or a corrupt compressed stream arrives as one InputError from the Input."""
    return handle.read(size)


def _read_all(source: Input) -> bytes:
    with source as handle:
        data = _read(handle, -1, source.name)
    return data[len(_BOM) :] if data.startswith(_BOM) else data


def _check_text(data: bytes, name: str, expected: str) -> None:
    if not data.strip():
        raise InputError(f"{name}: file is empty; expected {expected}")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise InputError(f"{name}: line {line}: binary content (NUL byte); expected {expected}")


def _snippet(line: bytes, width: int = 40) -> str:
    text = line.strip().decode("utf-8", "replace")
    return text if len(text) <= width else text[:width] + "..."


# ------------------------------------------------------------------------------------------------- ViraMiner CSV
def read_viral_csv(path: str | os.PathLike, *, length: int | None = VIRAL_LENGTH) -> SequenceSet:
    """Read a ViraMiner CSV: lines ``seq_id,sequence,label`` without header (a ``seq_id,sequence,label`` header is
    skipped), label 1 = viral. Windows line endings and gzip, bzip2 or xz content are accepted; ``-`` is standard input.

    Parameters
    ----------
    path : path-like
    length : int or None
        Required sequence length (the models' input length); None requires only that all lengths are equal.

    Returns
    -------
    SequenceSet
        ``codes`` shape (N, length) uint8, ``labels`` shape (N,) int64.

    Raises
    ------
    InputError
        Naming the file and line: missing, directory, empty or binary file; a line without 3 fields; an empty id or
        sequence; an illegal character; a label other than 0/1; a wrong length; a duplicated seq_id.
    """
    source = _open(path, _CSV_EXPECTED)
    name = source.name
    data = _read_all(source)
    _check_text(data, name, _CSV_EXPECTED)

    ids: list[str] = []
    sequences: list[bytes] = []
    labels: list[int] = []
    lines: list[int] = []
    first_seen: dict[str, int] = {}
    header_possible = True
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        fields = line.split(b",")
        if header_possible:
            header_possible = False
            if len(fields) == 3 and fields[1].strip().lower() in (b"sequence", b"seq"):
                continue
        seq_id, sequence, label = _csv_fields(fields, line, number, name)
        if length is not None and len(sequence) != length:
            raise InputError(
                f"{name}: line {number} ({seq_id}): sequence is {len(sequence)} bp, but the model needs {length} bp;"
                f" cut or pad the sequences to {length} bp"
            )
        if sequences and len(sequence) != len(sequences[0]):
            raise InputError(
                f"{name}: line {number} ({seq_id}): sequence is {len(sequence)} bp but the one on line {lines[0]} is"
                f" {len(sequences[0])} bp; all sequences in a file must have the same length"
            )
        previous = first_seen.setdefault(seq_id, number)
        if previous != number:
            raise InputError(
                f"{name}: line {number}: seq_id {seq_id!r} is also on line {previous}; ids must be unique"
            )
        ids.append(seq_id)
        sequences.append(sequence)
        labels.append(1 if label == b"1" else 0)
        lines.append(number)
    if not ids:
        raise InputError(f"{name}: has a header but no sequences; expected {_CSV_EXPECTED}")

    return SequenceSet(ids, _encode_rows(sequences, ids, lines, name), np.array(labels, dtype=np.int64), name)


def _csv_fields(fields: list[bytes], line: bytes, number: int, name: str) -> tuple[str, bytes, bytes]:
    """(seq_id, sequence, label) of one ViraMiner CSV line, each checked on its own."""
    if len(fields) != 3:
        raise InputError(
            f"{name}: line {number}: expected 3 comma-separated fields seq_id,sequence,label, found"
            f" {len(fields)} in {_snippet(line)!r}; is this {_CSV_EXPECTED[2:]}?"
        )
    raw_id, sequence, label = (field.strip() for field in fields)
    try:
        seq_id = raw_id.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{name}: line {number}: seq_id is not UTF-8 text (binary content?)") from None
    if not seq_id:
        raise InputError(f"{name}: line {number}: empty seq_id; every line needs an id before the sequence")
    if not sequence:
        raise InputError(f"{name}: line {number} ({seq_id}): empty sequence")
    if label != b"0" and label != b"1":
        raise InputError(
            f"{name}: line {number} ({seq_id}): label {label.decode('utf-8', 'replace')!r} is not 0 or 1;"
            " use 1 for viral and 0 for non-viral"
        )
    return seq_id, sequence, label


def _encode_rows(sequences: list[bytes], ids: list[str], lines: list[int], name: str) -> np.ndarray:
    """Equal-length sequences as codes (N, L) in one lookup; the first illegal character names its line and row."""
    width = len(sequences[0])
    flat = _LOOKUP[np.frombuffer(b"".join(sequences), dtype=np.uint8)]
    bad = _first_illegal(flat)
    if bad >= 0:
        row, column = divmod(bad, width)
        byte = sequences[row][column]
        raise InputError(
            f"{name}: line {lines[row]} ({ids[row]}): illegal character {_describe(byte)} at position {column + 1}"
            f"{_hint(byte)}; {_ALLOWED}"
        )
    return flat.reshape(len(ids), width)


# ------------------------------------------------------------------------------------------------- FASTA
def read_fasta(path: str | os.PathLike, *, validate: bool = True) -> Iterator[tuple[str, bytes]]:
    """Stream the records of a FASTA file (``-`` = standard input), plain, gzip, bzip2 or xz (recognised by its magic
    bytes, not its suffix), read once.

    The file is read in blocks of 1 MiB, so memory use is about one record plus one block whatever the file size;
    lines of any length, lower case and Windows line endings are accepted. The path is checked at once, the content
    as records are read. For records too long to hold, see :func:`iter_fasta_pieces`.

    Parameters
    ----------
    path : path-like
    validate : bool
        Check every sequence character with the encoding lookup table, so an illegal one is reported with its
        record id and line here rather than later by :func:`encode`.

    Yields
    ------
    (str, bytes)
        The record id (first word of the header) and its sequence with line breaks removed.

    Raises
    ------
    InputError
        Naming the file and the record or line: missing, directory, empty or binary file; not FASTA; a header without
        id or without sequence; a duplicated id; an illegal character (``validate``); a truncated or corrupt gzip.
    """
    source, name = _check_fasta_path(path)
    return _fasta_records(source, name, validate)


def _fasta_records(path: Input, name: str, validate: bool) -> Iterator[tuple[str, bytes]]:
    sequence = io.BytesIO()  # its getvalue() hands over the buffer without copying: one copy of a long record
    n_bases = 0
    for record, header_line, segment, line in _fasta_segments(path, name):
        if segment is None:
            if n_bases == 0:
                raise _no_sequence(name, record, header_line)
            yield record, sequence.getvalue()
            sequence, n_bases = io.BytesIO(), 0
            continue
        if validate:
            error = _illegal_character(segment, name, record, line, n_bases)
            if error is not None:
                raise error
        bases = segment.translate(None, _WHITESPACE)
        sequence.write(bases)
        n_bases += len(bases)


@dataclass(frozen=True)
class RecordPiece:
    """A run of consecutive bases of one FASTA record, as streamed by :func:`iter_fasta_pieces`.

    Attributes
    ----------
    record : str
        The record id.
    index : int
        The record's 0-based position in the file.
    start : int
        Position of ``codes[0]`` in the record (0-based).
    codes : np.ndarray, shape (n,) uint8
        The bases as codes (see :func:`encode`); empty only in a piece carrying an ``error``.
    last : bool
        True for the record's final piece, so its length is ``start + len(codes)``.
    error : InputError or None
        Set (with ``last``) when the record turned out invalid; its earlier pieces are then to be discarded.
    """

    record: str
    index: int
    start: int
    codes: np.ndarray
    last: bool
    error: InputError | None = None


def iter_fasta_pieces(
    path: str | os.PathLike,
    piece_bases: int = PIECE_BASES,
    *,
    select: Callable[[int], bool] | None = None,
    skip_invalid: bool = False,
    on_read: Callable[[int], None] | None = None,
) -> Iterator[RecordPiece]:
    """Stream a FASTA file as bounded pieces of codes, so that a record of any length needs a few MB of memory.

    The file is read in fixed-size blocks, not lines: a 100-Mbp record on one line streams like any other. Every
    check of :func:`read_fasta` (``validate=True``) applies, with the same messages.

    Parameters
    ----------
    path : path-like
    piece_bases : int
        Every piece of a record holds exactly this many bases except its last, which holds 1 to ``piece_bases``.
    select : callable or None
        ``select(index)`` for each record's 0-based index; a record it rejects yields nothing and only the file's
        structure (headers, ids, binary content) is checked in it. None selects every record.
    skip_invalid : bool
        False: an illegal character or a header without sequence raises at once. True: the record instead ends
        with a piece carrying the ``error`` (and no codes), and reading goes on with the next record. Problems of
        the whole file (not FASTA, binary, duplicated id, corrupt gzip) always raise.
    on_read : callable or None
        Called after each block read with the bytes of the file read so far (compressed bytes for compressed input;
        never for a pipe, whose position is unknown), for a progress bar whose total is the file's size.

    Yields
    ------
    RecordPiece
        In file order; at least one per selected record, the final one with ``last`` set.

    Raises
    ------
    InputError
        As :func:`read_fasta`, naming the file and the record or line.
    """
    if piece_bases < 1:
        raise ValueError(f"piece_bases must be a positive integer, got {piece_bases}")
    source, name = _check_fasta_path(path)
    return _fasta_pieces(source, name, piece_bases, select or (lambda index: True), skip_invalid, on_read)


def _fasta_pieces(
    path: Input, name: str, piece_bases: int, select: Callable[[int], bool], skip_invalid: bool,
    on_read: Callable[[int], None] | None = None,
) -> Iterator[RecordPiece]:
    index = 0
    wanted = select(index)
    # Bases read but not yet yielded: a full piece goes out only once more bases follow, so that the record's final
    # piece can say it is final. start is the record position of pending[0].
    pending = np.empty(0, dtype=np.uint8)
    start = 0
    invalid = False
    for record, header_line, segment, line in _fasta_segments(path, name, on_read):
        if segment is None:  # end of the record
            if wanted and not invalid:
                if start + len(pending) == 0:
                    error = _no_sequence(name, record, header_line)
                    if not skip_invalid:
                        raise error
                    yield RecordPiece(record, index, 0, pending, last=True, error=error)
                else:
                    yield RecordPiece(record, index, start, pending, last=True)
            index += 1
            wanted, pending, start, invalid = select(index), np.empty(0, dtype=np.uint8), 0, False
            continue
        if not wanted or invalid:
            continue
        codes = _LOOKUP[np.frombuffer(segment.translate(None, _WHITESPACE), dtype=np.uint8)]
        if _first_illegal(codes) >= 0:  # found on the bases; located (line, base) on the raw segment
            error = _illegal_character(segment, name, record, line, start + len(pending))
            if not skip_invalid:
                raise error
            invalid = True
            yield RecordPiece(record, index, 0, np.empty(0, dtype=np.uint8), last=True, error=error)
            continue
        pending = np.concatenate([pending, codes]) if len(pending) else codes
        while len(pending) > piece_bases:
            yield RecordPiece(record, index, start, pending[:piece_bases], last=False)
            pending, start = pending[piece_bases:], start + piece_bases


def _check_fasta_path(path: str | os.PathLike | Input) -> tuple[Input, str]:
    source = _open(path, _FASTA_EXPECTED)
    if not source.peek(1):
        source.close()
        raise InputError(f"{source.name}: file is empty; expected {_FASTA_EXPECTED}")
    return source, source.name


# One function of ~65 lines on purpose: a byte-level state machine (in a header or not, at a line start or not, the
# current record and line) whose state lives in its locals; spread over helpers it would be passed back and forth.
def _fasta_segments(path: Input, name: str, on_read: Callable[[int], None] | None = None
                    ) -> Iterator[tuple[str, int, bytes | None, int]]:  # fmt: skip
    """The parse shared by the FASTA readers: ``(id, header line, segment, line)`` in file order.

    A segment is raw sequence text of the record (line breaks included, possibly only whitespace) starting at
    ``line``, at most one read block long; segment None ends the record. The structure of the file is checked here
    (preamble, headers, unique ids, NUL bytes, gzip integrity); what the sequence characters mean is left to the
    caller. ``on_read(bytes of the file read so far)`` is called after each block whose position is known.
    """
    first_line: dict[str, int] = {}  # id -> header line, for duplicate reports
    record: str | None = None  # id of the record being read
    record_line = 0
    header = bytearray()
    in_header = False
    at_line_start = True
    line = 1  # line number at the read position

    with path as handle:
        first_block = True
        while True:
            where = f" near line {line}" + (f" in record {record!r}" if record is not None else "")
            block = _read(handle, _BLOCK, name, where)
            if on_read is not None and (position := handle.position()) is not None:
                on_read(position)
            if not block:
                break
            if first_block:
                first_block = False
                if block.startswith(_BOM):
                    block = block[len(_BOM) :]
            pos, end = 0, len(block)
            while pos < end:
                if in_header:
                    newline = block.find(b"\n", pos)
                    header += block[pos : end if newline < 0 else newline]
                    if len(header) > _MAX_HEADER:
                        raise InputError(
                            f"{name}: line {record_line}: header longer than {_MAX_HEADER} bytes; not a FASTA file?"
                        )
                    if newline < 0:
                        break
                    pos = newline + 1
                    line += 1
                    in_header, at_line_start = False, True
                    record = _header_id(header, name, record_line, first_line)
                    continue
                if at_line_start and block[pos] == 0x3E:  # '>' opens a header only at the start of a line
                    if record is not None:
                        yield record, record_line, None, line
                    in_header, record_line = True, line
                    header.clear()
                    pos += 1
                    continue
                cut = block.find(b"\n>", pos)
                stop = end if cut < 0 else cut + 1
                segment = block[pos:stop]
                if record is None:
                    _check_preamble(segment, name, line)
                else:
                    _check_binary(segment, name, record, line)
                    yield record, record_line, segment, line
                line += segment.count(b"\n")
                at_line_start = segment.endswith(b"\n")
                pos = stop
    if in_header:  # a header on the last line, without newline
        record = _header_id(header, name, record_line, first_line)
    if record is None:
        raise InputError(f"{name}: file is empty (only blank lines); expected {_FASTA_EXPECTED}")
    yield record, record_line, None, line


def _header_id(header: bytearray, name: str, line: int, first_line: dict[str, int]) -> str:
    if b"\x00" in header:
        raise InputError(f"{name}: line {line}: binary content (NUL byte) in a header; expected {_FASTA_EXPECTED}")
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{name}: line {line}: header is not UTF-8 text (binary content?)") from None
    words = text.split()
    if not words:
        raise InputError(f"{name}: line {line}: header '>' without an id; write '>id' before each sequence")
    record = words[0]
    previous = first_line.setdefault(record, line)
    if previous != line:
        raise InputError(
            f"{name}: line {line}: record id {record!r} is also the id at line {previous}; ids must be unique"
        )
    return record


def _no_sequence(name: str, record: str, line: int) -> InputError:
    return InputError(
        f"{name}: record {record!r} (line {line}) has no sequence; every '>' header needs sequence lines after it"
    )


def _check_preamble(segment: bytes, name: str, line: int) -> None:
    """Before the first header only blank lines may appear."""
    stripped = segment.lstrip()
    if not stripped:
        return
    offset = len(segment) - len(stripped)
    at = line + segment.count(b"\n", 0, offset)
    binary = "binary content (NUL byte); " if b"\x00" in segment else ""
    found = _snippet(stripped.split(b"\n", 1)[0])
    raise InputError(f"{name}: line {at}: {binary}not a FASTA file: expected a '>id' header, found {found!r}")


def _check_binary(segment: bytes, name: str, record: str, line: int) -> None:
    nul = segment.find(b"\x00")
    if nul >= 0:
        at = line + segment.count(b"\n", 0, nul)
        raise InputError(f"{name}: record {record!r} (line {at}): binary content (NUL byte); not a FASTA file")


def _illegal_character(segment: bytes, name: str, record: str, line: int, n_bases: int) -> InputError | None:
    """The error for the first illegal byte of a piece of a record's sequence lines, with its line and base."""
    offset = _first_illegal(_FASTA_CHECK[np.frombuffer(segment, dtype=np.uint8)])
    if offset < 0:
        return None
    at = line + segment.count(b"\n", 0, offset)
    base = n_bases + len(segment[:offset].translate(None, _WHITESPACE)) + 1
    byte = segment[offset]
    return InputError(
        f"{name}: record {record!r} (line {at}): illegal character {_describe(byte)} at base {base}{_hint(byte)};"
        f" {_ALLOWED}"
    )


def iter_fasta_codes(path: str | os.PathLike, chunk_bases: int | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Stream a FASTA file as codes.

    Parameters
    ----------
    path : path-like
    chunk_bases : int or None
        None yields each record whole. An integer yields a record as consecutive pieces of at most this many bases
        (the same id repeated, in order), bounding the size of each code array and the memory used whatever the
        record length (see :func:`iter_fasta_pieces`).

    Yields
    ------
    (str, np.ndarray of shape (L,) uint8)
    """
    if chunk_bases is not None:
        if chunk_bases < 1:
            raise ValueError(f"chunk_bases must be a positive integer or None, got {chunk_bases}")
        pieces = iter_fasta_pieces(path, chunk_bases)
        return ((piece.record, piece.codes) for piece in pieces)
    records = read_fasta(path, validate=True)
    # already validated by read_fasta
    return ((record, _LOOKUP[np.frombuffer(sequence, dtype=np.uint8)]) for record, sequence in records)


# ------------------------------------------------------------------------------------------------- labels
def read_label_tsv(path: str | os.PathLike) -> dict[str, int]:
    """Read labels for FASTA records: lines ``seq_id<TAB>label`` with label 0 or 1 (1 = viral).

    A first line whose label field is a word (``seq_id<TAB>label``) is taken as a header and skipped.

    Returns
    -------
    dict mapping seq_id to 0 or 1, in file order.

    Raises
    ------
    InputError
        Naming the file and line: missing, directory, empty or binary file; a line without exactly two tab-separated
        fields; an empty id; a label other than 0/1; a duplicated id.
    """
    source = _open(path, _TSV_EXPECTED)
    name = source.name
    data = _read_all(source)
    _check_text(data, name, _TSV_EXPECTED)
    labels: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    header_possible = True
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"{name}: line {number}: not UTF-8 text (binary content?); expected {_TSV_EXPECTED}"
            ) from None
        fields = text.rstrip("\r\n").split("\t")
        if len(fields) != 2:
            raise InputError(
                f"{name}: line {number}: expected 2 tab-separated fields seq_id<TAB>label, found {len(fields)}"
                f" in {_snippet(raw)!r}"
            )
        seq_id, label = fields[0].strip(), fields[1].strip()
        if header_possible:
            header_possible = False
            if label.replace("_", "").isalpha():
                continue
        if not seq_id:
            raise InputError(f"{name}: line {number}: empty seq_id")
        if label not in ("0", "1"):
            raise InputError(
                f"{name}: line {number} ({seq_id}): label {label!r} is not 0 or 1; use 1 for viral, 0 for non-viral"
            )
        previous = first_seen.setdefault(seq_id, number)
        if previous != number:
            raise InputError(f"{name}: line {number}: seq_id {seq_id!r} is also on line {previous}; ids must be unique")
        labels[seq_id] = int(label)
    if not labels:
        raise InputError(f"{name}: has a header but no labels; expected {_TSV_EXPECTED}")
    return labels


# ------------------------------------------------------------------------------------------------- dispatch
def read_sequences(
    path: str | os.PathLike, labels: str | os.PathLike | None = None, *, length: int | None = VIRAL_LENGTH
) -> SequenceSet:
    """Read sequences from a FASTA file (plain or compressed, optionally with a label TSV) or a ViraMiner CSV, once.

    The format is recognised from the content: a file whose first non-blank character is ``>`` is FASTA.

    Parameters
    ----------
    path : path-like
    labels : path-like or None
        For FASTA only: a :func:`read_label_tsv` file holding a label for every record id.
    length : int or None
        Required sequence length; None requires only that all lengths are equal.

    Returns
    -------
    SequenceSet
        ``codes`` shape (N, length) uint8; ``labels`` shape (N,) int64, or None for FASTA without label file.
    """
    with _open(path, f"{_FASTA_EXPECTED}, or {_CSV_EXPECTED}") as source:  # read once: a pipe has no second chance
        return _read_sequences(source, labels, length)


def _read_sequences(path: Input, labels: str | os.PathLike | None, length: int | None) -> SequenceSet:
    name = path.name
    if not is_fasta(path):
        if labels is not None:
            raise InputError(
                f"{input_name(labels)}: a label file was given for {name}, which is not FASTA; a ViraMiner CSV"
                " carries its own labels, so leave the label file out"
            )
        return read_viral_csv(path, length=length)

    label_of = None if labels is None else read_label_tsv(labels)
    ids: list[str] = []
    sequences: list[bytes] = []
    for record, sequence in read_fasta(path):
        expected = length if length is not None else len(sequences[0]) if sequences else len(sequence)
        if len(sequence) != expected:
            need = f"the model needs {length} bp" if length is not None else f"record {ids[0]!r} is {expected} bp"
            raise InputError(
                f"{name}: record {record!r} is {len(sequence)} bp, but {need}; cut long sequences into"
                f" {expected}-bp windows first"
            )
        ids.append(record)
        sequences.append(sequence)
    codes = _LOOKUP[np.frombuffer(b"".join(sequences), dtype=np.uint8)].reshape(len(ids), -1)

    y = None
    if label_of is not None:
        missing = [record for record in ids if record not in label_of]
        if missing:
            raise InputError(
                f"{input_name(labels)}: no label for record {missing[0]!r} of {name} ({len(missing)} of {len(ids)}"
                " records have none); add a line '<id><TAB><0 or 1>' for every record"
            )
        y = np.array([label_of[record] for record in ids], dtype=np.int64)
    return SequenceSet(ids, codes, y, name)


def is_fasta(path: str | os.PathLike | Input) -> bool:
    """True if the file is FASTA (plain or compressed): its first non-blank character is ``>``; else it is taken as
    CSV. Given an open :class:`~resgenome.io.Input`, only looks ahead: nothing is consumed, so a stream can still be
    read by the reader chosen (give a stream as an ``Input``: a path is opened, and a pipe read by that, here).

    Raises
    ------
    InputError
        If the path is missing, a directory, unreadable, or of a format named for what it is (zstd, BAM ...).
    """
    with _open(path, f"{_FASTA_EXPECTED}, or {_CSV_EXPECTED}") as source:
        return _first_character(source) == b">"


def _first_character(source: Input) -> bytes:
    """The first non-blank byte of the (decompressed) content, or b"" if the start is blank."""
    head = source.peek(1 << 16)
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    return head.lstrip()[:1]

