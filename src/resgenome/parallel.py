"""Running under ``torchrun``: the process group's set-up and tear-down, and the trainer's cross-rank helpers.

``torchrun --nproc_per_node=N -m resgenome train ...`` starts N copies of the command with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. :func:`process_group` turns those into
an initialised process group (gloo on CPU, NCCL on CUDA) for the duration of a command, and
:func:`resgenome.trainer.fit` then trains with DistributedDataParallel: every rank takes an equal share of each
epoch's permutation, gradients are averaged, batch-norm statistics are taken from rank 0 at the end of each epoch
and validation logits are gathered from all ranks, so all ranks see the same metrics and stop at the same epoch.
Rank 0 alone writes outputs. Without those variables (or with ``WORLD_SIZE=1``) nothing here does anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn

#: Test hook: when set to a directory, each rank of a distributed run writes ``rank<R>.sha256`` there, the hash
#: of its weights after the last epoch and of the best epoch's weights it keeps (tests/test_parallel.py).
DUMP_RANK_STATE = "RESGENOME_TEST_DUMP_RANK_STATE"


def distributed() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless running under torchrun with an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launched_by_torchrun() -> bool:
    """True when the torchrun environment asks for more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ and "MASTER_ADDR" in os.environ


@contextlib.contextmanager
def process_group(device: str = "auto") -> Iterator[tuple[int, int]]:
    """Initialise the torchrun process group for the block, if torchrun started us; yield (rank, world size).

    ``device`` is the command's ``--device``: CUDA (``cuda``, or ``auto`` with a GPU) uses NCCL with one GPU per
    local rank, the CPU uses gloo. The group is destroyed on the way out, after a barrier when the block succeeded
    (so no rank leaves while rank 0 still writes); on an error it is torn down at once, since waiting for ranks that
    failed too would hang. Already initialised groups (a caller's own) are left alone.
    """
    if not launched_by_torchrun() or not dist.is_available() or dist.is_initialized():
        yield (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)
        return
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo", init_method="env://")
    try:
        yield dist.get_rank(), dist.get_world_size()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def shard_order(order: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This rank's share of an epoch's permutation: ``order[rank::world]`` after padding ``order`` with its own
    first elements to a multiple of ``world`` (as :class:`torch.utils.data.DistributedSampler`), so every rank
    runs the same number of steps — a rank with one more batch would wait for its peers forever.
    """
    if world == 1 or len(order) == 0:
        return order
    padded = math.ceil(len(order) / world) * world
    order = order.repeat(math.ceil(padded / len(order)))[:padded]  # repeats at most once unless n < world
    return order[rank::world]


def sync_buffers(model: nn.Module, world: int) -> None:
    """Copy rank 0's buffers (batch-norm running statistics) to every rank.

    DistributedDataParallel broadcasts them at the start of each forward pass, so after the last step of an epoch
    each rank holds statistics updated by its own last batch; evaluation must not depend on the rank.
    """
    if world > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def gather_rows(local: torch.Tensor, n: int, world: int, device: torch.device) -> torch.Tensor:
    """Join each rank's contiguous block of rows (see :func:`block_of`) into all ``n`` rows, on every rank.

    ``local`` is this rank's block on the CPU; blocks are padded to one size for ``all_gather``.
    """
    per = math.ceil(n / world)
    padded = torch.zeros((per, *local.shape[1:]), dtype=local.dtype)
    padded[: len(local)] = local
    padded = padded.to(device)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat(parts)[:n].cpu()


def block_of(n: int, rank: int, world: int) -> slice:
    """Rows of ``n`` this rank evaluates: the ``rank``-th of ``world`` contiguous blocks of ``ceil(n / world)``."""
    per = math.ceil(n / world)
    return slice(min(rank * per, n), min((rank + 1) * per, n))


def state_hash(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over a state dict's names and tensor bytes, in key order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def dump_rank_state(last: dict[str, torch.Tensor], best: dict[str, torch.Tensor], rank: int, world: int) -> None:
    """The :data:`DUMP_RANK_STATE` test hook (no-op unless set and distributed)."""
    target = os.environ.get(DUMP_RANK_STATE)
    if target and world > 1:
        Path(target).mkdir(parents=True, exist_ok=True)
        (Path(target) / f"rank{rank}.sha256").write_text(f"{state_hash(last)}\n{state_hash(best)}\n")
