"""Small files in the real formats of the datasets the trainer reads (MNIST idx, CIFAR-10/100
pickles, a TIMIT .npz), with position-coded contents the tests can check independently."""
from __future__ import annotations

import pickle
import struct

import numpy as np
import torch


def mnist_pixels(n: int, offset: int) -> np.ndarray:
    """(n, 28, 28) uint8, pixel [i, r, c] = (r * 28 + c + i + offset) % 256: position-coded."""
    i, r, c = np.meshgrid(np.arange(n), np.arange(28), np.arange(28), indexing="ij")
    return ((r * 28 + c + i + offset) % 256).astype(np.uint8)


def write_idx_images(path, images: np.ndarray, magic: int = 2051) -> None:
    n, rows, cols = images.shape
    path.write_bytes(struct.pack(">IIII", magic, n, rows, cols) + images.tobytes())


def write_idx_labels(path, labels: np.ndarray) -> None:
    path.write_bytes(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def write_mnist(root, n_train=12, n_test=5):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, n, offset in (("train", n_train, 0), ("t10k", n_test, 100)):
        write_idx_images(raw / f"{split}-images-idx3-ubyte", mnist_pixels(n, offset))
        write_idx_labels(raw / f"{split}-labels-idx1-ubyte", (np.arange(n) * 3 + offset) % 10)
    return raw


def cifar_rows(n: int, offset: int) -> np.ndarray:
    """(n, 3072) uint8 laid out as CIFAR stores it: R plane, G plane, B plane, each 32x32
    row-major; value at (i, channel, r, c) = (i + 7 * channel + 3 * r + c + offset) % 256."""
    i, ch, r, c = np.meshgrid(np.arange(n), np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    return ((i + 7 * ch + 3 * r + c + offset) % 256).astype(np.uint8).reshape(n, 3072)


def expected_cifar_images(n: int, offset: int) -> torch.Tensor:
    """(n, 3, 32, 32) float32: the same formula, computed directly in channel-first layout."""
    i, ch, r, c = torch.meshgrid(
        torch.arange(n), torch.arange(3), torch.arange(32), torch.arange(32), indexing="ij"
    )
    return ((i + 7 * ch + 3 * r + c + offset) % 256).to(torch.float32) / 255


def write_pickle(path, obj, protocol=pickle.DEFAULT_PROTOCOL) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


CIFAR10_TRAIN_SIZES = (2, 3, 1, 2, 2)  # data_batch_1..5


def write_cifar10(root, protocol=pickle.DEFAULT_PROTOCOL):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for k, n in enumerate(CIFAR10_TRAIN_SIZES, start=1):
        batch = {b"batch_label": b"x", b"data": cifar_rows(n, 10 * k), b"labels": [(k + j) % 10 for j in range(n)]}
        write_pickle(folder / f"data_batch_{k}", batch, protocol)
    write_pickle(folder / "test_batch", {b"data": cifar_rows(3, 200), b"labels": [9, 0, 4]}, protocol)
    return folder


def write_cifar100(root):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    train = {b"data": cifar_rows(4, 0), b"fine_labels": [0, 99, 42, 7], b"coarse_labels": [0, 19, 3, 1]}
    write_pickle(folder / "train", train)
    write_pickle(folder / "test", {b"data": cifar_rows(2, 50), b"fine_labels": [98, 1], b"coarse_labels": [1, 2]})
    return folder


def timit_arrays(n_train=7, n_test=4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.standard_normal((n_train, 360)).astype(np.float64),
        "y_train": np.array([0, 1972, 5, 5, 100, 1, 2][:n_train], dtype=np.int32),
        "x_test": rng.standard_normal((n_test, 360)).astype(np.float32),
        "y_test": np.arange(n_test, dtype=np.int64) * 500,
    }
