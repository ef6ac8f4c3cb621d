"""What datasets and networks there are: names, shapes, sizes, files, and whether a dataset's
files are present. Plain data, no torch: the web form, the paper comparison and the
estimates read it without loading a tensor (trainer.data loads datasets, trainer.nets
builds networks).
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
from dataclasses import dataclass
from typing import Union

DATA_DIR_ENV = "LBLAB_DATA_DIR"
PathLike = Union[str, os.PathLike, None]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    input_shape: tuple[int, ...]  # per sample
    num_classes: int
    n_train: int  # full sizes, before any subset (TIMIT: the paper's sizes)
    n_test: int
    source: str  # "generated" | "bundled" | "torchvision" | "user file"
    files: tuple[str, ...]  # relative to the data dir; () when nothing is read from it
    description: str


_MNIST_FILES = tuple(
    f"MNIST/raw/{split}-{kind}-ubyte"
    for split in ("train", "t10k")
    for kind in ("images-idx3", "labels-idx1")
)
_CIFAR10_FILES = tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)) + (
    "cifar-10-batches-py/test_batch",
)
_CIFAR100_FILES = ("cifar-100-python/train", "cifar-100-python/test")

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "mnist1d", (40,), 10, 4000, 1000, "generated", (),
            "MNIST-1D (Greydanus 2020): 1-D signals of 40 values, generated offline by the "
            "mnist1d package; the CPU-scale stand-in for the paper's F1 experiments.",
        ),
        DatasetInfo(
            "digits", (64,), 10, 1437, 360, "bundled", (),
            "scikit-learn's bundled 8x8 handwritten digits (1797 images), flattened to 64 "
            "features and divided by 16; fixed stratified 80/20 train/test split.",
        ),
        DatasetInfo(
            "mnist", (1, 28, 28), 10, 60000, 10000, "torchvision", _MNIST_FILES,
            "MNIST 28x28 grey images (the paper's F1), divided by 255.",
        ),
        DatasetInfo(
            "cifar10", (3, 32, 32), 10, 50000, 10000, "torchvision", _CIFAR10_FILES,
            "CIFAR-10 32x32 colour images (the paper's C1, C2), channels-first, divided by 255.",
        ),
        DatasetInfo(
            "cifar100", (3, 32, 32), 100, 50000, 10000, "torchvision", _CIFAR100_FILES,
            "CIFAR-100 32x32 colour images with the 100 fine labels (the paper's C3, C4), "
            "channels-first, divided by 255.",
        ),
        DatasetInfo(
            "timit", (360,), 1973, 721329, 310621, "user file", ("timit.npz",),
            "TIMIT frame features (the paper's F2): 360 features per frame, 1973 classes. "
            "Licensed corpus: supply timit.npz with x_train, y_train, x_test, y_test.",
        ),
    )
}



MLP_WIDTH, MLP_DEPTH = 256, 5  # the mlp and relu-mlp nets' default hidden width and layers

@dataclass(frozen=True)
class NetSpec:
    name: str
    paper_dataset: str  # "mnist", "timit", "cifar10", "cifar100"; "mnist1d" for the CPU nets
    description: str
    paper_input_shape: tuple[int, ...] | None = None  # None: any shape (mlp) or any length (cnn1d)
    paper_num_classes: int = 10


NETS: dict[str, NetSpec] = {
    s.name: s
    for s in (
        NetSpec("F1", "mnist", "784 -> 5 x [Dense 512, BN, ReLU] -> Dense 10", (1, 28, 28), 10),
        NetSpec("F2", "timit", "360 -> 7 x [Dense 512, BN, ReLU] -> Dense 1973", (360,), 1973),
        NetSpec("C1", "cifar10", "2 x [Conv 64 5x5, BN, ReLU, MaxPool 3/2] -> Dense 384, 192 -> 10",
                (3, 32, 32), 10),
        NetSpec("C2", "cifar10", "VGG-16-like: 13 x [Conv 3x3, BN, ReLU] in 5 stacks -> Dense 512 -> 10",
                (3, 32, 32), 10),
        NetSpec("C3", "cifar100", "C1 with 100 outputs", (3, 32, 32), 100),
        NetSpec("C4", "cifar100", "C2 with 100 outputs", (3, 32, 32), 100),
        NetSpec("mlp", "mnist1d", "flatten -> depth x [Dense width, BN, ReLU] -> Dense classes "
                "(default 5 x 256: the F1-shaped MNIST-1D net)", None, 10),
        NetSpec("relu-mlp", "mnist1d", "flatten -> depth x [Dense width, ReLU] -> Dense classes, no BatchNorm "
                "(default 5 x 256; positively homogeneous, for the edge of stability and reparametrization)", None, 10),
        NetSpec("cnn1d", "mnist1d", "(L,) -> depth x [Conv1d k5, BN, ReLU] (stride 2 after the first) "
                "-> Dense classes", None, 10),
    )
}


class DataError(ValueError):
    """A dataset cannot be loaded; the message names what was expected and the fix."""


def default_data_dir() -> pathlib.Path:
    """$LBLAB_DATA_DIR if set, else <repo root>/data."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path(__file__).resolve().parent.parent / "data"


def resolve_data_dir(data_dir: PathLike) -> pathlib.Path:
    return default_data_dir() if data_dir is None else pathlib.Path(data_dir).expanduser()


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name]


def is_present(name: str, data_dir: PathLike = None) -> bool:
    """True when `load_dataset(name, data_dir=...)` has what it needs (files not validated)."""
    info = dataset_info(name)
    if name == "mnist1d":
        return importlib.util.find_spec("mnist1d") is not None
    if name == "digits":
        return importlib.util.find_spec("sklearn") is not None
    root = resolve_data_dir(data_dir)
    return all((root / f).is_file() for f in info.files)
