"""Any MNIST-format data set from the command line: --data-dir, --sha256, --classes (nne-jax run, experiments.table1)."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from nne_jax.cli import main, resolve_data_arguments
from nne_jax.config import PRESETS
from nne_jax.data import DataError
from nne_jax.data.datasets import (
    class_spec,
    dataset_files,
    parse_classes,
    read_sha256_table,
)
from nne_jax.data.tasks import load_task_data
from nne_jax.runner import make_task

KMNIST_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _idx(array: np.ndarray) -> bytes:
    array = np.asarray(array, np.uint8)
    return struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape) + array.tobytes()


def learnable_images(per_class: int, seed: int, side: int = 28, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is a bright square at a class-specific place, on noise: a network can learn them."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    images = rng.integers(0, 60, size=(len(labels), side, side)).astype(np.uint8)
    cell = side // 4
    for i, c in enumerate(labels):
        r, q = divmod(int(c), 4)
        images[i, r * cell : (r + 1) * cell, q * cell : (q + 1) * cell] = 255
    order = rng.permutation(len(labels))
    return images[order], labels[order].astype(np.uint8)


def write_kmnist_style(directory: Path, prefix: str = "", gz: bool = True) -> dict[str, str]:
    """Small KMNIST-style IDX files (40 train and 10 test images per class); returns {file name: sha256}."""
    directory.mkdir(parents=True, exist_ok=True)
    digests = {}
    for split, per_class, seed in (("train", 40, 0), ("test", 10, 1)):
        for stem, array in zip(KMNIST_NAMES[split], learnable_images(per_class, seed)):
            data, name = _idx(array), prefix + stem
            if gz:
                data, name = gzip.compress(data, mtime=0), name + ".gz"
            (directory / name).write_bytes(data)
            digests[name] = hashlib.sha256(data).hexdigest()
    return digests


@pytest.fixture(scope="module")
def kmnist(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    directory = tmp_path_factory.mktemp("kmnist")
    return directory, write_kmnist_style(directory)


def test_nne_jax_run_on_a_kmnist_style_directory_end_to_end(kmnist, tmp_path, capsys):
    directory, digests = kmnist
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--data-dir",
            str(directory),
            "--sha256",
            "none",
            "--classes",
            "0-9",
            "--preset",
            "smoke",
            "--out",
            str(out),
            "--devices",
            "1",
        ]
    )
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    assert result["dataset"]["files"] == digests  # every file's digest is recorded
    assert result["dataset"]["name"] == directory.name and result["dataset"]["sha256_checked_against"] is None
    assert result["dataset"]["classes"] == list(range(10)) and result["num_outputs"] == 10
    assert result["final_test_accuracy"]["mean-weights"] > 0.3  # 10 classes: chance is 0.1
    saved = json.loads((out / "result.json").read_text())
    assert saved["dataset"]["files"] == digests
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    assert main(["plot", str(out)]) == 0 and (out / "curves.png").stat().st_size > 10_000  # the run's curves


def test_sha256_table_classes_and_label_positions(kmnist, tmp_path):
    directory, digests = kmnist
    table = tmp_path / "SHA256SUMS"
    table.write_text("".join(f"{d}  {n}\n" for n, d in digests.items()))
    args = argparse.Namespace(task=None, classes="7,3,5", data_dir=str(directory), sha256=str(table))
    options = resolve_data_arguments(args)
    assert options["task"] == "3,5,7" and options["sha256"] == digests and options["sha256_source"] == str(table)
    data = load_task_data(options.pop("task"), 5, 0, **options)
    assert data["dataset"]["sha256_checked_against"] == str(table) and data["dataset"]["classes"] == [3, 5, 7]
    assert make_task(PRESETS["smoke"], 0, len(data["classes"])).arch.num_classes == 3  # one output per class
    assert sorted(np.unique(data["train_y"]).tolist()) == [0, 1, 2] and np.bincount(data["train_y"]).tolist() == [5, 5, 5]
    assert len(data["test_y"]) == 30 and data["train_x"].shape == (15, 784)


def test_table1_on_another_data_set_writes_its_own_folder(kmnist, tmp_path):
    from experiments import table1

    directory, digests = kmnist
    out = tmp_path / "t1"
    result = table1.main(
        [
            "--data-dir",
            str(directory),
            "--sha256",
            "none",
            "--classes",
            "0-4",
            "--preset",
            "smoke",
            "--generations",
            "10",
            "--set",
            "num_hidden=100",
            "--no-baselines",
            "--out",
            str(out),
            "--devices",
            "1",
        ]
    )
    assert result["dataset"]["files"] == digests and result["dataset"]["classes"] == [0, 1, 2, 3, 4]
    assert result["num_outputs"] == 5
    assert (out / "0-4_smoke_seed0.json").exists()


def test_npz_data_set_with_small_images(tmp_path):
    x, y = learnable_images(30, 0, side=8, classes=4)
    xt, yt = learnable_images(5, 1, side=8, classes=4)
    np.savez(tmp_path / "tiny.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    data = load_task_data("1-3", 10, 0, data_dir=tmp_path, sha256=None)
    assert data["train_x"].shape == (30, 64) and data["dataset"]["format"] == "npz"
    assert float(data["train_x"].max()) == 1.0 and data["test_y"].tolist().count(0) == 5
    code = main(
        [
            "run",
            "--data-dir",
            str(tmp_path / "tiny.npz"),
            "--sha256",
            "none",
            "--classes",
            "1-3",
            "--preset",
            "smoke",
            "--generations",
            "10",
            "--set",
            "per_class=10",
            "--set",
            "num_hidden=100",
            "--set",
            "batch_size=20",
            "--out",
            str(tmp_path / "run"),
            "--devices",
            "1",
        ]
    )
    assert code == 0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["num_outputs"] == 3 and result["dataset"]["name"] == "tiny"


def test_prefixed_names_are_found(tmp_path):
    write_kmnist_style(tmp_path, prefix="emnist-digits-", gz=False)
    files = dataset_files(tmp_path)
    assert files["test"][0].name == "emnist-digits-t10k-images-idx3-ubyte"
    assert files["train"][1].name == "emnist-digits-train-labels-idx1-ubyte"


def test_class_specs():
    assert parse_classes("0-4") == (0, 1, 2, 3, 4) and parse_classes("5,0,3") == (0, 3, 5)
    assert parse_classes("0-2,7") == (0, 1, 2, 7) and class_spec((0, 1, 2, 7)) == "0-2,7"
    assert class_spec(tuple(range(10))) == "0-9" and class_spec((3, 5)) == "3,5" and class_spec((4, 5)) == "4,5"


def _fails_with(argv: list[str], match: str, capsys: pytest.CaptureFixture) -> None:
    """``nne-jax`` exits 2 (bad input) with one error line matching ``match``."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(match, err) and "Traceback" not in err, err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--classes", "4-2"], "--classes: .*runs backwards"),
        (["--classes", "a,b"], "--classes: .*'a' is not a label"),
        (["--classes", "1,1"], r"--classes: .*\[1\] given more than once"),
        (["--classes", "0-4", "--task", "0-9"], "give --task or --classes, not both"),
        (["--sha256", "none"], "--sha256 applies to --data-dir only"),
        (["--data-dir", "/nonexistent/kmnist"], "--data-dir /nonexistent/kmnist: not a directory"),
    ],
)
def test_bad_data_options_give_one_clear_error(argv, match, capsys):
    _fails_with(["run", "--preset", "smoke", *argv], match, capsys)


def test_bad_data_set_contents_give_one_clear_error(kmnist, tmp_path, capsys):
    directory, digests = kmnist
    _fails_with(["run", "--preset", "smoke", "--data-dir", str(directory)], "sha256 mismatch.*--sha256 none", capsys)
    wrong = tmp_path / "sums.json"
    wrong.write_text(json.dumps({n: "0" * 64 for n in digests}))
    _fails_with(
        ["run", "--preset", "smoke", "--data-dir", str(directory), "--sha256", str(wrong)],
        f"sha256 mismatch: expected {'0' * 64} \\({wrong}\\)",
        capsys,
    )
    partial = tmp_path / "partial"
    partial.write_text(f"{digests['train-images-idx3-ubyte.gz']}  train-images-idx3-ubyte.gz\n")
    _fails_with(
        ["run", "--preset", "smoke", "--data-dir", str(directory), "--sha256", str(partial)],
        "no sha256 for train-labels-idx1-ubyte.gz",
        capsys,
    )
    _fails_with(
        ["run", "--preset", "smoke", "--data-dir", str(directory), "--sha256", "none", "--classes", "0-11"],
        r"classes \[10, 11\] have no training images",
        capsys,
    )
    _fails_with(["run", "--preset", "smoke", "--data-dir", str(directory), "--sha256", str(tmp_path / "missing")], "no such file", capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails_with(["run", "--preset", "smoke", "--data-dir", str(empty), "--sha256", "none"], "no IDX files", capsys)
    (tmp_path / "bad").write_text("not-a-digest  x.gz\n")
    with pytest.raises(DataError, match="is not a sha256 digest"):
        read_sha256_table(tmp_path / "bad")
