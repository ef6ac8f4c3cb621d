"""The cost of live curvature: the gap preset's SB and LB runs trained with and without
`curvature_every` (λ_max every k steps; Adam also measures its preconditioned λ_max) and
`sharpness_every` (Keskar's metric every k epochs), side by side in this process.

    .venv/bin/python bench/bench_curvature.py [--epochs 100] [--repeats 1]

Each setting trains the same run from the same weights on one thread, after a warm-up run, in
an order that rotates between rounds. The overhead is the time the trainer spent measuring over
the rest of the same run (both timed inside it, so a busy moment of the machine scales both);
the wall time against the plain run's median is printed beside it.
The suggested setting (the form's help and the README) is the one whose overhead is at
most 10% on the SB run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.config import TrainConfig  # noqa: E402
from trainer.train import Trainer  # noqa: E402

ROLES = {"SB 32": 32, "LB 400": 400}


def seconds(config: TrainConfig) -> tuple[float, float]:
    """The run's wall time, and the part of it spent measuring (timed inside the trainer)."""
    trainer = Trainer(config)
    trainer.add_callback("on_step", lambda t, m: None)  # a listener, as the web's recorder is
    start = time.perf_counter()
    result = trainer.run()
    return time.perf_counter() - start, result.final["measure_time"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {"plain": {}, "λ every 2000 steps": {"curvature_every": 2000},
                "λ every 1000 steps": {"curvature_every": 1000}, "λ every 250 steps": {"curvature_every": 250},
                "sharpness every 50 epochs": {"sharpness_every": 50}, "sharpness every 25 epochs": {"sharpness_every": 25}}
    print(f"MNIST-1D, 5 x 256 MLP, Adam 1e-3, {args.epochs} epochs, one thread; median of {args.repeats}")
    seconds(TrainConfig(dataset="mnist1d", net="mlp", epochs=2, seed=0, threads=1))  # warm-up: caches, allocator
    print("overhead = time measuring / the rest of the run, both timed in the same run (the machine's noise cancels);"
          " wall: against the plain run's median")
    for role, batch in ROLES.items():
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in settings}
        names = list(settings)
        for repeat in range(args.repeats):
            order = names[repeat % len(names):] + names[:repeat % len(names)]  # no setting always goes first
            for name in order:  # interleaved: a slow moment hits every setting
                extra = settings[name]
                config = TrainConfig(dataset="mnist1d", net="mlp", batch_size=batch, epochs=args.epochs, seed=0,
                                     threads=1, **extra)
                times[name].append(seconds(config))
        plain = statistics.median(t for t, _ in times["plain"])
        steps = args.epochs * (4000 // batch)
        print(f"{role}: {steps} steps, plain {plain:.1f} s")
        for name in settings:
            if name != "plain":
                wall = statistics.median(t for t, _ in times[name])
                overhead = statistics.median(m / (t - m) for t, m in times[name])
                measured = statistics.median(m for _, m in times[name])
                print(f"  {name:28s} measuring {measured:5.1f} s: overhead {100 * overhead:5.1f}%   "
                      f"(wall {wall:5.1f} s, x{wall / plain:.2f} the plain run)")


if __name__ == "__main__":
    main()
