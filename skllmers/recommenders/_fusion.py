"""Score fusion: any recommender's scores mixed with text similarity to the user's history."""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

from .._artifacts import ARTIFACT_KEYS
from .._interaction_data import InteractionData, check_interaction_data
from ..metrics._ranking import RANKING_METRICS
from ._base import BaseRecommender
from ._ease import _item_vectors

__all__ = ["TextFusionRecommender", "tune_fusion_alpha"]


class TextFusionRecommender(BaseRecommender):
    """A fitted recommender's scores fused with the text similarity of items to a user.

    ``fit`` fits a clone of ``base`` and reads the item text vectors an enhancer
    attached (the ``"item_features"`` or ``"item_embeddings"`` artifact, e.g. from
    :class:`~skllmers.LLMSummaryFeaturizer`). A user's text profile is the weighted
    mean of the unit vectors of the user's training items; an item's text score is
    the cosine between the profile and its vector. Both score rows are standardised
    per user (zero mean, unit variance over the catalogue) and mixed::

        score = (1 - alpha) * z(base scores) + alpha * z(text scores)

    ``alpha=0`` ranks exactly as ``base``; ``alpha=1`` is text-kNN of the user's
    history. Items with no training row get text scores, so they can be ranked.
    ``alpha`` is read when scoring, so it can be tuned on validation rows without
    refitting (:func:`tune_fusion_alpha`), or with ``GridSearchCV``.

    Parameters
    ----------
    base : recommender
        Any skllmers recommender (unfitted; a clone is fitted). It receives the data
        with the item-vector artifact removed, unless it trains with that artifact
        itself (e.g. :class:`LightFMRecommender` with ``"item_features"``).
    alpha : float in [0, 1], default=0.2
        Weight of the text scores.

    Attributes
    ----------
    base_ : recommender
        The fitted clone of ``base``.
    item_vectors_ : ndarray of shape (n_items, d), float32
        Unit-norm item text vectors (rows of zeros for items without text).
    user_profiles_ : ndarray of shape (n_users, d), float32
        Unit-norm text profile of each user's training items.
    vector_source_ : str
        The artifact the vectors came from.
    user_ids_, item_ids_, seen_, item_popularity_
        As for every recommender.

    See Also
    --------
    EASERecommender : With ``beta``, text enters the model itself (L3AE).
    tune_fusion_alpha : Choose ``alpha`` on validation rows.

    Notes
    -----
    Serving uses the stored vectors and profiles, never an encoder. The profile uses
    every training row, augmented ones included, with its row weight.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import PopularityRecommender, TextFusionRecommender
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": ["a", "b", "a", "c", "d"]})
    >>> data = InteractionData.from_pandas(df)
    >>> list(data.item_ids)
    ['a', 'b', 'c', 'd']
    >>> data = data.with_artifacts(item_features=np.array(  # one row per item code
    ...     [[1.0, 0.0], [1.0, 0.2], [0.0, 1.0], [0.1, 1.0]]))
    >>> fused = TextFusionRecommender(PopularityRecommender(), alpha=0.9).fit(data)
    >>> fused.recommend([3], k=1)["item_id"].tolist()  # d's text is like c's
    ['c']
    >>> fused.set_params(alpha=0.0).recommend([3], k=1)["item_id"].tolist()  # popularity
    ['a']
    """

    _parameter_constraints: dict = {
        "base": [HasMethods(["fit", "recommend"])],
        "alpha": [Interval(Real, 0, 1, closed="both")],
    }
    _artifacts_read = frozenset(ARTIFACT_KEYS)  # the base checks the rest

    def __init__(self, base, *, alpha=0.2):
        self.base = base
        self.alpha = alpha

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        return super().fit(X, y)

    fit.__doc__ = BaseRecommender.fit.__doc__

    def _fit(self, X: InteractionData) -> None:
        if not isinstance(self.base, BaseRecommender):
            raise TypeError(f"base must be a skllmers recommender, got "
                            f"{type(self.base).__name__}.")
        source, vectors = _item_vectors(X)
        if source is None:
            raise ValueError(
                "TextFusionRecommender needs item text vectors: put an enhancer that "
                "attaches an 'item_features' artifact (LLMSummaryFeaturizer) or an "
                "'item_embeddings' artifact (LLMEmbeddingInitializer) before it, or "
                "attach one with data.with_artifacts(item_features=...)."
            )
        self.vector_source_ = source
        self.item_vectors_ = _unit_rows(vectors).astype(np.float32)
        passed = X if source in getattr(self.base, "_artifacts_read", ()) else \
            X.without_artifacts(source)
        self.base_ = clone(self.base).fit(passed)
        history = X.to_csr(values="weights")
        self.user_profiles_ = _unit_rows(history @ self.item_vectors_).astype(np.float32)

    def _score_users(self, user_codes):
        base = _standardised(np.asarray(self.base_._score_users(user_codes), np.float64))
        if self.alpha == 0:
            return base
        text = _standardised(self.user_profiles_[user_codes] @ self.item_vectors_.T)
        return (1.0 - self.alpha) * base + self.alpha * text

    def _item_similarity(self, item_codes):
        return self.base_._item_similarity(item_codes)


def tune_fusion_alpha(model, validation, alphas=(0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0),
                      *, metric="ndcg", k=10):
    """Set a fitted :class:`TextFusionRecommender`'s ``alpha`` to the best on validation.

    ``alpha`` only changes how scores are mixed, so each value is scored without
    refitting. To stay free of leakage, ``validation`` must be cut from the training
    rows (for example with ``LeaveLastOut`` on them) and the model fitted on the rest:
    never tune on the test rows.

    Parameters
    ----------
    model : fitted TextFusionRecommender
    validation : InteractionData
        Held-out interactions of the training users.
    alphas : sequence of float in [0, 1]
    metric : str, default="ndcg"
        A name of :data:`~skllmers.metrics.RANKING_METRICS`.
    k : int, default=10

    Returns
    -------
    pandas.Series
        The validation metric of each alpha (index ``alpha``); the model's ``alpha``
        is set to the best one (the smallest among ties).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import (PopularityRecommender, TextFusionRecommender,
    ...                                    tune_fusion_alpha)
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3], "item_id": list("abacdb")})
    >>> data = InteractionData.from_pandas(df).with_artifacts(item_features=np.eye(4))
    >>> fused = TextFusionRecommender(PopularityRecommender()).fit(data[[0, 2, 4]])
    >>> table = tune_fusion_alpha(fused, data[[1, 3, 5]], alphas=[0.0, 1.0], k=2)
    >>> list(table.index), fused.alpha in (0.0, 1.0)
    ([0.0, 1.0], True)
    """
    check_is_fitted(model, "base_")
    if not isinstance(model, TextFusionRecommender):
        raise TypeError(f"model must be a fitted TextFusionRecommender, got "
                        f"{type(model).__name__}.")
    if metric not in RANKING_METRICS:
        raise ValueError(f"metric={metric!r}; use one of {sorted(RANKING_METRICS)}.")
    validation = check_interaction_data(validation, "score")
    alphas = [float(a) for a in alphas]
    if not alphas or any(not 0 <= a <= 1 for a in alphas):
        raise ValueError(f"alphas must be a non-empty sequence in [0, 1], got {alphas!r}.")
    fn = RANKING_METRICS[metric]
    values = []
    for alpha in alphas:
        model.alpha = alpha
        ranking = model._held_out_ranking(validation, k=k)
        values.append(float(fn(ranking.relevant, ranking.recommended, k=k)))
    table = pd.Series(values, index=pd.Index(alphas, name="alpha"), name=f"{metric}@{k}")
    model.alpha = alphas[int(np.argmax(values))]
    return table


def _unit_rows(matrix) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def _standardised(scores: np.ndarray) -> np.ndarray:
    """Each row minus its mean, over its standard deviation (rows of one value: zeros)."""
    scores = np.asarray(scores, dtype=np.float64)
    centred = scores - scores.mean(axis=1, keepdims=True)
    spread = centred.std(axis=1, keepdims=True)
    return centred / np.where(spread > 0, spread, 1.0)
