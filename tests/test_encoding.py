"""The encoding room: byte lookup, one-hot, reverse complement, windows (one cutter, whole or in pieces), k-mers."""

from __future__ import annotations

import itertools
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from resgenome.data import encoding as E
from resgenome.errors import InputError

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------------- encoding
def test_encode_maps_bases_case_and_ambiguity_codes():
    codes = E.encode("ACGTacgtNnRYSWKMBDHVrysw")
    assert codes.dtype == np.uint8
    assert codes.tolist() == [0, 1, 2, 3, 0, 1, 2, 3] + [4] * 16
    assert E.encode(b"GATTACA").tolist() == [2, 0, 3, 3, 0, 1, 0]
    assert E.encode(bytearray(b"tt")).tolist() == [3, 3]
    assert E.encode("").shape == (0,)


@pytest.mark.parametrize(
    "seq, shown, position",
    [("ACGU", "'U'", "position 4"), ("A-C", "'-'", "position 2"), (b"AC\x00", "byte 0x00", "position 3"),
     ("ACé", "'é'", "position 3"), (b"A\xff", "byte 0xff", "position 2"), ("acg t", "' '", "position 4")],
)  # fmt: skip
def test_encode_rejects_illegal_characters(seq, shown, position):
    with pytest.raises(InputError) as excinfo:
        E.encode(seq, source="reads.fa", record="r7")
    message = str(excinfo.value)
    assert "reads.fa" in message and "r7" in message and shown in message and position in message


def test_one_hot_hand_written():
    expected = torch.tensor(
        [[1, 0, 0, 0, 0, 0],   # A
         [0, 1, 0, 0, 0, 0],   # C
         [0, 0, 1, 0, 0, 1],   # G
         [0, 0, 0, 1, 0, 0]],  # T
        dtype=torch.float32,
    )  # fmt: skip
    got = E.one_hot(E.encode("ACGTNg"))
    assert got.dtype == torch.float32 and got.shape == (4, 6)
    assert torch.equal(got, expected)
    assert torch.equal(E.one_hot(E.encode("acgtng")), expected)


def test_one_hot_batch_numpy_and_torch_and_n_columns():
    codes = np.stack([E.encode("AAN"), E.encode("TRC")])
    expected = torch.tensor(
        [[[1, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]],
         [[0, 0, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0]]],
        dtype=torch.float32,
    )  # fmt: skip
    assert torch.equal(E.one_hot(codes), expected)
    assert torch.equal(E.one_hot(torch.from_numpy(codes)), expected)
    assert E.one_hot(codes)[:, :, 2].sum(dim=1).tolist() == [0.0, 1.0]  # the N column is all zero


def test_one_hot_rejects_bad_codes():
    with pytest.raises(ValueError):
        E.one_hot(np.array([0, 5], dtype=np.uint8))
    with pytest.raises(ValueError):
        E.one_hot(np.zeros((2, 3, 4), dtype=np.uint8))


def test_reverse_complement_known_example_and_round_trip():
    assert E.decode(E.reverse_complement(E.encode("AACGTNg"))) == "CNACGTT"
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 5, size=(6, 37)).astype(np.uint8)
    rc = E.reverse_complement(batch)
    assert rc.shape == batch.shape and rc.dtype == np.uint8
    assert np.array_equal(E.reverse_complement(rc), batch)
    assert np.array_equal(rc[2], E.reverse_complement(batch[2]))
    assert np.array_equal(E.reverse_complement(torch.from_numpy(batch)).numpy(), rc)
    assert np.array_equal(rc[:, ::-1] == 4, batch == 4)  # N stays N, at the mirrored position

def test_decode():
    assert E.decode(E.encode("acgtRYn")) == "ACGTNNN"
    assert E.decode(torch.tensor([3, 2, 1, 0])) == "TGCA"
    with pytest.raises(ValueError):
        E.decode(np.zeros((2, 2), dtype=np.uint8))


# ------------------------------------------------------------------------------------------------- windows, k-mers
def test_windows_short_sequence_is_padded_with_n():
    out, n, padded = E.windows(E.encode("ACGTA"), window=8, stride=4)
    assert (n, padded) == (1, True)
    assert out.tolist() == [[0, 1, 2, 3, 0, 4, 4, 4]]


def test_windows_exact_length():
    codes = E.encode("ACGTACGT")
    out, n, padded = E.windows(codes, window=8, stride=4)
    assert (n, padded) == (1, False) and np.array_equal(out[0], codes)


def test_windows_long_sequence_aligns_last_window_to_the_end():
    codes = np.arange(10, dtype=np.uint8) % 5
    out, n, padded = E.windows(codes, window=4, stride=3)
    assert (n, padded) == (3, False)  # the window at 6 already ends with the sequence: no extra one
    assert out.tolist() == [[0, 1, 2, 3], [3, 4, 0, 1], [1, 2, 3, 4]]
    assert E.window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert E.window_starts(11, 4, 3).tolist() == [0, 3, 6, 7]
    assert E.window_starts(450, 300, 150).tolist() == [0, 150]  # coincides with the end: no duplicate
    assert E.window_starts(400, 300, 150).tolist() == [0, 100]
    out, n, _ = E.windows(np.arange(11, dtype=np.uint8) % 5, window=4, stride=3)
    assert n == 4 and out[-1].tolist() == [2, 3, 4, 0]


@pytest.mark.parametrize("length, window, stride", [(1, 5, 2), (5, 5, 5), (23, 5, 2), (24, 5, 5), (301, 300, 150),
                                                    (1000, 300, 150), (17, 4, 4), (17, 4, 1)])  # fmt: skip
def test_windows_cover_every_base(length, window, stride):
    codes = (np.arange(length) % 4).astype(np.uint8)
    out, n, padded = E.windows(codes, window, stride)
    starts = E.window_starts(length, window, stride)
    assert out.shape == (n, window) and len(starts) == n and padded == (length < window)
    covered = np.zeros(length, dtype=bool)
    for start, row in zip(starts, out):
        piece = codes[start : start + window]
        assert np.array_equal(row[: len(piece)], piece)
        covered[start : start + window] = True
    assert covered.all()
    assert len(set(starts.tolist())) == len(starts)


def test_windows_rejects_bad_arguments():
    with pytest.raises(ValueError):
        E.windows(E.encode("ACGT"), window=4, stride=5)  # would skip bases
    with pytest.raises(ValueError):
        E.windows(np.zeros(0, dtype=np.uint8))


@pytest.mark.parametrize("length", [1, 9, 10, 11, 14, 23, 26, 40])
@pytest.mark.parametrize("piece", [1, 3, 10, 1000])
def test_window_cutter_fed_in_pieces_cuts_the_windows_of_the_whole_sequence(length, piece):
    """The one window implementation, fed a sequence in pieces (as predict viral streams a record), cuts exactly the
    windows at window_starts, checked against slicing the whole sequence directly."""
    window, stride = 10, 4
    codes = (np.arange(length) * 7 % 5).astype(np.uint8)
    cutter = E.WindowCutter(window, stride, chunk=2)
    cut, starts = [], []
    for lo in range(0, length, piece):
        for part, at in cutter.add(codes[lo : lo + piece]):
            assert len(part) <= 2
            cut.append(part.copy())  # views of scratch memory, valid until the next call
            starts.append(at)
    closing = cutter.finish()
    if closing is not None:
        cut.append(closing[0])
        starts.append(closing[1])
    expected_starts = E.window_starts(length, window, stride)
    assert np.concatenate(starts).tolist() == expected_starts.tolist() and cutter.n_windows == len(expected_starts)
    if length >= window:
        expected = sliding_window_view(codes, window)[expected_starts]
    else:
        expected = np.full((1, window), E.CODE_N, dtype=np.uint8)
        expected[0, :length] = codes
    assert np.array_equal(np.concatenate(cut), expected)
    whole, n, padded = E.windows(codes, window, stride)
    assert np.array_equal(whole, expected) and n == len(expected) and padded == (length < window)


def slow_kmer_counts(codes: np.ndarray, k: int) -> np.ndarray:
    kmers = {"".join(p): i for i, p in enumerate(itertools.product("ACGT", repeat=k))}
    out = np.zeros((len(codes), 4**k), dtype=np.float32)
    for row, seq in enumerate(codes):
        text = E.decode(seq)
        for i in range(len(text) - k + 1):
            if "N" not in text[i : i + k]:
                out[row, kmers[text[i : i + k]]] += 1
    return out


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_kmer_counts_match_slow_reference(k):
    rng = np.random.default_rng(k)
    codes = rng.choice(5, size=(7, 29), p=[0.22, 0.22, 0.22, 0.22, 0.12]).astype(np.uint8)
    got = E.kmer_counts(codes, k)
    assert got.dtype == np.float32 and got.shape == (7, 4**k)
    assert np.array_equal(got, slow_kmer_counts(codes, k))


def test_kmer_counts_known_values_and_batching():
    assert E.kmer_counts(E.encode("ACA"), 2).nonzero()[0].tolist() == [1, 4]  # AC = 0*4+1, CA = 1*4+0
    assert E.kmer_counts(E.encode("AC"), 3).sum() == 0  # shorter than k
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 5, size=(40, 50)).astype(np.uint8)
    with mock.patch.object(E, "_KMER_SCRATCH", 300):  # forces many small batches
        assert np.array_equal(E.kmer_counts(codes, 3), slow_kmer_counts(codes, 3))


@PROPERTY
@given(codes=st.lists(st.lists(st.integers(0, 4), min_size=7, max_size=7), min_size=1, max_size=5))
def test_one_hot_columns_sum_to_one_except_n(codes):
    array = np.array(codes, dtype=np.uint8)
    x = E.one_hot(array)
    assert x.shape == (len(codes), 4, 7)
    sums = x.sum(dim=1).numpy()
    assert np.array_equal(sums, (array != 4).astype(np.float32))
    assert np.array_equal(x.argmax(dim=1).numpy()[array != 4], array[array != 4])
