"""A/B of two speed-ups, old against new in one process: channels-last 1-D layers and the one-hot expansion.

    .venv/bin/python benchmarks/layout_ab.py --models resvg-cpu viraminer ressen --threads 1 --rounds 2

"old" rebuilds each model with PyTorch's own 1-D layers (``nn.Conv1d``, ``nn.BatchNorm1d``, the 1-D pools, in-place
ReLUs, ViraMiner fed 3-D) and the same weights; "new" is the model as shipped (``models/blocks.py``). Rounds
interleave the two, so a busy machine slows both alike. Prints train and inference samples/s (the trainer's
``train_step``; ``inference_mode`` forwards), the largest difference of eval logits, the largest per-parameter
relative difference of gradients, the time of ``one_hot`` against the table-gather it replaced, and single
convolution / max-pool layers in both memory layouts.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from resgenome.bench import MODELS, _dataset, _model_config
from resgenome.data.encoding import one_hot
from resgenome.models import blocks, build_model, viraminer
from resgenome.trainer import train_step

_BACK = {blocks.Conv1d: nn.Conv1d, blocks.BatchNorm1d: nn.BatchNorm1d, blocks.MaxPool1d: nn.MaxPool1d,
         blocks.AdaptiveAvgPool1d: nn.AdaptiveAvgPool1d, blocks.AdaptiveMaxPool1d: nn.AdaptiveMaxPool1d}  # fmt: skip


def _old_layers(model: nn.Module) -> nn.Module:
    """The same model (same parameters) on PyTorch's 1-D layers, as before the channels-last blocks."""
    for module in model.modules():
        if type(module) in _BACK:
            module.__class__ = _BACK[type(module)]
        if isinstance(module, blocks.ConvBNReLU) and len(module) == 3:
            module[2].inplace = True
    return model


def _median_s(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(name: str, batch: int, rounds: int) -> None:
    spec = MODELS[name]
    config = _model_config(spec)
    x, y = _dataset(spec, config, batch, torch.Generator().manual_seed(0)).batch(torch.arange(batch))
    speeds: dict[str, list] = {"old": [], "new": []}
    logits, grads = {}, {}
    channels_last = viraminer.as_channels_last
    try:
        for _ in range(rounds):
            for variant in ("old", "new"):
                viraminer.as_channels_last = channels_last if variant == "new" else (lambda v: v)
                torch.manual_seed(0)
                model = build_model(spec.model, config)
                if variant == "old":
                    _old_layers(model)
                model.eval()
                with torch.inference_mode():
                    logits[variant] = model(x)
                model.train()
                torch.manual_seed(1)  # same dropout masks
                F.cross_entropy(model(x), y).backward()
                grads[variant] = {k: p.grad.clone() for k, p in model.named_parameters()}
                optimizer = torch.optim.Adam(model.parameters())
                train_s = _median_s(lambda: train_step(model, optimizer, x, y))
                model.eval()

                def infer():
                    with torch.inference_mode():
                        model(x)

                speeds[variant].append((batch / train_s, batch / _median_s(infer)))
    finally:
        viraminer.as_channels_last = channels_last
    worst = max(((grads["new"][k] - grads["old"][k]).norm() / grads["old"][k].norm().clamp(min=1e-30)).item()
                for k in grads["old"])  # fmt: skip
    show = {v: [f"{t:.1f}/{i:.1f}" for t, i in runs] for v, runs in speeds.items()}
    print(f"{name} batch {batch}, {torch.get_num_threads()} thread(s), train/infer samples/s: {show}; "
          f"max |d logit| {(logits['new'] - logits['old']).abs().max().item():.1e}, "
          f"max relative grad diff {worst:.1e}")  # fmt: skip


def _one_hot_by_table(codes: torch.Tensor) -> torch.Tensor:
    """The expansion one_hot replaced: rows of a (5, 4) table gathered in int64, then transposed."""
    table = torch.cat([torch.eye(4), torch.zeros(1, 4)])
    return table[codes.long()].transpose(-1, -2).contiguous()


def compare_one_hot(batches=(128, 256, 1024)) -> None:
    for batch in batches:
        codes = torch.randint(0, 5, (batch, 300), dtype=torch.uint8)
        assert torch.equal(one_hot(codes), _one_hot_by_table(codes))
        old = _median_s(lambda: _one_hot_by_table(codes), 20)
        new = _median_s(lambda: one_hot(codes), 20)
        print(f"one_hot {batch} x 300: table gather {old * 1e3:.2f} ms, comparison {new * 1e3:.2f} ms")


#: (batch, in channels, out channels, kernel, length): ResVG's block at W = 64 and 1000, ViraMiner's pattern conv
_CONV_SHAPES = [(256, 64, 64, 11, 297), (128, 64, 1000, 11, 297), (128, 4, 1200, 11, 300)]


def compare_layers() -> None:
    """Single layers, forward only: PyTorch's (N, C, L) kernels against channels-last (N, C, 1, L) ones."""
    for batch, c_in, c_out, k, length in _CONV_SHAPES:
        x, w = torch.randn(batch, c_in, length), torch.randn(c_out, c_in, k)
        x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        flop = 2 * batch * c_out * c_in * k * length
        ncw = flop / _median_s(lambda: F.conv1d(x, w, padding=k // 2)) / 1e9
        cl = flop / _median_s(lambda: F.conv2d(x4, w.unsqueeze(2), padding=(0, k // 2))) / 1e9
        print(f"conv {c_in}->{c_out} k{k} L{length} batch {batch}: (N, C, L) {ncw:.1f} GFLOP/s, channels-last {cl:.1f}")
    x = torch.randn(128, 64, 297)
    x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    ncw = _median_s(lambda: F.max_pool1d(x, 4, 1))
    cl = _median_s(lambda: F.max_pool2d(x4, (1, 4), 1))
    print(f"max-pool k4 stride 1 on (128, 64, 297): (N, C, L) {ncw * 1e3:.1f} ms, channels-last {cl * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resvg-cpu", "viraminer", "ressen"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    compare_one_hot()
    compare_layers()
    for name in args.models:
        compare(name, args.batch_size, args.rounds)


if __name__ == "__main__":
    main()
