"""Packed training view (deeprank_like.storage.packed, deeprank_like.data.PackedGraphDataset):
items identical to GraphDataset's, stale sources refused, atomic writes, lazy workers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from deeprank_like.data import GraphDataset, PackedGraphDataset
from deeprank_like.errors import StorageError
from deeprank_like.storage.packed import PackedFile, StalePackedFileError, pack_graphs
from tests.datasets.conftest import assert_same_item

KW = {
    "node_features": ["res_type", "res_charge", "polarity", "res_mass"],  # not sorted
    "edge_features": ["electrostatic", "distance"],
    "target": "irmsd",
    "standardize": True,
    "transforms": {"res_mass": "log", "distance": {"name": "clip", "min": 3.0, "max": 8.0}},
}


def test_items_identical_to_graph_dataset(sources, packed):
    ref = GraphDataset(sources, **KW)
    ds = PackedGraphDataset(packed, **KW)
    assert len(ds) == len(ref) == 9
    assert ds.entry_ids() == ref.entry_ids()
    assert ds.node_columns == ref.node_columns and ds.edge_columns == ref.edge_columns
    assert ds.data_config() == ref.data_config()  # standardisation fitted identically
    for i in range(len(ref)):
        assert_same_item(ds[i], ref[i])
    assert ds.item_info(3)["file"] == ref.item_info(3)["file"] or Path(
        ds.item_info(3)["file"]
    ).samefile(ref.item_info(3)["file"])
    assert ds.item_info(3)["pdb_path"] == ref.item_info(3)["pdb_path"] is not None


def test_inherited_and_classification_items_identical(sources, packed):
    ref_train = GraphDataset(sources, **KW)
    train = PackedGraphDataset(packed, **KW)
    ref_val = GraphDataset(sources, train_source=ref_train, subset=ref_train.entry_ids()[:4])
    val = PackedGraphDataset(packed, train_source=train, subset=train.entry_ids()[:4])
    # a packed set also inherits from a GraphDataset or its data config, and back
    cross = PackedGraphDataset(packed, train_source=ref_train.data_config())
    back = GraphDataset(sources, train_source=train.data_config())
    for i in range(len(ref_val)):
        assert_same_item(val[i], ref_val[i])
        assert_same_item(cross[i], ref_val[i])
        assert_same_item(back[i], ref_val[i])
    ref_c = GraphDataset(sources, target="capri", task="classif", node_features=["res_type"])
    ds_c = PackedGraphDataset(packed, target="capri", task="classif", node_features=["res_type"])
    assert ds_c.classes == ref_c.classes and list(ds_c.class_counts()) == list(ref_c.class_counts())
    for i in range(len(ref_c)):
        assert_same_item(ds_c[i], ref_c[i])


def test_unknown_feature_names_what_is_stored(packed):
    with pytest.raises(StorageError, match=r"\['nope'\] are not in the packed file.*res_type"):
        PackedGraphDataset(packed, node_features=["res_type", "nope"])
    with pytest.raises(StorageError, match="not a packed file"):
        PackedGraphDataset(PackedFile(packed).sources[0]["path"])


def test_stale_sources_refused(sources, tmp_path):
    src = [tmp_path / p.name for p in sources]
    for a, b in zip(sources, src, strict=True):
        shutil.copy2(a, b)
    out = pack_graphs(src, tmp_path / "view.h5")
    PackedGraphDataset(out, target="irmsd")  # fresh
    # touched but identical: the checksum says it is still fresh
    os.utime(src[0], ns=(time.time_ns(), time.time_ns() + 10**9))
    PackedGraphDataset(out, target="irmsd")
    # changed content: refused, naming the file and the fix
    with open(src[1], "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(StalePackedFileError, match=rf"stale: its source {src[1]}.*repack"):
        PackedGraphDataset(out, target="irmsd")
    PackedGraphDataset(out, target="irmsd", check_sources=False)  # explicit opt-out
    os.remove(src[0])
    with pytest.raises(StalePackedFileError, match=rf"source file {src[0]} is gone"):
        PackedGraphDataset(out, target="irmsd")


def test_repacked_under_a_worker_is_refused(sources, tmp_path):
    out = pack_graphs(sources, tmp_path / "view.h5")
    ds = PackedGraphDataset(out, target="irmsd")
    ds[0]
    ds.close()
    pack_graphs(sources[:1], out)  # replaced: other entries, other offsets
    with pytest.raises(StorageError, match="changed since it was opened"):
        ds[1]


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from deeprank_like.storage.packed import pack_graphs

    def progress(done, total):
        if done == 2:
            print("writing", flush=True)
            time.sleep(60)

    pack_graphs(sys.argv[1:-1], sys.argv[-1], progress=progress)
    """
)


def test_killed_writer_leaves_no_half_file(sources, tmp_path):
    out = tmp_path / "view.h5"
    old = pack_graphs(sources[:1], out)  # an older complete view under the name
    old_ids = PackedFile(old).entry_ids
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), *map(str, sources), str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        tmp = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
        assert tmp, "the writer writes beside the final name"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert PackedFile(out).entry_ids == old_ids  # the old view is served, intact
    with pytest.raises(StorageError, match="incomplete packed file|not a readable HDF5 file"):
        PackedFile(tmp[0])  # the half file is refused even when opened by its own name
    os.remove(out)
    with pytest.raises(StorageError, match="no such packed file"):
        PackedGraphDataset(out)


def test_workers_give_the_same_items(sources, packed):
    ds = PackedGraphDataset(packed, **KW)
    ds.prepare()
    expected = {ds[i].entry_id: ds[i] for i in range(len(ds))}
    ds.close()
    strategy = torch.multiprocessing.get_sharing_strategy()
    loader = DataLoader(ds, batch_size=2, shuffle=True, num_workers=2)
    seen = {}
    for batch in loader:
        for item in batch.to_data_list():
            assert item.entry_id not in seen
            seen[item.entry_id] = item
    assert sorted(seen) == sorted(expected)
    assert torch.multiprocessing.get_sharing_strategy() == strategy  # set in the workers only
    for eid, item in seen.items():
        assert_same_item(item, expected[eid])


def test_trainer_accepts_it_and_the_checkpoint_reads_graph_files(sources, packed, tmp_path):
    from deeprank_like.training import Trainer, build_model_for

    train = PackedGraphDataset(packed, **KW)
    torch.manual_seed(0)
    trainer = Trainer(build_model_for("gine", train), train, device="cpu", output_dir=tmp_path)
    history = trainer.train(2, batch_size=4, num_workers=2)
    losses = history[history.phase == "train"]["loss"].to_numpy()
    assert len(losses) == 2 and np.isfinite(losses).all()
    checkpoints = sorted(tmp_path.glob("*.pt"))
    assert checkpoints
    test = GraphDataset(sources, train_source=checkpoints[0])
    assert test.data_config() == train.data_config()
    mine = trainer.predict(PackedGraphDataset(packed, train_source=train))
    theirs = trainer.predict(test)
    assert list(mine["entry"]) == list(theirs["entry"])
    assert [Path(f).resolve() for f in mine["file"]] == [Path(f).resolve() for f in theirs["file"]]
    out = [c for c in theirs.columns if c.startswith("output")]
    assert out and np.array_equal(mine[out].to_numpy(), theirs[out].to_numpy())


def test_unfinished_file_refused(tmp_path):
    from deeprank_like.storage.packed import PackedWriter

    writer = PackedWriter(
        tmp_path / "view.h5",
        num_entries=1,
        num_nodes=2,
        num_edges=1,
        node_columns=[("a", 1)],
        edge_columns=[],
    )
    writer.add("e1", np.ones((2, 1)), np.zeros((1, 0)), np.array([[0, 1]]), np.zeros((2, 3)))
    writer._f.close()  # as a writer that died after its data, before commit()
    assert not (tmp_path / "view.h5").exists()
    with pytest.raises(StorageError, match="incomplete packed file"):
        PackedFile(writer.tmp)
    with pytest.raises(StorageError, match="1 entries, 2 nodes, 1 edges written; 2, 2, 1"):
        bad = PackedWriter(
            tmp_path / "v2.h5",
            num_entries=2,
            num_nodes=2,
            num_edges=1,
            node_columns=[("a", 1)],
            edge_columns=[],
        )
        bad.add("e1", np.ones((2, 1)), np.zeros((1, 0)), np.array([[0, 1]]), np.zeros((2, 3)))
        bad.commit()
    assert not any(p.name.startswith("v2.h5") for p in tmp_path.iterdir())


def test_split_fits_on_the_training_part_as_graph_dataset(sources, packed):
    from deeprank_like.data import split_dataset

    parts = split_dataset(PackedGraphDataset(packed, **KW), (0.6, 0.4), seed=0)
    ref = split_dataset(GraphDataset(sources, **KW), (0.6, 0.4), seed=0)
    assert parts[1].train_source is parts[0]  # validation inherits, never fits on itself
    assert parts[0].standardizer.to_dict() == ref[0].standardizer.to_dict()
    for mine, theirs in zip(parts, ref, strict=True):
        assert mine.entry_ids() == theirs.entry_ids()
        for i in range(len(theirs)):
            assert_same_item(mine[i], theirs[i])


def test_non_finite_source_values_refused_when_packing(sources, tmp_path):
    import h5py

    bad = tmp_path / "bad.hdf5"
    shutil.copy2(sources[0], bad)
    with h5py.File(bad, "a") as f:
        name = sorted(k for k in f if not k.startswith("_"))[1]
        data = f[name]["node_features"]["res_charge"]
        values = data[()]
        values[3] = np.nan
        data[...] = values
        eid = f[name].attrs.get("id", name)
        eid = eid.decode() if isinstance(eid, bytes) else str(eid)
    with pytest.raises(StorageError, match=rf"entry '{eid}': node feature 'res_charge' holds non"):
        pack_graphs(bad, tmp_path / "view.h5")
    assert not any(p.name.startswith("view.h5") for p in tmp_path.iterdir())
    ok = [e for e in PackedFile(pack_graphs(sources[0], tmp_path / "all.h5")).entry_ids if e != eid]
    assert PackedFile(pack_graphs(bad, tmp_path / "view.h5", subset=ok)).entry_ids == ok
