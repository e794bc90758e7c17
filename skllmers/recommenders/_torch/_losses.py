"""Ranking losses over a positive score and sampled negative scores, per sample."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "l2_penalty", "ranking_loss"]

LOSSES = ("bpr", "bce", "sampled_softmax")


def ranking_loss(kind: str, positive: torch.Tensor, negative: torch.Tensor,
                 valid: torch.Tensor | None = None) -> torch.Tensor:
    """Loss of each sample from its positive score and its negatives' scores.

    Parameters
    ----------
    kind : {"bpr", "bce", "sampled_softmax"}
        ``"bpr"``: ``-log sigmoid(pos - neg)``, averaged over the negatives (Rendle et
        al., 2009). ``"bce"``: ``-log sigmoid(pos) - log sigmoid(-neg)``, the
        negatives' term averaged (SASRec). ``"sampled_softmax"``: cross-entropy of the
        positive against the negatives, ``logsumexp([pos, neg]) - pos``.
    positive : Tensor of shape (B,)
    negative : Tensor of shape (B, K)
    valid : bool Tensor of shape (B, K), optional
        ``False`` where a negative does not count (no negative, or an accidental hit of
        the positive).

    Returns
    -------
    Tensor of shape (B,)
    """
    if kind == "sampled_softmax":
        if valid is not None:
            negative = negative.masked_fill(~valid, float("-inf"))
        logits = torch.cat([positive.unsqueeze(1), negative], dim=1)
        return torch.logsumexp(logits, dim=1) - positive
    if kind == "bpr":
        return _masked_mean(F.softplus(negative - positive.unsqueeze(1)), valid)
    if kind == "bce":
        return F.softplus(-positive) + _masked_mean(F.softplus(negative), valid)
    raise ValueError(f"loss={kind!r}; use one of {LOSSES}.")


def _masked_mean(values: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    if valid is None:
        return values.mean(dim=1)
    values = values.masked_fill(~valid, 0.0)
    return values.sum(dim=1) / valid.sum(dim=1).clamp_min(1)


def l2_penalty(rows: list[torch.Tensor], batch_size: int) -> torch.Tensor:
    """Half the squared norm of the embedding rows a batch used, per sample.

    The usual BPR / LightGCN regulariser: it shrinks only what the batch touched, so a
    rarely seen item is not pulled to zero between its updates.
    """
    return sum(_HalfSquaredNorm.apply(row) for row in rows) / batch_size


class _HalfSquaredNorm(torch.autograd.Function):
    """``0.5 * ||x||^2`` with the one-multiplication backward ``grad * x``.

    Autograd's own ``square().sum()`` takes several passes over ``x`` in the backward;
    this penalty is computed on every batch's rows, so the saving shows in an epoch.
    """

    @staticmethod
    def forward(ctx, rows):
        ctx.save_for_backward(rows)
        flat = rows.reshape(-1)
        return 0.5 * torch.dot(flat, flat)

    @staticmethod
    def backward(ctx, grad):
        (rows,) = ctx.saved_tensors
        return rows * grad
