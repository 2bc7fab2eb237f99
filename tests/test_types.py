"""The package's type annotations are checked with mypy: strict where the code complies.

Every module of ``deeprank_like`` is checked with :data:`STRICT` options (every function
annotated, bodies of all functions checked, no stale ``# type: ignore``), except the modules
listed in :data:`RELAXED`, which are checked in mypy's default ("basic") mode and may keep at
most the listed number of errors. The list is a baseline to shrink: a new module is strict, a
new error fails the test, and a module that complies is taken off the list. Print a fresh
baseline with ``python tests/test_types.py``.

Third-party packages without usable stubs (torch, PyG, pandas, h5py...) are not followed
(:data:`NOT_FOLLOWED`): their names are ``Any`` to mypy, so the check is about our own code.
The configuration lives here (written to a temporary mypy config file), so the test needs
nothing from ``pyproject.toml``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "deeprank_like"

#: Third-party packages whose sources mypy does not read (their names are Any).
NOT_FOLLOWED = (
    "torch",
    "torch_geometric",
    "torch_scatter",
    "torch_cluster",
    "scipy",
    "pandas",
    "h5py",
    "sklearn",
    "matplotlib",
    "numba",
    "dask",
    "distributed",
    "mpi4py",
    "yaml",
    "freesasa",
)

#: Options of the strict modules (all modules not in RELAXED).
STRICT = {
    "disallow_untyped_defs": True,
    "disallow_incomplete_defs": True,
    "check_untyped_defs": True,
    "warn_unused_ignores": True,
}

#: Modules checked in mypy's default mode, with the number of errors they may still have.
#: Shrink this: fix a module, remove its line (the test then holds it to STRICT).
RELAXED: dict[str, int] = {
    "deeprank_like.cli": 0,
    "deeprank_like.data.base": 5,
    "deeprank_like.data.coulomb_dataset": 3,
    "deeprank_like.data.graph_dataset": 14,
    "deeprank_like.data.grid_dataset": 2,
    "deeprank_like.data.split": 2,
    "deeprank_like.enm.betagm": 1,
    "deeprank_like.features.cache": 0,
    "deeprank_like.features.compat_deeprank2": 0,
    "deeprank_like.features.components": 2,
    "deeprank_like.features.conservation": 1,
    "deeprank_like.features.contact": 1,
    "deeprank_like.features.exposure": 1,
    "deeprank_like.features.irc": 0,
    "deeprank_like.features.secondary_structure": 0,
    "deeprank_like.features.surfacearea": 0,
    "deeprank_like.grid.hdf5": 0,
    "deeprank_like.grid.mapping": 8,
    "deeprank_like.grid.settings": 0,
    "deeprank_like.pretrained.ddg": 1,
    "deeprank_like.pretrained.docking": 2,
    "deeprank_like.processing.executors": 0,
    "deeprank_like.processing.output": 0,
    "deeprank_like.query.ppi": 2,
    "deeprank_like.query.srv": 4,
    "deeprank_like.quickstart": 2,
    "deeprank_like.storage.integrity": 1,
    "deeprank_like.storage.reader": 3,
    "deeprank_like.storage.writer": 2,
    "deeprank_like.structure.io": 1,
    "deeprank_like.targets.docking": 1,
    "deeprank_like.training.losses": 0,
}

_ERROR = re.compile(r"^(?P<path>[^:\n]+\.pyi?):(?P<line>\d+): error: (?P<message>.*)$")


def mypy_config(relaxed: dict[str, int] | None = None, cache: Path | None = None) -> str:
    """The mypy configuration (ini text) of this test.

    Parameters
    ----------
    relaxed : dict, optional
        The modules checked in default mode (default :data:`RELAXED`).
    cache : Path, optional
        mypy's cache folder (default: one in the system's temporary folder, kept between
        runs so that a second run only re-checks what changed).
    """
    relaxed = RELAXED if relaxed is None else relaxed
    cache = cache or Path(tempfile.gettempdir()) / "deeprank_like-mypy-cache"
    lines = [
        "[mypy]",
        "python_version = 3.11",
        "ignore_missing_imports = True",
        "show_error_codes = True",
        "no_error_summary = True",
        "hide_error_context = True",
        f"cache_dir = {cache}",
        "",
        "[mypy-" + ",".join(f"{name},{name}.*" for name in NOT_FOLLOWED) + "]",
        "follow_imports = skip",
        "",
        f"[mypy-{PACKAGE}.*]",
        *(f"{key} = {value}" for key, value in STRICT.items()),
    ]
    if relaxed:
        lines += [
            "",
            "[mypy-" + ",".join(sorted(relaxed)) + "]",
            *(f"{key} = False" for key in STRICT),
        ]
    return "\n".join(lines) + "\n"


def module_of(path: str) -> str:
    """``deeprank_like/nn/gnn.py`` → ``deeprank_like.nn.gnn`` (``__init__`` → the package)."""
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def run_mypy(
    targets: list[str], config_dir: Path, relaxed: dict[str, int] | None = None
) -> dict[str, list[str]]:
    """Module → its mypy errors (``"line: message"``); fails the test if mypy itself fails."""
    config = config_dir / "mypy.ini"
    config.write_text(mypy_config(relaxed))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        match = _ERROR.match(line)
        if match:
            module = module_of(match["path"])
            errors.setdefault(module, []).append(f"{match['line']}: {match['message']}")
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not errors):
        pytest.fail(f"mypy did not run (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return errors


def package_modules() -> set[str]:
    """Every module of the package, by dotted name."""
    return {
        module_of(str(path.relative_to(ROOT)))
        for path in (ROOT / PACKAGE).rglob("*.py")
        if "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    pytest.importorskip("mypy", reason="the type check needs mypy (the 'test' extra)")
    return run_mypy(["-p", PACKAGE], tmp_path_factory.mktemp("mypy"))


def test_strict_modules_have_no_type_errors(mypy_errors: dict[str, list[str]]) -> None:
    new = {m: errs for m, errs in mypy_errors.items() if m not in RELAXED}
    assert not new, "type errors in modules held to strict mypy options:\n" + "\n".join(
        f"{module}:{error}" for module, errs in sorted(new.items()) for error in errs
    )


def test_relaxed_modules_do_not_get_worse(mypy_errors: dict[str, list[str]]) -> None:
    worse = {m: errs for m, errs in mypy_errors.items() if m in RELAXED and len(errs) > RELAXED[m]}
    assert not worse, "new type errors (see RELAXED in tests/test_types.py):\n" + "\n".join(
        f"{module} ({len(errs)} errors, baseline {RELAXED[module]}):\n  " + "\n  ".join(errs)
        for module, errs in sorted(worse.items())
    )


def test_baseline_names_existing_modules() -> None:
    stale = sorted(set(RELAXED) - package_modules())
    assert not stale, f"RELAXED names modules that no longer exist: {stale}; remove them"


def test_the_check_catches_an_error(tmp_path: Path) -> None:
    """The configuration really checks code: an unannotated function and a wrong type fail."""
    pytest.importorskip("mypy", reason="the type check needs mypy (the 'test' extra)")
    probe = tmp_path / PACKAGE / "probe_module.py"
    probe.parent.mkdir()
    (probe.parent / "__init__.py").write_text("")
    probe.write_text(
        "import torch\n\n\n"
        "def untyped(x):\n    return x\n\n\n"
        "def wrong() -> int:\n    return 'text'\n\n\n"
        "def uses_torch() -> torch.Tensor:\n    return torch.zeros(2)\n"
    )
    config = tmp_path / "mypy.ini"
    config.write_text(mypy_config({}, cache=tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), str(probe)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "probe_module.py:4: error: Function is missing a type annotation" in proc.stdout
    assert (
        'probe_module.py:9: error: Incompatible return value type (got "str", expected "int")'
        in (proc.stdout)
    )
    assert proc.stdout.count("error:") == 2, proc.stdout


if __name__ == "__main__":  # print a fresh RELAXED baseline
    with tempfile.TemporaryDirectory() as tmp:
        strict_errors = run_mypy(["-p", PACKAGE], Path(tmp), relaxed={})
        basic_errors = run_mypy(["-p", PACKAGE], Path(tmp), relaxed=dict.fromkeys(strict_errors, 0))
    print("RELAXED: dict[str, int] = {")
    for name in sorted(strict_errors):
        print(f'    "{name}": {len(basic_errors.get(name, []))},')
    print("}")
