"""The README's ask/tell example runs exactly as printed."""
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_ask_tell_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "nne.ask" in b and "def fitness" in b)
    assert len(example.strip().splitlines()) <= 25
    out = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    first, last = map(float, re.search(r"mean fitness (-?[\d.]+) -> (-?[\d.]+)", out.stdout).groups())
    assert last > first + 10  # it learned


def test_readme_mnist_snippet_runs():
    import os

    import pytest

    if not os.environ.get("NNE_DATA_DIR"):
        pytest.skip("NNE_DATA_DIR not set (real MNIST needed)")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    snippet = next(b for b in blocks if "load_task_data" in b) + "\nprint('generation', int(state.generation))\n"
    out = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "generation 50" in out.stdout  # run_generations runs until the state has made 50 in all
