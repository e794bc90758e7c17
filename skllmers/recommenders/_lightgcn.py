"""LightGCN: embeddings propagated over the user-item graph, trained with BPR."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from sklearn.utils._param_validation import Interval
from torch import nn

from ._torch._base import (
    COMMON_ATTRIBUTES,
    COMMON_PARAMETERS,
    TorchRecommender,
    guidance_loss,
    to_numpy,
)
from ._torch._embeddings import EntityEmbedding, item_embedding, user_embedding
from ._torch._graph import normalized_adjacency, propagate
from ._torch._hooks import Hooks
from ._torch._losses import l2_penalty
from ._torch._pairwise import BatchItemRows, PairwiseSampler, pairwise_loss
from ._torch._rows import TrainingRows
from ._torch._sampling import KnownPairs

__all__ = ["LightGCNRecommender"]


class _LightGCN(nn.Module):
    def __init__(self, users: EntityEmbedding, items: EntityEmbedding, n_layers: int):
        super().__init__()
        self.users, self.items, self.n_layers = users, items, n_layers

    def forward(self, adjacency: torch.Tensor, masked: torch.Tensor | None = None,
                mask_input=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Propagated user and item tables; ``masked`` nodes start from ``mask_input``."""
        ego = torch.cat([self.users(), self.items()])
        if masked is not None:
            ego = mask_input(ego, masked)
        final = propagate(adjacency, ego, self.n_layers)
        return final[:self.users.n], final[self.users.n:]


@dataclass
class _State:
    module: _LightGCN
    sampler: PairwiseSampler
    adjacency: torch.Tensor


class LightGCNRecommender(TorchRecommender):
    __doc__ = """LightGCN: user and item embeddings smoothed over the interaction graph.

    Each user and item has an embedding (layer 0); a layer replaces every node's
    embedding by the sum of its neighbours', weighted by ``1 / sqrt(deg(u) deg(i))``
    (symmetric normalisation, sparse products in ``torch.sparse``); the final
    representation is the mean of the layers 0..``n_layers`` (He et al., 2020).
    Training propagates the whole graph at every step and ranks with BPR (by
    default); the L2 penalty applies to the layer-0 rows of the batch, as in the paper.
    After ``fit`` the propagated representations are the numpy ``user_factors_`` and
    ``item_factors_``: serving is a matrix product.

    Parameters
    ----------
    n_factors : int, default=64
        Width of the embeddings.
    n_layers : int, default=3
        Propagation layers (0 gives BPR matrix factorisation).
{common}

    Attributes
    ----------
{attributes}

    See Also
    --------
    BPRRecommender : The same embeddings without propagation.

    Notes
    -----
    The graph's edges are the training rows; an edge's weight is the sum of its rows'
    weights, so augmented rows are edges as strong as their weight (rows of weight 0
    are dropped). Artifacts are used as by :class:`BPRRecommender`, on the layer-0
    embeddings: ``"item_embeddings"`` and ``"user_embeddings"`` (``init`` /
    ``frozen``), ``"item_features"`` and
    ``"user_features"``, ``"negatives"``; the ``"guidance"`` loss aligns the
    propagated representations, and its ``"generative"`` kind replaces the layer-0
    embedding of the masked users and items by a learned mask token, so they are
    reconstructed from their neighbourhood (RLMRec-Gen).

    References
    ----------
    X. He, K. Deng, X. Wang, Y. Li, Y. Zhang and M. Wang, "LightGCN: Simplifying and
    Powering Graph Convolution Network for Recommendation", SIGIR 2020.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import LightGCNRecommender
    >>> df = pd.DataFrame({{"user_id": [1, 1, 2, 2, 3, 3, 4],
    ...                    "item_id": ["a", "b", "a", "b", "c", "d", "c"]}})
    >>> model = LightGCNRecommender(n_factors=8, n_layers=2, epochs=50, batch_size=4,
    ...                             learning_rate=0.05, random_state=0)
    >>> model = model.fit(InteractionData.from_pandas(df))
    >>> model.user_factors_.shape
    (4, 8)
    >>> model.recommend([4], k=1)["item_id"].tolist()
    ['d']
    """.format(
        common=COMMON_PARAMETERS.format(
            epochs=30, batch_size=4096, learning_rate=2e-2, weight_decay=1e-4, loss="bpr",
            batch_unit="Rows (samples)",
            validation="Share of the real (not augmented) training rows held out for "
                       "early stopping (they are not edges of the graph)."),
        attributes=COMMON_ATTRIBUTES,
    )

    _parameter_constraints: dict = {
        **TorchRecommender._parameter_constraints,
        "n_layers": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, n_factors=64, *, n_layers=3, epochs=30, batch_size=4096,
                 learning_rate=2e-2, weight_decay=1e-4, loss="bpr", n_negatives=None,
                 adapter="linear", early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, device="auto", random_state=None, verbose=False):
        self.n_factors = n_factors
        self.n_layers = n_layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.loss = loss
        self.n_negatives = n_negatives
        self.adapter = adapter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _setup(self, train: TrainingRows, rows: TrainingRows, hooks: Hooks) -> _State:
        module = _LightGCN(
            user_embedding(rows.n_users, self.n_factors, hooks, self.adapter),
            item_embedding(rows.n_items, self.n_factors, hooks, self.adapter),
            self.n_layers,
        ).to(self.device_)
        known = KnownPairs(rows.users, rows.items, rows.n_users, rows.n_items)
        sampler = PairwiseSampler(train, known, hooks.negatives, loss=self.loss,
                                  n_negatives=self._negatives_per_sample(),
                                  batch_size=self.batch_size, device=self.device_)
        return _State(module, sampler, normalized_adjacency(train, self.device_))

    def _batches(self, state: _State, rng: np.random.Generator):
        return state.sampler.epoch(rng)

    def _batch_loss(self, state: _State, batch, guidance) -> torch.Tensor:
        module = state.module
        codes = {"users": batch.users, "items": batch.items}
        picks = {}
        if guidance is not None:
            picks = {side: guidance.select(side, c) for side, c in codes.items()}
        masked = _masked_nodes(guidance, picks, codes, module.users.n)
        users, items = module(state.adjacency, masked,
                              None if guidance is None else guidance.masked_input)
        user_rows = users.index_select(0, batch.users)
        loss, positive_rows, _ = pairwise_loss(self.loss, batch, user_rows,
                                               lambda codes: items.index_select(0, codes))
        if self.weight_decay:
            loss = loss + self.weight_decay * self._ego_penalty(module, batch)
        if picks:
            term = guidance_loss(guidance, picks, codes,
                                 {"users": user_rows, "items": positive_rows})
            loss = loss if term is None else loss + term
        return loss

    @staticmethod
    def _ego_penalty(module: _LightGCN, batch) -> torch.Tensor:
        rows = [module.users(batch.users), *BatchItemRows(batch, module.items).used()]
        return l2_penalty(rows, len(batch.users))

    @torch.no_grad()
    def _factors(self, state: _State, serving: bool):
        state.module.eval()
        users, items = state.module(state.adjacency)
        return to_numpy(users), to_numpy(items)


def _masked_nodes(guidance, picks: dict, codes: dict, n_users: int):
    """Graph nodes whose layer-0 embedding the generative guidance masks, or None."""
    if guidance is None or guidance.kind != "generative":
        return None
    nodes = [codes[side][p] + (n_users if side == "items" else 0)
             for side, p in picks.items() if p is not None]
    return torch.cat(nodes) if nodes else None
