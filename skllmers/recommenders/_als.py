"""Implicit-feedback matrix factorisation by alternating least squares (``implicit``)."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import scipy.linalg
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._artifacts import EmbeddingInit
from .._interaction_data import InteractionData
from ._base import BaseRecommender, FactorModelMixin

__all__ = ["ALSRecommender"]

_GUIDED_MODELS = "BPRRecommender, LightGCNRecommender or SASRecRecommender"


class ALSRecommender(FactorModelMixin, BaseRecommender):
    """Matrix factorisation for implicit feedback, fitted by alternating least squares.

    A wrapper of :class:`implicit.als.AlternatingLeastSquares` (Hu, Koren & Volinsky,
    2008; conjugate-gradient solver of Takács et al., 2011). A user's score for an item
    is the dot product of their factors. The implicit model is built inside
    :meth:`fit` and only its factors are kept, as numpy arrays, so a fitted model
    serves and unpickles without ``implicit`` and without a GPU.

    Parameters
    ----------
    n_factors : int, default=64
        Width of the user and item factors.
    regularization : float, default=0.01
        L2 penalty on the factors.
    alpha : float, default=1.0
        Confidence scaling: an observed cell has confidence ``alpha * weight`` (see
        Notes); unobserved cells have confidence 1.
    iterations : int, default=15
        Number of ALS sweeps (users then items).
    use_gpu : {"auto"} or bool, default="auto"
        Fit with implicit's CUDA implementation. ``"auto"`` uses it when implicit
        reports CUDA (``implicit.gpu.HAS_CUDA``); ``True`` requires it.
    random_state : int, RandomState instance or None, default=None
        Seeds the random initial factors. Pass an int for reproducible results.
    num_threads : int, default=0
        Threads of the CPU solver; 0 uses every core.
    verbose : bool, default=False
        Show a progress bar over the iterations.
    prior_weight : float, default=0.0
        With an ``"item_embeddings"`` artifact, the weight ``w`` of a prior that pulls
        every item factor toward its text vector ``v_i`` in each item step:
        ``y_i = (Xᵀ C_i X + (regularization + w) I)⁻¹ (Xᵀ C_i p_i + w v_i)``, where
        ``X`` are the user factors. ``0``: the vectors only start the item factors,
        and after the default 15 iterations ALS has forgotten them (see Notes).
        An item with no training row gets ``(XᵀX + (regularization + w) I)⁻¹ w v_i``:
        factors from its text.

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, n_factors), float32
    item_factors_ : ndarray of shape (n_items, n_factors), float32
    user_ids_, item_ids_ : pandas.Index
        Id maps of the training data.
    seen_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Each user's real training items, excluded from recommendations.
    item_popularity_ : ndarray of shape (n_items,)
        Users per item; the ranking for unknown users.

    See Also
    --------
    LightFMRecommender : A factor model that also uses item and user features.

    Notes
    -----
    **Confidence.** The confidence matrix is ``alpha * X.to_csr(values="weights")``:
    each observed (user, item) cell holds the sum of its rows' weights, so repeated
    interactions add confidence and augmented rows count as much as an enhancer
    weighted them. Ratings are not used; to use them as confidence, build the data
    with ``weight_col`` set to the rating column. ``alpha`` is applied here rather
    than by implicit, whose CUDA ``fit`` ignores its own ``alpha`` (implicit 0.7), so
    CPU and GPU fits agree.

    **Artifacts.** An ``"item_embeddings"`` artifact in ``"init"`` mode (an
    :class:`~skllmers.EmbeddingInit`, e.g. from an LLM embedding step) becomes the
    starting item factors instead of random ones; its width must equal
    ``n_factors``. A start alone is forgotten: on ml-1m-agent4rec (64 factors, 1
    thread) text-started ALS leads random starts by 0.11 validation NDCG@20 after one
    iteration, 0.02 after three and nothing after 15 (0.2362 vs 0.2365; shuffled
    vectors 0.2373). ``prior_weight > 0`` keeps the text in every item step; that
    fit runs the exact alternating solves in numpy on the CPU (implicit has no hook
    for a prior), row by row, so it is slower than implicit's conjugate gradient. ``"frozen"`` embeddings and a ``"guidance"`` artifact need a
    model trained by gradient descent and raise an error. Side features are not
    used (see :class:`LightFMRecommender`).

    References
    ----------
    Y. Hu, Y. Koren and C. Volinsky, "Collaborative Filtering for Implicit Feedback
    Datasets", ICDM 2008.

    Examples
    --------
    >>> import pandas as pd
    >>> from skllmers import InteractionData
    >>> from skllmers.recommenders import ALSRecommender
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3, 4],
    ...                    "item_id": ["a", "b", "a", "b", "c", "d", "c"]})
    >>> model = ALSRecommender(n_factors=2, iterations=5, random_state=0)
    >>> model = model.fit(InteractionData.from_pandas(df))
    >>> model.item_factors_.shape
    (4, 2)
    >>> model.recommend([4], k=1)["item_id"].tolist()
    ['d']
    """

    _parameter_constraints: dict = {
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "regularization": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "iterations": [Interval(Integral, 1, None, closed="left")],
        "use_gpu": [StrOptions({"auto"}), "boolean"],
        "random_state": ["random_state"],
        "num_threads": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "prior_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, n_factors=64, regularization=0.01, alpha=1.0, iterations=15,
                 use_gpu="auto", random_state=None, num_threads=0, verbose=False, *,
                 prior_weight=0.0):
        self.n_factors = n_factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.use_gpu = use_gpu
        self.random_state = random_state
        self.num_threads = num_threads
        self.verbose = verbose
        self.prior_weight = prior_weight

    _artifacts_read = frozenset({"item_embeddings"})

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        return super().fit(X, y)

    fit.__doc__ = BaseRecommender.fit.__doc__

    def _fit(self, X: InteractionData) -> None:
        initial_items = _initial_item_factors(X, self.n_factors)
        confidence = X.to_csr(values="weights")
        confidence.eliminate_zeros()
        confidence.data *= np.float32(self.alpha)
        if self.prior_weight > 0:
            self._fit_with_prior(confidence, initial_items)
            return
        on_gpu = self._gpu_requested()
        # implicit asks for a single-threaded BLAS: its own threads do the work
        with threadpool_limits(1, "blas"):
            model = self._implicit_model(on_gpu)
            if initial_items is not None:
                model.item_factors = _to_device(initial_items, on_gpu)
            model.fit(confidence, show_progress=bool(self.verbose))
        self.user_factors_ = _to_numpy(model.user_factors)
        self.item_factors_ = _to_numpy(model.item_factors)

    def _fit_with_prior(self, confidence, text_vectors) -> None:
        if text_vectors is None:
            raise ValueError(
                f"prior_weight={self.prior_weight} pulls the item factors toward text "
                "vectors, but the data has no 'item_embeddings' artifact; put "
                "LLMEmbeddingInitializer(n_components=n_factors) before the model, or "
                "set prior_weight=0."
            )
        if self.use_gpu is True:
            raise ValueError("prior_weight > 0 fits on the CPU (numpy); set use_gpu='auto' "
                             "or False.")
        user_rows, item_rows = confidence.tocsr(), confidence.T.tocsr()
        items = text_vectors.astype(np.float64)
        prior = text_vectors.astype(np.float64)
        with threadpool_limits(self.num_threads or None, "blas"):
            for _ in tqdm(range(self.iterations), desc="ALS with a text prior",
                          disable=not self.verbose):
                users = _least_squares(user_rows, items, self.regularization)
                items = _least_squares(item_rows, users, self.regularization,
                                       prior, float(self.prior_weight))
        self.user_factors_ = np.ascontiguousarray(users, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(items, dtype=np.float32)

    def _gpu_requested(self) -> bool:
        import implicit.gpu

        if isinstance(self.use_gpu, str):  # "auto"
            return bool(implicit.gpu.HAS_CUDA)
        if self.use_gpu and not implicit.gpu.HAS_CUDA:
            raise ValueError(
                "use_gpu=True but implicit has no CUDA support here (implicit.gpu.HAS_CUDA "
                "is False); install a CUDA build of implicit or use use_gpu='auto'/False."
            )
        return bool(self.use_gpu)

    def _implicit_model(self, on_gpu: bool):
        from implicit.als import AlternatingLeastSquares

        options = dict(
            factors=self.n_factors,
            regularization=self.regularization,
            alpha=1.0,  # applied to the confidence matrix in _fit
            iterations=self.iterations,
            random_state=random_seed(self.random_state),
            use_gpu=on_gpu,
        )
        if not on_gpu:
            options["num_threads"] = self.num_threads
        return AlternatingLeastSquares(**options)


def _least_squares(confidence, fixed: np.ndarray, regularization: float,
                   prior: np.ndarray | None = None, prior_weight: float = 0.0) -> np.ndarray:
    """One ALS half-step: every row's factors given the other side's ``fixed`` factors.

    Row ``r`` solves ``(Fᵀ C_r F + (λ + w) I) x = Fᵀ C_r p_r + w prior_r``, with
    ``Fᵀ C_r F = FᵀF + Σ_j (c_rj - 1) f_j f_jᵀ`` over the row's observed cells
    (confidence ``c_rj``, preference 1) and every unobserved cell at confidence 1,
    as in Hu et al. (and implicit's exact solver).
    """
    n_factors = fixed.shape[1]
    base = fixed.T @ fixed + (regularization + prior_weight) * np.eye(n_factors)
    out = np.empty((confidence.shape[0], n_factors))
    indptr, indices, data = confidence.indptr, confidence.indices, confidence.data
    for row in range(confidence.shape[0]):
        cols = indices[indptr[row]:indptr[row + 1]]
        weights = data[indptr[row]:indptr[row + 1]].astype(np.float64)
        rows_of = fixed[cols]
        lhs = base + (rows_of.T * (weights - 1.0)) @ rows_of
        rhs = rows_of.T @ weights
        if prior is not None:
            rhs = rhs + prior_weight * prior[row]
        out[row] = scipy.linalg.solve(lhs, rhs, assume_a="pos", check_finite=False)
    return out


def as_embedding_init(value) -> EmbeddingInit:
    """The ``"item_embeddings"`` artifact as an :class:`EmbeddingInit`."""
    if isinstance(value, EmbeddingInit):
        return value
    if isinstance(value, Mapping):
        return EmbeddingInit(**value)
    raise TypeError(
        "The 'item_embeddings' artifact must be an EmbeddingInit (or a mapping with "
        f"'vectors' and 'mode'), got {type(value).__name__}."
    )


def random_seed(random_state):
    """An int seed (or None) for libraries that take no RandomState instance."""
    if random_state is None or isinstance(random_state, Integral):
        return random_state
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _initial_item_factors(X: InteractionData, n_factors: int):
    """Starting item factors from an ``"item_embeddings"`` artifact, or None."""
    if "item_embeddings" not in X.artifacts:
        return None
    init = as_embedding_init(X.artifacts["item_embeddings"])
    if init.mode != "init":
        raise ValueError(
            f"ALSRecommender can start from item embeddings (mode='init') but cannot keep "
            f"them frozen behind an adapter (mode={init.mode!r}). Use mode='init', or "
            f"{_GUIDED_MODELS} for frozen embeddings."
        )
    vectors = init.vectors
    if len(vectors) != X.n_items:
        raise ValueError(
            f"The 'item_embeddings' vectors have {len(vectors)} rows but the data has "
            f"{X.n_items} items; they need one row per item code."
        )
    if vectors.shape[1] != n_factors:
        raise ValueError(
            f"The 'item_embeddings' vectors have width {vectors.shape[1]} but "
            f"ALSRecommender has n_factors={n_factors}: set n_factors={vectors.shape[1]}, "
            f"or reduce the vectors to {n_factors} dimensions (e.g. with PCA) in the "
            "embedding step."
        )
    return np.array(vectors, dtype=np.float32, order="C")


def _to_device(array: np.ndarray, on_gpu: bool):
    if not on_gpu:
        return array
    import implicit.gpu

    return implicit.gpu.Matrix(array)


def _to_numpy(factors) -> np.ndarray:
    array = factors.to_numpy() if hasattr(factors, "to_numpy") else factors
    return np.ascontiguousarray(array, dtype=np.float32)
