"""ONE trainer for every neural model of both tasks: Adam, cross-entropy, early stopping, resume, DDP.

Data are in-memory tensors (:class:`~resgenome.data.arrays.ArrayData`: feature tables, or uint8 sequence codes
expanded to one-hot per batch by ``transform``), batched by a seeded permutation per epoch, so an epoch's batches
depend only on (seed, epoch): a run resumed from its last epoch checkpoint continues exactly as if it had not
stopped. Each epoch's validation scores go through the Predictor's inference loop
(:func:`resgenome.predictor.predict_logits`).
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
from tqdm.auto import tqdm

from .augment import random_reverse_complement
from .data.arrays import ArrayData
from .io import atomic_path
from .machine import bf16_native
from .metrics import classification_metrics
from .parallel import block_of, distributed, dump_rank_state, gather_rows, shard_order, sync_buffers
from .predictor import autocast, pick_device, predict_logits
from .runtime import tune_allocator


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
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_state: dict | None = None
    best_epoch: int = 0
    best_score: float = -math.inf
    seconds: float = 0.0
    stopped_early: bool = False


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor, *,
               precision: str = "fp32", weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a batch already on the model's device; returns (loss, logits), both detached.

    The trainer's only step, shared with ``resgenome bench`` so that what is measured is what trains.
    """
    with autocast(xb.device, precision):
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
    run = _Training(model, train, validation, cfg, log)
    state_path = Path(state_path) if state_path else None
    start_epoch = run.resume(state_path) if resume and state_path and state_path.exists() else 1
    for epoch in range(start_epoch, cfg.epochs + 1):
        t0 = time.perf_counter()
        train_loss, train_acc = run.train_epoch(epoch)
        patience_spent = run.end_epoch(epoch, train_loss, train_acc, t0)
        if state_path and run.rank == 0:
            _save_state(state_path, model, run.optimizer, run.result, epoch, run.bad_epochs)
        if patience_spent:
            run.result.stopped_early = True
            break
    return run.finish()


class _Training:
    """What the steps of one :func:`fit` share: the model (and its DistributedDataParallel wrapper), optimizer,
    device, loss weights, the result so far and the early-stopping counter."""

    def __init__(self, model: nn.Module, train: ArrayData, validation: ArrayData, cfg: TrainConfig,
                 log: Callable[[str], None] | None):  # fmt: skip
        self.model, self.train, self.validation, self.cfg, self.log = model, train, validation, cfg, log
        self.rank, self.world = distributed()
        self.device = device = pick_device(cfg.device)
        # ranks draw different dropout masks; rank 0 (and a single process) as before
        seed_everything(cfg.seed + self.rank)
        model.to(device)
        self.net: nn.Module = model
        if self.world > 1:
            ids = None  # DistributedDataParallel places CPU modules itself
            if device.type == "cuda":
                ids = [torch.cuda.current_device() if device.index is None else device.index]
            self.net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if cfg.precision == "bf16" and device.type == "cpu" and not bf16_native(device) and log and self.rank == 0:
            log("warning: this CPU has no bf16 instructions (AVX512-BF16 / AMX); --precision bf16 will be slower than "
                "fp32")
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.weight = None
        if cfg.class_weight:
            counts = torch.bincount(train.y, minlength=2).float()
            self.weight = (counts.sum() / (2 * counts.clamp(min=1))).to(device)
        self.val_weight = None if self.weight is None else self.weight.cpu()
        self.result = TrainResult()
        self.bad_epochs = 0

    def resume(self, state_path: Path) -> int:
        """Load the resumable state written after an epoch; returns the first epoch still to run."""
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        result = self.result
        result.history = state["history"]
        result.best_state = state["best_state"]
        result.best_epoch = state["best_epoch"]
        result.best_score = state["best_score"]
        result.seconds = state["seconds"]
        self.bad_epochs = state["bad_epochs"]
        if self.log:
            self.log(f"resuming from epoch {state['epoch']} ({state_path})")
        if self.bad_epochs >= self.cfg.patience:
            return self.cfg.epochs + 1
        return state["epoch"] + 1

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        """One pass over this rank's share of a seeded permutation; returns (mean loss, accuracy) over all ranks."""
        cfg, device, rank, world = self.cfg, self.device, self.rank, self.world
        self.net.train()
        order = shard_order(_epoch_order(len(self.train), cfg.seed, epoch), rank, world)
        total_loss = total_correct = total_seen = 0.0
        batches = range(0, len(order), cfg.batch_size)
        bar = _progress(batches, f"epoch {epoch}/{cfg.epochs}", cfg.progress and rank == 0)
        for step, i in enumerate(bar):
            if cfg.schedule != "constant":
                for group in self.optimizer.param_groups:
                    group["lr"] = learning_rate(cfg, epoch, step / max(len(batches), 1))
            idx = order[i : i + cfg.batch_size]
            if len(idx) < 2 and len(order) > 1:  # BatchNorm cannot train on a single sample
                continue
            xb, yb = self.train.batch(idx)
            if cfg.rc_augment:
                xb = random_reverse_complement(xb, _epoch_generator(cfg.seed, epoch, 1 + i))
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss, logits = train_step(self.net, self.optimizer, xb, yb, precision=cfg.precision, weight=self.weight)
            total_loss += loss.item() * len(yb)
            total_correct += (logits.argmax(1) == yb).sum().item()
            total_seen += len(yb)
        sync_buffers(self.model, world)
        sums = torch.tensor([total_loss, total_correct, total_seen], dtype=torch.float64)
        if world > 1:  # NCCL reduces on the GPU only
            sums = sums.to(device)
            dist.all_reduce(sums)
            sums = sums.cpu()
        return (sums[0] / sums[2]).item(), (sums[1] / sums[2]).item()

    def end_epoch(self, epoch: int, train_loss: float, train_acc: float, t0: float) -> bool:
        """Validate, record the epoch, keep the best weights; True when the patience has run out."""
        cfg, result = self.cfg, self.result
        val_loss, val_acc, val_metrics = _validate(self.model, self.validation, cfg, self.device, self.val_weight)
        score = val_metrics.get(cfg.selection_metric)
        score = -math.inf if score is None else score
        result.seconds += time.perf_counter() - t0
        result.history.append({
            "epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "train_acc": train_acc,
            "val_acc": val_acc, f"val_{cfg.selection_metric}": val_metrics.get(cfg.selection_metric),
            "seconds": result.seconds,
        })  # fmt: skip
        if score > result.best_score:
            result.best_score, result.best_epoch, self.bad_epochs = score, epoch, 0
            result.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        else:
            self.bad_epochs += 1
        if self.log and self.rank == 0:
            self.log(
                f"epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.4f} | val loss {val_loss:.4f}"
                f" acc {val_acc:.4f} {cfg.selection_metric} {score:.4f}"
            )
        return self.bad_epochs >= cfg.patience

    def finish(self) -> TrainResult:
        """Leave the best epoch's weights in the model, on the CPU."""
        model, result = self.model, self.result
        if result.best_state is None:  # no epoch ran (epochs=0)
            result.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        dump_rank_state(model.state_dict(), result.best_state, self.rank, self.world)
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
    return tqdm(iterable, desc=description, unit="batch", leave=False, disable=None, dynamic_ncols=True)
