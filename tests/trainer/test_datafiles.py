"""trainer.datafiles through trainer.data: the user-file readers (MNIST idx, CIFAR pickles, a TIMIT
.npz), checked against what small files written in those formats hold."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from tests.datafiles import (
    CIFAR10_TRAIN_SIZES, cifar_rows, expected_cifar_images, mnist_pixels, timit_arrays, write_cifar10,
    write_cifar100, write_idx_images, write_idx_labels, write_mnist, write_pickle,
)
from trainer import data
from trainer.data import DataError, load_dataset

torch.set_num_threads(1)


# ---------------------------------------------------------------- mnist


def test_it_reads_mnist_idx_files_divided_by_255(tmp_path):
    write_mnist(tmp_path)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    expected = torch.from_numpy(mnist_pixels(12, 0).astype(np.float32) / np.float32(255))
    assert torch.equal(ds.x_train[:, 0], expected)
    assert ds.x_test[0, 0, 0, 0].item() == pytest.approx(100 / 255)
    assert ds.x_train[0, 0, 1, 2].item() == pytest.approx(30 / 255)  # row 1, col 2 -> 28 + 2
    assert ds.y_train.tolist() == [(3 * i) % 10 for i in range(12)]
    assert ds.y_test.tolist() == [(3 * i + 100) % 10 for i in range(5)]
    assert ds.x_train.max().item() == 1.0  # pixel 255 -> exactly 1


def test_it_reports_a_corrupt_idx_file_by_name(tmp_path):
    raw = write_mnist(tmp_path)
    write_idx_images(raw / "t10k-images-idx3-ubyte", mnist_pixels(5, 0)[:, :27, :])  # 27 rows
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*28x28"):
        load_dataset("mnist", data_dir=tmp_path)
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        load_dataset("mnist", data_dir=tmp_path)


def test_it_rejects_mnist_labels_that_do_not_match_the_images(tmp_path):
    raw = write_mnist(tmp_path)
    write_idx_labels(raw / "train-labels-idx1-ubyte", np.zeros(11))
    with pytest.raises(DataError, match="12 labels"):
        load_dataset("mnist", data_dir=tmp_path)


def test_it_names_the_directory_and_files_when_mnist_is_missing(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in message
    assert "LBLAB_DATA_DIR" in message and "download=True" in message


def test_it_turns_a_failed_download_into_a_data_error(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")  # the download cannot create MNIST/raw under a file
    with pytest.raises(DataError, match="download.*failed.*train-images-idx3-ubyte"):
        load_dataset("mnist", data_dir=not_a_dir, download=True)


# ---------------------------------------------------------------- cifar


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_it_reads_cifar10_batches_channels_first(tmp_path, protocol):
    write_cifar10(tmp_path, protocol)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.x_train.shape == (10, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    expected_train = torch.cat([expected_cifar_images(n, 10 * k) for k, n in enumerate(CIFAR10_TRAIN_SIZES, 1)])
    assert torch.equal(ds.x_train, expected_train)  # batches 1..5 in order
    assert torch.equal(ds.x_test, expected_cifar_images(3, 200))
    assert ds.y_train.tolist() == [(k + j) % 10 for k, n in enumerate(CIFAR10_TRAIN_SIZES, 1) for j in range(n)]
    assert ds.y_test.tolist() == [9, 0, 4]
    # Spot check of the layout: image 0, green plane (+7), row 2 (+6), col 5 (+5), offset 10.
    assert ds.x_train[0, 1, 2, 5].item() == pytest.approx(28 / 255)


def test_it_reads_cifar100_fine_labels(tmp_path):
    write_cifar100(tmp_path)
    ds = load_dataset("cifar100", data_dir=tmp_path)
    assert ds.info.num_classes == 100
    assert torch.equal(ds.x_train, expected_cifar_images(4, 0))
    assert ds.y_train.tolist() == [0, 99, 42, 7] and ds.y_test.tolist() == [98, 1]


def test_it_reads_python2_style_pickles_with_str_keys_and_the_old_numpy_path(tmp_path):
    folder = write_cifar100(tmp_path)
    body = pickle.dumps({"data": cifar_rows(4, 0), "fine_labels": [0, 99, 42, 7]}, protocol=2)
    assert b"cnumpy._core.multiarray\n_reconstruct" in body
    (folder / "train").write_bytes(body.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    ds = load_dataset("cifar100", data_dir=tmp_path)
    assert torch.equal(ds.x_train, expected_cifar_images(4, 0))


class _RunsShell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _LoadsWithNumpy:
    def __reduce__(self):
        return (np.load, ("/nonexistent",))


def test_it_refuses_a_pickle_that_calls_os_system(tmp_path):
    folder = write_cifar10(tmp_path)
    marker = tmp_path / "ran"
    write_pickle(folder / "test_batch", {b"data": _RunsShell(f"touch {marker}"), b"labels": []})
    with pytest.raises(DataError, match=r"test_batch.*(posix|os|nt)\.system is not allowed"):
        load_dataset("cifar10", data_dir=tmp_path)
    assert not marker.exists()


def test_it_refuses_numpy_globals_outside_the_array_rebuilders(tmp_path):
    folder = write_cifar10(tmp_path)
    write_pickle(folder / "data_batch_3", {b"data": _LoadsWithNumpy(), b"labels": []})
    with pytest.raises(DataError, match=r"numpy.*load is not allowed"):
        load_dataset("cifar10", data_dir=tmp_path)


@pytest.mark.parametrize(
    "batch, message",
    [
        ({b"data": cifar_rows(3, 0)}, "'labels'"),
        ({b"data": cifar_rows(3, 0)[:, :3000], b"labels": [1, 2, 3]}, r"\(N, 3072\)"),
        ({b"data": cifar_rows(3, 0), b"labels": [1, 2]}, "3 labels"),
        ({b"data": cifar_rows(3, 0), b"labels": [1, 2, 10]}, r"\[0, 9\]"),
        ([1, 2, 3], "dict"),
    ],
)
def test_it_rejects_malformed_cifar_batches(tmp_path, batch, message):
    folder = write_cifar10(tmp_path)
    write_pickle(folder / "test_batch", batch)
    with pytest.raises(DataError, match=message):
        load_dataset("cifar10", data_dir=tmp_path)


def test_it_names_the_directory_and_files_when_cifar_is_missing(tmp_path):
    (tmp_path / "cifar-100-python").mkdir()
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"")
    with pytest.raises(DataError) as err:
        load_dataset("cifar100", data_dir=tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and "cifar-100-python/test" in message


# ---------------------------------------------------------------- timit


def test_it_loads_a_user_supplied_timit_file(tmp_path):
    arrays = timit_arrays()
    np.savez(tmp_path / "timit.npz", **arrays)
    ds = load_dataset("timit", data_dir=tmp_path)
    assert ds.x_train.shape == (7, 360) and ds.x_test.shape == (4, 360)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert torch.equal(ds.x_train, torch.from_numpy(arrays["x_train"].astype(np.float32)))  # no scaling
    assert ds.y_train.tolist() == [0, 1972, 5, 5, 100, 1, 2]
    assert ds.info.num_classes == 1973 and ds.info.n_train == 721329  # the paper's size


def test_it_counts_the_training_samples_the_files_hold_as_loading_them_gives(tmp_path):
    write_mnist(tmp_path, n_train=12)
    write_cifar10(tmp_path)
    write_cifar100(tmp_path)
    np.savez(tmp_path / "timit.npz", **timit_arrays())
    for name in ("mnist", "cifar10", "cifar100", "timit"):
        assert data.train_size(name, tmp_path) == load_dataset(name, data_dir=tmp_path).n_train, name
    assert data.train_size("mnist", tmp_path) == 12 and data.train_size("cifar10", tmp_path) == sum(CIFAR10_TRAIN_SIZES)
    # generated data, and files not there: the nominal size
    assert data.train_size("mnist1d", tmp_path) == 4000 and data.train_size("mnist", tmp_path / "none") == 60000
    np.savez(tmp_path / "timit.npz", **timit_arrays(n_train=5))  # a replaced file is counted again
    assert data.train_size("timit", tmp_path) == 5


def test_a_runs_batch_and_subset_are_checked_against_the_files_not_the_full_dataset(tmp_path):
    from trainer.config import ConfigError, TrainConfig

    write_mnist(tmp_path, n_train=12)
    TrainConfig(dataset="mnist", net="F1", data_dir=str(tmp_path), batch_size=12).validate()
    for changes, field, message in (({"batch_size": 16}, "batch_size", r"16 is larger than the training set \(12 "),
                                    ({"subset": 20}, "subset", "at most the training set size 12")):
        with pytest.raises(ConfigError, match=message) as e:
            TrainConfig(dataset="mnist", net="F1", data_dir=str(tmp_path), **changes).validate()
        assert e.value.field == field
    (tmp_path / "MNIST/raw/train-images-idx3-ubyte").write_bytes(b"garbage!")
    with pytest.raises(ConfigError, match="cannot count the training samples") as e:
        TrainConfig(dataset="mnist", net="F1", data_dir=str(tmp_path), batch_size=4).validate()
    assert e.value.field == "dataset"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("y_test"), "lacks y_test"),
        (lambda a: a.update(x_train=a["x_train"][:, :359]), r"x_train.*\(7, 359\)"),
        (lambda a: a.update(y_train=a["y_train"] + 1), r"y_train.*\[0, 1972\].*1973"),
        (lambda a: a.update(y_test=-a["y_test"]), r"y_test.*\[0, 1972\]"),
        (lambda a: a.update(y_train=a["y_train"][:6]), "7 labels"),
        (lambda a: a.update(y_train=a["y_train"].astype(np.float32)), "y_train is float32"),
        (lambda a: a["x_test"].__setitem__((0, 0), np.nan), "x_test has NaN"),
        (lambda a: a.update(x_test=np.array([[object()]] * 4, dtype=object)), "cannot read"),
    ],
)
def test_it_explains_what_is_wrong_with_a_malformed_timit_file(tmp_path, change, message):
    arrays = timit_arrays()
    change(arrays)
    np.savez(tmp_path / "timit.npz", **arrays)
    with pytest.raises(DataError, match=message) as err:
        load_dataset("timit", data_dir=tmp_path)
    assert "360" in str(err.value)  # and what was expected


def test_it_reports_a_timit_file_that_is_not_an_npz(tmp_path):
    (tmp_path / "timit.npz").write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match="cannot read"):
        load_dataset("timit", data_dir=tmp_path)
