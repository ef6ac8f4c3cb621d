"""Benchmark: Keskar sharpness overhead over the loss+gradient evaluations it needs.

On the MNIST-1D MLP (40 -> 5 x [Linear 256, BatchNorm, ReLU] -> Linear 10, full 4000
training examples), briefly trained (5 epochs of Adam 1e-3, batch 400), it prints for
eps = 1e-3, full space, 10 iterations:

- t_fg: one full-data loss + gradient (median of 10);
- wall time and forward+backward passes of keskar_sharpness, overhead = wall / (passes * t_fg) - 1;
- the same with driver="minimize" (scipy.optimize.minimize with a Bounds of arrays);
- a NAIVE wrapper (list-of-tuple bounds, float64 round trips, per-parameter loops, SciPy's
  default tolerances) and the ratio of its wall time per pass to ours.

    .venv/bin/python bench/bench_sharpness.py [--threads 1]
"""
from __future__ import annotations

import argparse
import copy
import pathlib
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from mnist1d.data import get_dataset_args, make_dataset
from scipy.optimize import minimize
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from trainer.analysis import keskar_sharpness  # noqa: E402

EPS, MAX_ITER = 1e-3, 10


def mnist1d_mlp() -> nn.Sequential:
    layers, width = [], 40
    for _ in range(5):
        layers += [nn.Linear(width, 256), nn.BatchNorm1d(256), nn.ReLU()]
        width = 256
    return nn.Sequential(*layers, nn.Linear(256, 10))


def train_briefly(model, x, y, epochs=5, batch=400):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    opt.zero_grad(set_to_none=True)


def time_fg(model, x, y, repeats=10) -> float:
    params = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        torch.autograd.grad(loss, params)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def naive_sharpness(model, x, y) -> tuple[float, int, str]:
    """What a first attempt looks like; returns (value, passes, message). Restores the model."""
    saved = copy.deepcopy(model.state_dict())
    params = list(model.parameters())
    model.eval()
    x0 = np.concatenate([p.detach().numpy().ravel().astype(np.float64) for p in params])
    bounds = [(-EPS * (abs(v) + 1), EPS * (abs(v) + 1)) for v in x0]
    passes = 0

    def f(yv):
        nonlocal passes
        offset = 0
        for p in params:
            n = p.numel()
            p.data = torch.tensor(x0[offset:offset + n] + yv[offset:offset + n], dtype=torch.float32).view_as(p)
            offset += n
        model.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        passes += 1
        return -loss.item(), -np.concatenate([p.grad.numpy().ravel().astype(np.float64) for p in params])

    f_x = -f(np.zeros_like(x0))[0]
    res = minimize(f, np.zeros_like(x0), jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": MAX_ITER})
    value = (-res.fun - f_x) / (1 + f_x) * 100
    model.load_state_dict(saved)
    model.zero_grad(set_to_none=True)
    return value, passes, res.message


def ours(model, x, y, driver: str):
    start = time.perf_counter()
    entry = keskar_sharpness(model, x, y, epsilons=(EPS,), max_iter=MAX_ITER, driver=driver).entries[0]
    wall = time.perf_counter() - start
    passes = entry.model_evaluations + 1  # + the shared f(x) evaluation at y = 0
    return wall, passes, entry


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = make_dataset(get_dataset_args())
    x = torch.tensor(data["x"], dtype=torch.float32)
    y = torch.tensor(data["y"], dtype=torch.int64)
    model = mnist1d_mlp()
    train_briefly(model, x, y)
    n = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, MNIST-1D MLP n={n}, "
          f"train {len(x)}, eps {EPS}, full space, max_iter {MAX_ITER}")

    time_fg(model, x, y, repeats=3)  # warm-up
    t_fg = time_fg(model, x, y)
    print(f"t_fg (full-data loss+grad, median of 10): {t_fg * 1e3:.1f} ms")

    rows = {}
    for label, driver in (("ours (direct driver)", "direct"), ("ours (driver=minimize)", "minimize")):
        wall, passes, entry = ours(model, x, y, driver)
        rows[label] = (wall, passes)
        print(f"{label:24s} wall {wall:6.2f} s  passes {passes:3d}  overhead {wall / (passes * t_fg) - 1:6.1%}  "
              f"value {entry.value:.4g}  nit {entry.iterations}  {entry.message}")
    start = time.perf_counter()
    value, passes, message = naive_sharpness(model, x, y)
    wall = time.perf_counter() - start
    print(f"{'naive':24s} wall {wall:6.2f} s  passes {passes:3d}  overhead {wall / (passes * t_fg) - 1:6.1%}  "
          f"value {value:.4g}  {message}")
    ours_wall, ours_passes = rows["ours (direct driver)"]
    print(f"naive / ours, wall time per pass: {(wall / passes) / (ours_wall / ours_passes):.2f}x")


if __name__ == "__main__":
    main()
