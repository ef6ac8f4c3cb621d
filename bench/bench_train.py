"""Training throughput: the project's loop against a bare PyTorch loop and a DataLoader loop.

    .venv/bin/python bench/bench_train.py [--device cuda] [--threads 1] [--repeats 3] [--only C1]

All three loops train the same network from the same weights with Adam on the same data
and batch size. "project" is trainer.train.Trainer with an on_step callback listening
(every step's loss and accuracy become Python floats) and checkpoints off; its
per-epoch full-set evaluation is timed separately and left out of its samples/s, since
the bare loop does not evaluate. "bare" is the loop people write on device tensors;
"bare+eval" the same with the project's per-epoch evaluations between epochs (timed out
too: what remains is their effect on the steps that follow, e.g. a colder cache);
"dataloader" is the torchvision-style loop: TensorDataset + DataLoader(shuffle=True),
per-sample transforms when augmenting, copies to the device per batch (on CUDA: worker
processes started before the clock, pinned memory).
The bare loop draws its batch order from a generator of its own, as the project's loop
does, so both make the same random draws for augmentation and dropout: the script checks
that they end with the same weights (the same work, step for step). The loops run in a
rotated order from repeat to repeat; ratios are against the bare loop, measured in this
process (median of the repeats). On CPU the last ratio is of CPU time per sample (the
process's, evaluations left out): the loops' work, which other processes on a shared
machine disturb far less than the wall clock. On CUDA it is the project's loop with no step
listener ("unheard": no loss read back, so no wait for each step) over the bare loop, and
the cases train on more samples and epochs, so that a run lasts long enough to time.
"""
from __future__ import annotations

import argparse
import contextlib
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
from trainer.evaluate import evaluate, flat_parameters  # noqa: E402
from trainer.memory import retain_freed_memory  # noqa: E402
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
    cuda: tuple[int, int] | None = None  # (n_train, epochs) on CUDA, where a step takes a millisecond

    def on(self, device: torch.device) -> "Case":
        if device.type != "cuda" or self.cuda is None:
            return self
        n_train, epochs = self.cuda
        return Case(**{**self.__dict__, "n_train": n_train, "epochs": epochs})


CASES = [
    Case("MNIST-1D mlp, B=32", "mnist1d", "mlp", 32, 4000, 2, cuda=(4000, 6)),
    Case("MNIST-1D mlp, B=400", "mnist1d", "mlp", 400, 4000, 20, cuda=(4000, 60)),
    Case("F1, B=256 (synthetic MNIST)", "mnist", "F1", 256, 256 * 24, 2, synthetic=True, cuda=(256 * 48, 4)),
    Case("C1, B=256 (synthetic CIFAR)", "cifar10", "C1", 256, 256 * 4, 1, synthetic=True, cuda=(256 * 48, 3)),
    Case("C1, B=256 + augmentation", "cifar10", "C1", 256, 256 * 4, 1, augment=True, synthetic=True,
         cuda=(256 * 48, 3)),
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
        torch.cuda.synchronize(device)


@dataclass
class Run:
    samples: int
    wall: float   # seconds, evaluations left out
    cpu: float    # this process's CPU seconds, evaluations left out (on CPU: the work, whatever else runs)
    model: torch.nn.Module


class Clock:
    """Wall and process CPU time from start() to stop(), less the spans spent inside left_out()."""

    def __init__(self, device):
        self.device = device
        self.out_wall = self.out_cpu = 0.0

    def start(self) -> None:
        sync(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    @contextlib.contextmanager
    def left_out(self):
        sync(self.device)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            sync(self.device)
            self.out_wall += time.perf_counter() - wall
            self.out_cpu += time.process_time() - cpu

    def stop(self, samples: int, model) -> Run:
        sync(self.device)
        return Run(samples, time.perf_counter() - self.wall - self.out_wall,
                   time.process_time() - self.cpu - self.out_cpu, model)


def project_loop(case, ds, device, threads, listen: bool = True) -> Run:
    config = TrainConfig(dataset=case.dataset, net=case.net, batch_size=case.batch, epochs=case.epochs,
                         device=str(device), threads=threads, augment=case.augment, checkpoint_every=0)
    trainer = Trainer(config, dataset=ds)
    losses = []
    if listen:  # every step's loss and accuracy read back: on CUDA, a wait for the step each step
        trainer.add_callback("on_step", lambda t, m: losses.append(m["loss"]))
    clock = Clock(device)
    evaluate_epoch = trainer.evaluate

    def timed_out_evaluate():  # the per-epoch evaluation, as trainer.eval_time times it
        with clock.left_out():
            return evaluate_epoch()

    trainer.evaluate = timed_out_evaluate
    clock.start()
    result = trainer.run()
    return clock.stop(result.step * case.batch, result.model)


def bare_loop(case, ds, device, threads, evaluate_epochs: bool = False) -> Run:
    model = fresh_model(case, ds, device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(1)  # as the project's loop: seed + 1, on the CPU
    x, y = ds.x_train, ds.y_train
    steps = len(x) // case.batch
    model.train()
    clock = Clock(device)
    clock.start()
    for _ in range(case.epochs):
        if evaluate_epochs:  # what the project's loop does between epochs, timed out likewise
            with clock.left_out():
                evaluate(model, ds.x_train, ds.y_train)
                evaluate(model, ds.x_test, ds.y_test)
        perm = torch.randperm(len(x), generator=order).to(device)
        for i in range(steps):
            idx = perm[i * case.batch:(i + 1) * case.batch]
            xb, yb = x[idx], y[idx]
            if case.augment:
                xb = augment_batch(xb)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return clock.stop(case.epochs * steps * case.batch, model)


def bare_eval_loop(case, ds, device, threads) -> Run:
    return bare_loop(case, ds, device, threads, evaluate_epochs=True)


def unheard_loop(case, ds, device, threads) -> Run:
    return project_loop(case, ds, device, threads, listen=False)


class _Augmented(torch.utils.data.Dataset):
    def __init__(self, x, y):
        from torchvision.transforms import v2

        self.x, self.y = x, y
        self.transform = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomAffine(degrees=10, translate=(0.2, 0.2))])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(self.x[i]), self.y[i]


LOADER_WORKERS = {"cpu": 0, "cuda": 4}


def dataloader_loop(case, ds, device, threads) -> Run:
    model = fresh_model(case, ds, device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = ds.x_train.cpu(), ds.y_train.cpu()
    dataset = _Augmented(x, y) if case.augment else torch.utils.data.TensorDataset(x, y)
    workers = LOADER_WORKERS.get(device.type, 0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=case.batch, shuffle=True, drop_last=True,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    # Worker processes start before the clock (their first batches too: in the loader's favour).
    epoch_batches = iter(loader)
    model.train()
    seen = 0
    clock = Clock(device)
    clock.start()
    for epoch in range(case.epochs):
        for xb, yb in (epoch_batches if epoch == 0 else loader):
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(xb)
    return clock.stop(seen, model)


LOOPS = {"project": project_loop, "bare": bare_loop, "bare+eval": bare_eval_loop, "dataloader": dataloader_loop}
# On CUDA also the project's loop with no step listener: the loop without the per-step read-back.
CUDA_LOOPS = {"unheard": unheard_loop}


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> str:
    diff = (flat_parameters(a) - flat_parameters(b)).abs().max().item()
    return "bit-identical" if diff == 0 else f"max |diff| {diff:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="substrings of case labels to run")
    parser.add_argument("--loader-workers", type=int, help="DataLoader worker processes (default: "
                        + ", ".join(f"{k} {v}" for k, v in LOADER_WORKERS.items()) + ")")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    if args.loader_workers is not None:
        LOADER_WORKERS[device.type] = args.loader_workers
    # The project's loop keeps freed memory for the next step on CPU (trainer.memory), process-wide:
    # set before any loop runs, so that every loop runs with it.
    retained = device.type == "cpu" and retain_freed_memory()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"device: {name}; torch {torch.__version__}; freed memory retained: {retained}; "
          f"DataLoader workers: {LOADER_WORKERS.get(device.type, 0)}; median of {args.repeats} repeats, samples/s")
    # On CPU also the ratio of CPU times: a single-threaded loop's work, which other processes on the
    # machine slow down far less than they slow its wall time. On CUDA the unheard project loop's.
    loops = {**LOOPS, **(CUDA_LOOPS if device.type == "cuda" else {})}
    extra = "proj/bare CPU" if device.type == "cpu" else "unheard/bare"
    print(f"{'case':32} {'project':>9} {'bare':>9} {'bare+eval':>9} {'loader':>9} {'proj/bare':>9} "
          f"{'proj/(bare+eval)':>16} {'proj/loader':>11} {extra:>13}  project and bare weights after an epoch")
    for case in CASES:
        if args.only and not any(s in case.label for s in args.only):
            continue
        case = case.on(device)
        ds = make_dataset(case, device)
        # Warm-up (allocator, kernels, lazy imports, worker start), and the check that the project's
        # loop and the bare loop did the same work: one epoch each from the same weights.
        warm = {k: fn(Case(**{**case.__dict__, "epochs": 1}), ds, device, args.threads).model
                for k, fn in loops.items()}
        same = same_weights(warm["project"], warm["bare"])
        runs: dict[str, list[Run]] = {k: [] for k in loops}
        order = list(loops)
        for r in range(args.repeats):  # interleaved, so drift in machine load hits all loops alike,
            for key in order[r % len(order):] + order[:r % len(order)]:  # and none always runs first
                run = loops[key](case, ds, device, args.threads)
                run.model = None
                runs[key].append(run)
        rate = {k: statistics.median(r.samples / r.wall for r in v) for k, v in runs.items()}
        if device.type == "cpu":
            extra_ratio = (statistics.median(r.cpu / r.samples for r in runs["bare"])
                           / statistics.median(r.cpu / r.samples for r in runs["project"]))
        else:
            extra_ratio = rate["unheard"] / rate["bare"]
        print(f"{case.label:32} {rate['project']:>9.0f} {rate['bare']:>9.0f} {rate['bare+eval']:>9.0f} "
              f"{rate['dataloader']:>9.0f} {rate['project'] / rate['bare']:>9.2f} "
              f"{rate['project'] / rate['bare+eval']:>16.2f} {rate['project'] / rate['dataloader']:>11.2f} "
              f"{extra_ratio:>13.2f}  {same}", flush=True)


if __name__ == "__main__":
    main()
