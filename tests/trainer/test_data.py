"""trainer.data: datasets as device tensors, checked against independent readings of the files."""
from __future__ import annotations

import collections
import json
import random

import numpy as np
import pytest
import torch

from tests.datafiles import timit_arrays, write_mnist
from trainer import data
from trainer.data import DataError, describe, is_present, load_dataset

torch.set_num_threads(1)


# ---------------------------------------------------------------- mnist1d


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory):
    """One data dir for tests that do not look at caching: mnist1d is generated once for them."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def mnist1d_reference():
    from mnist1d.data import get_dataset_args, make_dataset

    return make_dataset(get_dataset_args())


def test_it_loads_mnist1d_as_generated(shared_dir, mnist1d_reference):
    ds = load_dataset("mnist1d", data_dir=shared_dir)
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.x_train.is_contiguous() and ds.n_train == 4000 and ds.n_test == 1000
    assert ds.info.input_shape == (40,) and ds.info.num_classes == 10
    assert torch.equal(ds.x_train, torch.tensor(mnist1d_reference["x"], dtype=torch.float32))
    assert torch.equal(ds.y_test, torch.tensor(mnist1d_reference["y_test"]))
    assert set(ds.y_train.tolist()) == set(range(10))
    # The generator standardises the whole set (train + test): no /255 on top of that.
    allx = torch.cat([ds.x_train, ds.x_test]).double()
    assert abs(allx.mean().item()) < 1e-4 and allx.std(correction=0).item() == pytest.approx(1.0, abs=1e-4)


def test_it_leaves_the_callers_global_random_state_alone(tmp_path):
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    load_dataset("mnist1d", data_dir=tmp_path / "not-there")  # a new cache key: generates afresh
    assert (random.random(), np.random.rand()) == expected


def test_it_caches_mnist1d_in_the_data_dir_and_reads_it_back(tmp_path):
    first = load_dataset("mnist1d", data_dir=tmp_path)
    cache_files = list(tmp_path.glob("mnist1d-*.npz"))
    assert len(cache_files) == 1
    data._mnist1d_arrays.cache_clear()
    again = load_dataset("mnist1d", data_dir=tmp_path)
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_test, again.y_test)


def test_it_regenerates_mnist1d_over_a_corrupt_cache(tmp_path, mnist1d_reference):
    version = data.importlib.metadata.version("mnist1d")
    (tmp_path / f"mnist1d-{version}.npz").write_bytes(b"not a zip file")
    ds = load_dataset("mnist1d", data_dir=tmp_path)
    assert torch.equal(ds.x_test, torch.tensor(mnist1d_reference["x_test"], dtype=torch.float32))


def test_it_does_not_create_a_missing_data_dir_for_the_cache(tmp_path):
    load_dataset("mnist1d", data_dir=tmp_path / "absent")
    assert not (tmp_path / "absent").exists()


def test_it_hands_out_copies_so_the_cache_cannot_be_modified(shared_dir):
    ds = load_dataset("mnist1d", data_dir=shared_dir)
    before = ds.x_train[0].clone()
    ds.x_train.zero_()
    ds.y_train.fill_(3)
    again = load_dataset("mnist1d", data_dir=shared_dir)
    assert torch.equal(again.x_train[0], before) and len(set(again.y_train.tolist())) == 10


# ---------------------------------------------------------------- digits


def test_it_loads_digits_scaled_by_16_with_a_stratified_80_20_split(tmp_path):
    from sklearn.datasets import load_digits

    ds = load_dataset("digits", data_dir=tmp_path)
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert ds.x_train.dtype == torch.float32 and ds.y_test.dtype == torch.int64
    assert (ds.info.n_train, ds.info.n_test) == (1437, 360)
    both = torch.cat([ds.x_train, ds.x_test])
    assert both.min().item() == 0.0 and both.max().item() == 1.0
    assert torch.equal(both * 16, (both * 16).round())  # 4-bit counts / 16, exactly
    # Train + test is the bundled set, row for row (as multisets of (pixels, label)).
    x, y = load_digits(return_X_y=True)
    ours = sorted(map(tuple, torch.cat([both * 16, torch.cat([ds.y_train, ds.y_test])[:, None]], 1).tolist()))
    theirs = sorted(map(tuple, np.concatenate([x, y[:, None]], 1).tolist()))
    assert ours == theirs
    # Stratified: each class's test share is 20% of it, to within one sample.
    for k in range(10):
        total = int((y == k).sum())
        assert abs(int((ds.y_test == k).sum()) - 0.2 * total) <= 1


def test_it_keeps_the_digits_split_fixed_whatever_the_run_seed(tmp_path):
    a = load_dataset("digits", data_dir=tmp_path, seed=0)
    b = load_dataset("digits", data_dir=tmp_path, seed=123)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test, b.y_test)
    assert torch.equal(a.x_train, b.x_train)


# ---------------------------------------------------------------- subset


def test_it_draws_a_seeded_subset_of_the_training_set_only(tmp_path):
    full = load_dataset("digits", data_dir=tmp_path)
    a = load_dataset("digits", data_dir=tmp_path, subset=100, seed=1)
    a_again = load_dataset("digits", data_dir=tmp_path, subset=100, seed=1)
    b = load_dataset("digits", data_dir=tmp_path, subset=100, seed=2)
    assert a.n_train == 100 and a.y_train.shape == (100,)
    assert torch.equal(a.x_train, a_again.x_train) and torch.equal(a.y_train, a_again.y_train)
    assert not torch.equal(a.x_train, b.x_train)
    assert torch.equal(a.x_test, full.x_test) and a.n_test == full.n_test
    # As a multiset of (pixels, label), the subset lies inside the training set:
    # every row is a training row with its label, and no row is drawn twice.
    def counts(ds):
        rows = torch.cat([ds.x_train, ds.y_train[:, None].float()], 1).tolist()
        return collections.Counter(map(tuple, rows))

    assert not counts(a) - counts(full)
    assert counts(full) - counts(a)  # ...and it is a proper subset


def test_it_returns_the_whole_training_set_for_a_full_size_subset(tmp_path):
    full = load_dataset("digits", data_dir=tmp_path)
    same = load_dataset("digits", data_dir=tmp_path, subset=full.n_train, seed=9)
    assert torch.equal(same.x_train, full.x_train) and torch.equal(same.y_train, full.y_train)


@pytest.mark.parametrize("bad", [0, -5, 1438, 2.5, True, "10"])
def test_it_rejects_a_bad_subset_naming_the_argument_and_range(tmp_path, bad):
    with pytest.raises(DataError, match=r"subset.*\[1, 1437\]"):
        load_dataset("digits", data_dir=tmp_path, subset=bad)


def test_it_reads_the_data_dir_from_the_environment(tmp_path, monkeypatch):
    np.savez(tmp_path / "timit.npz", **timit_arrays())
    monkeypatch.setenv("LBLAB_DATA_DIR", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    assert load_dataset("timit").n_train == 7
    monkeypatch.delenv("LBLAB_DATA_DIR")
    assert data.default_data_dir() == data.pathlib.Path(data.__file__).resolve().parent.parent / "data"


# ---------------------------------------------------------------- names, describe, devices


def test_it_lists_the_choices_for_an_unknown_name(tmp_path):
    with pytest.raises(DataError, match="mnist1d, digits, mnist, cifar10, cifar100, timit"):
        load_dataset("imagenet", data_dir=tmp_path)
    with pytest.raises(DataError, match="choose one of"):
        is_present("imagenet", tmp_path)


def test_it_describes_every_dataset_as_json(tmp_path):
    rows = describe(tmp_path)
    json.dumps(rows)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == set(data.DATASETS)
    assert by_name["mnist1d"]["present"] and by_name["digits"]["present"]
    assert not by_name["cifar10"]["present"] and not by_name["timit"]["present"]
    assert by_name["cifar10"]["path"] == str(tmp_path / "cifar-10-batches-py")
    assert by_name["mnist"]["input_shape"] == [1, 28, 28]
    assert "cifar-10-batches-py/test_batch" in by_name["cifar10"]["files"]
    write_mnist(tmp_path)
    assert {r["name"]: r["present"] for r in describe(tmp_path)}["mnist"]


def test_it_moves_a_dataset_without_changing_the_original(tmp_path):
    ds = load_dataset("digits", data_dir=tmp_path, device=torch.device("cpu"))
    moved = ds.to("meta")
    assert moved.x_train.device.type == "meta" and moved.y_test.device.type == "meta"
    assert ds.x_train.device.type == "cpu" and moved.info is ds.info
