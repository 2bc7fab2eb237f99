"""``verify_files`` and ``deeprank-like merge --workers N``: inputs verified in parallel.

The listings must say what the merge's own verification says (a damaged entry is bad), and a
merge given them must write what a merge that verifies itself writes.
"""

from __future__ import annotations

import pytest

from deeprank_like.cli import main
from deeprank_like.processing import verify_files
from deeprank_like.storage import (
    FeatureFile,
    entry_name,
    list_entries,
    merge_files,
    read_failures,
    write_graph,
)
from deeprank_like.storage.files import open_h5
from deeprank_like.storage.integrity import check_file


@pytest.fixture
def parts(tmp_path, graph_file, flip):
    """Two feature files of three entries each; the second entry of the second is damaged."""
    with FeatureFile(graph_file) as ff:
        graphs = [ff.read_graph(q) for q in ff.entries[:6]]
    paths = [tmp_path / "a.hdf5", tmp_path / "b.hdf5"]
    for k, path in enumerate(paths):
        for g in graphs[3 * k : 3 * k + 3]:
            write_graph(path, g)
    flip(paths[1], entry_name(graphs[4].id), "positions")
    return [str(p) for p in paths], graphs[4].id


def test_listings_equal_the_merges_own_check(parts):
    paths, bad = parts
    listings = verify_files(paths, "serial")
    assert sorted(listings) == sorted(paths)
    for path in paths:
        with open_h5(path, "r") as f:
            own = check_file(f)
        got = listings[path]
        assert (got.good, got.bad.keys(), got.incomplete) == (
            own.good,
            own.bad.keys(),
            own.incomplete,
        )
    assert list(listings[paths[1]].bad) == [entry_name(bad)]


def test_a_merge_with_the_listings_writes_what_a_verifying_merge_writes(parts, tmp_path):
    paths, bad = parts
    plain = merge_files(paths, tmp_path / "plain.hdf5")
    listed = merge_files(paths, tmp_path / "listed.hdf5", verified=verify_files(paths, "serial"))
    assert [c[:2] for c in listed.corrupt] == [c[:2] for c in plain.corrupt] == [(bad, paths[1])]
    assert list_entries(tmp_path / "listed.hdf5") == list_entries(tmp_path / "plain.hdf5")
    assert read_failures(tmp_path / "listed.hdf5") == read_failures(tmp_path / "plain.hdf5")


def test_an_unreadable_input_is_left_to_the_merge(parts, tmp_path):
    paths, _ = parts
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not an HDF5 file")
    assert sorted(verify_files([*paths, str(junk)], "serial")) == sorted(paths)


def test_merge_command_with_workers(parts, tmp_path, capsys):
    paths, bad = parts
    out = tmp_path / "m.hdf5"
    assert main(["merge", "--workers", "2", "-o", str(out), *paths]) == 1  # one corrupt entry
    err = capsys.readouterr().err
    assert f"corrupt entry {bad!r}" in err
    assert len(list_entries(out)) == 5
    assert main(["merge", "--workers", "0", "-o", str(tmp_path / "n.hdf5"), *paths]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
