"""Datasets held whole as tensors on a device (no DataLoader: see airbench).

Every loader returns a `Dataset` of contiguous tensors: x float32 (N, *input_shape),
y int64 (N,). Preprocessing follows the paper: 8-bit images are divided by 255 and
nothing else (no mean/std normalisation, no augmentation).

Where the data comes from:
- mnist1d, digits: generated / bundled, always available offline (cached in-process).
- mnist, cifar10, cifar100: files under the data directory, in the layout torchvision
  uses (`download=True` lets torchvision fetch them where there is network).
- timit: a user-supplied `timit.npz` (the corpus is licensed).
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import importlib.util
import os
import pathlib
import random
import tempfile
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from trainer.catalog import (  # noqa: F401  (the catalog's names are part of this module's API)
    DATASETS, DatasetInfo, PathLike, dataset_info, default_data_dir, is_present, resolve_data_dir,
)
from trainer.datafiles import (  # noqa: F401  (DataError is part of this module's API)
    DataError, Raw, count_train, fetch, load_cifar, load_mnist, load_timit,
)


@dataclass
class Dataset:
    info: DatasetInfo
    x_train: torch.Tensor  # float32 (N, *input_shape)
    y_train: torch.Tensor  # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    @property
    def n_test(self) -> int:
        return self.x_test.shape[0]

    def to(self, device) -> "Dataset":
        """A new Dataset on `device`; this one is left as it is."""
        return dataclasses.replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )


# ---------------------------------------------------------------- public helpers


def train_size(name: str, data_dir: PathLike = None) -> int:
    """How many training samples `load_dataset` will give (before any subset): what the files
    under the data dir hold (a user's TIMIT file, a partial MNIST), the nominal size for
    generated and bundled data or when the files are missing. DataError for unreadable files."""
    info = dataset_info(name)
    root = resolve_data_dir(data_dir)
    if not info.files or not is_present(name, root):
        return info.n_train
    stamps = tuple((f, (root / f).stat().st_mtime_ns, (root / f).stat().st_size) for f in info.files)
    return _counted(name, str(root), stamps)


@functools.lru_cache(maxsize=32)
def _counted(name: str, root: str, stamps: tuple) -> int:  # stamps: a changed file is counted again
    return count_train(DATASETS[name], pathlib.Path(root))


def _location(info: DatasetInfo, root: pathlib.Path) -> str:
    """The file or folder the dataset is read from; "" for generated/bundled data."""
    if not info.files:
        return ""
    folders = {str(pathlib.PurePosixPath(f).parent) for f in info.files}
    if len(info.files) == 1:
        return str(root / info.files[0])
    return str(root / folders.pop()) if len(folders) == 1 else str(root)


def describe(data_dir: PathLike = None) -> list[dict]:
    """One JSON-able dict per dataset, with whether it is available under `data_dir`."""
    root = resolve_data_dir(data_dir)
    return [
        {
            "name": info.name,
            "input_shape": list(info.input_shape),
            "num_classes": info.num_classes,
            "n_train": info.n_train,
            "n_test": info.n_test,
            "source": info.source,
            "present": is_present(info.name, root),
            "path": _location(info, root),
            "files": list(info.files),
            "description": info.description,
        }
        for info in DATASETS.values()
    ]


def load_dataset(
    name: str,
    *,
    data_dir: PathLike = None,
    subset: int | None = None,
    seed: int = 0,
    device="cpu",
    download: bool = False,
) -> Dataset:
    """Load `name` whole onto `device`.

    subset: keep a random `subset` of the TRAINING samples (drawn with a torch.Generator
    seeded with `seed`, kept in their original order); the test set is always whole.
    download: let torchvision fetch mnist/cifar10/cifar100 into the data dir if missing.
    """
    info = dataset_info(name)
    root = resolve_data_dir(data_dir)
    if download and info.source == "torchvision" and not is_present(name, root):
        fetch(info, root)
    raw = _LOADERS[name](info, root)
    x_train, y_train = raw.x_train, raw.y_train
    if subset is not None:
        keep = _subset_indices(len(y_train), subset, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    return Dataset(
        info=info,
        x_train=_to_float(x_train, raw.scale, device),
        y_train=y_train.to(device=device, dtype=torch.int64).contiguous(),
        x_test=_to_float(raw.x_test, raw.scale, device),
        y_test=raw.y_test.to(device=device, dtype=torch.int64).contiguous(),
    )


def _subset_indices(n: int, subset: int, seed: int) -> torch.Tensor:
    if isinstance(subset, bool) or not isinstance(subset, int) or not 1 <= subset <= n:
        raise DataError(f"subset must be an integer in [1, {n}] (the training set size), got {subset!r}")
    generator = torch.Generator().manual_seed(seed)
    # Sorted so that subset == n gives the training set unchanged.
    return torch.randperm(n, generator=generator)[:subset].sort().values


def _to_float(x: torch.Tensor, scale: float, device) -> torch.Tensor:
    # uint8 images travel as bytes (4x less to copy) and become float32 on the device.
    x = x.to(device) if x.dtype == torch.uint8 else x.to(torch.float32).to(device)
    x = x.to(torch.float32)
    # A true division, correctly rounded on any device (x * (1/255) is not).
    return (x / scale if scale != 1 else x).contiguous()


# ---------------------------------------------------------------- generated / bundled


def _mnist1d_cache_file(root: pathlib.Path) -> pathlib.Path:
    version = importlib.metadata.version("mnist1d")
    return root / f"mnist1d-{version}.npz"


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(cache_file: str | None) -> dict[str, np.ndarray]:
    """Read-only arrays x_train (4000, 40) float32, y_train (4000,), x_test, y_test."""
    arrays = _read_mnist1d_cache(cache_file) if cache_file else None
    if arrays is None:
        arrays = _generate_mnist1d()
        if cache_file:
            _write_mnist1d_cache(cache_file, arrays)
    for a in arrays.values():
        a.flags.writeable = False
    return arrays


def _generate_mnist1d() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset reseeds Python's and NumPy's global generators; give the caller theirs back.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        d = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {
        "x_train": np.asarray(d["x"], dtype=np.float32),
        "y_train": np.asarray(d["y"], dtype=np.int64),
        "x_test": np.asarray(d["x_test"], dtype=np.float32),
        "y_test": np.asarray(d["y_test"], dtype=np.int64),
    }


def _read_mnist1d_cache(path: str) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is absent or not what we wrote."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except Exception:  # missing, unreadable, truncated: regenerate instead
        return None
    ok = (
        arrays["x_train"].dtype == np.float32
        and arrays["x_test"].dtype == np.float32
        and arrays["y_train"].dtype == np.int64
        and arrays["y_test"].dtype == np.int64
        and arrays["x_train"].ndim == arrays["x_test"].ndim == 2
        and arrays["x_train"].shape == (len(arrays["y_train"]), 40)
        and arrays["x_test"].shape == (len(arrays["y_test"]), 40)
    )
    return arrays if ok else None


def _write_mnist1d_cache(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Best effort: only into an existing, writable directory; atomic via rename."""
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return
    tmp = None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as f:
            tmp = f.name
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def _load_mnist1d(info: DatasetInfo, root: pathlib.Path) -> Raw:
    try:
        cache_file = str(_mnist1d_cache_file(root))
    except importlib.metadata.PackageNotFoundError:
        raise DataError("mnist1d needs the mnist1d package: pip install mnist1d") from None
    a = _mnist1d_arrays(cache_file)
    # Copies: callers may modify their tensors without touching the cache.
    # Values as generated (already centred to unit variance), so scale 1.
    return Raw(*(torch.tensor(a[k]) for k in ("x_train", "y_train", "x_test", "y_test")), scale=1)


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)  # x (1797, 64) float64 in 0..16, y (1797,)
    # Fixed split, independent of the run seed, so every run sees the same test set.
    parts = train_test_split(
        x.astype(np.float32), y.astype(np.int64), test_size=0.2, stratify=y, random_state=0
    )
    for a in parts:
        a.flags.writeable = False
    return tuple(parts)  # x_train, x_test, y_train, y_test


def _load_digits(info: DatasetInfo, root: pathlib.Path) -> Raw:
    x_train, x_test, y_train, y_test = (torch.tensor(a) for a in _digits_arrays())
    # The pixels are 4-bit counts 0..16 (not 8-bit 0..255), so dividing by 16 is the
    # analogue of the paper's /255: inputs in [0, 1], nothing else.
    return Raw(x_train, y_train, x_test, y_test, scale=16)


# ---------------------------------------------------------------- files in the data dir


_LOADERS: dict[str, Callable[[DatasetInfo, pathlib.Path], Raw]] = {
    "mnist1d": _load_mnist1d,
    "digits": _load_digits,
    "mnist": load_mnist,
    "cifar10": load_cifar,
    "cifar100": load_cifar,
    "timit": load_timit,
}
