"""The cost of live curvature: the gap preset's SB and LB runs trained with and without
`curvature_every` (λ_max every k steps; Adam also measures its preconditioned λ_max) and
`sharpness_every` (Keskar's metric every k epochs), side by side in this process.

    .venv/bin/python bench/bench_curvature.py [--epochs 100] [--repeats 2]

Each setting trains the same run from the same weights on one thread; the figure is the
median wall time over the repeats, as a ratio to the plain run measured in the same round.
The suggested setting (the form's help and the README) is the one whose overhead is at
most 10% on both runs.
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


def seconds(config: TrainConfig) -> float:
    trainer = Trainer(config)
    trainer.add_callback("on_step", lambda t, m: None)  # a listener, as the web's recorder is
    start = time.perf_counter()
    trainer.run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {"plain": {}, "λ every 2500 steps": {"curvature_every": 2500},
                "λ every 1000 steps": {"curvature_every": 1000}, "λ every 250 steps": {"curvature_every": 250},
                "sharpness every 25 epochs": {"sharpness_every": 25}}
    print(f"MNIST-1D, 5 x 256 MLP, Adam 1e-3, {args.epochs} epochs, one thread; median of {args.repeats}")
    for role, batch in ROLES.items():
        times: dict[str, list[float]] = {name: [] for name in settings}
        for _ in range(args.repeats):
            for name, extra in settings.items():  # interleaved: a slow moment hits every setting
                config = TrainConfig(dataset="mnist1d", net="mlp", batch_size=batch, epochs=args.epochs, seed=0,
                                     threads=1, **extra)
                times[name].append(seconds(config))
        plain = statistics.median(times["plain"])
        steps = args.epochs * (4000 // batch)
        print(f"{role}: {steps} steps, plain {plain:.1f} s")
        for name in settings:
            if name != "plain":
                t = statistics.median(times[name])
                print(f"  {name:28s} {t:6.1f} s  x{t / plain:.3f}  (+{100 * (t / plain - 1):.1f}%)")


if __name__ == "__main__":
    main()
