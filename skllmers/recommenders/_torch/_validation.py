"""Early stopping: NDCG@10 on held-out training rows, and the best epoch's weights."""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp
from torch import nn

from ...metrics import ndcg_at_k
from .._base import _SCORE_BATCH_CELLS, _mask_rows, _top_k_rows
from ._rows import TrainingRows

__all__ = ["EarlyStopping", "ValidationSet"]

K = 10


class ValidationSet:
    """Held-out rows to score a model with NDCG@10, as :meth:`BaseRecommender.score` does.

    Parameters
    ----------
    held_out : TrainingRows
        The validation rows (augmented ones are ignored).
    train : TrainingRows
        The rows the model trains on; their items are excluded from the rankings.
    """

    def __init__(self, held_out: TrainingRows, train: TrainingRows):
        real = held_out.subset(~held_out.augmented)
        shape = (train.n_users, train.n_items)
        self._seen = _csr(train.users, train.items, shape)
        relevant = _csr(real.users, real.items, shape)
        relevant = relevant - relevant.multiply(self._seen)
        relevant.eliminate_zeros()
        self.users = np.flatnonzero(np.diff(relevant.indptr))
        self._relevant = [relevant.indices[relevant.indptr[u]:relevant.indptr[u + 1]]
                          for u in self.users]

    def __len__(self) -> int:
        return len(self.users)

    def ndcg(self, user_factors: np.ndarray, item_factors: np.ndarray) -> float:
        """Mean NDCG@10 of the held-out users under these factors."""
        if len(self.users) == 0:
            return 0.0
        k = min(K, item_factors.shape[0])
        step = max(1, _SCORE_BATCH_CELLS // item_factors.shape[0])
        ranked = []
        for start in range(0, len(self.users), step):
            users = self.users[start:start + step]
            scores = user_factors[users] @ item_factors.T
            _mask_rows(scores, self._seen[users])
            ranked.append(_top_k_rows(scores, k))
        return float(ndcg_at_k(self._relevant, np.concatenate(ranked), k=K))


class EarlyStopping:
    """Stop after ``patience`` epochs without a better validation score; keep the best.

    Parameters
    ----------
    patience : int
        ``n_iter_no_change`` of the model.
    """

    def __init__(self, patience: int):
        self.patience = patience
        self.best_score = -np.inf
        self.best_epoch = -1
        self._best_states = None
        self._epochs_without_gain = 0

    def update(self, score: float, epoch: int, modules: list[nn.Module]) -> bool:
        """Record an epoch's score; ``True`` when training should stop."""
        if score > self.best_score:
            self.best_score, self.best_epoch = score, epoch
            self._best_states = [copy.deepcopy(m.state_dict()) for m in modules]
            self._epochs_without_gain = 0
        else:
            self._epochs_without_gain += 1
        return self._epochs_without_gain >= self.patience

    def restore_best(self, modules: list[nn.Module]) -> None:
        """Load the best epoch's weights back into ``modules``."""
        if self._best_states is not None:
            for module, state in zip(modules, self._best_states, strict=True):
                module.load_state_dict(state)


def _csr(users, items, shape) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
