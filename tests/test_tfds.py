"""load_mnist(source="tfds"): fails fast offline pointing at the IDX route; converts tfds' arrays; real tfds where installed.

tensorflow-datasets' ``tfds.load`` needs TensorFlow (hundreds of MB), which neither CI nor the development machine
installs, so the real test below is skipped there (with that reason); the others replace the ``tensorflow_datasets``
module by a stub that behaves as tfds does (``download=False`` on an unprepared data dir raises), and run everywhere.
"""
from __future__ import annotations

import sys
import time
import types

import numpy as np
import pytest

from nne_jax.data import DataNotFoundError, load_mnist, mnist


def _stub_tfds(prepared: bool, calls: list) -> types.ModuleType:
    tfds = types.ModuleType("tensorflow_datasets")

    def load(name, *, download, split, batch_size, as_supervised, data_dir):
        calls.append({"name": name, "download": download, "split": split, "data_dir": data_dir})
        if not prepared and not download:
            raise AssertionError(f"Dataset {name}: could not find data in {data_dir}.")  # what tfds raises
        return "dataset"

    tfds.load = load
    rng = np.random.default_rng(0)
    tfds.as_numpy = lambda ds: (rng.integers(0, 256, (7, 28, 28, 1)).astype(np.uint8), np.arange(7, dtype=np.int64) % 10)
    return tfds


def test_tfds_offline_without_a_prepared_copy_fails_fast_and_points_at_idx(monkeypatch, tmp_path):
    calls: list = []
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _stub_tfds(prepared=False, calls=calls))
    monkeypatch.setattr(mnist, "TFDS_HOST", ("127.0.0.1", 9))  # the discard port: nothing listens, so "offline"
    start = time.monotonic()
    with pytest.raises(DataNotFoundError, match=r"unreachable\. Use the IDX route.*NNE_DATA_DIR.*--data-dir"):
        load_mnist("test", tmp_path, source="tfds")
    assert time.monotonic() - start < 10  # no minutes of retries
    assert [c["download"] for c in calls] == [False]  # never asked tfds to download


def test_tfds_prepared_copy_loads_with_mnist_shapes(monkeypatch, tmp_path):
    calls: list = []
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _stub_tfds(prepared=True, calls=calls))
    x, y = load_mnist("train", tmp_path, source="tfds")
    assert x.shape == (7, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == np.int32 and y.tolist() == list(range(7))
    assert calls == [{"name": "mnist", "download": False, "split": "train", "data_dir": str(tmp_path)}]
    raw, _ = load_mnist("train", tmp_path, source="tfds", normalize=False)
    assert raw.dtype == np.uint8


def test_tfds_online_downloads(monkeypatch, tmp_path):
    calls: list = []
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _stub_tfds(prepared=False, calls=calls))
    monkeypatch.setattr(mnist, "_online", lambda *a, **k: True)
    load_mnist("test", tmp_path, source="tfds")
    assert [c["download"] for c in calls] == [False, True]


def test_real_tfds_with_its_mock_data():
    """Runs where tensorflow-datasets and TensorFlow are installed (pip install nne_jax[tfds])."""
    tfds = pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets not installed (the tfds extra)")
    pytest.importorskip("tensorflow", reason="TensorFlow not installed: tfds.load needs it (the tfds extra)")
    with tfds.testing.mock_data(num_examples=12):
        x, y = load_mnist("test", source="tfds")
    assert x.shape == (12, 28, 28) and x.dtype == np.float32 and y.shape == (12,) and y.dtype == np.int32
