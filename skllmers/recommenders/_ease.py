"""EASE: the closed-form item-item linear model of Steck (2019)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval

from .._interaction_data import InteractionData
from ._base import BaseRecommender

__all__ = ["EASERecommender"]

_GRAM_BLOCK = 2048  # item columns of the Gram matrix computed at once


class EASERecommender(BaseRecommender):
    """Embarrassingly Shallow Autoencoder: a closed-form item-item model.

    EASE learns an item-item weight matrix ``B`` with a zero diagonal that
    reconstructs each user's interaction row from the user's other items,
    ``min ||X - X B||² + λ ||B||²`` s.t. ``diag(B) = 0``. The solution is closed
    form: with ``P = (XᵀX + λI)⁻¹``, ``B = I - P / diag(P)`` (column-wise) and
    ``diag(B) = 0``. A user's scores are ``X_u B``. It has one hyperparameter and
    is a strong baseline on most implicit-feedback data (Steck, 2019).

    Parameters
    ----------
    l2 : float, default=200.0
        The L2 penalty λ on ``B``. Larger values smooth more; values between 10 and
        a few thousand are usual, growing with the number of users.
    implicit : bool, default=True
        ``True``: a user-item cell is 1 for an interaction, scaled by the row weight
        (the largest weight when the pair repeats), so augmented rows count as much
        as an enhancer weighted them. ``False``: the cell is the rating times the row
        weight, summed over repeats (requires ratings; rows without one count 1).
    max_items : int or None, default=20_000
        Refuse catalogues with more items than this (``None``: no limit), since
        ``B`` is dense: see Notes.

    Attributes
    ----------
    B_ : ndarray of shape (n_items, n_items), float32
        Item-item weights; ``B_[i, j]`` is how much item ``i`` in a user's history
        raises the score of item ``j``. The diagonal is zero.
    user_items_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        The training matrix ``X`` (float32), needed to score users.
    user_ids_, item_ids_ : pandas.Index
        Id maps of the training data.
    seen_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Each user's real training items, excluded from recommendations.
    item_popularity_ : ndarray of shape (n_items,)
        Users per item; the ranking for unknown users.

    See Also
    --------
    ALSRecommender : Matrix factorisation, for catalogues too large for EASE.

    Notes
    -----
    Memory grows with the square of the catalogue: fitting inverts a dense float64
    ``n_items x n_items`` matrix in place and then keeps ``B_`` as ``n_items²``
    float32 values, a peak of about 12 bytes per item pair (4.8 GB for 20 000 items,
    of which ``B_`` is 1.6 GB). Fitting time is that of one matrix inverse,
    ``O(n_items³)``.
    The model trains with no enhancer artifact of :class:`~skllmers.InteractionData`:
    fitting on data that carries one raises an error naming the models that can.
    Augmented rows (``LLMInteractionAugmenter``) are rows, and count with their weight.

    ``similar_items`` ranks items ``j`` by ``B_[i, j]``.

    References
    ----------
    H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import EASERecommender
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3],
    ...                    "item_id": ["a", "b", "a", "b", "a"]})
    >>> model = EASERecommender(l2=1.0).fit(InteractionData.from_pandas(df))
    >>> model.B_.shape
    (2, 2)
    >>> model.recommend([3], k=1)[["user_id", "item_id"]]
       user_id item_id
    0        3       b
    """

    _parameter_constraints: dict = {
        "l2": [Interval(Real, 0, None, closed="neither")],
        "implicit": ["boolean"],
        "max_items": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, l2=200.0, implicit=True, max_items=20_000):
        self.l2 = l2
        self.implicit = implicit
        self.max_items = max_items

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        return super().fit(X, y)

    fit.__doc__ = BaseRecommender.fit.__doc__

    def _fit(self, X: InteractionData) -> None:
        self._check_catalogue_size(X.n_items)
        user_items = _user_item_matrix(X, self.implicit)
        gram = _dense_gram(user_items)
        gram[np.diag_indices_from(gram)] += self.l2
        # gram is symmetric, so its F-ordered transpose lets LAPACK invert in place
        precision = scipy.linalg.inv(gram.T, overwrite_a=True, check_finite=False)
        precision /= -np.diag(precision)  # column j divided by -P_jj
        np.fill_diagonal(precision, 0.0)
        self.B_ = precision.astype(np.float32)
        self.user_items_ = user_items.astype(np.float32)

    def _check_catalogue_size(self, n_items: int) -> None:
        if self.max_items is not None and n_items > self.max_items:
            gigabytes = 12 * n_items**2 / 1e9
            raise ValueError(
                f"EASERecommender builds dense {n_items} x {n_items} item-item matrices "
                f"(about {gigabytes:.1f} GB to fit), and the data has {n_items} items, "
                f"more than max_items={self.max_items}. Drop rare items, raise max_items "
                "(or set it to None), or use ALSRecommender or LightFMRecommender."
            )

    def _score_users(self, user_codes):
        return np.asarray(self.user_items_[user_codes] @ self.B_)

    def _item_similarity(self, item_codes):
        return self.B_[item_codes].astype(np.float64)


def _user_item_matrix(X: InteractionData, implicit: bool) -> sp.csr_matrix:
    """Users x items matrix in float64, one cell per (user, item) pair."""
    weights = X.row_weights().astype(np.float64)
    if implicit:
        values, reduce, start = weights, np.maximum, -np.inf
    else:
        if X.ratings is None:
            raise ValueError(
                "EASERecommender(implicit=False) uses ratings, but the data has none; "
                "pass rating_col=... to InteractionData.from_pandas or use implicit=True."
            )
        values, reduce, start = np.nan_to_num(X.ratings, nan=1.0) * weights, np.add, 0.0
    pairs, inverse = np.unique(
        X.user_codes.astype(np.int64) * X.n_items + X.item_codes, return_inverse=True
    )
    cells = np.full(len(pairs), start)
    reduce.at(cells, inverse, values)
    matrix = sp.csr_matrix((cells, (pairs // X.n_items, pairs % X.n_items)),
                           shape=(X.n_users, X.n_items))
    matrix.eliminate_zeros()
    return matrix


def _dense_gram(user_items: sp.csr_matrix) -> np.ndarray:
    """``XᵀX`` as a dense float64 array, built in column blocks to bound memory."""
    n_items = user_items.shape[1]
    item_users = user_items.T.tocsr()
    columns = user_items.tocsc()
    gram = np.empty((n_items, n_items), dtype=np.float64)
    for start in range(0, n_items, _GRAM_BLOCK):
        stop = min(start + _GRAM_BLOCK, n_items)
        gram[:, start:stop] = (item_users @ columns[:, start:stop]).toarray()
    return gram
