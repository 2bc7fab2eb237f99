"""3D convolutional networks for grids.

Input: a batch whose ``x`` is (B, C, nx, ny, nz) (what :class:`~deeprank_like.data.GridDataset`
items collate to); output (B, output_size).

* :class:`CNN3D` (``"cnn3d"``): ``len(channels)`` blocks of Conv3d(k=3, padding 1) → ReLU →
  MaxPool3d(2), flatten, MLP head. Regression: ``output_size=1``; classification:
  ``output_size=len(classes)`` logits (or 1 logit with BCE).
* :class:`CnnRegression` (``"cnn_regression"``) / :class:`CnnClassification`
  (``"cnn_classification"``): CNN3D with the DeepRank2-like defaults of each task.
"""

from __future__ import annotations

from math import prod

from torch import Tensor, nn
from torch_geometric.data import Batch

from deeprank_like.errors import TrainingError
from deeprank_like.nn.gnn import apply_output_activation, check_output_activation
from deeprank_like.nn.registry import record_config, register_model

__all__ = ["CNN3D", "CnnClassification", "CnnRegression"]


def _grid_input(data: Batch | Tensor) -> Tensor:
    return data if isinstance(data, Tensor) else data.x


@register_model("cnn3d")
class CNN3D(nn.Module):
    """Small 3D CNN.

    Parameters
    ----------
    num_channels : int
        Input channels C (grid feature columns).
    grid_shape : list of int
        (nx, ny, nz) points of the grid.
    output_size : int
    channels : list of int
        Output channels of each conv block (each halves the grid with MaxPool3d(2)).
    hidden_size : int
        Width of the head's hidden layer.
    dropout : float
    output_activation : {"none", "sigmoid"}
        ``"sigmoid"``: outputs in (0, 1), for bounded regression targets (DockQ, Fnat).
    """

    def __init__(
        self,
        num_channels: int,
        grid_shape: list[int] | tuple[int, int, int],
        output_size: int = 1,
        channels: list[int] | tuple[int, ...] = (8, 16),
        hidden_size: int = 64,
        dropout: float = 0.0,
        output_activation: str = "none",
    ) -> None:
        super().__init__()
        record_config(self, locals())
        self.output_activation = check_output_activation(output_activation)
        self.num_channels = int(num_channels)
        self.grid_shape = tuple(int(n) for n in grid_shape)
        self.output_size = int(output_size)
        if len(self.grid_shape) != 3:
            raise TrainingError(f"grid_shape must be (nx, ny, nz), got {grid_shape}")
        layers: list[nn.Module] = []
        c_in = self.num_channels
        shape: tuple[int, ...] = self.grid_shape
        for c_out in channels:
            if min(shape) < 2:
                raise TrainingError(
                    f"grid {self.grid_shape} is too small for {len(channels)} pooling blocks"
                )
            layers += [nn.Conv3d(c_in, int(c_out), 3, padding=1), nn.ReLU(), nn.MaxPool3d(2)]
            c_in = int(c_out)
            shape = tuple(n // 2 for n in shape)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * prod(shape), int(hidden_size)),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(int(hidden_size), self.output_size),
        )

    def forward(self, data: Batch | Tensor) -> Tensor:
        """(B, output_size) outputs for a batch (or a (B, C, nx, ny, nz) tensor)."""
        out = self.head(self.features(_grid_input(data)))
        return apply_output_activation(out, self.output_activation)


@register_model("cnn_regression")
class CnnRegression(CNN3D):
    """:class:`CNN3D` with one output."""

    def __init__(
        self,
        num_channels: int,
        grid_shape: list[int] | tuple[int, int, int],
        output_size: int = 1,
        channels: list[int] | tuple[int, ...] = (4, 8),
        hidden_size: int = 84,
        dropout: float = 0.0,
        output_activation: str = "none",
    ) -> None:
        super().__init__(
            num_channels, grid_shape, output_size, channels, hidden_size, dropout, output_activation
        )
        record_config(self, locals())


@register_model("cnn_classification")
class CnnClassification(CNN3D):
    """:class:`CNN3D` with two logits by default (cross-entropy over classes)."""

    def __init__(
        self,
        num_channels: int,
        grid_shape: list[int] | tuple[int, int, int],
        output_size: int = 2,
        channels: list[int] | tuple[int, ...] = (4, 8),
        hidden_size: int = 84,
        dropout: float = 0.0,
        output_activation: str = "none",
    ) -> None:
        super().__init__(
            num_channels, grid_shape, output_size, channels, hidden_size, dropout, output_activation
        )
        record_config(self, locals())
