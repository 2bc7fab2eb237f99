"""`CoulombMatrixDataset`: Cα Coulomb matrices of fixed-length windows with β-GM targets.

The input of the CNN of Giulini & Potestio (2019): for a window of L Cα atoms (L = 100),
``C_ij = 1 / |R_i − R_j|`` (Å⁻¹) off the diagonal and 0 on it, one channel
(:func:`deeprank_like.enm.coulomb_matrix`). It is invariant under rigid motions.

Items are PyG ``Data`` objects, like those of the HDF5 datasets:

* ``x``: float32 (1, L, L) — one channel (a batch collates to (B, L, L); :class:`CoulombCNN`
  accepts (B, L, L) and (B, 1, L, L));
* ``y``: float32 (1, K) — the K eigenvalues (a batch has (B, K)), absent when no targets are given;
* ``entry_id``: str — ``"<id>"`` or ``"<id>:rev"`` for a reversed copy.

Sequence-reversal augmentation (``augment_reverse=True``): the β-GM spectrum of a chain read
backwards is the same, and the reversed chain's Coulomb matrix is ``J C J`` (J the exchange
matrix, i.e. ``C[::-1, ::-1]``). Items ``0..n-1`` are the windows, ``n..2n-1`` their reverses, with
the same targets. Build the dataset from the windows of the *training folds* only: a window and its
reverse then always fall in the same fold (the split is decided on windows before augmenting).

The matrices are computed once, in ``__init__`` (100 × 100 float32 = 40 kB per window).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch_geometric.data import Data, Dataset

from deeprank_like.enm.windows import coulomb_matrix
from deeprank_like.errors import TrainingError

__all__ = ["CoulombMatrixDataset"]


class CoulombMatrixDataset(Dataset):
    """Coulomb matrices of Cα windows, with optional targets and reversal augmentation.

    Parameters
    ----------
    ca : sequence of array_like (L, 3), or array_like (n, L, 3)
        Cα coordinates in Å of each window; all windows have the same length L.
    targets : array_like (n, K), optional
        Eigenvalue targets (λ₇..λ₁₆); None for inference.
    ids : sequence of str, optional
        Entry ids (default ``"0"``, ``"1"``, ...).
    augment_reverse : bool
        Append the reversed window (``J C J``, same targets) of every window.
    """

    def __init__(
        self,
        ca: Sequence[ArrayLike] | ArrayLike,
        targets: ArrayLike | None = None,
        ids: Sequence[str] | None = None,
        augment_reverse: bool = False,
    ) -> None:
        super().__init__(root=None, transform=None, log=False)
        windows = [np.asarray(c, dtype=np.float64) for c in ca]
        if not windows:
            raise TrainingError("CoulombMatrixDataset needs at least one window")
        lengths = {w.shape for w in windows}
        if len(lengths) != 1 or windows[0].ndim != 2 or windows[0].shape[1] != 3:
            raise TrainingError(
                f"all windows must have the same shape (L, 3); got {sorted(lengths)}"
            )
        self.window_length = int(windows[0].shape[0])
        self.matrices = torch.from_numpy(np.stack([coulomb_matrix(w) for w in windows]))
        self.n_windows = len(windows)
        if targets is None:
            self.targets = None
        else:
            t = np.asarray(targets, dtype=np.float32)
            if t.ndim == 1:
                t = t[:, None]
            if t.shape[0] != self.n_windows:
                raise TrainingError(f"{t.shape[0]} targets for {self.n_windows} windows")
            self.targets = torch.from_numpy(t)
        self.ids = [str(i) for i in range(self.n_windows)] if ids is None else [str(i) for i in ids]
        if len(self.ids) != self.n_windows:
            raise TrainingError(f"{len(self.ids)} ids for {self.n_windows} windows")
        self.augment_reverse = bool(augment_reverse)

    @property
    def target_width(self) -> int:
        """K, the number of targets per item (0 without targets)."""
        return 0 if self.targets is None else int(self.targets.shape[1])

    def len(self) -> int:
        return self.n_windows * (2 if self.augment_reverse else 1)

    def get(self, idx: int) -> Data:
        """Item ``idx``: a window (``idx < n``) or the reverse of window ``idx − n``."""
        base, reverse = divmod(idx, self.n_windows)[1], idx >= self.n_windows
        m = self.matrices[base]
        if reverse:
            m = torch.flip(m, dims=(0, 1))  # J C J
        data = Data(x=m.unsqueeze(0), entry_id=self.ids[base] + (":rev" if reverse else ""))
        if self.targets is not None:
            data.y = self.targets[base].unsqueeze(0)
        return data
