"""Tests for nne_jax.data: IDX reader, MNIST location/download/cache, subsets."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import socket
import struct
import sys
import threading
from pathlib import Path

import jax
import numpy as np
import pytest

from nne_jax.data import (
    DEFAULT_MIRRORS,
    MNIST_SHA256,
    DataError,
    DataNotFoundError,
    balanced_subset,
    balanced_subset_indices,
    default_cache_dir,
    filter_classes,
    flatten,
    load_mnist,
    read_idx,
    read_idx_pair,
)
from nne_jax.data.checksums import _sha256_of
from nne_jax.data.download import download_file

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


# ---------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as IDX (magic 0x0800 + ndim unless given)."""
    array = np.asarray(array, np.uint8)
    magic = 0x0800 + array.ndim if magic is None else magic
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + array.tobytes()


def synthetic_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def write_synthetic(directory: Path, seed: int = 0, gz: bool = True) -> dict[str, str]:
    """Write a small MNIST-format set (30 train, 20 test) into ``directory``; return its sha256 table."""
    directory.mkdir(parents=True, exist_ok=True)
    table = {}
    for i, (split, n) in enumerate((("train", 30), ("test", 20))):
        images, labels = synthetic_split(n, seed + i)
        for stem, array in zip(NAMES[split], (images, labels)):
            data = idx_bytes(array)
            name = stem
            if gz:
                data, name = gzip.compress(data, mtime=0), stem + ".gz"
            (directory / name).write_bytes(data)
            table[name] = hashlib.sha256(data).hexdigest()
    return table


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory)) if directory.exists() else []


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve():
    """``serve(directory) -> base URL`` of an HTTP server on 127.0.0.1 for that directory."""
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dead_mirror() -> str:
    """A URL on a local port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """Never touch the real ~/.cache: HOME, XDG_CACHE_HOME and NNE_CACHE_DIR point into tmp_path.

    NNE_DATA_DIR is saved for the real-data tests (``real_dir``) and removed.
    """
    real = os.environ.get("NNE_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("NNE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NNE_DATA_DIR", raising=False)
    return real


@pytest.fixture
def real_dir(isolated_env) -> Path:
    if not isolated_env:
        pytest.skip("NNE_DATA_DIR is not set: it must point at the four real MNIST .gz files")
    return Path(isolated_env)


# ---------------------------------------------------------------- IDX reader


def test_read_idx_gzip_and_raw_agree_and_shape_comes_from_header(tmp_path):
    images = np.arange(4 * 5 * 7, dtype=np.uint8).reshape(4, 5, 7)
    raw = tmp_path / "x-idx3-ubyte"
    raw.write_bytes(idx_bytes(images))
    gz = tmp_path / "x-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(idx_bytes(images)))
    sneaky = tmp_path / "gz-without-suffix"  # detected by the gzip magic bytes
    sneaky.write_bytes(gz.read_bytes())
    for path in (raw, gz, sneaky):
        out = read_idx(path, magic=2051)
        assert out.dtype == np.uint8 and out.shape == (4, 5, 7)
        np.testing.assert_array_equal(out, images)
    labels = read_idx_pair(gz, _write(tmp_path / "l", idx_bytes(np.arange(4))))[1]
    assert labels.shape == (4,) and labels.dtype == np.uint8


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "data, match",
    [
        (idx_bytes(np.zeros((3, 28, 28)))[:-5], "truncated IDX file"),
        (idx_bytes(np.zeros((3, 28, 28)))[:10], "truncated IDX header"),
        (b"\x00\x00", "truncated IDX file"),
        (idx_bytes(np.zeros((3, 28, 28))) + b"\x00", "length mismatch"),
        (idx_bytes(np.zeros(3)), "wrong magic number 2049"),
        (idx_bytes(np.zeros((3, 28, 28)), magic=0x12345678), "wrong magic"),
    ],
)
def test_read_idx_errors_name_the_file(tmp_path, data, match):
    path = _write(tmp_path / "bad-images-idx3-ubyte", data)
    with pytest.raises(DataError, match=match) as info:
        read_idx(path, magic=2051)
    assert str(path) in str(info.value)


def test_truncated_gzip_and_count_mismatch(tmp_path):
    data = gzip.compress(idx_bytes(np.zeros((3, 28, 28))))
    path = _write(tmp_path / "t.gz", data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    images = _write(tmp_path / "i", idx_bytes(np.zeros((3, 28, 28))))
    labels = _write(tmp_path / "l", idx_bytes(np.zeros(4)))
    with pytest.raises(DataError, match="count mismatch") as info:
        read_idx_pair(images, labels)
    assert str(images) in str(info.value) and str(labels) in str(info.value)


# ---------------------------------------------------------------- locating files


def test_load_from_data_dir_gzip_or_raw(tmp_path):
    table = write_synthetic(tmp_path / "gz")
    raw_table = write_synthetic(tmp_path / "raw", gz=False)
    for directory, tab in ((tmp_path / "gz", table), (tmp_path / "raw", raw_table)):
        x, y = load_mnist("train", directory, sha256=tab, mirrors=())
        assert x.shape == (30, 28, 28) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert y.shape == (30,) and y.dtype == np.int32
        xr, yr = load_mnist("train", directory, sha256=tab, mirrors=(), normalize=False)
        assert xr.dtype == np.uint8
        np.testing.assert_array_equal(xr, synthetic_split(30, 0)[0])
        np.testing.assert_allclose(x, xr / 255.0, rtol=1e-6)
        assert load_mnist("test", directory, sha256=tab, mirrors=())[0].shape == (20, 28, 28)
    assert listing(tmp_path / "cache") == []


def test_search_order_data_dir_then_env_then_cache(tmp_path, monkeypatch):
    table = {}
    for i, name in enumerate(("arg", "env", "cache")):
        table.update(write_synthetic(tmp_path / name, seed=10 * i))
    load = functools.partial(load_mnist, "test", normalize=False, sha256=None, mirrors=())
    expected = {name: synthetic_split(20, 10 * i + 1)[0] for i, name in enumerate(("arg", "env", "cache"))}
    monkeypatch.setenv("NNE_DATA_DIR", str(tmp_path / "env"))
    np.testing.assert_array_equal(load(tmp_path / "arg")[0], expected["arg"])
    np.testing.assert_array_equal(load()[0], expected["env"])
    monkeypatch.setenv("NNE_DATA_DIR", str(tmp_path / "nowhere"))
    np.testing.assert_array_equal(load()[0], expected["cache"])


def test_wrong_checksum_in_data_dir_is_an_error(tmp_path):
    table = write_synthetic(tmp_path / "d")
    bad = dict(table, **{"t10k-images-idx3-ubyte.gz": "0" * 64})
    with pytest.raises(DataError, match="sha256 mismatch") as info:
        load_mnist("test", tmp_path / "d", sha256=bad, mirrors=())
    msg = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "0" * 64 in msg
    assert table["t10k-images-idx3-ubyte.gz"] in msg


def test_default_cache_dir(monkeypatch, tmp_path):
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("NNE_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "nne_jax" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "nne_jax" / "mnist"


def test_loads_are_cached_in_process(tmp_path):
    table = write_synthetic(tmp_path / "d")
    a = load_mnist("train", tmp_path / "d", sha256=table, mirrors=())
    hits = _sha256_of.cache_info().hits
    b = load_mnist("train", tmp_path / "d", sha256=table, mirrors=())
    assert a[0] is b[0] and a[1] is b[1]
    assert _sha256_of.cache_info().hits == hits + 2  # verified once, then memoised
    assert not a[0].flags.writeable


def test_tfds_source_without_tfds_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails, installed or not
    with pytest.raises(ImportError, match=r"pip install nne_jax\[tfds\]"):
        load_mnist("test", source="tfds")


# ---------------------------------------------------------------- downloading


def test_download_fills_cache_with_verified_files(tmp_path, serve):
    table = write_synthetic(tmp_path / "mirror")
    url = serve(tmp_path / "mirror")
    x, y = load_mnist("train", sha256=table, mirrors=[url])
    assert x.shape == (30, 28, 28) and y.shape == (30,)
    cache = tmp_path / "cache"
    assert listing(cache) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    for name in listing(cache):
        assert hashlib.sha256((cache / name).read_bytes()).hexdigest() == table[name]
    # Later loads use the cache: no mirrors needed.
    x2, _ = load_mnist("train", sha256=table, mirrors=(), normalize=False)
    np.testing.assert_array_equal(x2, synthetic_split(30, 0)[0])


def test_bad_mirrors_are_skipped_and_nothing_bad_is_cached(tmp_path, serve, dead_mirror):
    table = write_synthetic(tmp_path / "good")
    write_synthetic(tmp_path / "corrupt", seed=99)  # right names and sizes, wrong content
    (tmp_path / "empty").mkdir()  # 404 for every file
    mirrors = [dead_mirror, serve(tmp_path / "empty"), serve(tmp_path / "corrupt"), serve(tmp_path / "good")]
    x, _ = load_mnist("test", sha256=table, mirrors=mirrors, normalize=False)
    np.testing.assert_array_equal(x, synthetic_split(20, 1)[0])
    cache = tmp_path / "cache"
    assert listing(cache) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for name in listing(cache):
        assert hashlib.sha256((cache / name).read_bytes()).hexdigest() == table[name]


def test_truncated_mirror_only_gives_clear_error_and_caches_nothing(tmp_path, serve):
    table = write_synthetic(tmp_path / "good")
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    for name in table:
        data = (tmp_path / "good" / name).read_bytes()
        (trunc / name).write_bytes(data[: len(data) // 2])
    url = serve(trunc)
    with pytest.raises(DataNotFoundError) as info:
        load_mnist("test", sha256=table, mirrors=[url])
    msg = str(info.value)
    assert f"{url}t10k-images-idx3-ubyte.gz: sha256 mismatch" in msg
    assert "truncated" in msg
    assert listing(tmp_path / "cache") == []  # not even a temp file


def test_corrupt_cache_file_is_redownloaded(tmp_path, serve):
    table = write_synthetic(tmp_path / "good")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    load_mnist("test", sha256=table, mirrors=[serve(tmp_path / "good")])
    data = (cache / "t10k-labels-idx1-ubyte.gz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == table["t10k-labels-idx1-ubyte.gz"]


def test_no_mirror_reachable_error_explains_everything(tmp_path, monkeypatch, dead_mirror):
    (tmp_path / "partial").mkdir()
    monkeypatch.setenv("NNE_DATA_DIR", str(tmp_path / "partial"))
    with pytest.raises(DataNotFoundError) as info:
        load_mnist("train", tmp_path / "missing", mirrors=[dead_mirror])
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, DataError)
    msg = str(info.value)
    for needle in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        f"data_dir argument {tmp_path / 'missing'}: not a directory",
        f"$NNE_DATA_DIR {tmp_path / 'partial'}: missing",
        f"cache dir {tmp_path / 'cache'}",
        f"{dead_mirror}train-images-idx3-ubyte.gz: connection failed",
        "NNE_DATA_DIR=",
        "data_dir=",
    ):
        assert needle in msg, (needle, msg)
    assert listing(tmp_path / "cache") == []


def test_download_real_t10k_labels_with_real_checksum(tmp_path, serve, real_dir):
    url = serve(real_dir)
    path = download_file(
        "t10k-labels-idx1-ubyte.gz", tmp_path / "dl", [url], sha256=MNIST_SHA256["t10k-labels-idx1-ubyte.gz"]
    )
    labels = read_idx(path, magic=2049)
    assert np.bincount(labels).tolist() == TEST_COUNTS
    assert DEFAULT_MIRRORS[0].startswith("https://")


# ---------------------------------------------------------------- real MNIST


@pytest.mark.parametrize("split, counts", [("train", TRAIN_COUNTS), ("test", TEST_COUNTS)])
def test_real_mnist(real_dir, monkeypatch, split, counts):
    monkeypatch.setenv("NNE_DATA_DIR", str(real_dir))
    x, y = load_mnist(split, mirrors=())
    n = sum(counts)
    assert x.shape == (n, 28, 28) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert np.bincount(y, minlength=10).tolist() == counts
    assert flatten(x[:3]).shape == (3, 784)


def test_real_subset_does_not_overlap_test_set(real_dir):
    xtr, ytr = load_mnist("train", real_dir, mirrors=(), normalize=False)
    xte, yte = load_mnist("test", real_dir, mirrors=(), normalize=False)
    sx, sy = balanced_subset(xtr, ytr, 100, range(5), jax.random.PRNGKey(0))
    tx, ty = filter_classes(xte, yte, range(5))
    assert np.bincount(sy).tolist() == [100] * 5
    assert len(ty) == sum(TEST_COUNTS[:5]) and set(ty.tolist()) == set(range(5))
    train_hashes = {hashlib.sha256(im.tobytes()).digest() for im in sx}
    test_hashes = {hashlib.sha256(im.tobytes()).digest() for im in tx}
    assert len(train_hashes) == 500 and not train_hashes & test_hashes


# ---------------------------------------------------------------- subsets


def test_balanced_subset_exact_and_deterministic():
    labels = np.repeat(np.arange(10), 50)[np.random.default_rng(0).permutation(500)]
    images = np.arange(500)[:, None] * np.ones((1, 3))
    key = jax.random.PRNGKey(1)
    x, y = balanced_subset(images, labels, 7, [0, 3, 4], key)
    assert x.shape == (21, 3) and np.bincount(y, minlength=10).tolist() == [7, 0, 0, 7, 7] + [0] * 5
    idx = balanced_subset_indices(labels, 7, [0, 3, 4], key)
    np.testing.assert_array_equal(x[:, 0], idx)  # rows are the chosen examples
    assert len(set(idx.tolist())) == 21  # without replacement
    np.testing.assert_array_equal(idx, balanced_subset_indices(labels, 7, [0, 3, 4], key))
    other = balanced_subset_indices(labels, 7, [0, 3, 4], jax.random.PRNGKey(2))
    assert set(idx.tolist()) != set(other.tolist())
    # A class's draw does not depend on which other classes are asked for.
    only0 = balanced_subset_indices(labels, 7, [0], key)
    assert set(only0.tolist()) <= set(idx.tolist())
    # Works on jax arrays too.
    jx, jy = balanced_subset(jax.numpy.asarray(images), jax.numpy.asarray(labels), 7, [0, 3, 4], key)
    np.testing.assert_array_equal(np.asarray(jy), y)


def test_subset_errors():
    labels = np.array([0, 0, 1, 1, 1, 2])
    images = np.zeros((6, 2))
    key = jax.random.PRNGKey(0)
    with pytest.raises(DataError, match="class 0 has only 2 examples"):
        balanced_subset(images, labels, 3, [0, 1], key)
    with pytest.raises(DataError, match="empty"):
        balanced_subset(images, labels, 1, [], key)
    with pytest.raises(DataError, match="empty"):
        filter_classes(images, labels, [])
    with pytest.raises(DataError, match="no examples"):
        filter_classes(images, labels, [1, 7])
    x, y = filter_classes(images, labels, [2, 0])
    assert y.tolist() == [0, 0, 2] and x.shape == (3, 2)
