"""One name resolver (deeprank_like.resolve) and the six name tables that use it.

Each call site (feature modules, networks, grid map methods, optimisers, schedulers, losses)
accepts any case/underscore/dash spelling and the Python class name, and a typo is one error
of the site's type that lists every choice and names the closest one.
"""

from __future__ import annotations

import pytest
import torch

from deeprank_like.errors import (
    DeeprankLikeError,
    GridError,
    RegistryError,
    TrainingError,
)
from deeprank_like.resolve import closest_match, normalize_name, python_name, resolve, resolve_name


class Alpha:
    pass


def beta_function():
    pass


TABLE = {"alpha": Alpha, "beta": beta_function, "gamma_ray": "pkg.mod:GammaRayNet"}


# ---- the resolver ----------------------------------------------------------------------------
def test_normalize_name():
    assert normalize_name("Cross_Entropy-Loss") == "crossentropyloss"
    assert normalize_name("Cross_Entropy-Loss", ("loss",)) == "crossentropy"
    assert normalize_name("loss", ("loss",)) == "loss"  # a suffix never empties a name
    assert normalize_name("StepLR", ("lr",)) == "step"


def test_python_name():
    assert python_name(Alpha) == "Alpha"
    assert python_name(beta_function) == "beta_function"
    assert python_name("pkg.mod:Outer.Inner") == "Inner"
    assert python_name("no_colon") is None
    assert python_name(Alpha()) is None
    assert python_name(3) is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("alpha", "alpha"),
        ("ALPHA", "alpha"),
        (" Alpha ", "alpha"),
        ("beta_function", "beta"),
        ("Beta-Function", "beta"),
        ("gamma-ray", "gamma_ray"),
        ("GammaRay", "gamma_ray"),
        ("GammaRayNet", "gamma_ray"),
    ],
)
def test_spellings(query, expected):
    assert resolve_name(query, TABLE, what="thing", suffixes=("net",)) == expected


def test_resolve_returns_the_entry():
    assert resolve("ALPHA", TABLE, what="thing") is Alpha


def test_aliases_and_python_names_off():
    assert resolve_name("a", TABLE, what="thing", aliases={"a": "alpha"}) == "alpha"
    with pytest.raises(DeeprankLikeError, match="unknown thing 'Alpha'"):
        resolve_name("Alpha", {"alpha_x": Alpha}, what="thing", python_names=False)
    with pytest.raises(ValueError, match="alias 'a' names 'nope'"):
        resolve_name("zz", TABLE, what="thing", aliases={"a": "nope"})


def test_typo_lists_choices_and_closest():
    with pytest.raises(DeeprankLikeError) as info:
        resolve_name("alpah", TABLE, what="thing")
    assert str(info.value) == (
        "unknown thing 'alpah'; available: alpha, beta, gamma_ray. Did you mean 'alpha'?"
    )


def test_no_close_match_and_hint_and_error_type():
    with pytest.raises(GridError) as info:
        resolve_name("zzzz", ["aa", "bb"], what="thing", hint="see the docs", error=GridError)
    assert str(info.value) == "unknown thing 'zzzz'; available: aa, bb (see the docs)"


def test_non_string_query():
    with pytest.raises(DeeprankLikeError, match=r"unknown thing 3; available: alpha"):
        resolve_name(3, TABLE, what="thing")  # type: ignore[arg-type]


def test_exact_key_wins_and_ambiguity_is_an_error():
    table = {"my_net": 1, "mynet": 2}
    assert resolve_name("my_net", table, what="network") == "my_net"
    assert resolve_name("mynet", table, what="network") == "mynet"
    with pytest.raises(DeeprankLikeError, match="'My_Net' is ambiguous: it matches my_net, mynet"):
        resolve_name("My_Net", table, what="network")


def test_two_keys_for_one_entry_are_not_ambiguous():
    class MAELoss:
        pass

    table = {"mae": MAELoss, "l1": MAELoss}
    assert resolve_name("MAELoss", table, what="loss", suffixes=("loss",)) == "mae"
    assert resolve_name("L1", table, what="loss") == "l1"


def test_closest_match():
    assert closest_match("contacts", ["components", "contact"]) == "contact"
    assert closest_match("xyz", ["components", "contact"]) is None


# ---- the six call sites ----------------------------------------------------------------------
def test_feature_modules():
    from deeprank_like.features import resolve_module

    assert resolve_module("SecondaryStructure") is resolve_module("secondary_structure")
    assert resolve_module("Contact").name == "contact"
    with pytest.raises(RegistryError) as info:
        resolve_module("secondary_structur")
    msg = str(info.value)
    assert "unknown feature module 'secondary_structur'; available: " in msg
    assert "components, conservation, contact" in msg
    assert msg.endswith("Did you mean 'secondary_structure'?")


def test_networks():
    from deeprank_like.nn import GINENet, get_model_class

    assert get_model_class("GINE") is GINENet
    assert get_model_class("GINENet") is GINENet
    assert get_model_class("gine_net") is GINENet
    with pytest.raises(TrainingError) as info:
        get_model_class("gin")
    msg = str(info.value)
    assert "unknown network 'gin'; available: " in msg and "cnn3d, " in msg
    assert "Did you mean 'gine'?" in msg and "register_model" in msg


def test_grid_map_methods():
    from deeprank_like.grid.settings import MapMethod

    assert MapMethod.parse("Fast-Gaussian") is MapMethod.FAST_GAUSSIAN
    with pytest.raises(GridError) as info:
        MapMethod.parse("gausian")
    assert str(info.value) == (
        "unknown grid map method 'gausian'; available: exp_deeprank2, fast_gaussian, "
        "gaussian, nearest. Did you mean 'gaussian'?"
    )


def test_optimizers():
    from deeprank_like.training.optim import make_optimizer, optimizer_name

    assert optimizer_name("AdamW") == "adamw"
    assert optimizer_name("RMSprop") == "rmsprop"
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(params, "SGD", 0.1, 0.0), torch.optim.SGD)
    with pytest.raises(TrainingError) as info:
        optimizer_name("adamm")
    assert str(info.value) == (
        "unknown optimizer 'adamm'; available: adam, adamw, rmsprop, sgd. Did you mean "
        "'adam'? (or an Optimizer class)"
    )


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("plateau", "plateau"),
        ("ReduceLROnPlateau", "plateau"),
        ("reduce_lr_on_plateau", "plateau"),
        ("StepLR", "step"),
        ("step_lr", "step"),
        ("CosineAnnealingLR", "cosine"),
        ("Exponential", "exponential"),
    ],
)
def test_scheduler_spellings(spelling, name):
    from deeprank_like.training.optim import scheduler_name

    assert scheduler_name(spelling) == name


def test_scheduler_typo():
    from deeprank_like.training.optim import make_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    assert isinstance(make_scheduler("cosine", opt, 7), torch.optim.lr_scheduler.CosineAnnealingLR)
    assert make_scheduler("cosine", opt, 7).T_max == 7
    with pytest.raises(TrainingError) as info:
        make_scheduler("platau", opt, 3)
    assert str(info.value).startswith(
        "unknown scheduler 'platau'; available: cosine, exponential, plateau, step. "
        "Did you mean 'plateau'?"
    )


def test_losses():
    from deeprank_like.training.losses import make_loss

    assert make_loss("MSELoss", "regress").name == "mse"
    assert make_loss("cross-entropy", "classif").name == "cross_entropy"
    assert make_loss("BCEWithLogitsLoss", "classif").name == "bce_with_logits"
    with pytest.raises(TrainingError) as info:
        make_loss("hubber", "regress")
    msg = str(info.value)
    assert msg.startswith("unknown loss 'hubber'; available: bce_with_logits, cross_entropy, ")
    assert ", huber, " in msg and ", mse" in msg
    assert msg.endswith(". Did you mean 'huber'? (or a callable)")


def test_run_config_names(tmp_path):
    """The training config checks its names with the same resolver (any spelling works)."""
    from deeprank_like.training.config import load_config

    def config(training: str):
        path = tmp_path / "run.yaml"
        path.write_text(
            f"data: {{train: [x.hdf5]}}\nnetwork: {{name: GINE}}\ntraining: {training}\n"
        )
        return load_config(path)

    cfg = config("{optimizer: AdamW, scheduler: StepLR, loss: MSELoss}")
    assert (cfg.training.optimizer, cfg.training.scheduler) == ("AdamW", "StepLR")
    with pytest.raises(TrainingError) as info:
        config("{scheduler: cosin}")
    assert str(info.value) == (
        "training.scheduler must be null or one of ['plateau', 'cosine', 'step', "
        "'exponential'], got 'cosin'; did you mean 'cosine'?"
    )


def test_trainer_checks_names_at_construction(tmp_path):
    """A misspelt scheduler fails when the Trainer is built, not after the first epoch."""
    from deeprank_like.nn import GINENet
    from deeprank_like.training import Trainer

    model = GINENet(3, 2)
    trainer = Trainer(
        model, optimizer="AdamW", scheduler="ReduceLROnPlateau", device="cpu", output_dir=tmp_path
    )
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert trainer.metadata()["training"]["scheduler"] == "plateau"
    assert trainer.metadata()["training"]["optimizer"] == "adamw"
    with pytest.raises(TrainingError, match=r"unknown scheduler 'platau'.*Did you mean 'plateau'"):
        Trainer(model, scheduler="platau", device="cpu", output_dir=tmp_path)
    with pytest.raises(TrainingError, match=r"unknown optimizer 'adan'.*Did you mean 'adam'"):
        Trainer(model, optimizer="adan", device="cpu", output_dir=tmp_path)
