"""Viral task: ViraMiner's 300-bp sequences -> ResVG / ViraMiner / k-mer baselines."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from scipy import sparse

from ..data import registry
from ..data.encoding import kmer_counts, one_hot, reverse_complement
from ..data.readers import SequenceSet, experiment_of, read_sequences
from ..data.splits import Split, group_split, random_split
from ..errors import ResgenomeError
from ..models import RECIPE_VARIANTS
from ..models.resvg_plus import RESVG_VARIANTS
from .base import ALL, Task, TaskPreset

#: ViraMiner's widths. ``paper`` = its best reported setting (1200 pattern filters k11, 1000 frequency filters k8);
#: ``cpu`` narrower for a 2-core machine; ``smoke`` for tests.
_VIRAMINER = {
    "paper": {"pattern_filters": 1200, "frequency_filters": 1000, "hidden": 1000},
    "cpu": {"pattern_filters": 300, "frequency_filters": 250, "hidden": 250},
    "smoke": {"pattern_filters": 8, "frequency_filters": 8, "hidden": 8},
}
#: ResVG's residual-block width W. ``paper`` is Sabba et al.'s 1000 filters (~7.4 GFLOP per sequence forward, a GPU
#: setting); ``cpu`` was chosen by measurement on the development set (see :class:`~resgenome.models.resvg.ResVG`);
#: ``smoke`` is for tests and CI only.
_RESVG = {"paper": 1000, "cpu": 32, "smoke": 8}

#: Every preset of the task: model widths, and what ``resgenome reproduce`` trains for how long on how many rows.
PRESETS = {
    "smoke": TaskPreset(
        widths={"resvg": {"width": _RESVG["smoke"]}, "viraminer": _VIRAMINER["smoke"],
                "viraminer-staged": _VIRAMINER["smoke"]},
        epochs={"resvg": 1, "viraminer": 1}, patience=1, batch_size=64, kmer=4,
        classical_params={"kmer-rf": {"n_estimators": 10}, "kmer-logreg": {"max_iter": 200}},
        caps={"train": (400, 40), "validation": (200, 20), "test": (200, 20)},
    ),
    "cpu": TaskPreset(
        widths={"resvg": {"width": _RESVG["cpu"]}, "viraminer": _VIRAMINER["cpu"],
                "viraminer-staged": _VIRAMINER["cpu"]},
        epochs={"resvg": 3, "viraminer": 3}, patience=2, batch_size=128, kmer=6,
        classical_params={"kmer-rf": {"n_estimators": 100}},
        caps={"train": (4000, ALL), "validation": (4000, 0)},
    ),
    "paper": TaskPreset(
        widths={"resvg": {"width": _RESVG["paper"]}, "viraminer": _VIRAMINER["paper"],
                "viraminer-staged": _VIRAMINER["paper"]},
        epochs={"resvg": 20, "viraminer": 20}, patience=4, batch_size=128, kmer=6,
    ),
}  # fmt: skip


def _viraminer_width(width: int) -> dict:
    """--width sets the pattern filters; the others keep ViraMiner's 1000:1200 ratio."""
    return {"pattern_filters": width, "frequency_filters": max(1, width * 5 // 6), "hidden": max(1, width * 5 // 6)}


# the paper's network under its own recipe (models/registry.py): its epochs in `resgenome reproduce` (widths: Task.model_config)
for _preset in PRESETS.values():
    _preset.epochs.update({name: _preset.epochs["resvg"] for name, (network, _) in RECIPE_VARIANTS.items()
                           if network == "resvg"})  # fmt: skip
# variants beyond the paper (models/resvg_plus.py): ResVG's width at every preset and under --width, with the
# variant's deviations on top
for _preset in PRESETS.values():
    _preset.widths.update({name: {**_preset.widths["resvg"], **deviations}
                           for name, deviations in RESVG_VARIANTS.items()})  # fmt: skip
_WIDTH_RULES: dict[str, Callable[[int], dict]] = {
    "resvg": lambda w: {"width": w}, "viraminer": _viraminer_width, "viraminer-staged": _viraminer_width}
_WIDTH_RULES.update({name: (lambda w, d=deviations: {"width": w, **d}) for name, deviations in RESVG_VARIANTS.items()})


PARTS = ("train", "validation", "test")
KMER_RANGE = range(3, 8)
_KMER_ROWS = 2048  # sequences per k-mer counting chunk: a 6-mer chunk is 2048 x 4096 float32 = 32 MB dense
_TRAILING_DIGITS = re.compile(r"\d+$")


@dataclass
class ViralDataset(SequenceSet):
    """Sequences from one or more files, remembering which file each row came from.

    Attributes (besides :class:`SequenceSet`'s)
    ----------
    origin : np.ndarray, shape (N,) int64
        Index into ``files`` of the file each row was read from.
    files : list of str
        The files, in the order given (for a PREFIX or a registry split: train, validation, test).
    """

    origin: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    files: list[str] = field(default_factory=list)

    def subset(self, index: np.ndarray) -> "ViralDataset":
        rows = np.arange(len(self))[np.asarray(index)]
        part = super().subset(rows)
        return ViralDataset(part.ids, part.codes, part.labels, self.source, self.origin[rows], self.files)


def experiment_groups(ids: list[str]) -> np.ndarray:
    """The experiment of each id, with ViraMiner's contig-piece suffix removed.

    ViraMiner ids are ``seq<N>_<experiment><piece>``: ``seq12276_2013_E2_SCC1`` is piece 1 of a contig of experiment
    ``2013_E2_SCC`` (piece 0 has no number). :func:`experiment_of` returns ``2013_E2_SCC1``, so pieces of one contig
    would land in different groups — a leak for a held-out-experiment split. An experiment name that is another one
    plus trailing digits is mapped to the shortest such name present in the data.
    """
    raw = np.array([experiment_of(i) for i in ids], dtype=object)
    names = set(raw.tolist())
    base = {}
    for name in names:
        digits = _TRAILING_DIGITS.search(name)
        best = name
        if digits:
            stem = name[: digits.start()]
            for cut in range(len(name) - 1, len(stem) - 1, -1):  # drop 1, 2, ... digits; keep the shortest known
                if name[:cut] in names:
                    best = name[:cut]
        base[name] = best
    return np.array([base[name] for name in raw.tolist()], dtype=str)


def _rows_as_keys(codes: np.ndarray) -> np.ndarray:
    """Each row as one opaque value, for exact-match set operations on sequences."""
    codes = np.ascontiguousarray(codes)
    return codes.view(np.dtype((np.void, codes.shape[1]))).ravel()


def duplicates_across(train_codes: np.ndarray, other_codes: np.ndarray) -> tuple[int, int]:
    """(exact, reverse-complement-only) counts of rows of ``other_codes`` whose sequence occurs in ``train_codes``."""
    if len(train_codes) == 0 or len(other_codes) == 0:
        return 0, 0
    train_keys = _rows_as_keys(train_codes)
    exact = np.isin(_rows_as_keys(other_codes), train_keys)
    rc = np.isin(_rows_as_keys(reverse_complement(other_codes)), train_keys) & ~exact
    return int(exact.sum()), int(rc.sum())


class ViralTask(Task):
    """Viral (1) vs non-viral (0) DNA: fixed-length sequences (ViraMiner's 300 bp) for training and evaluation;
    contigs of any length are cut into such windows by ``resgenome predict viral``."""

    name = "viral"
    selection_metric = "auroc"  # as ViraMiner
    classical_models = ("kmer-rf", "kmer-logreg")
    splits = ("fullset", "random", "experiment")
    default_split = "fullset"
    positive, negative = "viral", "non-viral"
    presets = PRESETS
    width_rules = _WIDTH_RULES

    # ------------------------------------------------------------------ data
    def resolve(self, data: str | os.PathLike) -> list[Path]:
        """The files behind ``--data``: a file, a PREFIX (PREFIX_{train,validation,test}.csv) or a registry name."""
        text = str(data)
        if text == "-":  # standard input
            return [Path(text)]
        if Path(text).is_file() or text in registry.DATASETS:
            return registry.resolve_data_argument(text)
        prefixed = [Path(f"{text}_{part}.csv") for part in PARTS]
        if all(p.is_file() for p in prefixed):
            return prefixed
        missing = [str(p) for p in prefixed if not p.is_file()]
        if Path(text).is_dir():
            raise ResgenomeError(f"{text}: is a directory; give a CSV/FASTA file, a PREFIX or a dataset name")
        if any(p.is_file() for p in prefixed):
            raise ResgenomeError(f"{text}: PREFIX is missing {', '.join(missing)}")
        return registry.resolve_data_argument(text)  # its error names the known datasets

    def load(self, data: str | os.PathLike, *, labels: str | os.PathLike | None = None,
             require_labels: bool = True) -> ViralDataset:  # fmt: skip
        """Read one or more sequence files into one :class:`ViralDataset`.

        ``labels`` is a ``seq_id<TAB>label`` file for FASTA input. Ids must be unique across all the files.
        """
        paths = self.resolve(data)
        sets = [read_sequences(p, labels=labels, length=None) for p in paths]
        lengths = {s.length for s in sets}
        if len(lengths) != 1:
            raise ResgenomeError(f"{data}: files hold sequences of different lengths ({sorted(lengths)})")
        if require_labels and any(s.labels is None for s in sets):
            raise ResgenomeError(f"{data}: sequences have no labels; give a ViraMiner CSV or FASTA with --labels")
        ids = [i for s in sets for i in s.ids]
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            dup = next(i for i in ids if i in seen or seen.add(i))
            raise ResgenomeError(f"{data}: seq_id {dup!r} occurs in more than one file; ids must be unique")
        y = None if any(s.labels is None for s in sets) else np.concatenate([s.labels for s in sets])
        origin = np.concatenate([np.full(len(s), k, dtype=np.int64) for k, s in enumerate(sets)])
        source = str(paths[0]) if len(paths) == 1 else str(data)
        return ViralDataset(ids, np.concatenate([s.codes for s in sets]), y, source, origin, [str(p) for p in paths])

    def make_split(self, dataset: ViralDataset, split: str, seed: int, **options) -> Split:
        y = self.labels(dataset)
        if split == "fullset":
            if len(dataset.files) != 3:
                raise ResgenomeError(
                    f"--split fullset needs the three files train, validation, test (a PREFIX or a dataset name);"
                    f" {dataset.source} is {len(dataset.files)} file(s): use --split random or experiment"
                )
            train, val, test = (np.flatnonzero(dataset.origin == k) for k in range(3))
            return Split("fullset", train, val, test)
        if split == "random":
            return random_split(y, seed)
        if split == "experiment":
            holdout = options.get("holdout") or None
            return group_split(self.groups(dataset), y, seed, name="experiment", test_groups=holdout)
        raise ResgenomeError(f"--split {split}: not a split of the viral task ({', '.join(self.splits)})")

    def check_split(self, dataset: ViralDataset, split: Split) -> dict:
        """Sequences of validation / test that also occur in train, as themselves or reverse-complemented."""
        codes = dataset.codes
        counts = {}
        for part in ("validation", "test"):
            exact, rc = duplicates_across(codes[split.train], codes[getattr(split, part)])
            counts[part] = {"exact": exact, "reverse_complement": rc}
        t = counts["test"]
        message = (f"duplicates straddling train and test: {t['exact']} test sequences also in train, "
                   f"{t['reverse_complement']} more as reverse complement")  # fmt: skip
        return {"duplicates_in_train": counts, "message": message}

    def groups(self, dataset: ViralDataset) -> np.ndarray:
        return experiment_groups(dataset.ids)

    def labels(self, dataset: SequenceSet) -> np.ndarray:
        return dataset.labels

    # ------------------------------------------------------------------ preprocessing
    def fit_preprocessing(self, dataset: SequenceSet, train_idx: np.ndarray, options: dict) -> dict:
        """Sequence length, and for the k-mer models k and the per-k-mer scale fitted on the training rows."""
        prep: dict = {"seq_length": dataset.length}
        if options.get("model") in self.classical_models:
            k = int(options.get("kmer") or 6)
            if k not in KMER_RANGE:
                raise ResgenomeError(f"--kmer {k}: k must be between {KMER_RANGE[0]} and {KMER_RANGE[-1]}")
            prep["kmer"] = k
            freq = self._kmer_frequencies(dataset.codes[train_idx], k)
            mean = np.asarray(freq.mean(axis=0)).ravel()
            var = np.asarray(freq.multiply(freq).mean(axis=0)).ravel() - mean**2
            # no centering (it would densify the counts); scaling to unit sd lets one C suit every k
            prep["kmer_scale"] = torch.from_numpy(np.sqrt(np.maximum(var, 0)) + 1e-6)
        return prep

    @staticmethod
    def _kmer_frequencies(codes: np.ndarray, k: int) -> sparse.csr_matrix:
        """k-mer frequencies (counts / number of counted k-mers), sparse ``(N, 4**k)``, computed in row chunks."""
        chunks = []
        for lo in range(0, len(codes), _KMER_ROWS):
            counts = kmer_counts(codes[lo : lo + _KMER_ROWS], k)
            counts /= np.maximum(counts.sum(axis=1, keepdims=True), 1)
            chunks.append(sparse.csr_matrix(counts))
        if not chunks:
            return sparse.csr_matrix((0, 4**k), dtype=np.float32)
        return sparse.vstack(chunks, format="csr")

    def model_input(self, dataset: SequenceSet, prep: dict) -> np.ndarray:
        """uint8 codes (N, L)."""
        return dataset.codes

    def neural_tensor(self, codes: np.ndarray) -> tuple[torch.Tensor, Callable]:
        """The codes as a tensor, expanded to one-hot (N, 4, L) per batch."""
        return torch.from_numpy(np.ascontiguousarray(codes)), one_hot

    def classical_matrix(self, codes: np.ndarray, prep: dict) -> sparse.csr_matrix:
        """Scaled k-mer frequencies, sparse (N, 4**k)."""
        freq = self._kmer_frequencies(codes, prep["kmer"])
        return (freq @ sparse.diags(1.0 / prep["kmer_scale"].numpy())).tocsr()

    def input_config(self, prep: dict) -> dict:
        return {"seq_length": prep["seq_length"]}


__all__ = ["ViralTask", "ViralDataset", "experiment_groups", "duplicates_across"]
