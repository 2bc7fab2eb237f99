"""AntisymmetricVariantNet: f(B→A) == −f(A→B) exactly, before and after training."""

from __future__ import annotations

import io

import pytest
import torch
from torch_geometric.data import Batch, Data

from deeprank_like.errors import TrainingError
from deeprank_like.nn import build_model, model_config, model_name
from deeprank_like.nn.antisymmetric import AntisymmetricVariantNet, reverse_variant, swap_columns

# node layout: res_type (20) | diff_charge (1) | sasa (1) | variant_res (20) | diff_polarity (4)
NAMES = ["res_type", "diff_charge", "sasa", "variant_res", "diff_polarity"]
WIDTHS = {"res_type": 20, "diff_charge": 1, "sasa": 1, "variant_res": 20, "diff_polarity": 4}
F = sum(WIDTHS.values())


def _variant_graph(seed: int, n: int = 9, fe: int = 3) -> Data:
    g = torch.Generator().manual_seed(seed)
    types = torch.randint(0, 20, (n,), generator=g)
    x = torch.zeros(n, F)
    x[torch.arange(n), types] = 1.0  # res_type
    x[:, 21] = torch.rand(n, generator=g) * 100  # sasa, Å²
    x[torch.arange(n), 22 + types] = 1.0  # variant_res = own type off the variant node
    wt, var = int(types[0]), (int(types[0]) + 1 + seed) % 20
    if var == wt:
        var = (wt + 1) % 20
    x[0, 22:42] = 0.0
    x[0, 22 + var] = 1.0
    x[0, 20] = float(seed % 3) - 1.0  # diff_charge on the variant node only
    x[0, 42:46] = torch.tensor([1.0, -1.0, 0.0, 0.0])
    e = 14
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = torch.cat([ei, ei.flip(0)], 1)
    ea = torch.randn(e, fe, generator=g)
    return Data(x=x, edge_index=ei, edge_attr=torch.cat([ea, ea]), y=torch.tensor([[-1.5]]))


def _model(seed: int = 0, **kwargs) -> AntisymmetricVariantNet:
    torch.manual_seed(seed)
    cols = swap_columns(NAMES, WIDTHS)
    return AntisymmetricVariantNet(F, 3, hidden_size=16, **cols, **kwargs)


def _batch(k: int = 4) -> Batch:
    return Batch.from_data_list([_variant_graph(i) for i in range(k)])


def test_swap_columns_layout():
    cols = swap_columns(NAMES, WIDTHS)
    assert cols["wildtype_columns"] == list(range(20))
    assert cols["variant_columns"] == list(range(22, 42))
    assert cols["odd_columns"] == [20, 42, 43, 44, 45]
    with pytest.raises(TrainingError, match="variant_res"):
        swap_columns(["res_type"], {"res_type": 20})


def test_swap_is_an_exact_involution():
    model = _model()
    x = _batch().x
    assert not torch.equal(model.swap(x), x)
    assert torch.equal(model.swap(model.swap(x)), x)


@pytest.mark.parametrize(
    "norm",
    [
        {},
        {  # standardisation with non-zero means must not break the symmetry (applied after swap)
            "node_mean": [0.3] * F,
            "node_scale": [2.5] * F,
            "edge_mean": [0.1, -0.2, 0.7],
            "edge_scale": [1.0, 3.0, 0.5],
        },
    ],
)
def test_reverse_prediction_is_exactly_minus_direct(norm):
    model = _model(**norm).eval()
    batch = _batch()
    direct = model(batch)
    reverse = model(reverse_variant(batch, model))
    assert direct.shape == (4, 1)
    assert bool((direct != 0).all())  # a real prediction, not the trivial zero
    assert torch.equal(direct + reverse, torch.zeros_like(direct))
    # one graph alone gives the same antisymmetry (no batch-mate effects)
    one = Batch.from_data_list([_variant_graph(7)])
    assert torch.equal(model(one), -model(reverse_variant(one, model)))


def test_antisymmetry_survives_training_and_reload():
    model = _model(seed=1)
    batch = _batch(6)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(batch), batch.y)
        loss.backward()
        opt.step()
    model.eval()
    assert torch.equal(model(batch), -model(reverse_variant(batch, model)))
    # registry round trip; weights load with weights_only=True
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    clone = build_model(model_name(model), model_config(model))
    clone.load_state_dict(torch.load(buf, weights_only=True))
    clone.eval()
    assert model_name(model) == "antisymmetric_variant"
    assert torch.equal(clone(batch), model(batch))


def test_reverse_augmentation_gives_the_same_loss():
    model = _model(seed=2).eval()
    batch = _batch()
    rev = reverse_variant(batch, model)
    assert torch.equal(rev.y, -batch.y)
    direct = torch.nn.functional.mse_loss(model(batch), batch.y)
    reverse = torch.nn.functional.mse_loss(model(rev), rev.y)
    assert torch.equal(direct, reverse)


def test_no_change_means_zero():
    model = _model().eval()
    data = _variant_graph(3)
    data.x[0, 22:42] = data.x[0, 0:20]  # variant = wild type, no differences
    data.x[0, 20] = 0.0
    data.x[0, 42:46] = 0.0
    assert torch.equal(model(Batch.from_data_list([data])), torch.zeros(1, 1))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"wildtype_columns": [0, 1], "variant_columns": [2]}, "equal length"),
        ({"wildtype_columns": [0], "variant_columns": [0]}, "distinct"),
        ({"wildtype_columns": [0], "variant_columns": [F]}, "lie in"),
        ({"wildtype_columns": [0], "variant_columns": [1], "node_scale": [0.0] * F}, "> 0"),
    ],
)
def test_bad_configuration(kwargs, match):
    with pytest.raises(TrainingError, match=match):
        AntisymmetricVariantNet(F, 3, **kwargs)


def test_wrong_feature_width_is_reported():
    model = _model()
    batch = _batch()
    batch.x = batch.x[:, :-1]
    with pytest.raises(TrainingError, match="node feature columns"):
        model(batch)
