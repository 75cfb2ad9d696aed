"""Train / validation / test splits: the paper's, a stratified random one, and grouped ones (no leakage).

Every split is a function of the labels, the groups and a seed only, so the same seed gives the same split for
every model: the comparison between models is paired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

from ..errors import ResgenomeError


@dataclass
class Split:
    """Row indices of the three parts.

    ``optimistic`` marks the paper's protocol, where the test set is also the validation set (model selection sees
    the test labels), so its test scores are biased upwards.
    """

    name: str
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    optimistic: bool = False
    held_out: dict[str, list[str]] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}

    def describe(self, y: np.ndarray | None = None) -> str:
        parts = []
        for part in ("train", "validation", "test"):
            idx = getattr(self, part)
            pos = f", {int(y[idx].sum())} positive" if y is not None else ""
            parts.append(f"{part} {len(idx)}{pos}")
        text = f"split {self.name}: " + "; ".join(parts)
        for part, groups in self.held_out.items():
            text += f"; {part} groups: {', '.join(groups)}"
        if self.optimistic:
            text += " (OPTIMISTIC: the test set is also the validation set, as in the paper)"
        return text


def paper_split(y: np.ndarray, seed: int, test_fraction: float = 0.1) -> Split:
    """Stratified 90/10, validation = test, as Sabba et al. did for ResSEN."""
    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    return Split("paper", np.sort(train), np.sort(test), np.sort(test), optimistic=True)


def random_split(y: np.ndarray, seed: int, fractions: tuple[float, float] = (0.1, 0.1)) -> Split:
    """Stratified train / validation / test, 80/10/10 by default."""
    val_fraction, test_fraction = fractions
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    train, val = train_test_split(
        rest, test_size=val_fraction / (1 - test_fraction), stratify=y[rest], random_state=seed + 1
    )
    return Split("random", np.sort(train), np.sort(val), np.sort(test))


def group_split(
    groups: np.ndarray,
    y: np.ndarray,
    seed: int,
    *,
    name: str = "group",
    fractions: tuple[float, float] = (0.1, 0.1),
    test_groups: list[str] | None = None,
    validation_groups: list[str] | None = None,
) -> Split:
    """Hold out whole groups (chromosomes, experiments) for validation and test.

    Groups are shuffled with the seed and taken in turn until each held-out part has at least its fraction of the
    rows and at least one positive; ``test_groups`` / ``validation_groups`` fix them by name instead.
    """
    groups = np.asarray(groups).astype(str)
    names = np.unique(groups)
    known = set(names.tolist())
    for given in (test_groups or []) + (validation_groups or []):
        if given not in known:
            raise ResgenomeError(f"--holdout: no group named {given!r}; the data has {', '.join(names[:20])}")
    rng = np.random.default_rng(seed)
    order = [str(g) for g in rng.permutation(names)]
    n = len(groups)
    taken: set[str] = set(test_groups or []) | set(validation_groups or [])

    def pick(fixed: list[str] | None, fraction: float) -> list[str]:
        if fixed:
            return list(fixed)
        chosen: list[str] = []
        rows = positives = 0
        for g in order:
            if g in taken:
                continue
            if rows >= fraction * n and positives > 0:
                break
            mask = groups == g
            chosen.append(g)
            taken.add(g)
            rows += int(mask.sum())
            positives += int(y[mask].sum())
        return chosen

    test_names = pick(test_groups, fractions[1])
    val_names = pick(validation_groups, fractions[0])
    test = np.flatnonzero(np.isin(groups, test_names))
    val = np.flatnonzero(np.isin(groups, val_names))
    train = np.flatnonzero(~np.isin(groups, test_names + val_names))
    for part, idx in (("train", train), ("validation", val), ("test", test)):
        if len(idx) == 0 or y[idx].sum() == 0 or y[idx].sum() == len(idx):
            raise ResgenomeError(
                f"{name} split: the {part} part has only one class; there are too few groups with both classes"
                " to hold out (use --split random)"
            )
    return Split(name, train, val, test, held_out={"validation": sorted(val_names), "test": sorted(test_names)})
