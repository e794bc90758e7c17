"""Factors for cold items from their text: a ridge map fitted on the warm items."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import _fit_context, clone
from sklearn.linear_model import RidgeCV
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._artifacts import ARTIFACT_KEYS, EmbeddingInit
from .._interaction_data import InteractionData
from ._base import BaseRecommender, FactorModelMixin

__all__ = ["ColdStartBridge"]

_VECTOR_KEYS = ("item_features", "item_embeddings")
_DEFAULT_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


class ColdStartBridge(FactorModelMixin, BaseRecommender):
    """Give a factor model's cold items factors predicted from their text.

    A factor model (ALS, BPR, LightGCN, ...) learns an item's factors from its
    interactions, so an item with no training row — a new item, in the items table
    but never interacted with — keeps factors that carry nothing (zeros in ALS, the
    random start pushed down as a negative in BPR). This meta-estimator fits
    ``recommender`` on the data, then fits a ridge regression from the items' text
    vectors to the learned factors of the *warm* items (those with a training row)
    and writes its predictions into the factors of the *cold* items (Gantner et al.'s
    attribute-to-factor mapping). Warm items keep their learned factors, so their
    scores are the recommender's own. Serving is the product of the user factors and
    the (bridged) item factors: no encoder or LLM is called.

    Parameters
    ----------
    recommender : recommender
        The factor model to bridge: after ``fit`` it has ``user_factors_`` and
        ``item_factors_`` (and optionally ``item_biases_``, mapped too). It is cloned;
        the fitted copy is ``recommender_``.
    vectors : {"auto", "item_features", "item_embeddings"}, default="auto"
        The artifact that holds one text vector per item code: ``"item_features"``
        (an array, e.g. from :class:`~skllmers.LLMSummaryFeaturizer`) or
        ``"item_embeddings"`` (an :class:`~skllmers.EmbeddingInit`, e.g. from
        :class:`~skllmers.LLMEmbeddingInitializer`). ``"auto"``: the one the data
        carries (``"item_features"`` when it carries both).
    alphas : float or array-like of float, default=(0.01, 0.1, 1, 10, 100, 1000)
        Candidate ridge penalties; the one with the best leave-one-out error over the
        warm items is kept (:class:`sklearn.linear_model.RidgeCV`, efficient LOO). A
        single float fixes the penalty. Ignored when ``regressor`` is given.
    regressor : scikit-learn regressor, default=None
        The map from text vectors to factors instead of the linear ridge: any
        multi-output regressor, cloned and fitted on the warm items, e.g.
        ``KernelRidge(kernel="rbf")`` or a ``GridSearchCV`` of one (its
        hyper-parameters then tuned by cross-validation over the warm items).
        ``None``: ``RidgeCV(alphas=alphas)``.
    pass_vectors : bool, default=False
        Also train ``recommender`` with the vectors' artifact. ``False``: the
        recommender is fitted on the data without it (a plain model of the
        interactions, e.g. implicit-style BPR with ``optimizer="sgd"``, which refuses
        side features); the other artifacts are passed on. ``True``: the data as
        given, e.g. to start ALS from the same ``"item_embeddings"`` it is bridged with.

    Attributes
    ----------
    recommender_ : recommender
        The fitted clone of ``recommender`` (see ``pass_vectors`` for its data).
    regressor_ : regressor
        The fitted map from text vectors to factors (and biases).
    alpha_ : float or None
        The ridge penalty chosen (or given); None when ``regressor`` has none.
    vectors_key_ : str
        The artifact the text vectors were read from.
    cold_items_ : ndarray of int
        Codes of the cold items (no training row of non-zero weight), whose factors
        were predicted.
    user_factors_, item_factors_ : ndarray, float32
        The recommender's factors, cold items' rows replaced.
    item_biases_ : ndarray of shape (n_items,), float32
        Only when the recommender has item biases (LightFM); cold items' predicted.
    user_ids_, item_ids_, seen_, item_popularity_
        As in :class:`BaseRecommender`.

    See Also
    --------
    skllmers.model_selection.ColdItemSplit : Hold out whole items to test this.
    skllmers.metrics.evaluate : ``candidates="cold"`` ranks among the cold items.

    Notes
    -----
    With the default linear ridge, a user's score for a cold item is
    ``u · (W t + b)``: the user's factors, read in text space through the map ``W``.
    A kernel ridge (``regressor=KernelRidge(kernel="rbf")``) maps nonlinearly; on
    the MovieLens benchmarks it ranked cold items better (see the cold-start page
    of the documentation). Predicted factors are shrunk toward the warm items'
    mean, so among all items cold ones tend to score low; rank among cold items
    (``recommend(..., items=...)``) to surface them. A cold item with no text (a
    zero vector) gets the intercept of the linear ridge: the mean warm item.

    To bridge a recommender already fitted on the same data (e.g. with several text
    vectors in turn), wrap it in :class:`sklearn.frozen.FrozenEstimator`
    (scikit-learn >= 1.6): it is then neither cloned nor refitted.

    References
    ----------
    Z. Gantner, L. Drumond, C. Freudenthaler, S. Rendle and L. Schmidt-Thieme,
    "Learning Attribute-to-Feature Mappings for Cold-Start Recommendations",
    ICDM 2010.

    Examples
    --------
    Items ``"c"`` and ``"d"`` have no interaction; their text vectors say ``"c"``
    resembles ``"a"`` (user 2's taste) and ``"d"`` resembles ``"b"``:

    >>> import numpy as np, pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import ALSRecommender, ColdStartBridge
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3],
    ...                    "item_id": ["a", "b", "a", "e", "b", "f"]})
    >>> items = pd.DataFrame(index=["a", "b", "c", "d", "e", "f"])
    >>> text = np.array([[1, 0], [0, 1], [0.9, 0.1], [0.1, 0.9], [1, 0.2], [0.2, 1]])
    >>> data = InteractionData.from_pandas(df, items=items).with_artifacts(
    ...     item_features=text.astype(np.float32))
    >>> model = ColdStartBridge(ALSRecommender(n_factors=2, random_state=0,
    ...                                        num_threads=1), alphas=[0.1])
    >>> model = model.fit(data)
    >>> model.item_ids_[model.cold_items_].tolist()
    ['c', 'd']
    >>> model.recommend([2, 3], k=1, items=["c", "d"])["item_id"].tolist()
    ['c', 'd']
    """

    _parameter_constraints: dict = {
        "recommender": [HasMethods(["fit", "recommend"])],
        "vectors": [StrOptions({"auto", *_VECTOR_KEYS})],
        "alphas": [Interval(Real, 0, None, closed="neither"), "array-like"],
        "pass_vectors": ["boolean"],
        "regressor": [HasMethods(["fit", "predict"]), None],
    }
    _artifacts_read = frozenset(ARTIFACT_KEYS)  # the recommender checks its own

    def __init__(self, recommender, *, vectors="auto", alphas=_DEFAULT_ALPHAS,
                 regressor=None, pass_vectors=False):
        self.recommender = recommender
        self.vectors = vectors
        self.alphas = alphas
        self.regressor = regressor
        self.pass_vectors = pass_vectors

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the recommender on ``X``, then the map from text to factors.

        Parameters
        ----------
        X : InteractionData
            Training interactions carrying the text vectors' artifact (see
            ``vectors``), one row per item code, cold items included.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        self
        """
        return super().fit(X, y)

    def _fit(self, X: InteractionData) -> None:
        self.vectors_key_ = self._vectors_key(X)
        text = _text_vectors(X, self.vectors_key_)
        self.recommender_ = clone(self.recommender)
        self.recommender_.fit(self._data_for_recommender(X), None)
        item_factors, user_factors = self._recommender_factors(X)
        biases = getattr(self.recommender_, "item_biases_", None)
        targets = item_factors if biases is None else np.column_stack([item_factors, biases])
        weights = X.to_csr(values="weights")
        weights.eliminate_zeros()
        trained = weights.getnnz(axis=0) > 0
        self.cold_items_ = np.flatnonzero(~trained)
        self.regressor_ = self._regressor().fit(text[trained], targets[trained])
        self.alpha_ = _penalty(self.regressor_)
        if len(self.cold_items_):
            targets = targets.copy()
            predicted = self.regressor_.predict(text[self.cold_items_])
            targets[self.cold_items_] = np.reshape(predicted, (len(self.cold_items_), -1))
        width = item_factors.shape[1]
        self.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(targets[:, :width], dtype=np.float32)
        if biases is not None:
            self.item_biases_ = np.ascontiguousarray(targets[:, width], dtype=np.float32)

    def _vectors_key(self, X: InteractionData) -> str:
        if self.vectors != "auto":
            if self.vectors not in X.artifacts:
                raise ValueError(
                    f"ColdStartBridge(vectors={self.vectors!r}) reads the item text vectors "
                    f"from that artifact, which the data does not carry (it carries "
                    f"{sorted(X.artifacts) or 'none'}). Put an enhancer that attaches it "
                    "before this step, e.g. LLMEmbeddingInitializer for 'item_embeddings'."
                )
            return self.vectors
        for key in _VECTOR_KEYS:
            if key in X.artifacts:
                return key
        raise ValueError(
            "ColdStartBridge maps item text vectors to factors, and the data carries "
            "neither an 'item_features' nor an 'item_embeddings' artifact. Put an "
            "enhancer that attaches them before this step (LLMEmbeddingInitializer, "
            "LLMSummaryFeaturizer), or attach them with data.with_artifacts(...)."
        )

    def _data_for_recommender(self, X: InteractionData) -> InteractionData:
        return X if self.pass_vectors else X.without_artifacts(self.vectors_key_)

    def _recommender_factors(self, X: InteractionData):
        model = self.recommender_
        item_factors = getattr(model, "item_factors_", None)
        user_factors = getattr(model, "user_factors_", None)
        if item_factors is None or user_factors is None:
            raise TypeError(
                f"ColdStartBridge maps text to item factors, and {type(model).__name__} "
                "has no user_factors_ / item_factors_ after fit. Bridge a factor model "
                "(ALSRecommender, BPRRecommender, LightGCNRecommender, "
                "LightFMRecommender); EASE takes text through an item-item prior instead."
            )
        if len(item_factors) != X.n_items or len(user_factors) != X.n_users:
            raise ValueError(
                f"{type(model).__name__} has {len(user_factors)} user and "
                f"{len(item_factors)} item factors for data with {X.n_users} users and "
                f"{X.n_items} items; ColdStartBridge needs one row per code."
            )
        return np.asarray(item_factors, np.float64), np.asarray(user_factors)

    def _regressor(self):
        if self.regressor is not None:
            return clone(self.regressor)
        return RidgeCV(alphas=self._alphas())

    def _alphas(self) -> np.ndarray:
        alphas = np.atleast_1d(np.asarray(self.alphas, dtype=np.float64)).ravel()
        if len(alphas) == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
            raise ValueError(f"alphas must be positive finite floats, got {self.alphas!r}.")
        return alphas


def _penalty(regressor):
    """The ridge penalty of a fitted regressor (a search's best one), or None."""
    best = getattr(regressor, "best_params_", None)
    if best is not None and "alpha" in best:
        return float(best["alpha"])
    alpha = getattr(regressor, "alpha_", getattr(regressor, "alpha", None))
    return None if alpha is None else float(alpha)


def _text_vectors(X: InteractionData, key: str) -> np.ndarray:
    value = X.artifacts[key]
    vectors = value.vectors if isinstance(value, EmbeddingInit) else value
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or len(vectors) != X.n_items:
        raise ValueError(
            f"The {key!r} artifact must have one row per item code, shape "
            f"({X.n_items}, d); got {vectors.shape}."
        )
    if not np.isfinite(vectors).all():
        raise ValueError(f"The {key!r} artifact contains NaN or infinite values.")
    return vectors
