"""EASE: the closed-form item-item linear model of Steck (2019), with L3AE's semantic prior."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

from .._artifacts import EmbeddingInit
from .._interaction_data import InteractionData
from ._base import BaseRecommender

__all__ = ["EASERecommender", "semantic_item_matrix"]

_GRAM_BLOCK = 2048  # item columns of the Gram matrix computed at once
_VECTOR_ARTIFACTS = ("item_features", "item_embeddings")
_SEMANTIC_KINDS = ("lae", "cosine")


class EASERecommender(BaseRecommender):
    """Embarrassingly Shallow Autoencoder, optionally pulled toward text similarity (L3AE).

    EASE learns an item-item weight matrix ``B`` with a zero diagonal that
    reconstructs each user's interaction row from the user's other items,
    ``min ||X - X B||² + λ ||B||²`` s.t. ``diag(B) = 0``. The solution is closed
    form: with ``P = (XᵀX + λI)⁻¹``, ``B = I - P / diag(P)`` (column-wise) and
    ``diag(B) = 0``. A user's scores are ``X_u B``. It has one hyperparameter and
    is a strong baseline on most implicit-feedback data (Steck, 2019).

    With ``beta`` set, the item vectors an enhancer attached (the ``"item_features"``
    or ``"item_embeddings"`` artifact) give an item-item matrix ``S`` and ``B`` is
    also pulled toward it (L3AE, Moon et al. 2025)::

        min ||X - X B||² + λ ||B||² + β ||B - S||²   s.t. diag(B) = 0

    again in closed form (see Notes). Items without a training row (in the items
    table only) then get scores through ``S``, from their text.

    Parameters
    ----------
    l2 : float, default=200.0
        The L2 penalty λ on ``B``. Larger values smooth more; values between 10 and
        a few thousand are usual, growing with the number of users. It must be > 0
        without a prior; with one, only ``l2 + beta > 0`` is required (L3AE tunes a
        negative λ against a larger β: the ridge is ``l2 + beta`` in total, of which
        ``beta`` pulls toward ``S`` rather than toward 0).
    implicit : bool, default=True
        ``True``: a user-item cell is 1 for an interaction, scaled by the row weight
        (the largest weight when the pair repeats), so augmented rows count as much
        as an enhancer weighted them. ``False``: the cell is the rating times the row
        weight, summed over repeats (requires ratings). A row without a rating (an
        augmented row) takes its user's mean rating over the rated rows (the mean of
        all ratings for a user with none), never a fixed value such as one star.
    max_items : int or None, default=20_000
        Refuse catalogues with more items than this (``None``: no limit), since
        ``B`` is dense: see Notes.
    beta : float or None, default=None
        Weight β of the semantic prior ``||B - S||²``. ``None``: plain EASE, and an
        item-vector artifact raises an error (so an enhancer's work is never dropped
        without a word). ``0.0``: plain EASE too, the artifact accepted and unused
        (the grid point of a search over ``beta``), equal to the fit without it.
        ``beta > 0`` requires the artifact.
    semantic : {"lae", "cosine"}, default="lae"
        How ``S`` is built from the item vectors ``F`` (one row per item):
        ``"lae"``: L3AE's first phase, an EASE fitted on the vectors,
        ``S = argmin ||Fᵀ - Fᵀ S||² + semantic_l2 ||S||²`` with ``diag(S) = 0``;
        ``"cosine"``: cosine similarity of the vectors, diagonal 0.
    semantic_l2 : float, default=1.0
        The L2 penalty of the ``"lae"`` phase (L3AE's ``reg_F``; the vectors are
        scaled to unit norm first, so it is on the scale of a cosine Gram matrix).
    semantic_k : int or None, default=None
        Keep only the ``semantic_k`` largest entries of each column of ``S`` (each
        item's nearest neighbours in text), the rest 0. ``None`` keeps them all.

    Attributes
    ----------
    B_ : ndarray of shape (n_items, n_items), float32
        Item-item weights; ``B_[i, j]`` is how much item ``i`` in a user's history
        raises the score of item ``j``. The diagonal is zero.
    user_items_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        The training matrix ``X`` (float32), needed to score users.
    semantic_source_ : str or None
        The artifact ``S`` was built from (``None``: no prior was used).
    user_ids_, item_ids_ : pandas.Index
        Id maps of the training data.
    seen_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Each user's real training items, excluded from recommendations.
    item_popularity_ : ndarray of shape (n_items,)
        Users per item; the ranking for unknown users.

    See Also
    --------
    ALSRecommender : Matrix factorisation, for catalogues too large for EASE.
    TextFusionRecommender : Any model's scores fused with text similarity.
    semantic_item_matrix : The matrix ``S`` of the prior.

    Notes
    -----
    **The prior's closed form.** With ``G = XᵀX`` and ``P = (G + (λ+β) I)⁻¹``, setting
    the gradient of the Lagrangian (one multiplier ``γ_j`` per diagonal entry) to zero
    gives ``B = P (G + β S) - P diag(γ)``; the constraint ``B_jj = 0`` fixes
    ``γ_j = M_jj / P_jj`` with ``M = P (G + β S)``, so ``B = M - P diag(diag(M) /
    diag(P))``. With ``β = 0`` this is Steck's ``I - P / diag(P)``. A cold item ``j``
    (no training row) has ``G[:, j] = 0``, so its column is ``β P S[:, j]``: the
    warm items similar to it in text carry the user's history to it.

    Memory grows with the square of the catalogue: fitting inverts a dense float64
    ``n_items x n_items`` matrix in place and then keeps ``B_`` as ``n_items²``
    float32 values, a peak of about 12 bytes per item pair (4.8 GB for 20 000 items,
    of which ``B_`` is 1.6 GB); the prior needs one more dense matrix. Fitting time
    is that of one matrix inverse, ``O(n_items³)``, with or without the prior: ``S``
    is kept as a diagonal plus a product of ``n_items x d`` factors (``d`` the width
    of the item vectors), so ``P S`` costs ``O(n_items² d)`` (``O(n_items² k)`` with
    ``semantic_k``).
    The model reads no enhancer artifact but the item vectors, and those only with
    ``beta`` set: fitting on data that carries another raises an error naming the
    models that can. Augmented rows (``LLMInteractionAugmenter``) are rows, and count
    with their weight.

    ``similar_items`` ranks items ``j`` by ``B_[i, j]``.

    References
    ----------
    H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.
    J. Moon, S. Park and J. Lee, "LLM-Enhanced Linear Autoencoders for
    Recommendation" (L3AE), CIKM 2025.

    Examples
    --------
    >>> import numpy as np, pandas as pd
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

    Item ``"c"`` has no training row; its text vector is close to ``"a"``'s, so with
    the prior a user of ``"a"`` gets it:

    >>> items = pd.DataFrame(index=["a", "b", "c"])
    >>> data = InteractionData.from_pandas(df, items=items).with_artifacts(
    ...     item_features=np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]]))
    >>> prior = EASERecommender(l2=1.0, beta=1.0, semantic="cosine").fit(data)
    >>> prior.recommend([3], k=2)["item_id"].tolist()
    ['b', 'c']
    >>> plain = EASERecommender(l2=1.0, beta=0.0).fit(data)
    >>> float(np.abs(plain.B_[:, 2]).max())  # the cold item's column, without a prior
    0.0
    """

    _parameter_constraints: dict = {
        "l2": [Interval(Real, None, None, closed="neither")],
        "implicit": ["boolean"],
        "max_items": [Interval(Integral, 1, None, closed="left"), None],
        "beta": [Interval(Real, 0, None, closed="left"), None],
        "semantic": [StrOptions(set(_SEMANTIC_KINDS))],
        "semantic_l2": [Interval(Real, 0, None, closed="neither")],
        "semantic_k": [Interval(Integral, 1, None, closed="left"), None],
    }

    _artifact_hints = {
        key: "Set beta (e.g. beta=100.0) to use the item vectors as EASE's semantic "
             "prior (L3AE)."
        for key in _VECTOR_ARTIFACTS
    }

    def __init__(self, l2=200.0, implicit=True, max_items=20_000, *, beta=None,
                 semantic="lae", semantic_l2=1.0, semantic_k=None):
        self.l2 = l2
        self.implicit = implicit
        self.max_items = max_items
        self.beta = beta
        self.semantic = semantic
        self.semantic_l2 = semantic_l2
        self.semantic_k = semantic_k

    @property
    def _artifacts_read(self):
        return frozenset() if self.beta is None else frozenset(_VECTOR_ARTIFACTS)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        return super().fit(X, y)

    fit.__doc__ = BaseRecommender.fit.__doc__

    def _fit(self, X: InteractionData) -> None:
        self._check_catalogue_size(X.n_items)
        beta = 0.0 if self.beta is None else float(self.beta)
        self._check_ridge(beta)
        user_items = _user_item_matrix(X, self.implicit)
        source, vectors = _item_vectors(X) if self.beta is not None else (None, None)
        if beta > 0 and source is None:
            raise ValueError(
                f"beta={self.beta} pulls EASE toward the item vectors' similarities, but "
                "the data carries no 'item_features' or 'item_embeddings' artifact. Put "
                "LLMSummaryFeaturizer or LLMEmbeddingInitializer before the model, or set "
                "beta=None (plain EASE)."
            )
        self.semantic_source_ = source if beta > 0 else None
        gram = _dense_gram(user_items)
        if beta > 0:
            prior = _SemanticPrior.from_vectors(vectors, self.semantic, self.semantic_l2)
            self.B_ = _ease_with_prior(gram, self.l2, beta, prior,
                                       self.semantic_k).astype(np.float32)
        else:
            self.B_ = _ease(gram, self.l2).astype(np.float32)
        self.user_items_ = user_items.astype(np.float32)

    def _check_ridge(self, beta: float) -> None:
        if self.beta is None or beta == 0:
            if not self.l2 > 0:
                raise InvalidParameterError(
                    f"The 'l2' parameter of EASERecommender must be > 0 without a semantic "
                    f"prior (beta=None or 0); got l2={self.l2!r}. A negative l2 is only "
                    "meaningful with beta > -l2."
                )
        elif not self.l2 + beta > 0:
            raise InvalidParameterError(
                f"The 'l2' parameter of EASERecommender plus beta must be > 0 (the total "
                f"ridge), got l2 + beta = {self.l2 + beta!r}; raise l2 or beta."
            )

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


def semantic_item_matrix(vectors, kind: str = "lae", *, l2: float = 1.0,
                         k: int | None = None) -> np.ndarray:
    """The item-item matrix ``S`` of EASE's semantic prior, from item vectors.

    Parameters
    ----------
    vectors : array-like of shape (n_items, d)
        One text vector per item code. Rows are scaled to unit norm; rows of all
        zeros (no text) stay zero and get no similarity.
    kind : {"lae", "cosine"}, default="lae"
        ``"lae"``: L3AE's first phase, the zero-diagonal ridge regression of each
        item's vector on the other items' vectors,
        ``S = I - Q / diag(Q)`` with ``Q = (F Fᵀ + l2 I)⁻¹``. ``"cosine"``: ``F Fᵀ``
        with a zero diagonal.
    l2 : float, default=1.0
        Ridge of ``"lae"``.
    k : int or None, default=None
        Keep the ``k`` largest entries of each column (the rest 0).

    Returns
    -------
    ndarray of shape (n_items, n_items), float64
        ``S[i, j]``: how much item ``i`` speaks for item ``j``; zero diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> from skllmers.recommenders import semantic_item_matrix
    >>> vectors = np.array([[1.0, 0.0], [0.8, 0.2], [0.0, 1.0]])
    >>> S = semantic_item_matrix(vectors, "cosine", k=1)
    >>> (S > 0).astype(int)
    array([[0, 1, 0],
           [1, 0, 1],
           [0, 0, 0]])
    """
    return _SemanticPrior.from_vectors(vectors, kind, l2).dense(k)


class _SemanticPrior:
    """``S = diag(a) + U Wᵀ``: the prior as a diagonal plus a rank-``d`` product.

    Both kinds have this form for ``d``-dimensional unit rows ``F``. Cosine:
    ``S = F Fᵀ - diag(|f_j|²)``. LAE, by Woodbury: ``Q = (F Fᵀ + l2 I)⁻¹ =
    (I - F C Fᵀ) / l2`` with ``C = (Fᵀ F + l2 I_d)⁻¹``, so ``S = I - Q / diag(Q) =
    I - D⁻¹ + (F C)(D⁻¹ F)ᵀ`` with ``D = diag(I - F C Fᵀ)``. A product ``P S`` then costs
    ``O(n² d)`` instead of the ``O(n³)`` of an ``n x n`` inverse and product.
    """

    def __init__(self, diagonal, left, right):
        self.diagonal, self.left, self.right = diagonal, left, right

    @classmethod
    def from_vectors(cls, vectors, kind: str, l2: float):
        if kind not in _SEMANTIC_KINDS:
            raise ValueError(f"kind={kind!r}; use one of {_SEMANTIC_KINDS}.")
        unit = np.asarray(vectors, dtype=np.float64)
        if unit.ndim != 2 or not np.isfinite(unit).all():
            raise ValueError("vectors must be a finite 2-D array (one row per item).")
        norms = np.linalg.norm(unit, axis=1, keepdims=True)
        unit = unit / np.where(norms > 0, norms, 1.0)
        if kind == "cosine":
            return cls(-np.einsum("ij,ij->i", unit, unit), unit, unit)
        inner = scipy.linalg.inv(unit.T @ unit + l2 * np.eye(unit.shape[1]))
        left = unit @ inner
        residual = 1.0 - np.einsum("ij,ij->i", left, unit)  # diag(I - F C Fᵀ) = l2 Q_jj
        return cls(1.0 - 1.0 / residual, left, unit / residual[:, None])

    def dense(self, k: int | None = None) -> np.ndarray:
        semantic = self.left @ self.right.T
        semantic[np.diag_indices_from(semantic)] += self.diagonal
        np.fill_diagonal(semantic, 0.0)  # zero up to rounding already
        if k is not None and k < len(semantic) - 1:
            _keep_top_k_per_column(semantic, int(k))
        return semantic

    def left_product(self, matrix: np.ndarray, k: int | None = None) -> np.ndarray:
        """``matrix @ S``: low rank without ``k``; through sparse top-``k`` columns with it."""
        if k is not None and k < len(self.diagonal) - 1:
            return np.asarray((sp.csc_matrix(self.dense(k)).T @ matrix.T).T)
        product = (matrix @ self.left) @ self.right.T
        product += matrix * self.diagonal
        return product


def _ease(gram: np.ndarray, l2: float) -> np.ndarray:
    """Steck's ``I - P / diag(P)``, ``P = (gram + l2 I)⁻¹``; overwrites ``gram``."""
    gram[np.diag_indices_from(gram)] += l2
    # gram is symmetric, so its F-ordered transpose lets LAPACK invert in place
    precision = scipy.linalg.inv(gram.T, overwrite_a=True, check_finite=False)
    precision /= -np.diag(precision)  # column j divided by -P_jj
    np.fill_diagonal(precision, 0.0)
    return precision


def _ease_with_prior(gram: np.ndarray, l2: float, beta: float, prior: _SemanticPrior,
                     k: int | None) -> np.ndarray:
    """``B = M - P diag(diag(M) / diag(P))``, ``M = P (G + β S)``; overwrites ``gram``.

    ``P G = I - (l2 + β) P``, so ``M = I - (l2 + β) P + β P S`` needs one inverse and
    the low-rank product ``P S``.
    """
    gram[np.diag_indices_from(gram)] += l2 + beta
    precision = scipy.linalg.inv(gram.T, overwrite_a=True, check_finite=False)
    weights = beta * prior.left_product(precision, k)
    weights -= (l2 + beta) * precision
    weights[np.diag_indices_from(weights)] += 1.0
    weights -= precision * (np.diag(weights) / np.diag(precision))
    np.fill_diagonal(weights, 0.0)  # zero up to rounding already
    return weights


def _keep_top_k_per_column(matrix: np.ndarray, k: int) -> None:
    """Zero all but the ``k`` largest entries of each column (in place)."""
    drop = np.argpartition(-matrix, k, axis=0)[k:]
    np.put_along_axis(matrix, drop, 0.0, axis=0)


def _item_vectors(X: InteractionData):
    """``(artifact key, (n_items, d) vectors)`` of the one item-vector artifact, or Nones."""
    present = [key for key in _VECTOR_ARTIFACTS if key in X.artifacts]
    if not present:
        return None, None
    if len(present) > 1:
        raise ValueError(
            "The data carries both an 'item_features' and an 'item_embeddings' artifact; "
            "EASERecommender's prior uses one set of item vectors. Remove one of the two "
            "steps from the pipeline."
        )
    key = present[0]
    value = X.artifacts[key]
    if key == "item_embeddings":
        if isinstance(value, Mapping):
            value = EmbeddingInit(**value)
        if not isinstance(value, EmbeddingInit):
            raise TypeError("The 'item_embeddings' artifact must be an EmbeddingInit, got "
                            f"{type(value).__name__}.")
        value = value.vectors
    vectors = np.asarray(value, dtype=np.float64)
    if vectors.ndim != 2 or len(vectors) != X.n_items:
        raise ValueError(
            f"The {key!r} artifact has shape {vectors.shape} but the data has {X.n_items} "
            "items; it needs one row per item code."
        )
    if not np.isfinite(vectors).all():
        raise ValueError(f"The {key!r} artifact contains NaN or infinite values.")
    return key, vectors


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
        values, reduce, start = _filled_ratings(X) * weights, np.add, 0.0
    pairs, inverse = np.unique(
        X.user_codes.astype(np.int64) * X.n_items + X.item_codes, return_inverse=True
    )
    cells = np.full(len(pairs), start)
    reduce.at(cells, inverse, values)
    matrix = sp.csr_matrix((cells, (pairs // X.n_items, pairs % X.n_items)),
                           shape=(X.n_users, X.n_items))
    matrix.eliminate_zeros()
    return matrix


def _filled_ratings(X: InteractionData) -> np.ndarray:
    """Ratings, a missing one (an augmented row) replaced by its user's mean rating."""
    ratings = X.ratings.astype(np.float64)
    missing = np.isnan(ratings)
    if not missing.any():
        return ratings
    rated = ~missing
    if not rated.any():
        raise ValueError(
            "EASERecommender(implicit=False) uses ratings, but no row of the data has one; "
            "use implicit=True."
        )
    totals = np.bincount(X.user_codes[rated], ratings[rated], minlength=X.n_users)
    counts = np.bincount(X.user_codes[rated], minlength=X.n_users)
    user_mean = np.where(counts > 0, totals / np.maximum(counts, 1), ratings[rated].mean())
    filled = ratings.copy()
    filled[missing] = user_mean[X.user_codes[missing]]
    return filled


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
