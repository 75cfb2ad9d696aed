"""ONE trainer for every neural model of both tasks: Adam, cross-entropy, early stopping, resume, DDP.

Data are in-memory tensors (feature tables, or uint8 sequence codes expanded to one-hot per batch by
``transform``), batched by a seeded permutation per epoch, so an epoch's batches depend only on (seed, epoch):
a run resumed from its last epoch checkpoint continues exactly as if it had not stopped.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .augment import random_reverse_complement
from .io import atomic_path
from .metrics import classification_metrics
from .parallel import block_of, dump_rank_state, gather_rows, shard_order, sync_buffers
from .runtime import tune_allocator

Transform = Callable[[torch.Tensor], torch.Tensor] | None


@dataclass
class TrainConfig:
    """Hyperparameters of a training run (plain values; stored in the checkpoint)."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10
    class_weight: bool = False
    selection_metric: str = "auprc"
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    progress: bool = True
    # augmentation (sequence models only): each training sequence is replaced by its reverse complement with
    # probability 0.5, drawn from (seed, epoch, batch) so that resuming is exact (augment.py)
    rc_augment: bool = False
    # "constant" (the papers' Adam) or "cosine": linear warm-up over the first epoch, then cosine decay to zero at
    # ``epochs``; the rate is a function of (epoch, step) only, so resuming is exact (learning_rate below)
    schedule: str = "constant"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ArrayData:
    """A labelled in-memory dataset.

    X : torch.Tensor
        ``(N, 1, F)`` float32 features, or ``(N, L)`` uint8 sequence codes expanded per batch by ``transform``.
    y : torch.Tensor, shape (N,) int64
    transform : callable or None
        Applied to each batch of X on its way to the model (one-hot expansion).
    """

    X: torch.Tensor
    y: torch.Tensor
    transform: Transform = None

    def __len__(self) -> int:
        return len(self.y)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``idx`` as the model sees them: (inputs after ``transform``, labels). ``resgenome bench`` times it."""
        xb, yb = self.X[idx], self.y[idx]
        return (xb if self.transform is None else self.transform(xb)), yb


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_state: dict | None = None
    best_epoch: int = 0
    best_score: float = -math.inf
    seconds: float = 0.0
    stopped_early: bool = False


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is an error from the caller's point of view."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        from .errors import ResgenomeError

        raise ResgenomeError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    return torch.device(device)


def distributed() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless running under torchrun with an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware (CPU: AVX512-BF16 or AMX; CUDA: compute capability >= 8).

    Elsewhere PyTorch emulates bf16, which is several times slower than fp32 (see ``resgenome bench``).
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor, *,
               precision: str = "fp32", weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a batch already on the model's device; returns (loss, logits), both detached.

    The trainer's only step, shared with ``resgenome bench`` so that what is measured is what trains.
    """
    with _autocast(xb.device, precision):
        logits = net(xb)
        loss = F.cross_entropy(logits.float(), yb, weight=weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def learning_rate(cfg: TrainConfig, epoch: int, progress: float) -> float:
    """The rate at ``progress`` in [0, 1) through ``epoch`` (1-based) under ``cfg.schedule``.

    ``cosine``: from lr / 10 rising linearly to lr over epoch 1 (a warm-up, so that Adam's first, noisy moment
    estimates take small steps), then lr * (1 + cos(pi t)) / 2 with t going from 0 to 1 over epochs 2..``epochs``.
    """
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule != "cosine":
        raise ValueError(f"unknown schedule {cfg.schedule!r}; choose constant or cosine")
    if epoch == 1:
        return cfg.lr * (0.1 + 0.9 * progress)
    t = (epoch - 2 + progress) / max(cfg.epochs - 1, 1)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def _epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A generator that depends only on (seed, epoch, stream): stream 0 orders the epoch, 1 + i augments batch i."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_000_033 + stream)


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator)


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    X: torch.Tensor,
    *,
    transform: Transform = None,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    precision: str = "fp32",
) -> torch.Tensor:
    """Logits ``(N, 2)`` on the CPU, in eval mode; the model's previous mode is restored."""
    device = pick_device("auto") if device is None else torch.device(device)
    first = next(model.parameters(), None)
    if first is not None and first.device != device:  # score where the batches go (CUDA when present)
        model.to(device)
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, len(X), batch_size):
            xb = X[i : i + batch_size]
            if transform is not None:
                xb = transform(xb)
            with _autocast(device, precision):
                out.append(model(xb.to(device, non_blocking=True)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 2)


def predict_proba(model: nn.Module, X: torch.Tensor, **kwargs) -> np.ndarray:
    """Probability of the positive class, shape (N,)."""
    return torch.softmax(predict_logits(model, X, **kwargs), dim=1)[:, 1].numpy()


def _validate(model, data: ArrayData, cfg: TrainConfig, device, weight) -> tuple[float, float, dict]:
    rank, world = distributed()
    rows = block_of(len(data), rank, world)  # under torchrun each rank scores a block; all ranks get every logit
    logits = predict_logits(model, data.X[rows], transform=data.transform, device=device, precision=cfg.precision,
                            batch_size=max(cfg.batch_size, 512))
    if world > 1:
        logits = gather_rows(logits, len(data), world, device)
    loss = F.cross_entropy(logits, data.y, weight=weight).item()
    scores = torch.softmax(logits, dim=1)[:, 1].numpy()
    metrics = classification_metrics(data.y.numpy(), scores, 0.5)
    return loss, metrics["accuracy"], metrics


def fit(
    model: nn.Module,
    train: ArrayData,
    validation: ArrayData,
    cfg: TrainConfig,
    *,
    state_path: str | os.PathLike | None = None,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place; return the history and the weights of the best validation epoch.

    Model selection and early stopping use ``cfg.selection_metric`` (``auprc`` or ``auroc``) on validation.
    With ``state_path``, a resumable state (model, optimizer, RNG, early-stopping counters) is written atomically
    after every epoch; ``resume=True`` continues from it.
    """
    tune_allocator()
    rank, world = distributed()
    device = pick_device(cfg.device)
    seed_everything(cfg.seed + rank)  # ranks draw different dropout masks; rank 0 (and a single process) as before
    model.to(device)
    net: nn.Module = model
    if world > 1:
        ids = None if device.type != "cuda" else [torch.cuda.current_device() if device.index is None else device.index]
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if cfg.precision == "bf16" and device.type == "cpu" and not bf16_native(device) and log and rank == 0:
        log("warning: this CPU has no bf16 instructions (AVX512-BF16 / AMX); --precision bf16 will be slower than fp32")
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    weight = None
    if cfg.class_weight:
        counts = torch.bincount(train.y, minlength=2).float()
        weight = (counts.sum() / (2 * counts.clamp(min=1))).to(device)
    val_weight = None if weight is None else weight.cpu()

    result = TrainResult()
    start_epoch = 1
    bad_epochs = 0
    state_path = Path(state_path) if state_path else None
    if resume and state_path and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        result.history = state["history"]
        result.best_state = state["best_state"]
        result.best_epoch = state["best_epoch"]
        result.best_score = state["best_score"]
        result.seconds = state["seconds"]
        bad_epochs = state["bad_epochs"]
        start_epoch = state["epoch"] + 1
        if log:
            log(f"resuming from epoch {state['epoch']} ({state_path})")
        if bad_epochs >= cfg.patience:
            start_epoch = cfg.epochs + 1

    n = len(train)
    for epoch in range(start_epoch, cfg.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        order = shard_order(_epoch_order(n, cfg.seed, epoch), rank, world)
        total_loss = total_correct = total_seen = 0.0
        batches = range(0, len(order), cfg.batch_size)
        bar = _progress(batches, f"epoch {epoch}/{cfg.epochs}", cfg.progress and rank == 0)
        for step, i in enumerate(bar):
            if cfg.schedule != "constant":
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(cfg, epoch, step / max(len(batches), 1))
            idx = order[i : i + cfg.batch_size]
            if len(idx) < 2 and len(order) > 1:  # BatchNorm cannot train on a single sample
                continue
            xb, yb = train.batch(idx)
            if cfg.rc_augment:
                xb = random_reverse_complement(xb, _epoch_generator(cfg.seed, epoch, 1 + i))
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss, logits = train_step(net, optimizer, xb, yb, precision=cfg.precision, weight=weight)
            total_loss += loss.item() * len(yb)
            total_correct += (logits.argmax(1) == yb).sum().item()
            total_seen += len(yb)
        sync_buffers(model, world)
        sums = torch.tensor([total_loss, total_correct, total_seen], dtype=torch.float64)
        if world > 1:  # NCCL reduces on the GPU only
            sums = sums.to(device)
            dist.all_reduce(sums)
            sums = sums.cpu()
        train_loss, train_acc = (sums[0] / sums[2]).item(), (sums[1] / sums[2]).item()
        val_loss, val_acc, val_metrics = _validate(model, validation, cfg, device, val_weight)
        score = val_metrics.get(cfg.selection_metric)
        score = -math.inf if score is None else score
        result.seconds += time.perf_counter() - t0
        result.history.append({
            "epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "train_acc": train_acc,
            "val_acc": val_acc, f"val_{cfg.selection_metric}": val_metrics.get(cfg.selection_metric),
            "seconds": result.seconds,
        })  # fmt: skip
        if score > result.best_score:
            result.best_score, result.best_epoch, bad_epochs = score, epoch, 0
            result.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        if log and rank == 0:
            log(
                f"epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.4f} | val loss {val_loss:.4f}"
                f" acc {val_acc:.4f} {cfg.selection_metric} {score:.4f}"
            )
        if state_path and rank == 0:
            _save_state(state_path, model, optimizer, result, epoch, bad_epochs)
        if bad_epochs >= cfg.patience:
            result.stopped_early = True
            break
    if result.best_state is None:  # no epoch ran (epochs=0)
        result.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    dump_rank_state(model.state_dict(), result.best_state, rank, world)
    model.load_state_dict(result.best_state)
    model.cpu()
    return result


def _save_state(path: Path, model, optimizer, result: TrainResult, epoch: int, bad_epochs: int) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "history": result.history,
        "best_state": result.best_state,
        "best_epoch": result.best_epoch,
        "best_score": result.best_score,
        "seconds": result.seconds,
        "bad_epochs": bad_epochs,
        "epoch": epoch,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _progress(iterable, description: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description, unit="batch", leave=False, disable=None, dynamic_ncols=True)
