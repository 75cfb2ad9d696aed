"""DNA as numbers: the alphabet, encoding, one-hot, reverse complement, windows and k-mer counts.

In memory a sequence is a uint8 array of codes, 0-3 = A, C, G, T and 4 = N (or any other IUPAC ambiguity code);
:func:`one_hot` expands a batch of codes to the ``(N, 4, L)`` float32 contract of :mod:`resgenome.data`, N becoming
an all-zero column. Every conversion goes through a 256-entry byte lookup table, so nothing loops over bases in
Python. Windows are cut in one place, :class:`WindowCutter`, whether a sequence is whole in memory
(:func:`windows`) or arrives in pieces (``resgenome predict viral``). Pure functions only; reading files is
:mod:`resgenome.data.readers`' job. Names with one leading underscore are shared with that module only.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import InputError

__all__ = [
    "CODE_N", "VIRAL_LENGTH", "encode", "one_hot", "reverse_complement", "decode", "window_starts", "windows",
    "WindowCutter", "kmer_counts",
]  # fmt: skip

#: Code of N and of every other IUPAC ambiguity code; codes 0-3 are A, C, G, T.
CODE_N = 4
#: Length of a ViraMiner sequence, which is also the input length of the viral models.
VIRAL_LENGTH = 300

_ILLEGAL = 255  # lookup-table value of a byte that is not a base; 255 is uint8's maximum, so max() finds it
_AMBIGUOUS = b"RYSWKMBDHVN"  # U is deliberately absent: an RNA sequence should be converted, not silently read
_WHITESPACE = b" \t\r\n\v\f"
_ALLOWED = "expected A, C, G, T or an IUPAC code R Y S W K M B D H V N (either case)"
_KMER_SCRATCH = 1 << 22  # elements of scratch per k-mer counting batch (bincount bins and index arrays)


def _build_lookup() -> np.ndarray:
    table = np.full(256, _ILLEGAL, dtype=np.uint8)
    for code, base in enumerate(b"ACGT"):
        table[base] = table[base | 0x20] = code  # | 0x20 is the ASCII lower case
    for byte in _AMBIGUOUS + _AMBIGUOUS.lower():
        table[byte] = CODE_N
    table.flags.writeable = False
    return table


_LOOKUP = _build_lookup()
_COMPLEMENT = np.array([3, 2, 1, 0, CODE_N], dtype=np.uint8)  # indexed by code: A<->T, C<->G, N stays N
_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)
_CHANNEL_CODES = torch.arange(4).view(4, 1)  # channel c of the one-hot holds code c; N (4) matches no channel


# ------------------------------------------------------------------------------------------------- encoding
def encode(seq: bytes | str, *, source: str = "<input>", record: str = "?") -> np.ndarray:
    """Encode one DNA sequence as uint8 codes.

    Parameters
    ----------
    seq : bytes or str
        Bases; upper or lower case. Also accepts ``bytearray`` and ``memoryview``.
    source, record : str
        File and record named in the error message.

    Returns
    -------
    np.ndarray, shape (L,) uint8
        0-3 for A, C, G, T; :data:`CODE_N` (4) for N and the other IUPAC ambiguity codes.

    Raises
    ------
    InputError
        On any other character, naming ``source``, ``record``, the character and its 1-based position.
    """
    if isinstance(seq, str):
        try:
            seq = seq.encode("ascii")
        except UnicodeEncodeError as exc:
            raise InputError(
                f"{source}: record {record}: illegal character {exc.object[exc.start]!r} at position {exc.start + 1};"
                f" {_ALLOWED}"
            ) from None
    codes = _LOOKUP[np.frombuffer(seq, dtype=np.uint8)]
    bad = _first_illegal(codes)
    if bad >= 0:
        byte = np.frombuffer(seq, dtype=np.uint8)[bad]
        raise InputError(
            f"{source}: record {record}: illegal character {_describe(int(byte))} at position {bad + 1}"
            f"{_hint(int(byte))}; {_ALLOWED}"
        )
    return codes


def one_hot(codes: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Expand codes to the one-hot tensor contract.

    Parameters
    ----------
    codes : np.ndarray or torch.Tensor, shape (N, L) or (L,), values 0-4

    Returns
    -------
    torch.Tensor, shape (N, 4, L) or (4, L), float32
        Channels A, C, G, T; a column for N (code 4) is all zero. On the device of ``codes`` when it is a tensor.
    """
    if isinstance(codes, torch.Tensor):
        index = codes
    else:
        array = np.ascontiguousarray(codes)  # torch takes no negative strides (a reversed view) nor read-only memory
        index = torch.from_numpy(array if array.flags.writeable else array.copy())
    if index.ndim not in (1, 2):
        raise ValueError(f"one_hot expects codes of shape (N, L) or (L,), got {tuple(index.shape)}")
    if index.numel():
        low, high = torch.aminmax(index)
        if int(low) < 0 or int(high) > CODE_N:
            raise ValueError("one_hot expects codes 0-4 as made by encode()")
    # One comparison pass writing float32 straight into the (N, 4, L) layout: ~10x faster than gathering rows of
    # a (5, 4) table and transposing (benchmarks/layout_ab.py), and N columns come out all zero by themselves.
    # The channel codes take the codes' dtype: a uint8-int64 comparison takes a slow type-promotion path.
    out = torch.empty((*index.shape[:-1], 4, index.shape[-1]), dtype=torch.float32, device=index.device)
    return torch.eq(index.unsqueeze(-2), _CHANNEL_CODES.to(index.device, index.dtype), out=out)


def reverse_complement(codes: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Reverse complement of codes along the last axis.

    Parameters
    ----------
    codes : np.ndarray or torch.Tensor, shape (L,) or (N, L), values 0-4

    Returns
    -------
    Same type, shape and dtype: A<->T, C<->G, N stays N, order reversed. Always a new contiguous array.
    """
    if isinstance(codes, torch.Tensor):
        index = codes.long()
        if index.numel() and (int(index.min()) < 0 or int(index.max()) > CODE_N):
            raise ValueError("reverse_complement expects codes 0-4 as made by encode()")
        return torch.from_numpy(_COMPLEMENT).to(codes.device)[index].to(codes.dtype).flip(-1)
    codes = np.asarray(codes)
    _check_codes(codes, "reverse_complement")
    return np.ascontiguousarray(_COMPLEMENT[codes][..., ::-1]).astype(codes.dtype, copy=False)


def decode(codes: np.ndarray | torch.Tensor) -> str:
    """Codes back to letters.

    Parameters
    ----------
    codes : np.ndarray or torch.Tensor, shape (L,), values 0-4

    Returns
    -------
    str of length L over ``ACGTN`` (every ambiguity code comes back as N).
    """
    if isinstance(codes, torch.Tensor):
        codes = codes.detach().cpu().numpy()
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise ValueError(f"decode expects one sequence of shape (L,), got {codes.shape}")
    _check_codes(codes, "decode")
    return _LETTERS[codes].tobytes().decode("ascii")


def _first_illegal(codes: np.ndarray) -> int:
    """Index of the first illegal code in a 1-D lookup result, or -1."""
    if codes.size == 0 or codes.max() != _ILLEGAL:
        return -1
    return int(np.argmax(codes == _ILLEGAL))


def _describe(byte: int) -> str:
    return repr(chr(byte)) if 32 <= byte < 127 else f"byte 0x{byte:02x}"


def _hint(byte: int) -> str:
    return " (RNA? write U as T)" if byte in b"Uu" else ""


def _check_codes(codes: np.ndarray, caller: str) -> None:
    if codes.size and (codes.min() < 0 or codes.max() > CODE_N):
        raise ValueError(f"{caller} expects codes 0-4 as made by encode(), got values {codes.min()}..{codes.max()}")


# ------------------------------------------------------------------------------------------------- windows, k-mers
def window_starts(length: int, window: int = VIRAL_LENGTH, stride: int = VIRAL_LENGTH // 2) -> np.ndarray:
    """Start positions used by :func:`windows` for a sequence of ``length`` bases.

    Returns
    -------
    np.ndarray, shape (W,) int64
        0, stride, 2*stride, ... and finally ``length - window``, so the last window ends with the sequence;
        ``[0]`` when ``length <= window``.
    """
    if window < 1 or not 1 <= stride <= window:
        raise ValueError(
            f"need window >= 1 and 1 <= stride <= window (so every base is covered), got {window}, {stride}"
        )
    if length <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - window + 1, stride, dtype=np.int64)
    if starts[-1] != length - window:
        starts = np.append(starts, length - window)
    return starts


def windows(
    codes: np.ndarray, window: int = VIRAL_LENGTH, stride: int = VIRAL_LENGTH // 2
) -> tuple[np.ndarray, int, bool]:
    """Cut one sequence into fixed-length windows for a fixed-input model (the whole sequence through
    :class:`WindowCutter`, which also cuts the records that ``predict viral`` streams in pieces).

    Parameters
    ----------
    codes : np.ndarray, shape (L,) uint8
    window, stride : int
        Window length and step; ``stride <= window`` so that every base lies in some window.

    Returns
    -------
    windows : np.ndarray, shape (W, window) uint8
        A sequence shorter than ``window`` is one window padded with N (code 4) at the end. A longer one is cut at
        0, stride, 2*stride, ..., plus a last window aligned to its end unless one already is (see
        :func:`window_starts`). A fresh array.
    n_windows : int
        W.
    padded : bool
        True if the sequence was shorter than ``window``.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    if codes.ndim != 1:
        raise ValueError(f"windows expects one sequence of shape (L,), got {codes.shape}")
    if len(codes) == 0:
        raise ValueError("windows got an empty sequence")
    cutter = WindowCutter(window, stride, chunk=len(codes))
    parts = [cut for cut, _ in cutter.add(codes)]
    closing = cutter.finish()
    if closing is not None:
        parts.append(closing[0])
    return np.concatenate(parts), cutter.n_windows, len(codes) < window


class WindowCutter:
    """Cuts the windows of one sequence from its pieces as they arrive: the one window implementation.

    The starts are those of :func:`window_starts` on the whole sequence (0, stride, 2*stride, ..., then one aligned
    to the end, or one N-padded window for a sequence shorter than ``window``), but only the last ``window`` bases
    are carried from one piece to the next: enough for the next window on the stride grid and for the final one, so
    memory stays flat whatever the record length.

    Parameters
    ----------
    window, stride : int
        ``1 <= stride <= window``.
    chunk : int
        At most this many windows per array yielded by :meth:`add`.
    """

    def __init__(self, window: int, stride: int, chunk: int = 4096):
        if window < 1 or not 1 <= stride <= window:
            raise ValueError(
                f"need window >= 1 and 1 <= stride <= window (so every base is covered), got {window}, {stride}"
            )
        self.window, self.stride, self.chunk = window, stride, max(1, chunk)
        self.tail = np.empty(0, dtype=np.uint8)  # the last `window` bases read, or all of them while fewer
        self.length = 0  # bases read
        self.next_start = 0  # the first start on the stride grid not yet cut
        self.n_windows = 0

    def add(self, codes: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(windows, starts)`` of the grid windows these bases complete: shapes (W, window) and (W,), W at most
        ``chunk``. The windows are views of a scratch array, valid until the next call."""
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
        step = self.stride * self.chunk
        for lo in range(first, stop, step):
            starts = np.arange(lo, min(lo + step, stop), self.stride)
            yield view[starts[0] - offset : starts[-1] - offset + 1 : self.stride], starts

    def finish(self) -> tuple[np.ndarray, np.ndarray] | None:
        """After the last piece: the closing window and its start, shapes (1, window) and (1,), or None when the grid
        already ends with the sequence. A sequence shorter than the window gives one window padded with N."""
        if self.length >= self.window and (self.length - self.window) % self.stride == 0:
            return None
        cut = np.full((1, self.window), CODE_N, dtype=np.uint8)
        cut[0, : len(self.tail)] = self.tail  # the last `window` bases, or all of a short sequence
        self.n_windows += 1
        return cut, np.array([max(self.length - self.window, 0)])


def kmer_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """Count the overlapping k-mers of each sequence, for the k-mer baselines.

    Parameters
    ----------
    codes : np.ndarray, shape (N, L) (or (L,)) uint8, values 0-4
    k : int, 1 <= k <= 12

    Returns
    -------
    np.ndarray, shape (N, 4**k) (or (4**k,)) float32
        Column ``sum(code[i + j] * 4**(k - 1 - j))``: k-mers in lexicographic order AAA..A, AAA..C, ..., TTT..T.
        Windows containing an N are not counted.
    """
    codes = np.asarray(codes)
    single = codes.ndim == 1
    if single:
        codes = codes[None, :]
    if codes.ndim != 2:
        raise ValueError(f"kmer_counts expects codes of shape (N, L), got {codes.shape}")
    if not 1 <= k <= 12:
        raise ValueError(f"k must be between 1 and 12 (4**k columns), got {k}")
    _check_codes(codes, "kmer_counts")
    n, length = codes.shape
    n_kmers = 4**k
    out = np.zeros((n, n_kmers), dtype=np.float32)
    positions = length - k + 1
    if positions > 0 and n > 0:
        # Rows in batches keep bincount's bins (rows * 4**k) and the index arrays (rows * L) small.
        rows = max(1, min(_KMER_SCRATCH // n_kmers, _KMER_SCRATCH // length))
        for lo in range(0, n, rows):
            batch = codes[lo : lo + rows].astype(np.int64)
            index = np.zeros((len(batch), positions), dtype=np.int64)
            for j in range(k):
                index = index * 4 + (batch[:, j : j + positions] & 3)  # N & 3 is harmless: those windows are dropped
            n_count = np.zeros((len(batch), length + 1), dtype=np.int32)
            np.cumsum(batch == CODE_N, axis=1, out=n_count[:, 1:])
            clean = n_count[:, k:] == n_count[:, :positions]
            index += np.arange(len(batch))[:, None] * n_kmers
            counts = np.bincount(index[clean], minlength=len(batch) * n_kmers)
            out[lo : lo + len(batch)] = counts.reshape(len(batch), n_kmers)
    return out[0] if single else out
