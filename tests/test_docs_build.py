"""The documentation builds with MkDocs in strict mode (warnings are errors)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="install the 'test' extra (it includes mkdocs)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_cli_page_lists_every_command():
    text = (ROOT / "docs" / "cli.md").read_text()
    from deeprank_like.cli import _command_modules

    for name in _command_modules():
        assert f"## `deeprank-like {name}`" in text, (
            f"docs/cli.md misses {name}: run tools/gen_cli_docs.py"
        )
