"""The README and docs/ stay true: code blocks run or compile, commands parse, links resolve, linked numbers match.

Convention for numbers (checked here): a number in the README or docs that comes from a results JSON is
written as a link whose target is the file and whose fragment selects the value::

    [84.84](results/table1/summary.json#model=NNE;task=0-9;preset=fast;eval=mean-weights;test_accuracy)
    [92.62 ± 0.10](results/table1/summary.json#model=SGD;task=0-9;test_accuracy,std)

The fragment is a ``;``-separated path: a run of ``key=value`` parts picks the one row of a list whose fields
equal those values (``null`` for None, percent-escapes allowed), a plain part indexes a dict key (or a list
position), and the last part names the field(s), one per number in the link text. Each number must equal its
field rounded to the decimals shown. A number linked to a Markdown file must appear in that file (in the
linked section, if the link has an anchor).
"""
from __future__ import annotations

import argparse
import importlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
README_MAX_BYTES = 12 * 1024


def _blocks(page: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", page.read_text(), flags=re.DOTALL)


def _rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, each space a hyphen."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _section(page: Path, anchor: str) -> str:
    """The text of the section whose heading's anchor is ``anchor`` (up to the next heading of its level or higher)."""
    lines = page.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(#+) (.*)", line)
        if m and slug(m.group(2)) == anchor:
            level, out = len(m.group(1)), []
            for nxt in lines[i + 1:]:
                n = re.match(r"(#+) ", nxt)
                if n and len(n.group(1)) <= level:
                    break
                out.append(nxt)
            return "\n".join(out)
    raise AssertionError(f"{_rel(page)} has no heading with anchor #{anchor}")


def _links(page: Path) -> list[tuple[str, str]]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)  # links inside code blocks are not links
    return LINK.findall(text)


def _selected(data: object, fragment: str, where: str) -> list[float | None]:
    """The value(s) a fragment (see the module docstring) selects from parsed JSON."""
    parts = [unquote(p) for p in fragment.split(";")]
    *path, fields = parts
    node, i = data, 0
    while i < len(path):
        if "=" in path[i]:
            conds = []
            while i < len(path) and "=" in path[i]:
                conds.append(path[i].split("=", 1))
                i += 1
            assert isinstance(node, list), f"{where}: {conds} selects rows, but the node is not a list"
            rows = [r for r in node if all(k in r and _matches(r[k], v) for k, v in conds)]
            assert len(rows) == 1, f"{where}: {len(rows)} rows match {conds} (need exactly one)"
            node = rows[0]
        else:
            key = path[i]
            node = node[int(key)] if isinstance(node, list) else node[key]
            i += 1
    return [node[f] for f in fields.split(",")]


def _matches(value: object, text: str) -> bool:
    return text == (value if isinstance(value, str) else json.dumps(value))


def _numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


def _close(shown: str, value: float) -> bool:
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return abs(float(shown.replace(",", "")) - value) <= 0.5 * 10 ** -decimals + 1e-9


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_links_resolve_and_linked_numbers_match(page: Path) -> None:
    for text, target in _links(page):
        if re.match(r"[a-z]+:", target):  # http(s)/mailto: not checked offline
            continue
        file_part, _, fragment = target.partition("#")
        path = (page.parent / unquote(file_part)).resolve() if file_part else page
        where = f"{_rel(page)}: [{text}]({target})"
        assert path.exists(), f"{where}: {path} does not exist"
        numbers = _numbers(text)
        if path.suffix == ".json" and fragment:
            values = _selected(json.loads(path.read_text()), fragment, where)
            assert len(values) == len(numbers), f"{where}: {len(numbers)} numbers in the text, {len(values)} fields"
            for shown, value in zip(numbers, values):
                assert value is not None and _close(shown, float(value)), f"{where}: shows {shown}, the file holds {value}"
        elif path.suffix == ".md":
            body = _section(path, fragment) if fragment else path.read_text()
            for shown in numbers:
                if text.strip().startswith(("docs/", "CHANGELOG")) or not text.strip()[0].isdigit():
                    break  # a link *named* by a path or words, not a number
                assert re.search(rf"(?<![\d.]){re.escape(shown)}(?![\d])", body), \
                    f"{where}: {shown} does not appear in {_rel(path)}#{fragment}"


def test_readme_is_short_and_its_result_numbers_are_links() -> None:
    text = README.read_text()
    assert len(text.encode()) <= README_MAX_BYTES, f"README is {len(text.encode())} bytes (max {README_MAX_BYTES})"
    table = _section(README, "headline-results")
    rows = [r for r in table.splitlines() if r.startswith("|") and not r.startswith("|---")][1:]
    assert len(rows) >= 5
    for row in rows:
        for cell in row.strip("|").split("|")[1:]:  # every column but the label
            bare = LINK.sub("", cell)
            assert not _numbers(bare), f"headline row {row[:60]!r}: {cell.strip()!r} has a number that is not a link"


def test_docs_hold_what_the_readme_cut() -> None:
    """Spot checks that the long material moved to docs/, each part still naming its command."""
    expected = {
        "results.md": ["python -m experiments.table1 --task 0-9 --preset fast", "python -m experiments.ablations",
                       "python -m experiments.table2 --h 1000", "python -m experiments.figures genes", "Gaps > 2 points"],
        "benchmarks.md": ["python -m benchmarks.generation --quick", "NumPy baselines", "OUT=<dir> bash benchmarks/run_device.sh"],
        "further_work.md": ["python -m experiments.further_work fixation", "Deeper NNE"],
        "theory.md": ["python -m experiments.theory", "Theorem 2"],
        "long_runs.md": ["nne-jax run --task 0-9 --preset fast --out runs/fast0", "Multi-host"],
        "data.md": ["NNE_DATA_DIR", "sha256"],
        "library.md": ["load_task_data", "fitness_shaping"],
    }
    for name, needles in expected.items():
        text = (ROOT / "docs" / name).read_text()
        for needle in needles:
            assert needle in text, f"docs/{name} lost {needle!r}"


def test_readme_test_command_is_the_ci_command() -> None:
    block = _blocks(README, "bash")[0]
    test_cmd = next(ln for ln in block.splitlines() if "pytest" in ln and not ln.startswith("#"))
    assert test_cmd.strip() in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_python_blocks_compile(page: Path) -> None:
    for i, block in enumerate(_blocks(page, "python")):
        compile(block, f"{_rel(page)} python block {i}", "exec")


class _Parsed(Exception):
    """Raised instead of running a command once its arguments have parsed."""


def _commands(page: Path) -> list[list[str]]:
    """Every command line of the page's bash blocks, split into words; ``&&`` chains are split too."""
    out = []
    for block in _blocks(page, "bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if not line or line.startswith("#"):
                continue
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                while words and re.match(r"[A-Z_]+=", words[0]):  # VAR=value command
                    words = words[1:]
                if words:
                    out.append(words)
    return out


def _check_argv(main, argv: list[str], where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = argparse.ArgumentParser.parse_args

    def parse_only(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_only)
    try:
        main(argv)
    except _Parsed:
        return
    except SystemExit as err:
        raise AssertionError(f"{where}: arguments rejected (exit {err.code})") from err
    finally:
        monkeypatch.setattr(argparse.ArgumentParser, "parse_args", original)
    raise AssertionError(f"{where}: main() returned without parsing arguments")


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_shell_commands_name_real_modules_and_options(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    extras = set(tomllib.loads(pyproject)["project"]["optional-dependencies"]) if tomllib else None
    for words in _commands(page):
        where = f"{_rel(page)}: {' '.join(words)}"
        if words[0] == "nne-jax" or words[:3] == ["python", "-m", "nne_jax"]:
            from nne_jax.cli import main

            _check_argv(main, words[1:] if words[0] == "nne-jax" else words[3:], where, monkeypatch)
        elif words[:2] == ["python", "-m"] and words[2].split(".")[0] in ("experiments", "benchmarks"):
            module = importlib.import_module(words[2])
            _check_argv(module.main, words[3:], where, monkeypatch)
        elif words[:2] == ["python", "-m"] and words[2] in ("pytest", "venv", "pip"):
            continue
        elif words[0] == "pip":
            for spec in words:
                m = re.match(r"[.\w-]*\[([\w,]+)\]", spec)
                if m and extras is not None:
                    assert set(m.group(1).split(",")) <= extras, f"{where}: unknown extra in {spec}"
        elif words[0] == "bash":
            assert (ROOT / words[1]).is_file(), f"{where}: no script {words[1]}"


def test_readme_ask_tell_example_runs():
    blocks = _blocks(README, "python")
    example = next(b for b in blocks if "nne.ask" in b and "def fitness" in b)
    assert len(example.strip().splitlines()) <= 25
    out = subprocess.run([sys.executable, "-c", example], check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    first, last = map(float, re.search(r"mean fitness (-?[\d.]+) -> (-?[\d.]+)", out.stdout).groups())
    assert last > first + 10  # it learned


def test_docs_mnist_snippet_runs():
    import os

    if not os.environ.get("NNE_DATA_DIR"):
        pytest.skip("NNE_DATA_DIR not set (real MNIST needed)")
    blocks = _blocks(ROOT / "docs" / "library.md", "python")
    snippet = next(b for b in blocks if "load_task_data" in b) + "\nprint('generation', int(state.generation))\n"
    out = subprocess.run([sys.executable, "-c", snippet], check=False, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "generation 50" in out.stdout  # run_generations runs until the state has made 50 in all


def test_link_checker_catches_a_wrong_number(tmp_path: Path) -> None:
    """The number check can fail: a page showing a value the JSON does not hold is reported."""
    (tmp_path / "r.json").write_text(json.dumps([{"model": "A", "acc": 91.234}, {"model": "B", "acc": 50.0}]))
    assert _selected(json.loads((tmp_path / "r.json").read_text()), "model=A;acc", "t") == [91.234]
    assert _close("91.23", 91.234) and not _close("91.24", 91.234) and _close("91", 91.234)
    with pytest.raises(AssertionError, match="0 rows match"):
        _selected([{"model": "A"}], "model=C;acc", "t")
    assert slug("NNE on your own fitness (ask / tell)") == "nne-on-your-own-fitness-ask--tell"
