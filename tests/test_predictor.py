"""The Predictor: one model loaded once, scoring windows, strings and tables; its checkpoint round trip; devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resgenome.checkpoint import load_checkpoint
from resgenome.data.encoding import decode, one_hot, reverse_complement
from resgenome.data.tables import FeatureTable, Scaler
from resgenome.errors import CheckpointError, ResgenomeError
from resgenome.models import classical
from resgenome.predictor import Predictor, pick_device

from .conftest import TOY_WINDOW


def _codes(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 5, size=(n, TOY_WINDOW)).astype(np.uint8)


def _by_hand(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """softmax(logits)[:, 1] of the model in eval mode, computed here without the Predictor."""
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(x), dim=1)[:, 1].double().numpy()


def test_windows_are_scored_as_the_model_scores_them(toy_resvg):
    codes = _codes(9)
    p = toy_resvg.score_windows(codes)
    assert toy_resvg.model.training  # scored in eval mode, and the model's own mode restored
    assert p.shape == (9,) and p.dtype == np.float64
    np.testing.assert_allclose(p, _by_hand(toy_resvg.model, one_hot(codes)), rtol=1e-6)


def test_both_strands_average_each_window_with_its_reverse_complement(toy_resvg):
    codes = _codes(6, seed=1)
    one, rc = toy_resvg.score_windows(codes), toy_resvg.score_windows(reverse_complement(codes))
    np.testing.assert_allclose(toy_resvg.score_windows(codes, both_strands=True), (one + rc) / 2, rtol=1e-6)


def test_the_scanner_is_the_fully_convolutional_view_of_the_same_network(toy_resvg, toy_table):
    """ResVG has a scanner on the predictor's device and in its precision, scoring a lone window as the predictor
    does; a classical model has none."""
    scanner = toy_resvg.scanner()
    assert scanner is not None and scanner.window == TOY_WINDOW and scanner.device == toy_resvg.device
    codes = _codes(4, seed=2)
    z = scanner.position_logits(one_hot(codes)).double().numpy()  # (4, span, 2): a window's mean is its logits
    logits = z.mean(axis=1) + scanner.bias
    p = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    np.testing.assert_allclose(p, toy_resvg.score_windows(codes), atol=1e-6)
    assert Predictor("viral", "resvg", toy_resvg.model, toy_resvg.preprocessing, config=toy_resvg.config,
                     precision="bf16", device="cpu").scanner().dtype == torch.bfloat16  # fmt: skip
    estimator = classical.make_estimator("logreg").fit(toy_table.X, toy_table.y)
    prep = {"scaler": Scaler("per-feature").fit(toy_table.X).state(), "features": list(toy_table.features)}
    assert Predictor("superenhancer", "logreg", classical.export(estimator), prep).scanner() is None


def test_log_odds_are_the_logit_difference_behind_the_probability(toy_resvg):
    codes = _codes(7, seed=2)
    z = toy_resvg.log_odds(codes)
    assert z.dtype == np.float64 and z.shape == (7,)
    np.testing.assert_allclose(1 / (1 + np.exp(-z)), toy_resvg.proba(codes), rtol=1e-5)


def test_batch_size_sets_the_forward_passes(toy_resvg):
    calls = []
    toy_resvg.model.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    toy_resvg.batch_size = 4
    toy_resvg.proba(_codes(10))
    assert calls == [4, 4, 2]


def test_sequences_as_strings_score_like_their_codes(toy_resvg):
    codes = _codes(3, seed=4)
    strings = [decode(row) for row in codes]
    np.testing.assert_array_equal(toy_resvg.score_sequences(strings), toy_resvg.score_windows(codes))
    with pytest.raises(ResgenomeError, match=f"sequence 1 is 5 bp; the model scores windows of {TOY_WINDOW} bp"):
        toy_resvg.score_sequences([strings[0], "ACGTA"])


def test_checkpoint_round_trip_scores_identically(toy_resvg, tmp_path):
    toy_resvg.metadata = {"note": "toy"}
    toy_resvg.save(tmp_path / "model.pt")
    payload = load_checkpoint(tmp_path / "model.pt", task="viral")  # weights only: plain values and tensors
    assert payload["model"] == {"name": "resvg", "kind": "neural", "config": toy_resvg.config}
    assert payload["threshold"] == 0.5 and payload["training"] == {"note": "toy"} and "calibration" not in payload
    loaded = Predictor.load(tmp_path, task="viral", device="cpu")
    assert (loaded.task, loaded.model_name, loaded.kind, loaded.window, loaded.features) == (
        "viral", "resvg", "neural", TOY_WINDOW, None)  # fmt: skip
    codes = _codes(12, seed=5)
    assert np.array_equal(loaded.score_windows(codes), toy_resvg.score_windows(codes))


def test_refusals_name_the_file(toy_resvg, tmp_path):
    toy_resvg.save(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="this is a viral model; the command needs a superenhancer model"):
        Predictor.load(tmp_path / "model.pt", task="superenhancer")
    payload = toy_resvg.payload()
    payload["model"]["config"] = {**payload["model"]["config"], "width": 3}
    with pytest.raises(ResgenomeError, match="x.pt: checkpoint does not match its model"):
        Predictor.from_payload(payload, source="x.pt")
    with pytest.raises(CheckpointError, match="z.pt: a model of the task 'plants', which this resgenome does not know"):
        Predictor.from_payload({**toy_resvg.payload(), "task": "plants"}, source="z.pt")
    calibrated = {**toy_resvg.payload(), "calibration": {"kind": "platt", "a": 1.0, "b": 0.0}}
    with pytest.raises(CheckpointError, match="y.pt: carries a score calibration"):  # never silently ignored
        Predictor.from_payload(calibrated, source="y.pt")


def test_a_feature_table_is_scaled_and_checked(toy_ressen, toy_table):
    p = toy_ressen.score_dataset(toy_table)
    scaled = Scaler.from_state(toy_ressen.preprocessing["scaler"]).transform(toy_table.X)
    np.testing.assert_allclose(p, _by_hand(toy_ressen.model, torch.from_numpy(scaled).unsqueeze(1)), rtol=1e-6)
    assert toy_ressen.features == ["a", "b", "c", "d"] and toy_ressen.window is None
    renamed = FeatureTable(toy_table.X, None, toy_table.chrom, toy_table.start, toy_table.end, ("a", "b", "c", "e"),
                           "other.csv")  # fmt: skip
    with pytest.raises(ResgenomeError, match="other.csv: features differ"):
        toy_ressen.score_dataset(renamed)


def test_a_classical_model_scores_and_gives_its_decision_value(toy_table):
    estimator = classical.make_estimator("logreg").fit(toy_table.X, toy_table.y)
    prep = {"scaler": Scaler("per-feature").fit(toy_table.X).state(), "features": list(toy_table.features)}
    predictor = Predictor("superenhancer", "logreg", classical.export(estimator), prep, threshold=0.5)
    assert predictor.kind == "classical" and predictor.payload()["model"]["config"] == {}
    X = predictor.encode(toy_table).astype(np.float64)
    np.testing.assert_allclose(predictor.score_dataset(toy_table), estimator.predict_proba(X)[:, 1])
    np.testing.assert_allclose(predictor.log_odds(predictor.encode(toy_table)), estimator.decision_function(X))


def test_device_is_never_cuda_unless_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == pick_device("auto") == pick_device(None) == torch.device("cpu")
    with pytest.raises(ResgenomeError, match="--device cuda: no CUDA device"):
        pick_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda") and pick_device("cpu") == torch.device("cpu")
