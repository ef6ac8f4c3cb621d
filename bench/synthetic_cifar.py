"""A synthetic CIFAR-10 in torchvision's on-disk layout, for timing where the real one cannot be fetched.

    .venv/bin/python bench/synthetic_cifar.py DATA_DIR [--train 50000] [--test 10000]

Writes DATA_DIR/cifar-10-batches-py/: data_batch_1..5 and test_batch (pickled dicts with
b"data", uint8 (N, 3072) rows of R, G and B planes, and b"labels"), and batches.meta, as the
python version of the archive holds them. Pixels and labels are uniform random (seeded):
the sizes, formats and batch sizes are the real ones, the accuracies are chance.
"""
from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar10(root: str | Path, n_train: int = 50000, n_test: int = 10000, seed: int = 0) -> Path:
    """The folder written; the training samples are split over the five batches as evenly as they go."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = [n_train // 5 + (1 if i < n_train % 5 else 0) for i in range(5)]
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, n in zip(names, sizes + [n_test]):
        batch = {b"batch_label": name.encode(), b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, n).tolist(),
                 b"filenames": [f"synthetic_{name}_{i}.png".encode() for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [s.encode() for s in LABEL_NAMES], b"num_cases_per_batch": sizes[0], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir")
    parser.add_argument("--train", type=int, default=50000, help="training samples (default: CIFAR-10's 50000)")
    parser.add_argument("--test", type=int, default=10000, help="test samples (default: 10000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    folder = write_cifar10(args.data_dir, args.train, args.test, args.seed)
    print(f"wrote {args.train} training and {args.test} test images to {folder}")


if __name__ == "__main__":
    main()
