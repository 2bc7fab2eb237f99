"""Networks: GNNs for graphs, 3D CNNs for grids, and the name → class registry.

>>> from deeprank_like.nn import build_model
>>> model = build_model("gine", {"num_node_features": 30, "num_edge_features": 5})
"""

from deeprank_like.nn.antisymmetric import AntisymmetricVariantNet
from deeprank_like.nn.betagm_gnn import ResidueGraphGNN
from deeprank_like.nn.cnn import CNN3D, CnnClassification, CnnRegression
from deeprank_like.nn.coulomb_cnn import CoulombCNN
from deeprank_like.nn.gnn import GCNNet, GINENet
from deeprank_like.nn.registry import (
    available_models,
    build_model,
    get_model_class,
    is_registered,
    model_config,
    model_name,
    record_config,
    register_model,
)

__all__ = [
    "CNN3D",
    "AntisymmetricVariantNet",
    "CnnClassification",
    "CnnRegression",
    "CoulombCNN",
    "GCNNet",
    "GINENet",
    "ResidueGraphGNN",
    "available_models",
    "build_model",
    "get_model_class",
    "is_registered",
    "model_config",
    "model_name",
    "record_config",
    "register_model",
]
