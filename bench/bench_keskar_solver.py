"""How far Keskar's sharpness under the paper's protocol (10 L-BFGS-B iterations from y = 0) is
from the box maximum: SB (batch 32) and LB (batch 400) MNIST-1D MLPs trained 40 epochs, each
measured in full space at eps 1e-3 and 5e-4 with

- the literal method (scaling="none", 10 iterations),
- the default box scaling (scaling="box", 10 iterations),
- a converged solve (box scaling, up to 200 iterations from 0 and 3 random starts; the largest).

    .venv/bin/python bench/bench_keskar_solver.py [--epochs 40]

Every value is a lower bound of the maximum over the box; the percentages say how much larger
the later solves found it than the literal method.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.analysis.by_name import CONVERGED_SHARPNESS  # noqa: E402
from trainer.analysis.sharpness import keskar_sharpness  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.train import Trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"MNIST-1D, 5 x 256 MLP, Adam 1e-3, {args.epochs} epochs; full space")
    print(f"{'run':6s} {'eps':>7s} {'literal':>10s} {'box':>10s} {'converged':>10s}  box vs literal  converged vs literal  "
          f"converged solve")
    for role, batch in (("SB", 32), ("LB", 400)):
        result = Trainer(TrainConfig(dataset="mnist1d", net="mlp", batch_size=batch, epochs=args.epochs,
                                     seed=0, threads=1)).run()
        model, data = result.model, Trainer(result.config).data
        for eps in (1e-3, 5e-4):
            common = dict(epsilons=(eps,))
            literal = keskar_sharpness(model, data.x_train, data.y_train, scaling="none", **common).entries[0]
            box = keskar_sharpness(model, data.x_train, data.y_train, **common).entries[0]
            t0 = time.perf_counter()
            best = keskar_sharpness(model, data.x_train, data.y_train, **CONVERGED_SHARPNESS, **common).entries[0]
            seconds = time.perf_counter() - t0
            print(f"{role:6s} {eps:7.0e} {literal.value:10.4f} {box.value:10.4f} {best.value_max:10.4f}  "
                  f"{100 * (box.value / literal.value - 1):+13.1f}%  {100 * (best.value_max / literal.value - 1):+19.1f}%  "
                  f"{best.iterations} it, status {best.status}, {seconds:.0f} s")


if __name__ == "__main__":
    main()
