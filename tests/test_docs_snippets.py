"""Every ```python block of README.md and docs/*.md runs as written: as a script and in a notebook.

Script mode: each block of a page is saved as its own ``.py`` file and run as ``__main__`` in a
fresh folder, in page order (a block may read files that an earlier block of the page wrote,
not its variables). Spawned worker processes re-import such a script, which is what breaks a
module-level ``process()`` call: blocks of pages that start worker processes run as
``python snippet.py`` each; the blocks of other pages run one after the other in one Python
process (``runpy.run_path``, a fresh namespace each), which saves the start-up and imports. Notebook mode: the blocks of a page are the cells of one
notebook, executed in a Jupyter kernel (where ``process`` refuses feature modules defined in
the notebook, and where worker processes cannot re-import ``__main__``). Only pages that start
worker processes (``process(`` without ``executor="serial"``, ``ProcessExecutor``) run in
notebook mode too: other code runs the same in both, and a kernel per page costs seconds.

The working folder of both modes holds a link ``tests`` to this repository's ``tests`` folder,
so paths such as ``tests/data/pssm/1ATN.A.pdb.pssm`` work as they do from the repository root.

A block that cannot run here (it needs a cluster, DeepRank2, or is a signature listing) is
marked on the line just above its fence::

    <!-- skip-test: needs a dask scheduler -->
    ```python

The reason is mandatory; keep such blocks few.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_SKIP = re.compile(r"<!--\s*skip-test:(.*?)-->\s*$")
#: Seconds one block may take (the snippets use the tiny shipped examples).
BLOCK_TIMEOUT = 240


@dataclass(frozen=True)
class Block:
    """One ```python block: where it is, its code, and why it is skipped (empty: it runs)."""

    page: str
    line: int
    code: str
    skip: str


def page_blocks(page: Path) -> list[Block]:
    """The python blocks of ``page``, in order, with their skip-test markers."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _SKIP.search(before)
        skip = ""
        if marker:
            skip = marker.group(1).strip()
            if not skip:
                raise AssertionError(f"{page.name}:{line}: skip-test marker without a reason")
        name = page.relative_to(ROOT).as_posix() if page.is_relative_to(ROOT) else page.name
        out.append(Block(name, line, m.group(1), skip))
    return out


def _runnable(page: Path) -> list[Block]:
    return [b for b in page_blocks(page) if not b.skip]


RUNNABLE = [p for p in PAGES if _runnable(p)]


def _starts_workers(page: Path) -> bool:
    code = "".join(b.code for b in _runnable(page))
    calls = code.count("process(")
    serial = code.count('executor="serial"')
    return calls > serial or "ProcessExecutor" in code


PARALLEL = [p for p in RUNNABLE if _starts_workers(p)]


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    return work


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env.pop("PYTHONPATH", None)
    return env


def _where(block: Block) -> str:
    return f"{block.page}:{block.line}"


#: Runs the scripts named on its command line in order, each as ``__main__``; exit status
#: 10 + k when script k raised.
_RUNNER = """
import runpy, sys, traceback
for k, path in enumerate(sys.argv[1:]):
    try:
        runpy.run_path(path, run_name="__main__")
    except BaseException:
        traceback.print_exc()
        sys.exit(10 + k)
"""


def _run(args: list[str], work: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=work, env=_env(), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.name)
def test_blocks_run_as_scripts(page, tmp_path):
    work = _workdir(tmp_path)
    blocks = _runnable(page)
    names = []
    for k, block in enumerate(blocks):
        (work / f"snippet_{k}.py").write_text(block.code, encoding="utf-8")
        names.append(f"snippet_{k}.py")
    runs = []
    if page in PARALLEL:
        for block, name in zip(blocks, names, strict=True):
            runs.append((block, _run([name], work, BLOCK_TIMEOUT)))
            if runs[-1][1].returncode:
                break
    else:
        run = _run(["-c", _RUNNER, *names], work, BLOCK_TIMEOUT * len(blocks))
        failed = run.returncode - 10 if run.returncode >= 10 else 0
        runs = [(blocks[min(failed, len(blocks) - 1)], run)]
    for block, run in runs:
        assert run.returncode == 0, (
            f"{_where(block)} fails as a script:\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
        )
        # A worker that could not start is recorded, not raised (status 0): its traceback (the
        # worker re-running an unguarded script) and the failure's warning are on stderr.
        assert "Traceback (most recent call last)" not in run.stderr, (
            f"{_where(block)} printed a traceback:\n{run.stderr[-3000:]}"
        )
        assert "worker processes die before running any query" not in run.stdout + run.stderr


@pytest.mark.parametrize("page", PARALLEL, ids=lambda p: p.name)
def test_blocks_run_in_a_notebook(page, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    work = _workdir(tmp_path)
    blocks = _runnable(page)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(b.code) for b in blocks]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    client = nbclient.NotebookClient(
        nb,
        timeout=BLOCK_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
    )
    try:
        client.execute(env=_env())  # passed on to the kernel manager's start_kernel
    except nbclient.exceptions.CellExecutionError as exc:
        index = next(
            (
                i
                for i, c in enumerate(nb.cells)
                if any(o.get("output_type") == "error" for o in c.get("outputs", []))
            ),
            None,
        )
        where = _where(blocks[index]) if index is not None else page.name
        pytest.fail(f"{where} fails in a notebook:\n{str(exc)[-5000:]}")
    for block, cell in zip(blocks, nb.cells, strict=True):
        text = "".join(o.get("text", "") for o in cell.get("outputs", []))
        assert "worker processes die before running any query" not in text, _where(block)
        assert "IProgress not found" not in text, _where(block)


def test_skip_markers_are_few_and_explained():
    skipped = [b for p in PAGES for b in page_blocks(p) if b.skip]
    assert len(skipped) <= 6, [(_where(b), b.skip) for b in skipped]
    assert all(len(b.skip) >= 10 for b in skipped), [(_where(b), b.skip) for b in skipped]


def test_marker_parsing(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n```python\nprint(1)\n```\n\n<!-- skip-test: needs a dask scheduler -->\n"
        "```python\nimport dask\n```\n\n<!-- skip-test: -->\n```python\npass\n```\n",
        encoding="utf-8",
    )
    with pytest.raises(AssertionError, match="page.md:13: skip-test marker without a reason"):
        page_blocks(page)
    page.write_text(page.read_text().replace("skip-test: -->", "not a marker -->"))
    blocks = page_blocks(page)
    assert [(b.line, b.code, b.skip) for b in blocks] == [
        (3, "print(1)\n", ""),
        (8, "import dask\n", "needs a dask scheduler"),
        (13, "pass\n", ""),
    ]
