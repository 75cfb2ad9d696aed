"""Tests for viral contig calls through `predict viral`, with a hand-set 2-filter ResVG whose answers are known.

The toy network scores a window by its G/C and N content: a window of A/T only has log-odds -10, one of G/C only
+10, and — like the real ResVG, which calls a record of N viral — one of N only +10 too. Its calibration is the
identity and its contig null says non-viral windows look viral (log-odds >= 0) at rate 1%.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from resgenome.calibration import Calibration
from resgenome.calls import ContigNull
from resgenome.checkpoint import save_checkpoint
from resgenome.cli import main
from resgenome.data.encoding import window_starts
from resgenome.models import build_model

NULL = ContigNull(threshold=0.0, n_null=999, n_above=9, heterogeneity=0.5)  # r0 = 0.01
CONFIG = {"width": 2, "seq_length": 300, "stem_channels": 2}


def toy_resvg() -> torch.nn.Module:
    """Logit difference 20 * (share of positions within 4 bp of a G/C) + 20 * (share within 4 bp of an N) - 10."""
    model = build_model("resvg", CONFIG)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):  # eval-mode identity: (x - 0) / sqrt(1 + eps) * 1 + 0
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
                module.weight.fill_(1.0)
        stem_conv, stem_bn = model.stem[0], model.stem[1]
        stem_conv.weight[0, 1, 3] = stem_conv.weight[0, 2, 3] = 1.0  # channel 0: C or G at this position
        stem_conv.weight[1, :, 3] = -1.0  # channel 1: relu(1 - any base) = 1 at N (all-zero one-hot)
        stem_bn.bias[1] = 1.0
        shortcut = model.block.shortcut[0]
        shortcut.weight[0, 0, 5] = shortcut.weight[1, 1, 5] = 1.0  # the block passes both channels through
        linear = model.head[2]
        linear.weight[1] = torch.tensor([20.0, 20.0])
        linear.bias[1] = -10.0
    return model.eval()


def save_toy(path: Path, calibrated: bool = True) -> Path:
    payload = {"task": "viral", "model": {"name": "resvg", "kind": "neural", "config": CONFIG},
               "state": toy_resvg().state_dict(), "preprocessing": {"seq_length": 300}, "threshold": 0.5,
               "training": {"data": "hand-set", "split": "none"}}  # fmt: skip
    if calibrated:
        payload["calibration"] = {"method": "platt", "window": Calibration("platt", 1.0, 0.0).to_state(),
                                  "threshold": 0.0, "contig_null": NULL.to_state(),
                                  "validation_viral": [100, 40]}  # fmt: skip
    return save_checkpoint(path, payload)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return save_toy(tmp_path_factory.mktemp("toy") / "model.pt")


def blocks(pattern: str, rng: np.random.Generator) -> str:
    """300-bp blocks: 'a' = A/T only (non-viral), 'g' = G/C only (viral-looking), 'v' = G/C with 20% A/T (viral)."""
    letters = {"a": ("AT", None), "g": ("GC", None), "v": ("GCAT", [0.4, 0.4, 0.1, 0.1])}
    return "".join("".join(rng.choice(list(letters[c][0]), 300, p=letters[c][1])) for c in pattern)


def write_fasta(path: Path, records: dict[str, str], width: int = 60) -> Path:
    with open(path, "w") as handle:
        for name, seq in records.items():
            handle.write(f">{name}\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width)))
    return path


# the two ways of scoring a ResVG: the trunk once per base (default) and every window on its own; a test that asks
# for the `scoring` fixture runs on both, through `predict`
METHODS = {"fullconv": (), "exact": ("--exact-windows",)}
_scoring: tuple[str, ...] = ()


@pytest.fixture(params=list(METHODS))
def scoring(request):
    global _scoring
    _scoring = METHODS[request.param]
    yield request.param
    _scoring = ()


def predict(model: Path, fasta: Path, out: Path, *extra: str) -> list[dict]:
    assert main(["predict", "viral", "--model", str(model), "--input", str(fasta), "--output", str(out), "--quiet",
                 *extra, *_scoring]) == 0  # fmt: skip
    lines = out.read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


# ------------------------------------------------------------------------------------------------- the toy itself
def test_the_toy_scores_what_its_weights_say():
    from resgenome.data.encoding import encode, one_hot

    model = toy_resvg()
    x = one_hot(np.stack([encode("AT" * 150), encode("GC" * 150), encode("N" * 300)]))
    logits = model(x).detach()
    assert (logits[:, 1] - logits[:, 0]).tolist() == pytest.approx([-10.0, 10.0, 10.0], abs=0.01)


# ------------------------------------------------------------------------------------------------- no evidence
def test_a_record_of_n_is_no_call(toy, tmp_path, scoring):
    """All N: no window can be scored (the toy, like ResVG, would score N as viral)."""
    rows = predict(toy, write_fasta(tmp_path / "in.fa", {"gap": "N" * 3000}), tmp_path / "out.tsv")
    assert (rows[0]["call"], rows[0]["reason"], rows[0]["n_scored"]) == ("no-call", "no-scorable-window", "0")
    assert rows[0]["p_value"] == rows[0]["q_value"] == "NA"


def test_a_one_base_record_is_no_call(toy, tmp_path, scoring):
    rows = predict(toy, write_fasta(tmp_path / "in.fa", {"one": "A", "two": "GC"}), tmp_path / "out.tsv")
    assert [(r["call"], r["reason"]) for r in rows] == [("no-call", "shorter-than-min-length")] * 2


def test_windows_with_too_much_n_are_not_evidence(toy, tmp_path, scoring):
    rng = np.random.default_rng(0)
    at = blocks("aaaa", rng)
    gapped = at[:300] + "N" * 300 + at[600:]  # the windows over the gap would look viral
    rows = predict(toy, write_fasta(tmp_path / "in.fa", {"gapped": gapped}), tmp_path / "out.tsv")
    assert rows[0]["call"] == "non-viral" and int(rows[0]["n_scored"]) < int(rows[0]["n_windows"])
    assert rows[0]["viral_windows"] == "0"


# ------------------------------------------------------------------------------------------------- appending
PREFIXES = (1, 2, 3, 5, 10, 20, 50, 100, 200, 400)


def test_appending_non_viral_sequence_never_makes_a_non_viral_contig_viral(toy, tmp_path, scoring):
    """Non-viral sequence here is realistic: 2% of its 300-bp blocks look viral (twice the null rate). The max of
    window scores calls the longer prefixes viral; the contig call must stay non-viral at every length."""
    rng = np.random.default_rng(1)
    stream = "a" + "".join(rng.choice(["a", "g"], p=[0.98, 0.02], size=max(PREFIXES) - 1))
    sequence = blocks(stream, rng)
    records = {f"prefix{k}": sequence[: 300 * k] for k in PREFIXES}
    rows = predict(toy, write_fasta(tmp_path / "in.fa", records), tmp_path / "out.tsv")
    assert [r["call"] for r in rows] == ["non-viral"] * len(PREFIXES)
    assert any(float(r["score_max"]) >= 0.5 for r in rows)  # the max rule would have called some viral
    p = [float(r["p_value"]) for r in rows]
    assert p[0] == 1.0 and max(p) <= 1.0


def test_appending_viral_sequence_never_makes_a_viral_contig_non_viral(toy, tmp_path, scoring):
    """Viral sequence (G/C-rich with 20% A/T, every window looks viral) appended to a viral contig: called viral
    at every length, ever more surely. (Appending sequence that does not look viral may rightly weaken a call.)"""
    rng = np.random.default_rng(2)
    sequence = blocks("v" * max(PREFIXES), rng)
    records = {f"prefix{k}": sequence[: 300 * k] for k in PREFIXES}
    rows = predict(toy, write_fasta(tmp_path / "in.fa", records), tmp_path / "out.tsv")
    assert [r["call"] for r in rows] == ["viral"] * len(PREFIXES)
    p = [float(r["p_value"]) for r in rows]
    assert p[0] == pytest.approx(NULL.rate) and all(b <= a for a, b in zip(p[:-1], p[1:])) and p[-1] < 1e-10


# ------------------------------------------------------------------------------------------------- q-values, FDR
def mixed_records(seed: int = 3) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    records = {}
    for i in range(40):
        pattern = rng.choice(["aaaaaaaaaa", "aaaagaaaaa", "gggggagggg", "ggag", "a", "g", "aag"])
        records[f"c{i}"] = blocks(pattern, rng)
    return records


def test_q_values_are_monotone_in_p_and_fdr_calls_follow_them(toy, tmp_path, scoring):
    fasta = write_fasta(tmp_path / "in.fa", mixed_records())
    rows = predict(toy, fasta, tmp_path / "out.tsv", "--fdr", "0.05")
    tested = sorted((float(r["p_value"]), float(r["q_value"]), r["call"]) for r in rows if r["p_value"] != "NA")
    q = [t[1] for t in tested]
    assert q == sorted(q) and all(qv >= pv for pv, qv, _ in tested)
    assert all((c == "viral") == (qv <= 0.05) for _, qv, c in tested)
    assert {r["reason"] for r in rows} <= {"q<=fdr", "q>fdr"}


def test_sharded_fdr_calls_merge_into_the_unsharded_ones(toy, tmp_path, scoring):
    fasta = write_fasta(tmp_path / "in.fa", mixed_records(4))
    predict(toy, fasta, tmp_path / "all.tsv", "--fdr", "0.1")
    parts = []
    for i in range(3):
        predict(toy, fasta, tmp_path / f"part{i}.tsv", "--fdr", "0.1", "--shard", f"{i}/3")
        parts.append(str(tmp_path / f"part{i}.tsv"))
    assert main(["merge-predictions", "--output", str(tmp_path / "merged.tsv"), *parts]) == 0
    assert (tmp_path / "merged.tsv").read_bytes() == (tmp_path / "all.tsv").read_bytes()


def test_both_scoring_paths_give_the_same_evidence_and_calls(toy, tmp_path):
    """Records whose windows are all edge windows (within 13 + 16 bases of an end, or shorter than a window) are
    scored by the same function on both paths: the same rows, calls and p-values. Longer records, whose inner
    windows see their neighbouring bases on the fully convolutional path, keep the same counts, N rule and calls, and
    their probabilities agree closely (the toy's features reach 4 bp past a window's edge)."""
    rng = np.random.default_rng(11)
    edge_only = {"w300": blocks("g", rng), "w301": blocks("gg", rng)[:301], "w450": blocks("gg", rng)[:450],
                 "w280": blocks("a", rng)[:280], "w450a": blocks("ag", rng)[:450],
                 "w200": blocks("g", rng)[:200]}  # fmt: skip
    out = {}
    for name, extra in METHODS.items():
        fasta = write_fasta(tmp_path / "edges.fa", edge_only)
        out[name] = predict(toy, fasta, tmp_path / f"edges.{name}.tsv", "--fdr", "0.1", *extra)
        assert predict(toy, fasta, tmp_path / f"edges_w.{name}.tsv", "--per-window", *extra)
    assert (tmp_path / "edges_w.fullconv.tsv").read_text() == (tmp_path / "edges_w.exact.tsv").read_text()
    fullconv, exact = out["fullconv"], out["exact"]
    assert fullconv == exact
    assert {r["call"] for r in fullconv} == {"viral", "non-viral", "no-call"}  # every kind of call was compared

    # windows aligned with the 300-bp blocks (stride 300): inner windows exist, one block of N is not scored
    records = mixed_records(12)
    records["gap"] = blocks("aa", rng) + "N" * 300 + blocks("ggg", rng)
    fasta = write_fasta(tmp_path / "in.fa", records)
    rows = {name: predict(toy, fasta, tmp_path / f"{name}.tsv", "--stride", "300", "--fdr", "0.1", *extra)
            for name, extra in METHODS.items()}  # fmt: skip
    for a, b in zip(rows["fullconv"], rows["exact"]):
        for column in ("seq_id", "n_windows", "n_scored", "viral_windows", "call", "reason"):
            assert a[column] == b[column], (a["seq_id"], column)
        if a["p_value"] != "NA":
            assert float(a["p_value"]) == pytest.approx(float(b["p_value"]), rel=1e-9)
            assert float(a["q_value"]) == pytest.approx(float(b["q_value"]), rel=1e-9)
        assert float(a["score_mean"]) == pytest.approx(float(b["score_mean"]), abs=1e-3)
    gap = [r for r in rows["fullconv"] if r["seq_id"] == "gap"][0]
    assert (gap["n_windows"], gap["n_scored"]) == ("6", "5")


# ------------------------------------------------------------------------------------------------- outputs
def raw_records(text: str) -> dict[str, str]:
    """Each record's text exactly as in the file: header line through the line before the next header."""
    chunks = ("\n" + text).split("\n>")[1:]
    return {chunk.split(None, 1)[0]: ">" + chunk + ("\n" if i < len(chunks) - 1 else "")
            for i, chunk in enumerate(chunks)}  # fmt: skip


@pytest.mark.parametrize("compressed_in, compressed_out", [(False, False), (True, True)])
def test_fasta_out_holds_exactly_the_called_records_byte_for_byte(toy, tmp_path, compressed_in, compressed_out,
                                                                  scoring):
    rng = np.random.default_rng(5)
    parts = []
    for i, pattern in enumerate(["gggg", "aaaa", "ggg", "aa", "gggggg", "a"]):
        seq = blocks(pattern, rng)
        seq = seq[:100].lower() + seq[100:]  # soft-masked bases must come out as they went in
        width = [50, 61, 300, 1000, 7, 80][i]
        lines = "".join(seq[j : j + width] + ("\r\n" if i == 3 else "\n") for j in range(0, len(seq), width))
        parts.append(f">r{i} description {i}\n{lines}")
    text = "".join(parts)[:-1]  # the last record ends without a newline
    fasta = tmp_path / ("in.fa.gz" if compressed_in else "in.fa")
    fasta.write_bytes(gzip.compress(text.encode()) if compressed_in else text.encode())
    out = tmp_path / ("called.fa.gz" if compressed_out else "called.fa")
    rows = predict(toy, fasta, tmp_path / "out.tsv", "--fasta-out", str(out))
    called = [r["seq_id"] for r in rows if r["call"] == "viral"]
    assert called == ["r0", "r2", "r4"]
    records = raw_records(text)
    got = gzip.decompress(out.read_bytes()) if compressed_out else out.read_bytes()
    assert got == "".join(records[name] for name in called).encode()


def test_the_manifest_names_the_model_the_input_and_the_counts(toy, tmp_path, scoring):
    fasta = write_fasta(tmp_path / "in.fa", mixed_records(6))
    rows = predict(toy, fasta, tmp_path / "out.tsv", "--fdr", "0.05")
    manifest = json.loads((tmp_path / "out.tsv.json").read_text())
    assert manifest["model"]["sha256"] == hashlib.sha256(toy.read_bytes()).hexdigest()
    assert manifest["model"]["name"] == "resvg"
    assert manifest["input"] == {"path": str(fasta), "content_bytes": fasta.stat().st_size,
                                 "content_sha256": hashlib.sha256(fasta.read_bytes()).hexdigest()}  # fmt: skip
    assert manifest["options"]["fdr"] == 0.05 and manifest["options"]["min_length"] == 250
    assert manifest["options"]["exact_windows"] == (scoring == "exact") and manifest["options"]["precision"] == "fp32"
    counts = manifest["counts"]
    assert counts["viral"] == sum(r["call"] == "viral" for r in rows)
    assert counts["viral"] + counts["non-viral"] + counts["no-call"] == counts["records"] == len(rows)
    assert manifest["calls"]["rule"].startswith("q <= 0.05") and manifest["calls"]["null_rate"] == NULL.rate
    assert manifest["wall_seconds"] > 0
    # the input's content is hashed as it is read: a gzip copy of it is the same input
    (tmp_path / "in.fa.gz").write_bytes(gzip.compress(fasta.read_bytes()))
    predict(toy, tmp_path / "in.fa.gz", tmp_path / "gz.tsv", "--fdr", "0.05")
    assert json.loads((tmp_path / "gz.tsv.json").read_text())["input"]["content_sha256"] == manifest["input"][
        "content_sha256"]


def test_bedgraph_tiles_each_contig_with_window_probabilities(toy, tmp_path, scoring):
    records = {"long": blocks("agag", np.random.default_rng(7))[:1111], "short": "GC" * 140, "gap": "N" * 600}
    predict(toy, write_fasta(tmp_path / "in.fa", records), tmp_path / "out.tsv", "--bedgraph",
            str(tmp_path / "w.bedgraph"))  # fmt: skip
    assert predict(toy, write_fasta(tmp_path / "in.fa", records), tmp_path / "w.tsv", "--per-window")
    windows = [line.split("\t") for line in (tmp_path / "w.tsv").read_text().splitlines()[1:]]
    intervals = [line.split("\t") for line in (tmp_path / "w.bedgraph").read_text().splitlines()]
    long = [(int(a), int(b), v) for name, a, b, v in intervals if name == "long"]
    assert long[0][0] == 0 and long[-1][1] == 1111
    assert all(b == a2 for (_, b, _), (a2, _, _) in zip(long[:-1], long[1:]))  # no gap, no overlap
    scores = [w[3] for w in windows if w[0] == "long"]
    assert [v for _, _, v in long] == scores and len(scores) == len(window_starts(1111, 300, 150))
    assert [(a, b) for name, a, b, _ in intervals if name == "short"] == [("0", "280")]
    assert not any(name == "gap" for name, *_ in intervals)  # windows of N are not scored: no interval


# ------------------------------------------------------------------------------------------------- old models
def test_an_old_model_without_calibration_loads_with_a_one_line_warning(tmp_path, capsys, scoring):
    old = save_toy(tmp_path / "old.pt", calibrated=False)
    fasta = write_fasta(tmp_path / "in.fa", {"a": blocks("gg", np.random.default_rng(8))})
    capsys.readouterr()
    rows = predict(old, fasta, tmp_path / "out.tsv")
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("warning:")]
    assert len(warnings) == 1 and "resgenome calibrate" in warnings[0] and str(old) in warnings[0]
    assert len(err) == 2  # the warning and the summary line
    assert (rows[0]["call"], rows[0]["reason"], rows[0]["p_value"]) == ("no-call", "uncalibrated-model", "NA")
    assert float(rows[0]["score_max"]) == pytest.approx(1 / (1 + np.exp(-10)), abs=1e-4)  # the model's own score


# ------------------------------------------------------------------------------------------------- calibrate
def synthetic_prefix(root: Path) -> Path:
    """PREFIX_{train,validation,test}.csv of 300-bp sequences; the viral third is G/C-richer."""
    rng = np.random.default_rng(0)
    for part, n in (("train", 300), ("validation", 150), ("test", 150)):
        rows = []
        for i in range(n):
            viral = i % 3 == 0
            p = [0.2, 0.3, 0.3, 0.2] if viral else [0.3, 0.2, 0.2, 0.3]
            rows.append(f"s{part}{i}_expA,{''.join(rng.choice(list('ACGT'), 300, p=p))},{int(viral)}\n")
        (root / f"syn_{part}.csv").write_text("".join(rows))
    return root / "syn"


def test_calibrate_adds_a_calibration_to_an_old_model_and_never_overwrites_it(tmp_path, capsys):
    prefix = synthetic_prefix(tmp_path)
    assert main(["train", "viral", "--data", str(prefix), "--model", "kmer-logreg", "--kmer", "3", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0  # fmt: skip
    payload = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    old = tmp_path / "old.pt"
    save_checkpoint(old, {k: v for k, v in payload.items() if k not in ("calibration", "format", "format_version")})
    before = old.read_bytes()
    assert main(["calibrate", "--model", str(old), "--out", str(old)]) != 0  # never in place
    assert main(["calibrate", "--model", str(old), "--out", str(tmp_path / "x.pt"), "--split", "random"]) != 0
    assert "not the" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()  # another split: refused
    assert main(["calibrate", "--model", str(old), "--out", str(tmp_path / "new.pt")]) == 0
    assert old.read_bytes() == before
    new = torch.load(tmp_path / "new.pt", weights_only=True)
    assert new["calibration"]["window"] == payload["calibration"]["window"]  # the same fit train makes
    # the k-mer model is called through the same path as ResVG
    fasta = write_fasta(tmp_path / "in.fa", {"a": blocks("v" * 4, np.random.default_rng(9))})
    rows = predict(tmp_path / "new.pt", fasta, tmp_path / "out.tsv")
    assert rows[0]["call"] in ("viral", "non-viral") and rows[0]["p_value"] != "NA"


def test_a_calibration_without_a_both_strands_part_says_so(toy, tmp_path, capsys, scoring):
    fasta = write_fasta(tmp_path / "in.fa", {"a": blocks("gg", np.random.default_rng(10))})
    capsys.readouterr()
    rows = predict(toy, fasta, tmp_path / "out.tsv", "--both-strands")
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "--both-strands" in warnings[0]
    assert (rows[0]["call"], rows[0]["reason"]) == ("no-call", "uncalibrated-model")
