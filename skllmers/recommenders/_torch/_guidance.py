"""The guidance loss: align a model's user/item embeddings with LLM targets (RLMRec)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..._artifacts import GuidanceTargets
from ._device import seeded_torch

__all__ = ["GuidanceHead", "MAX_ALIGNED_ROWS", "nearest_neighbors", "refuse_generative"]

MAX_ALIGNED_ROWS = 1024  # distinct users (items) aligned per batch: bounds InfoNCE's cost
SIDES = ("users", "items")


class GuidanceHead(nn.Module):
    """Alignment loss between a model's embeddings and LLM-side targets.

    ``kind="contrastive"`` (RLMRec-Con): InfoNCE between the model embeddings of a
    batch's users (items) and an MLP projection of their targets, the other rows of the
    batch being the negatives. ``kind="generative"`` (RLMRec-Gen): a share
    ``mask_ratio`` of the batch's users (items) is masked, an MLP decodes their
    embeddings to the target space, and the same InfoNCE scores the reconstruction
    against the targets, as RLMRec does. Only a model whose representation is computed
    from context (LightGCN's graph) can take it: it replaces the masked rows' own
    embedding by a learned mask token first (see ``masked_input``). Models with no such
    context (BPR, SASRec) refuse the generative kind (:func:`refuse_generative`). Both
    kinds use the targets' ``temperature``.

    ``kind="distillation"`` (retrieval self-distillation, after LLM-ESR): each user
    (item) with a target has its ``n_neighbors`` nearest users (items) in target space;
    the loss is the cosine distance between a row's embedding and the mean of its
    neighbours' embeddings, as the model last computed them (a memory bank refreshed
    with every batch's rows and detached: the neighbours teach, they are not pulled).
    A row none of whose neighbours has been seen yet contributes nothing. Rows with
    few interactions, whose own signal is weak, borrow from similar ones: the long
    tail is where LLM-ESR reports the gain.

    Each batch aligns at most :data:`MAX_ALIGNED_ROWS` distinct users and items that
    have a target (rows of all zeros have none), drawn at random. The head has its
    own random generator, so it never changes the draws of the model it guides.

    Parameters
    ----------
    targets : GuidanceTargets
    dim : int
        The model's embedding width.
    seed : int
        Seeds the head's parameters and its choice of rows.
    device : torch.device
    """

    def __init__(self, targets: GuidanceTargets, dim: int, seed: int, device: torch.device):
        super().__init__()
        self.kind = targets.kind
        self.weight = float(targets.weight)
        self.temperature = float(targets.temperature)
        self.mask_ratio = float(targets.mask_ratio)
        self.n_neighbors = int(targets.n_neighbors)
        self._generator = torch.Generator(device=device)
        self._generator.manual_seed(seed)
        with seeded_torch(seed, device):  # leaves the guided model's random stream alone
            for side, matrix in zip(SIDES, (targets.user_targets, targets.item_targets),
                                    strict=True):
                if matrix is not None:
                    self._add_side(side, torch.as_tensor(matrix), dim)
        self.mask_token = nn.Parameter(torch.zeros(dim)) if self.kind == "generative" else None
        self.to(device)

    def _add_side(self, side: str, target: torch.Tensor, dim: int) -> None:
        has_target = target.abs().sum(dim=1) > 0
        if self.kind == "distillation":
            device = self._generator.device  # the search runs where the model trains
            neighbors = nearest_neighbors(target.to(device), has_target.to(device),
                                          self.n_neighbors)
            if neighbors is None:  # fewer than two rows with a target: nobody to learn from
                return
            self.register_buffer(f"{side}_neighbors", neighbors.cpu())
            self.register_buffer(f"{side}_bank", torch.zeros(len(target), dim))
            self.register_buffer(f"{side}_banked", torch.zeros(len(target), dtype=torch.bool))
            self.register_buffer(f"{side}_has_target", has_target)
            return
        self.register_buffer(f"{side}_target", F.normalize(target, dim=1))
        self.register_buffer(f"{side}_has_target", has_target)
        if self.kind == "contrastive":
            head = _mlp(target.shape[1], dim)  # projects the targets
        else:
            head = _mlp(dim, target.shape[1])  # decodes the embeddings
        self.add_module(f"{side}_head", head)

    def has_side(self, side: str) -> bool:
        return hasattr(self, f"{side}_has_target")

    def select(self, side: str, codes: torch.Tensor) -> torch.Tensor | None:
        """Positions in ``codes`` of the rows to align: distinct codes with a target.

        Contrastive: all of them (at most ``MAX_ALIGNED_ROWS``); generative: a share
        ``mask_ratio`` of them. ``None`` when this side has no targets.
        """
        if not self.has_side(side):
            return None
        unique, inverse = torch.unique(codes, return_inverse=True)
        first = torch.full((len(unique),), len(codes), device=codes.device, dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(len(codes), device=codes.device),
                              reduce="amin")
        first = first[getattr(self, f"{side}_has_target")[unique]]
        n_keep = len(first)
        if self.kind == "generative":
            n_keep = math.ceil(self.mask_ratio * n_keep)
        n_keep = min(n_keep, MAX_ALIGNED_ROWS)
        if n_keep < len(first):
            chosen = torch.randperm(len(first), generator=self._generator,
                                    device=self._generator.device)[:n_keep]
            first = first[chosen.to(first.device)]
        return first

    def loss(self, side: str, codes: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """Weighted alignment loss of ``embeddings`` (rows of ``codes``) on one side."""
        if len(codes) == 0:
            return embeddings.sum() * 0.0
        if self.kind == "distillation":
            return self.weight * self._distillation(side, codes, embeddings)
        target = getattr(self, f"{side}_target").index_select(0, codes)
        head = getattr(self, f"{side}_head")
        if self.kind == "contrastive":
            return self.weight * info_nce(embeddings, head(target), self.temperature)
        return self.weight * info_nce(head(embeddings), target, self.temperature)

    def _distillation(self, side: str, codes: torch.Tensor,
                      embeddings: torch.Tensor) -> torch.Tensor:
        """Mean cosine distance to the neighbours' banked embeddings; refreshes the bank."""
        bank = getattr(self, f"{side}_bank")
        banked = getattr(self, f"{side}_banked")
        neighbors = getattr(self, f"{side}_neighbors").index_select(0, codes)  # (B, k)
        seen = banked[neighbors].unsqueeze(2).to(bank.dtype)
        count = seen.sum(dim=1)  # (B, 1)
        teacher = (bank[neighbors] * seen).sum(dim=1) / count.clamp_min(1)
        taught = count.squeeze(1) > 0
        bank[codes] = embeddings.detach().to(bank.dtype)
        banked[codes] = True
        if not bool(taught.any()):
            return embeddings.sum() * 0.0
        similarity = F.cosine_similarity(embeddings[taught], teacher[taught].to(embeddings.dtype))
        return (1.0 - similarity).mean()

    def masked_input(self, table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``table`` with ``rows`` replaced by the learned mask token (generative only)."""
        mask = torch.zeros(len(table), 1, dtype=torch.bool, device=table.device)
        mask[rows] = True
        return torch.where(mask, self.mask_token.to(table.dtype), table)


def refuse_generative(guidance: GuidanceTargets | None, model_name: str) -> None:
    """Raise for ``kind="generative"`` guidance on a model with no context to mask.

    RLMRec-Gen masks a node's own embedding and reconstructs its LLM target from what
    the model computes around it (LightGCN's neighbours). A model whose user and item
    representations are their own table rows (BPR's, SASRec's item table) would either
    decode the unmasked row itself (no masking: the contrastive alignment by another
    name) or a mask token shared by every masked row (nothing to reconstruct from).
    """
    if guidance is None or guidance.kind != "generative":
        return
    raise ValueError(
        f"GuidanceTargets(kind='generative') is RLMRec-Gen: it masks an embedding and "
        f"reconstructs its LLM target from the graph around it, and {model_name} has no "
        "context to reconstruct a masked user or item from (its representations are its "
        "own table rows). Use kind='contrastive' (RLMRec-Con) or kind='distillation' "
        f"with {model_name}, or LightGCNRecommender for kind='generative'."
    )


def nearest_neighbors(target: torch.Tensor, has_target: torch.Tensor, k: int,
                      chunk: int = 2048) -> torch.Tensor | None:
    """The ``k`` rows nearest to each row by cosine, among rows with a target (never itself).

    Rows without a target get neighbours too (they are never selected for a loss).
    Computed in chunks of ``chunk`` rows, so memory is ``chunk x n``. ``None`` when
    fewer than two rows have a target.
    """
    candidates = torch.nonzero(has_target).squeeze(1)
    k = min(k, len(candidates) - 1)
    if k < 1:
        return None
    unit = F.normalize(target.to(torch.float32), dim=1)
    keys = unit[candidates]
    neighbors = torch.empty(len(target), k, dtype=torch.long, device=target.device)
    for start in range(0, len(target), chunk):
        rows = torch.arange(start, min(start + chunk, len(target)), device=target.device)
        similarity = unit[rows] @ keys.T
        is_self = candidates.unsqueeze(0) == rows.unsqueeze(1)
        similarity.masked_fill_(is_self, float("-inf"))
        neighbors[rows] = candidates[similarity.topk(k, dim=1).indices]
    return neighbors


def info_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE: each query's own key against the other rows' keys (cosine / temperature)."""
    logits = F.normalize(queries, dim=1) @ F.normalize(keys, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(queries), device=queries.device))


def _mlp(n_in: int, n_out: int) -> nn.Sequential:
    """RLMRec's projector: two linear layers with a LeakyReLU in between."""
    hidden = (n_in + n_out) // 2
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(), nn.Linear(hidden, n_out))
