"""The estimator API shared by every recommender."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._artifacts import ARTIFACT_KEYS
from .._interaction_data import InteractionData, check_interaction_data
from ..metrics._ranking import ndcg_at_k

__all__ = ["BaseRecommender", "FactorModelMixin", "HeldOutRanking"]

_SCORE_BATCH_CELLS = 2**24  # users x items scored at once: ~64 MB of float32

#: The step that writes each artifact and the recommenders that train with it, for the
#: error a recommender raises when it is handed one it cannot use.
_ARTIFACT_USE = {
    "item_features": ("LLMSummaryFeaturizer", "LightFMRecommender, BPRRecommender, "
                      "LightGCNRecommender or SASRecRecommender"),
    "user_features": ("LLMSummaryFeaturizer", "LightFMRecommender, BPRRecommender or "
                      "LightGCNRecommender"),
    "item_embeddings": ("LLMEmbeddingInitializer", "ALSRecommender (mode='init'), "
                        "BPRRecommender, LightGCNRecommender or SASRecRecommender"),
    "user_embeddings": ("LLMEmbeddingInitializer(target='both')", "BPRRecommender or "
                        "LightGCNRecommender"),
    "guidance": ("GuidanceRegularizer", "BPRRecommender, LightGCNRecommender or "
                 "SASRecRecommender"),
    "negatives": ("LLMInteractionAugmenter(strategy=LLMSelect(sample_negatives=True))",
                  "BPRRecommender or LightGCNRecommender"),
}


@dataclass(frozen=True)
class HeldOutRanking:
    """Top-k lists of held-out users, with their relevant items (model codes).

    Attributes
    ----------
    user_codes : ndarray of shape (n_users,)
    recommended : ndarray of shape (n_users, k)
        Recommended item codes, best first; -1 where fewer than k items were rankable.
    relevant : list of ndarray
        Held-out item codes of each user, without items seen in training.
    """

    user_codes: np.ndarray
    recommended: np.ndarray
    relevant: list


class BaseRecommender(BaseEstimator, metaclass=ABCMeta):
    """Base class for skllmers recommenders.

    A recommender is fitted on an :class:`~skllmers.InteractionData` (``y`` is always
    ``None``) and then ranks the whole catalogue for a user. Subclasses implement
    ``_fit(X)`` and ``_score_users(user_codes)``; everything else — ``predict``,
    ``recommend``, ``similar_items``, ``score`` and mapping external ids — lives here.

    Serving never needs the training data again: what ``recommend`` uses is stored
    in fitted attributes (``seen_`` for the items to exclude).

    Fitted attributes set here (after :meth:`fit`):

    ``user_ids_``, ``item_ids_``
        The id maps of the training data (pandas Index; position = code).
    ``seen_``
        csr_matrix (n_users, n_items): the user's real training items (augmented rows
        excluded), removed from recommendations with ``exclude_seen=True``.
    ``item_popularity_``
        Training interaction count per item; the fallback ranking for unknown users.

    Examples
    --------
    A recommender needs only ``_fit`` and ``_score_users``:

    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import BaseRecommender
    >>> class MostPopular(BaseRecommender):
    ...     def _fit(self, X):
    ...         pass  # item_popularity_ is set by BaseRecommender.fit
    ...     def _score_users(self, user_codes):
    ...         return self.item_popularity_[None, :].repeat(len(user_codes), axis=0)
    >>> data = InteractionData.from_pandas(pd.DataFrame(
    ...     {"user_id": [1, 1, 2, 3], "item_id": ["a", "b", "a", "c"]}))
    >>> MostPopular().fit(data).recommend([2, 3], k=1)
       user_id item_id  score  rank
    0        2       b    1.0     1
    1        3       a    2.0     1
    """

    #: The artifact keys (see :class:`~skllmers.InteractionData`) the model trains with.
    #: ``fit`` raises on any other key of :data:`~skllmers._artifacts.ARTIFACT_KEYS`, so
    #: an enhancer's work is never dropped without a word.
    _artifacts_read: frozenset = frozenset()
    #: Extra advice per artifact key for that error (e.g. what to attach instead).
    _artifact_hints: dict = {}

    def fit(self, X, y=None):
        """Fit the recommender on interactions ``X``.

        Parameters
        ----------
        X : InteractionData
            Training interactions (possibly enhanced by Pipeline steps before this one).
            An enhancer artifact the model cannot train with raises a ``ValueError``
            naming the recommenders that can.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        self
        """
        X = check_interaction_data(X, "fit")
        self._check_artifacts(X)
        self._remember_training_data(X)
        self._fit(X)
        return self

    @abstractmethod
    def _fit(self, X: InteractionData) -> None:
        """Learn the model's parameters from ``X``."""

    @abstractmethod
    def _score_users(self, user_codes: np.ndarray) -> np.ndarray:
        """Scores of every item for each user code: float array (len(user_codes), n_items_)."""

    def _check_artifacts(self, X: InteractionData) -> None:
        for key in ARTIFACT_KEYS:
            if key not in X.artifacts or key in self._artifacts_read:
                continue
            writer, readers = _ARTIFACT_USE[key]
            hint = self._artifact_hints.get(key, "")
            raise ValueError(
                f"The data carries a {key!r} artifact (from {writer}), which "
                f"{type(self).__name__} cannot train with. {hint}{' ' if hint else ''}"
                f"Use {readers}, or remove that step from the pipeline."
            )

    def _remember_training_data(self, X: InteractionData) -> None:
        self.user_ids_ = X.user_ids
        self.item_ids_ = X.item_ids
        seen = X.to_csr(values="ones", include_augmented=False)
        seen.data[:] = 1.0
        self.seen_ = seen
        self.item_popularity_ = np.asarray(seen.sum(axis=0)).ravel()

    @property
    def n_users_(self) -> int:
        return len(self.user_ids_)

    @property
    def n_items_(self) -> int:
        return len(self.item_ids_)

    # ------------------------------------------------------------------ scoring
    def _score_pairs(self, user_codes: np.ndarray, item_codes: np.ndarray) -> np.ndarray:
        """Score of each (user, item) pair; subclasses with factors do it faster."""
        scores = np.empty(len(user_codes), dtype=np.float32)
        unique_users, inverse = np.unique(user_codes, return_inverse=True)
        for chunk in self._user_chunks(unique_users):
            block = self._score_users(unique_users[chunk])
            rows = np.flatnonzero((inverse >= chunk.start) & (inverse < chunk.stop))
            scores[rows] = block[inverse[rows] - chunk.start, item_codes[rows]]
        return scores

    def _user_chunks(self, users: np.ndarray):
        step = max(1, _SCORE_BATCH_CELLS // max(self.n_items_, 1))
        return (slice(start, min(start + step, len(users)))
                for start in range(0, len(users), step))

    def predict(self, X) -> np.ndarray:
        """Score of each (user, item) row of ``X``.

        Parameters
        ----------
        X : InteractionData
            Rows to score. Its ids are matched to the training ids by value, so it may
            come from the training data or be built anew.

        Returns
        -------
        ndarray of shape (len(X),)
            Higher means more likely to be liked. NaN where the user or the item was
            not in the training id maps.
        """
        check_is_fitted(self)
        X = check_interaction_data(X, "predict")
        users, items = self._codes_of(X)
        scores = np.full(len(X), np.nan, dtype=np.float32)
        known = (users >= 0) & (items >= 0)
        if known.any():
            scores[known] = self._score_pairs(users[known], items[known])
        return scores

    def recommend(self, users, k: int = 10, *, exclude_seen: bool = True,
                  unknown: str = "error") -> pd.DataFrame:
        """Top-``k`` items for each user, ranked over the whole catalogue.

        Parameters
        ----------
        users : array-like
            External user ids.
        k : int, default=10
            Number of items per user.
        exclude_seen : bool, default=True
            Leave out the items the user interacted with in training.
        unknown : {"error", "popular"}, default="error"
            Users not in the training id maps raise a KeyError, or get the most
            popular training items (``"popular"``).

        Returns
        -------
        pandas.DataFrame
            Columns ``user_id``, ``item_id``, ``score``, ``rank`` (1 = best), in
            external ids, ``k`` rows per user (fewer when the user has seen almost
            every item).
        """
        check_is_fitted(self)
        k = _check_k(k)
        if unknown not in ("error", "popular"):
            raise ValueError(f"unknown={unknown!r}; use 'error' or 'popular'.")
        users = pd.Index(users if hasattr(users, "__len__") else list(users))
        codes = self.user_ids_.get_indexer(users)
        if unknown == "error" and (codes < 0).any():
            missing = users[codes < 0].unique()[:5].tolist()
            raise KeyError(
                f"User(s) {missing} were not in the training data; pass unknown='popular' "
                "to give them the most popular items instead."
            )
        items, scores = self._top_k(np.maximum(codes, 0), k, exclude_seen=exclude_seen)
        if (codes < 0).any():
            items[codes < 0], scores[codes < 0] = self._popular_top_k(k)
        return self._ranking_frame(users, items, scores)

    def _popular_top_k(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(-self.item_popularity_, kind="stable")[:k]
        return order, self.item_popularity_[order].astype(np.float32)

    def _ranking_frame(self, users: pd.Index, items: np.ndarray, scores: np.ndarray):
        valid = items >= 0
        rows, cols = np.nonzero(valid)
        return pd.DataFrame({
            "user_id": users.take(rows),
            "item_id": self.item_ids_.take(items[valid]),
            "score": scores[valid],
            "rank": cols + 1,
        })

    def _top_k(self, user_codes: np.ndarray, k: int, *, exclude_seen: bool = True):
        """Best ``k`` item codes and their scores per user, in memory-bounded chunks.

        Returns ``(items, scores)`` of shape (n_users, k); items are -1 (score -inf)
        where fewer than ``k`` items could be ranked.
        """
        user_codes = np.asarray(user_codes)
        k_eff = min(k, self.n_items_)
        items = np.full((len(user_codes), k), -1, dtype=np.int64)
        top_scores = np.full((len(user_codes), k), -np.inf, dtype=np.float32)
        for chunk in self._user_chunks(user_codes):
            scores = np.asarray(self._score_users(user_codes[chunk]), dtype=np.float32)
            if exclude_seen:
                _mask_rows(scores, self.seen_[user_codes[chunk]])
            best = _top_k_rows(scores, k_eff)
            best_scores = np.take_along_axis(scores, best, axis=1)
            best[~np.isfinite(best_scores)] = -1
            items[chunk, :k_eff] = best
            top_scores[chunk, :k_eff] = best_scores
        return items, top_scores

    def similar_items(self, items, k: int = 10) -> pd.DataFrame:
        """The ``k`` items most similar to each of ``items`` (the item itself excluded).

        Parameters
        ----------
        items : array-like
            External item ids.
        k : int, default=10

        Returns
        -------
        pandas.DataFrame
            Columns ``item_id``, ``similar_item_id``, ``score``, ``rank``.
        """
        check_is_fitted(self)
        k = _check_k(k)
        items = pd.Index(items if hasattr(items, "__len__") else list(items))
        codes = self.item_ids_.get_indexer(items)
        if (codes < 0).any():
            missing = items[codes < 0].unique()[:5].tolist()
            raise KeyError(f"Item(s) {missing} were not in the training data.")
        similarity = self._item_similarity(codes)
        similarity[np.arange(len(codes)), codes] = -np.inf
        best = _top_k_rows(similarity, min(k, self.n_items_ - 1))
        scores = np.take_along_axis(similarity, best, axis=1)
        rows, cols = np.nonzero(np.isfinite(scores))
        return pd.DataFrame({
            "item_id": items.take(rows),
            "similar_item_id": self.item_ids_.take(best[rows, cols]),
            "score": scores[rows, cols],
            "rank": cols + 1,
        })

    def _item_similarity(self, item_codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError(
            f"{type(self).__name__} has no item representation to compare items with; "
            "use a factor model (ALS, BPR, LightGCN, LightFM) or EASE for similar_items."
        )

    # ------------------------------------------------------------------ evaluation
    def score(self, X, y=None, sample_weight=None) -> float:
        """NDCG@10 of ``X``'s rows taken as held-out interactions.

        This makes ``GridSearchCV(pipeline, grid, cv=LeaveLastOut())`` work with no
        ``scoring``. Items the user had in training are excluded from the ranking and
        from the relevant set; users with no relevant item left are skipped.

        Parameters
        ----------
        X : InteractionData
            Held-out interactions.
        y, sample_weight : None
            Not supported: ranking quality is a per-user quantity.

        Returns
        -------
        float
            Mean NDCG@10 over the held-out users.
        """
        if sample_weight is not None:
            raise ValueError("score() takes no sample_weight: NDCG is averaged per user.")
        ranking = self._held_out_ranking(X, k=10)
        return float(ndcg_at_k(ranking.relevant, ranking.recommended, k=10))

    def _held_out_ranking(self, X, k: int) -> HeldOutRanking:
        """Top-``k`` lists for the users of held-out rows ``X`` and their relevant items."""
        check_is_fitted(self)
        X = check_interaction_data(X, "score")
        users, items = self._codes_of(X)
        known = (users >= 0) & (items >= 0) & ~X.augmented_mask()
        users, items = users[known], items[known]
        held_out = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)),
                                 shape=(self.n_users_, self.n_items_))
        held_out.sum_duplicates()
        held_out = held_out - held_out.multiply(self.seen_)
        held_out.eliminate_zeros()
        user_codes = np.flatnonzero(np.diff(held_out.indptr))
        recommended, _ = self._top_k(user_codes, k, exclude_seen=True)
        relevant = [held_out.indices[held_out.indptr[u]:held_out.indptr[u + 1]]
                    for u in user_codes]
        return HeldOutRanking(user_codes, recommended, relevant)

    def _codes_of(self, X: InteractionData) -> tuple[np.ndarray, np.ndarray]:
        """``X``'s user and item codes in this model's id maps (-1 where unknown)."""
        if X.user_ids is self.user_ids_ or X.user_ids.equals(self.user_ids_):
            users = X.user_codes
        else:
            users = self.user_ids_.get_indexer(X.user_ids)[X.user_codes]
        if X.item_ids is self.item_ids_ or X.item_ids.equals(self.item_ids_):
            items = X.item_codes
        else:
            items = self.item_ids_.get_indexer(X.item_ids)[X.item_codes]
        return users.astype(np.int64), items.astype(np.int64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        return tags


class FactorModelMixin:
    """Scoring by dot products of ``user_factors_`` and ``item_factors_`` (numpy arrays).

    Optional ``item_biases_`` (n_items,) are added to every score. Serving uses numpy
    only, so a model trained on a GPU predicts on a machine without one.

    Examples
    --------
    A factor model only sets the factors in ``_fit``; scoring, ``recommend`` and
    ``similar_items`` come from the mixin and :class:`BaseRecommender`:

    >>> import numpy as np, pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import BaseRecommender, FactorModelMixin
    >>> class FixedFactors(FactorModelMixin, BaseRecommender):
    ...     def _fit(self, X):
    ...         self.user_factors_ = np.eye(X.n_users, 2, dtype=np.float32)
    ...         self.item_factors_ = np.eye(X.n_items, 2, dtype=np.float32)
    >>> data = InteractionData.from_pandas(pd.DataFrame(
    ...     {"user_id": [1, 2], "item_id": ["a", "b"]}), items=pd.DataFrame(index=["a", "b", "c"]))
    >>> model = FixedFactors().fit(data)
    >>> model.recommend([1], k=1, exclude_seen=False)["item_id"].tolist()
    ['a']
    >>> model.similar_items(["a"], k=2)["similar_item_id"].tolist()
    ['b', 'c']
    """

    def _score_users(self, user_codes):
        scores = self.user_factors_[user_codes] @ self.item_factors_.T
        biases = getattr(self, "item_biases_", None)
        return scores if biases is None else scores + biases

    def _score_pairs(self, user_codes, item_codes):
        scores = np.einsum("ij,ij->i", self.user_factors_[user_codes],
                           self.item_factors_[item_codes])
        biases = getattr(self, "item_biases_", None)
        return scores if biases is None else scores + biases[item_codes]

    def _item_similarity(self, item_codes):
        factors = self.item_factors_
        norms = np.linalg.norm(factors, axis=1)
        norms[norms == 0] = 1.0
        return (factors[item_codes] @ factors.T) / np.outer(norms[item_codes], norms)


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    return int(k)


def _mask_rows(scores: np.ndarray, mask: sp.csr_matrix) -> None:
    """Set ``scores[r, c] = -inf`` wherever ``mask`` has an entry (in place)."""
    rows = np.repeat(np.arange(mask.shape[0]), np.diff(mask.indptr))
    scores[rows, mask.indices] = -np.inf


def _top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest entries of each row, best first."""
    if k >= scores.shape[1]:
        return np.argsort(-scores, axis=1, kind="stable")
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
