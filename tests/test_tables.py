"""Super-enhancer table reading, validation messages and the Eq. 1-4 scaler."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resgenome.data.tables import FEATURES, Scaler, read_table
from resgenome.errors import InputError, ResgenomeError

from .conftest import write_se_table


def test_reads_features_in_paper_order(se_csv):
    table = read_table(se_csv)
    assert table.X.shape == (600, 36)
    assert table.features == FEATURES
    assert set(np.unique(table.y)) == {0, 1}
    assert table.chrom[0] == "chr1"


def test_real_table(mesc_csv):
    table = read_table(mesc_csv)
    assert len(table) == 8878
    assert int(table.y.sum()) == 551
    # the paper's Table 1 order, not the file's: DNaseI is the 5th feature, Brd4 the 13th
    assert table.features[4] == "DNaseI" and table.features[12] == "Brd4"


def test_unlabelled_table_for_prediction(tmp_path):
    path = write_se_table(tmp_path / "u.csv", labels=False)
    assert read_table(path, require_labels=False).y is None
    with pytest.raises(InputError, match="missing column.*Class"):
        read_table(path)


def _corrupt(path, line: int, column: str, value: str):
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "column,value,message",
    [
        ("H3K27ac", "abc", r"line 5, column H3K27ac: 'abc' is not a finite number"),
        ("Sox2", "nan", r"line 5, column Sox2"),
        ("Sox2", "inf", r"line 5, column Sox2"),
        ("Brd4", "", r"line 5, column Brd4: missing value"),
        ("Class", "XE", r"line 5, column Class: 'XE' is not a class; expected SE or TE"),
    ],
)
def test_bad_values_name_file_line_column(se_csv, column, value, message):
    _corrupt(se_csv, 5, column, value)
    with pytest.raises(InputError, match=message) as err:
        read_table(se_csv)
    assert str(se_csv) in str(err.value)


def test_missing_and_renamed_columns(se_csv):
    text = se_csv.read_text().replace("H3K27ac", "H3K27AC", 1)
    se_csv.write_text(text)
    with pytest.raises(InputError, match=r"line 1: missing column\(s\) H3K27ac"):
        read_table(se_csv)


@pytest.mark.parametrize("content,message", [(b"", "empty"), (b"\x00\x01\x02binary", "binary"),
                                             (b"chrom,start,end,Class\n", "missing column")])  # fmt: skip
def test_empty_binary_header_only(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_table(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        read_table(tmp_path)


def test_per_feature_scaler_uses_training_statistics_only():
    rng = np.random.default_rng(1)
    train = rng.normal(5, 2, size=(200, 3))
    scaler = Scaler("per-feature").fit(train)
    Z = scaler.transform(train)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-4)
    # Eq. 1 corrected: min-max scaling divides by the range (the misprint would add it)
    lo, hi = train.min(0), train.max(0)
    s = scaler.stats
    np.testing.assert_allclose(s["mean"], ((train - lo) / (hi - lo)).mean(0))
    # test rows are scaled with the training statistics, not their own
    test = train[:5] + 100
    assert (scaler.transform(test) > 10).all()
    restored = Scaler.from_state(scaler.state())
    np.testing.assert_array_equal(restored.transform(test), scaler.transform(test))


def test_per_sample_scaler_is_per_row():
    X = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
    Z = Scaler("per-sample").fit(X[:1]).transform(X)
    np.testing.assert_allclose(Z[0], Z[1], atol=1e-6)  # each row scaled across its own values
    np.testing.assert_allclose(Z.mean(axis=1), 0, atol=1e-6)


def test_extra_columns_and_ragged_rows_are_named(se_csv):
    lines = se_csv.read_text().splitlines()
    cases = {
        "extra column": ([lines[0] + ",note"] + [row + ",x" for row in lines[1:]], r"line 1: unexpected column\(s\) note"),
        "long row": (lines[:4] + [lines[4] + ",7"] + lines[5:], r"line 5: 42 fields, but the header has 41"),
        "short row": (lines[:4] + [lines[4].rsplit(",", 1)[0]] + lines[5:], r"line 5: 40 fields, but the header has 41"),
        "blank line": (lines[:3] + [""] + lines[3:], r"line 4: empty line inside the table"),
    }
    for case, (rows, message) in cases.items():
        path = se_csv.with_name(case.replace(" ", "_") + ".csv")
        path.write_text("\n".join(rows) + "\n")
        with pytest.raises(InputError, match=message) as err:
            read_table(path)
        assert str(path) in str(err.value), case
    # blank lines after the last row and Windows line endings are fine
    path = se_csv.with_name("trailing.csv")
    path.write_bytes(("\r\n".join(lines) + "\r\n\r\n\r\n").encode())
    assert read_table(path).X.shape == read_table(se_csv).X.shape


# ------------------------------------------------------------------------------------------------- properties
_HEADER = "chrom,start,end,Class," + ",".join(
    ["H3K27ac", "H3K4me1", "H3K4me3", "H3K9me3", "DNaseI", "Pol2", "p300", "CBP", "Cdk9", "Med12", "Cdk8", "Brg1",
     "Brd4", "CHD7", "Smc1", "Nipbl", "Lsd1", "Mi2b", "HDAC2", "HDAC", "Oct4", "Sox2", "Nanog", "Esrrb", "Klf4",
     "Tcfcp2I1", "Prdm14", "Nr5a2", "Smad3", "Stat3", "Tcf3", "AT_content", "GC_content", "phastCons", "phastConsP",
     "repeat_fraction"]) + ",length"  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400), keep_header=st.booleans())
def test_table_reader_never_crashes_on_arbitrary_bytes(tmp_path, body, keep_header):
    path = tmp_path / "fuzz.csv"
    path.write_bytes((_HEADER.encode() + b"\n" if keep_header else b"") + body)
    try:
        table = read_table(path)
    except ResgenomeError:
        return
    assert table.X.shape[1] == 36 and len(table) > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["SE", "TE"]),
                               st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=36, max_size=36)),
                     min_size=1, max_size=20))  # fmt: skip
def test_valid_tables_round_trip(tmp_path, rows):
    path = tmp_path / "ok.csv"
    lines = [_HEADER] + [f"chr1,{i},{i + 10},{c}," + ",".join(repr(v) for v in vals) + ",10"
                         for i, (c, vals) in enumerate(rows)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    table = read_table(path)
    assert table.y.tolist() == [1 if c == "SE" else 0 for c, _ in rows]
    assert table.X.tolist() == [list(v) for _, v in rows]


def test_errors_are_input_errors_not_tracebacks(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(InputError):
        read_table(path)
