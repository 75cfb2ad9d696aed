"""A/B of the allocator setting (``resgenome.runtime.tune_allocator``): training steps with and without it.

    .venv/bin/python benchmarks/allocator_ab.py --threads 1 --rounds 3

Each measurement runs in a fresh child process (the setting is process-wide and cannot be undone), with
``RESGENOME_MALLOC=default`` for "glibc default" and unset for "tuned", alternating, so a busy machine slows both
alike. A child builds the model, takes 2 warm-up steps and times 6 training steps (forward, cross-entropy, backward,
Adam) on a batch of 128 random one-hot sequences already in memory. Prints samples/s per model and setting (median
over rounds) and the child's system CPU time, where page faults show up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_CHILD = """
import json, resource, sys, time
import torch
from resgenome.runtime import tune_allocator
tuned = tune_allocator()
torch.set_num_threads(int(sys.argv[2]))
from resgenome.models import build_model
from resgenome.tasks.viral import PRESETS
cpu = PRESETS["cpu"].widths
configs = {"viraminer-cpu": ("viraminer", cpu["viraminer"]), "resvg-cpu": ("resvg", cpu["resvg"])}
name, config = configs[sys.argv[1]]
torch.manual_seed(0)
model = build_model(name, dict(config))
optimizer = torch.optim.Adam(model.parameters())
x = (torch.rand(128, 4, 300) < 0.25).float()
y = torch.randint(0, 2, (128,))
def step():
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
for _ in range(2):
    step()
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
for _ in range(6):
    step()
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"tuned": tuned, "samples_per_s": 6 * 128 / seconds, "sys_s": after.ru_stime - before.ru_stime,
                  "user_s": after.ru_utime - before.ru_utime}))
"""


def measure(model: str, threads: int, tuned: bool) -> dict:
    env = {**os.environ, "RESGENOME_MALLOC": "" if tuned else "default"}
    done = subprocess.run([sys.executable, "-c", _CHILD, model, str(threads)], capture_output=True, text=True,
                          env=env, check=True)  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["tuned"] != tuned:
        raise RuntimeError(f"allocator setting not as asked ({result['tuned']} != {tuned}); not glibc?")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["viraminer-cpu", "resvg-cpu"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {args.threads} thread(s), batch 128, 6 timed steps")
    for model in args.models:
        runs: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(args.rounds):
            for tuned in (False, True):
                runs[tuned].append(measure(model, args.threads, tuned))
        cells = []
        for tuned, label in ((False, "glibc default"), (True, "tuned")):
            rate = statistics.median(r["samples_per_s"] for r in runs[tuned])
            system = statistics.median(r["sys_s"] for r in runs[tuned])
            cells.append(f"{label} {rate:.0f} samples/s (sys {system:.2f} s)")
        print(f"{model}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
