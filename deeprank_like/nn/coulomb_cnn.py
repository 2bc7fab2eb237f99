"""The 2D CNN of Giulini & Potestio (2019) on the Cα Coulomb matrix (``"coulomb_cnn"``).

Input: a batch whose ``x`` is (B, 1, L, L) or (B, L, L) (the Coulomb matrix of an L-residue window,
L = 100 in the paper; what :class:`~deeprank_like.data.coulomb_dataset.CoulombMatrixDataset`
items collate to); output (B, output_size) eigenvalue predictions (10 in the paper).

Architecture (from the paper; the choices it does not state are ours and marked *):

* three blocks of ``Conv2d(32 kernels, 5 × 5)`` → ReLU* → ``AvgPool2d(2 × 2)``; no padding*
  ("valid" convolutions: 100 → 96 → 48 → 44 → 22 → 18 → 9, so 32 · 9 · 9 = 2592 features);
* Dropout(25 %) → Dense 512 → ReLU* → Dropout(25 %) → Dense 128 → ReLU* → Dropout(25 %) →
  Dense ``output_size``.

Output scale (our addition, off by default). With ``target_log_mean`` and ``target_log_std`` (one
value per output, e.g. the training-set mean and standard deviation of ``log λ``), the last layer's
raw output z is mapped to ``exp(mean + std · z)``: predictions are positive and start at the
geometric mean of the training targets, which makes a MAPE loss on the original scale much easier to
optimise. The statistics are constructor arguments (plain lists), so checkpoints re-create the
network exactly. Without them the output is the raw linear layer, as in the paper.

The paper trains with Adagrad (lr 0.008), batch 400, MAPE loss, ≤ 100 epochs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from deeprank_like.errors import TrainingError
from deeprank_like.nn.registry import record_config, register_model

__all__ = ["CoulombCNN"]


def _conv_out(size: int, kernel: int, pool: int) -> int:
    return (size - kernel + 1) // pool


@register_model("coulomb_cnn")
class CoulombCNN(nn.Module):
    """Giulini & Potestio's CNN for the Cα Coulomb matrix.

    Parameters
    ----------
    input_size : int
        L, the side of the (L, L) input matrix (100 in the paper).
    output_size : int
        Number of predicted eigenvalues (10).
    channels : sequence of int
        Kernels of each convolutional block (paper: 32, 32, 32).
    kernel_size : int
        Convolution kernel side (5).
    pool_size : int
        Average-pooling window and stride (2).
    dense_sizes : sequence of int
        Hidden dense layers (512, 128).
    dropout : float
        Dropout before, between and after the dense layers (0.25).
    target_log_mean, target_log_std : sequence of float, optional
        Per-output mean and standard deviation of ``log(target)``; if given, the output is
        ``exp(mean + std · z)`` (see the module docstring).
    """

    def __init__(
        self,
        input_size: int = 100,
        output_size: int = 10,
        channels: Sequence[int] = (32, 32, 32),
        kernel_size: int = 5,
        pool_size: int = 2,
        dense_sizes: Sequence[int] = (512, 128),
        dropout: float = 0.25,
        target_log_mean: Sequence[float] | None = None,
        target_log_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        record_config(self, locals())
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        layers: list[nn.Module] = []
        size, in_ch = self.input_size, 1
        for out_ch in channels:
            size = _conv_out(size, int(kernel_size), int(pool_size))
            if size < 1:
                raise TrainingError(
                    f"input_size={input_size} is too small for {len(channels)} blocks of "
                    f"{kernel_size}x{kernel_size} convolutions and {pool_size}x{pool_size} pooling"
                )
            layers += [
                nn.Conv2d(in_ch, int(out_ch), int(kernel_size)),
                nn.ReLU(),
                nn.AvgPool2d(int(pool_size)),
            ]
            in_ch = int(out_ch)
        self.features = nn.Sequential(*layers)
        self.num_flat = in_ch * size * size
        head: list[nn.Module] = [nn.Flatten(), nn.Dropout(dropout)]
        width = self.num_flat
        for hidden in dense_sizes:
            head += [nn.Linear(width, int(hidden)), nn.ReLU(), nn.Dropout(dropout)]
            width = int(hidden)
        head.append(nn.Linear(width, self.output_size))
        self.head = nn.Sequential(*head)

        if (target_log_mean is None) != (target_log_std is None):
            raise TrainingError("give both target_log_mean and target_log_std, or neither")
        self.log_scaled = target_log_mean is not None
        if target_log_mean is not None and target_log_std is not None:
            mean = torch.as_tensor(list(target_log_mean), dtype=torch.float32)
            std = torch.as_tensor(list(target_log_std), dtype=torch.float32)
            if mean.shape != (self.output_size,) or std.shape != (self.output_size,):
                raise TrainingError(
                    f"target_log_mean/std need {self.output_size} values, got "
                    f"{tuple(mean.shape)} and {tuple(std.shape)}"
                )
            if not bool((std > 0).all()):
                raise TrainingError("target_log_std must be > 0")
            self.register_buffer("log_mean", mean)
            self.register_buffer("log_std", std)

    def forward(self, data: Batch | Tensor) -> Tensor:
        """(B, output_size) predictions for a batch (Data with ``x`` or a tensor)."""
        x = data if isinstance(data, Tensor) else data.x
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[-1] != self.input_size:
            raise TrainingError(
                f"CoulombCNN expects (B, 1, {self.input_size}, {self.input_size}) inputs, got "
                f"{tuple(x.shape)}"
            )
        z = self.head(self.features(x))
        if self.log_scaled:
            z = torch.exp(self.log_mean + self.log_std * z)
        return z
