"""Cheap candidate generators that narrow the catalogue before the LLM chooses.

A retriever is fitted on the training interactions and then proposes, for each user,
``n`` item codes the user has not interacted with, best first. The LLM only ever
sees these candidates, so the cost of an LLM choice does not grow with the catalogue.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone

__all__ = ["ItemKNNRetriever", "PopularityRetriever", "RecommenderRetriever", "make_retriever"]

_BATCH_CELLS = 2**23  # users x items scores held at once


class _ScoreRetriever:
    """Candidates = top-``n`` of a score matrix, with the user's own items removed."""

    def candidates(self, user_codes, n: int, exclude: sp.csr_matrix) -> np.ndarray:
        """Best ``n`` item codes per user not in ``exclude``; -1 pads short rows.

        Parameters
        ----------
        user_codes : ndarray of int
        n : int
        exclude : csr_matrix of shape (n_users, n_items)
            Items each user must not be offered (their training items).

        Returns
        -------
        ndarray of shape (len(user_codes), n), int64
        """
        user_codes = np.asarray(user_codes, dtype=np.int64)
        out = np.full((len(user_codes), n), -1, np.int64)
        step = max(1, _BATCH_CELLS // max(self.n_items_, 1))
        for start in range(0, len(user_codes), step):
            users = user_codes[start:start + step]
            scores = np.asarray(self._scores(users), dtype=np.float64)
            block = exclude[users]
            rows = np.repeat(np.arange(len(users)), np.diff(block.indptr))
            scores[rows, block.indices] = -np.inf
            out[start:start + step] = _top_n(scores, n)
        return out


class PopularityRetriever(_ScoreRetriever):
    """The most interacted-with items (the same list for every user, minus their own).

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.interaction._retrievers import PopularityRetriever
    >>> data = InteractionData.from_pandas(pd.DataFrame(
    ...     {"user_id": [1, 2, 2, 3], "item_id": ["a", "a", "b", "c"]}))
    >>> PopularityRetriever().fit(data).candidates([1], 2, data.to_csr()).tolist()
    [[2, -1]]
    """

    def fit(self, X):
        """Count each item's real interactions in ``X``; returns self."""
        real = ~X.augmented_mask()
        self.popularity_ = np.bincount(X.item_codes[real], minlength=X.n_items).astype(float)
        self.n_items_ = X.n_items
        return self

    def _scores(self, users):
        # Stable ties: among equally popular items, the lower code first.
        rank = self.popularity_ - np.arange(self.n_items_) * 1e-9
        return np.broadcast_to(rank, (len(users), self.n_items_)).copy()


class ItemKNNRetriever(_ScoreRetriever):
    """Items that co-occur with the user's items (cosine item-item similarity).

    A user's score for item ``j`` is the sum, over the items ``i`` they interacted
    with, of the cosine similarity of the columns ``i`` and ``j`` of the binary
    user-item matrix. The similarity matrix is never formed.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.interaction._retrievers import ItemKNNRetriever
    >>> data = InteractionData.from_pandas(pd.DataFrame(
    ...     {"user_id": [1, 1, 2, 3], "item_id": ["a", "b", "a", "c"]}))
    >>> ItemKNNRetriever().fit(data).candidates([1], 1, data.to_csr()).tolist()
    [[1]]
    """

    def fit(self, X):
        """Store the column-normalised binary matrix of ``X``'s real rows; returns self."""
        matrix = X.to_csr(values="ones", include_augmented=False)
        matrix.data[:] = 1.0
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        self.matrix_ = matrix
        self.normalized_ = sp.csr_matrix(matrix.multiply(1.0 / norms[None, :]))
        self.n_items_ = X.n_items
        return self

    def _scores(self, users):
        history = self.normalized_[users]
        return (history @ self.normalized_.T @ self.normalized_).toarray()


class RecommenderRetriever:
    """Candidates from a skllmers recommender, cloned and fitted on the training data.

    ``fit`` fits a clone of ``recommender`` on the real rows it is given, so the
    recommender passed in is never changed, its own fitted state (which may have
    seen held-out rows) is never used, and the augmenter survives ``clone`` and
    ``GridSearchCV``. Candidates seen by the user are dropped, so a user may get
    fewer than ``n``.

    Parameters
    ----------
    recommender : BaseRecommender
        A skllmers recommender (fitted or not).

    Attributes
    ----------
    recommender_ : BaseRecommender
        The clone fitted on the training data.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import PopularityRecommender
    >>> from skllmers.interaction._retrievers import RecommenderRetriever
    >>> data = InteractionData.from_pandas(pd.DataFrame(
    ...     {"user_id": [1, 2, 2, 3], "item_id": ["a", "a", "b", "c"]}))
    >>> retriever = RecommenderRetriever(PopularityRecommender()).fit(data)
    >>> retriever.candidates([0], 2, data.to_csr()).tolist()
    [[1, 2]]
    """

    def __init__(self, recommender):
        self.recommender = recommender

    def fit(self, X):
        """Fit a clone of the recommender on ``X``'s real rows; returns self."""
        if not (callable(getattr(self.recommender, "fit", None))
                and callable(getattr(self.recommender, "recommend", None))):
            raise TypeError(
                "retriever must be 'popularity', 'item_knn' or a skllmers recommender with "
                f"fit() and recommend() methods; got {type(self.recommender).__name__}."
            )
        real = X.take(~X.augmented_mask()) if X.augmented is not None else X
        self.recommender_ = clone(self.recommender).fit(real)
        self.user_ids_ = X.user_ids
        self.item_ids_ = X.item_ids
        return self

    def candidates(self, user_codes, n: int, exclude: sp.csr_matrix) -> np.ndarray:
        """Best ``n`` item codes per user not in ``exclude``; -1 pads short rows."""
        user_codes = np.asarray(user_codes, dtype=np.int64)
        out = np.full((len(user_codes), n), -1, np.int64)
        if len(user_codes) == 0:
            return out
        extra = int(np.diff(exclude.indptr)[user_codes].max())
        ranking = self.recommender_.recommend(self.user_ids_[user_codes], k=n + extra,
                                             exclude_seen=True, unknown="popular")
        ranking = ranking.assign(item_code=self.item_ids_.get_indexer(ranking["item_id"]))
        ranking = ranking[ranking["item_code"] >= 0]
        position = pd.Index(self.user_ids_[user_codes]).get_indexer(ranking["user_id"])
        for row, items in ranking.groupby(position, sort=False)["item_code"]:
            user = user_codes[row]
            seen = exclude.indices[exclude.indptr[user]:exclude.indptr[user + 1]]
            kept = items.to_numpy()[~np.isin(items.to_numpy(), seen)][:n]
            out[row, :len(kept)] = kept
        return out


def make_retriever(retriever):
    """A retriever object from the augmenter's ``retriever`` parameter (unfitted)."""
    if isinstance(retriever, str):
        known = {"popularity": PopularityRetriever, "item_knn": ItemKNNRetriever}
        if retriever not in known:
            raise ValueError(
                f"retriever={retriever!r}; use 'popularity', 'item_knn' or a skllmers "
                "recommender."
            )
        return known[retriever]()
    return RecommenderRetriever(retriever)


def _top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Column indices of each row's ``n`` best finite scores, best first; -1 padding."""
    n_eff = min(n, scores.shape[1])
    if n_eff < scores.shape[1]:
        part = np.argpartition(-scores, n_eff - 1, axis=1)[:, :n_eff]
    else:
        part = np.tile(np.arange(scores.shape[1]), (len(scores), 1))
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    best[~np.isfinite(np.take_along_axis(scores, best, axis=1))] = -1
    out = np.full((len(scores), n), -1, np.int64)
    out[:, :n_eff] = best
    return out
