"""The readers room: ViraMiner CSV, FASTA (whole and streamed in pieces), labels, the sequence set; every bad file
one line naming it."""

from __future__ import annotations

import contextlib
import gzip
import os
import time
import tracemalloc
from pathlib import Path
from typing import Iterator
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resgenome.data import encoding as E
from resgenome.data import readers as R
from resgenome.errors import InputError

DATA_DIR = os.environ.get("RESGENOME_DATA_DIR")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEQ300 = "ACGT" * 75


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@contextlib.contextmanager
def raises_naming(path: Path, *fragments: str) -> Iterator[None]:
    """Expect a one-line InputError whose message names ``path`` and contains every fragment."""
    with pytest.raises(InputError) as excinfo:
        yield
    message = str(excinfo.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message


def test_experiment_of():
    assert R.experiment_of("seq4977_2014_D3_Diabetes_Hyoty") == "2014_D3_Diabetes_Hyoty"
    assert R.experiment_of("seq1_x") == "x"
    assert R.experiment_of("plain") == ""


def test_sequence_set_subset_and_experiments():
    codes = np.arange(12, dtype=np.uint8).reshape(3, 4) % 5
    ds = R.SequenceSet(["s1_a", "s2_b", "s3_a_c"], codes, np.array([0, 1, 0]), "x.csv")
    assert len(ds) == 3 and ds.experiments == ["a", "b", "a_c"]
    sub = ds.subset(np.array([2, 0]))
    assert sub.ids == ["s3_a_c", "s1_a"] and sub.labels.tolist() == [0, 0]
    assert np.array_equal(sub.codes, codes[[2, 0]]) and sub.source == "x.csv"
    assert ds.subset(np.array([False, True, False])).ids == ["s2_b"]
    with pytest.raises(ValueError):
        R.SequenceSet(["a"], codes, None, "x")


# ------------------------------------------------------------------------------------------------- ViraMiner CSV
def test_read_viral_csv_accepts_header_crlf_lower_case(tmp_path):
    content = f"seq_id,sequence,label\r\nseq1_exp_A,{SEQ300.lower()},1\r\n\r\nseq2_B,{'N' * 300},0\r\n"
    path = write(tmp_path / "v.csv", content)
    ds = R.read_viral_csv(path)
    assert ds.ids == ["seq1_exp_A", "seq2_B"] and ds.experiments == ["exp_A", "B"]
    assert ds.codes.shape == (2, 300) and ds.codes.dtype == np.uint8
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [1, 0]
    assert E.decode(ds.codes[0]) == SEQ300 and set(ds.codes[1].tolist()) == {4}
    assert ds.source == str(path)


def test_read_viral_csv_other_length(tmp_path):
    path = write(tmp_path / "short.csv", "a_x,ACGT,0\nb_x,TTTT,1\n")
    assert R.read_viral_csv(path, length=None).codes.shape == (2, 4)
    assert R.read_viral_csv(path, length=4).codes.tolist() == [[0, 1, 2, 3], [3, 3, 3, 3]]
    with raises_naming(path, "line 2", "same length"):
        R.read_viral_csv(write(tmp_path / "short.csv", "a_x,ACGT,0\nb_x,TTT,1\n"), length=None)


CSV_ERRORS = [
    ("", ["empty"]),
    ("\n  \n", ["empty"]),
    (f"s1_a,{SEQ300},1\ns2_a,{SEQ300}\n", ["line 2", "3 comma-separated fields"]),
    (f"s1_a,{SEQ300},1\ns2_a,{SEQ300},0,extra\n", ["line 2", "3 comma-separated fields"]),
    (f"s1_a,{SEQ300},1\ns2_a,,0\n", ["line 2", "empty sequence"]),
    (f"s1_a,{SEQ300},1\n,{SEQ300},0\n", ["line 2", "empty seq_id"]),
    (f"s1_a,{SEQ300},1\ns2_a,{SEQ300[:-1]}U,0\n", ["line 2", "s2_a", "'U'", "position 300"]),
    (f"s1_a,{SEQ300},1\ns2_a,{SEQ300},2\n", ["line 2", "'2'", "not 0 or 1"]),
    (f"s1_a,{SEQ300},1\ns2_a,{SEQ300},yes\n", ["line 2", "'yes'"]),
    (f"s1_a,{SEQ300},1\ns2_a,{SEQ300}A,0\n", ["line 2", "301 bp", "300 bp"]),
    (f"s1_a,{SEQ300},1\ns2_a,{SEQ300},0\ns1_a,{SEQ300},0\n", ["line 3", "line 1", "'s1_a'"]),
    ("seq_id,sequence,label\n", ["no sequences"]),
    (b"s1_a,ACGT\x00,1\n", ["line 1", "binary"]),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["line 3", "binary"]),
    (b"\xff\xfe,ACGT,1\n", ["line 1", "UTF-8"]),
]


@pytest.mark.parametrize("content, fragments", CSV_ERRORS)
def test_read_viral_csv_errors(tmp_path, content, fragments):
    path = write(tmp_path / "bad.csv", content)
    with raises_naming(path, *fragments):
        R.read_viral_csv(path)


def test_read_viral_csv_missing_file_and_directory(tmp_path):
    with raises_naming(tmp_path / "nope.csv", "not found"):
        R.read_viral_csv(tmp_path / "nope.csv")
    with raises_naming(tmp_path, "directory"):
        R.read_viral_csv(tmp_path)


def test_read_viral_csv_is_fast(tmp_path):
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    seqs = letters[rng.integers(0, 4, size=(20_000, 300))]
    lines = [f"seq{i}_e{i % 3},{row.tobytes().decode()},{i % 2}" for i, row in enumerate(seqs)]
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    start = time.perf_counter()
    ds = R.read_viral_csv(path)
    elapsed = time.perf_counter() - start
    assert len(ds) == 20_000 and np.array_equal(ds.codes, E._LOOKUP[seqs])
    assert elapsed < 1.0, elapsed


@pytest.mark.skipif(DATA_DIR is None, reason="RESGENOME_DATA_DIR is not set")
def test_read_shared_viraminer_devset_test():
    path = Path(DATA_DIR) / "viral" / "devset_test.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    ds = R.read_viral_csv(path)
    assert len(ds) == 2364 and ds.codes.shape == (2364, 300)
    assert int(ds.labels.sum()) == 63
    assert len(set(ds.ids)) == 2364 and all(ds.experiments)
    assert R.read_sequences(path).ids == ds.ids  # content dispatch finds the CSV


# ------------------------------------------------------------------------------------------------- FASTA
def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def test_read_fasta_multiline_lower_case_crlf(tmp_path):
    path = write(tmp_path / "a.fa", b"\r\n>r1 some description\r\nACGT\r\nac\r\n>r2\nNNNN\ngg\n\n>r3\nT")
    assert list(R.read_fasta(path)) == [("r1", b"ACGTac"), ("r2", b"NNNNgg"), ("r3", b"T")]


def test_read_fasta_gzip_is_detected_by_content(tmp_path):
    path = write(tmp_path / "reads.fasta", gzip_bytes(b">x\nACGT\n>y\nTT\n"))  # no .gz suffix
    assert list(R.read_fasta(path)) == [("x", b"ACGT"), ("y", b"TT")]
    plain = write(tmp_path / "plain.fa.gz", b">x\nACGT\n")  # .gz suffix but not compressed
    assert list(R.read_fasta(plain)) == [("x", b"ACGT")]


def test_read_fasta_long_lines_across_blocks(tmp_path):
    rng = np.random.default_rng(3)
    seq = np.frombuffer(b"ACGTacgtN", dtype=np.uint8)[rng.integers(0, 9, 2_500_000)].tobytes()
    path = write(tmp_path / "long.fa.gz", gzip_bytes(b">long\n" + seq + b"\r\n>" + b"h" * 3000 + b" d\n" + seq[:7]))
    records = list(R.read_fasta(path))
    assert [r for r, _ in records] == ["long", "h" * 3000]
    assert records[0][1] == seq and records[1][1] == seq[:7]


def test_read_fasta_memory_is_about_one_record(tmp_path):
    size = 8_000_000
    path = write(tmp_path / "one_line.fa", b">big\n" + b"ACGT" * (size // 4) + b"\n>tail\nA\n")
    tracemalloc.start()
    try:
        records = R.read_fasta(path)
        record, seq = next(records)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record == "big" and len(seq) == size
    assert peak < 1.25 * size + 3 * R._BLOCK, peak  # the record once (plus growth slack) and a few blocks
    records.close()


def test_iter_fasta_codes(tmp_path):
    path = write(tmp_path / "c.fa", ">a\nACGTN\nac\n>b\nT\n")
    whole = list(R.iter_fasta_codes(path))
    assert [(r, c.tolist()) for r, c in whole] == [("a", [0, 1, 2, 3, 4, 0, 1]), ("b", [3])]
    pieces = list(R.iter_fasta_codes(path, chunk_bases=3))
    assert [(r, c.tolist()) for r, c in pieces] == [("a", [0, 1, 2]), ("a", [3, 4, 0]), ("a", [1]), ("b", [3])]


def pieces_as_records(pieces) -> list[tuple[str, list[int]]]:
    """Join streamed pieces back into (id, codes) records, checking their bookkeeping on the way."""
    records: list[tuple[str, list[int]]] = []
    for piece in pieces:
        if not records or records[-1][0] != piece.record:
            assert piece.start == 0 and piece.index == len(records)
            records.append((piece.record, []))
        assert piece.start == len(records[-1][1]) and piece.error is None
        records[-1][1].extend(piece.codes.tolist())
    return records


def test_iter_fasta_pieces_cut_records_into_exact_pieces(tmp_path):
    path = write(tmp_path / "p.fa", ">a desc\r\nACGTN\r\nac\r\n>b\nT\n>c\nGGGGGG\n")
    pieces = list(R.iter_fasta_pieces(path, 3))
    assert [(p.record, p.index, p.start, p.codes.tolist(), p.last) for p in pieces] == [
        ("a", 0, 0, [0, 1, 2], False), ("a", 0, 3, [3, 4, 0], False), ("a", 0, 6, [1], True),
        ("b", 1, 0, [3], True), ("c", 2, 0, [2, 2, 2], False), ("c", 2, 3, [2, 2, 2], True),
    ]  # fmt: skip
    assert pieces[0].codes.dtype == np.uint8


def test_iter_fasta_pieces_stream_a_long_single_line_record(tmp_path):
    rng = np.random.default_rng(4)
    seq = np.frombuffer(b"ACGTacgtN", dtype=np.uint8)[rng.integers(0, 9, 100_003)].tobytes()
    path = write(tmp_path / "one_line.fa.gz", gzip_bytes(b">long\n" + seq + b"\n>short\nAC"))
    with mock.patch.object(R, "_BLOCK", 4096):
        pieces = list(R.iter_fasta_pieces(path, 1000))
    assert [len(p.codes) for p in pieces] == [1000] * 100 + [3, 2]
    assert [p.last for p in pieces].count(True) == 2
    assert np.array_equal(np.concatenate([p.codes for p in pieces[:-1]]), E.encode(seq))


@pytest.mark.parametrize("compress", [False, True])
def test_iter_fasta_pieces_report_how_far_into_the_file_they_have_read(tmp_path, compress):
    """on_read gets the bytes of the file read so far (compressed bytes for gzip): a progress bar's position."""
    rng = np.random.default_rng(5)
    text = b"".join(b">r%d\n" % k + np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, 20_000)].tobytes()
                    + b"\n" for k in range(5))  # fmt: skip
    path = write(tmp_path / "p.fa", gzip_bytes(text) if compress else text)
    offsets: list[int] = []
    with mock.patch.object(R, "_BLOCK", 4096):
        pieces = list(R.iter_fasta_pieces(path, 1000, on_read=offsets.append))
    assert sum(len(p.codes) for p in pieces) == 100_000
    assert offsets == sorted(offsets) and offsets[-1] == path.stat().st_size
    assert len(set(offsets)) > (2 if compress else 20)  # it moves as the file is read, not only at the end


@pytest.mark.parametrize("content, fragments", [
    (b">a\nACGT\n>bad\nAC\nGT\nGGXA\n>c\nTT\n", ["'bad'", "line 6", "'X'", "base 7"]),
    (b">a\nACGT\n>bad\n>c\nTT\n", ["'bad'", "line 3", "no sequence"]),
    (b">a\nACGT\n>c\nTT\n>bad", ["'bad'", "line 5", "no sequence"]),
])  # fmt: skip
def test_iter_fasta_pieces_skip_invalid_ends_a_bad_record_with_its_error(tmp_path, content, fragments):
    path = write(tmp_path / "s.fa", content)
    with raises_naming(path, *fragments):
        list(R.iter_fasta_pieces(path, 2))
    pieces = list(R.iter_fasta_pieces(path, 2, skip_invalid=True))
    bad = [p for p in pieces if p.record == "bad"]
    assert [p.error is None for p in bad] == [True] * (len(bad) - 1) + [False]  # the error comes last
    assert bad[-1].last and len(bad[-1].codes) == 0
    message = str(bad[-1].error)
    assert str(path) in message and all(fragment in message for fragment in fragments), message
    good: dict[str, list[int]] = {}
    for piece in pieces:
        if piece.record != "bad":
            good.setdefault(piece.record, []).extend(piece.codes.tolist())
    assert good == {"a": [0, 1, 2, 3], "c": [3, 3]}  # reading went on after the bad record


def test_iter_fasta_pieces_select_passes_other_records_over(tmp_path):
    path = write(tmp_path / "s.fa", ">r0\nAC\n>r1\nAXC\n>r2\n>r3\nGG\n")
    pieces = list(R.iter_fasta_pieces(path, select=lambda index: index in (0, 3)))
    assert [(p.record, p.index, p.codes.tolist()) for p in pieces] == [("r0", 0, [0, 1]), ("r3", 3, [2, 2])]
    with raises_naming(path, "'r1'", "'X'"):
        list(R.iter_fasta_pieces(path, select=lambda index: index == 1))
    duplicated = write(tmp_path / "d.fa", ">r0\nAC\n>r1\nAC\n>r0\nAC\n")
    with raises_naming(duplicated, "'r0'", "unique"):  # the structure of the file is always checked
        list(R.iter_fasta_pieces(duplicated, select=lambda index: index == 1, skip_invalid=True))


def test_iter_fasta_pieces_memory_is_about_one_piece(tmp_path):
    size = 8_000_000
    path = tmp_path / "one_line.fa"
    with open(path, "wb") as handle:
        handle.write(b">big\n")
        for _ in range(size // 1_000_000):
            handle.write(b"ACGT" * 250_000)  # one line of 8 Mbp
        handle.write(b"\n>tail\nA\n")
    n_bases = 0
    block = 1 << 16
    tracemalloc.start()
    try:
        with mock.patch.object(R, "_BLOCK", block):
            for piece in R.iter_fasta_pieces(path, block):
                n_bases += len(piece.codes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n_bases == size + 1
    assert peak < 8 * block, peak  # a few blocks and pieces (about 6), however long the record


def test_is_fasta(tmp_path):
    assert R.is_fasta(write(tmp_path / "a.fa.gz", gzip_bytes(b"\n>a\nACGT\n")))
    assert not R.is_fasta(write(tmp_path / "a.csv", f"s1_a,{SEQ300},1\n"))
    with raises_naming(tmp_path / "missing.fa", "not found"):
        R.is_fasta(tmp_path / "missing.fa")


FASTA_ERRORS = [
    (b"", ["empty"]),
    (b"\n \n\r\n", ["empty"]),
    (b"ACGT\n>r1\nACGT\n", ["line 1", "not a FASTA file"]),
    (b"\n\nseq_id,sequence,label\n", ["line 3", "not a FASTA file"]),
    (b">r1\nACGT\n>r2\n>r3\nAC\n", ["'r2'", "line 3", "no sequence"]),
    (b">r1\nACGT\n>r2 only a header", ["'r2'", "line 3", "no sequence"]),
    (b">r1\nACGT\n>  \nAC\n", ["line 3", "without an id"]),
    (b">r1\nACGT\n>r2\nAC\nGGUA\n", ["'r2'", "line 5", "'U'", "base 5"]),
    (b">r1\nAC-GT\n", ["'r1'", "line 2", "'-'", "base 3"]),
    (b">r1\nACGT\n>r2\nA\n>r1\nC\n", ["'r1'", "line 5", "line 1", "unique"]),
    (b">r1\nAC\x00\x00GT\n", ["'r1'", "line 2", "binary"]),
    (b">r1\xff\xfe\nACGT\n", ["line 1", "UTF-8"]),
    (b">r\x001\nACGT\n", ["line 1", "binary"]),
    (b"\x00\x01\x02\x03", ["line 1", "binary", "not a FASTA file"]),
    (gzip_bytes(b">r1\nACGT\n>r2\n" + b"ACGT" * 5000)[:-30], ["truncated or corrupt gzip"]),
    (gzip_bytes(b"")[:5], ["truncated or corrupt gzip"]),
    (b"\x1f\x8bnot really gzip at all", ["truncated or corrupt gzip"]),
    (gzip_bytes(b""), ["empty"]),
]


@pytest.mark.parametrize("content, fragments", FASTA_ERRORS)
def test_read_fasta_errors(tmp_path, content, fragments):
    path = write(tmp_path / "bad.fa", content)
    with raises_naming(path, *fragments):
        list(R.read_fasta(path))
    with pytest.raises(InputError) as streamed:
        list(R.iter_fasta_pieces(path, 3))
    with pytest.raises(InputError) as whole:
        list(R.read_fasta(path))
    assert str(streamed.value) == str(whole.value)


def test_read_fasta_validate_false_passes_characters_through(tmp_path):
    path = write(tmp_path / "u.fa", ">r1\nACGU\n")
    assert list(R.read_fasta(path, validate=False)) == [("r1", b"ACGU")]
    with pytest.raises(InputError, match="r1"):
        [E.encode(seq, source=str(path), record=r) for r, seq in R.read_fasta(path, validate=False)]


def test_read_fasta_missing_file_and_directory_fail_at_call(tmp_path):
    with raises_naming(tmp_path / "nope.fa", "not found"):
        R.read_fasta(tmp_path / "nope.fa")  # no iteration needed
    with raises_naming(tmp_path, "directory"):
        R.read_fasta(tmp_path)


# ------------------------------------------------------------------------------------------------- labels, dispatch
def test_read_label_tsv(tmp_path):
    path = write(tmp_path / "l.tsv", "seq_id\tlabel\r\na\t1\r\nb\t0\r\n\r\n")
    assert R.read_label_tsv(path) == {"a": 1, "b": 0}
    assert R.read_label_tsv(write(tmp_path / "n.tsv", "a\t0\n")) == {"a": 0}


@pytest.mark.parametrize(
    "content, fragments",
    [("", ["empty"]), ("a\t1\nb\t2\n", ["line 2", "'2'"]), ("a\t1\nb 1\n", ["line 2", "tab-separated"]),
     ("a\t1\nb\t0\na\t0\n", ["line 3", "line 1", "'a'"]), ("id\tlabel\n", ["no labels"]),
     ("a\t1\n\t0\n", ["line 2", "empty seq_id"]), (b"a\t1\n\x00\x00", ["line 2", "binary"])],
)  # fmt: skip
def test_read_label_tsv_errors(tmp_path, content, fragments):
    path = write(tmp_path / "bad.tsv", content)
    with raises_naming(path, *fragments):
        R.read_label_tsv(path)


def test_read_sequences_fasta_with_labels(tmp_path):
    fasta = write(tmp_path / "s.fa.gz", gzip_bytes(b">s1_e1\nACGT\n>s2_e2\nacgn\n"))
    labels = write(tmp_path / "s.tsv", "s2_e2\t0\ns1_e1\t1\nunused\t0\n")
    ds = R.read_sequences(fasta, labels, length=4)
    assert ds.ids == ["s1_e1", "s2_e2"] and ds.labels.tolist() == [1, 0]
    assert ds.codes.tolist() == [[0, 1, 2, 3], [0, 1, 2, 4]] and ds.experiments == ["e1", "e2"]
    unlabelled = R.read_sequences(fasta, length=None)
    assert unlabelled.labels is None and unlabelled.codes.shape == (2, 4)


def test_read_sequences_errors(tmp_path):
    fasta = write(tmp_path / "s.fa", ">s1\nACGT\n>s2\nACGT\n>s3\nAC\n")
    labels = write(tmp_path / "s.tsv", "s1\t1\n")
    complete = write(tmp_path / "t.fa", ">s1\nACGT\n>s2\nACGT\n>s3\nACGT\n")
    with raises_naming(labels, "'s2'", str(complete), "2 of 3"):
        R.read_sequences(complete, labels, length=4)
    with raises_naming(fasta, "'s3'", "2 bp", "4 bp"):
        R.read_sequences(fasta, length=4)
    with raises_naming(fasta, "'s3'", "2 bp"):
        R.read_sequences(fasta, length=None)
    with raises_naming(fasta, "'s1'", "300"):
        R.read_sequences(fasta)
    csv = write(tmp_path / "v.csv", f"s1_a,{SEQ300},1\n")
    assert R.read_sequences(csv).labels.tolist() == [1]
    with raises_naming(labels, str(csv), "carries its own labels"):
        R.read_sequences(csv, labels)
    with raises_naming(tmp_path / "missing.fa", "not found"):
        R.read_sequences(tmp_path / "missing.fa")


# ------------------------------------------------------------------------------------------------- properties
FASTA_BYTES = st.binary(max_size=300) | st.lists(
    st.sampled_from([b">", b"r1", b" ", b"\n", b"\r\n", b"ACGT", b"acgtn", b"U", b"\x00", b"\xff", b",", b"0", b"1",
                     b"\t"]),
    max_size=40,
).map(b"".join)  # fmt: skip
ANY_BYTES = FASTA_BYTES | FASTA_BYTES.map(gzip_bytes) | FASTA_BYTES.map(lambda b: gzip_bytes(b)[: len(b) // 2])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("property") / "input"


@PROPERTY
@given(data=ANY_BYTES, block=st.integers(1, 16))
def test_readers_raise_only_input_error(scratch, data, block):
    write(scratch, data)
    with mock.patch.object(R, "_BLOCK", block):
        for read in (lambda p: list(R.read_fasta(p)), lambda p: R.read_viral_csv(p, length=None),
                     R.read_label_tsv, lambda p: R.read_sequences(p, length=None),
                     lambda p: list(R.iter_fasta_pieces(p, 3, skip_invalid=True))):  # fmt: skip
            try:
                read(scratch)
            except InputError as exc:
                assert str(scratch) in str(exc)


RECORD_IDS = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="_.|-:"), min_size=1,
                     max_size=12)  # fmt: skip
RECORDS = st.lists(st.tuples(RECORD_IDS, st.text("ACGTNacgtn", min_size=1, max_size=80)), min_size=1, max_size=6,
                   unique_by=lambda r: r[0])  # fmt: skip


@PROPERTY
@given(records=RECORDS, width=st.integers(1, 90), newline=st.sampled_from(["\n", "\r\n"]), compress=st.booleans(),
       block=st.integers(1, 64), description=st.sampled_from(["", " desc", "\tx y"]),
       piece_bases=st.integers(1, 100))  # fmt: skip
def test_fasta_round_trip(scratch, records, width, newline, compress, block, description, piece_bases):
    text = "".join(
        f">{rid}{description}{newline}"
        + "".join(seq[i : i + width] + newline for i in range(0, len(seq), width))
        for rid, seq in records
    )
    data = text.encode("utf-8")
    write(scratch, gzip_bytes(data) if compress else data)
    with mock.patch.object(R, "_BLOCK", block):
        got = list(R.read_fasta(scratch))
        pieces = list(R.iter_fasta_pieces(scratch, piece_bases))
    assert [rid for rid, _ in got] == [rid for rid, _ in records]
    for (_, seq), (_, raw) in zip(records, got):
        assert raw == seq.encode()
        assert E.decode(E.encode(raw)) == seq.upper()
    assert pieces_as_records(pieces) == [(rid, E.encode(raw).tolist()) for rid, raw in got]
    for piece, following in zip(pieces, pieces[1:] + [None]):
        assert piece.last == (following is None or following.record != piece.record)
        assert len(piece.codes) == piece_bases or (piece.last and 1 <= len(piece.codes) <= piece_bases)

