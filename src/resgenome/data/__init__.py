"""Data for both tasks: the dataset registry (``registry``), feature tables (``tables``), DNA encoding and windows
(``encoding``), DNA file readers (``readers``), splits (``splits``) and the trainer's in-memory arrays (``arrays``).

Tensor contract (shared by every model in :mod:`resgenome.models`):

- super-enhancer features: ``(N, 1, 36)`` float32, one channel of 36 scaled features in the paper's Table 1 order;
- DNA sequences: ``(N, 4, L)`` float32 one-hot, channels A, C, G, T; N and other IUPAC codes are an all-zero column.
  In memory sequences stay as ``(N, L)`` uint8 codes (0-3 = ACGT, 4 = N) and are expanded per batch.
- labels: ``(N,)`` int64, 1 = positive class (super-enhancer, viral).
"""
