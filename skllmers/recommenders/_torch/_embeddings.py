"""The embedding table of the users or the items, with the LLM hooks built in."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._hooks import Hooks

__all__ = ["ADAPTERS", "INIT_STD", "EntityEmbedding", "item_embedding", "user_embedding"]

INIT_STD = 0.1  # std of random initial embeddings (LLMEmbeddingInitializer matches it)
ADAPTERS = ("linear", "mlp")


class EntityEmbedding(nn.Module):
    """One vector per user (or item) code: ID embedding + LLM vectors + side features.

    The row of code ``c`` is the sum of the parts that are present:

    - a free ID embedding ``id[c]``: random (std 0.1), or the ``init_vectors`` as
      given (``mode="init"``), or zeros when ``frozen_vectors`` are present (a residual
      that starts at zero, so training starts from the LLM geometry);
    - ``adapter(frozen[c])``: fixed LLM vectors through a trainable linear map or small
      MLP (``mode="frozen"``; LLM-ESR, AlphaRec);
    - ``features[c] @ projection``: side features through a linear projection that
      starts at zero, so training starts from the model without features.

    Fixed inputs (frozen vectors, features) are centred (the mean of the rows that are
    not all zero is subtracted from them; all-zero rows, items without text, stay zero)
    and divided by their mean row norm once, so the adapters see unit-scale inputs
    whatever the encoder. Centring matters: a sentence encoder puts every text near
    one shared direction (all-MiniLM-L6-v2's movie titles have a mean pairwise cosine
    of about 0.4), which the adapter would map to one shared offset of every item's
    embedding. The linear adapter's bias can still learn such an offset.

    Parameters
    ----------
    n, dim : int
        Number of codes and embedding width.
    init_vectors : ndarray (n, dim), optional
    frozen_vectors : ndarray (n, D), optional
    add_id : bool, default=True
        With ``frozen_vectors``, also learn the ID embedding.
    adapter : {"linear", "mlp"}, default="linear"
    features : ndarray (n, F), optional
    init_std : float, default=INIT_STD
        Std of a random ID embedding.
    """

    def __init__(self, n: int, dim: int, *, init_vectors=None, frozen_vectors=None,
                 add_id: bool = True, adapter: str = "linear", features=None,
                 init_std: float = INIT_STD):
        super().__init__()
        self.n, self.dim = n, dim
        self.id = None
        if frozen_vectors is None or add_id:
            self.id = nn.Parameter(_id_table(n, dim, init_vectors, init_std,
                                             zeros=frozen_vectors is not None))
        self.register_buffer("frozen", _unit_scale(frozen_vectors))
        self.adapter = None if frozen_vectors is None else _adapter(
            adapter, frozen_vectors.shape[1], dim)
        self.register_buffer("features", _unit_scale(features))
        self.projection = None if features is None else nn.Parameter(
            torch.zeros(features.shape[1], dim))

    def forward(self, codes: torch.Tensor | None = None) -> torch.Tensor:
        """Rows of ``codes`` (any shape; a trailing ``dim`` axis is added), or all rows."""
        parts = []
        if self.id is not None:
            parts.append(self.id if codes is None else _rows(self.id, codes))
        if self.frozen is not None:
            vectors = self.frozen if codes is None else _rows(self.frozen, codes)
            parts.append(self.adapter(vectors))
        if self.features is not None:
            features = self.features if codes is None else _rows(self.features, codes)
            parts.append(features @ self.projection)
        out = parts[0]
        for part in parts[1:]:
            out = out + part
        return out


def item_embedding(n_items: int, dim: int, hooks: Hooks, adapter: str,
                   init_std: float = INIT_STD) -> EntityEmbedding:
    """The item table of a model, from the ``item_embeddings`` / ``item_features`` hooks."""
    return _table(n_items, dim, hooks.item_embeddings, hooks.item_features, adapter, init_std)


def user_embedding(n_users: int, dim: int, hooks: Hooks, adapter: str,
                   init_std: float = INIT_STD) -> EntityEmbedding:
    """The user table of a model, from the ``user_embeddings`` / ``user_features`` hooks."""
    return _table(n_users, dim, hooks.user_embeddings, hooks.user_features, adapter, init_std)


def _table(n: int, dim: int, init, features, adapter: str, init_std: float) -> EntityEmbedding:
    return EntityEmbedding(
        n, dim,
        init_vectors=init.vectors if init is not None and init.mode == "init" else None,
        frozen_vectors=init.vectors if init is not None and init.mode == "frozen" else None,
        add_id=True if init is None else init.add_id_embedding,
        adapter=adapter,
        features=features,
        init_std=init_std,
    )


def _rows(table: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    return table.index_select(0, codes.reshape(-1)).view(*codes.shape, table.shape[1])


def _id_table(n: int, dim: int, init_vectors, std: float, zeros: bool) -> torch.Tensor:
    if init_vectors is not None:
        return torch.tensor(np.asarray(init_vectors, dtype=np.float32))
    if zeros:
        return torch.zeros(n, dim)
    return nn.init.normal_(torch.empty(n, dim), std=std)


def _unit_scale(matrix):
    """``matrix`` centred on its non-zero rows' mean (zero rows stay zero) and divided
    by the mean norm of the centred non-zero rows, as a float32 tensor; or None."""
    if matrix is None:
        return None
    matrix = np.array(matrix, dtype=np.float32)
    present = np.linalg.norm(matrix, axis=1) > 0
    if present.sum() > 1:
        matrix[present] -= matrix[present].mean(axis=0)
    norms = np.linalg.norm(matrix[present], axis=1)
    scale = norms.mean() if norms.size and norms.mean() > 0 else 1.0
    return torch.tensor(matrix / np.float32(scale))


def _adapter(kind: str, n_in: int, n_out: int) -> nn.Module:
    if kind == "linear":
        linear = nn.Linear(n_in, n_out)
        nn.init.normal_(linear.weight, std=INIT_STD)  # unit-norm input -> std-0.1 output
        nn.init.zeros_(linear.bias)
        return linear
    if kind == "mlp":
        hidden = 2 * n_out
        return nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, n_out))
    raise ValueError(f"adapter={kind!r}; use one of {ADAPTERS}.")
