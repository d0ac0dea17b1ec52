"""Packaging: one version source, the MIT licence file, py.typed, a changelog entry for the version."""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import nne_jax

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_version() -> str:
    return re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), flags=re.MULTILINE).group(1)


def test_version_comes_from_the_package_metadata():
    assert nne_jax.__version__ == metadata.version("nne_jax") == _pyproject_version()
    assert not re.search(r'__version__ = "\d+\.', (ROOT / "nne_jax" / "__init__.py").read_text())  # no second copy


def test_license_matches_the_declared_one():
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_typed_and_changelog():
    assert (ROOT / "nne_jax" / "py.typed").is_file()
    assert 'nne_jax = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()
    assert f"## {_pyproject_version()}" in (ROOT / "CHANGELOG.md").read_text()
