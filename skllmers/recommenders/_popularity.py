"""Most-popular baseline: the same ranking of the catalogue for every user."""

from __future__ import annotations

import numpy as np
from sklearn.base import _fit_context

from .._interaction_data import InteractionData
from ._base import BaseRecommender

__all__ = ["PopularityRecommender"]


class PopularityRecommender(BaseRecommender):
    """Recommend the items with the most training interactions.

    Every user gets the same ranking (minus the items they have seen). It is the
    baseline any personalised model has to beat.

    Parameters
    ----------
    use_weights : bool, default=True
        Count each training row by its weight (:meth:`InteractionData.row_weights`,
        so augmented rows count as much as an enhancer weighted them). ``False``
        counts every row as 1. Without weights in the data both count rows.

    Attributes
    ----------
    item_scores_ : ndarray of shape (n_items,)
        The (weighted) number of training rows of each item; the score of every
        user for that item.
    user_ids_, item_ids_ : pandas.Index
        Id maps of the training data.
    seen_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Each user's real training items, excluded from recommendations.
    item_popularity_ : ndarray of shape (n_items,)
        Number of users with a real training interaction per item (the fallback
        ranking of :class:`BaseRecommender` for unknown users).

    See Also
    --------
    EASERecommender : A strong item-item baseline.

    Notes
    -----
    The model trains with no enhancer artifact of :class:`~skllmers.InteractionData`:
    fitting on data that carries one raises an error naming the models that can.
    Repeated (user, item) rows each count.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import PopularityRecommender
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 4],
    ...                    "item_id": ["a", "b", "a", "b", "a", "c"]})
    >>> model = PopularityRecommender().fit(InteractionData.from_pandas(df))
    >>> model.item_scores_.tolist()
    [3.0, 2.0, 1.0]
    >>> model.recommend([4], k=2)[["item_id", "rank"]]
      item_id  rank
    0       a     1
    1       b     2
    """

    _parameter_constraints: dict = {"use_weights": ["boolean"]}

    def __init__(self, use_weights=True):
        self.use_weights = use_weights

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        return super().fit(X, y)

    fit.__doc__ = BaseRecommender.fit.__doc__

    def _fit(self, X: InteractionData) -> None:
        counts = X.to_csr(values="weights" if self.use_weights else "ones")
        self.item_scores_ = np.asarray(counts.sum(axis=0), dtype=np.float32).ravel()

    def _score_users(self, user_codes):
        return np.tile(self.item_scores_, (len(user_codes), 1))

    def _score_pairs(self, user_codes, item_codes):
        return self.item_scores_[item_codes]
