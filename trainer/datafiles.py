"""Readers of the dataset files a user supplies: MNIST's idx files, CIFAR's pickled
batches (through a restricted unpickler) and a TIMIT feature file.

Each reader takes the dataset's DatasetInfo and the data directory and returns CPU
tensors as stored; every problem is a DataError that names the file and what was expected.
"""
from __future__ import annotations

import codecs
import functools
import pathlib
import pickle
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from trainer.catalog import DATA_DIR_ENV, DataError  # noqa: F401  (DataError: part of this module's API)

if TYPE_CHECKING:
    from trainer.data import DatasetInfo



@dataclass(frozen=True)
class Raw:
    """CPU tensors as stored; x is divided by `scale` once it is on the device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    scale: float



def _require_files(info: DatasetInfo, root: pathlib.Path) -> None:
    missing = [f for f in info.files if not (root / f).is_file()]
    if not missing:
        return
    hint = (
        f"Put the files there, set {DATA_DIR_ENV} (or pass --data-dir) to a directory that "
        "has them"
    )
    if info.source == "torchvision":
        hint += ", or pass download=True (--download) on a machine with network access"
    raise DataError(
        f"{info.name}: missing {', '.join(missing)} in data directory {root}. "
        f"Expected files: {', '.join(str(root / f) for f in info.files)}. {hint}."
    )


def fetch(info: DatasetInfo, root: pathlib.Path) -> None:
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100}[info.name]
    try:
        # One split is enough: each download fetches the whole dataset.
        cls(root=str(root), train=True, download=True)
    except Exception as exc:  # network, disk and archive errors alike
        raise DataError(
            f"{info.name}: download into {root} failed ({type(exc).__name__}: {exc}). "
            f"Without network, copy the files there by hand: "
            f"{', '.join(str(root / f) for f in info.files)}."
        ) from exc


def _check_labels(what: str, y: torch.Tensor, n: int, num_classes: int, expected: str = "") -> None:
    if y.shape != (n,):
        raise DataError(
            f"{what}: expected {n} labels to match {n} samples, got shape {tuple(y.shape)}. {expected}"
        )
    if n and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise DataError(
            f"{what}: labels must lie in [0, {num_classes - 1}], "
            f"got [{int(y.min())}, {int(y.max())}]. {expected}"
        )


def load_mnist(info: DatasetInfo, root: pathlib.Path) -> Raw:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    _require_files(info, root)
    raw = root / "MNIST" / "raw"
    out = []
    for split in ("train", "t10k"):
        images_path = raw / f"{split}-images-idx3-ubyte"
        labels_path = raw / f"{split}-labels-idx1-ubyte"
        try:
            # read_image_file -> uint8 (N, 28, 28); read_label_file -> int64 (N,)
            images, labels = read_image_file(str(images_path)), read_label_file(str(labels_path))
        except (AssertionError, ValueError, TypeError, RuntimeError, KeyError, IndexError) as exc:
            raise DataError(
                f"mnist: {images_path.name} / {labels_path.name} in {raw} are not valid "
                f"uncompressed idx files ({type(exc).__name__}: {exc}); replace them with the "
                "original MNIST files (gunzipped)."
            ) from exc
        if images.dtype != torch.uint8 or images.shape[1:] != (28, 28):
            raise DataError(
                f"mnist: {images_path} must hold uint8 images of 28x28, "
                f"got {images.dtype} {tuple(images.shape)}"
            )
        _check_labels(f"mnist: {labels_path}", labels, images.shape[0], info.num_classes)
        out += [images.unsqueeze(1), labels]  # (N, 1, 28, 28): channels-first
    return Raw(*out, scale=255)


@functools.cache
def _pickle_allowlist() -> dict[tuple[str, str], object]:
    """The globals a CIFAR pickle (a dict of numpy arrays, lists, bytes) legitimately needs.

    Anything else is refused: unpickling an arbitrary global can run arbitrary code.
    """
    try:
        from numpy._core.multiarray import _reconstruct, scalar
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
        from numpy.core.numeric import _frombuffer
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for package in ("numpy.core", "numpy._core"):  # files written by numpy 1.x and 2.x
        allowed[(f"{package}.multiarray", "_reconstruct")] = _reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = _frombuffer  # pickle protocol 5
    allowed[("_codecs", "encode")] = codecs.encode  # bytes in protocol <= 2 from Python 3
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _pickle_allowlist()[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def _read_cifar_pickle(path: pathlib.Path, label_key: str, num_classes: int):
    """-> x uint8 (N, 3, 32, 32), y int64 (N,) from one CIFAR python-version file."""
    try:
        with open(path, "rb") as f:
            # latin1 like torchvision: the original files are Python 2 pickles.
            entry = _RestrictedUnpickler(f, encoding="latin1").load()
    except Exception as exc:  # refused global, truncated or garbled file
        raise DataError(
            f"{path}: not a CIFAR batch file ({type(exc).__name__}: {exc}). Expected a pickled "
            f"dict with 'data' (uint8 N x 3072) and '{label_key}'; re-extract the original archive."
        ) from exc
    if not isinstance(entry, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(entry).__name__}")
    # Python 3 pickles keep bytes keys (b"data"); Python 2 ones decoded as latin1 give str.
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    if "data" not in entry or label_key not in entry:
        raise DataError(f"{path}: expected keys 'data' and '{label_key}', found {sorted(map(str, entry))}")
    data = entry["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{type(data).__name__} {getattr(data, 'dtype', '')} {getattr(data, 'shape', '')}"
        raise DataError(f"{path}: 'data' must be a uint8 array of shape (N, 3072), got {got}")
    try:
        y = torch.as_tensor(np.asarray(entry[label_key], dtype=np.int64))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: '{label_key}' must be a list of integer labels ({exc})") from exc
    _check_labels(f"{path}: '{label_key}'", y, data.shape[0], num_classes)
    # Each 3072 row is R (1024), G (1024), B (1024), each 32x32 row-major: channels-first.
    x = torch.from_numpy(np.ascontiguousarray(data).reshape(-1, 3, 32, 32))
    return x, y


def load_cifar(info: DatasetInfo, root: pathlib.Path) -> Raw:
    _require_files(info, root)
    label_key = "labels" if info.name == "cifar10" else "fine_labels"
    train_files, test_files = info.files[:-1], info.files[-1:]
    parts = []
    for files in (train_files, test_files):
        xs, ys = zip(*(_read_cifar_pickle(root / f, label_key, info.num_classes) for f in files))
        parts += [torch.cat(xs), torch.cat(ys)]
    return Raw(*parts, scale=255)


_TIMIT_FEATURES = 360


def load_timit(info: DatasetInfo, root: pathlib.Path) -> Raw:
    _require_files(info, root)
    path = root / info.files[0]
    expected = (
        f"Expected an .npz with x_train (N, {_TIMIT_FEATURES}) float, y_train (N,) int in "
        f"[0, {info.num_classes - 1}], x_test (M, {_TIMIT_FEATURES}), y_test (M,)."
    )
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise DataError(f"timit: {path} lacks {', '.join(missing)}. {expected}")
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except DataError:
        raise
    except Exception as exc:  # not a zip, object arrays, truncated member...
        raise DataError(f"timit: cannot read {path} ({type(exc).__name__}: {exc}). {expected}") from exc
    out = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 2 or x.shape[1] != _TIMIT_FEATURES or x.dtype.kind not in "fiu":
            raise DataError(f"timit: {path}: x_{split} is {x.dtype} {x.shape}. {expected}")
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise DataError(f"timit: {path}: y_{split} is {y.dtype} {y.shape}. {expected}")
        if not np.isfinite(x).all():
            raise DataError(f"timit: {path}: x_{split} has NaN or infinite values. {expected}")
        y_t = torch.from_numpy(y.astype(np.int64))
        _check_labels(f"timit: {path}: y_{split}", y_t, x.shape[0], info.num_classes, expected)
        out += [torch.from_numpy(x.astype(np.float32)), y_t]
    return Raw(*out, scale=1)


def count_train(info: DatasetInfo, root: pathlib.Path) -> int:
    """How many training samples the dataset's files hold, read without building the dataset:
    the idx header for MNIST, the label lists for CIFAR, y_train for TIMIT."""
    _require_files(info, root)
    first = root / info.files[0]
    try:
        if info.name == "mnist":
            with open(first, "rb") as f:
                magic, count = struct.unpack(">II", f.read(8))
            if magic != 2051:
                raise ValueError(f"magic number {magic}, expected 2051")
            return count
        if info.name in ("cifar10", "cifar100"):
            label_key = "labels" if info.name == "cifar10" else "fine_labels"
            total = 0
            for name in info.files[:-1]:
                with open(root / name, "rb") as f:
                    entry = _RestrictedUnpickler(f, encoding="latin1").load()
                entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
                total += len(entry[label_key])
            return total
        with np.load(first, allow_pickle=False) as f:
            return int(f["y_train"].shape[0])
    except Exception as exc:
        raise DataError(f"{info.name}: cannot count the training samples in {root} ({type(exc).__name__}: {exc}); "
                        "replace the files with the original ones") from exc
