"""The normalised user-item graph of LightGCN and its propagation (torch.sparse)."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from ._rows import TrainingRows

__all__ = ["normalized_adjacency", "propagate"]


def normalized_adjacency(rows: TrainingRows, device: torch.device) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of the bipartite graph, as a sparse CSR tensor.

    Nodes are the users (``0..n_users-1``) then the items. An edge's weight is the sum
    of its rows' weights; a node without edges has a zero row (no division by zero).
    """
    n_users, n = rows.n_users, rows.n_users + rows.n_items
    interactions = sp.csr_matrix((rows.weights, (rows.users, rows.items)),
                                 shape=(n_users, rows.n_items), dtype=np.float32)
    interactions.sum_duplicates()
    adjacency = sp.bmat([[None, interactions], [interactions.T, None]], format="csr",
                        dtype=np.float32)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    scaling = sp.diags(inv_sqrt.astype(np.float32))
    normalized = (scaling @ adjacency @ scaling).tocsr().astype(np.float32)
    normalized.sort_indices()
    # int32 indices take torch's fastest CPU kernel (MKL); CUDA gets the default int64
    index_dtype = np.int32 if device.type == "cpu" else np.int64
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
        warnings.filterwarnings("ignore", message=".*Sparse invariant checks.*")
        return torch.sparse_csr_tensor(
            torch.from_numpy(normalized.indptr.astype(index_dtype)),
            torch.from_numpy(normalized.indices.astype(index_dtype)),
            torch.from_numpy(normalized.data),
            size=(n, n),
        ).to(device)


class _SymmetricSpMM(torch.autograd.Function):
    """``A @ X`` for a symmetric sparse ``A``: the backward is ``A @ grad`` as well.

    torch's own backward transposes ``A`` on every call; the symmetry makes that
    unnecessary.
    """

    @staticmethod
    def forward(ctx, adjacency, dense):
        ctx.adjacency = adjacency
        return adjacency @ dense

    @staticmethod
    def backward(ctx, grad):
        return None, ctx.adjacency @ grad.contiguous()


def propagate(adjacency: torch.Tensor, embeddings: torch.Tensor, n_layers: int) -> torch.Tensor:
    """LightGCN: the mean of ``E, AE, A^2 E, ..., A^n_layers E``."""
    total, layer = embeddings, embeddings
    for _ in range(n_layers):
        layer = _SymmetricSpMM.apply(adjacency, layer)
        total = total + layer
    return total / (n_layers + 1)
