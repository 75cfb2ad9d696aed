"""Super-enhancer task: imPROSE feature tables -> ResSEN / DeepSEN / classical baselines."""

from __future__ import annotations

import numpy as np
import torch

from ..data import registry
from ..data.splits import Split, group_split, paper_split, random_split
from ..data.feature_transforms import apply_transform, fit_order, fit_transform
from ..data.tables import FEATURES, LABEL_NAMES, FeatureTable, Scaler, read_table
from ..errors import ResgenomeError
from ..models.ressen_plus import RESSEN_VARIANTS
from ..train import ArrayData

#: ResSEN widths by preset: the paper's, and a narrow one for smoke tests and CI.
RESSEN_PRESETS = {
    "paper": {"stem_channels": 64, "block1": (128, 256), "block2": (256, 512)},
    "cpu": {"stem_channels": 64, "block1": (128, 256), "block2": (256, 512)},
    "smoke": {"stem_channels": 8, "block1": (16, 16), "block2": (16, 32)},
}
DEEPSEN_PRESETS = {"paper": {}, "cpu": {}, "smoke": {"channels": (8, 16, 16), "hidden": 16}}


class SuperEnhancerTask:
    name = "superenhancer"
    selection_metric = "auprc"
    neural_models = ("ressen", "deepsen", *RESSEN_VARIANTS)
    classical_models = ("rf", "logreg", "hgb")
    splits = ("chromosome", "random", "paper")
    default_split = "chromosome"
    positive, negative = LABEL_NAMES[1], LABEL_NAMES[0]
    group_name = "chromosome"

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

    def _scaled(self, table: FeatureTable, prep: dict) -> np.ndarray:
        if list(table.features) != prep["features"]:
            raise ResgenomeError(f"{table.source}: features differ from those the model was trained on")
        X = apply_transform(prep.get("transform", {"kind": "none"}), table.X)
        X = Scaler.from_state(prep["scaler"]).transform(X)
        return X[:, prep["order"]] if "order" in prep else X

    def neural_inputs(self, table: FeatureTable, prep: dict) -> ArrayData:
        X = torch.from_numpy(self._scaled(table, prep)).unsqueeze(1)  # (N, 1, F)
        y = torch.from_numpy(np.array(table.y if table.y is not None else np.zeros(len(table)), dtype=np.int64))
        return ArrayData(X, y)

    def classical_inputs(self, table: FeatureTable, prep: dict) -> np.ndarray:
        return self._scaled(table, prep).astype(np.float64)

    def model_config(self, model: str, table_or_prep, preset: str = "cpu", width: int | None = None) -> dict:
        n_features = len(table_or_prep["features"] if isinstance(table_or_prep, dict) else table_or_prep.features)
        if model == "ressen":
            config = dict(RESSEN_PRESETS[preset])
            if width:  # --width scales the block widths from the stem
                config = {"stem_channels": width // 8, "block1": (width // 4, width // 2),
                          "block2": (width // 2, width)}  # fmt: skip
            return {"n_features": n_features, **config}
        if model == "deepsen":
            return {"n_features": n_features, **DEEPSEN_PRESETS[preset]}
        if model in RESSEN_VARIANTS:  # ResSEN's widths with the variant's deviations (models/ressen_plus.py)
            return {**self.model_config("ressen", table_or_prep, preset, width), **RESSEN_VARIANTS[model]}
        raise ResgenomeError(f"unknown model {model!r} for the superenhancer task")

    # ------------------------------------------------------------------ output
    def prediction_rows(self, table: FeatureTable, scores: np.ndarray, threshold: float):
        """Columns chrom, start, end, score, label for ``predict superenhancer``."""
        header = ["chrom", "start", "end", "score", "label"]
        labels = np.where(scores >= threshold, self.positive, self.negative)
        rows = zip(table.chrom, table.start, table.end, scores, labels)
        return header, ([c, int(s), int(e), f"{p:.6f}", lab] for c, s, e, p, lab in rows)
