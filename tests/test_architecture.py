"""docs/architecture.md's promise, run: a new model is one file plus one registry line. The code blocks of the doc
are executed as written, the model is registered and trained for one epoch, and its checkpoint scores again."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from resgenome import models
from resgenome.models import flops_per_sample
from resgenome.pipeline import RunOptions, train_model
from resgenome.predictor import Predictor
from resgenome.tasks import get_task
from resgenome.trainer import TrainConfig

DOC = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


@pytest.fixture
def registered_example():
    """The doc's model module, then its registry line, executed in the registry's namespace."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    model_file, registry_line = blocks[0], blocks[1]
    assert len(model_file.splitlines()) <= 25 and registry_line.strip().startswith("register(")
    namespace: dict = {}
    exec(compile(model_file, f"{DOC}:model", "exec"), namespace)  # noqa: S102 - our own documentation
    exec(compile(registry_line, f"{DOC}:registry", "exec"), {**vars(models.registry), **namespace})  # noqa: S102
    yield namespace["OneHotLogReg"]
    models.unregister("onehot-logreg")


def test_the_documented_model_trains_for_one_epoch_and_scores_again(registered_example, synthetic_prefix, tmp_path):
    assert "onehot-logreg" in get_task("viral").neural_models  # the registry line is all the task needs
    opts = RunOptions(model="onehot-logreg", train=TrainConfig(epochs=1, batch_size=64, progress=False))
    metrics = train_model("viral", str(synthetic_prefix), opts, tmp_path / "run", log=None, figures=False)
    assert metrics["epochs_run"] == 1 and metrics["test"]["auroc"] is not None
    predictor = Predictor.load(tmp_path / "run" / "model.pt", task="viral", device="cpu")
    assert isinstance(predictor.model, registered_example) and predictor.config == {"seq_length": 300}
    test = get_task("viral").load(f"{synthetic_prefix}_test.csv")
    assert np.array_equal(predictor.score_dataset(test), metrics["_test_scores"][1])
    assert flops_per_sample("onehot-logreg", predictor.config) == 2 * 4 * 300 * 2
