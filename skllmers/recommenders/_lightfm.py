"""Hybrid matrix factorisation with side features (``lightfm``)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from .._interaction_data import InteractionData
from ._als import random_seed
from ._base import BaseRecommender, FactorModelMixin

__all__ = ["LightFMRecommender"]


class LightFMRecommender(FactorModelMixin, BaseRecommender):
    """Hybrid matrix factorisation that represents users and items by their features.

    A wrapper of :class:`lightfm.LightFM` (Kula, 2015). Each item is the sum of the
    embeddings of its features: its own identity feature plus, when the data carries
    an ``"item_features"`` artifact (e.g. encoded LLM summaries), those dense features;
    likewise for users. Items with few or no interactions then borrow from items with
    similar features. After :meth:`fit` the representations are computed once into
    numpy arrays, so serving is a matrix product and needs no LightFM model.

    Parameters
    ----------
    n_factors : int, default=64
        Width of the embeddings.
    loss : {"warp", "bpr", "warp-kos"}, default="warp"
        Ranking loss: WARP (optimises the top of the list; usually best), BPR
        (pairwise), or k-OS WARP (does not support row weights).
    learning_rate : float, default=0.05
        Initial learning rate of adagrad.
    item_alpha, user_alpha : float, default=0.0
        L2 penalties on the item and user feature embeddings.
    epochs : int, default=30
        Passes over the interactions.
    num_threads : int, default=1
        Training threads (Hogwild). More than one is faster but not reproducible.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation and negative sampling.
    use_features : bool, default=True
        Use the ``"item_features"`` / ``"user_features"`` artifacts when present.
        ``False`` gives pure collaborative filtering (identity features only).
    feature_weight : float, default=1.0
        Scale of the dense features next to the identity feature (weight 1): each
        feature row is L2-normalised, then multiplied by ``feature_weight``.
    verbose : bool, default=False
        Show a progress bar over the epochs.

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, n_factors), float32
        User representations (sum of the user's feature embeddings).
    item_factors_ : ndarray of shape (n_items, n_factors), float32
        Item representations.
    item_biases_ : ndarray of shape (n_items,), float32
        Item representation biases, added to every score.
    n_item_features_, n_user_features_ : int
        Number of dense side features used (0 when none).
    n_cold_items_ : int
        Items with no training row represented by their item features alone (0
        without item features).
    user_ids_, item_ids_ : pandas.Index
        Id maps of the training data.
    seen_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Each user's real training items, excluded from recommendations.
    item_popularity_ : ndarray of shape (n_items,)
        Users per item; the ranking for unknown users.

    See Also
    --------
    ALSRecommender : Matrix factorisation without features, fitted in closed form.

    Notes
    -----
    **Interactions and weights.** Every observed (user, item) pair is a positive; its
    LightFM ``sample_weight`` is the sum of its rows' weights
    (``X.to_csr(values="weights")``), so augmented rows count as much as an enhancer
    weighted them and repeated interactions count more. Ratings are not used.
    LightFM's logistic loss is not offered: it needs explicit negatives.

    **Scores.** ``predict`` returns LightFM's score without the user's bias, a
    constant per user that changes no ranking.

    **Cold items.** An item with no training row (in the items table, never
    interacted with) has no identity feature when dense item features are used: its
    representation is the sum of its feature embeddings alone, learned from the warm
    items' interactions (Kula's cold-start recipe). An identity embedding of its own
    would only be pushed around as a sampled negative and add noise to its score.
    Rank among such items with ``recommend(..., items=...)``. Without item features
    a cold item keeps its identity feature, whose embedding never sees a positive.

    **Cost.** Each training step touches every non-zero feature of the user and the
    item, so dense ``d``-dimensional features make training about ``d + 1`` times
    slower than identity features alone.

    **Artifacts.** ``"item_embeddings"`` and ``"guidance"`` raise an error: LightFM
    cannot start from or align to given embeddings; attach such vectors as
    ``"item_features"`` instead.

    References
    ----------
    M. Kula, "Metadata Embeddings for User and Item Cold-start Recommendations",
    CBRecSys 2015.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import LightFMRecommender
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3, 4],
    ...                    "item_id": ["a", "b", "a", "b", "c", "d", "c"]})
    >>> data = InteractionData.from_pandas(df).with_artifacts(
    ...     item_features=np.eye(4, 2, dtype=np.float32))
    >>> model = LightFMRecommender(n_factors=4, epochs=5, random_state=0).fit(data)
    >>> model.item_factors_.shape, model.n_item_features_
    ((4, 4), 2)
    >>> len(model.recommend([4], k=2))
    2
    """

    _parameter_constraints: dict = {
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "loss": [StrOptions({"warp", "bpr", "warp-kos"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "item_alpha": [Interval(Real, 0, None, closed="left")],
        "user_alpha": [Interval(Real, 0, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "num_threads": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "use_features": ["boolean"],
        "feature_weight": [Interval(Real, 0, None, closed="neither")],
        "verbose": ["verbose"],
    }

    def __init__(self, n_factors=64, loss="warp", learning_rate=0.05, item_alpha=0.0,
                 user_alpha=0.0, epochs=30, num_threads=1, random_state=None,
                 use_features=True, feature_weight=1.0, verbose=False):
        self.n_factors = n_factors
        self.loss = loss
        self.learning_rate = learning_rate
        self.item_alpha = item_alpha
        self.user_alpha = user_alpha
        self.epochs = epochs
        self.num_threads = num_threads
        self.random_state = random_state
        self.use_features = use_features
        self.feature_weight = feature_weight
        self.verbose = verbose

    _artifacts_read = frozenset({"item_features", "user_features"})
    _artifact_hints = {
        "item_embeddings": "LightFM cannot start from or freeze given item embeddings; "
                           "attach the vectors as 'item_features' instead, which it "
                           "learns from.",
    }

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        return super().fit(X, y)

    fit.__doc__ = BaseRecommender.fit.__doc__

    def _fit(self, X: InteractionData) -> None:
        from lightfm import LightFM

        weights = X.to_csr(values="weights")
        weights.eliminate_zeros()
        trained = weights.getnnz(axis=0) > 0
        item_features, self.n_item_features_ = self._features(
            X, "item_features", X.n_items, no_identity=~trained)
        user_features, self.n_user_features_ = self._features(X, "user_features", X.n_users)
        self.n_cold_items_ = int((~trained).sum()) if self.n_item_features_ else 0
        interactions, sample_weight = self._interactions(X)
        model = LightFM(
            no_components=self.n_factors,
            loss=self.loss,
            learning_rate=self.learning_rate,
            item_alpha=self.item_alpha,
            user_alpha=self.user_alpha,
            random_state=random_seed(self.random_state),
        )
        model.fit(interactions, user_features=user_features, item_features=item_features,
                  sample_weight=sample_weight, epochs=self.epochs,
                  num_threads=self.num_threads, verbose=bool(self.verbose))
        item_biases, item_factors = model.get_item_representations(item_features)
        _, user_factors = model.get_user_representations(user_features)
        self.item_factors_ = _float32(item_factors)
        self.item_biases_ = _float32(item_biases)
        self.user_factors_ = _float32(user_factors)

    def _features(self, X: InteractionData, key: str, n_rows: int, no_identity=None):
        """Identity + weighted dense features as CSR (None: identity only), and d.

        Rows flagged in ``no_identity`` (items with no training row) get no identity
        feature: their representation is their dense features alone.
        """
        if not self.use_features or key not in X.artifacts:
            return None, 0
        dense = np.asarray(X.artifacts[key], dtype=np.float32)
        if dense.ndim != 2 or len(dense) != n_rows:
            raise ValueError(
                f"The {key!r} artifact must have shape ({n_rows}, d), one row per code; "
                f"got {dense.shape}."
            )
        if not np.isfinite(dense).all():
            raise ValueError(f"The {key!r} artifact contains NaN or infinite values.")
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        block = sp.csr_matrix(dense / norms * np.float32(self.feature_weight))
        identity = sp.identity(n_rows, dtype=np.float32, format="csr")
        if no_identity is not None and no_identity.any():
            identity = sp.diags((~no_identity).astype(np.float32), format="csr")
        return sp.hstack([identity, block], format="csr", dtype=np.float32), dense.shape[1]

    def _interactions(self, X: InteractionData):
        """Binary interactions and matching row-weight matrix, both COO, same entries."""
        weights = X.to_csr(values="weights")
        weights.eliminate_zeros()
        weights = weights.tocoo()
        interactions = sp.coo_matrix(
            (np.ones(weights.nnz, dtype=np.float32), (weights.row, weights.col)),
            shape=weights.shape,
        )
        if self.loss != "warp-kos":
            return interactions, weights
        if not np.allclose(weights.data, 1.0):
            raise ValueError(
                "loss='warp-kos' does not support row weights, and the data has rows "
                "weighted other than 1 (or repeated pairs); use loss='warp' or 'bpr'."
            )
        return interactions, None


def _float32(array) -> np.ndarray:
    return np.array(array, dtype=np.float32, order="C")
