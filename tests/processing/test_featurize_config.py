"""The typed featurisation config (issue 15 item 1): one FeaturizeConfig, TOML ↔ object ↔ HDF5.

A grid option (σ and truncation of the Gaussian kernel) goes end to end: config-file key,
``featurize`` flag, Python field, grid values, and the file's ``config`` attribute.
"""

from __future__ import annotations

import json
import tomllib
import warnings
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
from processing_helpers import PDB, make_collection

from deeprank_like.cli import main
from deeprank_like.enm.config import BetaGMConfig
from deeprank_like.enm.target import BetaGM
from deeprank_like.features.base import FeatureModule, FeatureSpec
from deeprank_like.features.registry import ModuleSpec, module_spec
from deeprank_like.processing import (
    ConfigError,
    Execution,
    FeaturizeConfig,
    GridConfig,
    StorageOptions,
    process,
)
from deeprank_like.processing.config import build_collection, read_config
from deeprank_like.processing.legacy import config_from_keywords
from deeprank_like.storage import list_entries

CONFIG = """
output = "out/features.hdf5"
feature_modules = ["components", {{name = "betagm", kwargs = {{chains = ["A"], target_name = "betagm_A"}}}}]
resolution = "residue"
influence_radius = 8.0

[processing]
executor = "serial"
verbose = false

[storage]
float_dtype = "float64"
compression = "lzf"

[grid]
points_counts = [6, 6, 6]
sizes = [12.0, 12.0, 12.0]
sigma = {sigma}
truncate = 3.5
augmentation_count = 1
seed = 7

[[queries]]
kind = "ppi"
pdb_path = "{pdb}"
chain_ids = ["A", "B"]
"""


def _write_config(folder: Path, sigma: float = 1.5) -> Path:
    path = folder / "run.toml"
    path.write_text(CONFIG.format(sigma=sigma, pdb=(PDB / "1ATN_1w.pdb").as_posix()))
    return path


def _file_config(path: str | Path) -> FeaturizeConfig:
    with h5py.File(path, "r") as f:
        return FeaturizeConfig.from_file_attribute(f.attrs["config"])


def _grid(path: str | Path, index: str = "000") -> tuple[np.ndarray, dict]:
    with h5py.File(path, "r") as f:
        group = f[list_entries(path)[0]]["grids"]
        return group[index][()], dict(group.attrs)


def test_one_config_round_trips_toml_object_and_file_attribute(tmp_path):
    path = _write_config(tmp_path)
    config, raw, base = read_config(path)
    assert config.output == str(tmp_path / "out" / "features.hdf5")  # relative to the file
    assert config.grid == GridConfig(
        points_counts=(6, 6, 6), sizes=(12, 12, 12), sigma=1.5, truncate=3.5,
        augmentation_count=1, seed=7,
    )  # fmt: skip
    assert config.storage == StorageOptions(float_dtype="float64", compression="lzf")
    assert config.feature_modules[1] == ModuleSpec(
        "betagm", {"chains": ["A"], "target_name": "betagm_A"}
    )
    # object -> TOML -> object, and the YAML / JSON forms
    assert FeaturizeConfig.from_dict(tomllib.loads(config.to_toml())) == config
    for suffix in (".yaml", ".json", ".toml"):
        saved = config.save(tmp_path / f"again{suffix}")
        assert FeaturizeConfig.from_file(saved) == config
    # object -> HDF5 attribute (a real file) -> object
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the new API warns about nothing
        summary = process(build_collection(raw, base, config.query_defaults()), config)
    assert summary.processed == 1 and summary.failed == 0
    assert _file_config(summary.output) == config
    with h5py.File(summary.output, "r") as f:
        entry = f[list_entries(summary.output)[0]]
        assert entry["node_features/res_mass"].dtype == np.float64  # [storage] applied
        assert entry["node_features/res_mass"].compression == "lzf"
        assert entry["targets/betagm_A"].shape == (10,)  # the configured module ran
        assert sorted(entry["grids"]) == ["000", "001"]  # augmentation_count = 1
    _, attrs = _grid(summary.output)
    assert attrs["sigma"] == 1.5 and attrs["truncate"] == 3.5


def test_grid_sigma_changes_the_grid_and_is_recorded(tmp_path):
    """σ reaches the grid values and the file attribute: from the file, Python and the CLI."""
    qc = make_collection(n_ppi=1, srv=False, bad=False)
    grid = GridConfig(points_counts=(8, 8, 8), sizes=(16.0, 16.0, 16.0))
    base = FeaturizeConfig(processing=Execution(executor="serial", verbose=False), grid=grid)
    narrow = process(qc, base.replace(output=str(tmp_path / "narrow")))
    wide_config = base.replace(output=str(tmp_path / "wide"), grid=replace(grid, sigma=2.5))
    wide = process(qc, wide_config)
    a, a_attrs = _grid(narrow.output)
    b, b_attrs = _grid(wide.output)
    assert (a_attrs["sigma"], b_attrs["sigma"]) == (1.0, 2.5)
    assert _file_config(wide.output).grid.sigma == 2.5
    assert _file_config(narrow.output).grid.sigma == 1.0
    # Normalised kernels keep each channel's mass in the box but spread it: lower peaks.
    channel = 0
    assert not np.allclose(a, b)
    assert np.abs(b[channel]).max() < np.abs(a[channel]).max()
    # the same σ from the command line and from a config file give the same grids
    cli_out = tmp_path / "cli.hdf5"
    argv = ["featurize", "--ppi", "A,B", "--executor", "serial", "--grid", "8,8,8"]
    argv += ["--grid-size", "16,16,16", "--grid-sigma", "2.5", "-o", str(cli_out)]
    assert main([*argv, str(PDB / "1ATN_1w.pdb")]) == 0
    assert np.array_equal(_grid(cli_out)[0], b)
    assert _file_config(cli_out).grid == wide_config.grid
    path = _write_config(tmp_path, sigma=2.5)  # and --grid-sigma overrides the file's value
    assert main(["featurize", str(path), "--grid-sigma", "3.0"]) == 0
    out = tmp_path / "out" / "features.hdf5"
    assert _file_config(out).grid.sigma == 3.0 and _grid(out)[1]["sigma"] == 3.0


def test_bad_values_name_the_field_and_unknown_keys_list_the_valid_ones():
    with pytest.raises(ConfigError, match=r"\[grid\]: sigma must be a number > 0 \(Å\), got -1"):
        GridConfig(points_counts=(8, 8, 8), sizes=(8, 8, 8), sigma=-1)
    with pytest.raises(ConfigError, match=r"\[grid\]: truncate must be a number > 0"):
        GridConfig(points_counts=(8, 8, 8), sizes=(8, 8, 8), truncate=0)
    with pytest.raises(ConfigError, match=r"sigma >= 2\.17 Å"):  # σ too small for the spacing
        GridConfig(points_counts=(4, 4, 4), sizes=(40, 40, 40))
    grid = {"points_counts": [8, 8, 8], "sizes": [8, 8, 8], "sigmaa": 2.0}
    with pytest.raises(
        ConfigError, match=r"\[grid\]: unknown key\(s\) \['sigmaa'\]; valid: .*'sigma'"
    ):
        FeaturizeConfig.from_dict({"grid": grid})
    with pytest.raises(ConfigError, match=r"\[storage\]: compression must be one of"):
        FeaturizeConfig.from_dict({"storage": {"compression": "zip"}})
    with pytest.raises(ConfigError, match=r"\[processing\]: executor must be one of"):
        Execution(executor="threads")
    with pytest.raises(ConfigError, match=r"config: unknown key\(s\) \['outptu'\]"):
        FeaturizeConfig.from_dict({"outptu": "x.hdf5"})


def test_an_empty_module_list_makes_skeleton_only_graphs(tmp_path):
    """``feature_modules=[]`` was valid before the typed config: graphs without features."""
    config = FeaturizeConfig(
        output=tmp_path / "bare",
        feature_modules=[],
        processing=Execution(executor="serial", verbose=False),
    )
    assert config.feature_modules == ()
    assert config.to_dict()["feature_modules"] == []
    assert FeaturizeConfig.from_dict(config.to_dict()) == config
    assert tomllib.loads(config.to_toml())["feature_modules"] == []
    summary = process(make_collection(n_ppi=1, srv=False, bad=False), config)
    assert (summary.processed, summary.failed) == (1, 0)
    with h5py.File(summary.output, "r") as f:
        entry = f[list_entries(summary.output)[0]]
        assert len(entry["node_features"]) == 0 and len(entry["edge_features"]) == 0
        assert entry["positions"].shape[0] > 0  # the skeleton is there
    assert _file_config(summary.output).feature_modules == ()
    for bad in ("", "  ", 3, True):
        with pytest.raises(ConfigError, match="feature_modules must be"):
            FeaturizeConfig(feature_modules=bad)


class _WithCallable(FeatureModule):
    """A module whose argument is code, which cannot reach a worker as data."""

    name = "drl_test_callable"

    def __init__(self, transform=np.log) -> None:
        self.transform = transform

    def specs(self, context):
        return (FeatureSpec(name="t", kind="node"),)

    def compute(self, context):
        return {"t": self.transform(np.ones(context.graph.num_nodes))}


def test_modules_are_recorded_by_their_arguments_never_pickled():
    custom = BetaGM(chains=["A", "B"], config=BetaGMConfig.anm(), max_residues=None)
    spec = module_spec(custom)
    assert spec.name == "betagm"
    json.dumps(spec.to_dict())  # plain data
    rebuilt = spec.build()
    assert isinstance(rebuilt, BetaGM) and rebuilt.config == BetaGMConfig.anm()
    assert rebuilt.chains == ("A", "B") and rebuilt.max_residues is None
    config = FeaturizeConfig(feature_modules=["contact", custom])
    assert FeaturizeConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError, match=r"argument transform = <ufunc 'exp'>.*not JSON data"):
        FeaturizeConfig(feature_modules=[_WithCallable(np.exp)])
    changed = BetaGM()
    changed.target_name = "renamed_after_construction"  # recorded: it is an argument's name
    assert module_spec(changed).kwargs == {"target_name": "renamed_after_construction"}
    changed.extra = 1  # not an argument: the workers would not get it
    with pytest.raises(ConfigError, match=r"different attribute\(s\) \['extra'\]"):
        FeaturizeConfig(feature_modules=[changed])


def test_old_keywords_are_deprecated_and_map_onto_the_config(tmp_path):
    qc = make_collection(n_ppi=1, srv=False, bad=False)
    expected = FeaturizeConfig(
        output=str(tmp_path / "old"),
        feature_modules=["components"],
        processing=Execution(executor="serial", verbose=False),
        storage=StorageOptions(float_dtype="float64"),
        grid=GridConfig(points_counts=(8, 8, 8), sizes=(16, 16, 16), method="nearest", seed=3),
    )
    with pytest.warns(DeprecationWarning, match="pass a FeaturizeConfig"):
        summary = process(
            qc, tmp_path / "old", ["components"], executor="serial", verbose=False,
            float_dtype="float64", grid_settings=((8, 8, 8), (16, 16, 16)),
            grid_map_method="NEAREST", grid_seed=3,
        )  # fmt: skip
    assert _file_config(summary.output) == expected
    with pytest.raises(ConfigError, match="grid_augmentation_count must be >= 0"):
        config_from_keywords(grid_augmentation_count=-1)
    with pytest.raises(ConfigError, match=r"cpu_count: \[processing\]: cpu_count must be"):
        config_from_keywords(cpu_count=0)
    with pytest.raises(TypeError, match="takes no other settings"):
        process(qc, expected, cpu_count=2)


def test_earlier_file_layout_is_read_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match=r"under \[processing\] are deprecated"):
        config = FeaturizeConfig.from_dict(
            {"processing": {"executor": "serial", "float_dtype": "float64"}}
        )
    assert config.storage.float_dtype == "float64" and config.processing.executor == "serial"


def test_config_attribute_of_files_written_before_the_typed_config():
    earlier = {
        "feature_modules": ["components"],
        "float_dtype": "float64",
        "compression": "lzf",
        "grid": {"points_counts": [8, 8, 8], "sizes": [16.0, 16.0, 16.0], "method": "NEAREST",
                 "augmentation_count": 1, "seed": 3},
        "shard": [1, 4],
    }  # fmt: skip
    config = FeaturizeConfig.from_file_attribute(json.dumps(earlier))
    assert config.storage == StorageOptions(float_dtype="float64", compression="lzf")
    assert config.processing.shard == (1, 4) and config.grid.method == "nearest"
    assert config.grid.augmentation_count == 1 and config.feature_modules == (
        ModuleSpec("components"),
    )
