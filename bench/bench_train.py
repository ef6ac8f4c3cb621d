"""Training throughput: the project's loop against a bare PyTorch loop and a DataLoader loop.

    .venv/bin/python bench/bench_train.py [--device cuda] [--threads 1] [--repeats 3]

All three loops train the same network from the same weights with Adam on the same data
and batch size. "project" is trainer.train.Trainer with an on_step callback listening
(every step's loss and accuracy become Python floats) and checkpoints off; its
per-epoch full-set evaluation is timed separately and left out of its samples/s, since
the bare loop does not evaluate. "bare" is the loop people write on device tensors;
"bare+eval" the same with the project's per-epoch evaluations between epochs (timed out
too: what remains is their effect on the steps that follow, e.g. a colder cache);
"dataloader" is the torchvision-style loop: TensorDataset + DataLoader(shuffle=True),
per-sample transforms when augmenting, copies to the device per batch.
Ratios are against the bare loop, measured in this process (median of the repeats).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import data, nets  # noqa: E402
from trainer.augment import augment_batch  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.evaluate import evaluate  # noqa: E402
from trainer.train import Trainer  # noqa: E402


@dataclass(frozen=True)
class Case:
    label: str
    dataset: str
    net: str
    batch: int
    n_train: int          # samples per epoch
    epochs: int
    augment: bool = False
    synthetic: bool = False


CASES = [
    Case("MNIST-1D mlp, B=32", "mnist1d", "mlp", 32, 4000, 2),
    Case("MNIST-1D mlp, B=400", "mnist1d", "mlp", 400, 4000, 20),
    Case("F1, B=256 (synthetic MNIST)", "mnist", "F1", 256, 256 * 24, 2, synthetic=True),
    Case("C1, B=256 (synthetic CIFAR)", "cifar10", "C1", 256, 256 * 4, 1, synthetic=True),
    Case("C1, B=256 + augmentation", "cifar10", "C1", 256, 256 * 4, 1, augment=True, synthetic=True),
]


def make_dataset(case: Case, device) -> data.Dataset:
    if not case.synthetic:
        return data.load_dataset(case.dataset, device=device)
    info = data.DATASETS[case.dataset]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(case.n_train, *info.input_shape, generator=g)
    y = torch.randint(0, info.num_classes, (case.n_train,), generator=g)
    return data.Dataset(info, x, y, x[:512].clone(), y[:512].clone()).to(device)


def fresh_model(case: Case, ds: data.Dataset, device):
    torch.manual_seed(0)
    return nets.build_net(case.net, ds.info.input_shape, ds.info.num_classes).to(device)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def project_loop(case, ds, device, threads) -> float:
    config = TrainConfig(dataset=case.dataset, net=case.net, batch_size=case.batch, epochs=case.epochs,
                         device=str(device), threads=threads, augment=case.augment, checkpoint_every=0)
    trainer = Trainer(config, dataset=ds)
    losses = []
    trainer.add_callback("on_step", lambda t, m: losses.append(m["loss"]))
    sync(device)
    t0 = time.perf_counter()
    result = trainer.run()
    sync(device)
    wall = time.perf_counter() - t0 - trainer.eval_time
    return result.step * case.batch / wall


def bare_loop(case, ds, device, threads, evaluate_epochs: bool = False) -> float:
    model = fresh_model(case, ds, device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = ds.x_train, ds.y_train
    steps = len(x) // case.batch
    model.train()
    sync(device)
    t0 = time.perf_counter()
    eval_time = 0.0
    for _ in range(case.epochs):
        if evaluate_epochs:  # what the project's loop does between epochs, timed out likewise
            sync(device)
            e0 = time.perf_counter()
            evaluate(model, ds.x_train, ds.y_train)
            evaluate(model, ds.x_test, ds.y_test)
            eval_time += time.perf_counter() - e0
        perm = torch.randperm(len(x), device=device)
        for i in range(steps):
            idx = perm[i * case.batch:(i + 1) * case.batch]
            xb, yb = x[idx], y[idx]
            if case.augment:
                xb = augment_batch(xb)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    sync(device)
    return case.epochs * steps * case.batch / (time.perf_counter() - t0 - eval_time)


def bare_eval_loop(case, ds, device, threads) -> float:
    return bare_loop(case, ds, device, threads, evaluate_epochs=True)


class _Augmented(torch.utils.data.Dataset):
    def __init__(self, x, y):
        from torchvision.transforms import v2

        self.x, self.y = x, y
        self.transform = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomAffine(degrees=10, translate=(0.2, 0.2))])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(self.x[i]), self.y[i]


def dataloader_loop(case, ds, device, threads) -> float:
    model = fresh_model(case, ds, device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = ds.x_train.cpu(), ds.y_train.cpu()
    dataset = _Augmented(x, y) if case.augment else torch.utils.data.TensorDataset(x, y)
    workers = 4 if device.type == "cuda" else 0
    loader = torch.utils.data.DataLoader(dataset, batch_size=case.batch, shuffle=True, drop_last=True,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    model.train()
    seen = 0
    sync(device)
    t0 = time.perf_counter()
    for _ in range(case.epochs):
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(xb)
    sync(device)
    return seen / (time.perf_counter() - t0)


LOOPS = {"project": project_loop, "bare": bare_loop, "bare+eval": bare_eval_loop, "dataloader": dataloader_loop}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="substrings of case labels to run")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"device: {name}; torch {torch.__version__}; median of {args.repeats} repeats, samples/s")
    print(f"{'case':32} {'project':>9} {'bare':>9} {'bare+eval':>9} {'loader':>9} {'proj/bare':>9} "
          f"{'proj/(bare+eval)':>16} {'proj/loader':>11}")
    for case in CASES:
        if args.only and not any(s in case.label for s in args.only):
            continue
        ds = make_dataset(case, device)
        for fn in LOOPS.values():  # warm-up: allocator, kernels, lazy imports
            fn(Case(**{**case.__dict__, "epochs": 1}), ds, device, args.threads)
        runs = {k: [] for k in LOOPS}
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits all loops alike
            for key, fn in LOOPS.items():
                runs[key].append(fn(case, ds, device, args.threads))
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"{case.label:32} {med['project']:>9.0f} {med['bare']:>9.0f} {med['bare+eval']:>9.0f} "
              f"{med['dataloader']:>9.0f} {med['project'] / med['bare']:>9.2f} "
              f"{med['project'] / med['bare+eval']:>16.2f} {med['project'] / med['dataloader']:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
