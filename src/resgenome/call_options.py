"""The options of viral contig calls and their defaults, kept apart from the statistics so the CLI can show them
without importing SciPy and PyTorch. Each default's measurement is in the README ("Reading the calls") and is
rerun by ``benchmarks/calls_defaults.py``."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ResgenomeError

#: A window with more than this fraction of N (or other ambiguity codes) among its own bases is not scored. N makes
#: non-viral windows look viral: with 5% N (15 of 300 bases) the validation null rate of ResVG doubles, with 1.7%
#: it rises by 1.1x, so the default keeps windows with up to 6 N.
DEFAULT_MAX_N_FRACTION = 0.02
#: Records shorter than this are ``no-call``: below 250 bp window AUROC falls by more than 0.025 on validation
#: (ResVG 0.896 at 300 bp, 0.878 at 250, 0.839 at 200), the gap that separates ResVG from its baselines.
DEFAULT_MIN_LENGTH = 250
#: Coefficient of variation of the non-viral rate from contig to contig, in the null: the smallest value (of 0, 0.5,
#: 1, 2) that kept the share of non-viral contigs called viral within 1.5x of the 300-bp share at every length, on
#: validation experiments the null was not fitted on.
DEFAULT_HETEROGENEITY = 0.5


@dataclass(frozen=True)
class CallOptions:
    """The options of a run's calls (plain values; all end up in the run manifest)."""

    fdr: float | None = None
    min_length: int = DEFAULT_MIN_LENGTH
    max_n_fraction: float = DEFAULT_MAX_N_FRACTION

    def check(self) -> None:
        """One-line errors for values the CLI's types would refuse, for callers of the Python API."""
        if self.fdr is not None and not 0 < self.fdr < 1:
            raise ResgenomeError(f"--fdr {self.fdr}: must be between 0 and 1 (e.g. 0.05 for 5%)")
        if self.min_length < 1:
            raise ResgenomeError(f"--min-length {self.min_length}: must be at least 1")
        if not 0 <= self.max_n_fraction < 1:
            raise ResgenomeError(f"--max-n-fraction {self.max_n_fraction}: must be in [0, 1)")
