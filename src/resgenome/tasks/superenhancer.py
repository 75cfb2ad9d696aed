"""Super-enhancer task: imPROSE feature tables -> ResSEN / DeepSEN / classical baselines."""

from __future__ import annotations

import numpy as np
import torch

from ..data import registry
from ..data.splits import Split, group_split, paper_split, random_split
from ..data.feature_transforms import apply_transform, fit_order, fit_transform
from ..data.tables import FEATURES, LABEL_NAMES, FeatureTable, Scaler, read_table
from ..errors import ResgenomeError
from ..models import RECIPE_VARIANTS
from ..models.ressen_plus import RESSEN_VARIANTS
from .base import Task, TaskPreset

#: ResSEN at the paper's widths (its 17,408-feature flatten is what the paper describes); the cpu preset keeps them
#: (~25 s per epoch on the full table on 2 cores), the smoke preset is narrow, for tests and CI only.
_RESSEN_PAPER = {"stem_channels": 64, "block1": (128, 256), "block2": (256, 512)}
_SMOKE_CAPS = {"train": (400, 40), "validation": (200, 20), "test": (200, 20)}

#: Every preset of the task: model widths, and what ``resgenome reproduce`` trains for how long on how many rows.
PRESETS = {
    "smoke": TaskPreset(
        widths={"ressen": {"stem_channels": 8, "block1": (16, 16), "block2": (16, 32)},
                "deepsen": {"channels": (8, 16, 16), "hidden": 16}},
        epochs={"ressen": 1, "deepsen": 2}, patience=1, batch_size=64,
        classical_params={"rf": {"n_estimators": 10}, "hgb": {"max_iter": 20}}, caps=_SMOKE_CAPS,
    ),
    "cpu": TaskPreset(widths={"ressen": _RESSEN_PAPER}, epochs={"ressen": 3, "deepsen": 20}, patience=2,
                      batch_size=128),
    "paper": TaskPreset(widths={"ressen": _RESSEN_PAPER}, epochs={"ressen": 30, "deepsen": 30}, patience=8,
                        batch_size=128),
}  # fmt: skip


def _ressen_width(w: int) -> dict:
    """--width W: the last block's width, the others scaled from it as in the paper (64, 128/256, 256/512 at 512)."""
    return {"stem_channels": w // 8, "block1": (w // 4, w // 2), "block2": (w // 2, w)}


# a network under its own recipe (models/registry.py): ResSEN's epochs in `resgenome reproduce` (widths: Task.model_config)
for _preset in PRESETS.values():
    _preset.epochs.update({name: _preset.epochs["ressen"] for name, (network, _) in RECIPE_VARIANTS.items()
                           if network == "ressen" or network in RESSEN_VARIANTS})  # fmt: skip
# variants beyond the paper (models/ressen_plus.py): ResSEN's widths at every preset and under --width, with the
# variant's deviations on top
for _preset in PRESETS.values():
    _preset.widths.update({name: {**_preset.widths["ressen"], **deviations}
                           for name, deviations in RESSEN_VARIANTS.items()})  # fmt: skip
_WIDTH_RULES = {"ressen": _ressen_width}
_WIDTH_RULES.update({name: (lambda w, d=deviations: {**_ressen_width(w), **d})
                     for name, deviations in RESSEN_VARIANTS.items()})  # fmt: skip


class SuperEnhancerTask(Task):
    """Super-enhancer constituent (SE, 1) vs typical enhancer (TE, 0) from 36 features per enhancer region."""

    name = "superenhancer"
    selection_metric = "auprc"
    classical_models = ("rf", "logreg", "hgb")
    splits = ("chromosome", "random", "paper")
    default_split = "chromosome"
    positive, negative = LABEL_NAMES[1], LABEL_NAMES[0]
    presets = PRESETS
    width_rules = _WIDTH_RULES

    # ------------------------------------------------------------------ data
    def load(self, data: str, *, use_length: bool = False, require_labels: bool = True) -> FeatureTable:
        paths = registry.resolve_data_argument(str(data))
        if len(paths) != 1:
            raise ResgenomeError(f"{data}: expected one CSV table, got {len(paths)} files")
        features = FEATURES + (("length",) if use_length else ())
        return read_table(paths[0], features=features, require_labels=require_labels)

    def make_split(self, table: FeatureTable, split: str, seed: int, **options) -> Split:
        if split == "paper":
            return paper_split(table.y, seed)
        if split == "random":
            return random_split(table.y, seed)
        if split == "chromosome":
            holdout = options.get("holdout") or None
            return group_split(table.chrom, table.y, seed, name="chromosome", test_groups=holdout)
        raise ResgenomeError(f"--split {split}: not a split of the superenhancer task ({', '.join(self.splits)})")

    def groups(self, table: FeatureTable) -> np.ndarray:
        return table.chrom

    def labels(self, table: FeatureTable) -> np.ndarray:
        return table.y

    def check_training_rows(self, table: FeatureTable, train_idx: np.ndarray) -> None:
        """Refuse training rows in which no feature varies: any model would learn a constant."""
        X = table.X[train_idx]
        if len(X) and np.all(X.max(axis=0) == X.min(axis=0)):
            raise ResgenomeError(f"{table.source}: every feature is constant over the training rows; there is nothing"
                                 " to learn from (check the table's columns)")  # fmt: skip

    # ------------------------------------------------------------------ preprocessing
    def fit_preprocessing(self, table: FeatureTable, train_idx: np.ndarray, options: dict) -> dict:
        # a transform of the heavy-tailed signals (log1p / rank) and a feature order go before and after Eq. 1-4;
        # both default to the paper's (none, Table 1 order): see data/feature_transforms.py
        transform = fit_transform(options.get("transform") or "none", table.X[train_idx])
        X_train = apply_transform(transform, table.X[train_idx])
        scaler = Scaler(options.get("normalize", "per-feature")).fit(X_train)
        prep = {"scaler": scaler.state(), "features": list(table.features), "transform": transform}
        prep["order"] = fit_order(options.get("feature_order") or "paper", X_train)
        return prep

    def model_input(self, table: FeatureTable, prep: dict) -> np.ndarray:
        """Scaled features (N, F) float32, after checking they are the features the model was trained on."""
        if list(table.features) != prep["features"]:
            raise ResgenomeError(f"{table.source}: features differ from those the model was trained on")
        X = apply_transform(prep.get("transform", {"kind": "none"}), table.X)
        X = Scaler.from_state(prep["scaler"]).transform(X)
        return X[:, prep["order"]] if "order" in prep else X

    def neural_tensor(self, array: np.ndarray) -> tuple[torch.Tensor, None]:
        return torch.from_numpy(array).unsqueeze(1), None  # (N, 1, F)

    def classical_matrix(self, array: np.ndarray, prep: dict) -> np.ndarray:
        return array.astype(np.float64)

    def input_config(self, prep: dict) -> dict:
        return {"n_features": len(prep["features"])}

    def load_options(self, prep: dict) -> dict:
        """A model trained with the region length as a 37th feature reads it again."""
        return {"use_length": "length" in prep["features"]}

    # ------------------------------------------------------------------ output
    def prediction_rows(self, table: FeatureTable, scores: np.ndarray, threshold: float):
        """Columns chrom, start, end, score, label for ``predict superenhancer``."""
        header = ["chrom", "start", "end", "score", "label"]
        labels = np.where(scores >= threshold, self.positive, self.negative)
        rows = zip(table.chrom, table.start, table.end, scores, labels)
        return header, ([c, int(s), int(e), f"{p:.6f}", lab] for c, s, e, p, lab in rows)
